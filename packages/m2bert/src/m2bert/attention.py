"""Attention for the encoder: masks built once per forward and shared by all layers of a kind.

The default path is PyTorch SDPA with boolean masks (it supports dropout on the probabilities, which ModernBERT
trains with). Local layers with a symmetric window (w, w) and T >= BLOCK_LOCAL_MIN_BLOCKS * w run *block-local*: queries in
blocks of w attend only to their 3w-key neighbourhood, O(T * 3w) work instead of O(T^2), the same result as the
dense band mask. On this CPU it only pays off for long sequences (measured: slower at T=512, even at T=1024 with
w=64), hence the high threshold. `backend="symcore"` (or "flash"/"naive") routes through `symcore.attention.attention`, whose
`window=(left, right)` semantics we share (e.g. flash-attn on CUDA).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

BLOCK_LOCAL_MIN_BLOCKS = 32


@dataclass
class BlockLocalMask:
    """Per-block masks for block-local attention: `mask` (B|1, n_blocks, w, 3w) bool, blocks of `w` queries."""

    w: int
    mask: torch.Tensor


def _block_local_mask(key_padding_mask: torch.Tensor | None, T: int, w: int, device) -> BlockLocalMask:
    nb = -(-T // w)
    Tp = nb * w
    qi = torch.arange(w, device=device)[:, None]
    kk = torch.arange(3 * w, device=device)[None, :]
    rel = kk - w - qi  # key - query
    band = rel.abs() <= w
    real = torch.ones(1, T, dtype=torch.bool, device=device) if key_padding_mask is None else key_padding_mask.bool()
    keys = F.pad(real, (w, Tp - T + w), value=False).unfold(1, 3 * w, w)  # (B, nb, 3w)
    mask = (band[None, None] & keys[:, :, None, :]) | (rel == 0)[None, None]  # a query always sees itself
    return BlockLocalMask(w, mask)


def attention_masks(key_padding_mask: torch.Tensor | None, T: int, window: tuple[int, int], device) -> dict:
    """Boolean "may attend" masks, {"global": (B,1,T,T)|None, "local": (B|1,1,T,T) or a BlockLocalMask}.

    Every query may always see itself: a padded query far from real tokens would otherwise have no visible key and
    SDPA would return NaN there, which leaks through 0 * NaN into real positions' outputs.
    """
    if window[0] == window[1] and window[0] > 0 and T >= BLOCK_LOCAL_MIN_BLOCKS * window[0]:
        local = _block_local_mask(key_padding_mask, T, window[0], device)
    else:
        i = torch.arange(T, device=device)
        rel = i[None, :] - i[:, None]  # key - query
        local = ((rel >= -window[0]) & (rel <= window[1]))[None, None]
        if key_padding_mask is not None:
            local = (local & key_padding_mask[:, None, None, :].bool()) | torch.eye(T, dtype=torch.bool, device=device)
    if key_padding_mask is None:
        return {"global": None, "local": local}
    eye = torch.eye(T, dtype=torch.bool, device=device)
    return {"global": key_padding_mask[:, None, None, :].bool() | eye, "local": local}


def block_local_attention(q, k, v, bm: BlockLocalMask, dropout: float = 0.0):
    """q, k, v (B, heads, T, D) -> (B, heads, T, D), each block of w queries against its 3w keys."""
    B, h, T, D = q.shape
    w = bm.w
    nb = bm.mask.shape[1]
    Tp = nb * w

    def blocks(x, lo, hi, size):  # (B, h, T, D) -> (B * nb, h, size, D)
        x = F.pad(x, (0, 0, lo, hi)).unfold(2, size, w)  # (B, h, nb, D, size)
        return x.permute(0, 2, 1, 4, 3).reshape(B * nb, h, size, D)

    qb = blocks(q, 0, Tp - T, w)
    kb, vb = blocks(k, w, Tp - T + w, 3 * w), blocks(v, w, Tp - T + w, 3 * w)
    mask = bm.mask.expand(B, -1, -1, -1).reshape(B * nb, 1, w, 3 * w)
    out = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask, dropout_p=dropout)
    return out.view(B, nb, h, w, D).permute(0, 2, 1, 3, 4).reshape(B, h, Tp, D)[:, :, :T]


def attend(q, k, v, *, window=None, key_padding_mask=None, mask=None, dropout: float = 0.0, backend: str = "auto"):
    """q, k, v (B, heads, T, D) -> (B, heads, T, D)."""
    if backend in ("auto", "sdpa"):
        if mask is None and (window is not None or key_padding_mask is not None):
            T = q.shape[-2]
            masks = attention_masks(key_padding_mask, T, window or (T, T), q.device)
            mask = masks["local"] if window is not None else masks["global"]
        if isinstance(mask, BlockLocalMask):
            return block_local_attention(q, k, v, mask, dropout)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    from symcore.attention import attention

    inner = "auto" if backend == "symcore" else backend
    return attention(q, k, v, window=window, key_padding_mask=key_padding_mask, dropout_p=dropout, backend=inner)
