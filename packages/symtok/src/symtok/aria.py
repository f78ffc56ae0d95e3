"""Aria's absolute-onset tokenizer (EleutherAI aria-utils `AbsTokenizer`, default config), id-exact and fast.

A note is three tokens `(instrument, pitch, velocity) (onset, ms) (dur, ms)`, a drum hit two
`(drum, pitch) (onset, ms)`; onsets are absolute within the current 5 s segment and one `<T>` is emitted per
segment boundary crossed. The sequence is `[prefix…] <S> … <E>`. Reading files follows aria-utils' mido-based
`MidiDict` (see `aria_midi`), everything after that is vectorised numpy over all notes at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import symusic
from symcore.errors import EmptyMidiError, MidiError
from symcore.midi_write import write_midi
from symcore.notes import NoteArray

from symtok.aria_augment import pitch_aug, tempo_aug, velocity_aug
from symtok.aria_midi import AriaMidi, duration_ms, fold_pedal_aria, read_aria_midi, tempo_steps
from symtok.aria_vocab import (
    ABS_TIME_STEP_MS,
    BOS_ID,
    DIM_ID,
    DRUM_PREFIX_ID,
    DRUM_START,
    DUR_START,
    EOS_ID,
    IGNORED_CLASSES,
    INSTRUMENT_CLASSES,
    INSTRUMENT_PROGRAMS,
    INSTRUMENTS,
    N_VEL,
    NOTE_START,
    ONSET_START,
    PAD_ID,
    PREFIX_START,
    SPECIAL_TOKENS,
    TIME_ID,
    TIME_STEP_MS,
    UNK_ID,
    VOCAB_SIZE,
    build_vocab,
    drum_id,
    is_drum_id,
    is_dur_id,
    is_note_id,
    is_onset_id,
    note_id,
    quantize_duration,
    quantize_onset,
    quantize_velocity,
)

_CLASS_TO_INST = np.array([INSTRUMENTS.index(c) if c in INSTRUMENTS else -1 for c in INSTRUMENT_CLASSES])
_IGNORED_PROGRAM = np.array([p > 0 and INSTRUMENT_CLASSES[p // 8] in IGNORED_CLASSES for p in range(128)])
DRUM_CHANNEL = 9
MAX_SPAN_MS = 24 * 3600 * 1000  # like symcore.load_notes: longer "pieces" are corrupt timing, not music
MAX_TEMPO_STEPS = 50_000_000  # notes × tempo changes they span; real files stay below 1e6


def dim_token_position(ids: np.ndarray, rng: np.random.Generator | int | None = None) -> int | None:
    """Where aria-utils would insert `<D>` in a formatted sequence, or None if the body has <= 150 tokens."""
    ids = np.asarray(ids)
    bos = np.flatnonzero(ids == BOS_ID)
    lo = int(bos[0]) + 1 if bos.size else 0
    hi = len(ids) - 1 if len(ids) and ids[-1] == EOS_ID else len(ids)
    n = hi - lo
    if n <= 150:
        return None
    p = n - 100 + int(np.random.default_rng(rng).integers(-10, 11))  # list.insert(-100+k): before body[n-100+k]
    if is_onset_id(ids[lo + p]):
        p -= 1
    elif is_dur_id(ids[lo + p]):
        p -= 2
    return lo + p


def add_dim_token(ids: np.ndarray, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Insert `<D>` 100±10 tokens before the end of the body (between `<S>` and `<E>`) if it has > 150 tokens.

    As aria-utils: the target token decides the exact spot, so a note's (note, onset, dur) triple or a drum's
    (drum, onset) pair is never split — an onset target moves one back, a duration target two back.
    """
    at = dim_token_position(ids, rng)
    return np.asarray(ids).copy() if at is None else np.insert(np.asarray(ids), at, DIM_ID)


class AbsTokenizer:
    """aria-utils `AbsTokenizer()` with the default config: same vocabulary, tokens and ids.

    `tokenize` takes a MIDI path, MIDI bytes, a symusic `Score` (written to MIDI bytes first) or a `NoteArray`
    (approximate path: milliseconds from its seconds columns, no pedal handling). The object is picklable and
    `tokenizer(path)` is `encode_file(path)`, so it can be handed to `symtok.cache.build_cache` directly.
    """

    name = "abs"
    bos_id, eos_id, pad_id, unk_id, dim_id, time_id = BOS_ID, EOS_ID, PAD_ID, UNK_ID, DIM_ID, TIME_ID

    def __init__(self) -> None:
        self.vocab = build_vocab()
        self.vocab_size = VOCAB_SIZE
        self.tok_to_id = {tok: i for i, tok in enumerate(self.vocab)}
        self.special_tokens = SPECIAL_TOKENS
        self.instruments = INSTRUMENTS

    def __reduce__(self):  # the vocabulary is rebuilt on unpickling (cheap) instead of being shipped
        return (AbsTokenizer, ())

    def __call__(self, source) -> np.ndarray:
        return self.encode_file(source)

    # ------------------------------------------------------------------ ids <-> tokens
    def encode(self, tokens) -> np.ndarray:
        """Token list → int32 ids; unknown tokens become `<U>` (as aria-utils)."""
        get = self.tok_to_id.get
        return np.fromiter((get(_as_token(t), UNK_ID) for t in tokens), np.int32, count=len(tokens))

    def decode(self, ids) -> list:
        """Ids → tokens; ids outside the vocabulary become `<U>`."""
        vocab = self.vocab
        return [vocab[i] if 0 <= i < VOCAB_SIZE else SPECIAL_TOKENS[UNK_ID] for i in np.asarray(ids).tolist()]

    # ------------------------------------------------------------------ tokenizing
    def tokenize(
        self,
        source,
        *,
        add_dim_tok: bool = True,
        add_eos_tok: bool = True,
        remove_preceding_silence: bool = True,
        rng: np.random.Generator | int | None = None,
    ) -> list:
        """Tokens of a piece (aria-utils `tokenize(MidiDict.from_midi(path))`).

        `rng` drives the random parts: the `<D>` position and, when a file has several instruments, the order
        of the instrument prefix tokens (aria-utils shuffles them; with `rng=None` they are in vocabulary order).
        """
        ids, oov = self._encode(source, add_eos_tok, remove_preceding_silence, rng, shuffle_prefix=rng is not None)
        if add_dim_tok:
            ids, oov = _with_dim(ids, oov, rng)
        tokens = self.decode(ids)
        for pos, tok in oov.items():
            tokens[pos] = tok
        return tokens

    def encode_file(
        self, source, *, add_dim_tok: bool = False, add_eos_tok: bool = True, rng=None
    ) -> np.ndarray:
        """Int32 ids of a piece without building token tuples; deterministic unless `add_dim_tok` (for caches)."""
        ids, oov = self._encode(source, add_eos_tok, True, rng, shuffle_prefix=False)
        if add_dim_tok:
            ids, _ = _with_dim(ids, oov, rng)
        return ids.astype(np.int32)

    def _encode(self, source, add_eos_tok, remove_preceding_silence, rng, shuffle_prefix):
        if isinstance(source, NoteArray):
            ev = _events_from_notes(source)
        else:
            name, data = _read_source(source)
            ev = _events_from_midi(read_aria_midi(data, name), name, remove_preceding_silence)
        onset_ms, dur_ms, pitch, velocity, inst, prefix = ev
        prefix = np.asarray(prefix, np.int64)
        if shuffle_prefix and prefix.size > 1:
            prefix = np.random.default_rng(rng).permutation(prefix)
        body, oov_pitch = _assemble(onset_ms, dur_ms, pitch, velocity, inst)
        head = np.concatenate([prefix, [BOS_ID]]).astype(np.int64)
        parts = [head, body] + ([np.array([EOS_ID])] if add_eos_tok else [])
        ids = np.concatenate(parts)
        oov = {int(p) + len(head): ("drum", int(v)) for p, v in oov_pitch}
        return ids, oov

    # ------------------------------------------------------------------ detokenizing
    def detokenize(self, tokens_or_ids) -> NoteArray:
        """Notes of a token sequence (aria-utils `detokenize`): 1 tick = 1 ms (500 tpq at 120 qpm).

        Notes of instruments without a prefix token are dropped (upstream warns and drops them too); drums
        last 10 ms with velocity 60. Tracks follow the order of the instrument prefix tokens.
        """
        ids = _as_ids(self, tokens_or_ids)
        n = len(ids)
        special = ids < PREFIX_START
        prefix = (ids >= PREFIX_START) & (ids < NOTE_START)
        body_start = np.flatnonzero(~(special | prefix))
        start = int(body_start[0]) if body_start.size else n
        head = ids[:start]
        inst_prefix = [int(i) for i in head if PREFIX_START <= i <= DRUM_PREFIX_ID]
        order = list(dict.fromkeys(inst_prefix))  # duplicate prefixes are ignored upstream
        track_of = {i - PREFIX_START: k for k, i in enumerate(order)}  # instrument index (10 = drum) -> track
        names = tuple((INSTRUMENTS + ("drum",))[i - PREFIX_START] for i in order)
        # time: every <T> seen as a first token of a triple (upstream's zip stops two before the end)
        p = np.arange(n)
        first_ok = (p >= start) & (p <= n - 3)
        t_before = np.concatenate([[0], np.cumsum(ids == TIME_ID)[:-1]]) * ABS_TIME_STEP_MS
        nxt = np.append(ids[1:], -1)
        nxt2 = np.append(ids[2:], [-1, -1])
        is_note = first_ok & is_note_id(ids) & is_onset_id(nxt) & is_dur_id(nxt2)
        is_drum = first_ok & is_drum_id(ids) & is_onset_id(nxt)
        pos = np.flatnonzero(is_note | is_drum)
        drum = is_drum[pos]
        onset = t_before[pos] + (nxt[pos] - ONSET_START) * TIME_STEP_MS
        nid = ids[pos] - NOTE_START
        inst = np.where(drum, len(INSTRUMENTS), nid // (128 * N_VEL))
        pitch = np.where(drum, ids[pos] - DRUM_START + 35, (nid // N_VEL) % 128)
        vel = np.where(drum, 60, (nid % N_VEL) * 10)
        dur = np.where(drum, TIME_STEP_MS, (nxt2[pos] - DUR_START) * TIME_STEP_MS)
        lut = np.full(len(INSTRUMENTS) + 1, -1)
        for i, k in track_of.items():
            lut[i] = k
        track = lut[inst]
        keep = track >= 0
        programs = np.array([INSTRUMENT_PROGRAMS[x] if x != "drum" else 0 for x in names] or [0])
        track, onset, dur = track[keep], onset[keep], dur[keep]
        notes = NoteArray(
            onset=onset.astype(np.int64), duration=dur.astype(np.int64), pitch=pitch[keep].astype(np.int16),
            velocity=vel[keep].astype(np.int16), track=track.astype(np.int16),
            program=programs[track].astype(np.int16), is_drum=drum[keep].astype(bool),
            onset_sec=onset / 1000.0, duration_sec=dur / 1000.0, tpq=500,
            tempos=np.array([(0, 120.0)], dtype=[("tick", np.int64), ("qpm", np.float64)]),
            track_names=names,
        )
        return notes.sorted()

    def to_score(self, tokens_or_ids) -> symusic.Score:
        """A symusic `Score` (500 tpq, 120 qpm, one track per instrument prefix) of a token sequence."""
        notes = self.detokenize(tokens_or_ids)
        score = symusic.Score(500)
        score.tempos.append(symusic.Tempo(0, qpm=120.0))
        for k, name in enumerate(notes.track_names):
            sel = notes.track == k
            track = symusic.Track(name, program=0 if name == "drum" else INSTRUMENT_PROGRAMS[name],
                                  is_drum=name == "drum")
            track.notes = symusic.Note.from_numpy(
                time=notes.onset[sel].astype(np.int32), duration=notes.duration[sel].astype(np.int32),
                pitch=notes.pitch[sel].astype(np.int8), velocity=notes.velocity[sel].astype(np.int8),
            )
            score.tracks.append(track)
        return score

    def write_midi(self, tokens_or_ids, path: str | Path) -> Path:
        return write_midi(self.to_score(tokens_or_ids), path)

    # ------------------------------------------------------------------ augmentation and <D>
    add_dim_token = staticmethod(add_dim_token)
    pitch_aug = staticmethod(pitch_aug)
    velocity_aug = staticmethod(velocity_aug)
    tempo_aug = staticmethod(tempo_aug)


def _as_token(t):
    return tuple(t) if isinstance(t, list) else t


def _as_ids(tok: AbsTokenizer, seq) -> np.ndarray:
    arr = seq if isinstance(seq, np.ndarray) else None
    if arr is None and len(seq) and not isinstance(seq[0], (int, np.integer)):
        return tok.encode(seq).astype(np.int64)
    return np.asarray(seq, np.int64)


def _with_dim(ids, oov, rng):
    at = dim_token_position(ids, rng)
    if at is None:
        return ids, oov
    return np.insert(ids, at, DIM_ID), {(p + 1 if p >= at else p): t for p, t in oov.items()}


def _read_source(source) -> tuple[str | None, bytes]:
    if isinstance(source, symusic.Score):
        return None, bytes(source.dumps_midi())
    if isinstance(source, (bytes, bytearray, memoryview)):
        return None, bytes(source)
    path = Path(source)
    if not path.is_file():
        raise MidiError(str(path), "file not found")
    return str(path), path.read_bytes()


def _events_from_midi(m: AriaMidi, name, remove_preceding_silence: bool):
    """aria-utils' `remove_instruments` + channel → instrument + pedal folding + times in ms."""
    if m.tpb <= 0:
        raise MidiError(name, f"unsupported time division ({m.tpb} ticks per beat; SMPTE timing)")
    prog_ch, prog = m.program_channel.astype(np.int64), m.program.astype(np.int64)
    if prog.size == 0:  # MidiDict adds a default piano program change on channel 0
        prog_ch, prog = np.zeros(1, np.int64), np.zeros(1, np.int64)
    removed = np.unique(prog_ch[_IGNORED_PROGRAM[prog] & (prog_ch != DRUM_CHANNEL)])
    keep = ~np.isin(m.channel, removed)
    if not keep.any():
        raise EmptyMidiError(name, "no notes left after removing ignored instruments" if m.start.size else
                             "valid MIDI but it contains no notes")
    pk = ~np.isin(prog_ch, removed)
    ch_inst = np.full(16, -1)
    for c, p in zip(prog_ch[pk].tolist(), prog[pk].tolist()):  # the last program change of a channel wins
        if c != DRUM_CHANNEL:
            ch_inst[c] = _CLASS_TO_INST[p // 8]
    channel = m.channel[keep].astype(np.int64)
    used = np.unique(channel)
    for c in used:
        if c != DRUM_CHANNEL and ch_inst[c] < 0:
            ch_inst[c] = 0  # piano
    prefix = sorted({PREFIX_START + int(i) for i in ch_inst if i >= 0})
    if DRUM_CHANNEL in used:
        prefix.append(DRUM_PREFIX_ID)
    start = m.start[keep]
    pedal_keep = ~np.isin(m.pedal_channel, removed)
    end = fold_pedal_aria(m.end[keep], m.channel[keep], m.pedal_tick[pedal_keep], m.pedal_channel[pedal_keep],
                          m.pedal_down[pedal_keep])
    initial = start[0] if remove_preceding_silence else 0
    onset_ms = duration_ms(np.full_like(start, initial), start, m.tempo_tick, m.tempo, m.tpb)
    if onset_ms.size and onset_ms[-1] > MAX_SPAN_MS:  # one <T> per 5 s: a 1e9 ms span would be 2e5 tokens/day
        raise MidiError(name, f"notes span {onset_ms[-1] / 3.6e6:.1f} h (> 24 h): refusing absurd timing")
    if tempo_steps(start, end, m.tempo_tick) > MAX_TEMPO_STEPS:
        raise MidiError(name, f"pathological tempo map ({len(m.tempo_tick)} tempo changes under long notes)")
    dur_ms = duration_ms(start, end, m.tempo_tick, m.tempo, m.tpb)
    inst = np.where(channel == DRUM_CHANNEL, -1, ch_inst[channel])
    return onset_ms, dur_ms, m.pitch[keep].astype(np.int64), m.velocity[keep].astype(np.int64), inst, prefix


def _events_from_notes(notes: NoteArray):
    """NoteArray → the same event columns, via its seconds columns (no channels, no pedal: fold beforehand)."""
    cls = _CLASS_TO_INST[notes.program.astype(np.int64) // 8]
    keep = notes.is_drum | (cls >= 0)
    if not keep.any():
        raise EmptyMidiError(notes.path, "no notes left after removing ignored instruments")
    order = np.argsort(notes.onset_sec[keep], kind="stable")
    idx = np.flatnonzero(keep)[order]
    on = np.rint(notes.onset_sec[idx] * 1e3).astype(np.int64)
    on -= on[0]
    dur = np.rint(notes.duration_sec[idx] * 1e3).astype(np.int64)
    drum = notes.is_drum[idx]
    inst = np.where(drum, -1, cls[idx])
    prefix = sorted({PREFIX_START + int(i) for i in inst[~drum]})
    if drum.any():
        prefix.append(DRUM_PREFIX_ID)
    return on, dur, notes.pitch[idx].astype(np.int64), notes.velocity[idx].astype(np.int64), inst, prefix


def _assemble(onset_ms, dur_ms, pitch, velocity, inst):
    """Body ids: per note its `<T>` tokens, then (note, onset, dur) or (drum, onset). Fully vectorised."""
    seg = onset_ms // ABS_TIME_STEP_MS
    n_time = np.maximum(seg - np.concatenate([[0], seg[:-1]]), 0)  # upstream never emits a negative count
    drum = inst < 0
    width = np.where(drum, 2, 3)
    block = n_time + width
    first = np.cumsum(block) - width  # position of each note token
    body = np.full(int(block.sum()), TIME_ID, np.int64)
    onset_q = quantize_onset(onset_ms % ABS_TIME_STEP_MS)
    vel_q = quantize_velocity(velocity)
    body[first] = np.where(drum, drum_id(pitch), note_id(np.maximum(inst, 0), pitch, vel_q))
    body[first + 1] = ONSET_START + onset_q // TIME_STEP_MS
    nd = ~drum
    body[first[nd] + 2] = DUR_START + quantize_duration(dur_ms[nd]) // TIME_STEP_MS
    bad = drum & (body[first] == UNK_ID)
    return body, list(zip(first[bad].tolist(), pitch[bad].tolist()))
