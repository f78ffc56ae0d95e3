"""Input corruptions for pretraining: M2BERT token denoising RC(r_pos, r_pitch, r_dur) and MidiBERT's MLM.

Both work on CP id tensors (B, T, 4) [bar, position, pitch, duration] and return (corrupted, chosen) where `chosen`
(B, T) marks the tokens whose fields are predicted. Valid ids of a field are 0 .. size-3 (then PAD, MASK).
"""

from __future__ import annotations

import math

import torch

from m2bert.config import CP_VOCAB_SIZES


def choose_tokens(mask: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Exactly round(ratio * n_real) real tokens per row, uniformly without replacement: (B, T) bool.

    round() is half-to-even, as Python's round() in the reference implementation.
    """
    scores = torch.rand(mask.shape, generator=generator, device=mask.device)
    scores = scores.masked_fill(~mask, 2.0)  # padding sorts last, never chosen
    rank = scores.argsort(dim=1).argsort(dim=1)
    k = torch.round(mask.sum(1).double() * ratio).long()
    return (rank < k[:, None]) & mask


def _uniform_int(lo: torch.Tensor, hi: torch.Tensor, generator) -> torch.Tensor:
    """Uniform integers in [lo, hi] elementwise."""
    u = torch.rand(lo.shape, generator=generator, device=lo.device)
    return lo + (u * (hi - lo + 1).double()).floor().long().clamp_max(hi - lo)


def denoise_corrupt(tokens: torch.Tensor, mask: torch.Tensor, ranges=(4, 12, 12), ratio: float = 0.3,
                    vocab_sizes=CP_VOCAB_SIZES, generator: torch.Generator | None = None):
    """RC(r_pos, r_pitch, r_dur): for `ratio` of the real tokens, redraw position from [p-r, p+r-1], pitch and
    duration likewise (the original value may be redrawn), clipped to the field's valid ids; `inf` (or None) draws
    uniformly over all valid ids. Bar is never corrupted (its loss is still computed on the chosen tokens)."""
    chosen = choose_tokens(mask, ratio, generator)
    out = tokens.clone()
    for field, r in zip((1, 2, 3), ranges):
        x = tokens[..., field]
        top = vocab_sizes[field] - 3
        if r is None or math.isinf(float(r)):
            lo, hi = torch.zeros_like(x), torch.full_like(x, top)
        else:
            if r < 1 or r != int(r):
                raise ValueError(f"corruption range must be a positive integer or inf, got {r}")
            r = int(r)
            lo, hi = (x - r).clamp_min(0), (x + r - 1).clamp_max(top)
        out[..., field] = torch.where(chosen, _uniform_int(lo, hi, generator), x)
    return out, chosen


def mlm_corrupt(tokens: torch.Tensor, mask: torch.Tensor, ratio: float = 0.15, vocab_sizes=CP_VOCAB_SIZES,
                generator: torch.Generator | None = None):
    """MidiBERT MLM: of `ratio` of the real tokens, 80 % become MASK in every field (Bar included, as MidiBERT),
    10 % random valid ids, 10 % unchanged; all chosen tokens are predicted."""
    chosen = choose_tokens(mask, ratio, generator)
    u = torch.rand(mask.shape, generator=generator, device=mask.device)
    masked, randomized = chosen & (u < 0.8), chosen & (u >= 0.8) & (u < 0.9)
    out = tokens.clone()
    for field, n in enumerate(vocab_sizes):
        x = tokens[..., field]
        rand = _uniform_int(torch.zeros_like(x), torch.full_like(x, n - 3), generator)
        out[..., field] = torch.where(masked, n - 1, torch.where(randomized, rand, x))
    return out, chosen
