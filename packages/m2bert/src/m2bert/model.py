"""The M2BERT encoder: CP embedding + a ModernBERT layer stack, written so HF `ModernBertModel` weights map 1:1.

Layer structure (HF ModernBERT, checked against transformers 5.x `modeling_modernbert.py`):
    embeddings: LayerNorm(inputs_embeds) -> dropout          (CP embedding replaces HF's token table)
    layer i:    x = x + attn(attn_norm(x))     attn_norm is Identity in layer 0 (the embedding norm precedes it)
                x = x + mlp(mlp_norm(x))       GeGLU: Wi -> (value, gate) -> gelu(value) * gate -> drop -> Wo
    final_norm
All LayerNorms and Linears of the stack are bias-free. Global layers (i % 3 == 0) use RoPE theta 160000 and full
attention; local layers use theta 10000 and see keys within +-local_window//2.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from m2bert.attention import attend, attention_masks
from m2bert.config import EncoderConfig


class CPEmbedding(nn.Module):
    """One table per CP field, each scaled by sqrt(embed_dim) (as MidiBERT), concatenated and projected."""

    def __init__(self, vocab_sizes: tuple[int, ...], embed_dim: int, hidden_size: int):
        super().__init__()
        self.fields = nn.ModuleList(nn.Embedding(n, embed_dim) for n in vocab_sizes)
        self.proj = nn.Linear(len(vocab_sizes) * embed_dim, hidden_size)
        self.scale = math.sqrt(embed_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # proj(concat_f scale * table_f[tok_f]) == sum_f (scale * table_f @ W_f^T)[tok_f] + b: fold each small table
        # through its slice of the projection first (sum n_f = 176 rows) instead of projecting B*T rows of 4*E.
        # tokens (B, T, F) -> (B, T, hidden)
        W = self.proj.weight.split(self.fields[0].embedding_dim, dim=1)  # F x (hidden, E)
        out = self.proj.bias
        for i, table in enumerate(self.fields):
            folded = (table.weight * self.scale) @ W[i].T  # (n_f, hidden)
            out = out + F.embedding(tokens[..., i], folded)
        return out


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE (HF convention). cos/sin (T, D) hold each frequency twice; only the first half is read, so
    this is x * cos + rotate_half(x) * sin written without materialising rotate_half."""
    half = x.shape[-1] // 2
    c, s = cos[..., :half], sin[..., :half]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1)


class RotaryTables(nn.Module):
    """cos/sin tables for one RoPE base, grown on demand (non-persistent: never part of a checkpoint)."""

    def __init__(self, head_dim: int, theta: float, length: int):
        super().__init__()
        self.head_dim, self.theta = head_dim, theta
        self._build(length)

    def _build(self, length: int, device=None) -> None:
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32, device=device)
                                         / self.head_dim))
        freqs = torch.outer(torch.arange(length, dtype=torch.float32, device=device), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)  # (T, D), rotate-half layout
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, length: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        if length > self.cos.shape[0]:
            self._build(length, self.cos.device)
        return self.cos[:length].to(dtype), self.sin[:length].to(dtype)


class SelfAttention(nn.Module):
    """Fused-qkv multi-head attention with RoPE; `window` restricts keys to a band (local layers)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float, backend: str = "auto"):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, hidden_size // num_heads
        self.Wqkv = nn.Linear(hidden_size, 3 * hidden_size, bias=False)
        self.Wo = nn.Linear(hidden_size, hidden_size, bias=False)
        self.dropout = dropout
        self.out_drop = nn.Dropout(dropout)
        self.backend = backend

    def forward(self, x, cos, sin, window, key_padding_mask, mask=None):
        B, T, _ = x.shape
        # (B, T, 3H) -> (3, B, heads, T, head_dim); RoPE on q and k in one call
        qkv = self.Wqkv(x).view(B, T, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(qkv[:2], cos, sin).unbind(0)
        v = qkv[2]
        out = attend(q, k, v, window=window, key_padding_mask=key_padding_mask, mask=mask,
                     dropout=self.dropout if self.training else 0.0, backend=self.backend)
        return self.out_drop(self.Wo(out.transpose(1, 2).reshape(B, T, -1)))


class GeGLU(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int, dropout: float):
        super().__init__()
        self.Wi = nn.Linear(hidden_size, 2 * intermediate_size, bias=False)
        self.drop = nn.Dropout(dropout)
        self.Wo = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.Wi(x).chunk(2, dim=-1)
        return self.Wo(self.drop(F.gelu(value) * gate))


class EncoderLayer(nn.Module):
    def __init__(self, hidden_size, num_heads, intermediate_size, attention_dropout, mlp_dropout, norm_eps,
                 first: bool, backend: str = "auto"):
        super().__init__()
        self.attn_norm = nn.Identity() if first else nn.LayerNorm(hidden_size, eps=norm_eps, bias=False)
        self.attn = SelfAttention(hidden_size, num_heads, attention_dropout, backend)
        self.mlp_norm = nn.LayerNorm(hidden_size, eps=norm_eps, bias=False)
        self.mlp = GeGLU(hidden_size, intermediate_size, mlp_dropout)

    def forward(self, x, cos, sin, window, key_padding_mask, mask=None):
        x = x + self.attn(self.attn_norm(x), cos, sin, window, key_padding_mask, mask)
        return x + self.mlp(self.mlp_norm(x))


class M2BertEncoder(nn.Module):
    """CP tokens (B, T, 4) -> contextual note embeddings (B, T, hidden).

    The encoder interface used by fine-tuning and smcbench: `encode(tokens, mask) -> (B, T, hidden_size)` and the
    `hidden_size` attribute; `mask` is (B, T) bool, True = real token (derived from the Bar PAD id when omitted).
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        c = self.config = config
        self.hidden_size = c.hidden_size
        self.cp_embedding = CPEmbedding(c.vocab_sizes, c.embed_dim, c.hidden_size)
        self.embed_norm = nn.LayerNorm(c.hidden_size, eps=c.norm_eps, bias=False)
        self.embed_drop = nn.Dropout(c.embedding_dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(c.hidden_size, c.num_heads, c.intermediate_size, c.attention_dropout, c.mlp_dropout,
                         c.norm_eps, first=(i == 0), backend=c.attn_backend)
            for i in range(c.num_layers)
        )
        self.final_norm = nn.LayerNorm(c.hidden_size, eps=c.norm_eps, bias=False) if c.final_norm else nn.Identity()
        self.rope_global = RotaryTables(c.head_dim, c.global_rope_theta, c.max_len)
        self.rope_local = RotaryTables(c.head_dim, c.local_rope_theta, c.max_len)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        c = self.config
        out_std = c.init_std / math.sqrt(2.0 * c.num_layers)
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue  # LayerNorm weights stay 1, biases 0
            std = out_std if name.endswith(("attn.Wo.weight", "mlp.Wo.weight")) else c.init_std
            nn.init.trunc_normal_(p, std=std, a=-3 * std, b=3 * std)
        nn.init.zeros_(self.cp_embedding.proj.bias)

    def padding_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[..., 0] != self.config.pad_ids[0]

    def forward_embeds(self, embeds: torch.Tensor, mask: torch.Tensor | None = None,
                       output_hidden_states: bool = False):
        """The layer stack on (B, T, hidden) input embeddings (HF `inputs_embeds`): -> (B, T, hidden)."""
        c = self.config
        B, T, _ = embeds.shape
        x = self.embed_drop(self.embed_norm(embeds))
        cos_g, sin_g = self.rope_global(T, x.dtype)
        cos_l, sin_l = self.rope_local(T, x.dtype)
        half = c.local_window // 2
        masks = attention_masks(mask, T, (half, half), x.device)
        hidden = [x]
        for i, layer in enumerate(self.layers):
            if c.is_global(i):
                x = layer(x, cos_g, sin_g, None, mask, masks["global"])
            else:
                x = layer(x, cos_l, sin_l, (half, half), mask, masks["local"])
            hidden.append(x)
        x = self.final_norm(x)
        return (x, hidden) if output_hidden_states else x

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None,
                output_hidden_states: bool = False):
        # tokens (B, T, 4) long; mask (B, T) bool, True = real
        if mask is None:
            mask = self.padding_mask(tokens)
        return self.forward_embeds(self.cp_embedding(tokens), mask, output_hidden_states)

    def encode(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward(tokens, mask)
