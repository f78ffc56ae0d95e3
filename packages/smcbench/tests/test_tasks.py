"""Task builders on the real datasets: labels aligned with tokens, class ranges, splits as specified."""

from __future__ import annotations

import numpy as np
import pytest
from smcbench.tasks import TASKS
from smcbench.tasks.beats import near, pseudo_beats
from smcbench.tasks.notes import extend_downbeats, resize_to_bars
from smcbench.tasks.pop909 import velocity_class
from smcbench.tasks.violin import fingering_class, split_of


def test_velocity_bins_match_midibert():
    v = np.array([0, 31, 32, 47, 48, 63, 64, 79, 80, 95, 96, 127])
    assert velocity_class(v).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]


def test_fingering_classes_cover_240_plus_ignore():
    s, p, f = np.meshgrid(np.arange(1, 5), np.arange(1, 13), np.arange(0, 5), indexing="ij")
    cls = fingering_class(s.ravel(), p.ravel(), f.ravel())
    assert sorted(cls.tolist()) == list(range(1, 241))
    assert fingering_class(np.array([0]), np.array([3]), np.array([2]))[0] == 0
    assert split_of(1, "bach1") == "train" and split_of(5, "mend3") == "valid" and split_of(9, "wind") == "test"
    assert split_of(1, "wind") is None and split_of(9, "bach1") is None


def test_resize_to_bars_stretches_each_bar_to_four_quarters():
    downbeats = extend_downbeats(np.array([0.0, 3.0, 6.0]))  # 3/4 -> -3, 0, 3, 6, 9
    keep, on, off = resize_to_bars(np.array([-1.0, 0.0, 1.5, 3.0, 20.0]), np.array([1.0, 3.0, 1.5, 1.0, 1.0]), downbeats)
    assert keep.tolist() == [True, True, True, True, False]
    np.testing.assert_allclose(on[:4], [4 * 2 / 3, 4.0, 6.0, 8.0])
    np.testing.assert_allclose(off[:4], [4.0, 8.0, 8.0, 8 + 4 / 3])


def test_beat_labels_within_70ms():
    assert near(np.array([0.93, 0.929, 1.07, 1.071]), np.array([1.0])).tolist() == [True, False, True, False]
    b, d = pseudo_beats(np.array([0.0, 0.1]), np.array([0.1, 0.1]))
    assert np.isclose(d[0] * 0.4, 0.1)  # 0.1 s doubled twice -> 0.4 s per pseudo-beat


@pytest.mark.data
@pytest.mark.parametrize("name,limit", [("ME", 3), ("VE", 3), ("ER", 8), ("VF", None), ("MNID", 4), ("BP", 3), ("DbP", 3), ("CR", 2), ("LK", 2), ("OTC", 2)])
def test_builders_on_real_data(data_root, name, limit):
    spec = TASKS[name]
    data = spec.build(data_root, limit=limit)
    assert data.pieces, f"{name}: no pieces built ({data.skipped[:3]})"
    for piece in data.pieces:
        assert piece.tokens.ndim == 2 and piece.tokens.shape[1] == 4 and len(piece.tokens) > 0
        if spec.level == "note":
            assert piece.labels.shape == (len(piece.tokens),)
            assert piece.labels.min() >= 0 and piece.labels.max() < spec.n_classes
        else:
            assert 0 <= piece.labels < spec.n_classes
    if spec.protocol == "fixed":
        assert {p.split for p in data.pieces} <= {"train", "valid", "test"}
    else:
        assert {p.fold for p in data.pieces} <= set(range(5))


@pytest.mark.data
def test_melody_labels_follow_tracks(shared, data_root):
    from symcore.notes import load_notes

    data = TASKS["ME"].build(data_root, limit=1)
    piece = data.pieces[0]
    notes = load_notes(shared(f"pop909/POP909/{piece.name}/{piece.name}.mid"))
    counts = np.bincount(piece.labels, minlength=4)[1:]
    expected = np.bincount([{"MELODY": 0, "BRIDGE": 1, "PIANO": 2}[notes.track_names[t]] for t in notes.track], minlength=3)
    # MidiBERT's alignment drops notes before the first beat and notes quantised to zero length, never relabels
    assert (counts <= expected).all() and counts.sum() >= 0.8 * expected.sum()


@pytest.mark.data
def test_melody_and_velocity_match_midibert_reference(data_root, reference_root):
    """The built task's tokens and labels for a reference song equal MidiBERT's own output."""
    import json

    me, ve = TASKS["ME"].build(data_root, limit=1), TASKS["VE"].build(data_root, limit=1)
    checked = 0
    for piece_me, piece_ve in zip(me.pieces, ve.pieces):
        ref_file = reference_root / "cp_tokens" / f"pop909__{piece_me.name}.json"
        if not ref_file.is_file():
            continue
        ref = json.loads(ref_file.read_text())
        assert piece_me.tokens.tolist() == ref["words"]
        assert piece_me.labels.tolist() == ref["ys_melody"] and piece_ve.labels.tolist() == ref["ys_velocity"]
        checked += 1
    assert checked >= 1, [p.name for p in me.pieces]


@pytest.mark.data
def test_when_in_rome_piece_labels(shared):
    """WTC I prelude 1: bar 1 is C: I, bar 2 ii4/2 (root D), bar 3 V6/5 (root G), all in C major; every note of a
    bar carries its bar's chord, and the score's bars line up with the analysis's."""
    from smcbench.tasks.harmony import label_notes
    from smcbench.tasks.spelling import KEY_ID, ROOT_ID
    from smcbench.tasks.wir import wir_piece

    folder = shared("when_in_rome/Corpus/Keyboard_Other/Bach,_Johann_Sebastian/The_Well-Tempered_Clavier_I/01")
    notes, downbeats, spans = wir_piece(folder)
    assert len(notes) > 500 and np.allclose(downbeats[:4], [0, 4, 8, 12])
    roots, _ = label_notes(notes[:, 0], spans, 0)
    keys, _ = label_notes(notes[:, 0], spans, 1)
    bar = (notes[:, 0] // 4).astype(int)
    for b, root in [(0, "C"), (1, "D"), (2, "G"), (3, "C")]:
        assert set(roots[bar == b]) == {ROOT_ID[root]}, b
    assert set(keys[bar < 4]) == {KEY_ID["C"]}
    again = wir_piece(folder)  # second call reads the parse cache: identical
    assert np.array_equal(again[0], notes) and again[2] == spans
