"""Greedy decoding of the note decoders, batched over segments, one token per step with a KV cache.

The grammar of each sequence is enforced by masking logits: a note head is a time token (never earlier than the
previous one) or ``<eos>``; after a head comes a pitch, higher than the previous note's when both start on the same
step (targets list simultaneous notes by ascending pitch, so a repeated or descending pair at one time is never a
valid sequence); the velocity model only ever emits velocities, the offset
model only a time (not before the note's onset) or ``<note_sustain>``. Known tokens (the notes given to the
velocity/offset models, the continuing notes carried from the previous segment) are fed, not predicted.
"""

from __future__ import annotations

import numpy as np
import torch
from symtok import transcription as tt

V = tt.VOCAB_SIZE
_TIME = torch.zeros(V, dtype=torch.bool)
_TIME[tt.TIME_OFFSET:tt.PITCH_OFFSET] = True
LOW_KEY, TOP_KEY = 21, 108
NO_PITCH = LOW_KEY - 1
"""The "previous pitch" before any note at the current time step: every piano key is above it."""
_PITCH = torch.zeros(V, dtype=torch.bool)
_PITCH[tt.PITCH_OFFSET + LOW_KEY:tt.PITCH_OFFSET + TOP_KEY + 1] = True  # piano keys only
_VEL = torch.zeros(V, dtype=torch.bool)
_VEL[tt.VELOCITY_OFFSET + 1:tt.VOCAB_SIZE] = True


def _head_times(last_time: int, last_pitch: int) -> torch.Tensor:
    """Allowed onset times: not before the last note's, and past it once the top key has been used there."""
    allowed = torch.zeros(V, dtype=torch.bool)
    allowed[tt.TIME_OFFSET + last_time + (last_pitch >= TOP_KEY):tt.PITCH_OFFSET - 1] = True  # never time 1000
    allowed[tt.EOS] = True
    return allowed


def _pitches_above(lowest: int) -> torch.Tensor:
    """Piano keys above MIDI pitch ``lowest`` (all 88 for NO_PITCH)."""
    allowed = _PITCH.clone()
    allowed[tt.PITCH_OFFSET:tt.PITCH_OFFSET + lowest + 1] = False
    return allowed


class _Stepper:
    """Incremental decoder state for a batch: feed tokens, get next-token logits of the last position."""

    def __init__(self, decoder, features: torch.Tensor):
        self.dec = decoder
        self.memory = decoder.memory(features)
        self.caches = [dict() for _ in decoder.blocks]

    def feed(self, tokens: torch.Tensor) -> torch.Tensor:  # tokens (B, n) -> logits (B, V)
        return self.dec(tokens, None, memory=self.memory, caches=self.caches)[:, -1]


@torch.no_grad()
def decode_onsets(decoder, features: torch.Tensor, continuing: list[list[int]] | None = None,
                  max_notes: int = 400) -> list[np.ndarray]:
    """Onset sequences for a batch of segments; ``continuing[b]`` are pitches carried in as ``<cont> pitch``."""
    b = features.shape[0]
    continuing = continuing or [[] for _ in range(b)]
    seqs = [[tt.SOS, tt.TASK_ONSET] + [t for p in sorted(c) for t in (tt.CONTINUE, int(tt.pitch_token(p)))]
            for c in continuing]
    # Pad the forced prefixes to a common length by running them one token at a time; a sequence whose prefix
    # has ended starts generating.
    step = _Stepper(decoder, features)
    done = [False] * b
    last_time, last_pitch = [0] * b, [NO_PITCH] * b  # the last note head's step, and its pitch
    pos = 0
    logits = None
    limit = max(len(s) for s in seqs) + 2 * max_notes
    while pos < limit and not all(done):
        fed = torch.tensor([[s[pos] if pos < len(s) else tt.PAD] for s in seqs])
        logits = step.feed(fed)
        pos += 1
        for i in range(b):
            if done[i] or pos < len(seqs[i]):
                continue
            prev = seqs[i][-1]
            if tt.is_time(prev):
                allowed = _pitches_above(last_pitch[i])
            elif prev == tt.CONTINUE:
                allowed = _PITCH
            else:
                allowed = _head_times(last_time[i], last_pitch[i])
            tok = int(torch.where(allowed, logits[i], -torch.inf).argmax())
            seqs[i].append(tok)
            if tok == tt.EOS:
                done[i] = True
            elif tt.is_time(tok):
                if tok - tt.TIME_OFFSET > last_time[i]:
                    last_pitch[i] = NO_PITCH
                last_time[i] = tok - tt.TIME_OFFSET
            elif tt.is_time(prev):
                last_pitch[i] = tok - tt.PITCH_OFFSET
    return [np.array(s, dtype=np.int64) for s in seqs]


@torch.no_grad()
def decode_attributes(decoder, features: torch.Tensor, notes: list[list[tuple[int | None, int]]],
                      task: int) -> list[np.ndarray]:
    """Velocity (``task=TASK_VELOCITY``) or offset (``TASK_OFFSET``) sequences given each segment's notes.

    The velocity model skips continuing notes (their velocity is not in this segment), like its training data.
    """
    b = features.shape[0]
    if task == tt.TASK_VELOCITY:
        notes = [[n for n in ns if n[0] is not None] for ns in notes]
    heads = [[(tt.CONTINUE if t is None else int(tt.time_token(t)), int(tt.pitch_token(p))) for t, p in ns]
             for ns in notes]
    seqs = [[tt.SOS, task] for _ in range(b)]
    step = _Stepper(decoder, features)
    feed = [[tt.SOS, task] for _ in range(b)]  # tokens not yet fed, per sequence
    n_max = max((len(h) for h in heads), default=0)
    for j in range(n_max):
        for i in range(b):
            if j < len(heads[i]):
                feed[i] += list(heads[i][j])
                seqs[i] += list(heads[i][j])
        width = max(len(f) for f in feed)
        fed = torch.tensor([[tt.PAD] * (width - len(f)) + f for f in feed]) if width else None
        # left-padding keeps every sequence's last real token at the end; PAD positions are ignored downstream
        # by construction (a PAD never influences a prediction we keep, because sequences without a note at step j
        # are not read).
        logits = step.feed(fed)
        feed = [[] for _ in range(b)]
        for i in range(b):
            if j >= len(heads[i]):
                continue
            if task == tt.TASK_VELOCITY:
                allowed = _VEL
            else:
                allowed = torch.zeros(V, dtype=torch.bool)
                head = heads[i][j][0]
                first = 0 if head == tt.CONTINUE else head - tt.TIME_OFFSET
                allowed[tt.TIME_OFFSET + first:tt.PITCH_OFFSET] = True
                allowed[tt.NOTE_SUSTAIN] = True
            tok = int(torch.where(allowed, logits[i], -torch.inf).argmax())
            seqs[i].append(tok)
            feed[i] = [tok]
    return [np.array(s + [tt.EOS], dtype=np.int64) for s in seqs]


@torch.no_grad()
def decode_flat(decoder, features: torch.Tensor, continuing: list[list[int]] | None = None,
                max_notes: int = 400) -> list[np.ndarray]:
    """The flattened baseline: all attributes in one sequence, the grammar enforced the same way.

    Every sequence advances one token per step (forced ``<cont> pitch`` tokens included), so the KV cache of all
    sequences stays aligned and no padding enters a live context.
    """
    b = features.shape[0]
    continuing = continuing or [[] for _ in range(b)]
    forced = [[(t, p) for p in sorted(c) for t in (tt.CONTINUE, int(tt.pitch_token(p)))] for c in continuing]
    seqs = [[tt.SOS, tt.TASK_FLAT] for _ in range(b)]
    step = _Stepper(decoder, features)
    done = [False] * b
    state = [0] * b  # next token in the group: 0 head, 1 pitch, 2 velocity, 3 offset
    last_time, head_tok, last_pitch = [0] * b, [0] * b, [NO_PITCH] * b
    logits = step.feed(torch.tensor(seqs))
    for _ in range(4 * max_notes + 3 * max(len(f) for f in forced) + 1):
        for i in range(b):
            if done[i]:
                continue
            if state[i] in (0, 1) and forced[i]:
                tok = forced[i].pop(0)[0]
                head_tok[i] = tt.CONTINUE
                state[i] = 1 if tok == tt.CONTINUE else 3
                seqs[i].append(tok)
                continue
            allowed = torch.zeros(V, dtype=torch.bool)
            if state[i] == 0:
                allowed = _head_times(last_time[i], last_pitch[i])
            elif state[i] == 1:
                allowed = _pitches_above(last_pitch[i])
            elif state[i] == 2:
                allowed |= _VEL
            else:
                first = 0 if head_tok[i] == tt.CONTINUE else head_tok[i] - tt.TIME_OFFSET
                allowed[tt.TIME_OFFSET + first:tt.PITCH_OFFSET] = True
                allowed[tt.NOTE_SUSTAIN] = True
            tok = int(torch.where(allowed, logits[i], -torch.inf).argmax())
            seqs[i].append(tok)
            if tok == tt.EOS:
                done[i] = True
            elif state[i] == 0:
                if tok - tt.TIME_OFFSET > last_time[i]:
                    last_pitch[i] = NO_PITCH
                head_tok[i], last_time[i], state[i] = tok, tok - tt.TIME_OFFSET, 1
            else:
                if state[i] == 1:
                    last_pitch[i] = tok - tt.PITCH_OFFSET
                state[i] = (state[i] + 1) % 4
        if all(done):
            break
        logits = step.feed(torch.tensor([[tt.PAD if d else s[-1]] for s, d in zip(seqs, done)]))
    return [np.array(s, dtype=np.int64) for s in seqs]
