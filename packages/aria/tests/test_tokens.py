"""Model-side id helpers (slices, prompts, onsets, `<D>`, kind table) on the real AbsTokenizer vocabulary."""

import numpy as np
import pytest
from aria.tokens import DIM_ID, DUR, EOS_ID, NOTE, ONSET, TIME_ID, TokenTables
from symtok.aria import AbsTokenizer
from symtok.aria_augment import Augmenter

TOK = AbsTokenizer()
T = TokenTables(TOK.vocab)
P = ("prefix", "instrument", "piano")


def enc(tokens):
    return TOK.encode(tokens)


def dec(ids):
    return TOK.decode(ids)


PIECE = [P, "<S>", ("piano", 60, 50), ("onset", 4900), ("dur", 300), "<T>",
         ("piano", 100, 120), ("onset", 200), ("dur", 5000), ("drum", 40), ("onset", 300), "<E>"]


def test_kind_table_agrees_with_vocab_tuples():
    kinds = {NOTE: "piano", DUR: "dur", ONSET: "onset"}
    for i in (7, 6000, 17000, 17500, len(TOK.vocab) - 1):
        tok = TOK.vocab[i]
        if T.kind[i] in kinds and isinstance(tok, tuple) and tok[0] in ("dur", "onset"):
            assert tok[0] == kinds[T.kind[i]]
    assert T.kind[TOK.encode([("dur", 10)])[0]] == DUR and T.kind[TOK.encode([("onset", 10)])[0]] == ONSET
    assert T.kind[TOK.encode([("guitar", 40, 30)])[0]] == NOTE
    with pytest.raises(ValueError):
        TokenTables(TOK.vocab[:100])


def test_onsets_and_prompt_cut():
    ids = enc(PIECE)
    assert T.onsets_ms(ids).tolist() == [4900, 5200, 5300]
    assert dec(T.cut_seconds(ids, 5.0)) == PIECE[:5]  # the trailing <T> of the prompt is dropped
    assert dec(T.cut_seconds(ids, 60)) == PIECE[:-1]


def test_slice_notes_is_a_valid_sequence():
    out = dec(T.slice_notes(enc(PIECE), 1, 1))
    assert out == [P, "<S>", ("piano", 100, 120), ("onset", 200), ("dur", 5000), "<E>"]


def test_dim_token_lands_at_a_note_start_near_the_end():
    body = []
    for k in range(80):
        body += [("piano", 60 + k % 10, 50), ("onset", (k * 60) % 5000), ("dur", 100)]
        if k % 20 == 19:
            body.append("<T>")
    ids = enc(["<S>", *body, "<E>"])
    for seed in range(10):
        out = T.insert_dim(ids, np.random.default_rng(seed))
        at = int(np.flatnonzero(out == DIM_ID)[0])
        assert len(out) == len(ids) + 1 and abs((len(ids) - at) - 100) <= 12
        assert T.note_start[out[at + 1]] or out[at + 1] in (TIME_ID, EOS_ID)
        assert np.array_equal(T.insert_dim(out, np.random.default_rng(seed)), out)  # never a second <D>
    short = enc(PIECE)
    assert np.array_equal(T.insert_dim(short, np.random.default_rng(0)), short)


@pytest.mark.parametrize("seed", range(5))
def test_augmented_slices_stay_valid(seed):
    ids = enc(PIECE)
    out = Augmenter()(ids, np.random.default_rng(seed))
    assert out[-1] == EOS_ID and (out == 2).sum() == 0  # natural length: no <P> padding
    # every note survives (pitches pushed out of range become <U>, as upstream)
    assert (T.note_start[out] | (out == 3)).sum() == T.note_start[ids].sum()
    assert dec(T.slice_notes(out, 0, 1))[-1] == "<E>"
