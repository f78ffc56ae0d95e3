"""Data augmentation on `NoteArray`: transposition, tempo stretch, velocity shift (new arrays, never in place).

Each function keeps the invariants of a loaded NoteArray: columns parallel, sorted by (onset, track, pitch),
ticks and seconds consistent with the tempo map, so the result can be tokenized or written to MIDI directly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from symcore.notes import NoteArray, ticks_to_seconds


def transpose(notes: NoteArray, semitones: int, *, out_of_range: str = "drop", lo: int = 0, hi: int = 127) -> NoteArray:
    """Shift pitched notes by `semitones`; drum notes (percussion keys, not pitches) never move.

    out_of_range: "drop" removes notes leaving [lo, hi], "clip" pins them to the nearest bound (possibly
    doubling a note), "error" raises ValueError naming how many notes would leave the range.
    """
    if out_of_range not in ("drop", "clip", "error"):
        raise ValueError(f"out_of_range must be 'drop', 'clip' or 'error', not {out_of_range!r}")
    pitched = ~notes.is_drum
    new = notes.pitch.astype(np.int64) + np.where(pitched, int(semitones), 0)
    bad = pitched & ((new < lo) | (new > hi))
    if bad.any():
        if out_of_range == "error":
            raise ValueError(f"{notes.path or 'notes'}: transposing by {semitones} puts {int(bad.sum())} notes "
                             f"outside {lo}..{hi}")
        if out_of_range == "clip":
            new = np.where(pitched, np.clip(new, lo, hi), new)
    out = notes.with_columns(pitch=new.astype(notes.pitch.dtype))
    if out_of_range == "drop" and bad.any():
        out = out.select(~bad)
    return out.sorted()


def stretch_tempo(notes: NoteArray, factor: float, *, keep_ticks: bool = False) -> NoteArray:
    """Play `factor` times as long (factor 2 = half speed); seconds scale by exactly `factor`.

    By default the tick positions (notes and tempo/time/key events) are scaled and rounded, with the tempo kept,
    and seconds recomputed from the new ticks (they match factor x the old seconds up to the tick rounding).
    `keep_ticks=True` keeps the score's ticks (bars and beats unchanged) and divides every tempo by `factor`.
    Notes never shrink to 0 ticks unless they were 0 already.
    """
    if not np.isfinite(factor) or factor <= 0:
        raise ValueError(f"tempo stretch factor must be a positive number, not {factor}")
    tempos = notes.tempos.copy()
    if keep_ticks:
        if tempos.size == 0 or tempos["tick"][0] > 0:  # the implicit 120 qpm start must be stretched too
            tempos = np.concatenate([np.array([(0, 120.0)], tempos.dtype), tempos])
        tempos["qpm"] = tempos["qpm"] / factor
        onset, duration = notes.onset, notes.duration
        events = {}
    else:
        onset = np.rint(notes.onset * factor).astype(np.int64)
        off = np.rint(notes.offset * factor).astype(np.int64)
        duration = np.where(notes.duration > 0, np.maximum(off - onset, 1), 0)
        events = {}
        for name in ("tempos", "time_signatures", "key_signatures"):
            ev = (tempos if name == "tempos" else getattr(notes, name)).copy()
            ev["tick"] = np.rint(ev["tick"] * factor).astype(np.int64)
            events[name] = ev
        tempos = events.pop("tempos")
    on_s = ticks_to_seconds(onset, tempos, notes.tpq)
    off_s = ticks_to_seconds(onset + duration, tempos, notes.tpq)
    out = replace(notes, onset=onset, duration=duration, onset_sec=on_s, duration_sec=off_s - on_s, tempos=tempos,
                  **events)
    return out.sorted()


def shift_velocity(notes: NoteArray, delta, *, lo: int = 1, hi: int = 127) -> NoteArray:
    """Add `delta` (a number or one per note) to every velocity, clipped to [lo, hi]."""
    if not 0 <= lo <= hi <= 127:
        raise ValueError(f"velocity bounds must satisfy 0 <= lo <= hi <= 127, got {lo}, {hi}")
    new = np.clip(notes.velocity.astype(np.int64) + np.asarray(delta, dtype=np.int64), lo, hi)
    return notes.with_columns(velocity=new.astype(notes.velocity.dtype))
