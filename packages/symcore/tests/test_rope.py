import pytest
import torch
from symcore.rope import RotaryEmbedding, apply_rope, rope_cache


def test_rotation_preserves_norms():
    x = torch.randn(2, 3, 17, 16)
    cos, sin = rope_cache(17, 16, 10000.0)
    torch.testing.assert_close(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1))


def test_position_zero_is_identity_and_cache_values():
    cos, sin = rope_cache(5, 8, 100.0)
    assert cos.shape == sin.shape == (5, 8)
    x = torch.randn(1, 1, 1, 8)
    torch.testing.assert_close(apply_rope(x, cos, sin), x)
    # position 3, pair (1, 5): angle 3 * 100^(-2/8)
    angle = torch.tensor(3 * 100.0 ** (-2 / 8))
    torch.testing.assert_close(cos[3, 1], angle.cos())
    torch.testing.assert_close(sin[3, 5], angle.sin())


def test_dot_product_depends_only_on_relative_position():
    torch.manual_seed(0)
    q, k = torch.randn(8), torch.randn(8)
    cos, sin = rope_cache(64, 8, 10000.0, dtype=torch.float64)

    def score(i, j):
        qi = apply_rope(q.double().view(1, 1, 1, 8), cos, sin, positions=torch.tensor([i]))
        kj = apply_rope(k.double().view(1, 1, 1, 8), cos, sin, positions=torch.tensor([j]))
        return float((qi * kj).sum())

    for delta in (0, 3, 11):
        base = score(delta, 0)
        for start in (5, 20, 40):
            assert score(start + delta, start) == pytest.approx(base, abs=1e-6)  # float32 angles
    assert abs(score(3, 0) - score(0, 3)) > 1e-6  # and it is not symmetric: direction matters


def test_positions_offsets_match_slicing_and_batches():
    x = torch.randn(2, 2, 4, 8)
    cos, sin = rope_cache(32, 8, 10000.0)
    full = apply_rope(torch.cat([torch.zeros(2, 2, 6, 8), x], 2), cos, sin)[:, :, 6:]
    torch.testing.assert_close(apply_rope(x, cos, sin, positions=torch.arange(6, 10)), full)
    per_row = torch.stack([torch.arange(6, 10), torch.arange(0, 4)])
    out = apply_rope(x, cos, sin, positions=per_row)
    torch.testing.assert_close(out[0], full[0])
    torch.testing.assert_close(out[1], apply_rope(x, cos, sin)[1])
    with pytest.raises(ValueError, match="cache holds"):
        apply_rope(x, cos, sin, positions=torch.arange(30, 34))


def test_rotary_module_grows_and_stays_out_of_state_dict():
    rope = RotaryEmbedding(8, base=10000.0, max_len=4)
    assert rope.state_dict() == {}
    x = torch.randn(1, 2, 3, 8)
    out = rope(x, offset=7)  # needs positions up to 9 > 4
    assert rope.max_len >= 10
    cos, sin = rope_cache(10, 8, 10000.0)
    torch.testing.assert_close(out, apply_rope(x, cos, sin, positions=torch.arange(7, 10)))


def test_half_precision_uses_float32_angles():
    cos32, sin32 = rope_cache(4096, 64, 500000.0)
    cos16, _ = rope_cache(4096, 64, 500000.0, dtype=torch.bfloat16)
    torch.testing.assert_close(cos16.float(), cos32, atol=1e-2, rtol=0)


def test_matches_transformers_llama():
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    torch.manual_seed(0)
    b, h, t, d = 2, 4, 12, 16
    q, k = torch.randn(b, h, t, d), torch.randn(b, h, t, d)
    cos, sin = rope_cache(t, d, 500000.0)
    # HF takes per-batch (B,T,D) tables from its rotary module; we hand it ours, which must be the same numbers.
    from transformers import LlamaConfig

    cfg = LlamaConfig(hidden_size=h * d, num_attention_heads=h, rope_theta=500000.0, max_position_embeddings=64)
    try:
        hf_rope = llama.LlamaRotaryEmbedding(config=cfg)
    except TypeError:  # pragma: no cover - older signature
        pytest.skip("this transformers version has another LlamaRotaryEmbedding signature")
    hf_cos, hf_sin = hf_rope(q, torch.arange(t)[None].expand(b, t))
    torch.testing.assert_close(hf_cos[0], cos, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(hf_sin[0], sin, atol=1e-6, rtol=1e-6)
    hq, hk = llama.apply_rotary_pos_emb(q, k, hf_cos, hf_sin)
    torch.testing.assert_close(apply_rope(q, cos, sin), hq, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(apply_rope(k, cos, sin), hk, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("positions", [None, "per_row"])
def test_fast_rotation_and_gradient_equal_the_formula(positions):
    """apply_rope's fused path (own backward) equals x*cos + rotate_half(x)*sin, values and gradients, also on a
    strided view such as q/k inside a fused qkv tensor."""
    from symcore.rope import rotate_half

    torch.manual_seed(0)
    cos, sin = rope_cache(40, 8, 1000.0)
    qkv = torch.randn(2, 10, 3, 4, 8, dtype=torch.float64, requires_grad=True)  # (B, T, 3, H, D)
    x = qkv[:, :, :2].permute(2, 0, 3, 1, 4)  # (2, B, H, T, D), not contiguous
    pos = None if positions is None else torch.stack([torch.arange(10), torch.arange(5, 15)])
    c, s = (cos[:10], sin[:10]) if pos is None else (cos[pos][:, None], sin[pos][:, None])
    c, s = c.double(), s.double()
    ref = x * c + rotate_half(x) * s
    got = apply_rope(x, cos.double(), sin.double(), positions=pos)
    torch.testing.assert_close(got, ref)
    g = torch.randn_like(ref)
    (gr,) = torch.autograd.grad(ref, qkv, g)
    (gg,) = torch.autograd.grad(got, qkv, g)
    torch.testing.assert_close(gg, gr)
    assert torch.autograd.gradcheck(lambda t: apply_rope(t, cos.double(), sin.double()),
                                    (torch.randn(1, 2, 5, 8, dtype=torch.float64, requires_grad=True),))


@pytest.mark.parametrize("t", [1, 40])
def test_inference_paths_equal_the_formula(t):
    """Without autograd apply_rope takes a cheaper path (plain formula for a few positions, the fused kernel for
    long inputs); both must give the formula's values, also at explicit KV-cache positions."""
    from symcore.rope import rotate_half

    torch.manual_seed(1)
    cos, sin = rope_cache(64, 8, 500000.0)
    x = torch.randn(2, 3, t, 8)
    pos = torch.arange(64 - t, 64)
    ref = x * cos[pos] + rotate_half(x) * sin[pos]
    with torch.inference_mode():
        torch.testing.assert_close(apply_rope(x, cos, sin, positions=pos), ref)
    with torch.no_grad():
        torch.testing.assert_close(apply_rope(x, cos, sin, positions=pos), ref)
