"""aria-utils' AbsTokenizer data augmentations, on id arrays and vectorised.

Same semantics as upstream's exported functions (wrapped by `export_aug_fn_concat`): a sequence is cut after
every `<E>`, each piece is augmented on its own (a fresh random amount per piece unless the amount is given),
and the result is cut or `<P>`-padded back to the input length.
"""

from __future__ import annotations

import numpy as np

from symtok.aria_vocab import (
    ABS_TIME_STEP_MS,
    BOS_ID,
    DIM_ID,
    DUR_START,
    EOS_ID,
    MAX_DUR_MS,
    MAX_VELOCITY,
    N_VEL,
    NOTE_START,
    ONSET_START,
    PAD_ID,
    PREFIX_START,
    TIME_ID,
    TIME_STEP_MS,
    UNK_ID,
    VELOCITY_STEP,
    is_drum_id,
    is_dur_id,
    is_note_id,
    is_onset_id,
)


def _segments(ids: np.ndarray) -> np.ndarray:
    """Piece index of every token: a piece ends with (and includes) its `<E>`."""
    return np.concatenate([[0], np.cumsum(ids == EOS_ID)[:-1]]) if ids.size else np.zeros(0, np.int64)


def pitch_aug(ids, shift: int | None = None, *, max_shift: int = 5, rng=None) -> np.ndarray:
    """Transpose every note token by `shift` semitones (random in ±max_shift per piece when None).

    Notes pushed outside 0..127 become `<U>`; drums, times and specials are untouched (as upstream).
    """
    ids = np.asarray(ids, np.int64)
    seg = _segments(ids)
    if shift is None:
        shifts = np.random.default_rng(rng).integers(-max_shift, max_shift + 1, size=int(seg.max(initial=0)) + 1)
    else:
        shifts = np.full(int(seg.max(initial=0)) + 1, int(shift))
    s = shifts[seg]
    note = is_note_id(ids)
    pitch = ((ids - NOTE_START) // N_VEL) % 128
    new = pitch + s
    out = ids.copy()
    ok = note & (new >= 0) & (new <= 127)
    out[ok] = ids[ok] + s[ok] * N_VEL
    out[note & ~ok] = UNK_ID
    return out


def velocity_aug(ids, steps: int | None = None, *, max_steps: int = 1, rng=None) -> np.ndarray:
    """Shift every note velocity by `steps`×10, clipped to 10..120 (random in ±max_steps per piece when None)."""
    ids = np.asarray(ids, np.int64)
    seg = _segments(ids)
    n = int(seg.max(initial=0)) + 1
    st = np.random.default_rng(rng).integers(-max_steps, max_steps + 1, size=n) if steps is None else np.full(n, steps)
    aug = st[seg] * VELOCITY_STEP
    note = is_note_id(ids)
    vel = ((ids - NOTE_START) % N_VEL) * VELOCITY_STEP
    new = np.clip(vel + aug, VELOCITY_STEP, MAX_VELOCITY)  # upstream: >= max -> max, <= step -> step
    out = ids.copy()
    out[note] = ids[note] + (new[note] - vel[note]) // VELOCITY_STEP
    return out


def tempo_aug(ids, factor: float | None = None, *, max_aug: float = 0.2, mixup: bool = True, rng=None,
              keep_length: bool = True) -> np.ndarray:
    """Scale all times by `factor` (uniform in 1±max_aug per piece when None), re-quantised to 10 ms.

    Durations are clipped to 10..5000 ms, `<T>` tokens are re-derived, `<U>`/`<P>` dropped, and with `mixup`
    the events sharing an onset are shuffled (upstream's "note mixup"); `<D>` stays after the events of the
    onset it followed. `keep_length=False` returns the natural length instead of upstream's cut/`<P>`-pad, for
    variable-length pipelines (slowing down adds `<T>`s, and a cut would lose the closing `<E>`).
    """
    ids = np.asarray(ids, np.int64)
    gen = np.random.default_rng(rng)
    seg = _segments(ids)
    pieces = []
    for k in range(int(seg.max(initial=-1)) + 1):
        f = gen.uniform(1 - max_aug, 1 + max_aug) if factor is None else float(factor)
        pieces.append(_tempo_piece(ids[seg == k], f, mixup, gen))
    out = np.concatenate(pieces) if pieces else ids.copy()
    if not keep_length:
        return out
    if len(out) >= len(ids):
        return out[: len(ids)]
    return np.concatenate([out, np.full(len(ids) - len(out), PAD_ID)])


def _parse_events(body: np.ndarray):
    """(start, width, time count) of note/drum events and the position of the last `<D>`, as upstream parses.

    Well-formed sequences are parsed with array operations; anything else goes through a literal loop that
    consumes tokens exactly like upstream (a malformed note swallows three tokens).
    """
    n = len(body)
    nxt = np.append(body[1:], -1)
    nxt2 = np.append(body[2:], [-1, -1])
    note, drum = is_note_id(body), is_drum_id(body)
    well_formed = (not (note & ~(is_onset_id(nxt) & is_dur_id(nxt2))).any()) and (
        not (drum & ~is_onset_id(nxt)).any())
    if well_formed:
        starts = np.flatnonzero(note | drum)
        width = np.where(note[starts], 3, 2)
        t_count = np.cumsum(body == TIME_ID)[starts] if n else starts
        dims = np.flatnonzero(body == DIM_ID)
        dim_pos = int(dims[-1]) if dims.size else -1
        return starts, width, t_count, dim_pos
    starts, width, t_count, dim_pos, t, i = [], [], [], -1, 0, 0
    while i < n:
        tok = body[i]
        if tok == TIME_ID:
            t += 1
        elif tok == DIM_ID:
            dim_pos = i
        elif is_note_id(tok) or is_drum_id(tok):
            w = 3 if is_note_id(tok) else 2
            ok = i + w <= n and is_onset_id(body[i + 1]) and (w == 2 or is_dur_id(body[i + 2]))
            if ok:
                starts.append(i)
                width.append(w)
                t_count.append(t)
            i += w
            continue
        i += 1
    return np.array(starts, np.int64), np.array(width, np.int64), np.array(t_count, np.int64), dim_pos


def _tempo_piece(src: np.ndarray, f: float, mixup: bool, gen: np.random.Generator) -> np.ndarray:
    n_head = 0
    while n_head < len(src) and (src[n_head] == BOS_ID or PREFIX_START <= src[n_head] < NOTE_START):
        n_head += 1
    head, body = src[:n_head], src[n_head:]
    eos = bool((body == EOS_ID).any())
    starts, width, t_count, dim_pos = _parse_events(body)
    onset = (body[starts + 1] - ONSET_START) * TIME_STEP_MS if starts.size else starts
    # where <D> goes: after the group of the latest (segment, onset) seen before it
    dim_key = None
    if dim_pos >= 0:
        before = starts < dim_pos
        if before.any():
            last_t = t_count[before].max()
            dim_key = (int(last_t), int(onset[before & (t_count == last_t)].max()))
        else:
            dim_key = (0, 0)
    src_time = t_count * ABS_TIME_STEP_MS + onset
    tie = gen.random(len(starts)) if mixup else np.arange(len(starts))
    order = np.lexsort((tie, src_time)) if mixup else np.argsort(src_time, kind="stable")
    starts, width, t_count, onset, src_time = starts[order], width[order], t_count[order], onset[order], src_time[order]
    tgt = np.rint(src_time * f / TIME_STEP_MS).astype(np.int64) * TIME_STEP_MS
    tgt_seg = tgt // ABS_TIME_STEP_MS
    new_group = np.ones(len(starts), bool)
    new_group[1:] = src_time[1:] != src_time[:-1]
    prev_seg = np.concatenate([[0], tgt_seg[:-1]])
    n_time = np.where(new_group, np.maximum(tgt_seg - prev_seg, 0), 0)
    last_of_group = np.append(new_group[1:], True)
    dim_after = np.zeros(len(starts), np.int64)
    if dim_key is not None:
        hit = last_of_group & (t_count == dim_key[0]) & (onset == dim_key[1])
        dim_after[np.flatnonzero(hit)[:1]] = 1
    block = n_time + width + dim_after
    first = np.cumsum(block) - width - dim_after
    out = np.full(int(block.sum()), TIME_ID, np.int64)
    out[first] = body[starts]
    out[first + 1] = ONSET_START + (tgt % ABS_TIME_STEP_MS) // TIME_STEP_MS
    is3 = width == 3
    dur = (body[starts[is3] + 2] - DUR_START) * TIME_STEP_MS
    new_dur = np.clip(np.rint(dur * f / TIME_STEP_MS).astype(np.int64) * TIME_STEP_MS, TIME_STEP_MS, MAX_DUR_MS)
    out[first[is3] + 2] = DUR_START + new_dur // TIME_STEP_MS
    out[(first + width)[dim_after == 1]] = DIM_ID
    return np.concatenate([head, out] + ([np.array([EOS_ID])] if eos else []))



class Augmenter:
    """The random augmentation policy of a training pipeline: pitch ±`pitch` semitones, velocity ±`velocity`
    steps, tempo ×U(1-`tempo`, 1+`tempo`), fresh amounts per call and per `<E>`-delimited piece.

    A small picklable object so DataLoader workers can carry it; the output has its natural length (no `<P>`).
    A zero amount skips that augmentation.
    """

    def __init__(self, pitch: int = 5, tempo: float = 0.2, velocity: int = 1, mixup: bool = True):
        self.pitch, self.tempo, self.velocity, self.mixup = pitch, tempo, velocity, mixup

    def __call__(self, ids, rng: np.random.Generator | int | None = None) -> np.ndarray:
        rng = np.random.default_rng(rng)
        ids = np.asarray(ids, np.int64)
        if self.pitch:
            ids = pitch_aug(ids, max_shift=self.pitch, rng=rng)
        if self.velocity:
            ids = velocity_aug(ids, max_steps=self.velocity, rng=rng)
        if self.tempo:
            ids = tempo_aug(ids, max_aug=self.tempo, mixup=self.mixup, rng=rng, keep_length=False)
        return ids
