"""The learned note filter: its features on hand-made rolls, that fitting it separates what one threshold cannot,
that ship only keeps it when it beats the thresholds on held-out pieces, and that it travels in the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hiertrans import notefilter as nf
from hiertrans.postprocess import RollThresholds, rolls_to_notes

FPS = 100.0


def _case(n_notes: int = 12, seed: int = 0):
    """Rolls where a threshold cannot separate real notes from ghosts but the surrounding rolls can.

    Every note starts with an onset peak and a frame roll that rises after it; half the real notes peak weakly
    (0.55). Each real note has a ghost onset on its octave (0.85, stronger than the weak real notes) whose frame
    roll stays off — the unseen-piano confusion the filter exists for.
    """
    rng = np.random.default_rng(seed)
    on, fr = np.zeros((60 * n_notes + 40, 88), np.float32), np.zeros((60 * n_notes + 40, 88), np.float32)
    ref = {"onset": [], "offset": [], "pitch": [], "velocity": []}
    for n in range(n_notes):
        s, key = 20 + 60 * n, int(rng.integers(10, 60))
        on[s, key] = 0.55 if n % 2 else 0.95
        on[s - 1, key] = on[s + 1, key] = on[s, key] / 3
        fr[s:s + 30, key] = 0.9
        on[s + 1, key + 12] = 0.85  # the ghost: no frame activity
        ref["onset"].append(s / FPS), ref["offset"].append((s + 30) / FPS)
        ref["pitch"].append(key + 21), ref["velocity"].append(64)
    rolls = {"reg_onset": on, "reg_offset": np.zeros_like(on), "frame": fr, "velocity": np.full_like(on, 0.5)}
    return rolls, {k: np.asarray(v) for k, v in ref.items()}


def test_candidate_features_read_the_rolls_around_each_peak():
    rolls, _ = _case(2)
    on, fr, vel = rolls["reg_onset"], rolls["frame"], rolls["velocity"]
    t, k = np.nonzero(on >= 0.5)
    x = nf.candidate_features(on, fr, vel, t, k)
    assert x.shape == (len(t), len(nf.FEATURES)) and x.dtype == np.float32
    col = {name: x[:, i] for i, name in enumerate(nf.FEATURES)}
    real = ~np.isclose(on[t, k], 0.85)  # 0.85 marks the ghosts
    assert np.allclose(col["frame_after"][real], 0.9) and np.allclose(col["frame_after"][~real], 0.0)
    assert np.allclose(col["frame_before"], 0.0)
    # a ghost sits an octave above a real onset (one frame apart): harm12 sees it, and it is above the ghost
    # only where the real note is the strong one
    assert np.allclose(col["harm12"][~real], on[t[real], k[real]])
    assert np.allclose(col["harm12"][real], 0.0)
    assert list(col["harmonic_above"][~real]) == [1.0, 0.0]  # the 0.95 note is above its ghost, 0.55 is not
    assert np.allclose(col["simultaneous"], np.log1p(2))  # each note and its ghost start within 2 frames
    # peaks at the very ends of the roll read clipped windows instead of failing
    edge = nf.candidate_features(on, fr, vel, np.array([0, len(on) - 1]), np.array([0, 87]))
    assert np.isfinite(edge).all()
    assert nf.candidate_features(on, fr, vel, np.zeros(0, int), np.zeros(0, int)).shape == (0, len(nf.FEATURES))


def test_labels_follow_mir_eval_onset_matching():
    rolls, ref = _case(4)
    on = rolls["reg_onset"]
    t, k = np.nonzero(on >= 0.5)
    y = nf.label_candidates(on, t, k, ref, FPS)
    assert y.tolist() == (~np.isclose(on[t, k], 0.85)).astype(int).tolist()
    late = nf.label_candidates(on, t + 6, k, ref, FPS)  # 60 ms late: outside mir_eval's 50 ms window
    assert late.sum() == 0


def test_filter_keeps_weak_real_notes_and_drops_strong_ghosts():
    from hiertrans.ship import filter_examples

    train = [_case(16, seed) for seed in range(3)]
    f = nf.fit(*filter_examples(train, FPS, 0.4))
    rolls, ref = _case(10, seed=7)
    th = RollThresholds(onset=0.5, filter=0.5, candidate=0.4)
    est = rolls_to_notes(rolls["reg_onset"], rolls["reg_offset"], rolls["frame"], rolls["velocity"], FPS, th, f)
    assert sorted(est["pitch"].tolist()) == sorted(ref["pitch"].tolist())
    # without the filter no onset threshold gets both: 0.5 lets the ghosts in, 0.9 drops the weak notes
    for t in (0.5, 0.9):
        plain = rolls_to_notes(rolls["reg_onset"], rolls["reg_offset"], rolls["frame"], rolls["velocity"], FPS,
                               RollThresholds(onset=t, filter=0.5), None)
        assert sorted(plain["pitch"].tolist()) != sorted(ref["pitch"].tolist())


def test_ship_keeps_the_filter_only_when_it_beats_the_thresholds_on_held_out_pieces():
    from hiertrans.ship import fit_note_filter

    th = RollThresholds(onset=0.5, offset=1.1, frame=0.5)
    f, tau, cv, base = fit_note_filter([_case(12, s) for s in range(4)], FPS, th)
    assert f is not None and cv > base and cv == pytest.approx(1.0) and 0.3 <= tau <= 0.75

    def clean(seed):  # no ghosts: the thresholds alone are already perfect, so the filter cannot pay
        rolls, ref = _case(12, seed)
        rolls["reg_onset"][np.isclose(rolls["reg_onset"], 0.85)] = 0
        rolls["reg_onset"][np.isclose(rolls["reg_onset"], 0.55)] = 0.95
        return rolls, ref

    f, _, cv, base = fit_note_filter([clean(s) for s in range(4)], FPS, th)
    assert base == pytest.approx(1.0) and f is None


def test_note_filter_travels_in_the_checkpoint(tmp_path):
    from hiertrans.config import preset
    from hiertrans.model import Transcriber
    from hiertrans.ship import with_note_filter
    from hiertrans.weights import load_model, save_model

    model = Transcriber(preset("tiny"))
    assert model.note_filter is None
    f = nf.fit(np.random.default_rng(0).normal(size=(64, len(nf.FEATURES))).astype(np.float32),
               np.arange(64) % 2, steps=5)
    m2 = with_note_filter(model, f)
    path = save_model(m2, m2.cfg, tmp_path / "m.safetensors", {"thresholds": {"filter": 0.5}})
    back = load_model(path)
    assert back.cfg.note_filter and back.note_filter is not None
    x = torch.randn(5, len(nf.FEATURES))
    assert torch.equal(back.note_filter(x), f(x))
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(back.encoder.state_dict()[k], v)
    # an older checkpoint (no note_filter in its config) still loads, without a filter
    old = save_model(model, model.cfg, tmp_path / "old.safetensors")
    assert load_model(old).note_filter is None
