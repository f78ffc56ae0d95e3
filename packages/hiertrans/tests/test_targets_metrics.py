"""Frame targets on a hand-made example; the mir_eval wrapper against hand-computed scores."""

from __future__ import annotations

import numpy as np
import pytest
from hiertrans.metrics import frame_scores, midi_to_hz, note_scores
from hiertrans.targets import frame_targets


def test_frame_targets_hand_example():
    # one note: key 60 from 0.123 s to 0.305 s at 100 fps, velocity 64
    r = frame_targets(np.array([0.123]), np.array([0.305]), np.array([60]), np.array([64]),
                      start=0.0, n_frames=50, fps=100.0)
    k = 60 - 21
    assert r["frame"][:, k].nonzero()[0].tolist() == list(range(12, 31))
    assert r["onset"][:, k].nonzero()[0].tolist() == [12]
    assert r["offset"][:, k].nonzero()[0].tolist() == [30]  # round(30.5) = 30 (banker's), the frame of the offset
    assert r["velocity"][12, k] == pytest.approx(0.5)
    # regression target: 1 - |t - 12.3| / 5 within 5 frames
    assert r["reg_onset"][12, k] == pytest.approx(1 - 0.3 / 5, abs=1e-6)
    assert r["reg_onset"][15, k] == pytest.approx(1 - 2.7 / 5, abs=1e-6)
    assert r["reg_onset"][8, k] == pytest.approx(1 - 4.3 / 5, abs=1e-6)
    assert r["reg_onset"][7, k] == 0.0 and r["reg_onset"][18, k] == 0.0
    assert r["frame"].sum() == 19 and r["frame"][:, :k].sum() == 0


def test_frame_targets_window_offset_and_clipping():
    # a note that started before the window and one outside the piano range
    r = frame_targets(np.array([0.5, 1.0]), np.array([1.2, 1.5]), np.array([21, 10]), np.array([100, 100]),
                      start=1.0, n_frames=100, fps=100.0)
    assert r["frame"][:, 0].nonzero()[0].tolist() == list(range(0, 21))
    assert r["onset"].sum() == 0 and r["offset"][20, 0] == 1.0


def test_mir_eval_wrapper_hand_case():
    ref = {"onset": np.array([0.0, 1.0, 2.0, 3.0]), "offset": np.array([0.5, 1.5, 2.5, 4.0]),
           "pitch": np.array([60, 62, 64, 65]), "velocity": np.array([80, 80, 80, 80])}
    # hit (exact), hit within 50 ms but offset far off, wrong pitch, miss; plus an extra note
    est = {"onset": np.array([0.0, 1.04, 2.0, 5.0]), "offset": np.array([0.5, 3.0, 2.5, 5.5]),
           "pitch": np.array([60, 62, 63, 70]), "velocity": np.array([80, 80, 80, 80])}
    s = note_scores(ref, est)
    assert s["note_p"] == pytest.approx(2 / 4) and s["note_r"] == pytest.approx(2 / 4)
    assert s["note_f1"] == pytest.approx(0.5)
    assert s["note_offset_f1"] == pytest.approx(0.25)  # only the first keeps its offset within 20% / 50 ms
    assert s["note_offset_velocity_f1"] == pytest.approx(0.25)
    # pitches in Hz: a quarter tone off (MIDI 60.4) is still within mir_eval's 50 cent tolerance only in Hz space
    assert midi_to_hz(69) == pytest.approx(440.0)


def test_velocity_changes_only_the_velocity_metric():
    ref = {"onset": np.array([0.0, 1.0, 2.0]), "offset": np.array([0.5, 1.5, 2.5]), "pitch": np.array([60, 62, 64]),
           "velocity": np.array([20, 60, 100])}
    # mir_eval fits est velocities linearly to ref; a permutation cannot be fitted for all three notes
    est = dict(ref, velocity=np.array([100, 20, 60]))
    s = note_scores(ref, est)
    assert s["note_offset_f1"] == 1.0 and s["note_offset_velocity_f1"] < 1.0


def test_frame_scores_hand_case():
    ref = {"onset": np.array([0.0]), "offset": np.array([1.0]), "pitch": np.array([60])}
    est = {"onset": np.array([0.5]), "offset": np.array([1.5]), "pitch": np.array([60])}
    s = frame_scores(ref, est, fps=10)
    assert s["frame_p"] == pytest.approx(0.5) and s["frame_r"] == pytest.approx(0.5)


def test_roll_postprocessing_recovers_a_hand_made_note():
    from hiertrans.postprocess import rolls_to_notes

    # targets of one note (key 60, 0.123 s -> 0.455 s, velocity 96) decoded back from its own regression targets
    r = frame_targets(np.array([0.123]), np.array([0.455]), np.array([60]), np.array([96]),
                      start=0.0, n_frames=100, fps=100.0)
    vel = np.zeros((100, 88), np.float32)
    vel[12, 60 - 21] = 96 / 128
    for dtype in (np.float32, np.float16):
        notes = rolls_to_notes(r["reg_onset"].astype(dtype), r["reg_offset"].astype(dtype),
                               r["frame"].astype(dtype), vel, fps=100.0)
        assert notes["pitch"].tolist() == [60] and notes["velocity"].tolist() == [96]
        assert abs(notes["onset"][0] - 0.123) < 0.006 and abs(notes["offset"][0] - 0.455) < 0.011


def test_threshold_tuning_finds_the_separating_values():
    """Rolls where true onsets peak at 0.75 and spurious ones at 0.55, notes sound at 0.45 and ring on at 0.25
    afterwards: the tuner must pick an onset threshold in (0.55, 0.75] and a frame threshold in (0.25, 0.45]."""
    from hiertrans.postprocess import RollThresholds
    from hiertrans.ship import OFFSET_OFF, mean_score, tune

    rng = np.random.default_rng(0)
    data = []
    for _ in range(3):
        t, k = 600, 88
        on, off, fr, vel = (np.zeros((t, k), np.float32) for _ in range(4))
        ref = {"onset": [], "offset": [], "pitch": [], "velocity": []}
        for n in range(12):
            s, key, dur = 20 + 45 * n, int(rng.integers(20, 70)), int(rng.integers(15, 30))
            on[s, key] = 0.75
            fr[s:s + dur, key], fr[s + dur:s + dur + 12, key] = 0.45, 0.25
            on[s + 20, (key + 12) % k] = 0.55  # a spurious octave onset
            ref["onset"].append(s / 100)
            ref["offset"].append((s + dur) / 100)
            ref["pitch"].append(key + 21)
            ref["velocity"].append(64)
        data.append(({"reg_onset": on, "reg_offset": off, "frame": fr, "velocity": vel},
                     {k2: np.asarray(v) for k2, v in ref.items()}))
    th, scores = tune(data, 100.0, onset_grid=(0.5, 0.6, 0.7, 0.8), offset_grid=(0.5, OFFSET_OFF),
                      frame_grid=(0.2, 0.3, 0.4, 0.5))
    assert 0.55 < th.onset <= 0.75 and 0.25 < th.frame <= 0.45
    assert scores["note_f1"] == pytest.approx(1.0) and scores["note_offset_f1"] == pytest.approx(1.0)
    assert mean_score(data, 100.0, RollThresholds(0.5, OFFSET_OFF, 0.2), "note_f1") < 0.8  # the trap is real


def test_harmonic_onsets_need_the_higher_threshold():
    """A weak onset on the octave / twelfth / double octave of a note starting within 30 ms is dropped; the same
    onset alone, a strong real octave, a weak fifth, and everything when the harmonic threshold is off, survive."""
    from hiertrans.postprocess import RollThresholds, rolls_to_notes

    t, k = 500, 88
    on, off, fr, vel = (np.zeros((t, k), np.float32) for _ in range(4))
    on[100, 40] = 0.95            # fundamental
    on[102, 52] = 0.80            # its 2nd harmonic, 20 ms later: a confusion
    on[99, 59] = 0.80             # its 3rd harmonic (+19), 10 ms earlier: a confusion
    on[100, 47] = 0.80            # a fifth is not a harmonic: kept
    on[200, 30] = on[200, 42] = 0.95  # a real, strongly played octave: both kept
    on[300, 52] = 0.80            # the weak key on its own: kept
    on[400, 40], on[406, 52] = 0.95, 0.80  # 60 ms apart: outside the window, kept
    fr[:] = 0.0

    def keys(h):
        notes = rolls_to_notes(on, off, fr, vel, 100.0, RollThresholds(0.5, 1.1, 0.3, harmonic=h))
        return sorted(zip((notes["onset"] * 100).round().astype(int).tolist(), (notes["pitch"] - 21).tolist()))

    everything = [(99, 59), (100, 40), (100, 47), (102, 52), (200, 30), (200, 42), (300, 52), (400, 40), (406, 52)]
    assert keys(0.0) == everything
    assert keys(0.9) == [n for n in everything if n not in ((99, 59), (102, 52))]


def test_threshold_tuning_switches_harmonic_suppression_on_only_when_it_pays():
    from hiertrans.ship import OFFSET_OFF, tune

    def case(spurious: bool):
        on, fr = np.zeros((400, 88), np.float32), np.zeros((400, 88), np.float32)
        ref = {"onset": [], "offset": [], "pitch": [], "velocity": []}
        for n in range(8):
            s, key = 20 + 45 * n, 20 + 3 * n
            on[s, key], fr[s:s + 20, key] = 0.95, 0.9
            notes = [(s, key)]
            if n % 2:  # a real octave, played as strongly
                on[s, key + 12], fr[s:s + 20, key + 12] = 0.95, 0.9
                notes.append((s, key + 12))
            if spurious:
                on[s + 1, key + 24] = 0.8  # a weak double-octave confusion
            for s2, k2 in notes:
                ref["onset"].append(s2 / 100), ref["offset"].append((s2 + 20) / 100)
                ref["pitch"].append(k2 + 21), ref["velocity"].append(64)
        rolls = {"reg_onset": on, "reg_offset": np.zeros_like(on), "frame": fr, "velocity": np.zeros_like(on)}
        return [(rolls, {k: np.asarray(v) for k, v in ref.items()})]

    grid = dict(onset_grid=(0.5, 0.7), offset_grid=(OFFSET_OFF,), frame_grid=(0.5,), harmonic_grid=(0.0, 0.9))
    th, scores = tune(case(True), 100.0, **grid)
    assert th.harmonic == 0.9 and scores["note_f1"] == pytest.approx(1.0)
    th, _ = tune(case(False), 100.0, **grid)
    assert th.harmonic == 0.0  # no confusions: suppression cannot help, and a tie leaves it off


def test_summary_reports_decode_cost_per_note_when_counted():
    from hiertrans.evaluate import SUMMARY_KEYS, format_table, summary

    base = {k: 0.5 for k in SUMMARY_KEYS}
    rows = [{**base, "wall": 2.0, "seconds": 10.0, "notes": 100}, {**base, "wall": 1.0, "seconds": 10.0, "notes": 50}]
    s = summary(rows)
    assert s["wall_per_audio_second"] == pytest.approx(0.15) and s["notes"] == 150
    assert s["ms_per_note"] == pytest.approx(20.0)  # 3 s over 150 notes, not the mean of per-file ratios
    assert "ms_per_note" not in summary([{k: v for k, v in r.items() if k != "notes"} for r in rows])
    table = format_table({"a": s})
    assert "| notes | ms_per_note | files |" in table and "| 150 | 20.000 | 2 |" in table
