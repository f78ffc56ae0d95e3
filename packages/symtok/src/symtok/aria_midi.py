"""Raw MIDI events for the Aria tokenizer, read the way aria-utils reads them (mido + `MidiDict`).

Why not symusic here: aria-utils' rules depend on things symusic's `Score` drops or changes — MIDI *channels*
(sustain pedals apply per channel across all tracks, instrument classes are assigned per channel, whole
channels are removed by program), CC64 messages in tracks without notes (common in Classical Piano MIDI, where
the pedal lives in its own track), and mido-style note pairing (a note-off closes *every* open note of that
pitch and channel, and a note whose on and off share a tick is dropped). So this module scans the SMF bytes
itself, in a numba kernel (pure-Python fallback when numba is absent), and returns flat numpy event arrays.
It follows mido's reader: running status (meta events do not set it, sysex does), data bytes > 127 rejected.

`get_duration_ms` of aria-utils is reproduced operation by operation (same float products and sums in the
same order, then round-half-even), because millisecond values that are exactly x.5 are frequent
(e.g. 12 ticks at 480 tpq and 120 qpm is 12.5 ms) and the last float bit decides the rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:  # numba makes the sequential scans ~100x faster; the pure-Python path gives the same numbers
    from numba import njit
except ImportError:  # pragma: no cover - exercised only where numba is missing
    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

# event kinds produced by the scanner
NOTE_ON, NOTE_OFF, PROGRAM, PEDAL, TEMPO = 0, 1, 2, 3, 4

_ERRORS = {
    1: "truncated file (unexpected end of data)",
    2: "not a MIDI file (no MThd header)",
    3: "no MTrk header at start of track",
    4: "running status without a previous status byte",
    5: "undefined status byte",
    6: "data byte outside 0..127",
    7: "set_tempo meta message shorter than 3 bytes",
    8: "message length exceeds 1000000 bytes",
}


@njit(cache=True)
def _vlq(data, pos):
    value = 0
    n = data.shape[0]
    while True:
        if pos >= n:
            return -1, pos
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, pos


@njit(cache=True)
def _scan(data):
    """All note/program/CC64/tempo events of all tracks, in file order. Returns (err, tpb, arrays...)."""
    n = data.shape[0]
    cap = n // 2 + 16
    kind = np.empty(cap, np.int8)
    track = np.empty(cap, np.int32)
    tick = np.empty(cap, np.int64)
    chan = np.empty(cap, np.int8)
    a = np.empty(cap, np.int32)
    b = np.empty(cap, np.int32)
    m = 0
    tpb = 0
    if n < 14 or data[0] != 77 or data[1] != 84 or data[2] != 104 or data[3] != 100:
        return 2, tpb, kind[:0], track[:0], tick[:0], chan[:0], a[:0], b[:0]
    hsize = (data[4] << 24) | (data[5] << 16) | (data[6] << 8) | data[7]
    if hsize < 6 or 8 + hsize > n:
        return 1, tpb, kind[:0], track[:0], tick[:0], chan[:0], a[:0], b[:0]
    ntracks = (data[10] << 8) | data[11]
    tpb = (data[12] << 8) | data[13]
    if tpb >= 32768:  # mido unpacks a signed short
        tpb -= 65536
    pos = 8 + hsize
    for tr in range(ntracks):
        if pos + 8 > n:
            return 1, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
        if data[pos] != 77 or data[pos + 1] != 84 or data[pos + 2] != 114 or data[pos + 3] != 107:
            return 3, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
        size = (data[pos + 4] << 24) | (data[pos + 5] << 16) | (data[pos + 6] << 8) | data[pos + 7]
        pos += 8
        end = pos + size
        last_status = -1
        t = 0
        while pos != end:
            delta, pos = _vlq(data, pos)
            if delta < 0 or pos >= n:
                return 1, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
            t += delta
            status = np.int64(data[pos])
            pos += 1
            peek = -1
            if status < 0x80:
                if last_status < 0:
                    return 4, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
                peek = status
                status = last_status
            elif status != 0xFF:
                last_status = status
            if status == 0xFF:
                if pos >= n:
                    return 1, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
                mtype = data[pos]
                pos += 1
                length, pos = _vlq(data, pos)
                if length < 0 or pos + length > n:
                    return 1, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
                if length > 1000000:
                    return 8, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
                if mtype == 0x51:
                    if length < 3:
                        return 7, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
                    kind[m] = TEMPO
                    track[m] = tr
                    tick[m] = t
                    chan[m] = -1
                    a[m] = 0
                    b[m] = (np.int32(data[pos]) << 16) | (np.int32(data[pos + 1]) << 8) | np.int32(data[pos + 2])
                    m += 1
                pos += length
                continue
            if status == 0xF0 or status == 0xF7:
                length, pos = _vlq(data, pos)
                if length < 0 or pos + length > n:
                    return 1, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
                if length > 1000000:
                    return 8, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
                pos += length
                continue
            hi = status & 0xF0
            if status < 0xF0:
                nbytes = 1 if (hi == 0xC0 or hi == 0xD0) else 2
            elif status == 0xF1 or status == 0xF3:
                nbytes = 1
            elif status == 0xF2:
                nbytes = 2
            elif status == 0xF6 or status == 0xF8 or status == 0xFA or status == 0xFB or status == 0xFC or status == 0xFE:
                nbytes = 0
            else:
                return 5, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
            d0 = 0
            d1 = 0
            for j in range(nbytes):
                if j == 0 and peek >= 0:
                    v = peek
                else:
                    if pos >= n:
                        return 1, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
                    v = np.int64(data[pos])
                    pos += 1
                if v > 127:
                    return 6, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]
                if j == 0:
                    d0 = v
                else:
                    d1 = v
            if status >= 0xF0:
                continue
            ch = status & 0x0F
            if hi == 0x90:
                kind[m] = NOTE_ON if d1 > 0 else NOTE_OFF
            elif hi == 0x80:
                kind[m] = NOTE_OFF
            elif hi == 0xC0:
                kind[m] = PROGRAM
            elif hi == 0xB0 and d0 == 64:
                kind[m] = PEDAL
            else:
                continue
            track[m] = tr
            tick[m] = t
            chan[m] = ch
            a[m] = d0
            b[m] = d1
            m += 1
    return 0, tpb, kind[:m], track[:m], tick[:m], chan[:m], a[:m], b[:m]


@njit(cache=True)
def _pair_notes(kind, track, tick, chan, a, b):
    """mido/aria note pairing per (track, channel, pitch); notes come out in the order aria appends them."""
    n = kind.shape[0]
    head = np.full(16 * 128, -1, np.int64)
    tail = np.full(16 * 128, -1, np.int64)
    nxt = np.full(n, -1, np.int64)
    start = np.empty(n, np.int64)
    end = np.empty(n, np.int64)
    pitch = np.empty(n, np.int16)
    vel = np.empty(n, np.int16)
    ch_out = np.empty(n, np.int8)
    tr_out = np.empty(n, np.int32)
    m = 0
    cur = -1
    for i in range(n):
        k = kind[i]
        if k != NOTE_ON and k != NOTE_OFF:
            continue
        if track[i] != cur:  # notes still open at the end of a track are never emitted
            cur = track[i]
            head[:] = -1
            tail[:] = -1
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
        while j >= 0 and tick[j] != t:  # open notes that started at this very tick stay open
            start[m] = tick[j]
            end[m] = t
            pitch[m] = a[i]
            vel[m] = b[j]
            ch_out[m] = chan[i]
            tr_out[m] = track[i]
            m += 1
            closed += 1
            j = nxt[j]
        if closed > 0 and j >= 0:
            head[key] = j
        else:  # everything closed, or only zero-length notes: aria forgets them all
            head[key] = -1
            tail[key] = -1
    return start[:m], end[:m], pitch[:m], vel[:m], ch_out[:m], tr_out[:m]


@njit(cache=True)
def _duration_ms(start, end, t, scale):
    """aria-utils `get_duration_ms` for each (start, end) pair, including its index quirk."""
    n = start.shape[0]
    L = t.shape[0]
    out = np.empty(n, np.int64)
    for i in range(n):
        s = start[i]
        e = end[i]
        idx = L - 1
        for j in range(L):
            if s <= t[j]:
                idx = j
                break
        if idx > 0:
            idx -= 1
        dur = 0.0
        curr = s
        broke = False
        for k in range(idx, L - 1):
            if e < t[k + 1]:
                dur += (e - curr) * scale[k]
                broke = True
                break
            dur += (t[k + 1] - curr) * scale[k]
            curr = t[k + 1]
        if not broke and e > t[L - 1]:
            dur += (e - curr) * scale[L - 1]
        out[i] = np.int64(np.rint(dur * 1e3))
    return out


@njit(cache=True)
def _elapsed_from_ms(s, end, t, scale):
    """`_duration_ms` for one shared start tick (onsets): the partial sums are shared, so O(N log T + T).

    Upstream accumulates `dur += term` segment by segment from `s`; every note sees the same running sums until
    its own last segment, so they are computed once (same additions in the same order) and each note adds its
    final term — bit-identical to the per-note loop.
    """
    L = t.shape[0]
    idx = L - 1
    for j in range(L):
        if s <= t[j]:
            idx = j
            break
    if idx > 0:
        idx -= 1
    steps = max(L - 1 - idx, 0)
    partial = np.empty(steps + 1, np.float64)  # partial[j]: after j full steps
    curr_at = np.empty(steps + 1, np.int64)  # curr_tick before step j
    partial[0] = 0.0
    curr = s
    for j in range(steps):
        k = idx + j
        curr_at[j] = curr
        partial[j + 1] = partial[j] + (t[k + 1] - curr) * scale[k]
        curr = t[k + 1]
    curr_at[steps] = curr
    n = end.shape[0]
    out = np.empty(n, np.int64)
    for i in range(n):
        e = end[i]
        k = np.searchsorted(t, e, side="right") - 1  # the first k with e < t[k + 1] is the break step
        if k < idx:
            k = idx
        if k <= L - 2:
            j = k - idx
            dur = partial[j] + (e - curr_at[j]) * scale[k]
        else:
            dur = partial[steps]
            if e > t[L - 1]:
                dur += (e - curr_at[steps]) * scale[L - 1]
        out[i] = np.int64(np.rint(dur * 1e3))
    return out


@njit(cache=True)
def _pedal_intervals(tick, chan, down):
    """aria `_build_pedal_intervals`: first down opens, first up closes, per channel (events sorted by tick)."""
    n = tick.shape[0]
    open_at = np.full(16, -1, np.int64)
    ch_out = np.empty(n + 16, np.int8)
    s_out = np.empty(n + 16, np.int64)
    e_out = np.empty(n + 16, np.int64)
    m = 0
    for i in range(n):
        c = chan[i]
        if down[i] and open_at[c] < 0:
            open_at[c] = tick[i]
        elif not down[i] and open_at[c] >= 0:
            ch_out[m] = c
            s_out[m] = open_at[c]
            e_out[m] = tick[i]
            m += 1
            open_at[c] = -1
    unclosed = np.empty(16, np.int64)
    for c in range(16):
        unclosed[c] = open_at[c]
    return ch_out[:m], s_out[:m], e_out[:m], unclosed


@dataclass(frozen=True)
class AriaMidi:
    """What aria-utils' `MidiDict.from_midi` keeps of a file, as arrays (notes sorted as aria sorts them)."""

    tpb: int
    start: np.ndarray  # (N,) int64 ticks, stable-sorted as aria sorts note messages
    end: np.ndarray  # (N,) int64 ticks (before pedal)
    pitch: np.ndarray  # (N,) int16
    velocity: np.ndarray  # (N,) int16
    channel: np.ndarray  # (N,) int8
    program_tick: np.ndarray  # (P,) program changes sorted by tick
    program_channel: np.ndarray
    program: np.ndarray
    pedal_tick: np.ndarray  # (Q,) CC64 messages sorted by tick
    pedal_channel: np.ndarray
    pedal_down: np.ndarray  # (Q,) bool, value >= 64
    tempo_tick: np.ndarray  # (T,) >= 1 entry; 500000 at tick 0 when the file has none
    tempo: np.ndarray  # (T,) microseconds per quarter


def read_aria_midi(data: bytes | np.ndarray, name: str | None = None) -> AriaMidi:
    """Parse SMF bytes into `AriaMidi`; raises `MidiError` naming the file for malformed data."""
    from symcore.errors import MidiError

    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    err, tpb, kind, track, tick, chan, a, b = _scan(buf)
    if err:
        raise MidiError(name, f"cannot parse MIDI ({_ERRORS[int(err)]})")
    start, end, pitch, vel, ch, _ = _pair_notes(kind, track, tick, chan, a, b)
    order = np.argsort(start, kind="stable")

    def _sorted(mask):
        idx = np.flatnonzero(mask)
        return idx[np.argsort(tick[idx], kind="stable")]

    prog = _sorted(kind == PROGRAM)
    ped = _sorted(kind == PEDAL)
    tmp = _sorted(kind == TEMPO)
    if tmp.size:
        tempo_tick, tempo = tick[tmp], b[tmp].astype(np.int64)
    else:
        tempo_tick, tempo = np.zeros(1, np.int64), np.full(1, 500000, np.int64)
    return AriaMidi(
        tpb=int(tpb), start=start[order], end=end[order], pitch=pitch[order], velocity=vel[order],
        channel=ch[order], program_tick=tick[prog], program_channel=chan[prog], program=a[prog].astype(np.int16),
        pedal_tick=tick[ped], pedal_channel=chan[ped], pedal_down=b[ped] >= 64, tempo_tick=tempo_tick,
        tempo=tempo,
    )


def duration_ms(start: np.ndarray, end: np.ndarray, tempo_tick: np.ndarray, tempo: np.ndarray, tpb: int) -> np.ndarray:
    """Milliseconds from `start` to `end` ticks exactly as aria-utils computes them (rounded to int)."""
    if tpb == 0:
        raise ZeroDivisionError("ticks per beat is 0")
    scale = tempo.astype(np.float64) * 1e-6 / tpb  # mido's tick2second scale, same two float ops
    start = np.ascontiguousarray(start, np.int64)
    end = np.ascontiguousarray(np.broadcast_to(end, start.shape), np.int64)
    t = np.ascontiguousarray(tempo_tick, np.int64)
    if start.size and start.min() == start.max():  # onsets: one shared start
        return _elapsed_from_ms(start[0], end, t, scale)
    return _duration_ms(start, end, t, scale)


def tempo_steps(start: np.ndarray, end: np.ndarray, tempo_tick: np.ndarray) -> int:
    """Tempo segments the notes' durations touch, summed (the work of upstream's per-note loop)."""
    t = np.asarray(tempo_tick)
    m = np.searchsorted(t, start, side="left")
    idx = np.maximum(np.where(m == len(t), len(t) - 1, m) - 1, 0)
    brk = np.maximum(np.searchsorted(t, end, side="right") - 1, idx)
    return int(np.minimum(brk, len(t) - 1).sum() - idx.sum() + len(start))


def fold_pedal_aria(
    end: np.ndarray, channel: np.ndarray, pedal_tick: np.ndarray, pedal_channel: np.ndarray, pedal_down: np.ndarray
) -> np.ndarray:
    """Note ends after aria's pedal rule: an end strictly inside a channel's pedal interval moves to its release.

    Notes and pedals are those left after instrument removal, notes in aria's order; a pedal still down at the
    end of the file is released at the end of the *last note in that order* (not the latest end), as upstream.
    """
    end = end.copy()
    if pedal_tick.size == 0 or end.size == 0:
        return end
    pch, ps, pe, unclosed = _pedal_intervals(
        np.ascontiguousarray(pedal_tick, np.int64), np.ascontiguousarray(pedal_channel, np.int8),
        np.ascontiguousarray(pedal_down, np.bool_),
    )
    final_tick = end[-1]
    for c in np.unique(channel):
        sel = pch == c
        s, e = ps[sel], pe[sel]
        if unclosed[c] >= 0:
            s, e = np.append(s, unclosed[c]), np.append(e, final_tick)
        if s.size == 0:
            continue
        notes = np.flatnonzero(channel == c)
        ne = end[notes]
        i = np.searchsorted(s, ne, side="left") - 1  # last interval starting strictly before the note end
        ic = np.maximum(i, 0)
        hit = (i >= 0) & (ne < e[ic])
        end[notes[hit]] = e[ic[hit]]
    return end
