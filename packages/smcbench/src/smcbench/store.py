"""Build a task once, keep it as a plain .npz (no pickles) keyed by task, builder version and data root."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from symcore.atomic import atomic_path
from symcore.paths import cache_root, data_root

from smcbench.tasks import Piece, TaskData, get_task

VERSION = "4"  # bump when a builder's output changes


def _key(name: str, root: Path, limit: int | None) -> str:
    h = hashlib.sha1(f"{name}|{root}|{limit}|{VERSION}".encode()).hexdigest()[:12]
    return f"{name}-{h}.npz"


def load_task(name: str, root: str | Path | None = None, *, limit: int | None = None, cache: bool = True) -> TaskData:
    """TaskData for `name` from the data root (built on first use, then read from the cache)."""
    spec = get_task(name)
    base = data_root(root) if spec.needs_data else Path("embedded")
    if base is None:
        raise FileNotFoundError(f"{spec.name}: no data root; set $SYMPHONIA_DATA or pass --data-root")
    path = cache_root() / "smcbench" / _key(spec.name, base, limit)
    if cache and path.is_file():
        return _read(spec, path)
    data = spec.build(base, limit=limit) if limit is not None else spec.build(base)
    if cache:
        _write(data, path)
    return data


def _write(data: TaskData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(p.tokens) for p in data.pieces], np.int64)
    note_level = data.spec.level == "note"
    arrays = {
        "names": np.array([p.name for p in data.pieces], dtype=str),
        "lengths": lengths,
        "tokens": np.concatenate([p.tokens for p in data.pieces]) if data.pieces else np.zeros((0, 4), np.int64),
        "labels": (np.concatenate([p.labels for p in data.pieces]) if note_level and data.pieces
                   else np.array([p.labels for p in data.pieces] if not note_level else [], np.int64)),
        "splits": np.array([p.split or "" for p in data.pieces], dtype=str),
        "folds": np.array([-1 if p.fold is None else p.fold for p in data.pieces], np.int64),
        "skipped": np.array([f"{f}\t{r}" for f, r in data.skipped], dtype=str),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _read(spec, path: Path) -> TaskData:
    with np.load(path, allow_pickle=False) as npz:
        z = {k: npz[k] for k in npz.files}  # each npz[k] access re-reads the member: read every array once
    bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
    pieces = []
    for i, name in enumerate(z["names"]):
        toks = z["tokens"][bounds[i]: bounds[i + 1]]
        labels = z["labels"][bounds[i]: bounds[i + 1]] if spec.level == "note" else int(z["labels"][i])
        pieces.append(Piece(str(name), toks, labels, split=str(z["splits"][i]) or None,
                            fold=None if z["folds"][i] < 0 else int(z["folds"][i])))
    skipped = [tuple(s.split("\t", 1)) for s in z["skipped"]]
    return TaskData(spec, pieces, skipped)
