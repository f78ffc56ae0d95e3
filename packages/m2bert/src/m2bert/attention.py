"""Attention for the encoder: masks built once per forward and shared by all layers of a kind.

The default path is PyTorch SDPA with a boolean mask (it supports dropout on the probabilities, which ModernBERT
trains with). `backend="symcore"` (or "flash"/"naive") routes through `symcore.attention.attention`, whose
`window=(left, right)` semantics we share, e.g. for flash-attn on CUDA; that path applies no probability dropout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention_masks(key_padding_mask: torch.Tensor | None, T: int, window: tuple[int, int], device) -> dict:
    """Boolean "may attend" masks, {"global": (B,1,T,T)|None, "local": (B|1,1,T,T)}.

    Every query may always see itself: a padded query far from real tokens would otherwise have no visible key and
    SDPA would return NaN there, which leaks through 0 * NaN into real positions' outputs.
    """
    i = torch.arange(T, device=device)
    rel = i[None, :] - i[:, None]  # key - query
    band = (rel >= -window[0]) & (rel <= window[1])
    if key_padding_mask is None:
        return {"global": None, "local": band[None, None]}
    eye = torch.eye(T, dtype=torch.bool, device=device)
    keys = key_padding_mask[:, None, None, :].bool()
    return {"global": keys | eye, "local": (keys & band) | eye}


def attend(q, k, v, *, window=None, key_padding_mask=None, mask=None, dropout: float = 0.0, backend: str = "auto"):
    """q, k, v (B, heads, T, D) -> (B, heads, T, D)."""
    if backend in ("auto", "sdpa"):
        if mask is None and key_padding_mask is not None:
            mask = attention_masks(key_padding_mask, q.shape[-2], window or (q.shape[-2], q.shape[-2]), q.device)
            mask = mask["local"] if window is not None else mask["global"]
        elif mask is None and window is not None:
            mask = attention_masks(None, q.shape[-2], window, q.device)["local"]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    from symcore.attention import attention

    inner = "auto" if backend == "symcore" else backend
    return attention(q, k, v, window=window, key_padding_mask=key_padding_mask, backend=inner)
