# Aria (packages/aria): pretraining through LightningCLI. CONFIG picks the YAML, DATA the MIDI folder(s)/files
# (default: the embedded music21 corpus). Example: make pretrain-aria CONFIG=configs/aria/small.yaml DATA=../shared/data/asap
ARIA_EMPTY :=
ARIA_SPACE := $(ARIA_EMPTY) $(ARIA_EMPTY)
ARIA_COMMA := ,
.PHONY: pretrain-aria
pretrain-aria: setup
	$(PY) -m aria.cli fit --config $(or $(CONFIG),configs/aria/tiny.yaml) \
		$(if $(DATA),--data.files '[$(subst $(ARIA_SPACE),$(ARIA_COMMA),$(strip $(DATA)))]')

# tiny-Aria demo: pretrain briefly on the music21 corpus, continue a piece (MIDI + PNG), embedding similarities
DEMO_MODULES += aria.demo
