"""ER: emotion recognition on EMOPIA clips; the quadrant is the file-name prefix (Q1..Q4 -> 0..3)."""

from __future__ import annotations

import json
from pathlib import Path

from symcore.errors import MidiError
from symcore.notes import load_notes

from smcbench.tasks.base import Piece, TaskData, TaskSpec
from smcbench.tasks.notes import tokens_with_labels

QUADRANTS = {"Q1": 0, "Q2": 1, "Q3": 2, "Q4": 3}


def _build(root: Path, limit: int | None = None) -> TaskData:
    from symtok.cp import CPTokenizer

    tok = CPTokenizer()
    pieces, skipped = [], []
    for split in ("train", "valid", "test"):
        split_file = root / "splits" / f"emopia_{split}.json"
        if not split_file.is_file():
            raise FileNotFoundError(f"ER: split list missing: {split_file}")
        for fname in sorted(json.loads(split_file.read_text()))[:limit]:
            path = root / "emopia" / "midis" / fname
            quadrant = fname.split("_")[0]
            if quadrant not in QUADRANTS:
                skipped.append((str(path), f"no quadrant prefix in file name {fname!r}"))
                continue
            try:
                notes = load_notes(path)
            except (MidiError, OSError) as exc:
                skipped.append((str(path), str(exc)))
                continue
            tokens, _ = tokens_with_labels(notes, notes.pitch, tok)
            pieces.append(Piece(Path(fname).stem, tokens, QUADRANTS[quadrant], split=split))
    return TaskData(ER, pieces, skipped)


ER = TaskSpec("ER", "emotion recognition (EMOPIA)", "seq", 4, "acc", "fixed", "emopia, splits",
              build=_build, note="MidiBERT's EMOPIA train/valid/test lists")
