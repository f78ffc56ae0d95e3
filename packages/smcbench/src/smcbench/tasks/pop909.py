"""ME (melody extraction) and VE (velocity estimation) on POP909.

Deviation from MidiBERT: they beat-align POP909 with their own preprocessing before CP; we tokenize the raw
files (whose MIDI grid is already beat-aligned in ticks) with the default CP tokenizer. Splits are theirs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from symcore.errors import MidiError
from symcore.notes import load_notes

from smcbench.tasks.base import Piece, TaskData, TaskSpec
from smcbench.tasks.notes import tokens_with_labels

TRACK_LABEL = {"MELODY": 1, "BRIDGE": 2, "PIANO": 3}
VELOCITY_EDGES = np.array([0, 32, 48, 64, 80, 96, 128])


def velocity_class(velocity: np.ndarray) -> np.ndarray:
    """1..6 for 0-31, 32-47, 48-63, 64-79, 80-95, 96-127 (0 is pad)."""
    return np.searchsorted(VELOCITY_EDGES, velocity, side="right")


def _build(root: Path, spec: TaskSpec, kind: str, limit: int | None = None) -> TaskData:
    split_file = root / "splits" / "pop909_split.json"
    if not split_file.is_file():
        raise FileNotFoundError(f"{spec.name}: split list missing: {split_file}")
    lists = json.loads(split_file.read_text())
    pieces, skipped = [], []
    for split in ("train", "valid", "test"):
        names = sorted(lists[f"{split}_data"])[: limit]
        for fname in names:
            song = Path(fname).stem
            path = root / "pop909" / "POP909" / song / f"{song}.mid"
            try:
                notes = load_notes(path)
            except (MidiError, OSError) as exc:
                skipped.append((str(path), str(exc)))
                continue
            names_ = [notes.track_names[t].upper() for t in notes.track]
            if kind == "melody":
                unknown = {n for n in names_ if n not in TRACK_LABEL}
                if unknown:
                    skipped.append((str(path), f"unexpected track names {sorted(unknown)}"))
                    continue
                labels = np.array([TRACK_LABEL[n] for n in names_], np.int64)
            else:
                labels = velocity_class(notes.velocity)
            tokens, token_labels = tokens_with_labels(notes, labels)
            pieces.append(Piece(song, tokens, token_labels, split=split))
    return TaskData(spec, pieces, skipped)


ME = TaskSpec("ME", "melody extraction (POP909)", "note", 4, "acc", "fixed", "pop909, splits",
              build=lambda root, limit=None: _build(root, ME, "melody", limit),
              note="raw POP909 files, MidiBERT's 693/86/86 split")
VE = TaskSpec("VE", "velocity estimation (POP909)", "note", 7, "acc", "fixed", "pop909, splits",
              build=lambda root, limit=None: _build(root, VE, "velocity", limit),
              note="raw POP909 files, MidiBERT's 693/86/86 split")
