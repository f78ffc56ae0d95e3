"""ME (melody extraction) and VE (velocity estimation) on POP909, exactly as MidiBERT built them.

Each song is beat-aligned with MidiBERT's POP909 preprocessing (`symtok.pop909.aligned_pop909_notes`,
which reproduces their aligned MIDI) and tokenized by the MidiBERT-compatible CP tokenizer; labels are
track + 1 (vocal/melody 1, bridge 2, piano 3) and MidiBERT's six velocity bins. The splits are theirs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from symcore.errors import MidiError

from smcbench.tasks.base import Piece, TaskData, TaskSpec

VELOCITY_EDGES = np.array([0, 32, 48, 64, 80, 96, 128])


def velocity_class(velocity: np.ndarray) -> np.ndarray:
    """1..6 for 0-31, 32-47, 48-63, 64-79, 80-95, 96-127 (0 is pad)."""
    return np.searchsorted(VELOCITY_EDGES, velocity, side="right")


def _build(root: Path, spec: TaskSpec, kind: str, limit: int | None = None) -> TaskData:
    from symtok.cp import CPTokenizer
    from symtok.pop909 import aligned_pop909_notes

    split_file = root / "splits" / "pop909_split.json"
    if not split_file.is_file():
        raise FileNotFoundError(f"{spec.name}: split list missing: {split_file}")
    lists = json.loads(split_file.read_text())
    tok = CPTokenizer(compat=True)
    pieces, skipped = [], []
    for split in ("train", "valid", "test"):
        for fname in sorted(lists[f"{split}_data"])[:limit]:
            song = Path(fname).stem
            folder = root / "pop909" / "POP909" / song
            try:
                tokens, labels = tok.encode_with_labels(aligned_pop909_notes(folder))
            except (MidiError, OSError, ValueError) as exc:
                skipped.append((str(folder), str(exc)))
                continue
            pieces.append(Piece(song, tokens, labels[kind].astype(np.int64), split=split))
    return TaskData(spec, pieces, skipped)


ME = TaskSpec("ME", "melody extraction (POP909)", "note", 4, "acc", "fixed", "pop909, splits",
              build=lambda root, limit=None: _build(root, ME, "melody", limit),
              note="MidiBERT's beat alignment + compat CP (exact), 693/86/86 split")
VE = TaskSpec("VE", "velocity estimation (POP909)", "note", 7, "acc", "fixed", "pop909, splits",
              build=lambda root, limit=None: _build(root, VE, "velocity", limit),
              note="MidiBERT's beat alignment + compat CP (exact), 693/86/86 split")
