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
    if cos.requires_grad or sin.requires_grad or x.shape[-1] % 2:
        return x * cos + rotate_half(x) * sin
    if not (torch.is_grad_enabled() and x.requires_grad):  # inference: no autograd.Function overhead
        # a few positions (KV-cache decoding): the plain formula has the fewest kernel launches (~35 vs ~90 us
        # per call at 1 token here); long inputs: the half-by-half kernel avoids the temporaries
        return x * cos + rotate_half(x) * sin if t <= 16 else _rotate(x, cos, sin, 1.0)
    return _Rotate.apply(x, cos, sin)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, sign: float) -> torch.Tensor:
    """``x * cos + rotate_half(x) * sin`` (sign 1) or its transpose (sign -1, the backward), written half by half
    into one output: no ``cat``/``neg`` temporaries and no zero-filled slice gradients, which on CPU cost more than
    the rotation itself. ``x`` may be a strided view (e.g. q and k straight out of a fused qkv projection)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c1, c2, s1, s2 = cos[..., :half], cos[..., half:], sin[..., :half], sin[..., half:]
    shape = torch.broadcast_shapes(x.shape, cos.shape, sin.shape)
    out = torch.empty(shape, dtype=x.dtype, device=x.device)
    o1, o2 = out[..., :half], out[..., half:]
    if sign > 0:  # out1 = x1 c1 - x2 s1,  out2 = x2 c2 + x1 s2
        torch.mul(x1, c1, out=o1).addcmul_(x2, s1, value=-1.0)
        torch.mul(x2, c2, out=o2).addcmul_(x1, s2)
    else:  # transpose: d1 = g1 c1 + g2 s2,  d2 = g2 c2 - g1 s1
        torch.mul(x1, c1, out=o1).addcmul_(x2, s2)
        torch.mul(x2, c2, out=o2).addcmul_(x1, s1, value=-1.0)
    return out


class _Rotate(torch.autograd.Function):
    """The rotation with a hand-written backward (a rotation's gradient is the inverse rotation)."""

    @staticmethod
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        ctx.x_shape = x.shape
        return _rotate(x, cos, sin, 1.0)

    @staticmethod
    def backward(ctx, grad):
        cos, sin = ctx.saved_tensors
        dx = _rotate(grad, cos, sin, -1.0)
        if dx.shape != ctx.x_shape:  # x was broadcast against larger cos/sin tables: sum back
            dx = dx.sum_to_size(ctx.x_shape)
        return dx, None, None


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

    def tables(self, length: int, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin) for positions 0..length-1, each (length, head_dim): for callers that index positions
        themselves (e.g. packed variable-length batches) and rotate with `apply_rope`."""
        self._grow(length)
        return self.cos[:length].to(dtype or self.cos.dtype), self.sin[:length].to(dtype or self.sin.dtype)

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
