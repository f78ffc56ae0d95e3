"""LightningModules: pretraining (RC token denoising / MLM, optional pianoroll prediction) and fine-tuning."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from symcore.sharding import full_state_dict, shard_modules

from m2bert.config import EncoderConfig
from m2bert.corruption import denoise_corrupt, mlm_corrupt
from m2bert.heads import NoteHead, PretrainHeads, SequenceHead
from m2bert.model import M2BertEncoder
from m2bert.targets import pianoroll_dim, pianoroll_targets

FIELDS = ("bar", "pos", "pitch", "dur")


OPTIMIZERS = ("adamw", "stableadamw")


def _optimizer(module: L.LightningModule, lr: float, weight_decay: float, warmup_steps: int,
               optimizer: str = "adamw"):
    """AdamW, or StableAdamW (the paper's choice: AdamW with AdaFactor-style per-tensor update clipping, from
    torch-optimi) with the same betas/eps and decoupled weight decay. No decay on LayerNorm weights and biases."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    decay = [p for p in module.parameters() if p.requires_grad and p.dim() >= 2]
    rest = [p for p in module.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if optimizer == "stableadamw":
        try:
            from optimi import StableAdamW
        except ImportError as err:
            raise ImportError("optimizer 'stableadamw' needs torch-optimi: pip install 'torch-optimi>=0.3'") from err
        opt = StableAdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)
    else:
        opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)
    if warmup_steps <= 0:
        return opt
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warmup_steps))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class M2BertPretrainModule(L.LightningModule):
    """Pretraining. objective "denoise" = M2BERT RC(ranges) with `ratio` 0.3; "mlm" = MidiBERT 80/10/10 with 0.15.

    Loss = (sum_f |V_f| * CE_f + [pianoroll] 1 * MSE) / (sum_f |V_f| + [pianoroll] 1), i.e. /177 for the paper's
    RC + pianoroll and /176 without pianoroll. The pianoroll MSE is summed over dims, averaged over real tokens.
    """

    def __init__(self, preset: str = "tiny", encoder: dict | None = None, objective: str = "denoise",
                 ranges: tuple[float, float, float] = (4, 12, 12), ratio: float | None = None,
                 pianoroll: bool = True, chroma: bool = True, lr: float = 2e-5, weight_decay: float = 0.01,
                 warmup_steps: int = 0, export_name: str = "encoder.safetensors", optimizer: str = "adamw"):
        super().__init__()
        if objective not in ("denoise", "mlm"):
            raise ValueError(f"objective must be 'denoise' or 'mlm', got {objective!r}")
        self.save_hyperparameters()
        self.config = EncoderConfig.from_name(preset, **(encoder or {}))
        self.encoder = M2BertEncoder(self.config)
        self.heads = PretrainHeads(self.config.hidden_size, self.config.vocab_sizes,
                                   pianoroll_dim(chroma, self.config.vocab_sizes) if pianoroll else 0)
        self.ratio = ratio if ratio is not None else (0.3 if objective == "denoise" else 0.15)

    def compute_losses(self, tokens: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        hp, cfg = self.hparams, self.config
        mask = tokens[..., 0] != cfg.pad_ids[0]
        if hp.objective == "denoise":
            inputs, chosen = denoise_corrupt(tokens, mask, hp.ranges, self.ratio, cfg.vocab_sizes, generator)
        else:
            inputs, chosen = mlm_corrupt(tokens, mask, self.ratio, cfg.vocab_sizes, generator)
        logits, roll = self.heads(self.encoder(inputs, mask))
        n_chosen = chosen.sum().clamp_min(1)
        out, total, denom = {}, 0.0, 0
        for f, (name, lg) in enumerate(zip(FIELDS, logits)):
            ce = F.cross_entropy(lg[chosen], tokens[..., f][chosen], reduction="sum") / n_chosen
            out[f"ce_{name}"] = ce
            out[f"acc_{name}"] = (lg[chosen].argmax(-1) == tokens[..., f][chosen]).float().sum() / n_chosen
            total, denom = total + cfg.vocab_sizes[f] * ce, denom + cfg.vocab_sizes[f]
        if roll is not None:
            target = pianoroll_targets(tokens, hp.chroma, cfg.vocab_sizes)
            mse = ((roll - target) ** 2).sum(-1)[mask].sum() / mask.sum().clamp_min(1)
            out["mse_pianoroll"] = mse
            total, denom = total + mse, denom + 1
        out["loss"] = total / denom
        return out

    def training_step(self, batch, batch_idx):
        losses = self.compute_losses(batch["tokens"])
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=False, batch_size=len(batch["tokens"]))
        self.log("loss", losses["loss"], prog_bar=True, logger=False, batch_size=len(batch["tokens"]))
        return losses["loss"]

    def validation_step(self, batch, batch_idx):
        # The same corruption on every validation pass, so curves compare like with like.
        gen = torch.Generator(device=batch["tokens"].device).manual_seed(batch_idx)
        losses = self.compute_losses(batch["tokens"], gen)
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, sync_dist=True, batch_size=len(batch["tokens"]))

    def configure_optimizers(self):
        return _optimizer(self, self.hparams.lr, self.hparams.weight_decay, self.hparams.warmup_steps,
                          self.hparams.optimizer)

    def configure_model(self):
        shard_modules(self, [*self.encoder.layers, self.encoder, self.heads])  # FSDP under ModelParallelStrategy

    def on_fit_end(self):
        # trainer.log_dir (DDP) and gathering FSDP shards are collectives: every rank takes part, only rank 0 writes.
        out = Path(self.trainer.log_dir or self.trainer.default_root_dir) / self.hparams.export_name
        state = full_state_dict(self.encoder)
        if self.trainer.is_global_zero:
            from m2bert.export import save_encoder

            save_encoder(self.encoder, out, state=state, objective=self.hparams.objective)
            print(f"encoder exported to {out}")


class M2BertFinetuneModule(L.LightningModule):
    """A pretrained (or, without `encoder_weights`, randomly initialised = "scratch") encoder + a task head.

    level "note": labels (B, T), positions labelled `ignore_index` (and padding) are skipped;
    level "sequence": labels (B,), self-attentive pooling (d_a, r) + Linear.
    """

    def __init__(self, num_classes: int, level: str = "note", preset: str = "tiny", encoder: dict | None = None,
                 encoder_weights: str | None = None, lr: float = 2e-5, weight_decay: float = 0.01,
                 warmup_steps: int = 0, d_a: int = 128, r: int = 4, ignore_index: int = -100,
                 optimizer: str = "adamw"):
        super().__init__()
        if level not in ("note", "sequence"):
            raise ValueError(f"level must be 'note' or 'sequence', got {level!r}")
        self.save_hyperparameters()
        if encoder_weights:
            from m2bert.export import load_encoder, read_config

            cfg = read_config(encoder_weights) or EncoderConfig.from_name(preset, **(encoder or {}))
            self.encoder = load_encoder(encoder_weights, cfg)
        else:
            self.encoder = M2BertEncoder(EncoderConfig.from_name(preset, **(encoder or {})))
        H = self.encoder.hidden_size
        self.head = NoteHead(H, num_classes) if level == "note" else SequenceHead(H, num_classes, d_a, r)

    def configure_model(self):
        shard_modules(self, [*self.encoder.layers, self.encoder, self.head])  # FSDP under ModelParallelStrategy

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = self.encoder.padding_mask(tokens)
        return self.head(self.encoder(tokens, mask), mask)

    def _step(self, batch, stage: str):
        tokens, labels = batch["tokens"], batch["labels"]
        mask = self.encoder.padding_mask(tokens)
        logits = self(tokens, mask)
        if self.hparams.level == "note":
            keep = mask & (labels != self.hparams.ignore_index)
            logits, labels = logits[keep], labels[keep]
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(-1) == labels).float().mean()
        self.log_dict({f"{stage}/loss": loss, f"{stage}/acc": acc}, prog_bar=stage != "train", sync_dist=stage != "train",
                      batch_size=len(tokens))
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def configure_optimizers(self):
        return _optimizer(self, self.hparams.lr, self.hparams.weight_decay, self.hparams.warmup_steps,
                          self.hparams.optimizer)
