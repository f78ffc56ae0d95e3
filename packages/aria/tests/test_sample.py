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


def test_packed_decode_linears_agree_and_are_released():
    from aria.model import _ACTIVE, _PACKS, linear, packed_linears

    torch.manual_seed(0)
    model = Aria(AriaConfig.preset("tiny", max_seq_len=64)).eval()
    x = torch.randint(6, 500, (3, 1))
    with torch.inference_mode():
        cache = model.new_cache(3, 8)
        plain = model(x, cache=cache)
        with packed_linears(model, 3, keep=False):
            packed_layers = [m for m in model.modules() if m in _ACTIVE]
            got = model(x, cache=model.new_cache(3, 8))
            h = torch.randn(3, 1, 64)
            assert torch.allclose(linear(model.lm_head, h), torch.nn.functional.linear(h, model.lm_head.weight),
                                  atol=1e-5)
    if torch.backends.mkldnn.is_available():
        assert len(packed_layers) == 2 * 5 + 2  # every block's qkv, attn_out, ffn x3, the LM and embedding heads
    assert not any(m in _ACTIVE or m in _PACKS for m in model.modules())
    torch.testing.assert_close(got, plain, rtol=1e-4, atol=1e-5)


def test_kept_packs_are_refreshed_when_weights_change():
    from aria.model import packed_linears

    torch.manual_seed(0)
    model = Aria(AriaConfig.preset("tiny", max_seq_len=64)).eval()
    x = torch.randint(6, 500, (2, 1))
    with torch.inference_mode():
        with packed_linears(model, 2):
            before = model(x)
        with torch.no_grad():
            model.lm_head.weight.mul_(2.0)  # an optimizer step or load_state_dict: in place, new version
        with packed_linears(model, 2):
            after = model(x)
        expected = model(x)  # plain path
    torch.testing.assert_close(after, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(before, after)


def test_batched_greedy_decoding_equals_single_row():
    torch.manual_seed(0)
    model = Aria(AriaConfig.preset("tiny", max_seq_len=64))
    greedy = SamplingConfig(temperature=0.0, min_p=None)
    one = generate(model, [0, 7, 9, 11], 20, sampling=greedy)[0]
    assert generate(model, [0, 7, 9, 11], 20, variations=3, sampling=greedy) == [one] * 3


def test_generation_with_weights_built_under_inference_mode():
    with torch.inference_mode():  # inference tensors carry no version counter: packed afresh on each call
        model = Aria(AriaConfig.preset("tiny", max_seq_len=64))
    greedy = SamplingConfig(temperature=0.0, min_p=None)
    assert generate(model, [0, 7], 5, variations=2, sampling=greedy) == generate(model, [0, 7], 5, sampling=greedy) * 2
