"""Augmentation and control tokens on AbsTokenizer id arrays, for online use inside DataLoader workers.

Working on ids (not MIDI) keeps an epoch cheap: tables derived once from the vocabulary map a note token to its
pitch/velocity neighbours, and tempo scaling re-derives absolute onsets from `<T>` counts, scales them and emits
the `<T>` tokens again. Sequences are `[prefix…] <S> body <E>` with body notes as `note onset dur` triples (drums:
`drum onset`) and one `<T>` per 5 s segment boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOS_ID, EOS_ID, PAD_ID, UNK_ID, DIM_ID, TIME_ID = range(6)
SPECIAL, PREFIX, NOTE, DRUM, DUR, ONSET = range(6)
SEGMENT_MS = 5000


class TokenTables:
    """Per-id lookups derived from a vocabulary of `<X>` strings and tuples (as AbsTokenizer.vocab)."""

    def __init__(self, vocab: Sequence):
        n = len(vocab)
        self.kind = np.full(n, SPECIAL, np.int8)
        self.value = np.zeros(n, np.int64)  # ms for onset/dur, pitch for notes/drums
        self.velocity = np.zeros(n, np.int64)
        instruments, durs, onsets, notes = {}, {}, {}, {}
        for i, tok in enumerate(vocab):
            if isinstance(tok, str):
                continue
            head = tok[0]
            if head == "prefix":
                self.kind[i] = PREFIX
            elif head == "dur":
                self.kind[i], self.value[i] = DUR, tok[1]
                durs[tok[1]] = i
            elif head == "onset":
                self.kind[i], self.value[i] = ONSET, tok[1]
                onsets[tok[1]] = i
            elif head == "drum":
                self.kind[i], self.value[i] = DRUM, tok[1]
            else:
                self.kind[i], self.value[i], self.velocity[i] = NOTE, tok[1], tok[2]
                notes[tok] = i
                instruments.setdefault(head, len(instruments))
        self.time_step = min(d for d in durs if d > 0)
        self.max_dur = max(durs)
        self.dur_id = np.array([durs[d] for d in sorted(durs)])  # index = ms // step
        self.onset_id = np.array([onsets[o] for o in sorted(onsets)])
        self.velocities = np.array(sorted({t[2] for t in notes}))
        # note_lut[instrument, pitch, velocity index] -> id
        self.inst_index = np.zeros(n, np.int64)
        self.note_lut = np.full((len(instruments), 128, len(self.velocities)), UNK_ID, np.int64)
        vel_index = {v: k for k, v in enumerate(self.velocities)}
        for tok, i in notes.items():
            self.inst_index[i] = instruments[tok[0]]
            self.note_lut[instruments[tok[0]], tok[1], vel_index[tok[2]]] = i
        self.vel_index = np.array([vel_index.get(v, 0) for v in self.velocity])
        self.note_start = (self.kind == NOTE) | (self.kind == DRUM)

    def pitch_shift(self, ids: np.ndarray, semitones: int) -> np.ndarray:
        """Transpose note tokens; pitches leaving 0..127 become `<U>` (as upstream)."""
        ids = ids.copy()
        m = self.kind[ids] == NOTE
        p = self.value[ids[m]] + semitones
        ok = (p >= 0) & (p < 128)
        new = np.full(p.shape, UNK_ID)
        src = ids[m][ok]
        new[ok] = self.note_lut[self.inst_index[src], p[ok], self.vel_index[src]]
        ids[m] = new
        return ids

    def velocity_shift(self, ids: np.ndarray, steps: int) -> np.ndarray:
        """Move note velocities by quantisation steps, clipped to the smallest non-zero and the largest level."""
        ids = ids.copy()
        m = self.kind[ids] == NOTE
        src = ids[m]
        lo = 1 if self.velocities[0] == 0 else 0
        v = np.clip(self.vel_index[src] + steps, lo, len(self.velocities) - 1)
        ids[m] = self.note_lut[self.inst_index[src], self.value[src], v]
        return ids

    def tempo_scale(self, ids: np.ndarray, factor: float) -> np.ndarray:
        """Stretch time by `factor` (>1 slower): onsets and durations re-quantised, `<T>` tokens re-emitted."""
        if factor == 1.0:
            return ids.copy()
        kind = self.kind[ids]
        segment = np.cumsum(ids == TIME_ID)
        is_onset = kind == ONSET
        step = self.time_step
        abs_ms = np.round((segment * SEGMENT_MS + self.value[ids]) * factor / step).astype(np.int64) * step
        dur = np.clip(np.round(self.value[ids] * factor / step).astype(np.int64) * step, step, self.max_dur)
        out = ids.copy()
        out[is_onset] = self.onset_id[(abs_ms[is_onset] % SEGMENT_MS) // step]
        is_dur = kind == DUR
        out[is_dur] = self.dur_id[dur[is_dur] // step]
        # Drop the old <T>s; before each note emit as many <T>s as its onset's new segment advanced.
        starts = np.flatnonzero(self.note_start[ids][:-1] & is_onset[1:])
        seg = abs_ms[starts + 1] // SEGMENT_MS
        counts = np.diff(np.maximum.accumulate(np.concatenate([[0], seg])))
        keep = ids != TIME_ID
        at = np.cumsum(keep)[starts] - 1  # index of each note start among the kept tokens
        return np.insert(out[keep], np.repeat(at, counts), TIME_ID).astype(ids.dtype)

    def insert_dim(self, ids: np.ndarray, rng: np.random.Generator, before_end: int = 100, jitter: int = 10,
                   min_len: int = 150) -> np.ndarray:
        """Put `<D>` about `before_end`±`jitter` tokens before the end, at a note start (never inside a note)."""
        if len(ids) <= min_len or (ids == DIM_ID).any():
            return ids
        target = len(ids) - before_end + int(rng.integers(-jitter, jitter + 1))
        starts = np.flatnonzero(self.note_start[ids] | (ids == TIME_ID))
        if not len(starts):
            return ids
        at = int(starts[np.abs(starts - target).argmin()])
        return np.concatenate([ids[:at], [DIM_ID], ids[at:]]).astype(ids.dtype)

    def note_starts(self, ids: np.ndarray) -> np.ndarray:
        return np.flatnonzero(self.note_start[ids])

    def onsets_ms(self, ids: np.ndarray) -> np.ndarray:
        """Absolute onset (ms) of each note start: 5000 per preceding `<T>` plus the segment onset after it."""
        starts = self.note_starts(ids)
        segment = np.cumsum(ids == TIME_ID)
        nxt = ids[np.minimum(starts + 1, len(ids) - 1)]
        return segment[starts] * SEGMENT_MS + np.where(self.kind[nxt] == ONSET, self.value[nxt], 0)

    def cut_seconds(self, ids: np.ndarray, seconds: float) -> np.ndarray:
        """The opening of a sequence: every note starting before `seconds`, without `<E>`/`<D>` (a prompt)."""
        starts, onsets = self.note_starts(ids), self.onsets_ms(ids)
        late = np.flatnonzero(onsets >= seconds * 1000)
        end = starts[late[0]] if len(late) else len(ids)
        head = ids[:end]
        head = head[(head != EOS_ID) & (head != DIM_ID) & (head != PAD_ID)]
        while len(head) and head[-1] == TIME_ID:
            head = head[:-1]
        return head

    def slice_notes(self, ids: np.ndarray, first: int, count: int) -> np.ndarray:
        """`[prefix…] <S>` + notes first..first+count-1 (time re-based to their first segment) + `<E>`."""
        starts = self.note_starts(ids)
        if not len(starts):
            return ids
        first = min(first, len(starts) - 1)
        lo = starts[first]
        hi = starts[first + count] if first + count < len(starts) else len(ids)
        body = ids[lo:hi]
        body = body[(body != EOS_ID) & (body != DIM_ID) & (body != PAD_ID)]
        while len(body) and body[-1] == TIME_ID:
            body = body[:-1]
        bos = np.flatnonzero(ids == BOS_ID)
        head = ids[: bos[0] + 1] if len(bos) else np.array([BOS_ID], ids.dtype)
        head = head[self.kind[head] != NOTE]
        return np.concatenate([head, body, [EOS_ID]]).astype(ids.dtype)


class Augmenter:
    """Random pitch (±semitones), tempo (×U(1-t, 1+t)) and velocity (±steps) augmentation of one id sequence."""

    def __init__(self, tables: TokenTables, pitch: int = 5, tempo: float = 0.2, velocity: int = 1):
        self.tables, self.pitch, self.tempo, self.velocity = tables, pitch, tempo, velocity

    def __call__(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        t = self.tables
        if self.pitch:
            ids = t.pitch_shift(ids, int(rng.integers(-self.pitch, self.pitch + 1)))
        if self.velocity:
            ids = t.velocity_shift(ids, int(rng.integers(-self.velocity, self.velocity + 1)))
        if self.tempo:
            ids = t.tempo_scale(ids, float(rng.uniform(1 - self.tempo, 1 + self.tempo)))
        return ids
