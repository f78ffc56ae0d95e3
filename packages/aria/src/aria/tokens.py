"""Model-side views of AbsTokenizer id arrays: where notes start, their onsets, slices, prompts, `<D>` placement.

The ids and their arithmetic layout live in `symtok.aria_vocab`, the augmentations in `symtok.aria_augment` and
the `<D>` rule in `symtok.aria`; this module only adds what the model's data pipeline needs on top (cutting
sequences into note slices and prompts, the per-id kind table the sampler masks with). Sequences are
`[prefix…] <S> body <E>` with body notes as `note onset dur` triples (drums: `drum onset`) and one `<T>` per
5 s segment boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from symtok.aria import add_dim_token
from symtok.aria_vocab import (
    ABS_TIME_STEP_MS,
    BOS_ID,
    DIM_ID,
    EOS_ID,
    NOTE_START,
    ONSET_START,
    PAD_ID,
    PREFIX_START,
    TIME_ID,
    TIME_STEP_MS,
    UNK_ID,
    VOCAB_SIZE,
    is_drum_id,
    is_dur_id,
    is_note_id,
    is_onset_id,
)

SPECIAL, PREFIX, NOTE, DRUM, DUR, ONSET = range(6)

__all__ = ["BOS_ID", "DIM_ID", "DUR", "EOS_ID", "NOTE", "ONSET", "PAD_ID", "TIME_ID", "UNK_ID", "TokenTables"]


class TokenTables:
    """Per-id kind table and slicing helpers for the AbsTokenizer vocabulary (`vocab` is checked, not parsed)."""

    def __init__(self, vocab: Sequence | None = None):
        if vocab is not None and len(vocab) != VOCAB_SIZE:
            raise ValueError(f"expected the AbsTokenizer vocabulary ({VOCAB_SIZE} tokens), got {len(vocab)}")
        ids = np.arange(VOCAB_SIZE)
        self.kind = np.full(VOCAB_SIZE, SPECIAL, np.int8)
        self.kind[(ids >= PREFIX_START) & (ids < NOTE_START)] = PREFIX
        self.kind[is_note_id(ids)] = NOTE
        self.kind[is_drum_id(ids)] = DRUM
        self.kind[is_dur_id(ids)] = DUR
        self.kind[is_onset_id(ids)] = ONSET
        self.note_start = (self.kind == NOTE) | (self.kind == DRUM)

    @staticmethod
    def insert_dim(ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """`<D>` about 100 tokens before the end, never inside a note (aria-utils' rule, `symtok.aria`)."""
        ids = np.asarray(ids)
        return ids if (ids == DIM_ID).any() else add_dim_token(ids, rng).astype(ids.dtype)

    def note_starts(self, ids: np.ndarray) -> np.ndarray:
        return np.flatnonzero(self.note_start[ids])

    def onsets_ms(self, ids: np.ndarray) -> np.ndarray:
        """Absolute onset (ms) of each note start: 5000 per preceding `<T>` plus the segment onset after it."""
        starts = self.note_starts(ids)
        segment = np.cumsum(ids == TIME_ID)
        nxt = ids[np.minimum(starts + 1, len(ids) - 1)]
        onset = np.where(is_onset_id(nxt), (nxt - ONSET_START) * TIME_STEP_MS, 0)
        return segment[starts] * ABS_TIME_STEP_MS + onset

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
