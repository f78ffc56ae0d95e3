"""LLaMA-style note decoder with cross-attention to encoder features (Li, Zang & Kong 2025, arXiv 2501.03038).

Token positions get RoPE; encoder frames get a linear projection plus sinusoidal absolute positions, because the
two streams have different geometry (a growing note list vs a fixed frame grid). Blocks: RMSNorm -> causal
self-attention -> RMSNorm -> cross-attention -> RMSNorm -> SwiGLU, each residual. A KV cache makes greedy decoding
one token per step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from symcore.attention import attention
from symcore.rope import apply_rope, rope_cache
from torch import nn


def _rope(x: torch.Tensor, start: int, base: float) -> torch.Tensor:
    """Rotate-half RoPE on (B, H, T, D) for positions start..start+T-1."""
    cos, sin = rope_cache(start + x.shape[2], x.shape[-1], base, x.device, x.dtype)
    return apply_rope(x, cos[start:], sin[start:])


def sinusoidal_positions(n: int, dim: int, device=None) -> torch.Tensor:
    """(n, dim) absolute sinusoidal encodings (Vaswani et al.) for the encoder frames."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(n, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.gate, self.up = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.down(F.silu(self.gate(x)) * self.up(x)))


class DecoderBlock(nn.Module):
    def __init__(self, dim: int, n_heads: int, ffn: int, dropout: float, rope_base: float):
        super().__init__()
        self.h, self.rope_base = n_heads, rope_base
        self.norm1, self.norm2, self.norm3 = RMSNorm(dim), RMSNorm(dim), RMSNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.self_out = nn.Linear(dim, dim, bias=False)
        self.q_cross = nn.Linear(dim, dim, bias=False)
        self.kv_cross = nn.Linear(dim, 2 * dim, bias=False)
        self.cross_out = nn.Linear(dim, dim, bias=False)
        self.ffn = SwiGLU(dim, ffn, dropout)
        self.drop = nn.Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.h, d // self.h).transpose(1, 2)  # (B, H, T, Dh)

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv_cross(memory).chunk(2, -1)
        return self._heads(k), self._heads(v)

    def forward(self, x, mem_kv, mem_mask=None, cache: dict | None = None):
        b, t, d = x.shape
        q, k, v = (self._heads(z) for z in self.qkv(self.norm1(x)).chunk(3, -1))
        start = 0 if cache is None or "k" not in cache else cache["k"].shape[2]
        q, k = _rope(q, start, self.rope_base), _rope(k, start, self.rope_base)
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        a = attention(q, k, v, causal=True)  # (B, H, t, Dh); symcore: flash-attn on CUDA, else SDPA
        x = x + self.drop(self.self_out(a.transpose(1, 2).reshape(b, t, d)))
        qc = self._heads(self.q_cross(self.norm2(x)))
        c = attention(qc, mem_kv[0], mem_kv[1], key_padding_mask=mem_mask)
        x = x + self.drop(self.cross_out(c.transpose(1, 2).reshape(b, t, d)))
        return x + self.ffn(self.norm3(x))


class NoteDecoder(nn.Module):
    """tokens (B, L) + encoder features (B, T, F) -> next-token logits (B, L, vocab)."""

    def __init__(self, vocab_size: int, feature_dim: int, d_model: int, n_layers: int, n_heads: int, ffn: int,
                 dropout: float = 0.1, rope_base: float = 10000.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.proj = nn.Linear(feature_dim, d_model)
        self.blocks = nn.ModuleList(DecoderBlock(d_model, n_heads, ffn, dropout, rope_base) for _ in range(n_layers))
        self.norm = RMSNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.d_model = d_model

    def memory(self, features: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-block cross-attention keys/values, computed once per segment."""
        m = self.proj(features)  # (B, T, D)
        m = m + sinusoidal_positions(m.shape[1], self.d_model, m.device).to(m.dtype)
        return [blk.memory_kv(m) for blk in self.blocks]

    def forward(self, tokens: torch.Tensor, features: torch.Tensor, feature_mask: torch.Tensor | None = None,
                memory=None, caches: list[dict] | None = None) -> torch.Tensor:
        memory = memory if memory is not None else self.memory(features)
        x = self.embed(tokens)  # (B, L, D)
        for i, blk in enumerate(self.blocks):
            x = blk(x, memory[i], feature_mask, None if caches is None else caches[i])
        return self.head(self.norm(x))  # (B, L, V)
