"""Transcription tokens: sequences per model, decoding back, continuing/sustained notes, stitching segments."""

from __future__ import annotations

import numpy as np
import pytest
from symtok import transcription as tt


def _piece():
    # onset, offset, pitch, velocity (absolute seconds); note 2 crosses 10 s, note 3 crosses 10 s and 20 s
    return (np.array([0.0, 1.234, 9.5, 8.0, 10.2, 10.2]), np.array([0.5, 2.0, 11.0, 21.0, 10.7, 12.0]),
            np.array([60, 64, 67, 48, 72, 60]), np.array([80, 70, 60, 50, 40, 90]))


def test_vocab_layout():
    assert tt.N_TIMES == 1001
    assert tt.VOCAB_SIZE == tt.N_SPECIAL + 1001 + 128 + 128
    assert tt.token_name(tt.time_token(1000)) == "time_1000"
    assert tt.token_name(tt.pitch_token(21)) == "pitch_21"
    assert tt.token_name(tt.velocity_token(127)) == "vel_127"
    assert tt.token_name(tt.NOTE_SUSTAIN) == "<note_sustain>"


def test_segment_marks_continuing_and_sustained():
    on, off, p, v = _piece()
    seg = tt.segment_notes(on, off, p, v, start=10.0)
    # continuing notes first (pitch order), then new onsets
    assert seg.continuing.tolist() == [True, True, False, False]
    assert seg.pitch.tolist() == [48, 67, 60, 72]
    assert np.isnan(seg.offset[0])  # 48 sustains past 20 s
    assert seg.offset[1] == pytest.approx(1.0)
    assert seg.velocity[:2].tolist() == [0, 0]  # unknown for continuing notes


def test_sequences_shapes_and_masks():
    on, off, p, v = _piece()
    seg = tt.segment_notes(on, off, p, v, start=0.0)
    ons = tt.onset_sequence(seg)
    assert ons[:2].tolist() == [tt.SOS, tt.TASK_ONSET] and ons[-1] == tt.EOS
    assert len(ons) == 2 * len(seg) + 3
    assert tt.token_name(ons[4]) == "time_123"  # 1.234 s on the 10 ms grid
    vel, vmask = tt.velocity_sequence(seg)
    assert vmask.sum() == len(seg) + 1 and tt.is_velocity(vel[vmask][:-1]).all()
    offs, omask = tt.offset_sequence(seg)
    targets = offs[omask][:-1]
    assert (targets == tt.NOTE_SUSTAIN).sum() == 2  # 67 and 48 cross 10 s
    flat = tt.flat_sequence(seg)
    assert len(flat) == 4 * len(seg) + 3


def test_hierarchical_and_flat_decode_roundtrip():
    on, off, p, v = _piece()
    for start in (0.0, 10.0, 20.0):
        seg = tt.segment_notes(on, off, p, v, start=start)
        h = tt.decode_hierarchical(tt.onset_sequence(seg), tt.velocity_sequence(seg)[0], tt.offset_sequence(seg)[0])
        f = tt.decode_flat(tt.flat_sequence(seg))
        for got in (h, f):
            assert got.pitch.tolist() == seg.pitch.tolist()
            assert got.continuing.tolist() == seg.continuing.tolist()
            np.testing.assert_allclose(got.onset, np.round(seg.onset, 2), atol=1e-9)
            np.testing.assert_allclose(got.offset, np.round(seg.offset, 2), atol=1e-9)
            assert got.velocity.tolist() == seg.velocity.tolist()


def test_decode_tolerates_garbage():
    toks = [tt.SOS, tt.TASK_ONSET, tt.pitch_token(3), tt.time_token(5), tt.pitch_token(60), tt.velocity_token(3),
            tt.time_token(7), tt.EOS, tt.time_token(9), tt.pitch_token(61)]
    assert tt.decode_onsets(toks) == [(5, 60)]


def _stitch_roundtrip(on, off, p, v):
    n_seg = int(np.ceil(off.max() / tt.SEGMENT_SECONDS))
    starts = [i * tt.SEGMENT_SECONDS for i in range(n_seg)]
    segs = []
    for s in starts:
        seg = tt.segment_notes(on, off, p, v, start=s)
        segs.append(tt.decode_hierarchical(tt.onset_sequence(seg), tt.velocity_sequence(seg)[0],
                                           tt.offset_sequence(seg)[0]))
    return tt.stitch_segments(segs, starts)


def test_stitching_rebuilds_notes_across_boundaries():
    on, off, p, v = _piece()
    s_on, s_off, s_p, s_v = _stitch_roundtrip(on, off, p, v)
    order = np.lexsort((p, on))
    np.testing.assert_allclose(s_on, on[order], atol=0.006)
    np.testing.assert_allclose(s_off, off[order], atol=0.006)
    assert s_p.tolist() == p[order].tolist() and s_v.tolist() == v[order].tolist()


def test_stitching_real_midi(shared):
    from symcore.notes import load_notes

    notes = load_notes(shared("pop909/POP909/001/001.mid"), sustain=True)
    on = notes.onset_sec
    # the tokens cannot say which of two overlapping same-pitch notes ends first
    off = tt.trim_overlaps(on, notes.offset_sec, notes.pitch)
    keep = off - on > 0.011  # notes shorter than the grid collapse onto their onset step
    on, off, notes = on[keep], off[keep], notes.select(keep)
    s_on, s_off, s_p, _ = _stitch_roundtrip(on, off, notes.pitch.astype(int), notes.velocity.astype(int))
    assert len(s_on) == len(on)
    np.testing.assert_allclose(np.sort(s_on), np.sort(on), atol=0.006)
    assert abs(np.sum(s_off - s_on) - np.sum(off - on)) < 0.01 * len(on) + 1e-6


def test_stitching_closes_notes_never_continued():
    a = tt.SegmentNotes(np.array([9.0]), np.array([np.nan]), np.array([60]), np.array([70]), np.array([False]))
    b = tt.SegmentNotes(np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))
    on, off, p, v = tt.stitch_segments([a, b], [0.0, 10.0])
    assert on.tolist() == [9.0] and off.tolist() == [10.0] and p.tolist() == [60] and v.tolist() == [70]
