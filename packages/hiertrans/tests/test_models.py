"""Encoder forward shapes; decoder causality (by gradients), cross-attention masking, KV-cache equivalence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hiertrans.config import preset
from hiertrans.decoder import NoteDecoder
from hiertrans.model import Transcriber
from symtok import transcription as tt


@pytest.mark.parametrize("encoder,fps", [("crnn", 100), ("hppnet", 50)])
def test_encoder_forward_shapes(encoder, fps):
    torch.manual_seed(0)
    m = Transcriber(preset("tiny", encoder)).eval()
    out = m(torch.randn(2, 32000) * 0.1)  # 2 s
    t = 2 * fps
    for k in ("frame", "reg_onset", "reg_offset", "velocity"):
        assert out[k].shape == (2, t, 88), k
    assert out["features"].shape == (2, t, m.encoder.feature_dim)
    assert torch.isfinite(out["features"]).all()


def test_small_crnn_shared_variant_shapes():
    m = Transcriber(preset("small", "crnn")).eval()
    out = m(torch.randn(1, 16000) * 0.1)
    assert out["frame"].shape == (1, 100, 88) and out["features"].shape == (1, 100, 128)


@pytest.mark.parametrize("encoder", ["crnn", "hppnet"])
def test_spectral_eq_augments_only_in_training(encoder):
    from hiertrans.features import random_eq_db

    torch.manual_seed(0)
    curves = random_eq_db(64, 229, 6.0)
    assert curves.shape == (64, 1, 229) and curves.abs().max() <= 6.0 and curves.std() > 1.0
    assert (curves[:, 0, 1:] - curves[:, 0, :-1]).abs().max() < 12.0 / 45  # smooth: knots 45 bins apart
    fine = random_eq_db(64, 229, 6.0, knots=12)  # knots ~20 bins apart: steeper, but still piecewise linear
    slopes = (fine[:, 0, 1:] - fine[:, 0, :-1]).abs()
    assert slopes.max() < 12.0 / 20 and slopes.max() > 12.0 / 45 * 0.9
    assert (fine[:, 0, 2:] - 2 * fine[:, 0, 1:-1] + fine[:, 0, :-2]).abs().gt(1e-4).sum(1).max() <= 2 * 10
    # ^ bends only at the 10 interior knots (each falls between two bins)
    cfg = preset("tiny", encoder)
    cfg.encoder.dropout, cfg.encoder.eq_db = 0.0, 6.0
    m = Transcriber(cfg)
    x = torch.randn(2, 16000) * 0.1
    m.train()
    for mod in m.modules():  # batch-norm statistics would differ between calls too; keep them fixed
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.eval()
    a, b = m(x)["reg_onset"], m(x)["reg_onset"]
    assert not torch.allclose(a, b)
    m.eval()
    assert torch.equal(m(x)["reg_onset"], m(x)["reg_onset"])


def _decoder(feature_dim=12):
    torch.manual_seed(0)
    return NoteDecoder(tt.VOCAB_SIZE, feature_dim, d_model=32, n_layers=2, n_heads=4, ffn=48, dropout=0.0).eval()


def test_decoder_is_causal_by_gradients():
    dec = _decoder()
    feats = torch.randn(1, 20, 12)
    emb = dec.embed(torch.randint(16, 300, (1, 10))).detach().requires_grad_(True)
    memory = dec.memory(feats)
    x = emb
    for i, blk in enumerate(dec.blocks):
        x = blk(x, memory[i])
    logits = dec.head(dec.norm(x))
    logits[0, 4].sum().backward()
    g = emb.grad[0].abs().sum(-1)
    assert (g[:5] > 0).all() and (g[5:] == 0).all()


def test_cross_attention_masking():
    dec = _decoder()
    toks = torch.randint(16, 300, (1, 6))
    feats = torch.randn(1, 20, 12)
    mask = torch.zeros(1, 20, dtype=torch.bool)
    mask[:, :10] = True
    a = dec(toks, feats, feature_mask=mask)
    changed = feats.clone()
    changed[:, 10:] = torch.randn(1, 10, 12) * 100  # masked frames: must not matter
    b = dec(toks, changed, feature_mask=mask)
    torch.testing.assert_close(a, b)
    changed[:, 3] += 5  # an unmasked frame: must matter
    assert not torch.allclose(dec(toks, changed, feature_mask=mask), a)


def test_kv_cache_matches_full_forward():
    dec = _decoder()
    toks = torch.randint(16, 300, (2, 9))
    feats = torch.randn(2, 15, 12)
    full = dec(toks, feats)
    memory = dec.memory(feats)
    caches = [dict() for _ in dec.blocks]
    steps = [dec(toks[:, :4], None, memory=memory, caches=caches)]
    for i in range(4, 9):
        steps.append(dec(toks[:, i:i + 1], None, memory=memory, caches=caches))
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-4)


def test_greedy_decoders_follow_the_grammar():
    from hiertrans import generate

    cfg = preset("tiny")
    cfg.decoders = ("onset", "velocity", "offset", "flat")
    torch.manual_seed(1)
    m = Transcriber(cfg).eval()
    feats = m(torch.randn(2, 16000) * 0.1)["features"]
    ons = generate.decode_onsets(m.decoders["onset"], feats, [[60], []], max_notes=8)
    assert tt.decode_onsets(ons[0])[0] == (None, 60)  # the carried note is forced in
    for seq in ons:
        notes = tt.decode_onsets(seq)
        times = [t for t, _ in notes if t is not None]
        assert times == sorted(times) and len(notes) <= 9
    notes = [tt.decode_onsets(s) for s in ons]
    vel = generate.decode_attributes(m.decoders["velocity"], feats, notes, tt.TASK_VELOCITY)
    off = generate.decode_attributes(m.decoders["offset"], feats, notes, tt.TASK_OFFSET)
    seg = tt.decode_hierarchical(ons[0], vel[0], off[0])
    assert len(seg) == len(notes[0])
    ok = (seg.offset >= seg.onset) | (seg.offset != seg.offset)  # offset never before onset (or sustained)
    assert ok.all()
    flat = generate.decode_flat(m.decoders["flat"], feats, [[60], []], max_notes=5)
    f0 = tt.decode_flat(flat[0])
    assert f0.continuing[0] and f0.pitch[0] == 60


def _heads_ascend(notes) -> bool:
    """Note heads in target order: times non-decreasing, pitches strictly rising within one time step."""
    heads = [(t, p) for t, p in notes if t is not None]
    return all(a < b for a, b in zip(heads, heads[1:]))


def test_greedy_decoders_never_repeat_a_note_at_one_time():
    """An untrained decoder's argmax repeats itself; the grammar must still give one note per (time, key), listed
    by ascending key, as the targets are (a repeated note at one step is never a valid sequence)."""
    from hiertrans import generate

    cfg = preset("tiny")
    cfg.decoders = ("onset", "flat")
    for seed in range(3):
        torch.manual_seed(seed)
        m = Transcriber(cfg).eval()
        feats = m(torch.randn(2, 16000) * 0.1)["features"]
        for seq in generate.decode_onsets(m.decoders["onset"], feats, max_notes=40):
            assert _heads_ascend(tt.decode_onsets(seq))
        for seq in generate.decode_flat(m.decoders["flat"], feats, max_notes=20):
            seg = tt.decode_flat(seq)
            steps = np.round(seg.onset / tt.TIME_RESOLUTION).astype(int)
            assert _heads_ascend(list(zip(steps.tolist(), seg.pitch.tolist())))


def test_every_config_builds():
    from pathlib import Path

    import yaml
    from hiertrans.module import TranscriptionModule

    root = Path(__file__).resolve().parents[3] / "configs" / "hiertrans"
    files = sorted(root.glob("*.yaml"))
    assert files
    for f in files:
        model_args = dict(yaml.safe_load(f.read_text())["model"])
        model_args.pop("init_weights", None)  # a training artefact outside the repo
        module = TranscriptionModule(**model_args)
        assert module.model.cfg.encoder.name == model_args.get("encoder", "crnn")


def test_shipped_weights_load_and_fit_the_size_limit():
    from hiertrans.weights import SHIPPED, load_model

    if not SHIPPED.is_file():
        pytest.skip("no shipped weights in this checkout")
    assert SHIPPED.stat().st_size <= 20 * 2**20
    m = load_model()
    assert m.cfg.encoder.name == "crnn" and "step" in m.extra
