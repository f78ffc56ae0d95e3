"""write_midi round trips: ticks, seconds, tracks, programs, drums, tempo/time/key maps; atomic writes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from symcore.errors import EmptyMidiError
from symcore.midi_write import to_score, write_midi
from symcore.notes import KEYSIG_DTYPE, NOTE_COLUMNS, TEMPO_DTYPE, TIMESIG_DTYPE, load_notes, notes_from_arrays


def _same(a, b):
    for col in NOTE_COLUMNS:
        if col.endswith("_sec"):
            np.testing.assert_allclose(getattr(a, col), getattr(b, col), atol=1e-6, err_msg=col)
        else:
            np.testing.assert_array_equal(getattr(a, col), getattr(b, col), err_msg=col)


def test_round_trip_real_file(shared, tmp_path):
    src = load_notes(shared("pop909/POP909/001/001.mid"))
    out = write_midi(src, tmp_path / "sub" / "copy.mid")
    back = load_notes(out)
    _same(src, back)
    assert back.track_names == src.track_names and back.tpq == src.tpq
    np.testing.assert_allclose(back.tempos["qpm"], src.tempos["qpm"], rtol=1e-6)
    assert np.array_equal(back.time_signatures, src.time_signatures)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["copy.mid"]  # no temporary left behind


def test_round_trip_multitrack_drums_and_maps(tmp_path):
    tempos = np.array([(0, 100.0), (960, 150.0)], TEMPO_DTYPE)
    ts = np.array([(0, 3, 4), (1440, 6, 8)], TIMESIG_DTYPE)
    notes = notes_from_arrays([0, 0, 480, 960, 2000], [480, 240, 480, 960, 10], [60, 36, 62, 40, 67],
                              [90, 100, 80, 70, 1], track=[0, 1, 0, 2, 0], program=[0, 0, 0, 33, 0],
                              is_drum=[False, True, False, False, False], tpq=240, tempos=tempos,
                              time_signatures=ts, track_names=("piano", "kit", "bass"))
    notes = replace(notes, key_signatures=np.array([(0, -2, 1)], KEYSIG_DTYPE))
    back = load_notes(write_midi(notes, tmp_path / "m.mid"))
    _same(notes, back)
    assert back.track_names == ("piano", "kit", "bass")
    assert back.key_signatures.tolist() == [(0, -2, 1)] and back.time_signatures.tolist() == ts.tolist()
    score = to_score(notes)
    assert [t.is_drum for t in score.tracks] == [False, True, False] and score.tracks[2].program == 33


def test_overwrite_and_empty(tmp_path):
    path = tmp_path / "x.mid"
    path.write_text("old")
    notes = notes_from_arrays([0], [480], [60])
    write_midi(notes, path)
    assert len(load_notes(path)) == 1
    write_midi(notes.select(np.zeros(1, bool)), path)  # a valid file with no notes
    with pytest.raises(EmptyMidiError):
        load_notes(path)
