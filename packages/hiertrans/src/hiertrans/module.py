"""Lightning training: roll losses for the encoder (Kong's BCE on regression targets), next-token losses for the
note decoders, and the two-stage schedule of the paper (pretrain the encoder, then train decoders on top)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from symtok import transcription as tt

from hiertrans.config import TranscriberConfig, preset
from hiertrans.model import Transcriber

ROLL_KEYS = ("frame", "reg_onset", "reg_offset")


def roll_loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
              pos_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """BCE per roll; velocity only where an onset is (Kong); auxiliary sub-model outputs when present.

    ``pos_weight`` > 1 up-weights the (rare) positive side of the onset/offset regression targets, and its square
    root that of the frame roll: a CPU-budget run of a few hundred steps otherwise sits at "all silent" (the
    all-zero prediction is already a low BCE); Kong's 200k-step runs do not need it.
    """
    n = min(out["frame"].shape[1], batch["frame"].shape[1])
    weights = {"frame": pos_weight ** 0.5, "reg_onset": pos_weight, "reg_offset": pos_weight}
    losses = {k: F.binary_cross_entropy_with_logits(
        out[k][:, :n], batch[k][:, :n], pos_weight=out[k].new_tensor(weights[k])) for k in ROLL_KEYS}
    onset = batch["onset"][:, :n]
    vel = F.binary_cross_entropy_with_logits(out["velocity"][:, :n], batch["velocity"][:, :n], reduction="none")
    losses["velocity"] = (vel * onset).sum() / onset.sum().clamp(min=1.0)
    for aux, tgt in (("aux_onset", "reg_onset"), ("aux_frame", "frame")):
        if aux in out:
            losses[aux] = F.binary_cross_entropy_with_logits(out[aux][:, :n], batch[tgt][:, :n])
    return losses


def token_loss(logits: torch.Tensor, tokens: torch.Tensor, target_mask: torch.Tensor | None) -> torch.Tensor:
    """Next-token CE; ``target_mask`` (B, L) marks which *targets* count (all non-pad when None)."""
    pred, tgt = logits[:, :-1], tokens[:, 1:]
    keep = tgt != tt.PAD
    if target_mask is not None:
        keep = keep & target_mask[:, 1:]
    return F.cross_entropy(pred[keep], tgt[keep]) if keep.any() else logits.sum() * 0.0


def _downsample(batch_rolls: torch.Tensor, factor: int) -> torch.Tensor:
    """100 fps targets to a slower encoder's frame rate (max over each group keeps onsets)."""
    if factor == 1:
        return batch_rolls
    b, t, k = batch_rolls.shape
    t2 = t // factor
    return batch_rolls[:, : t2 * factor].reshape(b, t2, factor, k).amax(2)


class TranscriptionModule(L.LightningModule):
    """``stage='encoder'`` trains rolls only; ``'decoders'`` freezes the encoder and trains the note decoders;
    ``'joint'`` trains both (the paper fine-tunes the encoder jointly)."""

    def __init__(self, preset_name: str = "small", encoder: str = "crnn", decoders: list[str] | None = None,
                 stage: str = "encoder", lr: float = 1e-3, weight_decay: float = 0.01, init_weights: str | None = None,
                 warmup_steps: int = 100, pos_weight: float = 1.0, decay_steps: int | None = None,
                 decay_minutes: float | None = None, eq_db: float | None = None,
                 eq_knots: int | None = None):
        super().__init__()
        self.save_hyperparameters()
        cfg = preset(preset_name, encoder)
        if decoders is not None:
            cfg.decoders = tuple(decoders)
        if eq_db is not None:
            cfg.encoder.eq_db = eq_db  # training-time spectral EQ (see EncoderConfig.eq_db)
        if eq_knots is not None:
            cfg.encoder.eq_knots = eq_knots
        self.cfg: TranscriberConfig = cfg
        self.model = Transcriber(cfg)
        if init_weights:
            from hiertrans.weights import load_state

            missing = load_state(self.model, Path(init_weights), strict=False)
            print(f"initialised from {init_weights}; newly initialised: {len(missing)} tensors")
        if stage == "decoders":
            self.model.encoder.requires_grad_(False)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its named parts for one batch (no logging, usable outside a Trainer)."""
        stage = self.hparams.stage
        if stage == "decoders":
            self.model.encoder.eval()
            with torch.no_grad():
                out = self.model(batch["audio"])
        else:
            out = self.model(batch["audio"])
        parts: dict[str, torch.Tensor] = {}
        if stage != "decoders":
            factor = round(100.0 / self.model.fps)
            rolls = {k: _downsample(batch[k], factor) for k in (*ROLL_KEYS, "onset", "velocity")}
            parts.update(roll_loss(out, rolls, self.hparams.pos_weight))
        if stage != "encoder":
            for name in self.model.decoders:
                toks = batch[f"{name}_tokens"]
                logits = self.model.decode_logits(name, toks, out["features"])
                parts[f"tok_{name}"] = token_loss(logits, toks, batch.get(f"{name}_mask"))
        return sum(parts.values()), parts

    def _step(self, batch: dict[str, torch.Tensor], split: str) -> torch.Tensor:
        total, parts = self.compute_loss(batch)
        n = len(batch["audio"])
        for k, v in parts.items():
            self.log(f"{split}/{k}", v, prog_bar=k in ("frame", "tok_onset"), batch_size=n)
        self.log(f"{split}/loss", total, prog_bar=True, batch_size=n)
        return total

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        warm, decay = max(1, self.hparams.warmup_steps), self.hparams.get("decay_steps")
        minutes, start = self.hparams.get("decay_minutes"), time.monotonic()

        def factor(s: int) -> float:
            # Linear warm-up, then constant, or a cosine down to 10 % over ``decay_steps`` or over
            # ``decay_minutes`` of wall time (time-boxed CPU runs end on a low learning rate instead of wherever
            # the clock stops them; the wall-time form does not depend on how busy the machine is, but is not
            # reproducible step for step).
            if s < warm:
                return (s + 1) / warm
            if minutes:
                t = min(1.0, (time.monotonic() - start) / (60 * minutes))
            elif decay:
                t = min(1.0, (s - warm) / max(1, decay - warm))
            else:
                return 1.0
            return 0.1 + 0.45 * (1 + math.cos(math.pi * t))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["transcriber_config"] = self.cfg.to_dict()
