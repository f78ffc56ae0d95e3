"""AbsTokenizer: vocabulary and ids identical to aria-utils' outputs, and its MIDI-reading rules on hand-made files."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from symcore.errors import EmptyMidiError, MidiError
from symtok.aria import AbsTokenizer, add_dim_token
from symtok.aria_vocab import DIM_ID, VOCAB_SIZE, closest_on_grid, is_dur_id, is_onset_id

TOK = AbsTokenizer()


def _tuplify(t):
    return tuple(t) if isinstance(t, list) else t


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def smf(tracks: list[list[tuple[int, bytes]]], tpb: int = 480) -> bytes:
    """A format-1 MIDI file from tracks of (absolute tick, event bytes), ticks in non-decreasing order."""
    out = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(tracks).to_bytes(2, "big")
    out += tpb.to_bytes(2, "big")
    for events in tracks:
        body, last = b"", 0
        for tick, ev in events:
            assert tick >= last, "events must be in time order"
            body += _vlq(tick - last) + ev
            last = tick
        body += b"\x00\xff\x2f\x00"
        out += b"MTrk" + len(body).to_bytes(4, "big") + body
    return out


def on(ch, p, v=100):
    return bytes([0x90 | ch, p, v])


def off(ch, p):
    return bytes([0x80 | ch, p, 0])


def cc64(ch, v):
    return bytes([0xB0 | ch, 64, v])


def prog(ch, p):
    return bytes([0xC0 | ch, p])


TEMPO_120 = b"\xff\x51\x03\x07\xa1\x20"  # 500000 us per quarter: 480 ticks = 500 ms


def test_vocab_matches_reference(reference_root):
    ref = json.loads((reference_root / "aria_tokens" / "vocab.json").read_text())
    assert ref["vocab_size"] == VOCAB_SIZE == len(TOK.vocab)
    assert [_tuplify(t) for t in ref["id_to_token"]] == list(TOK.vocab)
    assert TOK.vocab[:6] == ("<S>", "<E>", "<P>", "<U>", "<D>", "<T>")


REF_FILES = [
    "asap__Bach__Fugue__bwv_846__Shi05M", "asap__Chopin__Ballades__1__Ali01", "cpm__midis__Debussy__deb_clai",
    "pop909__POP909__001__001", "pop909__POP909__250__250", "pop909__POP909__909__909",
]


@pytest.mark.parametrize("name", REF_FILES)
def test_tokens_and_ids_match_ariautils(name, reference_root, shared):
    ref = json.loads((reference_root / "aria_tokens" / f"{name}.json").read_text())
    path = shared(ref["file"])
    tokens = TOK.tokenize(path, add_dim_tok=False)
    assert tokens == [_tuplify(t) for t in ref["tokens"]]
    assert TOK.encode(tokens).tolist() == ref["ids"]
    assert TOK.encode_file(path).tolist() == ref["ids"]
    assert TOK.decode(ref["ids"]) == tokens


def test_encode_decode_roundtrip_and_unknown():
    ids = np.arange(VOCAB_SIZE)
    assert TOK.encode(TOK.decode(ids)).tolist() == ids.tolist()
    assert TOK.encode([("drum", 20), ["piano", 60, 100], "nope"]).tolist() == [3, TOK.tok_to_id[("piano", 60, 100)], 3]
    assert TOK.decode([VOCAB_SIZE, -1]) == ["<U>", "<U>"]


def test_quantiser_ties_follow_binary_search_path():
    # aria's _find_closest_int only replaces its guess when strictly closer, so exact ties depend on the path:
    # 5 ms -> 10 (probed from above first), 15 ms -> 10, 4995 -> 4990 (clamped to the last onset)
    grid = np.arange(500) * 10
    got = closest_on_grid(np.array([5, 15, 25, 2495, 4995, 7000]), grid).tolist()
    expected = []
    for n in [5, 15, 25, 2495, 4995, 7000]:  # literal re-statement of upstream's loop
        lo, hi, best = 0, len(grid) - 1, int(grid[0])
        while lo <= hi:
            mid = (lo + hi) // 2
            if abs(int(grid[mid]) - n) < abs(best - n):
                best = int(grid[mid])
            lo, hi = (mid + 1, hi) if grid[mid] < n else (lo, mid - 1)
        expected.append(best)
    assert got == expected


def test_hand_made_file_rules():
    """Pedal in a note-less track on the same channel, close-all pairing, zero-length drop, silence removal."""
    notes = [(480, on(0, 60, 64)), (960, off(0, 60)),  # 500 ms, held by the pedal until tick 1920
             (960, on(0, 62, 127)), (960, off(0, 62)),  # zero length: dropped
             (1000, on(0, 64, 3)), (1100, on(0, 64, 50)), (1200, off(0, 64))]  # one note-off closes both
    pedal = [(0, TEMPO_120), (600, cc64(0, 100)), (1920, cc64(0, 0))]
    toks = TOK.tokenize(smf([pedal, notes]), add_dim_tok=False)
    # 1 tick = 500/480 ms; onsets count from tick 480. Note 60 ends at 960, inside the pedal (600, 1920), so it
    # lasts 1440 ticks = 1500 ms. Both 64s end at 1200 (one note-off closes both), also moved to 1920:
    # 920 ticks = 958.3 -> 958 -> 960 and 820 ticks = 854.2 -> 854 -> 850; onsets 541.7 -> 540, 645.8 -> 650.
    assert toks == [
        ("prefix", "instrument", "piano"), "<S>",
        ("piano", 60, 60), ("onset", 0), ("dur", 1500),
        ("piano", 64, 10), ("onset", 540), ("dur", 960),  # velocity 3 quantises to 0, which becomes 10
        ("piano", 64, 50), ("onset", 650), ("dur", 850),
        "<E>",
    ]


def test_time_tokens_and_drums():
    ev = [(0, TEMPO_120), (0, on(0, 60)), (10, off(0, 60)),
          (480 * 11, on(9, 36)), (480 * 11 + 5, off(9, 36)),  # 5.5 s: one <T>, onset 500
          (480 * 31, on(9, 20)), (480 * 31 + 5, off(9, 20))]  # 15.5 s: two more <T>; pitch 20 has no token
    toks = TOK.tokenize(smf([ev]), add_dim_tok=False)
    body = toks[toks.index("<S>") + 1: -1]
    assert body == [("piano", 60, 100), ("onset", 0), ("dur", 10), "<T>", ("drum", 36), ("onset", 500),
                    "<T>", "<T>", ("drum", 20), ("onset", 500)]
    assert set(toks[:2]) == {("prefix", "instrument", "piano"), ("prefix", "instrument", "drum")}
    assert TOK.encode(toks).tolist()[-3] == 3  # ("drum", 20) encodes to <U>, like upstream


def test_ignored_instrument_channel_is_removed_and_last_program_wins():
    ev = [(0, prog(1, 10)), (0, prog(2, 0)), (0, prog(2, 41)),  # ch1 music box (chromatic): removed
          (0, on(1, 70)), (100, off(1, 70)), (0, on(2, 50)), (100, off(2, 50))]
    toks = TOK.tokenize(smf([sorted(ev, key=lambda e: e[0])]), add_dim_tok=False)
    assert toks[0] == ("prefix", "instrument", "strings")
    assert toks[2] == ("strings", 50, 100)
    with pytest.raises(EmptyMidiError):
        TOK.tokenize(smf([[(0, prog(0, 10)), (0, on(0, 60)), (10, off(0, 60))]]))


def test_bad_input_names_the_file(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"RIFFnonsense")
    with pytest.raises(MidiError, match="bad.mid"):
        TOK.encode_file(bad)
    trunc = tmp_path / "trunc.mid"
    trunc.write_bytes(smf([[(0, on(0, 60)), (10, off(0, 60))]])[:-6])
    with pytest.raises(MidiError, match="trunc.mid"):
        TOK.encode_file(trunc)
    with pytest.raises(MidiError, match="missing.mid"):
        TOK.encode_file(tmp_path / "missing.mid")
    with pytest.raises(EmptyMidiError):
        TOK.encode_file(smf([[(0, TEMPO_120)]]))


def test_score_input_and_pickle(shared):
    import symusic

    path = shared("pop909/POP909/001/001.mid")
    ids = TOK(path)
    assert ids.dtype == np.int32 and ids[-1] == 1
    clone = pickle.loads(pickle.dumps(TOK))
    assert clone(path).tolist() == ids.tolist()
    # a symusic Score goes through MIDI bytes: same notes, so the same ids as the file
    assert TOK.encode_file(symusic.Score(str(path))).tolist() == ids.tolist()


@pytest.mark.parametrize("seed", range(30))
def test_dim_token_rules(seed, shared):
    ids = TOK.encode_file(shared("pop909/POP909/001/001.mid"))
    out = add_dim_token(ids, seed)
    assert len(out) == len(ids) + 1
    at = int(np.flatnonzero(out == DIM_ID)[0])
    assert np.array_equal(np.delete(out, at), ids)
    from_end = len(ids) - 1 - at  # body tokens after <D> (before <E>)
    assert 88 <= from_end <= 112
    assert not is_onset_id(out[at + 1]) and not is_dur_id(out[at + 1])  # never inside a triple
    toks = TOK.tokenize(shared("pop909/POP909/001/001.mid"), rng=seed)
    assert TOK.encode(toks).tolist() == out.tolist()


def test_dim_token_short_sequences_untouched():
    ids = TOK.encode_file(smf([[(0, on(0, 60)), (10, off(0, 60))]]))
    assert add_dim_token(ids, 0).tolist() == ids.tolist()


def test_quantiser_tables_equal_the_search_everywhere():
    from symtok.aria_vocab import DUR_GRID, ONSET_GRID, VELOCITIES, quantize_duration, quantize_onset, quantize_velocity

    n = np.arange(-50, 7000)
    assert np.array_equal(quantize_onset(n), closest_on_grid(n, ONSET_GRID))
    d = closest_on_grid(n, DUR_GRID)
    assert np.array_equal(quantize_duration(n), np.where(d == 0, 10, d))
    v = np.arange(0, 300)
    q = closest_on_grid(v, VELOCITIES)
    assert np.array_equal(quantize_velocity(v), np.where((q == 0) & (v != 0), 10, q))


def test_shared_start_fast_path_equals_per_note_loop():
    from symtok.aria_midi import _duration_ms, _elapsed_from_ms

    rng = np.random.default_rng(0)
    for _ in range(200):
        L = int(rng.integers(1, 12))
        t = np.sort(rng.integers(0, 5000, L)) if rng.random() < 0.7 else np.sort(rng.integers(0, 50, L))
        scale = rng.integers(200_000, 1_500_000, L) * 1e-6 / int(rng.choice([96, 480, 1000]))
        s = int(rng.integers(0, 6000))
        ends = np.sort(s + rng.integers(0, 8000, 300))
        assert np.array_equal(_elapsed_from_ms(s, ends, t, scale), _duration_ms(np.full(300, s), ends, t, scale))


def test_absurd_timing_is_refused():
    tempo_max = b"\xff\x51\x03\xff\xff\xff"
    data = smf([[(0, tempo_max), (0, on(0, 60)), (1, off(0, 60)), (1 << 27, on(0, 62)), ((1 << 27) + 1, off(0, 62))]])
    with pytest.raises(MidiError, match="24 h"):
        TOK.encode_file(data)


def test_tempo_steps_counts_the_loop():
    from symtok.aria_midi import tempo_steps

    t = np.array([0, 100, 200, 300])
    # 50..250 touches segments 0, 1, 2; 350..400 starts after the last change: upstream's quirk touches 2 and 3
    assert tempo_steps(np.array([50, 350]), np.array([250, 400]), t) == 3 + 2
    dense = smf([[(0, on(0, 60))] + [(i, b"\xff\x51\x03\x07\xa1\x20") for i in range(0, 20000)]
                 + [(20000, off(0, 60))]])
    assert TOK.encode_file(dense)[-2] == 16726 + 500  # 20000 tempo segments under one note: still exact, 5000 ms
