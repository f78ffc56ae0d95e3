"""Turning annotated note lists into CP tokens with per-token labels.

Most datasets give notes in beats plus a downbeat list. Like the original benchmark we "resize" every bar to
4/4 (each bar between consecutive downbeats is stretched to 4 quarters) so the CP grid sees 16 positions per
bar whatever the meter; notes before the first (extrapolated) downbeat are dropped.
"""

from __future__ import annotations

import numpy as np
from symcore.notes import NoteArray

TPQ = 480


def extend_downbeats(downbeats: np.ndarray) -> np.ndarray:
    """One extrapolated bar before the first and after the last downbeat (the original's convention)."""
    db = np.asarray(downbeats, dtype=np.float64)
    if db.size < 2:
        raise ValueError("need at least two downbeats to resize bars")
    return np.concatenate([[db[0] - (db[1] - db[0])], db, [db[-1] + (db[-1] - db[-2])]])


def resize_to_bars(onset: np.ndarray, duration: np.ndarray, downbeats: np.ndarray):
    """Map (onset, duration) in beats onto 4/4 bars; returns (keep mask, onset_q, offset_q) in quarters."""
    db = np.asarray(downbeats, dtype=np.float64)
    bar = np.searchsorted(db, onset, side="right") - 1
    keep = (bar >= 0) & (bar < len(db) - 1)
    bar = np.clip(bar, 0, len(db) - 2)
    start, length = db[bar], db[bar + 1] - db[bar]
    on_q = bar * 4.0 + np.maximum((onset - start) / length, 0.0) * 4.0
    off_q = bar * 4.0 + (onset + duration - start) / length * 4.0
    return keep, on_q, off_q


def note_array(onset_q, offset_q, pitch, *, track=None, velocity=None, name: str | None = None) -> NoteArray:
    """A NoteArray at 480 ticks per quarter in 4/4 from quarter-note times."""
    on = np.round(np.asarray(onset_q, dtype=np.float64) * TPQ).astype(np.int64)
    off = np.maximum(np.round(np.asarray(offset_q, dtype=np.float64) * TPQ).astype(np.int64), on)
    n = len(on)
    track = np.zeros(n, np.int16) if track is None else np.asarray(track, np.int16)
    vel = np.full(n, 80, np.int16) if velocity is None else np.asarray(velocity, np.int16)
    sec = on / TPQ * 0.5  # 120 qpm
    notes = NoteArray(
        onset=on, duration=off - on, pitch=np.asarray(pitch, np.int16), velocity=vel, track=track,
        program=np.zeros(n, np.int16), is_drum=np.zeros(n, bool), onset_sec=sec, duration_sec=(off - on) / TPQ * 0.5,
        tpq=TPQ, path=name,
    )
    return notes


def tokens_with_labels(notes: NoteArray, note_labels: np.ndarray, tokenizer=None):
    """CP tokens and the label of each token's source note (tokenizers may drop or reorder notes)."""
    from symtok.cp import CPTokenizer

    tok = tokenizer or CPTokenizer()
    order = np.lexsort((notes.pitch, notes.track, notes.onset))
    notes, note_labels = notes.select(order), np.asarray(note_labels)[order]
    tokens, index = tok.encode(notes, return_index=True)
    return tokens, note_labels[index].astype(np.int64)
