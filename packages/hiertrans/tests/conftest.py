"""Fixtures: small real MIDI written with symusic and rendered with FluidSynth (skips when it is absent)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def write_midi(path: Path, notes: list[tuple[float, float, int, int]], pedal: list[tuple[float, float]] = ()) -> Path:
    """notes: (onset s, offset s, pitch, velocity) at 120 qpm, tpq 500 (1 tick = 1 ms)."""
    import symusic

    score = symusic.Score(500)
    score.tempos.append(symusic.Tempo(0, 120.0))
    tr = symusic.Track("piano", 0, False)
    for on, off, p, v in notes:
        tr.notes.append(symusic.Note(int(on * 1000), int((off - on) * 1000), p, v))
    for a, b in pedal:
        tr.controls.append(symusic.ControlChange(int(a * 1000), 64, 127))
        tr.controls.append(symusic.ControlChange(int(b * 1000), 64, 0))
    score.tracks.append(tr)
    score.dump_midi(str(path))
    return path


@pytest.fixture
def midi_writer():
    return write_midi


@pytest.fixture
def need_fluidsynth():
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth not installed")
    from hiertrans.audio import find_soundfont

    try:
        find_soundfont("TimGM6mb.sf2")
    except FileNotFoundError as err:
        pytest.skip(str(err))


@pytest.fixture
def scale_midi(tmp_path) -> Path:
    """A C-major scale and a chord over ~12 s (crosses a segment boundary), with one pedalled note."""
    notes = [(0.5 + 0.5 * i, 0.9 + 0.5 * i, 60 + p, 60 + 5 * i) for i, p in enumerate([0, 2, 4, 5, 7, 9, 11, 12])]
    notes += [(6.0, 7.0, 48, 90), (6.0, 7.0, 55, 90), (9.5, 11.5, 64, 80)]
    return write_midi(tmp_path / "scale.mid", notes, pedal=[(6.5, 8.0)])
