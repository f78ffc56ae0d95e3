"""Pianorolls: M2BERT bar grids (16th-note rows of chroma + pitch), frame-level rolls for transcription, chroma.

M2BERT grids (SPEC §2) take plain arrays, so they serve CP tokens (pass each token's bar run index, position,
pitch and `cp_duration_sixteenths(dur_id)`) as well as any other quantised notes. Quirks kept from the
reference so that targets match it:
- the chroma index is (MIDI - 22) mod 12 (so chroma 0 is A#/Bb, not C);
- a note sustains round((dur_id + 1) / 2) sixteenths, rounding half to even as Python does, so the shortest
  CP duration (id 0, a 32nd) covers no row at all;
- a note spills into the next bar only (`spill_bars=1`); longer notes are cut there;
- each row is normalised so its chroma part and its pitch part each sum to 1; empty rows stay 0.
The reference counts "bars" as runs of tokens that start with Bar=New, so an empty bar is not a run and a spill
skips over it; here `bar` is whatever index the caller passes (literal bar numbers spill into the literal next bar).
"""

from __future__ import annotations

import numpy as np

from symcore.notes import NoteArray

ROWS = 16  # 16th-note positions per (4/4) bar
GRID_PITCH_LO, GRID_PITCH_HI = 22, 107  # the CP pitch range, 86 values
N_CHROMA = 12
N_GRID_PITCH = GRID_PITCH_HI - GRID_PITCH_LO + 1
GRID_WIDTH = N_CHROMA + N_GRID_PITCH  # 98
TARGET_DIM = (ROWS + 1) * GRID_WIDTH  # 1666: the bar's 16 rows + the token's own onset row
PIANO_LO, PIANO_HI = 21, 108  # frame rolls: the 88 piano keys


def cp_duration_sixteenths(dur_id) -> np.ndarray:
    """Sixteenths a CP duration id sustains in the grid: round((id + 1) / 2), half to even (id 0 -> 0)."""
    return np.round((np.asarray(dur_id, dtype=np.float64) + 1) / 2).astype(np.int64)


def _normalise_rows(grid: np.ndarray, chroma: bool) -> np.ndarray:
    parts = (slice(0, N_CHROMA), slice(N_CHROMA, None)) if chroma else (slice(None),)
    for sl in parts:
        total = grid[..., sl].sum(-1, keepdims=True)
        np.divide(grid[..., sl], total, out=grid[..., sl], where=total > 0)
    return grid


def bar_grids(
    bar, pos, pitch, dur16, n_bars: int | None = None, *, chroma: bool = True, spill_bars: int = 1,
    normalize: bool = True,
) -> np.ndarray:
    """(n_bars, 16, 98) float32 grids (86 pitch columns only when `chroma=False`) of quantised notes.

    bar: bar index of each note (>= 0); pos: its onset row 0..15; pitch: MIDI, clipped to 22..107 like CP;
    dur16: how many rows it sustains. Rows past `spill_bars` bars after the note's own bar or past `n_bars`
    are dropped. `n_bars` defaults to max(bar) + 1.
    """
    bar, pos, dur16 = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (bar, pos, dur16))
    pitch = np.clip(np.asarray(pitch, dtype=np.int64).reshape(-1), GRID_PITCH_LO, GRID_PITCH_HI) - GRID_PITCH_LO
    if not (len(bar) == len(pos) == len(pitch) == len(dur16)):
        raise ValueError(f"bar/pos/pitch/dur16 lengths differ: {len(bar)}, {len(pos)}, {len(pitch)}, {len(dur16)}")
    if len(bar) and ((bar < 0).any() or (pos < 0).any() or (pos >= ROWS).any()):
        raise ValueError("bar must be >= 0 and pos within 0..15")
    if n_bars is None:
        n_bars = int(bar.max()) + 1 if len(bar) else 0
    off = N_CHROMA if chroma else 0
    grid = np.zeros((n_bars * ROWS, off + N_GRID_PITCH), np.float32)
    start = bar * ROWS + pos
    stop = np.minimum(start + np.maximum(dur16, 0), np.minimum((bar + 1 + spill_bars) * ROWS, n_bars * ROWS))
    length = np.maximum(stop - start, 0)
    # one entry per (note, covered row), without a Python loop
    note = np.repeat(np.arange(len(bar)), length)
    row = np.repeat(start, length) + (np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length))
    np.add.at(grid, (row, off + pitch[note]), 1.0)
    if chroma:
        np.add.at(grid, (row, pitch[note] % N_CHROMA), 1.0)
    grid = grid.reshape(n_bars, ROWS, off + N_GRID_PITCH)
    return _normalise_rows(grid, chroma) if normalize else grid


def pianoroll_targets(
    bar, pos, pitch, dur16, n_bars: int | None = None, *, chroma: bool = True, spill_bars: int = 1,
) -> np.ndarray:
    """(N, 1666) M2BERT pianoroll-prediction targets: each note's bar grid (16 x 98, flattened) + its onset row."""
    bar, pos = np.asarray(bar, dtype=np.int64).reshape(-1), np.asarray(pos, dtype=np.int64).reshape(-1)
    grids = bar_grids(bar, pos, pitch, dur16, n_bars, chroma=chroma, spill_bars=spill_bars)
    if len(bar) == 0:
        return np.zeros((0, (ROWS + 1) * grids.shape[-1]), np.float32)
    return np.concatenate([grids[bar].reshape(len(bar), -1), grids[bar, pos]], axis=1)


def chroma(notes: NoteArray, weight: str = "duration") -> np.ndarray:
    """12-d pitch-class profile (C=0) of the pitched notes, summing to 1 (zeros when there are none).

    weight: "count" (each note 1), "duration" (seconds sounding) or "velocity".
    """
    pitched = ~notes.is_drum
    w = {"count": np.ones(len(notes)), "duration": notes.duration_sec, "velocity": notes.velocity}.get(weight)
    if w is None:
        raise ValueError(f"weight must be 'count', 'duration' or 'velocity', not {weight!r}")
    out = np.bincount(notes.pitch[pitched] % 12, weights=np.asarray(w, np.float64)[pitched], minlength=12)
    total = out.sum()
    return (out / total if total > 0 else out).astype(np.float32)


def frame_rolls(
    notes: NoteArray, fps: float, n_frames: int | None = None, start_sec: float = 0.0, *, drop_drums: bool = True,
) -> dict[str, np.ndarray]:
    """Frame-level piano rolls (T, 88) float32 for pitches 21..108, from the seconds columns.

    A note's onset frame is round((onset_sec - start_sec) * fps) and its offset frame round(offset * fps);
    "frame" is 1 on [onset frame, offset frame), at least one frame; "onset"/"offset" mark those single frames
    (when inside the roll); "velocity" is velocity/127 at onset frames (the loudest of coinciding notes). A note
    already sounding at `start_sec` gets frames but no onset. Pitches outside 21..108 (and drums) are ignored.
    `n_frames` defaults to just past the last offset.
    """
    keep = (notes.pitch >= PIANO_LO) & (notes.pitch <= PIANO_HI)
    if drop_drums:
        keep &= ~notes.is_drum
    p = notes.pitch[keep].astype(np.int64) - PIANO_LO
    f_on = np.floor((notes.onset_sec[keep] - start_sec) * fps + 0.5).astype(np.int64)
    f_off = np.floor((notes.offset_sec[keep] - start_sec) * fps + 0.5).astype(np.int64)
    f_end = np.maximum(f_off, f_on + 1)
    if n_frames is None:
        n_frames = int(max(f_end.max(initial=0), f_off.max(initial=-1) + 1))
    T = int(n_frames)
    rolls = {k: np.zeros((T, 88), np.float32) for k in ("onset", "offset", "frame", "velocity")}
    if T == 0 or len(p) == 0:
        return rolls
    diff = np.zeros((T + 1, 88), np.int32)
    np.add.at(diff, (np.clip(f_on, 0, T), p), 1)
    np.add.at(diff, (np.clip(f_end, 0, T), p), -1)
    rolls["frame"][:] = np.cumsum(diff[:T], axis=0) > 0
    inside = (f_on >= 0) & (f_on < T)
    rolls["onset"][f_on[inside], p[inside]] = 1.0
    np.maximum.at(rolls["velocity"], (f_on[inside], p[inside]), notes.velocity[keep][inside] / 127.0)
    inside = (f_off >= 0) & (f_off < T)
    rolls["offset"][f_off[inside], p[inside]] = 1.0
    return rolls


bar_grid = bar_grids  # the name other packages' plans used
