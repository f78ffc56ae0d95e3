# The embedded music21 corpus (symcore.corpus): convert it once into $SYMPHONIA_CACHE (resumable).
# make corpus                 # default composers, Bach chorales first
# make corpus CORPUS_ARGS="--limit 12" | "--composers all"
.PHONY: corpus
corpus: setup
	nice $(PY) -m symcore.corpus $(CORPUS_ARGS)
