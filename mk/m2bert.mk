# M2BERT: pretraining / fine-tuning through LightningCLI (see docs/m2bert.md).
#   make pretrain-m2bert [CONFIG=configs/m2bert/small.yaml] [DATA=pop909] [ARGS="--ckpt_path last"]
#   make finetune-m2bert [FT_CONFIG=...] [ENCODER=runs/m2bert/tiny/logs/version_0/encoder.safetensors]
M2BERT_CONFIG ?= configs/m2bert/tiny.yaml
M2BERT_FT_CONFIG ?= configs/m2bert/finetune_chorale.yaml
.PHONY: pretrain-m2bert finetune-m2bert bench-m2bert

pretrain-m2bert: setup
	$(PY) -m m2bert.cli pretrain --config $(or $(CONFIG),$(M2BERT_CONFIG)) $(if $(DATA),--data.data $(DATA)) $(ARGS)

finetune-m2bert: setup
	$(PY) -m m2bert.cli finetune --config $(or $(FT_CONFIG),$(M2BERT_FT_CONFIG)) $(if $(ENCODER),--model.encoder_weights $(ENCODER)) $(ARGS)

bench-m2bert: setup
	nice $(PY) benchmarks/m2bert_throughput.py
	nice $(PY) benchmarks/m2bert_curves.py

DEMO_MODULES += m2bert.demo
