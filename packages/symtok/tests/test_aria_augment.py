"""Aria augmentations on ids, checked against hand-computed token sequences (aria-utils semantics)."""

from __future__ import annotations

import numpy as np
import pytest
from symtok.aria import AbsTokenizer, add_dim_token
from symtok.aria_augment import pitch_aug, tempo_aug, velocity_aug

TOK = AbsTokenizer()
P = ("prefix", "instrument", "piano")
D = ("prefix", "instrument", "drum")

SEQ = [P, D, "<S>",
       ("piano", 60, 100), ("onset", 0), ("dur", 500),
       ("drum", 36), ("onset", 0),
       ("piano", 125, 10), ("onset", 2500), ("dur", 5000),
       "<T>",
       ("piano", 2, 120), ("onset", 1000), ("dur", 10),
       "<E>"]


def ids(tokens):
    return TOK.encode(tokens)


def toks(a):
    return TOK.decode(a)


def test_pitch_shift_up_and_out_of_range():
    out = toks(pitch_aug(ids(SEQ), 3))
    assert out == [P, D, "<S>", ("piano", 63, 100), ("onset", 0), ("dur", 500), ("drum", 36), ("onset", 0),
                   "<U>", ("onset", 2500), ("dur", 5000), "<T>", ("piano", 5, 120), ("onset", 1000), ("dur", 10),
                   "<E>"]
    out = toks(pitch_aug(ids(SEQ), -3))
    assert out[3] == ("piano", 57, 100) and out[8] == ("piano", 122, 10) and out[12] == "<U>"


def test_velocity_steps_clip_to_10_and_120():
    up = toks(velocity_aug(ids(SEQ), 1))
    assert [up[3], up[8], up[12]] == [("piano", 60, 110), ("piano", 125, 20), ("piano", 2, 120)]
    down = toks(velocity_aug(ids(SEQ), -2))
    assert [down[3], down[8], down[12]] == [("piano", 60, 80), ("piano", 125, 10), ("piano", 2, 100)]
    assert down[6] == ("drum", 36)  # drums carry no velocity


def test_tempo_scale_requantises_and_moves_time_tokens():
    # times 0, 0, 2500, 6000 ms; ×1.3 -> 0, 0, 3250, 7800 (segment 1, onset 2800); durations 650, 6500->5000, 13->10
    out = toks(tempo_aug(ids(SEQ), 1.3, mixup=False))
    assert out == [P, D, "<S>", ("piano", 60, 100), ("onset", 0), ("dur", 650), ("drum", 36), ("onset", 0),
                   ("piano", 125, 10), ("onset", 3250), ("dur", 5000), "<T>",
                   ("piano", 2, 120), ("onset", 2800), ("dur", 10), "<E>"]
    # ×0.8: 2500 -> 2000, 6000 -> 4800 (the <T> disappears, so the output is one token short: <P>-padded)
    out = toks(tempo_aug(ids(SEQ), 0.8, mixup=False))
    assert out == [P, D, "<S>", ("piano", 60, 100), ("onset", 0), ("dur", 400), ("drum", 36), ("onset", 0),
                   ("piano", 125, 10), ("onset", 2000), ("dur", 4000),
                   ("piano", 2, 120), ("onset", 4800), ("dur", 10), "<E>", "<P>"]


def test_tempo_half_even_rounding():
    seq = ["<S>", ("piano", 60, 100), ("onset", 30), ("dur", 50), "<E>"]
    # 30 × 1.5 = 45 -> round(4.5) = 4 -> 40 ms; 50 × 1.5 = 75 -> round(7.5) = 8 -> 80 ms (Python rounds half to even)
    assert toks(tempo_aug(ids(seq), 1.5, mixup=False)) == ["<S>", ("piano", 60, 100), ("onset", 40), ("dur", 80),
                                                           "<E>"]


def test_tempo_keeps_dim_after_its_onset_group_and_drops_unknown():
    seq = ["<S>", ("piano", 60, 100), ("onset", 0), ("dur", 100), "<D>", ("piano", 64, 100), ("onset", 0),
           ("dur", 100), "<U>", ("piano", 67, 100), ("onset", 200), ("dur", 100), "<E>"]
    out = toks(tempo_aug(ids(seq), 1.0, mixup=False))
    # <D> followed the group at onset 0, so it moves after all of that group's notes; <U> is dropped
    assert out == ["<S>", ("piano", 60, 100), ("onset", 0), ("dur", 100), ("piano", 64, 100), ("onset", 0),
                   ("dur", 100), "<D>", ("piano", 67, 100), ("onset", 200), ("dur", 100), "<E>", "<P>"]


def test_concatenated_pieces_are_augmented_separately():
    one = ids(SEQ)
    both = np.concatenate([one, one[:9]])  # a second piece cut after its first events
    out = pitch_aug(both, rng=0)
    assert len(out) == len(both)
    first, second = toks(out[: len(one)]), toks(out[len(one):])
    k1 = first[3][1] - 60
    k2 = second[3][1] - 60
    assert -5 <= k1 <= 5 and -5 <= k2 <= 5
    # fixed shift: the same for every piece
    fixed = toks(pitch_aug(both, 2))
    assert fixed[3] == fixed[len(one) + 3] == ("piano", 62, 100)


@pytest.mark.parametrize("seed", range(5))
def test_mixup_only_permutes_events_within_an_onset(seed, shared):
    a = add_dim_token(TOK.encode_file(shared("pop909/POP909/001/001.mid")), seed)
    plain = tempo_aug(a, 1.1, mixup=False)
    mixed = tempo_aug(a, 1.1, mixup=True, rng=seed)
    assert len(mixed) == len(plain) and (mixed == 4).sum() == 1

    def groups(x):
        out, t, cur = {}, 0, None
        for i, v in enumerate(x.tolist()):
            if v == 5:
                t += 1
            elif 39 <= v < 16726:
                cur = (t, int(x[i + 1]))
                out.setdefault(cur, []).append(tuple(x[i: i + 3].tolist()))
        return {k: sorted(v) for k, v in out.items()}

    assert groups(mixed) == groups(plain)


def test_random_factor_stays_in_range(shared):
    a = TOK.encode_file(shared("pop909/POP909/001/001.mid"))
    notes = TOK.detokenize(a)
    for seed in range(3):
        b = TOK.detokenize(tempo_aug(a, rng=seed, mixup=False))
        ratio = b.onset.max() / notes.onset.max()
        assert 0.79 <= ratio <= 1.21


def test_augmenter_policy_keeps_natural_length_and_every_event():
    from symtok.aria_augment import Augmenter

    x = ids(SEQ)
    slow = tempo_aug(x, 1.9, mixup=False, keep_length=False)
    assert toks(slow)[-1] == "<E>" and len(slow) > len(x)  # more <T>s, <E> not cut off
    assert len(tempo_aug(x, 1.9, mixup=False)) == len(x)  # upstream's fixed length
    event = np.flatnonzero([isinstance(t, tuple) and t[0] in ("piano", "drum") for t in TOK.vocab])
    lengths = set()
    for seed in range(20):
        out = Augmenter(pitch=0, tempo=0.5, velocity=1)(x, seed)
        assert out[-1] == x[-1] and (out == 2).sum() == 0
        assert np.isin(out, event).sum() == 4  # pitch 0: no note leaves the range, so none is dropped as <U>
        lengths.add(len(out))
    assert len(lengths) > 1  # tempo changes the number of <T>s
    assert np.array_equal(Augmenter(0, 0, 0)(x, 0), x)
