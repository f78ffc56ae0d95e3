"""symcore.dropout: the cheaper CPU dropout mask, and attention dropout routed through it."""

import math

import pytest
import torch
import torch.nn.functional as F
from symcore.attention import _sdpa_call, attention, blocked_local_attention
from symcore.dropout import Dropout, drop_rate, dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5, 0.03])
def test_drop_rate_is_p_in_every_slot(p):
    """Each of the four 16-bit slices of a draw drops at rate p (a biased slice, e.g. the sign bit of a
    non-negative int64, would show up as one position in four dropping at a different rate)."""
    torch.manual_seed(0)
    n = 400_000
    dropped = ~keep_mask((n,), p)
    rate = drop_rate(p)
    assert abs(rate - p) <= 0.5 / 65536
    sigma = math.sqrt(rate * (1 - rate) / (n // 4))
    for slot in range(4):
        assert abs(dropped[slot::4].float().mean().item() - rate) < 5 * sigma
    # neighbours are independent: P(both dropped) ~ rate^2
    both = (dropped[:-1] & dropped[1:]).float().mean().item()
    assert abs(both - rate * rate) < 5 * math.sqrt(rate * rate / n) + 1e-4


def test_dropout_is_unbiased_and_scales_kept_values():
    torch.manual_seed(1)
    x = torch.ones(200_000)
    y = dropout(x, 0.25)
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - drop_rate(0.25))))
    assert abs(y.mean().item() - 1.0) < 0.01
    assert dropout(x, 0.25, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match="dropout probability"):
        dropout(x, 1.5)
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(-0.1)


def test_gradient_is_the_mask():
    x = torch.randn(3, 7, dtype=torch.double, requires_grad=True)
    torch.manual_seed(2)
    y = dropout(x, 0.3)
    y.sum().backward()
    assert torch.equal(x.grad, (y.detach() != 0).double() / (1 - drop_rate(0.3)))
    assert torch.autograd.gradcheck(lambda t: dropout(t, 0.3, generator=torch.Generator().manual_seed(4)), (x,))


def test_seeded_runs_repeat_and_module_follows_train_eval():
    x = torch.randn(64, 64)
    torch.manual_seed(5)
    a = dropout(x, 0.1)
    torch.manual_seed(5)
    b = dropout(x, 0.1)
    c = dropout(x, 0.1)
    assert torch.equal(a, b) and not torch.equal(b, c)
    m = Dropout(0.1)
    assert not torch.equal(m(x), x)
    assert torch.equal(m.eval()(x), x)
    assert not m.state_dict()  # no parameters or buffers: swapping it for nn.Dropout keeps checkpoints


def _reference(q, k, v, p, scale, mask=None):
    scores = q @ k.transpose(-2, -1) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = scores.softmax(-1)
    keep = keep_mask(probs.shape, p)
    return (probs * keep / (1 - drop_rate(p))) @ v


@pytest.mark.parametrize("causal", [False, True])
def test_cpu_attention_dropout_equals_explicit_math(causal):
    """With the same seed, attention(dropout_p) on CPU is softmax -> the same keep mask -> @ v."""
    g = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(2, 3, 12, 8, generator=g) for _ in range(3))
    torch.manual_seed(7)
    out = attention(q, k, v, causal=causal, dropout_p=0.2, backend="sdpa")
    torch.manual_seed(7)
    mask = torch.ones(12, 12, dtype=torch.bool).tril() if causal else None
    ref = _reference(q, k, v, 0.2, 1 / math.sqrt(8), mask)
    assert torch.allclose(out, ref, atol=1e-6)
    torch.manual_seed(7)
    assert torch.allclose(attention(q, k, v, causal=causal, dropout_p=0.2, backend="naive"), ref, atol=1e-6)


def test_blocked_local_dropout_averages_to_the_no_dropout_output():
    """Blocked sliding-window attention with dropout: unbiased (mean over draws -> exact output) and differentiable."""
    g = torch.Generator().manual_seed(8)
    q, k, v = (torch.randn(1, 2, 64, 8, generator=g) for _ in range(3))
    exact = blocked_local_attention(q, k, v, window=(8, 8), block=16)
    torch.manual_seed(9)
    draws = torch.stack([blocked_local_attention(q, k, v, window=(8, 8), block=16, dropout_p=0.3)
                         for _ in range(400)])
    assert not torch.allclose(draws[0], exact, atol=1e-3)
    assert (draws.mean(0) - exact).abs().max() < 0.1
    qg = q.clone().requires_grad_()
    blocked_local_attention(qg, k, v, window=(8, 8), block=16, dropout_p=0.3).sum().backward()
    assert torch.isfinite(qg.grad).all() and qg.grad.abs().sum() > 0


def test_no_dropout_path_is_plain_sdpa():
    g = torch.Generator().manual_seed(10)
    q, k, v = (torch.randn(1, 2, 5, 4, generator=g) for _ in range(3))
    assert torch.equal(_sdpa_call(q, k, v, None, 0.0, None), F.scaled_dot_product_attention(q, k, v))
