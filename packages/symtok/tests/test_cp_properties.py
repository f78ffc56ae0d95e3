"""Invariants of CP tokens over random note sets (hypothesis), in both modes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from symcore.notes import NoteArray
from symtok.cp import CP_VOCAB_SIZES, CPTokenizer

TOKENIZERS = {"default": CPTokenizer(), "compat": CPTokenizer(compat=True, out_of_range="error"),
              "drop": CPTokenizer(out_of_range="drop"), "short": CPTokenizer(min_duration=0.25)}


@st.composite
def note_arrays(draw, pitch_lo=0, pitch_hi=127):
    n = draw(st.integers(0, 40))
    tpq = draw(st.sampled_from([96, 100, 384, 480, 960]))
    ints = lambda lo, hi: st.lists(st.integers(lo, hi), min_size=n, max_size=n)  # noqa: E731
    onset = np.array(draw(ints(0, 40 * tpq)), np.int64)
    duration = np.array(draw(ints(0, 10 * tpq)), np.int64)
    pitch = np.array(draw(ints(pitch_lo, pitch_hi)), np.int16)
    track = np.array(draw(ints(0, 3)), np.int16)
    return NoteArray(onset=onset, duration=duration, pitch=pitch, velocity=np.full(n, 64, np.int16), track=track,
                     program=np.zeros(n, np.int16), is_drum=np.zeros(n, bool), onset_sec=onset / tpq,
                     duration_sec=duration / tpq, tpq=tpq)


def _check_invariants(tokens: np.ndarray, index: np.ndarray, notes: NoteArray, tok: CPTokenizer):
    assert tokens.dtype == np.int64 and tokens.shape == (len(index), 4)
    assert ((tokens >= 0) & (tokens < np.asarray(CP_VOCAB_SIZES) - 2)).all()  # never PAD/MASK
    assert tokens.shape[0] == 0 or tokens[0, 0] == 0  # the first token opens a bar
    bar = np.cumsum(tokens[:, 0] == 0)
    assert (np.diff(bar) >= 0).all()
    same_bar = np.diff(bar) == 0
    assert (np.diff(tokens[:, 1])[same_bar] >= 0).all()  # positions non-decreasing within a bar
    # one token per kept note, each from a distinct note
    tpq = 480 if tok.compat else notes.tpq
    kept = notes.duration > 0
    if tok.min_duration:
        kept &= notes.duration * 4 >= tok.min_duration * 4 * tpq
    if tok.out_of_range == "drop":
        kept &= (notes.pitch >= 22) & (notes.pitch <= 107)
    assert sorted(index.tolist()) == np.flatnonzero(kept).tolist()
    inside = (notes.pitch[index] >= 22) & (notes.pitch[index] <= 107)
    np.testing.assert_array_equal(tokens[inside, 2] + 22, notes.pitch[index][inside])
    moved = notes.pitch[index][~inside]
    np.testing.assert_array_equal((tokens[~inside, 2] + 22) % 12, moved % 12)  # octave shifts keep the class


@settings(max_examples=60, deadline=None)
@given(note_arrays(), st.sampled_from(["default", "drop", "short"]))
def test_invariants(notes, name):
    tok = TOKENIZERS[name]
    tokens, index = tok.encode(notes, return_index=True)
    _check_invariants(tokens, index, notes, tok)


@settings(max_examples=60, deadline=None)
@given(note_arrays(pitch_lo=22, pitch_hi=107))
def test_invariants_compat(notes):
    tok = TOKENIZERS["compat"]
    tokens, index = tok.encode(notes, return_index=True)
    _check_invariants(tokens, index, notes, tok)
    # durations are binned from the unquantized length: within half a bin unless clipped at the ends
    d = notes.duration[index]
    err = np.abs((tokens[:, 3] + 1) * 60 - d)
    assert ((err <= 30) | (d < 60) | (d > 3840)).all()


@settings(max_examples=60, deadline=None)
@given(note_arrays())
def test_round_trip_default(notes):
    tok = TOKENIZERS["default"]
    tokens = tok.encode(notes)
    decoded = tok.decode(tokens)
    assert len(decoded) == len(tokens)
    np.testing.assert_array_equal(tok.encode(decoded), tokens)
    np.testing.assert_array_equal(tok.encode(decoded.sorted()), tokens)  # the NoteArray order is canonical too
