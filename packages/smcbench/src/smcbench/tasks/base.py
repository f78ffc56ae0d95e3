"""What a task is: a spec (level, classes, metric, split protocol) plus the pieces it builds from raw data.

Labels are per token for note-level tasks (0 = pad / ignored, as in the original benchmark) and one int per
piece for sequence-level tasks. Pieces carry either a fixed split name or a fold number for 5-fold CV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

Level = Literal["note", "seq"]
Metric = Literal["acc", "f1", "macro_f1"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    """Short code used everywhere (ME, VE, ...)."""
    title: str
    """Human-readable name."""
    level: Level
    """'note': one label per token; 'seq': one label per segment."""
    n_classes: int
    """Output classes including the pad/ignore class 0 of note-level tasks."""
    metric: Metric
    """acc = accuracy over non-pad tokens/segments; f1 = F1 of the positive class; macro_f1."""
    protocol: Literal["fixed", "cv5"]
    """Fixed train/valid/test split, or 5-fold CV (fold k test, k+1 valid, rest train)."""
    source: str
    """Dataset folder(s) under the data root the builder reads."""
    build: Callable[[Path], TaskData] = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    """Builder: data root -> TaskData."""
    note: str = ""
    """Deviations from the original benchmark, stated where the result table can show them."""
    needs_data: bool = True
    """False for tasks built from the embedded music21 corpus (no data root needed)."""


@dataclass
class Piece:
    name: str
    tokens: np.ndarray  # (N, 4) int64 CP tokens
    labels: np.ndarray | int  # (N,) int64 for note-level tasks, int for sequence-level
    split: str | None = None  # "train" | "valid" | "test" for fixed protocols
    fold: int | None = None  # 0..4 for cv5


@dataclass
class TaskData:
    spec: TaskSpec
    pieces: list[Piece]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def split(self, fold: int = 0) -> dict[str, list[Piece]]:
        """Train/valid/test pieces; for cv5, fold k is test and fold (k+1) mod 5 is valid."""
        if self.spec.protocol == "fixed":
            return {s: [p for p in self.pieces if p.split == s] for s in ("train", "valid", "test")}
        valid = (fold + 1) % 5
        return {
            "train": [p for p in self.pieces if p.fold not in (fold, valid)],
            "valid": [p for p in self.pieces if p.fold == valid],
            "test": [p for p in self.pieces if p.fold == fold],
        }

    def counts(self) -> dict[str, int]:
        """Pieces and labelled tokens (note-level) per split, for `smcbench tasks`."""
        out: dict[str, int] = {"pieces": len(self.pieces), "skipped": len(self.skipped)}
        parts = self.split(0)
        for name, pieces in parts.items():
            out[f"{name}_pieces"] = len(pieces)
            if self.spec.level == "note":
                out[f"{name}_notes"] = int(sum((np.asarray(p.labels) > 0).sum() for p in pieces))
        return out
