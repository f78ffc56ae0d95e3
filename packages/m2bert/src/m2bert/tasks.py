"""A note-level task derived from the embedded music21 corpus, for the demo and tests without shared data:
SATB voice of every note of the four-part chorales (class 0 = soprano = the melody)."""

from __future__ import annotations

import numpy as np

from m2bert.data import TaskDataModule, split_indices


def chorale_voice_examples(files, min_notes: int = 16) -> list[tuple[np.ndarray, np.ndarray]]:
    """(CP tokens, voice label per token) for every file with exactly four non-empty parts."""
    from symcore.errors import MidiError
    from symcore.notes import load_notes
    from symtok.cp import CPTokenizer

    tok = CPTokenizer()
    out = []
    for f in files:
        try:
            notes = load_notes(f, drop_drums=True)
        except MidiError:
            continue
        tracks, voice = np.unique(notes.track, return_inverse=True)  # parts in score order: S, A, T, B
        if len(tracks) != 4:
            continue
        tokens, index = tok.encode(notes, return_index=True)
        if len(tokens) >= min_notes:
            out.append((tokens, voice[index].astype(np.int64)))
    return out


class ChoraleVoicesDataModule(TaskDataModule):
    """Four-part chorales of the music21 corpus, split by piece; 4 classes (S, A, T, B)."""

    num_classes = 4

    def __init__(self, limit: int | None = None, seq_len: int = 256, batch_size: int = 8,
                 val_fraction: float = 0.2, seed: int = 0):
        super().__init__(seq_len=seq_len, batch_size=batch_size)
        self.limit, self.val_fraction, self.seed = limit, val_fraction, seed

    def setup(self, stage: str | None = None):
        if self.sets:
            return
        from symcore.corpus import build_corpus

        examples = chorale_voice_examples(build_corpus(limit=self.limit).files)
        if len(examples) < 2:
            raise ValueError("the music21 corpus gave fewer than two four-part pieces")
        train, val = split_indices(len(examples), self.val_fraction, self.seed)
        self.set_examples([examples[i] for i in train], [examples[i] for i in val])
