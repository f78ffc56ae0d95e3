"""Sampling filters on known distributions and batched generation with the KV cache."""

import pytest
import torch
from aria import Aria, AriaConfig
from aria.sample import DIM_ID, EOS_ID, SamplingConfig, generate, min_p_filter, next_token, top_p_filter

P = torch.tensor([0.5, 0.25, 0.15, 0.06, 0.04])


def test_min_p_keeps_tokens_above_fraction_of_max():
    # threshold 0.2 * 0.5 = 0.1 -> keep 0.5, 0.25, 0.15
    torch.testing.assert_close(min_p_filter(P, 0.2), torch.tensor([0.5, 0.25, 0.15, 0, 0]) / 0.9)
    torch.testing.assert_close(min_p_filter(P, 0.0), P)
    assert min_p_filter(P, 1.0).tolist() == [1.0, 0, 0, 0, 0]


def test_top_p_keeps_smallest_nucleus():
    # 0.5 < 0.7 so the nucleus needs 0.5 + 0.25 = 0.75
    torch.testing.assert_close(top_p_filter(P, 0.7), torch.tensor([0.5, 0.25, 0, 0, 0]) / 0.75)
    torch.testing.assert_close(top_p_filter(P, 0.75), torch.tensor([0.5, 0.25, 0, 0, 0]) / 0.75)
    torch.testing.assert_close(top_p_filter(P, 0.76), torch.tensor([0.5, 0.25, 0.15, 0, 0]) / 0.9)
    shuffled = P[[3, 0, 4, 2, 1]]
    torch.testing.assert_close(top_p_filter(shuffled, 0.7), torch.tensor([0, 0.5, 0, 0, 0.25]) / 0.75)


def test_sampled_frequencies_follow_filtered_distribution():
    g = torch.Generator().manual_seed(0)
    logits = P.log().expand(20000, 5)
    toks = next_token(logits, SamplingConfig(temperature=1.0, min_p=0.2), g)
    freq = torch.bincount(toks, minlength=5).float() / len(toks)
    torch.testing.assert_close(freq, torch.tensor([0.5, 0.25, 0.15, 0, 0]) / 0.9, atol=0.015, rtol=0)
    assert next_token(logits[:3], SamplingConfig(temperature=0)).tolist() == [0, 0, 0]


def test_invalid_settings_raise():
    with pytest.raises(ValueError):
        SamplingConfig(temperature=3)
    with pytest.raises(ValueError):
        SamplingConfig(top_p=0)


def _model():
    torch.manual_seed(0)
    return Aria(AriaConfig.preset("tiny", vocab_size=40, max_seq_len=64)).eval()


def test_greedy_generation_matches_full_forward_argmax():
    model = _model()
    prompt = [0, 7, 8, 9]
    out = generate(model, prompt, 10, variations=2, sampling=SamplingConfig(temperature=0, min_p=None))
    assert out[0] == out[1]
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(len(out[0])):
            seq.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
    assert out[0] == seq[len(prompt):]


def test_variations_differ_and_force_end_places_one_dim():
    model = _model()
    g = torch.Generator().manual_seed(1)
    cfg = SamplingConfig(temperature=1.5, min_p=None, top_p=1.0, force_end=True, dim_margin=5)
    out = generate(model, [0, 7], 20, variations=4, sampling=cfg, generator=g)
    assert len({tuple(o) for o in out}) > 1
    for o in out:
        assert o.count(DIM_ID) == 1 or (EOS_ID in o and DIM_ID not in o[: o.index(EOS_ID)] and len(o) < 16)
        if EOS_ID in o:
            assert o[-1] == EOS_ID


def test_prompt_errors():
    model = _model()
    with pytest.raises(ValueError, match="empty"):
        generate(model, [], 5)
    with pytest.raises(ValueError, match="context"):
        generate(model, list(range(6, 40)) * 2, 5)
