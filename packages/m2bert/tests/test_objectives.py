"""Corruption ranges/clipping (property tests) and pianoroll targets against a hand-computed example."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from m2bert.config import CP_VOCAB_SIZES
from m2bert.corruption import choose_tokens, denoise_corrupt, mlm_corrupt
from m2bert.targets import pianoroll_dim, pianoroll_targets

PAD = torch.tensor([n - 2 for n in CP_VOCAB_SIZES])


@st.composite
def cp_batches(draw):
    B, T = draw(st.integers(1, 3)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    toks = torch.stack([torch.randint(0, n - 2, (B, T), generator=g) for n in CP_VOCAB_SIZES], -1)
    lengths = torch.tensor([draw(st.integers(0, T)) for _ in range(B)])
    mask = torch.arange(T)[None] < lengths[:, None]
    toks[~mask] = PAD
    return toks, mask, seed


@settings(max_examples=60, deadline=None)
@given(cp_batches(), st.sampled_from([(4, 12, 12), (1, 1, 1), (2, 3, 100), (float("inf"),) * 3]))
def test_denoise_ranges_and_clipping(batch, ranges):
    toks, mask, seed = batch
    out, chosen = denoise_corrupt(toks, mask, ranges=ranges, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(chosen.sum(1), torch.round(mask.sum(1) * 0.3).long())
    assert not (chosen & ~mask).any()
    assert torch.equal(out[~chosen], toks[~chosen])  # padding and unchosen tokens untouched
    assert torch.equal(out[..., 0], toks[..., 0])  # Bar never corrupted
    for f, r in zip((1, 2, 3), ranges):
        x, y = toks[..., f][chosen], out[..., f][chosen]
        top = CP_VOCAB_SIZES[f] - 3
        assert (y >= 0).all() and (y <= top).all()  # never PAD/MASK
        if r != float("inf"):
            r = int(r)
            assert (y >= x - r).all() and (y <= x + r - 1).all()


def test_denoise_covers_the_whole_window():
    toks = torch.tensor([[[0, 8, 40, 30]]]).repeat(1, 4000, 1)
    mask = torch.ones(1, 4000, dtype=torch.bool)
    out, chosen = denoise_corrupt(toks, mask, generator=torch.Generator().manual_seed(0))
    assert set(out[..., 1][chosen].tolist()) == set(range(4, 12))
    assert set(out[..., 2][chosen].tolist()) == set(range(28, 52))
    # near the edges the window is clipped, not shifted
    edge = torch.tensor([[[1, 1, 84, 0]]]).repeat(1, 4000, 1)
    out, chosen = denoise_corrupt(edge, mask, generator=torch.Generator().manual_seed(1))
    assert set(out[..., 1][chosen].tolist()) == set(range(0, 5))
    assert set(out[..., 2][chosen].tolist()) == set(range(72, 86))
    assert set(out[..., 3][chosen].tolist()) == set(range(0, 12))


@settings(max_examples=30, deadline=None)
@given(cp_batches())
def test_mlm(batch):
    toks, mask, seed = batch
    out, chosen = mlm_corrupt(toks, mask, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(chosen.sum(1), torch.round(mask.sum(1) * 0.15).long())
    assert torch.equal(out[~chosen], toks[~chosen])
    for f, n in enumerate(CP_VOCAB_SIZES):
        assert ((out[..., f][chosen] <= n - 3) | (out[..., f][chosen] == n - 1)).all()


def test_mlm_proportions():
    toks = torch.tensor([[[1, 3, 40, 5]]]).repeat(4, 5000, 1)
    mask = torch.ones(4, 5000, dtype=torch.bool)
    out, chosen = mlm_corrupt(toks, mask, generator=torch.Generator().manual_seed(0))
    is_mask = (out[..., 2] == 87)[chosen].float().mean()
    assert 0.77 < is_mask < 0.83


def test_bad_range_is_refused():
    import pytest

    with pytest.raises(ValueError, match="positive integer"):
        denoise_corrupt(torch.zeros(1, 3, 4, dtype=torch.long), torch.ones(1, 3, dtype=torch.bool), ranges=(0, 1, 1))


def test_choose_tokens_respects_padding():
    mask = torch.tensor([[True] * 10 + [False] * 5])
    assert choose_tokens(mask, 1.0)[0].tolist() == [True] * 10 + [False] * 5


def _row(chroma=(), pitch=()):
    r = np.zeros(98)
    for c in chroma:
        r[c] += 1 / len(chroma)
    for p in pitch:
        r[12 + p] += 1 / len(pitch)
    return r


def test_pianoroll_hand_computed():
    toks = torch.tensor([[
        [0, 0, 38, 7],   # MIDI 60 from row 0, dur id 7 -> round(4) = 4 sixteenths: rows 0..3
        [1, 14, 42, 7],  # rows 14, 15, then spills into rows 0, 1 of the next bar
        [1, 0, 41, 1],   # dur id 1 -> round(1.0) = 1: row 0 only
        [1, 8, 60, 0],   # dur id 0 -> round(0.5) = 0 (half-to-even): sounds nowhere
        [0, 2, 50, 2],   # next bar; dur id 2 -> round(1.5) = 2: rows 2, 3
        [2, 16, 86, 64],  # padding
    ]])
    got = pianoroll_targets(toks).numpy()[0]
    assert got.shape == (6, 1666) == (6, pianoroll_dim())
    bar0 = np.zeros((16, 98))
    bar0[0] = _row((38 % 12, 41 % 12), (38, 41))
    bar0[1:4] = _row((38 % 12,), (38,))
    bar0[14:16] = _row((42 % 12,), (42,))
    bar1 = np.zeros((16, 98))
    bar1[0:2] = _row((42 % 12,), (42,))
    bar1[2:4] = _row((50 % 12,), (50,))
    for t, (bar, row) in enumerate([(bar0, 0), (bar0, 14), (bar0, 0), (bar0, 8), (bar1, 2)]):
        np.testing.assert_allclose(got[t, :1568], bar.reshape(-1), atol=1e-6)
        np.testing.assert_allclose(got[t, 1568:], bar[row], atol=1e-6)
    # each non-empty row: chroma part and pitch part each sum to 1
    np.testing.assert_allclose(got[0, :1568].reshape(16, 98)[:, :12].sum(1), [1, 1, 1, 1] + [0] * 10 + [1, 1])
    no_chroma = pianoroll_targets(toks, chroma=False).numpy()[0]
    assert no_chroma.shape == (6, 17 * 86)
    np.testing.assert_allclose(no_chroma[4, :1376].reshape(16, 86), bar1[:, 12:], atol=1e-6)
