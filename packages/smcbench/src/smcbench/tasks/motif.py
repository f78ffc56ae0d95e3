"""MNID: motif note identification on BPS-motif (Beethoven sonata 1st movements), 5-fold CV over 32 pieces.

Notes come from csv_notes (onset/duration in quarters; a non-empty type means the note is in a motif);
bars are resized to 4/4 using BPS-FH's downbeat annotations (dBeats.xlsx) of the same sonata.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from smcbench.tasks.base import Piece, TaskData, TaskSpec
from smcbench.tasks.notes import extend_downbeats, note_array, resize_to_bars, tokens_with_labels


def downbeats_file(folder: Path) -> Path:
    """BPS-FH's downbeat sheet; one piece ships it as dbeats.xlsx, the others as dBeats.xlsx."""
    for name in ("dBeats.xlsx", "dbeats.xlsx"):
        if (folder / name).is_file():
            return folder / name
    return folder / "dBeats.xlsx"


def read_downbeats(path: Path) -> np.ndarray:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)  # data_only: cached values, not formulas
    values = [row[0] for row in wb.active.iter_rows(values_only=True) if row and row[0] is not None]
    return np.asarray(values, dtype=np.float64)


FOLD_STARTS = np.array([1, 8, 15, 21, 27])  # sonatas 1-7, 8-14, 15-20, 21-26, 27-32, as the SMC benchmark


def fold_of(number: int) -> int:
    return int(np.searchsorted(FOLD_STARTS, number, side="right") - 1)


def _build(root: Path, limit: int | None = None) -> TaskData:
    folder = root / "bps_motif" / "csv_notes"
    files = sorted(folder.glob("*-1.csv"))
    if not files:
        raise FileNotFoundError(f"MNID: no csv notes under {folder}")
    pieces, skipped = [], []
    for path in files[:limit]:
        number = int(path.stem.split("-")[0])
        db_path = downbeats_file(root / "bps_fh" / "BPS_FH_Dataset" / str(number))
        if not db_path.is_file():
            skipped.append((str(path), f"downbeats missing: {db_path}"))
            continue
        with path.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if float(r["duration"]) > 0]
        onset = np.array([float(r["onset"]) for r in rows])
        dur = np.array([float(r["duration"]) for r in rows])
        pitch = np.array([int(r["midi_number"]) for r in rows])
        labels = np.array([2 if r["type"].strip() else 1 for r in rows], np.int64)
        keep, on_q, off_q = resize_to_bars(onset, dur, extend_downbeats(read_downbeats(db_path)))
        notes = note_array(on_q[keep], off_q[keep], pitch[keep])
        tokens, token_labels = tokens_with_labels(notes, labels[keep])
        pieces.append(Piece(path.stem, tokens, token_labels, fold=fold_of(number)))
    return TaskData(MNID, pieces, skipped)


MNID = TaskSpec("MNID", "motif note identification (BPS-motif)", "note", 3, "f1", "cv5", "bps_motif, bps_fh",
                build=_build, note="5-fold CV: sonatas 1-7, 8-14, 15-20, 21-26, 27-32")
