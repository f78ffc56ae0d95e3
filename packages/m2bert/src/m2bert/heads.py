"""Output heads: pretraining (per-field logits + pianoroll regression) and fine-tuning (note / sequence level)."""

from __future__ import annotations

import torch
from symcore.pooling import SelfAttentivePooling
from torch import nn


class PretrainHeads(nn.Module):
    """Logits for the 4 CP fields (`fields.i`) and, when pianoroll_dim > 0, the pianoroll regression (`pianoroll`).

    Mirrors the official `mask_lm.proj.{0..4}` so the released heads load (see convert.official_to_ours).
    """

    def __init__(self, hidden_size: int, vocab_sizes: tuple[int, ...], pianoroll_dim: int = 0):
        super().__init__()
        self.fields = nn.ModuleList(nn.Linear(hidden_size, n) for n in vocab_sizes)
        self.pianoroll = nn.Linear(hidden_size, pianoroll_dim) if pianoroll_dim else None

    def forward(self, h: torch.Tensor):
        # h (B, T, H) -> [(B, T, n_f) for each field], (B, T, pianoroll_dim) | None
        return [head(h) for head in self.fields], (self.pianoroll(h) if self.pianoroll is not None else None)


class NoteHead(nn.Module):
    """Note-level classification: one Linear on each token's hidden state, (B, T, H) -> (B, T, C)."""

    def __init__(self, hidden_size: int, num_classes: int):
        super().__init__()
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(h)


class SequenceHead(nn.Module):
    """Sequence-level classification: self-attentive pooling (d_a, r hops) then Linear(r * H -> C).

    Unlike the reference code, padding gets zero attention weight.
    """

    def __init__(self, hidden_size: int, num_classes: int, d_a: int = 128, r: int = 4):
        super().__init__()
        self.pooling = SelfAttentivePooling(hidden_size, d_a, r)
        self.classifier = nn.Linear(r * hidden_size, num_classes)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.pooling(h, mask))  # (B, C)
