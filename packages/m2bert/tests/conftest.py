"""CP token arrays of real MIDI for the m2bert tests: POP909 when the shared data is there, else music21."""

import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def midi_files(request) -> list[Path]:
    root = os.environ.get("SYMPHONIA_DATA") or str(Path(__file__).resolve().parents[3].parent / "shared" / "data")
    pop = Path(root) / "pop909" / "POP909"
    if pop.is_dir():
        return [pop / f"{i:03d}" / f"{i:03d}.mid" for i in range(1, 7)]
    return request.getfixturevalue("m21_midis")[:6]


@pytest.fixture(scope="session")
def cp_arrays(midi_files) -> list[np.ndarray]:
    cp = pytest.importorskip("symtok.cp", reason="symtok.cp (CP tokenizer) not available yet")
    tok = cp.CPTokenizer()
    return [tok.encode_file(str(p)) for p in midi_files]
