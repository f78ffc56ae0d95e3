"""MidiBERT's POP909 beat alignment (symtok.pop909) against their preprocessed files and CP words."""

from __future__ import annotations

import json

import numpy as np
import pytest
import symusic
from symcore.errors import MidiError
from symtok.cp import CPTokenizer, melody_labels, velocity_labels
from symtok.pop909 import align_pop909, aligned_pop909_notes

SONGS = ("001", "002", "100", "500", "909")


@pytest.fixture(scope="module")
def dirs(reference_root, data_root):
    ref = reference_root / "cp_tokens"
    pop = data_root / "pop909" / "POP909"
    if not (ref / "pop909_processed").is_dir() or not pop.is_dir():
        pytest.skip("needs ../shared/reference/cp_tokens/pop909_processed and ../shared/data/pop909")
    return ref, pop


def _events(pitch, ticks):
    return sorted(zip(np.asarray(pitch).tolist(), np.asarray(ticks).tolist()))


@pytest.mark.parametrize("song", SONGS)
def test_alignment_writes_midiberts_notes(dirs, song):
    """Note-on and note-off events per track equal those in MidiBERT's output file (pairing-independent)."""
    ref_root, pop = dirs
    mine = align_pop909(pop / song)
    ref = symusic.Score(str(ref_root / "pop909_processed" / f"{song}.mid"))
    assert mine.tpq == 480 and len(ref.tracks) == 3
    for t in range(3):
        n = ref.tracks[t].notes.numpy()
        sel = mine.track == t
        assert _events(mine.pitch[sel], mine.onset[sel]) == _events(n["pitch"], n["time"])
        assert _events(mine.pitch[sel], mine.offset[sel]) == _events(n["pitch"], n["time"] + n["duration"])


@pytest.mark.parametrize("song", SONGS)
def test_raw_pop909_to_midiberts_words_and_labels(dirs, song):
    ref_root, pop = dirs
    ref = json.loads((ref_root / f"pop909__{song}.json").read_text())
    notes = aligned_pop909_notes(pop / song)
    tokens, index = CPTokenizer(compat=True).encode(notes, return_index=True)
    np.testing.assert_array_equal(tokens, ref["words"])
    np.testing.assert_array_equal(melody_labels(notes.track[index]), ref["ys_melody"])
    np.testing.assert_array_equal(velocity_labels(notes.velocity[index]), ref["ys_velocity"])


def test_missing_beat_file_is_a_midi_error(dirs, tmp_path):
    _, pop = dirs
    song = tmp_path / "001"
    song.mkdir()
    (song / "001.mid").write_bytes((pop / "001" / "001.mid").read_bytes())
    with pytest.raises(MidiError, match="beat_audio.txt"):
        align_pop909(song)
