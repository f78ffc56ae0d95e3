"""MidiBERT's POP909 beat alignment (`preprocess_pop909/preprocess.py`), vectorised, for ME/VE data that matches theirs.

MidiBERT never tokenized raw POP909: each song is first re-timed onto its audio beat grid (`beat_audio.txt`):
notes are converted to seconds through the MIDI tempo map, assigned to the beat they start in, and rounded to
1/4 beat inside it; notes whose length rounds to 0 (at most 1/8 beat) are dropped, the pickup is offset so that
downbeats fall on multiples of 1920 ticks, and the result is a 480-tpq, 4/4 file with tracks vocal, bridge,
piano. The CP step then reads that file again with miditoolkit's note pairing, so `aligned_pop909_notes` returns
the notes as MidiBERT's CP step sees them (written by miditoolkit, then re-read with its note pairing).

Reproduced deliberately, with the original's arithmetic order (times are rounded with round-half-even, like
Python's `round`): a note starting exactly at a tempo change is timed with the previous tempo segment, and one
starting at tick 0 with the *last* segment (a negative index in the original) when the file has several tempos.
The recomputed tempo map is not reproduced: it does not affect CP tokens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from symcore.errors import MidiError
from symcore.notes import NOTE_COLUMNS, NoteArray

from symtok.aria_midi import NOTE_OFF, NOTE_ON
from symtok.cp_compat import _pair_pretty_midi, load_notes_midibert

TPB = 480  # ticks per beat of the aligned file
STEP = 120  # 1/4 beat
TRACK_NAMES = ("vocal", "bridge", "piano")


def _tempo_map(notes: NoteArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """miditoolkit 0.1.14's tempo changes (bpm, tick) and the seconds at each, accumulated as preprocess.py does."""
    ticks, bpms = [], []
    for tick, qpm in zip(notes.tempos["tick"].tolist(), notes.tempos["qpm"].tolist()):
        if tick == 0:  # a tempo at tick 0 replaces everything before it
            ticks, bpms = [0], [qpm]
        elif not bpms or qpm != bpms[-1]:
            ticks.append(tick)
            bpms.append(qpm)
    if not ticks or ticks[0] != 0:
        ticks, bpms = [0] + ticks, [120.0] + bpms
    accum = [0.0]
    for k in range(1, len(ticks)):
        accum.append(accum[-1] + 60.0 / bpms[k - 1] * (ticks[k] - ticks[k - 1]) / notes.tpq)
    return np.array(ticks, np.int64), np.array(bpms), np.array(accum)


def _seconds(tick: np.ndarray, t_tick: np.ndarray, bpm: np.ndarray, accum: np.ndarray, tpb: int) -> np.ndarray:
    seg = np.searchsorted(t_tick, tick, side="left") - 1  # -1 wraps to the last segment, as in the original
    return accum[seg] + 60.0 / bpm[seg] * (tick - t_tick[seg]) / tpb


def _justify(beats: np.ndarray) -> np.ndarray:
    return (STEP * np.round(beats * TPB / STEP)).astype(np.int64)


def align_pop909(song_dir: str | Path) -> NoteArray:
    """The beat-aligned notes of one POP909 song folder (`NNN/NNN.mid` + `beat_audio.txt`), as written by MidiBERT."""
    song_dir = Path(song_dir)
    midi, beat_file = song_dir / f"{song_dir.name}.mid", song_dir / "beat_audio.txt"
    notes = load_notes_midibert(midi)
    try:
        beats = np.loadtxt(beat_file, ndmin=2)
    except (OSError, ValueError) as exc:
        raise MidiError(str(beat_file), f"cannot read the beat grid ({exc})") from exc
    if notes.track.max() < 2 or len(beats) < 2:
        raise MidiError(str(midi), "POP909 alignment needs 3 instruments and at least 2 beats")
    times = beats[:, 0]
    first = np.flatnonzero(beats[:4, 1] == 1.0)
    downbeat = int(first[0]) if first.size else 0
    base = {1: 3 * TPB, 2: 2 * TPB, 3: TPB}.get(downbeat, 0)
    t_tick, bpm, accum = _tempo_map(notes)
    st = _seconds(notes.onset, t_tick, bpm, accum, notes.tpq)
    ed = _seconds(notes.offset, t_tick, bpm, accum, notes.tpq)
    n = len(times)
    out = []
    for track in range(3):  # only MELODY, BRIDGE, PIANO (instruments 0..2) are kept
        idx = np.flatnonzero(notes.track == track)
        idx = idx[np.lexsort((-notes.pitch[idx].astype(np.int64), st[idx]))]
        s, e = st[idx].copy(), ed[idx]
        beat = np.searchsorted(times[1:], s, side="left")  # the beat each note starts in (last one open-ended)
        early = (beat == 0) & (s < times[0])
        rescued = early & (s >= times[0] - 0.1) & (e - s > 0.2)
        s[rescued] = times[0]
        late = (beat == n - 1) & (s - times[-1] > times[-1] - times[-2])
        keep = (~early | rescued) & ~late
        beat_dur = np.where(beat < n - 1, times[np.minimum(beat + 1, n - 1)] - times[beat], times[-1] - times[-2])
        dur = _justify((e - s) / beat_dur)
        start = base + TPB * beat + _justify((s - times[beat]) / beat_dur)
        keep &= dur != 0
        idx, start, dur = idx[keep], start[keep], dur[keep]
        order = np.lexsort((-notes.pitch[idx].astype(np.int64), start))
        idx, start, dur = idx[order], start[order], dur[order]
        out.append((idx, start, dur, track))
    cols = {c: np.concatenate([getattr(notes, c)[i] for i, *_ in out]) for c in NOTE_COLUMNS}
    cols["onset"] = np.concatenate([s for _, s, _, _ in out])
    cols["duration"] = np.concatenate([d for _, _, d, _ in out])
    cols["track"] = np.concatenate([np.full(len(i), t, np.int16) for i, _, _, t in out])
    cols["program"] = cols["track"].copy()
    cols["is_drum"] = np.zeros(len(cols["onset"]), bool)
    cols["onset_sec"] = cols["onset"] / (2.0 * TPB)  # nominal 120 qpm: the aligned file's tempo is not rebuilt
    cols["duration_sec"] = cols["duration"] / (2.0 * TPB)
    return NoteArray(**cols, tpq=TPB, track_names=TRACK_NAMES, path=str(midi))


def aligned_pop909_notes(song_dir: str | Path) -> NoteArray:
    """The aligned song as MidiBERT's CP step reads it back: miditoolkit wrote it (pretty_midi's event order: at
    one tick note-offs first, note-ons by pitch then velocity) and re-read it pairing a note-off with *every* open
    note of its pitch, so overlapping notes of one pitch are cut at the first note-off."""
    notes = align_pop909(song_dir)
    n = len(notes)
    on, off = np.arange(n) * 2, np.arange(n) * 2 + 1  # events in the order they are appended per note
    m = 2 * n
    tick, track, kind = np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m, np.int64)
    pitch, vel, prio = np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m, np.int64)
    tick[on], tick[off] = notes.onset, notes.offset
    track[on] = track[off] = notes.track
    pitch[on] = pitch[off] = notes.pitch
    vel[on], vel[off] = notes.velocity, 0
    kind[on], kind[off] = NOTE_ON, NOTE_OFF
    prio[on], prio[off] = 1, 0
    order = np.lexsort((pitch * 256 + vel, prio, tick, track))  # stable, like pretty_midi's sort
    start, end, p, v, key = _pair_pretty_midi(kind[order], track[order], tick[order], np.zeros(m, np.int64),
                                              pitch[order], vel[order])
    tr = (key // 128 // 16).astype(np.int16)
    o = np.lexsort((p, tr, start))
    start, end, p, v, tr = start[o], end[o], p[o], v[o], tr[o]
    k = len(start)
    return NoteArray(
        onset=start, duration=end - start, pitch=p.astype(np.int16), velocity=v.astype(np.int16), track=tr,
        program=tr.copy(), is_drum=np.zeros(k, bool), onset_sec=start / (2.0 * TPB),
        duration_sec=(end - start) / (2.0 * TPB), tpq=TPB, track_names=TRACK_NAMES, path=notes.path,
    )
