"""M2BERT pianoroll-prediction targets, built on CP ids (B, T, 4) from the *uncorrupted* tokens.

For each token: its whole bar's 16 x P grid (P = 12 chroma + 86 pitch = 98) followed by the P-row at the token's own
position ("local" part), 17 * 98 = 1666 values. Quirks kept from the reference implementation:
- "bars" are runs of tokens starting at a Bar=New token (the crop's first token starts one whatever its Bar id);
  a note sustains round((dur_id + 1) / 2) sixteenths (half-to-even, as Python's round) and the part beyond the
  16th row spills into the next such run only (an empty bar in between is not a run, so it does not stop it);
- each row is normalised so the chroma part and the pitch part each sum to 1 (empty rows stay 0);
- chroma index is (MIDI - 22) mod 12, i.e. the pitch id mod 12.
With chroma=False the rows are 86 pitches only (17 * 86 = 1462 values): the "no chroma" ablation.
"""

from __future__ import annotations

import torch

from m2bert.config import CP_VOCAB_SIZES

ROWS = 16


def pianoroll_dim(chroma: bool = True, vocab_sizes=CP_VOCAB_SIZES) -> int:
    return (ROWS + 1) * ((12 if chroma else 0) + vocab_sizes[2] - 2)


def pianoroll_targets(tokens: torch.Tensor, chroma: bool = True, vocab_sizes=CP_VOCAB_SIZES) -> torch.Tensor:
    """(B, T, 4) CP ids -> (B, T, pianoroll_dim(chroma)) float targets (padding tokens get their run's bar grid)."""
    B, T, _ = tokens.shape
    n_pitch = vocab_sizes[2] - 2
    off = 12 if chroma else 0
    P = off + n_pitch
    bar, pos, pitch, dur = tokens.unbind(-1)
    real = pitch < n_pitch
    starts = (bar == 0).long()
    seg = starts.cumsum(1) - starts[:, :1]  # (B, T) run index; run 0 begins at the first token
    length = torch.round((dur + 1).double() / 2).long()
    end = pos + length
    rows = torch.arange(ROWS, device=tokens.device)
    here = (rows >= pos[..., None]) & (rows < end[..., None])  # (B, T, 16)
    spill = rows < (end[..., None] - ROWS)  # rows of the next run
    feat = torch.zeros(B, T, P, device=tokens.device)
    p = pitch.clamp_max(n_pitch - 1)
    feat.scatter_(2, (off + p)[..., None], 1.0)
    if chroma:
        feat.scatter_(2, (p % 12)[..., None], 1.0)
    feat = feat * real[..., None]
    grid = torch.zeros(B, T + 1, ROWS * P, device=tokens.device)
    for rows_mask, runs in ((here, seg), (spill, seg + 1)):
        contrib = (rows_mask[..., None] * feat[:, :, None, :]).reshape(B, T, ROWS * P)
        grid.scatter_add_(1, runs[..., None].expand(B, T, ROWS * P), contrib)
    grid = grid.view(B, T + 1, ROWS, P)
    parts = [grid[..., :off], grid[..., off:]] if chroma else [grid]
    grid = torch.cat([g / g.sum(-1, keepdim=True).clamp_min(1.0) for g in parts], dim=-1)
    bar_grid = grid.gather(1, seg[:, :, None, None].expand(B, T, ROWS, P))  # (B, T, 16, P)
    local = bar_grid.gather(2, pos.clamp_max(ROWS - 1)[:, :, None, None].expand(B, T, 1, P))  # (B, T, 1, P)
    return torch.cat([bar_grid.reshape(B, T, ROWS * P), local.reshape(B, T, P)], dim=-1)
