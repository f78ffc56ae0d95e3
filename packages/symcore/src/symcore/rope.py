"""Rotary position embeddings in the rotate-half layout (HF LLaMA / ModernBERT, not the interleaved GPT-J one).

A head vector's dimension d is paired with d + D/2 and the pair is rotated by angle ``pos * base^(-2d/D)``.
Using the same layout as HF means converted checkpoints need no permutation of the q/k projection rows.
The angles are computed in float32 whatever the output dtype, as HF does, so fp16 models agree with it.
"""

from __future__ import annotations

import torch
from torch import nn


def rope_cache(seq_len: int, head_dim: int, base: float = 10000.0, device=None,
               dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each (seq_len, head_dim), for positions 0..seq_len-1."""
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim))
    t = torch.arange(seq_len, device=device, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)  # (T, D/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, D)
    dtype = dtype or torch.get_default_dtype()
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
               positions: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate x (B,H,T,D) by the angles of its positions.

    positions None: row t uses cos[t] (cos may be longer than T, e.g. a max-length cache). positions (T,) or (B,T):
    explicit absolute positions, e.g. ``arange(start, start + T)`` for KV-cache decoding or per-row offsets of a
    left-padded batch.
    """
    t = x.shape[-2]
    if positions is None:
        if cos.shape[0] < t:
            raise ValueError(f"RoPE cache holds {cos.shape[0]} positions, input has {t}")
        cos, sin = cos[:t], sin[:t]  # (T,D) broadcasts over (B,H)
    else:
        positions = positions.to(device=cos.device, dtype=torch.long)
        if positions.shape[-1] != t:
            raise ValueError(f"positions {tuple(positions.shape)} do not match sequence length {t}")
        if int(positions.max()) >= cos.shape[0] or int(positions.min()) < 0:
            raise ValueError(f"positions span [{int(positions.min())}, {int(positions.max())}], "
                             f"RoPE cache holds {cos.shape[0]}")
        cos, sin = cos[positions], sin[positions]  # (T,D) or (B,T,D)
        if positions.dim() == 2:
            cos, sin = cos[:, None], sin[:, None]  # (B,1,T,D) broadcasts over heads
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + rotate_half(x) * sin


class RotaryEmbedding(nn.Module):
    """cos/sin tables kept as non-persistent buffers (they follow .to(device) but stay out of checkpoints),
    rebuilt at twice the size when a longer position is asked for."""

    def __init__(self, head_dim: int, base: float = 10000.0, max_len: int = 2048):
        super().__init__()
        self.head_dim, self.base = head_dim, float(base)
        cos, sin = rope_cache(max_len, head_dim, self.base)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    @property
    def max_len(self) -> int:
        return self.cos.shape[0]

    def _grow(self, needed: int) -> None:
        if needed > self.max_len:
            size = max(needed, 2 * self.max_len)
            self.cos, self.sin = rope_cache(size, self.head_dim, self.base, self.cos.device, self.cos.dtype)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None, offset: int = 0) -> torch.Tensor:
        """x (B,H,T,D) at positions ``offset..offset+T-1``, or at explicit ``positions`` (T,) / (B,T)."""
        if positions is None:
            if offset:
                positions = torch.arange(offset, offset + x.shape[-2], device=self.cos.device)
            needed = offset + x.shape[-2]
        else:
            needed = int(positions.max()) + 1
        self._grow(needed)
        return apply_rope(x, self.cos, self.sin, positions)
