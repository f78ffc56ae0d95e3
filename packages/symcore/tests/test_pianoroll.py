"""M2BERT bar grids and targets, frame-level rolls and chroma, against hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from symcore.notes import load_notes, notes_from_arrays
from symcore.pianoroll import (
    GRID_WIDTH,
    TARGET_DIM,
    bar_grids,
    chroma,
    cp_duration_sixteenths,
    frame_rolls,
    pianoroll_targets,
)


def test_cp_duration_sixteenths_rounds_half_to_even():
    # id d is (d+1) 32nds; Python's round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
    assert cp_duration_sixteenths([0, 1, 2, 3, 4, 5, 63]).tolist() == [0, 1, 2, 2, 2, 3, 32]


def test_bar_grid_by_hand():
    # bar 0: C4 (60) at row 0 for 2 rows; E4 (64) at row 0 for 1 row; G4 (67) at row 14 for 4 rows -> spills 2 rows
    # bar 1: D4 (62) at row 1 for 1 row
    g = bar_grids([0, 0, 0, 1], [0, 0, 14, 1], [60, 64, 67, 62], [2, 1, 4, 1])
    assert g.shape == (2, 16, GRID_WIDTH) and g.dtype == np.float32
    c, e, gg, d = 12 + 60 - 22, 12 + 64 - 22, 12 + 67 - 22, 12 + 62 - 22
    chroma_of = {p: (p - 22) % 12 for p in (60, 62, 64, 67)}
    want = np.zeros((2, 16, GRID_WIDTH), np.float32)
    want[0, 0, [c, e]] = 0.5
    want[0, 0, [chroma_of[60], chroma_of[64]]] = 0.5
    want[0, 1, c] = want[0, 1, chroma_of[60]] = 1.0
    for bar, row in ((0, 14), (0, 15), (1, 0), (1, 1)):
        want[bar, row, gg] = want[bar, row, chroma_of[67]] = 1.0
    # bar 1 row 1 has both G (spilled) and D
    want[1, 1] = 0
    want[1, 1, [gg, d]] = 0.5
    want[1, 1, [chroma_of[67], chroma_of[62]]] = 0.5
    np.testing.assert_allclose(g, want)


def test_grid_rows_normalised_and_octaves_share_chroma():
    g = bar_grids([0, 0, 0], [3, 3, 3], [48, 60, 61], [1, 1, 1], normalize=True)
    row = g[0, 3]
    assert row[:12].sum() == pytest.approx(1) and row[12:].sum() == pytest.approx(1)
    assert row[(48 - 22) % 12] == pytest.approx(2 / 3)  # C3 and C4: one chroma bin, two notes
    assert np.count_nonzero(g.sum(-1)) == 1  # every other row stays 0
    raw = bar_grids([0, 0, 0], [3, 3, 3], [48, 60, 61], [1, 1, 1], normalize=False)
    assert raw[0, 3, :12].sum() == 3 and raw[0, 3, 12:].sum() == 3


def test_spill_limited_and_no_chroma_and_clipping():
    # 32 sixteenths from row 8 of bar 0: rows 8..15 of bar 0 and all of bar 1; bar 2 gets nothing (spill_bars=1)
    g = bar_grids([0], [8], [60], [32], n_bars=3)
    assert g[0, :8].sum() == 0 and (g[0, 8:, 12 + 38] == 1).all() and (g[1, :, 12 + 38] == 1).all()
    assert g[2].sum() == 0
    assert bar_grids([0], [8], [60], [32], n_bars=3, spill_bars=2)[2, :8].sum() == 16  # chroma + pitch, 8 rows
    assert bar_grids([5], [0], [60], [40], n_bars=2).sum() == 0  # bar beyond n_bars
    g = bar_grids([0, 0], [0, 1], [10, 120], [1, 1], chroma=False)
    assert g.shape == (1, 16, 86) and g[0, 0, 0] == 1 and g[0, 1, 85] == 1  # pitches clipped to 22..107
    with pytest.raises(ValueError):
        bar_grids([0], [16], [60], [1])


def test_pianoroll_targets_layout():
    bar, pos, pitch, dur = [0, 0, 1], [0, 4, 2], [60, 72, 50], [4, 8, 1]
    t = pianoroll_targets(bar, pos, pitch, dur)
    grids = bar_grids(bar, pos, pitch, dur)
    assert t.shape == (3, TARGET_DIM) == (3, 1666)
    for i in range(3):
        np.testing.assert_array_equal(t[i, :1568], grids[bar[i]].ravel())
        np.testing.assert_array_equal(t[i, 1568:], grids[bar[i], pos[i]])
    # token 1 (row 4 of bar 0): C4 (rows 0..3) has ended, so its local row holds only C5
    assert t[1, 1568 + 12 + 72 - 22] == 1 and t[1, 1568 + 12 + 60 - 22] == 0
    assert pianoroll_targets([], [], [], []).shape == (0, 1666)


def test_targets_match_m2bert_torch_version():
    """Same numbers as m2bert's batched torch implementation on CP ids (skipped where m2bert is absent)."""
    targets = pytest.importorskip("m2bert.targets")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    n = 60
    new_bar = rng.random(n) < 0.15
    new_bar[0] = True
    pos = np.zeros(n, np.int64)
    for i in range(1, n):  # positions non-decreasing within a bar, like real CP
        pos[i] = 0 if new_bar[i] else min(15, pos[i - 1] + rng.integers(0, 3))
    pos[new_bar] = rng.integers(0, 4, new_bar.sum())
    pitch_id, dur_id = rng.integers(0, 86, n), rng.integers(0, 64, n)
    tokens = torch.tensor(np.stack([np.where(new_bar, 0, 1), pos, pitch_id, dur_id], 1))[None]
    want = targets.pianoroll_targets(tokens).numpy()[0]
    run = np.cumsum(new_bar) - 1
    got = pianoroll_targets(run, pos, pitch_id + 22, cp_duration_sixteenths(dur_id))
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_frame_rolls_by_hand():
    # 120 qpm, 480 tpq: 960 ticks/s. At 10 fps:
    # A4 (69) 0.0..0.5 s vel 127 -> frames 0-4, offset frame 5; C4 (60) 0.26..0.31 s -> onset round(2.6)=3,
    # offset round(3.1)=3 -> still one frame (3); drum and pitch 10 ignored.
    n = notes_from_arrays([0, 250, 0, 0], [480, 48, 480, 480], [69, 60, 38, 10], [127, 64, 100, 100],
                          is_drum=[False, False, True, False])
    r = frame_rolls(n, fps=10)
    assert set(r) == {"onset", "offset", "frame", "velocity"}
    assert all(v.shape == (6, 88) and v.dtype == np.float32 for v in r.values())
    a, c = 69 - 21, 60 - 21
    assert r["frame"][:, a].tolist() == [1, 1, 1, 1, 1, 0] and r["frame"][:, c].tolist() == [0, 0, 0, 1, 0, 0]
    assert r["onset"][:, a].tolist() == [1, 0, 0, 0, 0, 0] and r["offset"][:, a].tolist() == [0, 0, 0, 0, 0, 1]
    assert r["onset"][3, c] == 1 and r["offset"][3, c] == 1
    assert r["velocity"][0, a] == 1.0 and r["velocity"][3, c] == pytest.approx(64 / 127)
    assert r["frame"].sum() == 6 and r["velocity"].sum() == pytest.approx(1 + 64 / 127)


def test_frame_rolls_start_and_length():
    n = notes_from_arrays([0, 960], [1920, 480], [60, 62])  # 0..2 s and 1..1.5 s
    r = frame_rolls(n, fps=4, n_frames=4, start_sec=1.0)  # frames cover 1.0..2.0 s
    assert r["frame"][:, 60 - 21].tolist() == [1, 1, 1, 1] and r["onset"][:, 60 - 21].sum() == 0  # sounding already
    assert r["onset"][0, 62 - 21] == 1 and r["frame"][:, 62 - 21].tolist() == [1, 1, 0, 0]
    assert r["offset"][2, 62 - 21] == 1 and r["offset"][:, 60 - 21].sum() == 0  # C4's offset is past the roll


def test_frame_rolls_real_file(shared):
    notes = load_notes(shared("pop909/POP909/001/001.mid"))
    r = frame_rolls(notes, fps=100)
    assert r["frame"].shape[0] == int(np.floor(notes.offset_sec.max() * 100 + 0.5)) + 1
    assert r["onset"].sum() <= len(notes) and r["onset"].sum() > 0.9 * len(notes)
    assert (r["velocity"] > 0).sum() == r["onset"].sum() and (r["frame"][r["onset"] > 0] == 1).all()


def test_chroma_by_hand():
    n = notes_from_arrays([0, 0, 480, 0], [480, 960, 480, 480], [60, 72, 64, 36], is_drum=[False, False, False, True])
    np.testing.assert_allclose(chroma(n, "count")[[0, 4]], [2 / 3, 1 / 3])
    np.testing.assert_allclose(chroma(n, "duration")[[0, 4]], [0.75, 0.25])  # C: 0.5 + 1.0 s, E: 0.5 s
    assert chroma(n).sum() == pytest.approx(1) and chroma(n.select(n.is_drum)).sum() == 0


def test_save_pianoroll_png(shared, tmp_path):
    from symcore.plot import save_pianoroll_png

    notes = load_notes(shared("pop909/POP909/001/001.mid"))
    out = save_pianoroll_png(notes.select(notes.onset_sec < 20), tmp_path / "roll.png", title="POP909 001")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    empty = save_pianoroll_png(notes.select(np.zeros(len(notes), bool)), tmp_path / "empty.png")
    assert empty.is_file()
