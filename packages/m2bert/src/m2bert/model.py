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
from symcore.attention import attention, attention_varlen, is_right_padded, pad, unpad
from symcore.dropout import Dropout
from symcore.rope import RotaryEmbedding, apply_rope
from torch import nn

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


class Packing:
    """A right-padded batch as its real tokens back to back (symcore.attention.unpad): the layer stack runs on
    (N, H) and attention per sequence without any mask (`symcore.attention.attention_varlen`), so no work goes to
    padding — one flash-attn varlen call on CUDA; on CPU the per-sequence loop measured slower (config.unpad).
    Each sequence keeps positions 0..len-1, which equal its positions in the padded batch only because it is
    right-padded (real tokens first), hence that condition."""

    def __init__(self, x: torch.Tensor, mask: torch.Tensor):
        self.batch, self.seqlen = mask.shape
        self.x, self.indices, self.cu_seqlens, _ = unpad(x, mask)
        self.positions = torch.arange(self.seqlen, device=mask.device).expand(self.batch, -1)[mask]  # (N,)

    def pad(self, x: torch.Tensor) -> torch.Tensor:  # (N, ...) -> (B, T, ...), zeros at padding
        return pad(x, self.indices, self.batch, self.seqlen)


class SelfAttention(nn.Module):
    """Fused-qkv multi-head attention with RoPE through symcore.rope and symcore.attention (flash-attn on CUDA,
    SDPA otherwise; local layers run blocked sliding-window attention on long sequences)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float, backend: str = "auto"):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, hidden_size // num_heads
        self.Wqkv = nn.Linear(hidden_size, 3 * hidden_size, bias=False)
        self.Wo = nn.Linear(hidden_size, hidden_size, bias=False)
        self.dropout = dropout
        self.out_drop = Dropout(dropout)
        self.backend = backend

    def forward(self, x, rope: tuple[torch.Tensor, torch.Tensor], window, key_padding_mask,
                packing: Packing | None = None):
        """x (B, T, H), or (N, H) packed real tokens when `packing` is given; rope = (cos, sin) per position."""
        drop = self.dropout if self.training else 0.0
        # (..., T, 3, heads, D) split (not sliced: slicing's backward zero-fills a full-size gradient per slice)
        qk, v = self.Wqkv(x).unflatten(-1, (3, self.num_heads, self.head_dim)).split([2, 1], dim=-3)
        if packing is not None:  # (N, 2, heads, D): RoPE on q and k as one strided view -> (2, heads, N, D)
            q, k = apply_rope(qk.permute(1, 2, 0, 3), *rope).unbind(0)
            out = attention_varlen(q.transpose(0, 1), k.transpose(0, 1), v.squeeze(1), packing.cu_seqlens,
                                   window=window, dropout_p=drop, backend=self.backend).flatten(1)
        else:  # (B, T, 2, heads, D) -> q, k (B, heads, T, D)
            q, k = apply_rope(qk.permute(2, 0, 3, 1, 4), *rope).unbind(0)
            out = attention(q, k, v.squeeze(2).transpose(1, 2), window=window, key_padding_mask=key_padding_mask,
                            dropout_p=drop, backend=self.backend)
            out = out.transpose(1, 2).flatten(2)
        return self.out_drop(self.Wo(out))


class _GeGLUAct(torch.autograd.Function):
    """gelu(value) * gate on the (..., 2F) projection, with a backward that writes both halves' gradients into one
    (..., 2F) buffer: autograd's version ends in a cat of the two halves plus temporaries for each product."""

    @staticmethod
    def forward(ctx, h):
        value, gate = h.chunk(2, dim=-1)
        ctx.save_for_backward(h)
        return F.gelu(value).mul_(gate)

    @staticmethod
    def backward(ctx, grad):
        (h,) = ctx.saved_tensors
        value, gate = h.chunk(2, dim=-1)
        out = torch.empty_like(h)
        d_value, d_gate = out.chunk(2, dim=-1)
        torch.mul(F.gelu(value), grad, out=d_gate)
        torch.ops.aten.gelu_backward.grad_input(grad * gate, value, grad_input=d_value)
        return out


class GeGLU(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int, dropout: float):
        super().__init__()
        self.Wi = nn.Linear(hidden_size, 2 * intermediate_size, bias=False)
        self.drop = Dropout(dropout)
        self.Wo = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.Wo(self.drop(_GeGLUAct.apply(self.Wi(x))))


class EncoderLayer(nn.Module):
    def __init__(self, hidden_size, num_heads, intermediate_size, attention_dropout, mlp_dropout, norm_eps,
                 first: bool, backend: str = "auto"):
        super().__init__()
        self.attn_norm = nn.Identity() if first else nn.LayerNorm(hidden_size, eps=norm_eps, bias=False)
        self.attn = SelfAttention(hidden_size, num_heads, attention_dropout, backend)
        self.mlp_norm = nn.LayerNorm(hidden_size, eps=norm_eps, bias=False)
        self.mlp = GeGLU(hidden_size, intermediate_size, mlp_dropout)

    def forward(self, x, rope, window, key_padding_mask, packing=None):
        x = x + self.attn(self.attn_norm(x), rope, window, key_padding_mask, packing)
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
        self.embed_drop = Dropout(c.embedding_dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(c.hidden_size, c.num_heads, c.intermediate_size, c.attention_dropout, c.mlp_dropout,
                         c.norm_eps, first=(i == 0), backend=c.attn_backend)
            for i in range(c.num_layers)
        )
        self.final_norm = nn.LayerNorm(c.hidden_size, eps=c.norm_eps, bias=False) if c.final_norm else nn.Identity()
        self.rope_global = RotaryEmbedding(c.head_dim, c.global_rope_theta, c.max_len)
        self.rope_local = RotaryEmbedding(c.head_dim, c.local_rope_theta, c.max_len)
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
        T = embeds.shape[1]
        x = self.embed_drop(self.embed_norm(embeds))
        if mask is not None:
            mask = mask.bool()
            if bool(mask.all()):
                mask = None  # no padding in this batch: no masks at all
        packing = Packing(x, mask) if c.unpad and mask is not None and is_right_padded(mask) else None
        ropes = {}
        for name, table in (("global", self.rope_global), ("local", self.rope_local)):
            cos, sin = table.tables(T, x.dtype)
            if packing is not None:
                cos, sin = cos[packing.positions], sin[packing.positions]
            ropes[name] = cos, sin
        if packing is not None:
            x = packing.x
        half = c.local_window // 2
        hidden = [x]
        for i, layer in enumerate(self.layers):
            if c.is_global(i):
                x = layer(x, ropes["global"], None, mask, packing)
            else:
                x = layer(x, ropes["local"], (half, half), mask, packing)
            hidden.append(x)
        x = self.final_norm(x)
        if packing is not None:  # padded positions come back as zeros
            x, hidden = packing.pad(x), [packing.pad(h) for h in hidden]
        return (x, hidden) if output_hidden_states else x

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None,
                output_hidden_states: bool = False):
        # tokens (B, T, 4) long; mask (B, T) bool, True = real
        if mask is None:
            mask = self.padding_mask(tokens)
        return self.forward_embeds(self.cp_embedding(tokens), mask, output_hidden_states)

    def encode(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward(tokens, mask)
