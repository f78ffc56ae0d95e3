"""Where datasets and caches live: one setting each, never a hard-coded path in library code."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "SYMPHONIA_DATA"
CACHE_ENV = "SYMPHONIA_CACHE"


def data_root(override: str | Path | None = None) -> Path | None:
    """The dataset root: `override`, else $SYMPHONIA_DATA, else None (callers skip or explain)."""
    value = override if override is not None else os.environ.get(DATA_ENV)
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    return path if path.is_dir() else None


def require_data(name: str, override: str | Path | None = None) -> Path:
    """Path of dataset folder `name` under the data root, or a FileNotFoundError that says how to set it."""
    root = data_root(override)
    if root is None:
        raise FileNotFoundError(f"dataset {name!r}: no data root; set ${DATA_ENV} or pass --data-root")
    path = root / name
    if not path.exists():
        raise FileNotFoundError(f"dataset {name!r}: {path} does not exist")
    return path


def cache_root(override: str | Path | None = None) -> Path:
    """Cache directory (token caches, rendered audio, the music21 corpus): $SYMPHONIA_CACHE or ~/.cache/symphonia."""
    value = override or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "symphonia"
    path = Path(value).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
