"""OTC: orchestral texture per track and bar (Le et al., preprocessed by Chu & Su), 7 classes + excluded 0.

Each bar of each track is annotated with three booleans (melody, rhythm, harmony) -> class mel*4+rhythm*2+harm;
0 (no role) is excluded. Every track is its own sequence. Only the first note of each bar carries the label
(the benchmark scores "each bar's first note"), the others are 0 and ignored. Downbeats come from the MIDI's
time signatures (the preprocessed dbeats files are not part of the raw layout). Split by metadata row as
the SMC benchmark: rows 1, 5, 10 valid; 0, 4, 9 test.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from symcore.errors import MidiError
from symcore.notes import load_notes

from smcbench.tasks.base import Piece, TaskData, TaskSpec
from smcbench.tasks.beats import meter_grid
from smcbench.tasks.notes import extend_downbeats, note_array, resize_to_bars, tokens_with_labels

VALID_ROWS, TEST_ROWS = (1, 5, 10), (0, 4, 9)


def first_in_bar(bar: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """Mask of the earliest note of every bar (ties: the first in order)."""
    order = np.lexsort((onset, bar))
    first = np.zeros(len(bar), bool)
    b = bar[order]
    first[order[np.r_[True, b[1:] != b[:-1]]]] = True
    return first


def _build(root: Path, limit: int | None = None) -> TaskData:
    base = root / "orchestral_texture"
    meta = base / "dataset" / "new_metadata.csv"
    if not meta.is_file():
        raise FileNotFoundError(f"OTC: metadata missing: {meta}")
    with meta.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    pieces, skipped = [], []
    for i, row in enumerate(rows[:limit]):
        split = "valid" if i in VALID_ROWS else ("test" if i in TEST_ROWS else "train")
        midi, ann = base / row["midi"].lstrip("./"), base / row["annot_npy"].lstrip("./")
        try:
            notes = load_notes(midi)
            labels = np.load(ann, allow_pickle=False)  # (bars, tracks, 3) bool
        except (MidiError, OSError, ValueError) as exc:
            skipped.append((str(midi), str(exc)))
            continue
        _, down_ticks = meter_grid(notes)
        downbeats = down_ticks / notes.tpq
        cls = labels[..., 0] * 4 + labels[..., 1] * 2 + labels[..., 2]  # (bars, tracks)
        n_tracks = min(cls.shape[1], len(notes.track_names))
        if cls.shape[1] != len(notes.track_names):
            skipped.append((str(midi), f"{cls.shape[1]} annotated tracks vs {len(notes.track_names)} MIDI tracks; using {n_tracks}"))
        for t in range(n_tracks):
            sel = notes.select(notes.track == t)
            if len(sel) == 0:
                continue
            on_q, dur_q = sel.onset / sel.tpq, sel.duration / sel.tpq
            bar = np.searchsorted(downbeats, on_q, side="right") - 1
            in_range = (bar >= 0) & (bar < cls.shape[0])
            note_labels = np.where(in_range, cls[np.clip(bar, 0, cls.shape[0] - 1), t], 0)
            note_labels = np.where(first_in_bar(bar, on_q), note_labels, 0).astype(np.int64)
            keep, a, b = resize_to_bars(on_q, dur_q, extend_downbeats(downbeats))
            arr = note_array(a[keep], b[keep], sel.pitch[keep])
            tokens, token_labels = tokens_with_labels(arr, note_labels[keep])
            pieces.append(Piece(f"{midi.stem}:{notes.track_names[t]}", tokens, token_labels, split=split))
    return TaskData(OTC, pieces, skipped)


OTC = TaskSpec("OTC", "orchestral texture (Le et al.)", "note", 8, "acc", "fixed", "orchestral_texture",
               build=_build, note="per track; bar's first note labelled; rows 1,5,10 valid / 0,4,9 test")
