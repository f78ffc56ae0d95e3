"""Task pieces -> fixed-length CP segments for finetuning, as a LightningDataModule.

Note-level pieces are cut into consecutive windows of `max_len` tokens (labels padded with 0, ignored);
sequence-level pieces give one example per window, each carrying the piece label (the benchmark scores
segments). Padding uses the CP pad ids, and a boolean mask marks real tokens.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from smcbench.tasks import Piece, TaskData

CP_PAD = np.array([2, 16, 86, 64], np.int64)


def segment(pieces: list[Piece], max_len: int, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens (S,max_len,4), labels (S,max_len) or (S,), mask (S,max_len)) over all windows of all pieces."""
    toks, labs, masks = [], [], []
    for p in pieces:
        n = len(p.tokens)
        for start in range(0, max(n, 1), max_len):
            chunk = p.tokens[start:start + max_len]
            k = len(chunk)
            if k == 0:
                continue
            t = np.tile(CP_PAD, (max_len, 1))
            t[:k] = chunk
            m = np.zeros(max_len, bool)
            m[:k] = True
            toks.append(t)
            masks.append(m)
            if level == "note":
                lab = np.zeros(max_len, np.int64)
                lab[:k] = p.labels[start:start + k]
                labs.append(lab)
            else:
                labs.append(int(p.labels))
    if not toks:
        return np.zeros((0, max_len, 4), np.int64), np.zeros((0,), np.int64), np.zeros((0, max_len), bool)
    return np.stack(toks), np.asarray(labs if level == "seq" else np.stack(labs)), np.stack(masks)


class SegmentDataset(Dataset):
    def __init__(self, pieces: list[Piece], max_len: int, level: str):
        self.tokens, self.labels, self.mask = segment(pieces, max_len, level)

    def __len__(self) -> int:
        return len(self.tokens)

    def subsample(self, n: int | None, seed: int) -> None:
        if n and len(self) > n:
            idx = np.sort(np.random.default_rng(seed).choice(len(self), n, replace=False))
            self.tokens, self.labels, self.mask = self.tokens[idx], self.labels[idx], self.mask[idx]

    def __getitem__(self, i: int):
        return torch.from_numpy(self.tokens[i]), torch.from_numpy(self.mask[i]), torch.as_tensor(self.labels[i])


class TaskDataModule(L.LightningDataModule):
    """Train/valid/test segments of one task (and one CV fold)."""

    def __init__(self, data: TaskData, fold: int = 0, max_len: int = 512, batch_size: int = 12,
                 max_train_segments: int | None = None, max_eval_segments: int | None = None, seed: int = 0):
        super().__init__()
        self.data, self.fold, self.max_len, self.batch_size = data, fold, max_len, batch_size
        self.max_train_segments, self.max_eval_segments, self.seed = max_train_segments, max_eval_segments, seed
        self.sets: dict[str, SegmentDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.sets:
            return
        for name, pieces in self.data.split(self.fold).items():
            self.sets[name] = SegmentDataset(pieces, self.max_len, self.data.spec.level)
            if not len(self.sets[name]):
                raise ValueError(f"{self.data.spec.name}: the {name} split (fold {self.fold}) is empty")
        # quick profiles: a seed-dependent training subset, and valid/test subsets that every run shares
        self.sets["train"].subsample(self.max_train_segments, self.seed)
        self.sets["valid"].subsample(self.max_eval_segments, 0)
        self.sets["test"].subsample(self.max_eval_segments, 0)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.sets[name], batch_size=self.batch_size, shuffle=shuffle, num_workers=0)

    def train_dataloader(self):
        return self._loader("train", True)

    def val_dataloader(self):
        return self._loader("valid", False)

    def test_dataloader(self):
        return self._loader("test", False)
