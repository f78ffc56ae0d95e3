"""Behaviour of the Aria decoder: causality, KV-cache equivalence, heads, configs."""

from pathlib import Path

import pytest
import torch
import yaml
from aria import Aria, AriaConfig
from aria.model import EOS_ID

REPO = Path(__file__).resolve().parents[3]


def tiny(**kw) -> Aria:
    torch.manual_seed(0)
    return Aria(AriaConfig.preset("tiny", vocab_size=97, max_seq_len=64, **kw)).eval()


def test_causal_by_gradients():
    model = tiny()
    ids = torch.randint(6, 97, (1, 20))
    emb = model.decoder.embed(ids).detach().requires_grad_(True)
    # run the blocks on the embedded input so we can differentiate w.r.t. each position's input
    x, cos, sin = emb, model.decoder.rope_cos[:20], model.decoder.rope_sin[:20]
    for block in model.decoder.layers:
        x = block(x, cos, sin)
    out = model.lm_head(model.decoder.norm(x))
    t = 11
    out[0, t].sum().backward()
    grad = emb.grad[0].abs().sum(-1)
    assert torch.all(grad[t + 1:] == 0), "future positions influenced the output"
    assert torch.all(grad[: t + 1] > 0), "some past position had no influence"


def test_kv_cache_decode_matches_full_forward():
    model = tiny()
    ids = torch.randint(6, 97, (3, 24))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(batch=3, max_len=32)
        steps = [model(ids[:, :10], cache=cache, start_pos=0)]
        for p in range(10, 24):
            steps.append(model(ids[:, p:p + 1], cache=cache, start_pos=p))
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-4, atol=1e-4)


def test_cache_limits_are_checked():
    model = tiny()
    cache = model.new_cache(batch=1, max_len=8)
    with pytest.raises(ValueError, match="too small"):
        model(torch.zeros(1, 9, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 65, dtype=torch.long))


def test_residual_dropout_rises_linearly():
    model = Aria(AriaConfig.preset("tiny", n_layers=5, resid_dropout=0.2))
    assert [round(b.resid_dropout, 6) for b in model.decoder.layers] == [0.0, 0.05, 0.1, 0.15, 0.2]


def test_embedding_and_class_heads_read_at_eos():
    model = tiny(n_classes=3)
    ids = torch.randint(6, 97, (2, 12))
    ids[0, 7] = EOS_ID
    ids[1, 11] = EOS_ID
    emb = model.embed(ids)
    assert emb.shape == (2, 512) and model.classify(ids).shape == (2, 3)
    # changing tokens after <E> must not change the embedding (causal read at <E>)
    ids2 = ids.clone()
    ids2[0, 8:] = 50
    torch.testing.assert_close(model.embed(ids2)[0], emb[0])
    with pytest.raises(ValueError, match="<E>"):
        model.embed(torch.full((1, 5), 7))


def test_config_roundtrip_and_presets(tmp_path):
    cfg = AriaConfig.preset("small", resid_dropout=0.1)
    cfg.to_yaml(tmp_path / "c.yaml")
    assert AriaConfig.from_yaml(tmp_path / "c.yaml") == cfg
    with pytest.raises(ValueError, match="unknown"):
        AriaConfig.from_dict({"width": 3})
    with pytest.raises(ValueError, match="divisible"):
        AriaConfig(d_model=30, n_heads=4)


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "aria").glob("*.yaml")), ids=lambda p: p.name)
def test_every_yaml_config_builds_a_model(path):
    data = yaml.safe_load(path.read_text())
    model_cfg = data["model"]["config"]
    cfg = AriaConfig.from_dict(model_cfg)
    with torch.device("meta"):
        model = Aria(cfg)
    assert model.decoder.max_seq_len == cfg.max_seq_len


def test_chunked_prefill_then_decode_matches_full_forward():
    model = tiny()
    ids = torch.randint(6, 97, (2, 20))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(batch=2, max_len=20)
        parts = [model(ids[:, :8], cache=cache), model(ids[:, 8:15], cache=cache, start_pos=8)]
        parts += [model(ids[:, p:p + 1], cache=cache, start_pos=p) for p in range(15, 20)]
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=1e-4, atol=1e-4)
