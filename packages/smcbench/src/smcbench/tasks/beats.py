"""BP (beat) and DbP (downbeat) tracking on performance MIDI: is a note's onset within ±70 ms of a (down)beat?

Sources: ASAP performances with their `*_annotations.txt` (b / db rows) and CPM score-like MIDIs whose beats
and downbeats come from the file's own tick grid and time signatures. PM2S's own test set is A-MAPS (not
obtainable), so we use a deterministic piece-level split of ASAP+CPM: sorted pieces, every 10th (offset 0)
is test, offset 1 valid, the rest train — all performances of one piece stay in one split.
Like the original, performance seconds become pseudo-beats by the median note duration folded into
0.3-1.5 s, so CP positions carry no tempo information the model could not infer.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from symcore.errors import MidiError
from symcore.notes import load_notes, ticks_to_seconds

from smcbench.tasks.base import Piece, TaskData, TaskSpec
from smcbench.tasks.notes import note_array, tokens_with_labels

TOLERANCE = 0.07


def near(onsets: np.ndarray, marks: np.ndarray, tol: float = TOLERANCE) -> np.ndarray:
    """True where an onset lies within ±tol seconds of any mark."""
    if marks.size == 0:
        return np.zeros(onsets.shape, bool)
    marks = np.sort(marks)
    i = np.searchsorted(marks, onsets)
    lo, hi = marks[np.clip(i - 1, 0, len(marks) - 1)], marks[np.clip(i, 0, len(marks) - 1)]
    d = np.minimum(np.abs(onsets - lo), np.abs(onsets - hi))
    return d <= tol + 1e-9


def pseudo_beats(onset_sec: np.ndarray, dur_sec: np.ndarray):
    """Seconds -> pseudo-beats using the median duration as a beat-length guess folded into [0.3, 1.5] s."""
    spb = float(np.median(dur_sec)) if len(dur_sec) else 0.5
    spb = max(spb, 1e-3)
    while spb < 0.3:
        spb *= 2.0
    while spb > 1.5:
        spb /= 2.0
    return onset_sec / spb, dur_sec / spb


def read_asap_annotations(path: Path) -> tuple[np.ndarray, np.ndarray]:
    beats, downbeats = [], []
    with path.open(newline="") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 3:
                continue
            t = float(row[0])
            kind = row[2].split(",")[0]
            if kind in ("b", "db"):
                beats.append(t)
            if kind == "db":
                downbeats.append(t)
    return np.array(beats), np.array(downbeats)


def meter_grid(notes) -> tuple[np.ndarray, np.ndarray]:
    """Beat and downbeat ticks of a score MIDI from its time signatures (compound meters beat in 3/8)."""
    tpq, end = notes.tpq, int(notes.offset.max()) if len(notes) else 0
    ts = notes.time_signatures
    starts = list(ts["tick"]) if len(ts) else [0]
    sigs = list(zip(ts["numerator"], ts["denominator"])) if len(ts) else [(4, 4)]
    if starts[0] > 0:
        starts, sigs = [0] + starts, [(4, 4)] + sigs
    beats, downs = [], []
    for k, (start, (num, den)) in enumerate(zip(starts, sigs)):
        stop = starts[k + 1] if k + 1 < len(starts) else end + 1
        unit = tpq * 4 // max(int(den), 1)
        per_beat = unit * 3 if (den == 8 and num % 3 == 0 and num > 3) else unit
        bar = unit * int(num)
        beats.append(np.arange(start, stop, max(per_beat, 1)))
        downs.append(np.arange(start, stop, max(bar, 1)))
    return np.concatenate(beats), np.concatenate(downs)


def grid_beats(notes) -> tuple[np.ndarray, np.ndarray]:
    """Beats and downbeats in seconds (through the file's tempo map)."""
    b, d = meter_grid(notes)
    return ticks_to_seconds(b, notes.tempos, notes.tpq), ticks_to_seconds(d, notes.tempos, notes.tpq)


def split_of_piece(index: int) -> str:
    return "test" if index % 10 == 0 else ("valid" if index % 10 == 1 else "train")


def _sources(root: Path) -> list[tuple[str, Path, Path | None]]:
    """(piece id, midi path, annotation path or None for CPM)."""
    out = []
    meta = root / "asap" / "metadata.csv"
    if meta.is_file():
        with meta.open(newline="") as fh:
            for row in csv.DictReader(fh):
                out.append((f"asap/{row['folder']}", root / "asap" / row["midi_performance"],
                            root / "asap" / row["performance_annotations"]))
    cmeta = root / "cpm" / "metadata.csv"
    if cmeta.is_file():
        with cmeta.open(newline="") as fh:
            for row in csv.DictReader(fh):
                out.append((f"cpm/{row['midi']}", root / "cpm" / row["midi"], None))
    if not out:
        raise FileNotFoundError(f"BP/DbP: neither {meta} nor {cmeta} exists")
    return out


def _build(root: Path, spec: TaskSpec, downbeat: bool, limit: int | None = None) -> TaskData:
    sources = _sources(root)
    piece_ids = sorted({p for p, _, _ in sources})
    split = {p: split_of_piece(i) for i, p in enumerate(piece_ids)}
    if limit is not None:
        keep = set(piece_ids[:: max(1, len(piece_ids) // max(limit, 1))][:limit])
        sources = [s for s in sources if s[0] in keep]
    pieces, skipped = [], []
    for piece, midi, ann in sources:
        try:
            notes = load_notes(midi, sustain=False)
            if ann is not None:
                beats, downs = read_asap_annotations(ann)
            else:
                beats, downs = grid_beats(notes)
        except (MidiError, OSError, ValueError) as exc:
            skipped.append((str(midi), str(exc)))
            continue
        if len(notes) < 2:
            skipped.append((str(midi), "fewer than 2 notes"))
            continue
        labels = near(notes.onset_sec, downs if downbeat else beats).astype(np.int64) + 1
        on_b, dur_b = pseudo_beats(notes.onset_sec, notes.duration_sec)
        arr = note_array(on_b, on_b + dur_b, np.clip(notes.pitch, 0, 127), velocity=notes.velocity)
        tokens, token_labels = tokens_with_labels(arr, labels)
        pieces.append(Piece(f"{piece}:{midi.stem}", tokens, token_labels, split=split[piece]))
    return TaskData(spec, pieces, skipped)


BP = TaskSpec("BP", "beat tracking (ASAP+CPM)", "note", 3, "f1", "fixed", "asap, cpm",
              build=lambda root, limit=None: _build(root, BP, False, limit),
              note="piece-level 80/10/10 split of ASAP+CPM (A-MAPS, PM2S's test set, not obtainable)")
DbP = TaskSpec("DbP", "downbeat tracking (ASAP+CPM)", "note", 3, "f1", "fixed", "asap, cpm",
               build=lambda root, limit=None: _build(root, DbP, True, limit),
               note="piece-level 80/10/10 split of ASAP+CPM (A-MAPS, PM2S's test set, not obtainable)")
