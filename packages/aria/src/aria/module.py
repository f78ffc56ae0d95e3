"""LightningModule for every Aria training regime: pretrain/finetune (next token), contrastive, classify."""

from __future__ import annotations

import dataclasses

import lightning as L
import torch
import torch.nn.functional as F

from aria.config import AriaConfig
from aria.model import Aria
from aria.tokens import PAD_ID

TASKS = ("pretrain", "finetune", "contrastive", "classify")


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """Symmetric NT-Xent: view i of z1 must pick view i of z2 among all of z2 (and vice versa), cosine / tau."""
    sim = F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).T / tau  # (B,B)
    target = torch.arange(len(z1), device=z1.device)
    return (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target)) / 2


class AriaModule(L.LightningModule):
    """Wraps `Aria` with the loss of `task`; `init_ckpt` starts from a checkpoint (ours or official)."""

    def __init__(self, config: AriaConfig | None = None, task: str = "pretrain", lr: float = 3e-4,
                 weight_decay: float = 0.1, betas: tuple[float, float] = (0.9, 0.95), warmup_steps: int = 100,
                 total_steps: int | None = None, final_lr_ratio: float = 0.1, tau: float = 0.1,
                 init_ckpt: str | None = None):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
        config = config or AriaConfig()
        if isinstance(config, dict):
            config = AriaConfig.from_dict(config)
        # hyperparameters stay plain data so Lightning checkpoints load with weights_only=True
        self.save_hyperparameters({"config": config.to_dict(), "task": task, "lr": lr, "weight_decay": weight_decay,
                                   "betas": list(betas), "warmup_steps": warmup_steps, "total_steps": total_steps,
                                   "final_lr_ratio": final_lr_ratio, "tau": tau, "init_ckpt": init_ckpt})
        self.task = task
        self.model = Aria(config)
        if init_ckpt:
            self._load_init(init_ckpt)

    def _load_init(self, path: str) -> None:
        from aria.weights import load_checkpoint

        src = load_checkpoint(path, strict=False, max_seq_len=self.model.config.max_seq_len)
        ours = self.model.state_dict()
        kept = {k: v for k, v in src.state_dict().items() if k in ours and ours[k].shape == v.shape}
        self.model.load_state_dict(kept, strict=False)
        if not any(k.startswith("decoder.") for k in kept):
            raise ValueError(f"{path}: no decoder weights fit this model's config")

    def loss(self, batch: dict) -> torch.Tensor:
        if self.task in ("pretrain", "finetune"):
            logits = self.model(batch["ids"])  # (B,T,V)
            return F.cross_entropy(logits.flatten(0, 1).float(), batch["targets"].flatten(), ignore_index=PAD_ID)
        if self.task == "contrastive":
            ids, eos = batch["ids"], batch["eos"]  # (B,2,T), (B,2)
            z = self.model.embed(ids.flatten(0, 1), eos.flatten()).view(ids.shape[0], 2, -1)
            return nt_xent(z[:, 0], z[:, 1], self.hparams.tau)
        return F.cross_entropy(self.model.classify(batch["ids"], batch["eos"]), batch["label"])

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        if self.task == "classify":
            acc = (self.model.classify(batch["ids"], batch["eos"]).argmax(-1) == batch["label"]).float().mean()
            self.log("val/segment_acc", acc, batch_size=len(batch["ids"]))

    def configure_optimizers(self):
        hp = self.hparams
        decay = [p for n, p in self.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in self.named_parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=hp.lr, betas=tuple(hp.betas))
        total = hp.total_steps or (self.trainer.estimated_stepping_batches if self.trainer else 10_000)
        warm = max(1, min(hp.warmup_steps, int(total) // 2))

        def schedule(step: int) -> float:  # linear warmup, then linear decay to final_lr_ratio
            if step < warm:
                return (step + 1) / warm
            frac = min(1.0, (step - warm) / max(1, int(total) - warm))
            return 1.0 - (1.0 - hp.final_lr_ratio) * frac

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["aria_config"] = dataclasses.asdict(self.model.config)


@torch.no_grad()
def file_predictions(model: Aria, loader, n_files: int) -> torch.Tensor:
    """Mean class probabilities of each file's segments (file-level aggregation): (n_files, n_classes)."""
    model.eval()
    total = torch.zeros(n_files, model.config.n_classes)
    count = torch.zeros(n_files, 1)
    for batch in loader:
        probs = model.classify(batch["ids"], batch["eos"]).softmax(-1).cpu()
        total.index_add_(0, batch["file"], probs)
        count.index_add_(0, batch["file"], torch.ones(len(probs), 1))
    return total / count.clamp(min=1)
