"""Notes read the way MidiBERT read them (miditoolkit 0.1.14, i.e. pretty_midi's parser), for `CPTokenizer(compat=True)`.

symusic pairs note-ons and note-offs first-in first-out. miditoolkit 0.1.14 instead lets a note-off close
*every* open note of that (channel, pitch) in the track, keeps notes that started at the very tick of the
note-off open, never emits zero-length notes, and groups notes into instruments keyed by
(program at the note-off, channel, track) in order of their first closed note. With overlapping notes of one
pitch (processed POP909 has some) the durations differ, so MidiBERT's exact tokens need this reader.
The SMF bytes are scanned by `symtok.aria_midi` (mido's reading rules); the pairing below is our own kernel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from symcore.errors import EmptyMidiError, MidiError
from symcore.notes import TEMPO_DTYPE, NoteArray, ticks_to_seconds

from symtok.aria_midi import _ERRORS, NOTE_OFF, NOTE_ON, PROGRAM, TEMPO, _scan, njit


@njit(cache=True)
def _pair_pretty_midi(kind, track, tick, chan, a, b):
    """Notes in the order miditoolkit appends them, with the (program, channel, track) key of each."""
    n = kind.shape[0]
    head = np.full(16 * 128, -1, np.int64)
    tail = np.full(16 * 128, -1, np.int64)
    nxt = np.full(n, -1, np.int64)
    program = np.zeros(16, np.int64)
    start = np.empty(n, np.int64)
    end = np.empty(n, np.int64)
    pitch = np.empty(n, np.int64)
    vel = np.empty(n, np.int64)
    key_out = np.empty(n, np.int64)  # (track * 16 + channel) * 128 + program
    m = 0
    cur = -1
    for i in range(n):
        k = kind[i]
        if track[i] != cur:  # open notes and programs do not survive the end of a track
            cur = track[i]
            head[:] = -1
            tail[:] = -1
            program[:] = 0
        if k == PROGRAM:
            program[chan[i]] = a[i]
            continue
        if k != NOTE_ON and k != NOTE_OFF:
            continue
        key = chan[i] * 128 + a[i]
        if k == NOTE_ON:
            if head[key] < 0:
                head[key] = i
            else:
                nxt[tail[key]] = i
            tail[key] = i
            continue
        j = head[key]
        if j < 0:
            continue
        t = tick[i]
        closed = 0
        keep_head = -1
        keep_tail = -1
        while j >= 0:
            if tick[j] != t:
                start[m] = tick[j]
                end[m] = t
                pitch[m] = a[i]
                vel[m] = b[j]
                key_out[m] = (cur * 16 + chan[i]) * 128 + program[chan[i]]
                m += 1
                closed += 1
            else:  # started at this very tick: stays open (only if something else was closed)
                if keep_head < 0:
                    keep_head = j
                else:
                    nxt[keep_tail] = j
                keep_tail = j
            j = nxt[j]
        if closed > 0 and keep_head >= 0:
            nxt[keep_tail] = -1
            head[key] = keep_head
            tail[key] = keep_tail
        else:
            head[key] = -1
            tail[key] = -1
    return start[:m], end[:m], pitch[:m], vel[:m], key_out[:m]


def load_notes_midibert(path: str | Path) -> NoteArray:
    """A `NoteArray` with miditoolkit 0.1.14's notes; `track` is its instrument index (MidiBERT's melody label - 1)."""
    name = str(path)
    p = Path(path)
    if not p.is_file():
        raise MidiError(name, "file not found")
    data = np.frombuffer(p.read_bytes(), np.uint8)
    if data.size == 0:
        raise MidiError(name, "file is empty (0 bytes)")
    err, tpb, kind, track, tick, chan, a, b = _scan(data)
    if err:
        raise MidiError(name, f"cannot parse MIDI ({_ERRORS[int(err)]})")
    if tpb <= 0:
        raise MidiError(name, f"invalid ticks per beat ({tpb})")
    start, end, pitch, vel, key = _pair_pretty_midi(kind, track, tick, chan, a, b)
    if start.size == 0:
        raise EmptyMidiError(name, "valid MIDI but it contains no notes")
    keys, first = np.unique(key, return_index=True)
    rank = np.empty(len(keys), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(keys))  # instruments in order of creation
    inst = rank[np.searchsorted(keys, key)]
    order = np.lexsort((pitch, inst, start))  # stable: ties keep miditoolkit's append order
    start, end, pitch, vel, inst, key = start[order], end[order], pitch[order], vel[order], inst[order], key[order]
    tmp = np.flatnonzero(kind == TEMPO)
    tmp = tmp[np.argsort(tick[tmp], kind="stable")]
    tempos = np.zeros(len(tmp), TEMPO_DTYPE)
    tempos["tick"], tempos["qpm"] = tick[tmp], 6e7 / np.maximum(b[tmp], 1)
    on_sec, off_sec = ticks_to_seconds(start, tempos, tpb), ticks_to_seconds(end, tempos, tpb)
    channel = (key // 128) % 16
    return NoteArray(
        onset=start, duration=end - start, pitch=pitch.astype(np.int16), velocity=vel.astype(np.int16),
        track=inst.astype(np.int16), program=(key % 128).astype(np.int16), is_drum=channel == 9,
        onset_sec=on_sec, duration_sec=off_sec - on_sec, tpq=int(tpb), tempos=tempos, path=name,
    )
