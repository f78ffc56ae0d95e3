"""Dropout whose CPU mask costs a fraction of torch's.

On CPU, `F.dropout` (and SDPA's math path, which any `dropout_p > 0` takes) draws one random number per element.
For attention probabilities (B·H·Tq·Tk elements per layer) that made mask generation ~13 % of an M2BERT train step
on this CPU. Here one 64-bit draw feeds four elements: an element is dropped when its 16-bit slice is below
``round(p · 65536)``, so the drop rate is p rounded to a multiple of 1/65536 (|error| <= 7.7e-6) and kept values
are scaled by ``1 / (1 - rate)``, unbiased as usual. The draws come from torch's default generator (or the one
given), so seeded runs are reproducible and resume exactly. CUDA tensors use `F.dropout` (its kernel is fused).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_SLOTS = 65536


def drop_rate(p: float) -> float:
    """The drop probability actually used for a requested p on the CPU path."""
    return round(p * _SLOTS) / _SLOTS


def keep_mask(shape, p: float, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean mask of `shape`, each element True (kept) with probability 1 - drop_rate(p), independently."""
    n = 1
    for s in shape:
        n *= int(s)
    words = torch.empty(-(-n // 4), dtype=torch.int64, device=device)
    words.random_(-(2**63), 2**63 - 1, generator=generator)  # full 64-bit range: all four 16-bit slices uniform
    threshold = round(p * _SLOTS) - _SLOTS // 2  # slices read as signed int16
    return (words.view(torch.int16)[:n] >= threshold).view(shape)


class _ScaleByMask(torch.autograd.Function):
    """x * keep * scale, saving only the 1-byte mask for backward."""

    @staticmethod
    def forward(ctx, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.where(keep, x, 0.0).mul_(scale)  # where, not x * keep: that converts the mask to float first

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad, 0.0).mul_(ctx.scale), None, None


def dropout(x: torch.Tensor, p: float, training: bool = True, generator: torch.Generator | None = None):
    """`F.dropout(x, p, training)` with the cheaper CPU mask."""
    if not training or p == 0.0:
        return x
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    rate = drop_rate(p)
    if x.device.type != "cpu" or rate >= 1.0:
        return F.dropout(x, p, True)
    return _ScaleByMask.apply(x, keep_mask(x.shape, p, x.device, generator), 1.0 / (1.0 - rate))


class Dropout(nn.Module):
    """`nn.Dropout` with the cheaper CPU mask (no parameters: swapping it in leaves checkpoints unchanged)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
