"""Augmentation: hand cases plus Hypothesis properties over random note arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from symcore.augment import shift_velocity, stretch_tempo, transpose
from symcore.notes import TEMPO_DTYPE, NoteArray, load_notes, notes_from_arrays, ticks_to_seconds


@st.composite
def note_arrays(draw, max_notes=40):
    n = draw(st.integers(0, max_notes))
    ints = lambda lo, hi: st.lists(st.integers(lo, hi), min_size=n, max_size=n)  # noqa: E731
    tempo_ticks = sorted(set(draw(st.lists(st.integers(1, 20000), max_size=3))))
    tempos = np.array([(0, draw(st.floats(30, 240)))] + [(t, draw(st.floats(30, 240))) for t in tempo_ticks],
                      TEMPO_DTYPE)
    return notes_from_arrays(
        draw(ints(0, 20000)), draw(ints(0, 2000)), draw(ints(0, 127)), draw(ints(1, 127)),
        track=draw(ints(0, 2)), is_drum=draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        tpq=draw(st.sampled_from([96, 384, 480])), tempos=tempos,
    )


def _consistent(notes: NoteArray):
    np.testing.assert_allclose(notes.onset_sec, ticks_to_seconds(notes.onset, notes.tempos, notes.tpq), atol=1e-9)
    np.testing.assert_allclose(notes.offset_sec, ticks_to_seconds(notes.offset, notes.tempos, notes.tpq), atol=1e-9)
    order = np.lexsort((notes.pitch, notes.track, notes.onset))
    assert np.array_equal(order, np.arange(len(notes)))


@settings(max_examples=60, deadline=None)
@given(note_arrays(), st.integers(-24, 24))
def test_transpose_properties(notes, k):
    clipped = transpose(notes, k, out_of_range="clip")
    assert len(clipped) == len(notes)
    assert clipped.pitch.min(initial=0) >= 0 and clipped.pitch.max(initial=0) <= 127
    dropped = transpose(notes, k, out_of_range="drop")
    fits = notes.is_drum | ((notes.pitch + k >= 0) & (notes.pitch + k <= 127))
    assert len(dropped) == int(fits.sum())
    # drums unchanged, pitched notes shifted exactly (compare as multisets: order may change)
    assert sorted(dropped.pitch[dropped.is_drum]) == sorted(notes.pitch[notes.is_drum])
    assert sorted(dropped.pitch[~dropped.is_drum]) == sorted((notes.pitch[fits & ~notes.is_drum] + k).tolist())
    _consistent(dropped)
    if fits.all():
        back = transpose(transpose(notes, k, out_of_range="error"), -k, out_of_range="error")
        assert np.array_equal(back.pitch, notes.pitch) and np.array_equal(back.onset, notes.onset)
    else:
        with pytest.raises(ValueError, match="outside"):
            transpose(notes, k, out_of_range="error")


def test_transpose_by_hand():
    n = notes_from_arrays([0, 0, 0], 10, [2, 60, 125], is_drum=[False, False, False])
    assert transpose(n, -3).pitch.tolist() == [57, 122]
    assert transpose(n, 5, out_of_range="clip").pitch.tolist() == [7, 65, 127]
    assert transpose(n, 5, out_of_range="drop", lo=21, hi=108).pitch.tolist() == [65]
    with pytest.raises(ValueError):
        transpose(n, 1, out_of_range="wrap")


@settings(max_examples=60, deadline=None)
@given(note_arrays(), st.floats(0.5, 2.0))
def test_stretch_properties(notes, f):
    s = stretch_tempo(notes, f)
    _consistent(s)
    assert len(s) == len(notes)
    # seconds scale by f up to half a tick of rounding at the slowest tempo
    tol = 0.51 * 60 / (notes.tempos["qpm"].min() * notes.tpq) * 2 + 1e-9
    np.testing.assert_allclose(np.sort(s.onset_sec), np.sort(notes.onset_sec * f), atol=tol)
    assert (s.duration > 0).sum() == (notes.duration > 0).sum()  # re-sorting may reorder rounded-together onsets
    k = stretch_tempo(notes, f, keep_ticks=True)
    assert np.array_equal(k.onset, notes.onset) and np.array_equal(k.duration, notes.duration)
    np.testing.assert_allclose(k.onset_sec, notes.onset_sec * f, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(k.duration_sec, notes.duration_sec * f, rtol=1e-9, atol=1e-9)


def test_stretch_real_file(shared):
    notes = load_notes(shared("pop909/POP909/001/001.mid"))
    s = stretch_tempo(notes, 1.25)
    assert s.tempos["tick"].tolist() == [0] and s.onset[-1] == round(notes.onset[-1] * 1.25)
    assert s.offset_sec.max() == pytest.approx(notes.offset_sec.max() * 1.25, rel=1e-4)
    with pytest.raises(ValueError):
        stretch_tempo(notes, 0)


@settings(max_examples=60, deadline=None)
@given(note_arrays(), st.integers(-130, 130), st.integers(1, 60), st.integers(61, 127))
def test_velocity_properties(notes, d, lo, hi):
    v = shift_velocity(notes, d, lo=lo, hi=hi)
    assert np.array_equal(v.velocity, np.clip(notes.velocity.astype(int) + d, lo, hi))
    assert np.array_equal(v.onset, notes.onset) and np.array_equal(v.pitch, notes.pitch)


def test_velocity_per_note_and_bounds():
    n = notes_from_arrays([0, 1, 2], 10, [60, 61, 62], [1, 64, 127])
    assert shift_velocity(n, [-5, 10, 5]).velocity.tolist() == [1, 74, 127]
    with pytest.raises(ValueError):
        shift_velocity(n, 1, lo=0, hi=200)
