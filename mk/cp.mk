# CP tokenizer (symtok.cp) targets.
#   make bench-cp   # symtok CP vs MidiTok CPWord on 200 POP909 + 200 ASAP files -> benchmarks/results/cp_vs_miditok.{md,csv}

.PHONY: bench-cp

bench-cp: setup
	nice $(PY) benchmarks/cp_vs_miditok.py --n 200 --repeats 3
