"""The Aria decoder: a LLaMA-3.2-style transformer with LayerNorm and full multi-head attention.

Pre-norm blocks (LayerNorm -> fused bias-free qkv -> RoPE -> causal attention -> projection; LayerNorm -> SwiGLU),
residual dropout rising linearly from 0 at the first block to `resid_dropout` at the last, a final LayerNorm and
three optional heads: next-token logits, a 512-d contrastive embedding and class logits, the latter two read at the
`<E>` position. Generation uses a static KV cache (`KVCache`): prefill the prompt once, then feed one token per step
with `start_pos` telling RoPE and the cache where it lands (chunks of several tokens work too).
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from symcore.attention import attention
from symcore.dropout import dropout
from symcore.rope import apply_rope, rope_cache
from torch import nn

from aria.config import AriaConfig

EOS_ID = 1


class KVCache(nn.Module):
    """Preallocated keys/values for every layer, (L, B, H, Tmax, D), so decoding never reallocates."""

    def __init__(self, n_layers: int, batch: int, n_heads: int, max_len: int, head_dim: int,
                 device=None, dtype=torch.float32):
        super().__init__()
        shape = (n_layers, batch, n_heads, max_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, device=device, dtype=dtype), persistent=False)
        self.register_buffer("v", torch.zeros(shape, device=device, dtype=dtype), persistent=False)

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    @property
    def batch(self) -> int:
        return self.k.shape[1]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k/v (B,H,T,D) at [start, start+T) and return the filled prefix (B,H,start+T,D)."""
        b, _, t, _ = k.shape
        kl, vl = self.k[layer], self.v[layer]
        if b != kl.shape[0]:
            kl, vl = kl[:b], vl[:b]
        kl.narrow(2, start, t).copy_(k)  # narrow/copy_: half the view ops of slice assignment (per decode step)
        vl.narrow(2, start, t).copy_(v)
        return kl.narrow(2, 0, start + t), vl.narrow(2, 0, start + t)


class DecoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, ff_mult: int, resid_dropout: float, attn_backend: str = "auto"):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.resid_dropout = resid_dropout
        self.attn_backend = attn_backend
        self.attn_norm = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)  # rows: [q | k | v], each head-major
        self.attn_out = nn.Linear(d_model, d_model, bias=False)
        self.ffn_norm = nn.LayerNorm(d_model)
        self.ffn_gate = nn.Linear(d_model, ff_mult * d_model, bias=False)
        self.ffn_up = nn.Linear(d_model, ff_mult * d_model, bias=False)
        self.ffn_down = nn.Linear(ff_mult * d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None, layer: int = 0, start_pos: int = 0) -> torch.Tensor:
        drop = self.resid_dropout if self.training else 0.0  # no dropout call at all when decoding
        a = self._attend(self.attn_norm(x), cos, sin, cache, layer, start_pos)
        x = x + (dropout(a, drop) if drop else a)
        h = self.ffn_norm(x)
        ff = linear(self.ffn_down, F.silu(linear(self.ffn_gate, h)) * linear(self.ffn_up, h))
        return x + (dropout(ff, drop) if drop else ff)

    def _attend(self, x, cos, sin, cache, layer, start_pos):
        b, t, d = x.shape
        qkv = linear(self.qkv, x).view(b, t, 3, self.n_heads, self.head_dim)
        q, k = apply_rope(qkv[:, :, :2].permute(2, 0, 3, 1, 4), cos, sin)  # one rotation for q and k: (B,H,T,D) each
        v = qkv[:, :, 2].transpose(1, 2)
        if cache is not None:
            k, v = cache.update(layer, k, v, start_pos)  # (B,H,start+T,D)
        # causal aligns the T queries with the last T keys, so prefill, chunked prefill and 1-token decode agree
        # "auto" on CPU is always SDPA; resolving it here skips a per-call probe for flash-attn
        backend = "sdpa" if self.attn_backend == "auto" and not x.is_cuda else self.attn_backend
        out = attention(q, k, v, causal=True, backend=backend)  # (B,H,T,D)
        return linear(self.attn_out, out.transpose(1, 2).reshape(b, t, d))


class AriaDecoder(nn.Module):
    """Token embedding, decoder blocks and the final LayerNorm: ids (B,T) -> hidden states (B,T,d)."""

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, n_heads: int, ff_mult: int,
                 max_seq_len: int, rope_base: float, resid_dropout: float = 0.0, attn_backend: str = "auto"):
        super().__init__()
        self.max_seq_len = max_seq_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.layers = nn.ModuleList(
            DecoderBlock(d_model, n_heads, ff_mult, resid_dropout * i / max(n_layers - 1, 1), attn_backend)
            for i in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        cos, sin = rope_cache(max_seq_len, d_model // n_heads, rope_base, None, torch.float32)
        self.register_buffer("rope_cos", cos, persistent=False)  # (Tmax, D)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None, start_pos: int = 0) -> torch.Tensor:
        b, t = ids.shape
        end = start_pos + t
        if end > self.max_seq_len:
            raise ValueError(f"sequence reaches position {end} but the model's context is {self.max_seq_len}")
        if cache is not None:
            if end > cache.max_len or b > cache.batch:
                raise ValueError(f"KV cache ({cache.batch} x {cache.max_len}) too small for batch {b} up to {end}")
        x = self.embed(ids)  # (B,T,d)
        cos = self.rope_cos[start_pos:end].to(x.dtype)
        sin = self.rope_sin[start_pos:end].to(x.dtype)
        for i, block in enumerate(self.layers):
            x = block(x, cos, sin, cache, i, start_pos)
        return self.norm(x)


class Aria(nn.Module):
    """An Aria decoder with its heads; which heads exist is decided by the config."""

    def __init__(self, config: AriaConfig):
        super().__init__()
        self.config = config
        c = config
        self.decoder = AriaDecoder(c.vocab_size, c.d_model, c.n_layers, c.n_heads, c.ff_mult, c.max_seq_len,
                                   c.rope_base, c.resid_dropout, c.attn_backend)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False) if c.lm_head else None
        self.emb_head = nn.Linear(c.d_model, c.emb_dim, bias=False) if c.emb_dim else None
        self.class_head = nn.Linear(c.d_model, c.n_classes, bias=False) if c.n_classes else None
        self.apply(_init_weights)
        _column_major_linears(self)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None, start_pos: int = 0,
                last_only: bool = False) -> torch.Tensor:
        """Next-token logits (B,T,V), or (B,1,V) for the last position only (prefill needs no more)."""
        if self.lm_head is None:
            raise RuntimeError("this Aria model was built without an LM head (config.lm_head=False)")
        hidden = self.decoder(ids, cache, start_pos)
        return linear(self.lm_head, hidden[:, -1:] if last_only else hidden)

    def embed(self, ids: torch.Tensor, eos_pos: torch.Tensor | None = None) -> torch.Tensor:
        """Contrastive embeddings (B,emb_dim) read at each row's `<E>` (or at `eos_pos`)."""
        if self.emb_head is None:
            raise RuntimeError("this Aria model has no embedding head (config.emb_dim=None)")
        return self.emb_head(self._at_eos(self.decoder(ids), ids, eos_pos))

    def classify(self, ids: torch.Tensor, eos_pos: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits (B,n_classes) read at each row's `<E>` (or at `eos_pos`)."""
        if self.class_head is None:
            raise RuntimeError("this Aria model has no classification head (config.n_classes=None)")
        return self.class_head(self._at_eos(self.decoder(ids), ids, eos_pos))

    def new_cache(self, batch: int, max_len: int | None = None, device=None, dtype=None) -> KVCache:
        p = next(self.parameters())
        c = self.config
        return KVCache(c.n_layers, batch, c.n_heads, max_len or c.max_seq_len, c.head_dim,
                       device or p.device, dtype or p.dtype)

    @staticmethod
    def _at_eos(hidden: torch.Tensor, ids: torch.Tensor, eos_pos: torch.Tensor | None) -> torch.Tensor:
        if eos_pos is None:
            is_eos = ids == EOS_ID
            if not bool(is_eos.any(1).all()):
                raise ValueError("every sequence needs an <E> token (id 1) to read its embedding")
            # last <E> of each row: argmax over position-weighted mask
            eos_pos = (is_eos * torch.arange(1, ids.shape[1] + 1, device=ids.device)).argmax(1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), eos_pos]  # (B,d)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)


def _column_major_linears(model: nn.Module) -> None:
    """Store every Linear weight (out, in) as the transpose of a contiguous (in, out) array.

    Same values, names and shapes (checkpoints are written contiguous and `load_state_dict` copies into this
    layout), but `F.linear` then hands BLAS a plain (in, out) operand, and single-row products — every KV-cache
    decode step — stream it ~1.2–2x faster on CPU (the 17.7k-row LM head most). Large-batch GEMMs do not care.
    """
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.weight.data = m.weight.data.t().contiguous().t()


# Packed weights live beside the model, not on it, so deepcopy/pickle/state_dict never meet oneDNN's opaque tensors.
_PACKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Linear -> (packed weight, (rows, ptr, version))
_ACTIVE: dict[nn.Linear, tuple[int, torch.Tensor]] = {}  # Linear -> (rows, packed weight) inside packed_linears


def linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`layer(x)`, through the oneDNN-packed copy of its weight while `packed_linears` is active for x's row count."""
    active = _ACTIVE.get(layer) if _ACTIVE else None
    if active is not None and x.numel() == active[0] * layer.in_features:
        return torch.ops.mkldnn._linear_pointwise(x, active[1], layer.bias, "none", [], "")
    if x.numel() == layer.in_features and layer.bias is None:
        # one row (a batch-1 decode step): a bare mm skips F.linear's t/matmul/reshape dispatch, ~10 us x 41 per step
        return torch.mm(x.reshape(1, -1), layer.weight.t()).view(*x.shape[:-1], layer.out_features)
    return layer(x)


def _can_pack(model: nn.Module) -> bool:
    p = next(model.parameters())
    return (p.device.type == "cpu" and p.dtype == torch.float32 and not torch.is_grad_enabled()
            and torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


@contextmanager
def packed_linears(model: nn.Module, rows: int, keep: bool = True):
    """While decoding `rows` >= 2 sequences on CPU (no grad), run every Linear through a copy of its weight in
    oneDNN's blocked layout for products of exactly `rows` rows.

    MKL's GEMM is poor at 2–8 rows (a 4-row product costs ~3x a 1-row one here); oneDNN's packed kernel (what
    torch.compile's CPU freezing uses) makes the batched decode step ~1.3x faster. Other row counts (prefill) and
    one-row decoding (where the column-major layout is faster) keep plain `F.linear`; values agree to fp32
    rounding. Packing the `small` preset takes ~0.5 s, so with `keep` the packed copies are kept (one extra copy
    of the weights, freed with the model) and reused while the weights are unchanged (same tensor and version).
    """
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)] if rows >= 2 and _can_pack(model) else []
    try:
        for m in layers:
            w = m.weight
            # inference tensors (built under inference_mode) have no version counter: repacked on every call
            key = None if w.is_inference() else (rows, w.data_ptr(), w._version)
            packed = _PACKS.get(m)
            if packed is None or key is None or packed[1] != key:
                packed = _PACKS[m] = (torch.ops.mkldnn._reorder_linear_weight(w.detach(), rows), key)
            _ACTIVE[m] = (rows, packed[0])
        yield
    finally:
        for m in layers:
            _ACTIVE.pop(m, None)
            if not keep:
                _PACKS.pop(m, None)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
