"""Fixtures shared by every package's tests.

Real data only: the shared datasets (via $SYMPHONIA_DATA, falling back to ../shared/data next to this checkout,
skipping with a reason when neither exists) and MIDI made from the music21 corpus that pip installs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent


def _data_root() -> Path | None:
    env = os.environ.get("SYMPHONIA_DATA")
    if env and Path(env).is_dir():
        return Path(env).resolve()
    sibling = REPO.parent / "shared" / "data"
    return sibling.resolve() if sibling.is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if root is None:
        pytest.skip("shared datasets absent: set SYMPHONIA_DATA (e.g. ../shared/data)")
    os.environ.setdefault("SYMPHONIA_DATA", str(root))
    return root


@pytest.fixture(scope="session")
def shared(data_root):
    """shared("pop909/POP909/001/001.mid") -> Path, skipping when that file or folder is missing."""

    def get(rel: str) -> Path:
        path = data_root / rel
        if not path.exists():
            pytest.skip(f"shared data file missing: {rel}")
        return path

    return get


@pytest.fixture(scope="session")
def reference_root() -> Path:
    ref = REPO.parent / "shared" / "reference"
    if not ref.is_dir():
        pytest.skip("reference outputs absent: ../shared/reference")
    return ref


@pytest.fixture(scope="session")
def m21_midis(tmp_path_factory) -> list[Path]:
    """A dozen MIDI files rendered from the music21 corpus (cached across runs in $SYMPHONIA_CACHE)."""
    from symcore.corpus import build_corpus

    corpus = build_corpus(limit=12)
    if not corpus.files:
        pytest.skip("music21 corpus produced no MIDI files")
    return list(corpus.files)
