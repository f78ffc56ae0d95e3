"""CPTokenizer behaviour: hand-computed quirks (compat) and their fixes (default), decode, errors, the token cache."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from symcore.errors import EmptyMidiError, MidiError
from symcore.notes import NoteArray, load_notes
from symtok.cache import TokenCache, build_cache
from symtok.cp import CP_VOCAB_SIZES, CPTokenizer


def make_notes(onset, duration, pitch, track=None, tpq=480, velocity=None, path="hand.mid") -> NoteArray:
    onset, duration = np.asarray(onset, np.int64), np.asarray(duration, np.int64)
    n = len(onset)
    return NoteArray(
        onset=onset, duration=duration, pitch=np.asarray(pitch, np.int16),
        velocity=np.full(n, 80, np.int16) if velocity is None else np.asarray(velocity, np.int16),
        track=np.zeros(n, np.int16) if track is None else np.asarray(track, np.int16),
        program=np.zeros(n, np.int16), is_drum=np.zeros(n, bool), onset_sec=onset / tpq / 2,
        duration_sec=duration / tpq / 2, tpq=tpq, path=path,
    )


COMPAT, DEFAULT = CPTokenizer(compat=True), CPTokenizer()


def test_compat_grid_excludes_the_last_onset_and_rounds_ties_down():
    notes = make_notes([0, 60, 61, 180, 1920], [480] * 5, [60, 61, 62, 63, 64])
    tok = COMPAT.encode(notes)
    # 60 is a tie between 0 and 120 -> 0; 61 -> 120; 180 tie -> 120; the last onset 1920 is not on the
    # grid arange(0, 1920, 120), so it moves back to 1800: bar 0, position 16/16
    assert tok[:, 1].tolist() == [0, 0, 1, 1, 15]
    assert tok[:, 0].tolist() == [0, 1, 1, 1, 1]
    fixed = DEFAULT.encode(notes)  # half up, last onset kept: 60 -> 120, 180 -> 240, 1920 = bar 1
    assert fixed[:, 1].tolist() == [0, 1, 1, 2, 0] and fixed[:, 0].tolist() == [0, 1, 1, 1, 0]


def test_compat_duration_bins_ties_low_and_clip():
    notes = make_notes([0, 0, 0, 0, 0, 0, 1000], [1, 90, 91, 150, 3810, 9999, 60], [60, 61, 62, 63, 64, 65, 66])
    assert COMPAT.encode(notes)[:6, 3].tolist() == [0, 0, 1, 1, 62, 63]
    assert DEFAULT.encode(notes)[:6, 3].tolist() == [0, 1, 1, 2, 63, 63]  # half up: 90 -> 120, 150 -> 180


def test_compat_ignores_tpq_default_uses_it():
    notes = make_notes([0, 384, 384 * 4], [384, 384, 384], [60, 62, 64], tpq=384)
    compat = COMPAT.encode(notes)
    assert compat[:, 1].tolist() == [0, 3, 12]  # 384/120 = 3.2 -> 3; the last onset 1536 moves back to 1440
    assert compat[:, 3].tolist() == [5, 5, 5]  # 384 ticks -> bin of 360 (6 * 60)
    fixed = DEFAULT.encode(notes)
    assert fixed.tolist() == [[0, 0, 38, 7], [1, 4, 40, 7], [0, 0, 42, 7]]  # quarter = 8/32 -> bin 7


def test_empty_bars_produce_no_token_and_decode_closes_them():
    notes = make_notes([0, 5 * 1920 + 240], [240, 240], [60, 60])
    tok = DEFAULT.encode(notes)
    assert tok.tolist() == [[0, 0, 38, 3], [0, 2, 38, 3]]
    back = DEFAULT.decode(tok)
    assert back.onset.tolist() == [0, 1920 + 240] and back.duration.tolist() == [240, 240]


def test_order_within_a_position():
    # raw onsets 10 (pitch 70, track 1) and 20 (pitch 50, track 0) share quantized position 0
    notes = make_notes([10, 20, 960], [100, 100, 100], [70, 50, 60], track=[1, 0, 0])
    tok, idx = COMPAT.encode(notes, return_index=True)
    assert idx.tolist() == [0, 1, 2]  # MidiBERT keeps the raw start order after quantizing
    tok, idx = DEFAULT.encode(notes, return_index=True)
    assert idx.tolist() == [1, 0, 2] and tok[:2, 2].tolist() == [28, 48]  # default: by pitch


def test_zero_length_notes_are_dropped_and_index_points_at_sources():
    notes = make_notes([0, 0, 480, 960], [0, 240, 0, 240], [60, 61, 62, 63], velocity=[10, 40, 70, 100])
    for tok in (COMPAT, DEFAULT):
        tokens, idx = tok.encode(notes, return_index=True)
        assert idx.tolist() == [1, 3] and (tokens[:, 2] + 22).tolist() == [61, 63]
        _, labels = tok.encode_with_labels(notes)
        assert labels["velocity"].tolist() == [2, 6] and labels["melody"].tolist() == [1, 1]


def test_min_duration_drops_short_notes():
    notes = make_notes([0, 0, 0], [60, 119, 120], [60, 61, 62])
    tokens, idx = CPTokenizer(min_duration=0.25).encode(notes, return_index=True)
    assert idx.tolist() == [2]


def test_out_of_range_pitches():
    notes = make_notes([0, 0, 0, 480], [240] * 4, [21, 60, 108, 127], path="low_high.mid")
    assert (DEFAULT.encode(notes)[:, 2] + 22).tolist() == [33, 60, 96, 103]  # octave shifts into 22..107
    tokens, idx = CPTokenizer(out_of_range="drop").encode(notes, return_index=True)
    assert idx.tolist() == [1]
    for tok in (COMPAT, CPTokenizer(out_of_range="error")):
        with pytest.raises(MidiError, match=r"low_high\.mid.*pitch 21, 108, 127"):
            tok.encode(notes)
    with pytest.raises(ValueError, match="out_of_range"):
        CPTokenizer(out_of_range="clip")


def test_all_notes_at_tick_zero_compat():
    # MidiBERT raises ValueError here (argmin over an empty grid); we keep the chord at position 1
    tok = COMPAT.encode(make_notes([0, 0], [480, 480], [60, 64]))
    assert tok.tolist() == [[0, 0, 38, 7], [1, 0, 42, 7]]


def test_empty_input_and_decode_of_special_rows():
    assert DEFAULT.encode(make_notes([], [], [])).shape == (0, 4)
    tokens = np.array([[0, 3, 38, 7], [2, 16, 86, 64], [1, 17, 40, 7], [1, 4, 40, 3]])
    notes = DEFAULT.decode(tokens)  # PAD row and the row holding a MASK id carry no note
    assert notes.onset.tolist() == [360, 480] and notes.pitch.tolist() == [60, 62]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        DEFAULT.decode(np.array([[0, 18, 0, 0]]))
    assert DEFAULT.decode(np.array([[1, 2, 0, 0], [0, 0, 0, 0]])).onset.tolist() == [240, 1920]


def test_encode_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    for tok in (DEFAULT, COMPAT):
        with pytest.raises(MidiError, match="bad.mid"):
            tok.encode_file(bad)
        with pytest.raises(MidiError, match="missing.mid"):
            tok.encode_file(tmp_path / "missing.mid")


def test_empty_midi_file_is_empty_midi_error(tmp_path):
    import symusic

    path = tmp_path / "empty.mid"
    symusic.Score(480).dump_midi(str(path))
    for tok in (DEFAULT, COMPAT):
        with pytest.raises(EmptyMidiError):
            tok.encode_file(path)


def test_tokenizer_is_a_picklable_cache_encoder(m21_midis, tmp_path):
    files = m21_midis[:3]
    tok = pickle.loads(pickle.dumps(CPTokenizer(compat=True)))
    assert tok.compat and tok.cache_key != CPTokenizer().cache_key
    cache = build_cache(files, CPTokenizer(), tmp_path / "c", workers=0, progress=False)
    assert len(cache) == 3 and not cache.failed
    for i, f in enumerate(files):
        np.testing.assert_array_equal(cache[i], CPTokenizer().encode_file(f))
    TokenCache(tmp_path / "c", encoder=CPTokenizer())
    with pytest.raises(Exception, match="rebuild"):
        TokenCache(tmp_path / "c", encoder=CPTokenizer(compat=True))


def test_music21_files_round_trip(m21_midis):
    _round_trip(m21_midis[:6])


def test_pop909_and_asap_files_round_trip(data_root):
    files = [data_root / f"pop909/POP909/{i:03d}/{i:03d}.mid" for i in (1, 2, 3)]
    files += sorted((data_root / "asap/Chopin/Etudes_op_10").rglob("*.mid"))[:3]
    files = [f for f in files if f.is_file()]
    if not files:
        pytest.skip("no POP909/ASAP files under the shared data")
    _round_trip(files)


def _round_trip(files):
    """Default mode: one token per kept note, ids in range, pitches kept, encode(decode(t)) == t."""
    for f in files:
        notes = load_notes(f)
        tokens, idx = DEFAULT.encode(notes, return_index=True)
        kept = (notes.duration > 0).sum()
        assert len(tokens) == kept > 0, f
        assert ((tokens >= 0) & (tokens < np.asarray(CP_VOCAB_SIZES) - 2)).all(), f
        np.testing.assert_array_equal(DEFAULT.encode(DEFAULT.decode(tokens)), tokens, err_msg=str(f))
        in_range = (notes.pitch[idx] >= 22) & (notes.pitch[idx] <= 107)
        np.testing.assert_array_equal(tokens[in_range, 2] + 22, notes.pitch[idx][in_range])
        try:
            compat = COMPAT.encode_file(f)
        except MidiError as exc:  # MidiBERT cannot encode pitches outside 22..107
            assert "outside the CP vocabulary" in str(exc)
            continue
        assert len(compat) == len(COMPAT.load(f))
