"""Scaled dot-product attention: the one implementation every symphonia model calls.

Visibility rule (all backends agree on it). Queries are aligned to the *end* of the keys: query row i sits at
absolute position ``i + q_offset`` with ``q_offset = Tk - Tq``. So self-attention (Tq == Tk) has offset 0, and a
KV-cache decode step (Tq new tokens after Tk - Tq cached ones) sees exactly what the same rows saw in a full
forward pass. flash-attn (>= 2.1) uses the same bottom-right alignment. Query i may see key j when

    causal:          j <= i + q_offset
    window=(l, r):   i + q_offset - l <= j <= i + q_offset + r
    key_padding_mask[b, j] is True (True = real token)

For cross-attention without causal/window the offset is irrelevant. A query row that sees no key at all (e.g. a
batch row that is all padding) returns zeros instead of the NaN a plain softmax would give.

Backends: "flash" (flash-attn on CUDA, fp16/bf16), "sdpa" (``F.scaled_dot_product_attention``, boolean mask),
"naive" (explicit softmax, the readable reference). "auto" takes flash when it can, else sdpa. Dropout is applied
whenever ``dropout_p > 0``: pass ``dropout_p if self.training else 0.0``.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from symcore.dropout import dropout

BACKENDS = ("auto", "flash", "sdpa", "naive")


class AttentionBackendError(RuntimeError):
    """The requested backend cannot run these inputs (missing flash-attn, CPU tensors, fp32, ...)."""


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
              window: tuple[int, int] | None = None, key_padding_mask: torch.Tensor | None = None,
              dropout_p: float = 0.0, scale: float | None = None, backend: str = "auto") -> torch.Tensor:
    """q (B,H,Tq,D), k/v (B,Hkv,Tk,D) with H a multiple of Hkv (grouped-query) -> (B,H,Tq,D)."""
    _check_shapes(q, k, v, key_padding_mask)
    if window is not None:
        window = (int(window[0]), int(window[1]))
        if min(window) < 0:
            raise ValueError(f"window sides must be >= 0, got {window}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    chosen = select_backend(q, k, backend, causal=causal, window=window, key_padding_mask=key_padding_mask)
    if chosen == "flash":
        import flash_attn

        return flash_attention(q, k, v, flash_attn, causal=causal, window=window,
                               key_padding_mask=key_padding_mask, dropout_p=dropout_p, scale=scale)
    k, v = _repeat_kv(k, q.shape[1]), _repeat_kv(v, q.shape[1])
    if chosen == "sdpa":
        return _sdpa(q, k, v, causal, window, key_padding_mask, dropout_p, scale)
    return _naive(q, k, v, causal, window, key_padding_mask, dropout_p, scale)


def attention_varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens: torch.Tensor, *,
                     causal: bool = False, window: tuple[int, int] | None = None, dropout_p: float = 0.0,
                     scale: float | None = None, backend: str = "auto") -> torch.Tensor:
    """Self-attention over sequences packed back to back (no padding anywhere): q, k, v (N, H, D) — views are
    fine — with sequence i at rows ``cu_seqlens[i]:cu_seqlens[i+1]`` (int32, flash-attn's varlen layout) -> (N, H, D).

    Each sequence's positions start at 0. flash-attn's varlen kernel runs it in one call on CUDA; otherwise each
    sequence goes through `attention` (sdpa, blocked when windowed and long) with no mask at all, which on CPU is
    cheaper than padding the batch and masking.
    """
    if q.dim() != 3 or k.shape != v.shape or q.shape[0] != k.shape[0] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"attention_varlen wants packed (N,H,D) tensors, got q{tuple(q.shape)} k{tuple(k.shape)}")
    window = None if window is None else (int(window[0]), int(window[1]))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    one = q.new_empty(1, q.shape[1], 1, q.shape[2])  # dtype/device stand-in for backend selection
    if select_backend(one, one[:, : k.shape[1]], backend, causal=causal, window=window) == "flash":
        import flash_attn

        lengths = cu_seqlens[1:] - cu_seqlens[:-1]
        max_len = int(lengths.max()) if lengths.numel() else 0
        cu = cu_seqlens.to(device=q.device, dtype=torch.int32)
        return flash_attn.flash_attn_varlen_func(q, k, v, cu, cu, max_len, max_len, dropout_p=dropout_p,
                                                 softmax_scale=scale, causal=causal,
                                                 window_size=(-1, -1) if window is None else window)
    inner = "sdpa" if backend in ("auto", "flash") else backend
    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
    # split, not slicing: autograd joins the pieces' gradients with one cat instead of a zero-filled full-size
    # tensor per piece
    outs = [attention(qi.transpose(0, 1)[None], ki.transpose(0, 1)[None], vi.transpose(0, 1)[None], causal=causal,
                      window=window, dropout_p=dropout_p, scale=scale, backend=inner)[0].transpose(0, 1)
            for qi, ki, vi in zip(q.split(lengths), k.split(lengths), v.split(lengths), strict=True) if len(qi)]
    return torch.cat(outs) if outs else q.new_empty(q.shape)


# ----------------------------------------------------------------------------------------------- dispatch


@functools.cache
def flash_available() -> bool:
    """Whether flash-attn imports (checked once: attention is called per layer per step)."""
    try:
        import flash_attn  # noqa: F401
    except Exception:  # ImportError, or a broken CUDA build raising OSError/RuntimeError at import
        return False
    return True


def flash_unsupported_reason(q: torch.Tensor, k: torch.Tensor, *, causal: bool, window, key_padding_mask) -> str | None:
    """Why flash-attn cannot run these inputs with our semantics, or None when it can."""
    if not flash_available():
        return "flash-attn is not installed (pip install 'symphonia-core[flash]', needs CUDA)"
    if not q.is_cuda:
        return f"flash-attn needs CUDA tensors, got {q.device}"
    if q.dtype not in (torch.float16, torch.bfloat16):
        return f"flash-attn needs float16/bfloat16, got {q.dtype}"
    if q.shape[-1] > 256:
        return f"flash-attn supports head_dim <= 256, got {q.shape[-1]}"
    if key_padding_mask is not None and (causal or window is not None):
        # varlen drops padded keys, so positions only survive when every row is a real prefix and Tq == Tk.
        if q.shape[2] != k.shape[2]:
            return "flash-attn varlen with padding and causal/window needs Tq == Tk"
        if not is_right_padded(key_padding_mask):
            return "flash-attn varlen with causal/window needs right padding (real tokens first)"
    return None


def select_backend(q: torch.Tensor, k: torch.Tensor, backend: str = "auto", *, causal: bool = False,
                   window=None, key_padding_mask=None) -> str:
    """The backend `attention` will run: "flash", "sdpa" or "naive"."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; choose one of {BACKENDS}")
    if backend in ("sdpa", "naive"):
        return backend
    reason = flash_unsupported_reason(q, k, causal=causal, window=window, key_padding_mask=key_padding_mask)
    if backend == "flash":
        if reason is not None:
            raise AttentionBackendError(f"attention backend 'flash' unavailable: {reason}")
        return "flash"
    return "sdpa" if reason is not None else "flash"


def _check_shapes(q, k, v, key_padding_mask) -> None:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"attention wants (B,H,T,D) tensors, got q{tuple(q.shape)} k{tuple(k.shape)} v{tuple(v.shape)}")
    if k.shape != v.shape or q.shape[0] != k.shape[0] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q{tuple(q.shape)} k{tuple(k.shape)} v{tuple(v.shape)} do not fit together")
    if q.shape[1] % k.shape[1]:
        raise ValueError(f"{q.shape[1]} query heads are not a multiple of {k.shape[1]} key/value heads")
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != (k.shape[0], k.shape[2]):
        raise ValueError(f"key_padding_mask must be (B, Tk) = {(k.shape[0], k.shape[2])}, "
                         f"got {tuple(key_padding_mask.shape)}")


def _repeat_kv(x: torch.Tensor, heads: int) -> torch.Tensor:
    return x if x.shape[1] == heads else x.repeat_interleave(heads // x.shape[1], dim=1)


# ----------------------------------------------------------------------------------------------- masks


@functools.lru_cache(maxsize=64)
def _visible(tq: int, tk: int, causal: bool, window, device: torch.device) -> torch.Tensor:
    # Cached masks must be ordinary tensors even when first built under inference_mode, or a later training step
    # that saves them for backward would fail.
    with torch.inference_mode(False), torch.no_grad():
        qpos = torch.arange(tq, device=device)[:, None] + (tk - tq)
        kpos = torch.arange(tk, device=device)[None, :]
        ok = torch.ones(tq, tk, dtype=torch.bool, device=device)
        if causal:
            ok &= kpos <= qpos
        if window is not None:
            ok &= (kpos >= qpos - window[0]) & (kpos <= qpos + window[1])
        return ok


def _as_additive(ok: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean visibility -> 0 / -inf, to be added to scores."""
    return torch.zeros(ok.shape, dtype=dtype, device=ok.device).masked_fill_(~ok, float("-inf"))


@functools.lru_cache(maxsize=64)
def _additive(tq: int, tk: int, causal: bool, window, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The cached (Tq, Tk) mask as 0 / -inf: SDPA would otherwise convert a boolean mask on every call."""
    with torch.inference_mode(False), torch.no_grad():
        return _as_additive(_visible(tq, tk, causal, window, device), dtype)


def visibility_mask(tq: int, tk: int, *, causal: bool = False, window=None, key_padding_mask=None,
                    device=None) -> torch.Tensor | None:
    """Boolean "query may see key" mask, (Tq,Tk) or (B,1,Tq,Tk) with padding; None when everything is visible."""
    device = torch.device(device) if device is not None else (
        key_padding_mask.device if key_padding_mask is not None else torch.device("cpu"))
    mask = _visible(tq, tk, causal, window, device) if (causal or window is not None) else None
    if key_padding_mask is not None:
        keys = key_padding_mask.to(device=device, dtype=torch.bool)[:, None, None, :]
        mask = keys if mask is None else keys & mask
    return mask


def _sdpa(q, k, v, causal, window, key_padding_mask, dropout_p, scale):
    tq, tk = q.shape[2], k.shape[2]
    if use_blocked_local(tq, tk, causal, window):
        return blocked_local_attention(q, k, v, causal=causal, window=window, key_padding_mask=key_padding_mask,
                                       dropout_p=dropout_p, scale=scale)
    if window is None and key_padding_mask is None:
        if not causal or tq == 1:  # one decode query sees every cached key
            return _sdpa_call(q, k, v, None, dropout_p, scale)
        if tq == tk:  # SDPA's is_causal aligns top-left, which equals ours only for square masks
            return _sdpa_call(q, k, v, None, dropout_p, scale, is_causal=True)
    if key_padding_mask is None and tq <= tk:  # every query sees at least its own position
        mask = _additive(tq, tk, causal, window, q.dtype, q.device)
        return _sdpa_call(q, k, v, mask, dropout_p, scale)
    mask = visibility_mask(tq, tk, causal=causal, window=window, key_padding_mask=key_padding_mask, device=q.device)
    mask, has_key = _guard_empty_rows(mask, key_padding_mask is not None or tq > tk)
    out = _sdpa_call(q, k, v, mask, dropout_p, scale)
    return out if has_key is None else out * has_key


def _sdpa_call(q, k, v, mask, dropout_p, scale, is_causal=False):
    """`F.scaled_dot_product_attention`, except on CPU with dropout: SDPA then takes its math path anyway, and the
    same math is run here with `symcore.dropout`'s mask, which costs about a quarter of SDPA's (measured: the
    mask was ~13 % of an M2BERT train step at T = 512). Same values as SDPA apart from which elements drop."""
    if dropout_p == 0.0 or q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal,
                                              scale=scale)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = torch.matmul(q, k.transpose(-2, -1)).mul_(scale)  # (..., Tq, Tk)
    if is_causal:  # SDPA's top-left alignment (only asked for with Tq == Tk)
        mask = _additive(q.shape[-2], k.shape[-2], True, None, scores.dtype, scores.device)
    if mask is not None:
        if mask.dtype == torch.bool:  # as additive: (B,1,Tq,Tk) is H times smaller than the scores it is added to
            mask = _as_additive(mask, scores.dtype)
        scores = scores.add_(mask)
    return _softmax_dropout_matmul(scores, v, dropout_p)


def _softmax_dropout_matmul(scores, v, dropout_p):
    """softmax over keys (in fp32 for half types) -> dropout -> weighted sum of v."""
    low = v.dtype in (torch.float16, torch.bfloat16)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32 if low else None).to(v.dtype)
    return torch.matmul(dropout(probs, dropout_p), v)


# ----------------------------------------------------------------------------------------------- blocked local

BLOCKED_MIN_SPANS = 3
"""Sliding-window self-attention runs blocked when Tk > BLOCKED_MIN_SPANS * (left + right + 1). Measured on CPU
(2 threads, B=4, H=6, D=64, +-64 window with padding, forward + backward CPU time): dense wins at T = 256, even at
384, blocked 1.1-1.4x faster at 512 and 1.6x at 1024."""


def use_blocked_local(tq: int, tk: int, causal: bool, window) -> bool:
    """Whether the sdpa backend computes this sliding-window self-attention block by block."""
    if window is None or tq != tk:
        return False
    right = 0 if causal else window[1]
    return tk > BLOCKED_MIN_SPANS * (min(window[0], tk) + min(right, tk) + 1)


def local_block_size(window: tuple[int, int]) -> int:
    """Queries per block: half the window (at least 16), so each block reads ~3 blocks' worth of keys."""
    return max(16, (window[0] + window[1]) // 2)


@functools.lru_cache(maxsize=64)
def _block_visible(t: int, block: int, left: int, right: int, causal: bool, device: torch.device) -> torch.Tensor:
    """(n_blocks, block, left + block + right) bool: query (row) may see key (column) of its block's key span."""
    with torch.inference_mode(False), torch.no_grad():
        nb, span = -(-t // block), left + block + right
        qpos = torch.arange(nb * block, device=device).view(nb, block, 1)
        kpos = (torch.arange(nb, device=device) * block - left).view(nb, 1, 1) + torch.arange(span, device=device)
        ok = (kpos >= qpos - left) & (kpos <= qpos + right) & (kpos >= 0) & (kpos < t)
        if causal:
            ok &= kpos <= qpos
        # queries past the end (ragged last block) are sliced off: let them see their whole span, never nothing
        ok |= (qpos >= t) & ~ok.any(-1, keepdim=True)
        return ok


@functools.lru_cache(maxsize=64)
def _block_additive(t: int, block: int, left: int, right: int, causal: bool, dtype: torch.dtype,
                    device: torch.device) -> torch.Tensor:
    with torch.inference_mode(False), torch.no_grad():
        return _as_additive(_block_visible(t, block, left, right, causal, device), dtype)


def blocked_local_attention(q, k, v, *, causal: bool = False, window: tuple[int, int], key_padding_mask=None,
                            dropout_p: float = 0.0, scale: float | None = None,
                            block: int | None = None) -> torch.Tensor:
    """Sliding-window self-attention in O(T * window): the same result as the dense masked kernel (tested).

    Queries are cut into blocks of ``block``; block j's keys are the span [j*block - left, (j+1)*block + right),
    taken as overlapping *views* of the (zero-padded) keys, so nothing is copied per block. SDPA then runs with
    the blocks as its "heads" and a small (block x span) mask per block, instead of a (T x T) mask that is
    almost all False. q, k, v (B, H, T, D), same T.
    """
    b_, h, t, d = q.shape
    left, right = int(window[0]), 0 if causal else int(window[1])
    left, right = min(left, t), min(right, t)
    block = block or local_block_size((left, right))
    nb = -(-t // block)
    tp, span = nb * block, left + block + right
    has_key = None
    if key_padding_mask is None:  # every query sees itself: a cached additive (nb, block, span) mask
        mask = _block_additive(t, block, left, right, causal, q.dtype, q.device)
    else:
        keys = F.pad(key_padding_mask.to(device=q.device, dtype=torch.bool), (left, tp - t + right), value=False)
        ok = _block_visible(t, block, left, right, causal, q.device) & keys.unfold(1, span, block)[:, :, None, :]
        ok, has_key = _guard_empty_rows(ok, True)  # (B, nb, block, span); queries whose window is all padding
        # additive float built here once (SDPA would convert a boolean mask in forward and again in backward),
        # then repeated over heads: SDPA's batch dim is (B, H) merged
        mask = _as_additive(ok, q.dtype)
        mask = mask[:, None].expand(b_, h, nb, block, span).reshape(b_ * h, nb, block, span)

    def spans(x):  # (B, H, T, D) -> (B*H, nb, span, D), overlapping views
        return F.pad(x, (0, 0, left, tp - t + right)).unfold(2, span, block).transpose(-1, -2).flatten(0, 1)

    qb = (F.pad(q, (0, 0, 0, tp - t)) if tp > t else q).reshape(b_ * h, nb, block, d)
    out = _sdpa_call(qb, spans(k), spans(v), mask, dropout_p, scale)
    if has_key is not None:
        out = (out.view(b_, h, nb, block, d) * has_key[:, None]).view(b_ * h, nb, block, d)
    return out.view(b_, h, tp, d)[:, :, :t]


def _guard_empty_rows(mask: torch.Tensor, may_be_empty: bool):
    """Let rows without any visible key see everything (finite softmax, finite grads); the caller zeroes them.

    Without padding and with Tq <= Tk every query sees at least its own position, so the guard is skipped. On CUDA it
    never inspects values on the host (no device synchronisation); elsewhere it checks whether any row is empty.
    """
    if not may_be_empty:
        return mask, None
    has_key = mask.any(-1, keepdim=True)
    if not mask.is_cuda and bool(has_key.all()):  # free to check off-GPU: then no guard and no zeroing pass
        return mask, None
    return mask | ~has_key, has_key


def _naive(q, k, v, causal, window, key_padding_mask, dropout_p, scale):
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale  # (B,H,Tq,Tk)
    mask = visibility_mask(q.shape[2], k.shape[2], causal=causal, window=window,
                           key_padding_mask=key_padding_mask, device=q.device)
    has_key = None
    if mask is not None:
        mask, has_key = _guard_empty_rows(mask, key_padding_mask is not None or q.shape[2] > k.shape[2])
        scores = scores.masked_fill(~mask, float("-inf"))
    out = _softmax_dropout_matmul(scores, v, dropout_p)
    return out if has_key is None else out * has_key


# ----------------------------------------------------------------------------------------------- flash


def is_right_padded(key_padding_mask: torch.Tensor) -> bool:
    """True when every row is real tokens followed only by padding."""
    m = key_padding_mask.bool()
    return bool((m[:, 1:] <= m[:, :-1]).all()) if m.shape[1] > 1 else True


def unpad(x: torch.Tensor, mask: torch.Tensor):
    """(B,T,...) rows with mask (B,T) True -> (x_flat (N,...), indices (N,), cu_seqlens (B+1,) int32, max_seqlen).

    The packed layout flash-attn's varlen kernels take: sequences back to back, cu_seqlens their boundaries.
    """
    mask = mask.bool()
    lengths = mask.sum(dim=1, dtype=torch.int32)
    indices = torch.nonzero(mask.flatten(), as_tuple=False).flatten()
    cu_seqlens = F.pad(torch.cumsum(lengths, dim=0, dtype=torch.int32), (1, 0))
    max_seqlen = int(lengths.max()) if lengths.numel() else 0
    return x.flatten(0, 1)[indices], indices, cu_seqlens, max_seqlen


def pad(x_flat: torch.Tensor, indices: torch.Tensor, batch: int, seqlen: int) -> torch.Tensor:
    """Inverse of `unpad`: (N,...) -> (B,T,...) with zeros where the mask was False."""
    out = x_flat.new_zeros((batch * seqlen, *x_flat.shape[1:]))
    out[indices] = x_flat
    return out.view(batch, seqlen, *x_flat.shape[1:])


def flash_attention(q, k, v, impl, *, causal=False, window=None, key_padding_mask=None, dropout_p=0.0, scale=None):
    """Run flash-attn's kernels from ``impl`` (the ``flash_attn`` module) on (B,H,T,D) inputs.

    ``impl`` is a parameter so the layout/unpadding logic can be exercised on CPU with a stand-in.
    """
    window_size = (-1, -1) if window is None else window
    qt, kt, vt = (t.transpose(1, 2) for t in (q, k, v))  # flash wants (B,T,H,D)
    kw = dict(dropout_p=dropout_p, softmax_scale=scale, causal=causal, window_size=window_size)
    if key_padding_mask is None:
        return impl.flash_attn_func(qt, kt, vt, **kw).transpose(1, 2)
    b, tq, tk = q.shape[0], q.shape[2], k.shape[2]
    k_flat, _, cu_k, max_k = unpad(kt, key_padding_mask)
    v_flat = vt.flatten(0, 1)[torch.nonzero(key_padding_mask.bool().flatten()).flatten()]
    if tq == tk:  # self-attention: padded queries go too (their outputs come back as zeros)
        q_flat, q_idx, cu_q, max_q = unpad(qt, key_padding_mask)
    else:
        q_flat, q_idx = qt.flatten(0, 1), torch.arange(b * tq, device=q.device)
        cu_q, max_q = torch.arange(0, (b + 1) * tq, tq, device=q.device, dtype=torch.int32), tq
    out = impl.flash_attn_varlen_func(q_flat, k_flat, v_flat, cu_q, cu_k, max_q, max_k, **kw)
    out = pad(out, q_idx, b, tq)
    empty = (cu_k[1:] == cu_k[:-1]).view(b, 1, 1, 1)  # batch rows with no real key at all -> zeros
    return out.transpose(1, 2).masked_fill(empty, 0.0)
