"""MIDI loading, sustain folding, track selection, time windows and bad-input errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import symusic
from symcore.errors import EmptyMidiError, MidiError
from symcore.notes import (
    TEMPO_DTYPE,
    filter_programs,
    fold_sustain,
    load_notes,
    load_score,
    merge_tracks,
    notes_from_arrays,
    seconds_to_ticks,
    ticks_to_seconds,
    window,
)

POP = "pop909/POP909/001/001.mid"


def _score(tracks, tpq=480, tempos=((0, 120.0),)):
    """A symusic score from [(name, program, is_drum, [(time, dur, pitch, vel)], [(time, cc, value)])]."""
    s = symusic.Score(tpq)
    for name, program, drum, notes, ccs in tracks:
        t = symusic.Track(name, program=program, is_drum=drum)
        for n in notes:
            t.notes.append(symusic.Note(*n))
        for c in ccs:
            t.controls.append(symusic.ControlChange(*c))
        s.tracks.append(t)
    for tick, qpm in tempos:
        s.tempos.append(symusic.Tempo(tick, qpm))
    return s


def test_pop909_columns(shared):
    notes = load_notes(shared(POP))
    assert len(notes) > 1000 and notes.track_names == ("MELODY", "BRIDGE", "PIANO")
    order = np.lexsort((notes.pitch, notes.track, notes.onset))
    assert np.array_equal(order, np.arange(len(notes)))
    assert notes.pitch.min() >= 0 and notes.pitch.max() <= 127 and notes.velocity.min() >= 1
    qpm = notes.tempos["qpm"][0]
    assert len(notes.tempos) == 1 and notes.tempos["tick"][0] == 0
    np.testing.assert_allclose(notes.onset_sec, notes.onset / notes.tpq * 60 / qpm)
    np.testing.assert_allclose(notes.onset_quarter, notes.onset / notes.tpq)
    assert notes.path.endswith("001.mid")
    assert np.array_equal(load_notes(shared(POP).read_bytes()).onset, notes.onset)


def test_tempo_map_seconds(tmp_path):
    # 120 qpm for one quarter (0.5 s), then 60 qpm: tick 960 is 0.5 + 1.0 s
    s = _score([("p", 0, False, [(0, 480, 60, 90), (480, 480, 62, 90), (960, 240, 64, 90)], [])],
               tempos=((0, 120.0), (480, 60.0)))
    s.dump_midi(str(tmp_path / "t.mid"))
    notes = load_notes(tmp_path / "t.mid")
    np.testing.assert_allclose(notes.onset_sec, [0.0, 0.5, 1.5], atol=1e-6)
    np.testing.assert_allclose(notes.duration_sec, [0.5, 1.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(seconds_to_ticks(notes.onset_sec, notes.tempos, 480), [0, 480, 960], atol=1e-3)


def test_seconds_ticks_inverse():
    tempos = np.array([(0, 90.0), (1000, 150.0), (5000, 40.0)], TEMPO_DTYPE)
    ticks = np.array([0, 1, 999, 1000, 1001, 4999, 5000, 123456])
    np.testing.assert_allclose(seconds_to_ticks(ticks_to_seconds(ticks, tempos, 384), tempos, 384), ticks, atol=1e-6)


def test_fold_sustain_by_hand():
    onset = np.array([0, 0, 0, 700, 1000])
    offset = np.array([50, 150, 400, 800, 1200])
    # pedal down [100, 500) and [700, 900)
    out = fold_sustain(onset, offset, np.array([700, 100]), np.array([900, 500]))
    # released before the pedal; released while down (x2) -> pedal release; inside 2nd pedal; after it
    assert out.tolist() == [50, 500, 500, 900, 1200]


def test_fold_sustain_restrike_by_hand():
    onset = np.array([0, 200, 300, 0])
    offset = np.array([100, 250, 350, 40])  # E4 released before the pedal
    pitch = np.array([60, 60, 62, 64])
    ped_on, ped_off = np.array([50]), np.array([1000])
    assert fold_sustain(onset, offset, ped_on, ped_off).tolist() == [1000, 1000, 1000, 40]
    # C4 is struck again at 200: the first one stops there; the second rings to the release
    assert fold_sustain(onset, offset, ped_on, ped_off, pitch).tolist() == [200, 1000, 1000, 40]
    # a re-strike before the original release never shortens a note
    assert fold_sustain(np.array([0, 50]), np.array([120, 130]), ped_on, ped_off, np.array([60, 60])).tolist() == [
        120, 1000]


def test_sustain_from_cc64(tmp_path):
    notes = [(0, 240, 60, 80), (0, 960, 64, 80), (2000, 100, 67, 80)]
    ccs = [(100, 64, 127), (600, 64, 0)]  # pedal down 100..600
    _score([("p", 0, False, notes, ccs)]).dump_midi(str(tmp_path / "ped.mid"))
    plain = load_notes(tmp_path / "ped.mid")
    held = load_notes(tmp_path / "ped.mid", sustain=True)
    assert plain.duration.tolist() == [240, 960, 100]
    assert held.duration.tolist() == [600, 960, 100]  # the note released at 240 rings until 600
    np.testing.assert_allclose(held.duration_sec, [600 / 960, 1.0, 100 / 960])


def test_sustain_real_performance(shared):
    path = shared("asap/Haydn/Keyboard_Sonatas/6-1/ChenC01.mid")
    plain, held = load_notes(path), load_notes(path, sustain=True)
    assert np.array_equal(plain.onset, held.onset) and np.array_equal(plain.pitch, held.pitch)
    assert (held.duration >= plain.duration).all()
    assert (held.duration > plain.duration).mean() > 0.05  # a pedalled performance
    cut = load_notes(path, sustain="restrike")
    assert (cut.duration >= plain.duration).all() and (cut.duration <= held.duration).all()
    assert (cut.duration < held.duration).any()
    for notes in (plain, cut):  # restrike adds no same-key overlap that the performance did not have
        o = np.lexsort((notes.onset, notes.pitch))
        same = notes.pitch[o][1:] == notes.pitch[o][:-1]
        overl = same & (notes.offset[o][:-1] > notes.onset[o][1:])
        if notes is plain:
            base = overl.sum()
        else:
            assert overl.sum() <= base
    with pytest.raises(ValueError):
        load_notes(path, sustain="yes")


def test_merge_and_filter_programs():
    n = notes_from_arrays([0, 0, 10, 20], 10, [60, 40, 36, 62], track=[0, 1, 2, 1], program=[0, 33, 0, 33],
                          is_drum=[False, False, True, False], track_names=("piano", "bass", "drums"))
    m = merge_tracks(n, program=5)
    assert m.track_names == ("merged", "drums")
    assert m.track[~m.is_drum].tolist() == [0, 0, 0] and m.track[m.is_drum].tolist() == [1]
    assert (m.program[~m.is_drum] == 5).all() and len(m) == 4
    assert m.pitch.tolist() == [40, 60, 36, 62]  # re-sorted by (onset, track, pitch)
    assert len(merge_tracks(n, drums="drop")) == 3
    assert filter_programs(n, [33]).pitch.tolist() == [40, 36, 62]
    assert filter_programs(n, [33], drums=False).pitch.tolist() == [40, 62]
    assert filter_programs(n, drums=False).pitch.tolist() == [60, 40, 62]


def test_window_modes_by_hand():
    # 120 qpm, 480 tpq: 960 ticks per second. Notes (sec): [0,1) [0.5,1.5) [1.2,1.4) [1.8,2.6) [3,3.5)
    n = notes_from_arrays([0, 480, 1152, 1728, 2880], [960, 960, 192, 768, 480], [60, 61, 62, 63, 64])
    clip = window(n, 1.0, 2.0)
    assert clip.pitch.tolist() == [61, 62, 63]
    np.testing.assert_allclose(clip.onset_sec, [1.0, 1.2, 1.8])
    np.testing.assert_allclose(clip.offset_sec, [1.5, 1.4, 2.0])
    assert clip.onset.tolist() == [960, 1152, 1728] and clip.offset.tolist() == [1440, 1344, 1920]
    keep = window(n, 1.0, 2.0, crossing="keep")
    assert keep.pitch.tolist() == [62, 63] and keep.offset.tolist() == [1344, 2496]
    assert window(n, 1.0, 2.0, crossing="drop").pitch.tolist() == [62]
    shifted = window(n, 1.0, 2.0, shift=True)
    assert shifted.onset.tolist() == [0, 192, 768]
    np.testing.assert_allclose(shifted.onset_sec, [0.0, 0.2, 0.8])
    # the same window in ticks
    by_tick = window(n, 960, 1920, unit="tick")
    assert np.array_equal(by_tick.onset, clip.onset) and np.array_equal(by_tick.duration, clip.duration)
    with pytest.raises(ValueError):
        window(n, 0, 1, crossing="trim")


def test_window_shift_rebases_tempo_map(shared):
    notes = load_notes(shared(POP))
    w = window(notes, 30.0, 40.0, shift=True)
    assert w.onset_sec.min() >= 0 and w.offset_sec.max() <= 10.0 + 1e-9
    np.testing.assert_allclose(ticks_to_seconds(w.onset, w.tempos, w.tpq), w.onset_sec, atol=2e-3)


# ------------------------------------------------------------------------------------------ bad input
def test_zero_byte_and_text_and_missing(tmp_path):
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mid"
    text.write_text("this is not a MIDI file\n" * 10)
    for path, cause in ((empty, "0 bytes"), (text, "not a MIDI"), (tmp_path / "missing.mid", "not found")):
        with pytest.raises(MidiError) as info:
            load_notes(path)
        assert str(path) in str(info.value) and cause in str(info.value)
        assert not isinstance(info.value, EmptyMidiError)
    with pytest.raises(MidiError):
        load_notes(b"garbage bytes")


def test_valid_midi_without_notes(tmp_path):
    path = tmp_path / "silent.mid"
    _score([("p", 0, False, [], [(0, 64, 127)])]).dump_midi(str(path))
    with pytest.raises(EmptyMidiError) as info:
        load_notes(path)
    assert str(path) in str(info.value)
    notes = load_notes(path, allow_empty=True)
    assert len(notes) == 0 and notes.onset.dtype == np.int64 and notes.onset_sec.shape == (0,)


def _outcome(path):
    try:
        load_notes(path)
        return "ok"
    except EmptyMidiError:
        return "empty"
    except MidiError as exc:
        assert str(path) in str(exc)
        return "error"


def test_truncated_copies(shared, tmp_path):
    data = shared(POP).read_bytes()
    outcomes = []
    for i, cut in enumerate([4, 10, 14, 20, 23, 100, len(data) // 3, len(data) // 2, len(data) - 3]):
        path = tmp_path / f"cut{i}.mid"
        path.write_bytes(data[:cut])
        outcomes.append(_outcome(path))
    assert outcomes == ["error"] * len(outcomes)  # never a partial read passed off as the piece


def test_bit_flipped_copies(shared, tmp_path):
    data = bytearray(shared(POP).read_bytes())
    rng = random.Random(0)
    seen = set()
    for i in range(40):
        bad = bytearray(data)
        for _ in range(rng.choice([1, 4, 32])):
            pos = rng.randrange(len(bad))
            bad[pos] ^= 1 << rng.randrange(8)
        path = tmp_path / f"flip{i}.mid"
        path.write_bytes(bytes(bad))
        seen.add(_outcome(path))  # any other exception fails the test
    assert seen <= {"ok", "error", "empty"}


def test_damaged_header_fields(tmp_path, shared):
    data = bytearray(shared(POP).read_bytes())
    bad = bytearray(data)
    bad[8:14] = b"\x00\x01\x00\x03\x00\x00"  # division 0 ticks per quarter
    (tmp_path / "div0.mid").write_bytes(bytes(bad))
    assert _outcome(tmp_path / "div0.mid") == "error"
    bad = bytearray(data)
    bad[0:4] = b"MTrk"  # header chunk renamed
    (tmp_path / "hdr.mid").write_bytes(bytes(bad))
    with pytest.raises(MidiError):
        load_score(tmp_path / "hdr.mid")
