"""Finetuning any encoder on one task: a note-level linear head or self-attentive pooling + linear.

The encoder interface is deliberately small: `encoder(tokens (B,T,4) long, mask (B,T) bool) -> (B,T,H)` and an
integer attribute `hidden_size`. The best validation epoch's weights are kept in memory and restored before
testing, so no checkpoint file is ever read back.
"""

from __future__ import annotations

import copy

import lightning as L
import torch
from symcore.pooling import SelfAttentivePooling
from torch import nn

from smcbench.metrics import score
from smcbench.tasks import TaskSpec


class FinetuneModule(L.LightningModule):
    def __init__(self, encoder: nn.Module, spec: TaskSpec, lr: float = 2e-5, weight_decay: float = 0.01,
                 head_dropout: float = 0.1, freeze_encoder: bool = False):
        super().__init__()
        self.encoder, self.spec, self.lr, self.weight_decay = encoder, spec, lr, weight_decay
        hidden = int(encoder.hidden_size)
        if spec.level == "note":
            self.pool = None
            self.head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(hidden, spec.n_classes))
        else:
            self.pool = SelfAttentivePooling(hidden, d_a=128, r=4)
            self.head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(4 * hidden, spec.n_classes))
        if freeze_encoder:
            self.encoder.requires_grad_(False)
        self.best_score, self.best_epoch, self.best_state = float("-inf"), -1, None
        self.history: list[dict] = []
        self._outputs: dict[str, list] = {"val": [], "test": []}
        self.test_score = float("nan")

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(tokens, mask)  # (B,T,H)
        if self.pool is None:
            return self.head(h)  # (B,T,C)
        return self.head(self.pool(h, mask))  # (B,C)

    def _loss(self, logits, labels):
        if self.spec.level == "note":
            return nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=0)
        return nn.functional.cross_entropy(logits, labels)

    def training_step(self, batch, _):
        tokens, mask, labels = batch
        loss = self._loss(self(tokens, mask), labels)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(tokens))
        return loss

    def _eval_step(self, batch, stage):
        tokens, mask, labels = batch
        logits = self(tokens, mask)
        self._outputs[stage].append((logits.argmax(-1).cpu(), labels.cpu()))

    def validation_step(self, batch, _):
        self._eval_step(batch, "val")

    def test_step(self, batch, _):
        self._eval_step(batch, "test")

    def _epoch_score(self, stage) -> float:
        preds = torch.cat([p.flatten() for p, _ in self._outputs[stage]])
        target = torch.cat([t.flatten() for _, t in self._outputs[stage]])
        self._outputs[stage].clear()
        ignore = 0 if self.spec.level == "note" else None
        return score(self.spec.metric, preds, target, self.spec.n_classes, ignore_index=ignore)

    def on_validation_epoch_end(self):
        if self.trainer.sanity_checking:
            self._outputs["val"].clear()
            return
        value = self._epoch_score("val")
        self.log("val_score", value, prog_bar=True)
        self.history.append({"epoch": self.current_epoch, "val": value})
        if value > self.best_score:
            self.best_score, self.best_epoch = value, self.current_epoch
            self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in self.state_dict().items()})

    def on_test_epoch_end(self):
        self.test_score = self._epoch_score("test")
        self.log("test_score", self.test_score)

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.load_state_dict(self.best_state)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
