# Reliability (docs/reliability.md): the full MIDI fuzz count and its results table.
#   make fuzz          # the slow-marked fuzz tests: 10,000 inputs through load_notes, CP, Aria, the token cache
#   make fuzz-report   # the same count in one run of every target, written to benchmarks/results/fuzz_midi.md
.PHONY: fuzz fuzz-report
fuzz: setup
	nice $(PY) -m pytest -q -m slow packages/symcore/tests/test_fuzz_midi.py packages/symtok/tests/test_fuzz_tokens.py

fuzz-report: setup
	nice $(PY) benchmarks/fuzz_midi.py --n 10000 --out benchmarks/results/fuzz_midi.md --save $(or $(FUZZ_SAVE),/tmp/symphonia-fuzz-findings)
