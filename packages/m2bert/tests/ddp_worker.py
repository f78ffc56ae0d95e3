"""Run by test_ddp.py: a few Lightning DDP or FSDP steps (gloo, 2 CPU processes); the final weights are saved
(DDP: by every rank, its own copy; FSDP: by rank 0, the full state dict gathered from all shards)."""

import sys
from pathlib import Path

import lightning as L
import torch
from m2bert.data import CPDataModule
from m2bert.module import M2BertPretrainModule


class SaveWeights(L.Callback):
    def __init__(self, out: Path, tag: str):
        self.out, self.tag = out, tag

    def on_train_end(self, trainer, module):
        from symcore.sharding import full_state_dict
        from symcore.weights import save_weights

        state = full_state_dict(module)  # FSDP: gathered on rank 0 (a collective; empty elsewhere); DDP: local copy
        if state:
            state = {k: v.detach().clone().contiguous() for k, v in state.items()}
            save_weights(state, self.out / f"{self.tag}-rank{trainer.global_rank}.safetensors")


def main(out: str, data: str, cache: str, steps: int, strategy: str = "ddp"):
    out, tag = Path(out), strategy
    L.seed_everything(0)
    torch.set_num_threads(1)
    module = M2BertPretrainModule(encoder={"hidden_size": 32, "num_layers": 2, "num_heads": 2,
                                           "intermediate_size": 48, "embed_dim": 16}, lr=1e-3)
    if not (out / "init.safetensors").exists():
        from symcore.weights import save_weights

        save_weights({k: v.clone() for k, v in module.state_dict().items()}, out / "init.safetensors")
    data_module = CPDataModule(data=data, seq_len=64, batch_size=2, val_fraction=0.0, cache_dir=cache)
    if strategy == "fsdp":  # FSDP2: the module shards itself in configure_model (symcore.sharding)
        from lightning.pytorch.strategies import ModelParallelStrategy

        strategy = ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy=strategy, max_steps=steps, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, default_root_dir=out, callbacks=[SaveWeights(out, tag)])
    trainer.fit(module, data_module)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), *sys.argv[5:])
