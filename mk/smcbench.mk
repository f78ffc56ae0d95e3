# smcbench: the demo step (embedded-corpus tasks), run after the m2bert demo that exports its encoder.
DEMO_MODULES += smcbench.demo

# The SMC benchmark on every obtainable task (needs ../shared/data or $SYMPHONIA_DATA).
#   make bench                       the small-scale M2BERT reproduction, quick profile (resumable)
#   make bench-full                  the same with the full profile, longer pretraining, 3 seeds
#   make bench CKPT=enc.safetensors  one encoder (MODEL=m2bert|aria...; NAME= names its results)
#   make probe CKPT=enc.safetensors  the MIR linear probes (composer, period, emotion, genre) -> smc_probes/probes.md
SMC_TASKS ?= ME,VE,ER,VF,MNID,BP,DbP,CR,LK,OTC
MODEL ?= m2bert
.PHONY: bench bench-full probe

bench: setup
ifdef CKPT
	$(PY) -m smcbench.cli run --model $(MODEL) --ckpt $(CKPT) --name $(or $(NAME),$(MODEL)) --tasks $(SMC_TASKS) \
		--profile quick --seeds 1 --out benchmarks/results/smc_$(or $(NAME),$(MODEL))_quick
	$(PY) -m smcbench.cli report benchmarks/results/smc_$(or $(NAME),$(MODEL))_quick/runs \
		--out benchmarks/results/smc_$(or $(NAME),$(MODEL))_quick
else
	nice $(PY) benchmarks/smc_reproduction.py --profile quick --steps 150 --seeds 3 --tasks $(SMC_TASKS) \
		--out benchmarks/results/smc_reproduction_quick
endif

bench-full: setup
	nice $(PY) benchmarks/smc_reproduction.py --profile full --steps 2000 --seeds 3 --tasks $(SMC_TASKS) \
		--runs runs/smc_reproduction_full --out benchmarks/results/smc_reproduction_full

probe: setup
	$(PY) -m smcbench.cli probe --model $(MODEL) $(if $(CKPT),--ckpt $(CKPT)) --name $(or $(NAME),$(MODEL)) \
		--out benchmarks/results/smc_probes
