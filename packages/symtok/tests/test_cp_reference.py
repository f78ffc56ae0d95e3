"""CPTokenizer(compat=True) against the outputs of MidiBERT's own pipeline (../shared/reference/cp_tokens)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from symcore.notes import load_notes
from symtok.cp import CP_MASK, CP_PAD, CPTokenizer, melody_labels, token_events, velocity_labels, vocab, word2event
from symtok.cp_compat import load_notes_midibert

CP = CPTokenizer(compat=True)


@pytest.fixture(scope="module")
def cp_ref(reference_root) -> Path:
    root = reference_root / "cp_tokens"
    if not (root / "cp_dict.json").is_file():
        pytest.skip(f"CP reference outputs not found in {root}")
    return root


def _references(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*__*.json"))


def _source(root: Path, ref: dict, name: str) -> Path:
    """MidiBERT tokenized POP909 after its own preprocessing: those MIDIs ship next to the references."""
    if name.startswith("pop909__"):
        return root / "pop909_processed" / f"{ref['song']}.mid"
    src = root.parents[1] / "data" / ref["source_midi"]
    if not src.is_file():
        pytest.skip(f"shared data file {src} not found")
    return src


def test_vocabulary_is_midiberts_cp_dict(cp_ref):
    ref = json.loads((cp_ref / "cp_dict.json").read_text())
    assert vocab() == ref["event2word"]
    assert {f: {str(i): w for i, w in m.items()} for f, m in word2event().items()} == ref["word2event"]
    assert list(CP_PAD) == ref["pad_word"]
    assert list(CP_MASK) == [v[f"{f} <MASK>"] for f, v in ref["event2word"].items()]


def test_every_reference_file_is_reproduced_exactly(cp_ref):
    files = _references(cp_ref)
    assert len(files) >= 16
    for f in files:
        ref = json.loads(f.read_text())
        notes = CP.load(_source(cp_ref, ref, f.name))
        tokens, index = CP.encode(notes, return_index=True)
        np.testing.assert_array_equal(tokens, np.array(ref["words"]), err_msg=f.name)
        assert token_events(tokens[:20]) == ref["events_first20"], f.name
        if "ys_melody" in ref:
            np.testing.assert_array_equal(melody_labels(notes.track[index]), ref["ys_melody"], err_msg=f.name)
            np.testing.assert_array_equal(velocity_labels(notes.velocity[index]), ref["ys_velocity"], err_msg=f.name)
        counts = [int((notes.track == t).sum()) for t in range(int(notes.track.max()) + 1)]
        assert counts == [n for _, _, n in ref["cp_input_info"]["instruments"]], f.name


def test_encode_file_and_labels_helper(cp_ref):
    ref = json.loads((cp_ref / "pop909__100.json").read_text())
    src = _source(cp_ref, ref, "pop909__100.json")
    np.testing.assert_array_equal(CP.encode_file(src), ref["words"])
    tokens, labels = CP.encode_with_labels(CP.load(src))
    np.testing.assert_array_equal(labels["melody"], ref["ys_melody"])
    np.testing.assert_array_equal(labels["velocity"], ref["ys_velocity"])


# Notes parsed by symusic (first-in first-out note pairing) instead of miditoolkit 0.1.14: the only differences
# are durations of notes overlapping another note of the same pitch in the same track (quirk 11).
SYMUSIC_DIFFS = {"pop909__100.json": 6, "pop909__500.json": 2}


def test_symusic_notes_differ_only_where_same_pitch_notes_overlap(cp_ref):
    for f in _references(cp_ref):
        ref = json.loads(f.read_text())
        notes = load_notes(_source(cp_ref, ref, f.name))
        tokens, index = CP.encode(notes, return_index=True)
        words = np.array(ref["words"])
        assert tokens.shape == words.shape, f.name  # zero-length notes (7 in asap midi_score) are dropped
        rows = np.flatnonzero((tokens != words).any(axis=1))
        assert len(rows) == SYMUSIC_DIFFS.get(f.name, 0), f.name
        np.testing.assert_array_equal(tokens[:, :3], words[:, :3], err_msg=f.name)
        for r in rows:
            i = index[r]
            same = (notes.pitch == notes.pitch[i]) & (notes.track == notes.track[i])
            overlap = same & (notes.onset < notes.offset[i]) & (notes.offset > notes.onset[i])
            assert overlap.sum() >= 2, f"{f.name} row {r}: differs without an overlapping same-pitch note"


def test_midi_score_has_zero_length_notes_that_midibert_never_saw(cp_ref):
    ref = json.loads((cp_ref / "asap__Bach__Fugue__bwv_846__midi_score.json").read_text())
    src = _source(cp_ref, ref, "asap__Bach__Fugue__bwv_846__midi_score.json")
    sym = load_notes(src)
    assert int((sym.duration == 0).sum()) == 7 and len(sym) == ref["n_words"] + 7
    assert len(load_notes_midibert(src)) == ref["n_words"]
