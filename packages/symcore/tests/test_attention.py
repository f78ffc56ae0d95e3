import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from symcore.attention import (
    AttentionBackendError,
    attention,
    attention_varlen,
    blocked_local_attention,
    flash_attention,
    flash_available,
    is_right_padded,
    pad,
    select_backend,
    unpad,
    use_blocked_local,
    visibility_mask,
)

BACKENDS = ["sdpa", "naive"] + (["flash"] if flash_available() and torch.cuda.is_available() else [])


def reference(q, k, v, causal=False, window=None, key_padding_mask=None):
    """float64, one query row at a time, visibility written out from the documented rule."""
    q, k, v = q.double(), k.double(), v.double()
    b, h, tq, d = q.shape
    tk = k.shape[2]
    off = tk - tq
    out = torch.zeros(b, h, tq, d, dtype=torch.float64)
    for bi in range(b):
        for i in range(tq):
            p = i + off
            keys = [j for j in range(tk)
                    if (not causal or j <= p)
                    and (window is None or p - window[0] <= j <= p + window[1])
                    and (key_padding_mask is None or bool(key_padding_mask[bi, j]))]
            if not keys:
                continue
            s = torch.einsum("hd,hnd->hn", q[bi, :, i], k[bi, :, keys]) / math.sqrt(d)
            out[bi, :, i] = torch.einsum("hn,hnd->hd", torch.softmax(s, -1), v[bi, :, keys])
    return out


def qkv(b=2, h=3, tq=9, tk=9, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, h, tq, d, generator=g), torch.randn(b, h, tk, d, generator=g),
            torch.randn(b, h, tk, d, generator=g))


PADDING = torch.tensor([[True] * 7 + [False] * 2, [True, False, True, True, False, True, True, True, True]])
CASES = {
    "full": dict(),
    "causal": dict(causal=True),
    "window_symmetric": dict(window=(2, 2)),
    "window_asymmetric": dict(window=(3, 1)),
    "causal_local": dict(causal=True, window=(3, 0)),
    "padded": dict(key_padding_mask=PADDING),
    "padded_causal_window": dict(causal=True, window=(2, 2), key_padding_mask=PADDING),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_self_attention_matches_reference(backend, case):
    q, k, v = qkv()
    out = attention(q, k, v, backend=backend, **CASES[case])
    torch.testing.assert_close(out.double(), reference(q, k, v, **CASES[case]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kw", [dict(), dict(key_padding_mask=torch.tensor([[True] * 5 + [False] * 6, [True] * 11]))])
def test_cross_attention_matches_reference(backend, kw):
    q, k, v = qkv(tq=4, tk=11)
    out = attention(q, k, v, backend=backend, **kw)
    torch.testing.assert_close(out.double(), reference(q, k, v, **kw), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kw", [dict(causal=True), dict(causal=True, window=(3, 0)), dict(window=(2, 2))])
@pytest.mark.parametrize("tq", [1, 3])
def test_decode_rows_equal_full_forward(backend, kw, tq):
    """KV-cache decoding: the last tq queries against all keys give the last tq rows of the full pass."""
    q, k, v = qkv(tq=10, tk=10)
    full = attention(q, k, v, backend=backend, **kw)
    step = attention(q[:, :, -tq:], k, v, backend=backend, **kw)
    torch.testing.assert_close(step, full[:, :, -tq:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(step.double(), reference(q[:, :, -tq:], k, v, **kw), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_without_visible_keys_are_zero_not_nan(backend):
    q, k, v = qkv(b=2, tq=6, tk=6)
    mask = torch.tensor([[False] * 6, [True, True, False, False, False, False]])
    q.requires_grad_(True)
    out = attention(q, k, v, key_padding_mask=mask, window=(1, 1), backend=backend)
    assert torch.isfinite(out).all()
    assert (out[0] == 0).all()  # batch row 0 is all padding
    assert (out[1, :, 4:] == 0).all()  # queries 4, 5 see keys 3..5 at most: all padding
    out.sum().backward()
    assert torch.isfinite(q.grad).all()
    torch.testing.assert_close(out.double(), reference(q.detach(), k, v, window=(1, 1), key_padding_mask=mask),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_causal_output_has_no_gradient_from_future_keys(backend):
    q, k, v = qkv(b=1, tq=8, tk=8)
    k.requires_grad_(True)
    v.requires_grad_(True)
    i = 3
    out = attention(q, k, v, causal=True, backend=backend)
    out[:, :, i].sum().backward()
    assert (k.grad[:, :, i + 1:] == 0).all() and (v.grad[:, :, i + 1:] == 0).all()
    assert (k.grad[:, :, : i + 1].abs().sum(-1) > 0).all()  # and it does depend on the past
    assert (v.grad[:, :, : i + 1].abs().sum(-1) > 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_window_gradient_stays_inside_the_band(backend):
    q, k, v = qkv(b=1, tq=10, tk=10)
    k.requires_grad_(True)
    out = attention(q, k, v, window=(2, 1), backend=backend)
    out[:, :, 5].sum().backward()
    touched = (k.grad[0].abs().sum((0, 2)) > 0).nonzero().flatten().tolist()
    assert touched == [3, 4, 5, 6]


def test_grouped_query_heads_match_repeated_heads():
    q, _, _ = qkv(h=4)
    _, k, v = qkv(h=2, seed=1)
    rep = attention(q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1), causal=True)
    torch.testing.assert_close(attention(q, k, v, causal=True), rep)


def test_scale_and_dropout_arguments():
    q, k, v = qkv()
    torch.testing.assert_close(attention(q, k, v, scale=0.5, backend="sdpa"),
                               attention(q * (0.5 * math.sqrt(8)), k, v, backend="naive"), atol=1e-5, rtol=1e-5)
    torch.manual_seed(0)
    dropped = attention(q, k, v, dropout_p=0.5, backend="naive")
    assert not torch.allclose(dropped, attention(q, k, v, backend="naive"))


def test_auto_picks_sdpa_on_cpu_and_flash_request_fails_clearly():
    q, k, _ = qkv()
    assert select_backend(q, k, "auto") == "sdpa"
    assert select_backend(q, k, "naive") == "naive"
    with pytest.raises(AttentionBackendError, match="flash"):
        attention(q, k, k, backend="flash")
    with pytest.raises(ValueError, match="unknown attention backend"):
        attention(q, k, k, backend="xformers")


def test_bad_shapes_are_reported():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="key_padding_mask"):
        attention(q, k, v, key_padding_mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="do not fit"):
        attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="window"):
        attention(q, k, v, window=(-1, 2))


def test_mask_built_under_inference_mode_is_usable_for_training():
    q, k, v = qkv(tq=7, tk=7)
    with torch.inference_mode():
        attention(q, k, v, window=(1, 1))
    q.requires_grad_(True)
    attention(q, k, v, window=(1, 1)).sum().backward()
    assert q.grad is not None
    assert visibility_mask(7, 7, window=(1, 1)).sum() == 7 * 3 - 2


def test_unpad_pad_round_trip():
    x = torch.arange(2 * 5 * 3, dtype=torch.float32).view(2, 5, 3)
    mask = torch.tensor([[True, True, True, False, False], [True, False, True, True, True]])
    flat, idx, cu, max_len = unpad(x, mask)
    assert flat.shape == (7, 3) and cu.tolist() == [0, 3, 7] and cu.dtype == torch.int32 and max_len == 4
    torch.testing.assert_close(flat[3], x[1, 0])
    back = pad(flat, idx, 2, 5)
    torch.testing.assert_close(back, x * mask[..., None])
    assert is_right_padded(mask[:1]) and not is_right_padded(mask)


class _FlashStandIn:
    """flash_attn's documented semantics on CPU ((B,T,H,D), bottom-right causal, window_size, varlen)."""

    @staticmethod
    def _one(q, k, v, softmax_scale, causal, window_size):  # (Tq,H,D), (Tk,H,D)
        win = None if window_size == (-1, -1) else window_size
        scale = softmax_scale / (1 / math.sqrt(q.shape[-1]))
        out = reference(q.transpose(0, 1)[None] * scale, k.transpose(0, 1)[None], v.transpose(0, 1)[None],
                        causal=causal, window=win)
        return out[0].transpose(0, 1).to(q.dtype)

    def flash_attn_func(self, q, k, v, dropout_p, softmax_scale, causal, window_size):
        return torch.stack([self._one(q[b], k[b], v[b], softmax_scale, causal, window_size) for b in range(len(q))])

    def flash_attn_varlen_func(self, q, k, v, cu_q, cu_k, max_q, max_k, dropout_p, softmax_scale, causal, window_size):
        out = torch.zeros_like(q)
        for b in range(len(cu_q) - 1):
            qs, ks = slice(cu_q[b], cu_q[b + 1]), slice(cu_k[b], cu_k[b + 1])
            if cu_k[b + 1] > cu_k[b]:
                out[qs] = self._one(q[qs], k[ks], v[ks], softmax_scale, causal, window_size)
        return out


@pytest.mark.parametrize("case", ["full", "causal", "causal_local", "window_symmetric", "padded_right",
                                  "padded_any", "cross_padded"])
def test_flash_layout_and_unpadding_logic(case):
    """The flash path's transposes, unpad/pad and cu_seqlens, checked on CPU with a stand-in kernel."""
    tq = 4 if case == "cross_padded" else 9
    q, k, v = qkv(tq=tq)
    right = torch.tensor([[True] * 6 + [False] * 3, [True] * 9])
    kw = {"full": {}, "causal": dict(causal=True), "causal_local": dict(causal=True, window=(3, 0)),
          "window_symmetric": dict(window=(2, 2)), "padded_right": dict(causal=True, key_padding_mask=right),
          "padded_any": dict(key_padding_mask=PADDING), "cross_padded": dict(key_padding_mask=PADDING)}[case]
    out = flash_attention(q, k, v, _FlashStandIn(), scale=1 / math.sqrt(8), **kw)
    ref = reference(q, k, v, **kw)
    if case in ("padded_right", "padded_any"):  # padded query positions are dropped by varlen: compare real ones
        real = kw["key_padding_mask"][:, None, :, None]
        out, ref = out * real, ref * real
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(tq=st.integers(1, 7), tk=st.integers(1, 7), causal=st.booleans(),
       window=st.none() | st.tuples(st.integers(0, 4), st.integers(0, 4)), padded=st.booleans(),
       seed=st.integers(0, 2**16))
def test_any_shape_and_mask_matches_reference(tq, tk, causal, window, padded, seed):
    q, k, v = qkv(b=2, h=2, tq=tq, tk=tk, d=4, seed=seed)
    mask = torch.rand(2, tk, generator=torch.Generator().manual_seed(seed)) < 0.6 if padded else None
    ref = reference(q, k, v, causal=causal, window=window, key_padding_mask=mask)
    for backend in BACKENDS:
        out = attention(q, k, v, causal=causal, window=window, key_padding_mask=mask, backend=backend)
        torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(1, 40), left=st.integers(0, 9), right=st.integers(0, 9), block=st.integers(1, 12),
       causal=st.booleans(), padded=st.booleans(), seed=st.integers(0, 2**16))
def test_blocked_local_equals_reference(t, left, right, block, causal, padded, seed):
    """Blocked sliding-window attention = the documented rule, for any block size, ragged last block, padding."""
    q, k, v = qkv(b=2, h=2, tq=t, tk=t, d=4, seed=seed)
    mask = torch.rand(2, t, generator=torch.Generator().manual_seed(seed)) < 0.7 if padded else None
    out = blocked_local_attention(q, k, v, causal=causal, window=(left, right), key_padding_mask=mask, block=block)
    ref = reference(q, k, v, causal=causal, window=(left, right), key_padding_mask=mask)
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)


def test_blocked_local_is_used_for_long_sequences_and_equals_dense_with_gradients():
    """ModernBERT's (64, 64) window at T=1024 runs blocked; values and q/k/v gradients equal the dense masked
    kernel, padding and a padded query window included."""
    import torch.nn.functional as F

    assert use_blocked_local(1024, 1024, False, (64, 64)) and not use_blocked_local(1024, 1024, False, None)
    assert not use_blocked_local(512, 1024, False, (64, 64))
    b, h, t, d = 2, 2, 1100, 16
    q, k, v = (x.requires_grad_(True) for x in qkv(b=b, h=h, tq=t, tk=t, d=d, seed=4))
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, 700:] = False
    out = attention(q, k, v, window=(64, 64), key_padding_mask=mask, backend="sdpa")
    i = torch.arange(t)
    dense = ((i[None] - i[:, None]).abs() <= 64)[None, None] & mask[:, None, None, :]
    has_key = dense.any(-1, keepdim=True)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=dense | ~has_key) * has_key
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert (out[1, :, 765:] == 0).all()  # these queries' windows hold only padding
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), g)
    refs = torch.autograd.grad(ref, (q, k, v), g)
    for a, r in zip(grads, refs, strict=True):
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kw", [dict(), dict(causal=True), dict(window=(2, 3)), dict(causal=True, window=(3, 0))])
def test_varlen_equals_each_sequence_alone(kw):
    """Packed sequences (N, H, D) attend only within themselves, positions restarting at 0 (an empty one too)."""
    lengths = [5, 0, 9, 3]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(sum(lengths), 3, 8, generator=g) for _ in range(3))
    out = attention_varlen(q, k, v, cu, **kw)
    assert out.shape == q.shape
    for s, e in zip(cu[:-1].tolist(), cu[1:].tolist(), strict=True):
        if e > s:
            one = (x[s:e].transpose(0, 1)[None] for x in (q, k, v))
            ref = reference(*one, **kw)[0].transpose(0, 1)
            torch.testing.assert_close(out[s:e].double(), ref, atol=1e-5, rtol=1e-5)
