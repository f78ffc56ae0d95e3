"""Self-attentive pooling (Lin et al. 2017), the sequence-level head of MidiBERT/M2BERT finetuning."""

from __future__ import annotations

import torch
from torch import nn


class SelfAttentivePooling(nn.Module):
    """r attention hops over the sequence, concatenated: (B,T,H) -> (B, r*H).

    Padding positions get zero weight; the hops are separate softmaxes over time.
    """

    def __init__(self, hidden: int, d_a: int = 128, r: int = 4):
        super().__init__()
        self.w1 = nn.Linear(hidden, d_a, bias=False)
        self.w2 = nn.Linear(d_a, r, bias=False)
        self.r = r

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        scores = self.w2(torch.tanh(self.w1(x)))  # (B,T,r)
        if mask is not None:
            scores = scores.masked_fill(~mask[..., None], float("-inf"))
        weights = torch.softmax(scores, dim=1).nan_to_num(0.0)  # (B,T,r); all-pad rows -> 0
        pooled = torch.einsum("btr,bth->brh", weights, x)  # (B,r,H)
        return pooled.flatten(1)  # (B, r*H)
