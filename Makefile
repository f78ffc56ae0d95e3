# symphonia — every entry point. `make demo` and `make test` set everything up themselves.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TORCH_VERSION ?= 2.13.0
PACKAGES := $(sort $(dir $(wildcard packages/*/pyproject.toml)))
STAMP := $(VENV)/.symphonia-installed
# The shared datasets, when this checkout sits next to them; library code only reads $SYMPHONIA_DATA.
SYMPHONIA_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export SYMPHONIA_DATA
SOUNDFONT ?= /usr/share/sounds/sf2/TimGM6mb.sf2
EXTRA_SOUNDFONT ?= /usr/share/sounds/sf2/sf_GMbank.sf2

.PHONY: setup test test-slow demo lint sysdeps clean-venv
setup: $(STAMP)

# Torch first and pinned (the CPU wheel on this machine); then every package editable with its dev extra.
# Foundation packages go first so the others find symphonia-core/-tok installed (they are not on PyPI).
$(STAMP): $(wildcard packages/*/pyproject.toml) Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PIP) install -q --upgrade "pip>=24" 2>/dev/null || true
	@$(PY) -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null \
		|| $(PIP) install -q torch==$(TORCH_VERSION)
	$(PIP) install -q -e packages/symcore[dev] -e packages/symtok[dev]
	$(PIP) install -q $(foreach p,$(filter-out packages/symcore/ packages/symtok/,$(PACKAGES)),-e $(p:/=)[dev]) ruff pytest-xdist
	@touch $@

# System packages the audio tests and hiertrans training need (FluidSynth + GM soundfonts; csound's GM bank is a
# third training timbre for hiertrans); only when missing and only as root.
sysdeps:
	@if ! command -v fluidsynth >/dev/null || [ ! -f $(SOUNDFONT) ] || [ ! -f $(EXTRA_SOUNDFONT) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			(apt-get install -y -q fluidsynth timgm6mb-soundfont fluid-soundfont-gm musescore-general-soundfont-small csound-soundfont >/dev/null 2>&1 \
			 || (apt-get update -q >/dev/null && apt-get install -y -q fluidsynth timgm6mb-soundfont fluid-soundfont-gm musescore-general-soundfont-small csound-soundfont >/dev/null)) \
			|| echo "warning: could not install fluidsynth; audio tests will skip"; \
		else echo "note: fluidsynth/soundfont missing and not root; audio tests will skip"; fi; fi

test: setup sysdeps
	$(PY) -m pytest -q -n 2 --dist loadgroup

test-slow: setup sysdeps
	$(PY) -m pytest -q -m slow

lint: setup
	$(VENV)/bin/ruff check packages tests benchmarks

demo: setup sysdeps
	@for m in $(DEMO_MODULES); do $(PY) -m $$m || exit 1; done

clean-venv:
	rm -rf $(VENV)

# Package-specific targets (pretrain-m2bert, pretrain-aria, train-hiertrans, bench, ...) live beside this file.
DEMO_MODULES := symtok.demo
include $(sort $(wildcard mk/*.mk))
