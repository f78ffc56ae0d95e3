"""Id-level augmentation and control tokens on an AbsTokenizer-shaped vocabulary."""

import numpy as np
import pytest
from aria.augment import DIM_ID, EOS_ID, TIME_ID, Augmenter, TokenTables

SPECIALS = ["<S>", "<E>", "<P>", "<U>", "<D>", "<T>"]
VOCAB = (SPECIALS + [("prefix", "instrument", "piano")]
         + [("piano", p, v) for p in range(128) for v in range(0, 121, 10)]
         + [("drum", p) for p in range(35, 82)]
         + [("dur", d) for d in range(0, 5001, 10)] + [("onset", o) for o in range(0, 5000, 10)])
ID = {t: i for i, t in enumerate(VOCAB)}
T = TokenTables(VOCAB)


def enc(tokens):
    return np.array([ID[t] for t in tokens])


def dec(ids):
    return [VOCAB[i] for i in ids]


PIECE = [("prefix", "instrument", "piano"), "<S>", ("piano", 60, 50), ("onset", 4900), ("dur", 300), "<T>",
         ("piano", 125, 120), ("onset", 200), ("dur", 5000), ("drum", 40), ("onset", 300), "<E>"]


def test_pitch_shift_and_out_of_range_become_unknown():
    out = dec(T.pitch_shift(enc(PIECE), 3))
    assert out[2] == ("piano", 63, 50) and out[6] == "<U>" and out[9] == ("drum", 40)


def test_velocity_shift_clips_to_levels():
    assert dec(T.velocity_shift(enc(PIECE), 1))[2:7:4] == [("piano", 60, 60), ("piano", 125, 120)]
    assert dec(T.velocity_shift(enc(PIECE), -9))[2] == ("piano", 60, 10)


def test_tempo_scale_recomputes_segments():
    slower = dec(T.tempo_scale(enc(PIECE), 1.1))
    # 4900 ms * 1.1 = 5390 -> crosses into segment 1; 5200 * 1.1 = 5720 stays there
    assert slower[2:8] == ["<T>", ("piano", 60, 50), ("onset", 390), ("dur", 330), ("piano", 125, 120), ("onset", 720)]
    faster = dec(T.tempo_scale(enc(PIECE), 0.9))
    assert "<T>" not in faster and faster[3] == ("onset", 4410) and faster[6] == ("onset", 4680)
    assert dec(T.tempo_scale(enc(PIECE), 1.0)) == PIECE


def test_dim_token_lands_at_a_note_start_near_the_end():
    body = []
    for k in range(80):
        body += [("piano", 60 + k % 10, 50), ("onset", (k * 60) % 5000), ("dur", 100)]
        if k % 20 == 19:
            body.append("<T>")
    ids = enc(["<S>", *body, "<E>"])
    out = T.insert_dim(ids, np.random.default_rng(0))
    at = int(np.flatnonzero(out == DIM_ID)[0])
    assert len(out) == len(ids) + 1 and abs((len(ids) - at) - 100) <= 12
    assert T.note_start[out[at + 1]] or out[at + 1] == TIME_ID
    short = enc(PIECE)
    assert np.array_equal(T.insert_dim(short, np.random.default_rng(0)), short)


def test_slice_notes_is_a_valid_sequence():
    out = dec(T.slice_notes(enc(PIECE), 1, 1))
    assert out == [("prefix", "instrument", "piano"), "<S>", ("piano", 125, 120), ("onset", 200), ("dur", 5000), "<E>"]


@pytest.mark.parametrize("seed", range(5))
def test_augmenter_keeps_structure(seed):
    ids = enc(PIECE)
    out = Augmenter(T)(ids, np.random.default_rng(seed))
    assert out[-1] == EOS_ID and (T.kind[out] == T.kind[ids][0]).sum() >= 1
    # every note survives (pitches pushed out of range become <U>, as upstream)
    assert (T.note_start[out] | (out == 3)).sum() == T.note_start[ids].sum()
