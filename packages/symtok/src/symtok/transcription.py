"""Note tokens for LM-based piano transcription (hierarchical onset → velocity → offset, arXiv 2501.03038).

A 10 s audio segment is described by three short sequences instead of one long one:

- onset:    ``<sos> <task_onset> [<cont> pitch]* [time pitch]* <eos>``
- velocity: ``<sos> <task_velocity> [time pitch velocity]* <eos>``         (time/pitch given, velocity predicted)
- offset:   ``<sos> <task_offset> [<cont> pitch off]* [time pitch off]* <eos>``  (off = time or <note_sustain>)

and the flattened baseline puts everything in one: ``<sos> <task_flat> [<cont> pitch off]* [time pitch velocity
off]* <eos>``. ``<cont>`` marks a note already sounding when the segment starts (its onset lies in an earlier
segment); ``<note_sustain>`` marks a note still sounding when the segment ends. Those two markers are what lets
segments be stitched back into whole notes. Times are on a 10 ms grid, 0..1000 for a 10 s segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEGMENT_SECONDS = 10.0
TIME_RESOLUTION = 0.01  # seconds per time step
N_TIMES = int(round(SEGMENT_SECONDS / TIME_RESOLUTION)) + 1  # 0..1000 inclusive

PAD, SOS, EOS = 0, 1, 2
TASK_ONSET, TASK_VELOCITY, TASK_OFFSET, TASK_FLAT = 3, 4, 5, 6
NOTE_SUSTAIN, CONTINUE = 7, 8
N_SPECIAL = 16  # room for more specials without shifting ids
TIME_OFFSET = N_SPECIAL
PITCH_OFFSET = TIME_OFFSET + N_TIMES
VELOCITY_OFFSET = PITCH_OFFSET + 128
VOCAB_SIZE = VELOCITY_OFFSET + 128

SPECIAL_NAMES = {PAD: "<pad>", SOS: "<sos>", EOS: "<eos>", TASK_ONSET: "<task_onset>",
                 TASK_VELOCITY: "<task_velocity>", TASK_OFFSET: "<task_offset>", TASK_FLAT: "<task_flat>",
                 NOTE_SUSTAIN: "<note_sustain>", CONTINUE: "<cont>"}


def time_token(step: int | np.ndarray) -> np.ndarray | int:
    return TIME_OFFSET + np.clip(step, 0, N_TIMES - 1)


def pitch_token(pitch: int | np.ndarray) -> np.ndarray | int:
    return PITCH_OFFSET + np.clip(pitch, 0, 127)


def velocity_token(velocity: int | np.ndarray) -> np.ndarray | int:
    return VELOCITY_OFFSET + np.clip(velocity, 0, 127)


def is_time(tok) -> np.ndarray | bool:
    return (tok >= TIME_OFFSET) & (tok < PITCH_OFFSET)


def is_pitch(tok) -> np.ndarray | bool:
    return (tok >= PITCH_OFFSET) & (tok < VELOCITY_OFFSET)


def is_velocity(tok) -> np.ndarray | bool:
    return (tok >= VELOCITY_OFFSET) & (tok < VOCAB_SIZE)


def token_name(tok: int) -> str:
    """Readable name of one id, for debugging and error messages."""
    tok = int(tok)
    if tok in SPECIAL_NAMES:
        return SPECIAL_NAMES[tok]
    if is_time(tok):
        return f"time_{tok - TIME_OFFSET}"
    if is_pitch(tok):
        return f"pitch_{tok - PITCH_OFFSET}"
    if is_velocity(tok):
        return f"vel_{tok - VELOCITY_OFFSET}"
    return f"<unused_{tok}>"


@dataclass(frozen=True)
class SegmentNotes:
    """Notes of one segment in segment-relative seconds, in token order (continuing first, then by onset, pitch).

    ``continuing`` notes started before the segment (their ``onset`` is 0 here); a NaN ``offset`` means the note
    is still sounding at the segment end (``<note_sustain>``). ``velocity`` is 0 where unknown (continuing notes).
    """

    onset: np.ndarray  # (N,) float64 seconds in [0, segment)
    offset: np.ndarray  # (N,) float64 seconds, NaN = sustained past the end
    pitch: np.ndarray  # (N,) int64
    velocity: np.ndarray  # (N,) int64
    continuing: np.ndarray  # (N,) bool

    def __len__(self) -> int:
        return len(self.pitch)


def _step(seconds: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(seconds, dtype=np.float64) / TIME_RESOLUTION), 0, N_TIMES - 1).astype(np.int64)


def segment_notes(onset_sec, offset_sec, pitch, velocity, start: float,
                  duration: float = SEGMENT_SECONDS) -> SegmentNotes:
    """The notes of a whole piece (absolute seconds) that sound in ``[start, start + duration)``."""
    onset = np.asarray(onset_sec, dtype=np.float64)
    offset = np.asarray(offset_sec, dtype=np.float64)
    pitch = np.asarray(pitch, dtype=np.int64)
    velocity = np.asarray(velocity, dtype=np.int64)
    end = start + duration
    # A note whose onset rounds onto the segment's last grid step belongs to the next segment, so that every
    # onset is encoded exactly once and never as time 1000.
    last = end - TIME_RESOLUTION / 2
    starts_here = (onset >= start - 1e-9) & (onset < last)
    continuing = (onset < start - 1e-9) & (offset > start + TIME_RESOLUTION / 2)
    keep = starts_here | continuing
    rel_on = np.where(continuing, 0.0, onset - start)[keep]
    rel_off = offset[keep] - start
    rel_off = np.where(rel_off >= duration - 1e-9, np.nan, rel_off)
    cont = continuing[keep]
    p, v = pitch[keep], np.where(cont, 0, velocity[keep])
    order = np.lexsort((p, _step(rel_on), ~cont))
    return SegmentNotes(rel_on[order], rel_off[order], p[order], v[order], cont[order])


def trim_overlaps(onset_sec, offset_sec, pitch) -> np.ndarray:
    """Offsets cut at the next onset of the same pitch: a piano key sounds one note at a time, and the tokens
    (like mir_eval matching) assume it."""
    onset = np.asarray(onset_sec, dtype=np.float64)
    offset = np.array(offset_sec, dtype=np.float64)
    pitch = np.asarray(pitch)
    order = np.lexsort((onset, pitch))
    same = pitch[order][1:] == pitch[order][:-1]
    nxt = onset[order][1:]
    cut = np.where(same, np.minimum(offset[order][:-1], nxt), offset[order][:-1])
    offset[order[:-1]] = np.maximum(cut, onset[order][:-1] + 1e-3)
    return offset


def _note_head(seg: SegmentNotes) -> list[list[int]]:
    """Per note: ``[<cont>, pitch]`` or ``[time, pitch]``."""
    steps = _step(seg.onset)
    return [[CONTINUE if c else int(time_token(s)), int(pitch_token(p))]
            for c, s, p in zip(seg.continuing, steps, seg.pitch)]


def _offset_tok(seg: SegmentNotes) -> list[int]:
    off_steps = _step(np.nan_to_num(seg.offset, nan=0.0))
    onset_steps = _step(seg.onset)
    # An offset never precedes its own onset on the grid (very short notes round onto the same step).
    off_steps = np.maximum(off_steps, onset_steps)
    return [NOTE_SUSTAIN if np.isnan(o) else int(time_token(s)) for o, s in zip(seg.offset, off_steps)]


def onset_sequence(seg: SegmentNotes) -> np.ndarray:
    """Tokens of the onset+pitch model (all positions are trained on)."""
    body = [t for head in _note_head(seg) for t in head]
    return np.array([SOS, TASK_ONSET, *body, EOS], dtype=np.int64)


def velocity_sequence(seg: SegmentNotes) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of the velocity model and the mask of positions whose token is a target (the velocities, <eos>).

    Continuing notes are left out: their velocity is not audible in this segment.
    """
    toks, target = [SOS, TASK_VELOCITY], [False, False]
    for head, vel, cont in zip(_note_head(seg), seg.velocity, seg.continuing):
        if cont:
            continue
        toks += [*head, int(velocity_token(vel))]
        target += [False, False, True]
    toks.append(EOS)
    target.append(True)
    return np.array(toks, dtype=np.int64), np.array(target, dtype=bool)


def offset_sequence(seg: SegmentNotes) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of the offset model and the mask of target positions (offset time or <note_sustain>, <eos>)."""
    toks, target = [SOS, TASK_OFFSET], [False, False]
    for head, off in zip(_note_head(seg), _offset_tok(seg)):
        toks += [*head, off]
        target += [False, False, True]
    toks.append(EOS)
    target.append(True)
    return np.array(toks, dtype=np.int64), np.array(target, dtype=bool)


def flat_sequence(seg: SegmentNotes) -> np.ndarray:
    """The flattened single-sequence baseline (every position is trained on)."""
    body: list[int] = []
    for head, vel, cont, off in zip(_note_head(seg), seg.velocity, seg.continuing, _offset_tok(seg)):
        body += head if cont else [*head, int(velocity_token(vel))]
        body.append(off)
    return np.array([SOS, TASK_FLAT, *body, EOS], dtype=np.int64)


def _strip(tokens) -> list[int]:
    toks = [int(t) for t in np.asarray(tokens).ravel()]
    if toks[:1] == [SOS]:
        toks = toks[1:]
    if toks and toks[0] in (TASK_ONSET, TASK_VELOCITY, TASK_OFFSET, TASK_FLAT):
        toks = toks[1:]
    if EOS in toks:
        toks = toks[: toks.index(EOS)]
    return [t for t in toks if t != PAD]


def decode_onsets(tokens) -> list[tuple[int | None, int]]:
    """``(time step or None for <cont>, pitch)`` pairs from an onset sequence; malformed pairs are dropped."""
    toks, out, i = _strip(tokens), [], 0
    while i + 1 < len(toks):
        head, p = toks[i], toks[i + 1]
        if (head == CONTINUE or is_time(head)) and is_pitch(p):
            out.append((None if head == CONTINUE else head - TIME_OFFSET, p - PITCH_OFFSET))
            i += 2
        else:
            i += 1  # resynchronise on the next plausible note head
    return out


def _triples(tokens, third) -> list[tuple[int | None, int, int]]:
    toks, out, i = _strip(tokens), [], 0
    while i + 2 < len(toks):
        head, p, x = toks[i], toks[i + 1], toks[i + 2]
        if (head == CONTINUE or is_time(head)) and is_pitch(p) and third(x):
            out.append((None if head == CONTINUE else head - TIME_OFFSET, p - PITCH_OFFSET, x))
            i += 3
        else:
            i += 1
    return out


def _off_seconds(tok: int) -> float:
    return float("nan") if tok == NOTE_SUSTAIN else (tok - TIME_OFFSET) * TIME_RESOLUTION


def _finish(rows: list[tuple[bool, float, float, int, int]]) -> SegmentNotes:
    if not rows:
        z = np.zeros(0)
        return SegmentNotes(z, z.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))
    cont, on, off, p, v = zip(*rows)
    return SegmentNotes(np.array(on, float), np.array(off, float), np.array(p, np.int64), np.array(v, np.int64),
                        np.array(cont, bool))


def decode_hierarchical(onset_tokens, velocity_tokens=None, offset_tokens=None,
                        default_velocity: int = 64) -> SegmentNotes:
    """Notes from the three hierarchical sequences; the onset sequence decides which notes exist.

    Velocity/offset entries are matched to notes by (time, pitch); a note without one gets ``default_velocity``
    and offset NaN (sustained).
    """
    onsets = decode_onsets(onset_tokens)
    vel = {(t, p): x - VELOCITY_OFFSET for t, p, x in _triples(velocity_tokens, is_velocity)} \
        if velocity_tokens is not None else {}
    off = {(t, p): x for t, p, x in _triples(offset_tokens, lambda x: x == NOTE_SUSTAIN or is_time(x))} \
        if offset_tokens is not None else {}
    rows = []
    for t, p in onsets:
        cont = t is None
        onset = 0.0 if cont else t * TIME_RESOLUTION
        v = 0 if cont else vel.get((t, p), default_velocity)
        o = _off_seconds(off[(t, p)]) if (t, p) in off else float("nan")
        rows.append((cont, onset, max(o, onset) if not np.isnan(o) else o, p, v))
    return _finish(rows)


def decode_flat(tokens, default_velocity: int = 64) -> SegmentNotes:
    """Notes from a flattened sequence; a group is ``<cont> pitch off`` or ``time pitch velocity off``."""
    toks, rows, i = _strip(tokens), [], 0
    is_off = lambda x: x == NOTE_SUSTAIN or is_time(x)  # noqa: E731
    while i + 2 < len(toks):
        head, p = toks[i], toks[i + 1]
        if head == CONTINUE and is_pitch(p) and is_off(toks[i + 2]):
            rows.append((True, 0.0, _off_seconds(toks[i + 2]), p - PITCH_OFFSET, 0))
            i += 3
        elif is_time(head) and is_pitch(p) and i + 3 < len(toks) and is_velocity(toks[i + 2]) and is_off(toks[i + 3]):
            onset = (head - TIME_OFFSET) * TIME_RESOLUTION
            o = _off_seconds(toks[i + 3])
            rows.append((False, onset, o if np.isnan(o) else max(o, onset), p - PITCH_OFFSET,
                         toks[i + 2] - VELOCITY_OFFSET))
            i += 4
        else:
            i += 1
    return _finish(rows)


def stitch_segments(segments: list[SegmentNotes], starts: list[float], default_duration: float = 0.1,
                    final_end: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Join per-segment notes into whole notes: (onset_sec, offset_sec, pitch, velocity), sorted by onset.

    A note sustained past its segment's end stays open; a ``<cont>`` note of the same pitch in the next segment
    carries it on (its offset, or still open). Open notes are closed at the start of the next segment that does not
    continue them, or at ``final_end`` (default: last segment end) — so a missing ``<cont>`` never loses a note.
    A stray ``<cont>`` with no open note is dropped (its onset is unknown).
    """
    open_notes: dict[int, list[float]] = {}  # pitch -> [onset, velocity]
    done: list[tuple[float, float, int, int]] = []
    seg_end = 0.0
    for seg, start in zip(segments, starts):
        carried: dict[int, list[float]] = {}
        used: set[int] = set()
        for on, off, p, v, cont in zip(seg.onset, seg.offset, seg.pitch, seg.velocity, seg.continuing):
            p = int(p)
            if cont:
                if p not in open_notes or p in used:
                    continue
                used.add(p)
                note = open_notes[p]
            else:
                note = [start + on, float(v)]
                if p in carried:  # re-struck while still sounding: the old note ends here
                    old = carried.pop(p)
                    done.append((old[0], max(note[0], old[0] + 1e-3), p, int(old[1])))
            if np.isnan(off):
                carried[p] = note
            else:
                done.append((note[0], max(start + off, note[0] + 1e-3), p, int(note[1])))
        for p, note in open_notes.items():  # not continued: closed where this segment begins
            if p not in used:
                done.append((note[0], max(start, note[0] + default_duration), p, int(note[1])))
        open_notes = carried
        seg_end = start + SEGMENT_SECONDS
    end = seg_end if final_end is None else final_end
    for p, note in open_notes.items():
        done.append((note[0], max(end, note[0] + default_duration), p, int(note[1])))
    if not done:
        return np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    done.sort(key=lambda n: (n[0], n[2]))
    on, off, p, v = (np.array(c) for c in zip(*done))
    return on.astype(float), off.astype(float), p.astype(np.int64), v.astype(np.int64)
