"""VF: violin fingering on TNUA (string x position x finger per note, 240 classes + ignore).

As in the original benchmark every piece is assumed to be 4/4 from its local beat 0 (no bar resizing), and a
note played on the open string (string 0) gets the ignore class 0. The split (from the SMC benchmark, after
Violin-Fingering-Generation-Through-Audio-Symbolic-Fusion) keeps players *and* excerpts disjoint: players 1-4
on excerpts 1-9 train, players 5-7 on excerpts 10-11 valid, players 8-10 on excerpts 12-14 test; the other
recordings are not used. The original's class formula is off by one for fingers (its classes run to 241 and
open strings are not all ignored); ours is the documented 240 + ignore.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from smcbench.tasks.base import Piece, TaskData, TaskSpec
from smcbench.tasks.notes import note_array, tokens_with_labels


def fingering_class(string: np.ndarray, position: np.ndarray, finger: np.ndarray) -> np.ndarray:
    """(string-1)*60 + (max(position,1)-1)*5 + finger + 1, and 0 (ignored) for string 0."""
    cls = (string - 1) * 60 + (np.maximum(position, 1) - 1) * 5 + finger + 1
    return np.where(string >= 1, cls, 0)


EXCERPTS = ["bach1", "bach2", "beeth1", "beeth2_1", "beeth2_2", "elgar", "flower", "mend1", "mend2", "mend3",
            "mozart1", "mozart2_1", "mozart2_2", "wind"]


def split_of(player: int, excerpt: str) -> str | None:
    """The cross-player, cross-excerpt split; None for recordings outside it."""
    k = EXCERPTS.index(excerpt) if excerpt in EXCERPTS else -1
    if 1 <= player <= 4 and 0 <= k <= 8:
        return "train"
    if 5 <= player <= 7 and 9 <= k <= 10:
        return "valid"
    if 8 <= player <= 10 and 11 <= k <= 13:
        return "test"
    return None


def _build(root: Path, limit: int | None = None) -> TaskData:
    folder = root / "tnua_violin" / "TNUA_violin_fingering_dataset"
    files = sorted(folder.glob("vio*_*.csv"))
    if not files:
        raise FileNotFoundError(f"VF: no vio*_*.csv under {folder}")
    pieces, skipped = [], []
    for path in files[:limit]:
        match = re.match(r"vio(\d+)_(.+)$", path.stem)
        split = split_of(int(match.group(1)), match.group(2)) if match else None
        if split is None:
            continue
        try:
            with path.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
            cols = {k: np.array([float(r[k]) for r in rows]) for k in ("pitch", "start", "duration", "string", "position", "finger")}
        except (KeyError, ValueError) as exc:
            skipped.append((str(path), f"unparseable row: {exc}"))
            continue
        if not rows:
            skipped.append((str(path), "no notes"))
            continue
        labels = fingering_class(cols["string"].astype(int), cols["position"].astype(int), cols["finger"].astype(int))
        shift = -min(0.0, float(cols["start"].min()))  # pickup beats are negative; the grid starts at the pickup bar
        shift = np.ceil(shift / 4.0) * 4.0
        notes = note_array(cols["start"] + shift, cols["start"] + shift + cols["duration"], cols["pitch"].astype(int))
        tokens, token_labels = tokens_with_labels(notes, labels)
        pieces.append(Piece(path.stem, tokens, token_labels, split=split))
    return TaskData(VF, pieces, skipped)


VF = TaskSpec("VF", "violin fingering (TNUA)", "note", 241, "acc", "fixed", "tnua_violin",
              build=_build, note="players 1-4 x excerpts 1-9 / 5-7 x 10-11 / 8-10 x 12-14; 4/4 from local beat 0"
)
