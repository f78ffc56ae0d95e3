"""Datasets and the DataModule: token cache in, augmented id tensors out.

All three regimes read the same token cache (AbsTokenizer ids per file, built once by symtok.cache):
- pretraining packs files back to back (each independently augmented, `<D>` inserted) into fixed windows;
- generative finetuning starts every sequence at a file start, padded with `<P>`;
- contrastive finetuning draws two random 100–650-note slices of one file, `<D>` removed, augmented independently;
- classification cuts files into consecutive note segments, each read at its `<E>`, aggregated per file later.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from symtok.aria_augment import Augmenter
from torch.utils.data import DataLoader, Dataset

from aria.tokens import DIM_ID, EOS_ID, PAD_ID, TokenTables


def get_tokenizer():
    try:
        from symtok.aria import AbsTokenizer
    except ImportError as err:  # pragma: no cover
        raise ImportError("symtok.aria.AbsTokenizer is required (install symphonia-tok)") from err
    return AbsTokenizer()


def _rng() -> np.random.Generator:
    # drawn from torch's generator, which the training loader seeds per (seed, epoch, position): epochs differ,
    # and a resumed run replays the same crops and augmentation
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))


def _fit(ids: np.ndarray, length: int, keep_eos: bool = False) -> tuple[np.ndarray, int]:
    """Truncate/pad to `length`; with keep_eos the last kept token becomes `<E>`. Returns (ids, `<E>` index)."""
    ids = ids[:length]
    if keep_eos and EOS_ID not in ids:
        ids = np.concatenate([ids[:-1], [EOS_ID]]) if len(ids) == length else np.concatenate([ids, [EOS_ID]])
    eos = int(np.flatnonzero(ids == EOS_ID)[0]) if EOS_ID in ids else len(ids) - 1
    return np.pad(ids, (0, length - len(ids)), constant_values=PAD_ID), eos


class PretrainDataset(Dataset):
    """Next-token windows (x, y) of `seq_len`: packed across files (concat) or one per file start (finetune)."""

    def __init__(self, sequences: Sequence[np.ndarray], tables: TokenTables, seq_len: int,
                 augment: Augmenter | None = None, dim_token: bool = True, concat: bool = True):
        self.seqs, self.tables, self.seq_len = sequences, tables, seq_len
        self.augment, self.dim_token, self.concat = augment, dim_token, concat
        self.total = sum(len(np.asarray(s).reshape(-1)) for s in sequences)

    def __len__(self) -> int:
        return max(1, self.total // self.seq_len) if self.concat else len(self.seqs)

    def _prepared(self, i: int, rng, need: int, random_start: bool = False) -> np.ndarray:
        """File i cropped to about `need` tokens (from its start or a random note), augmented, `<D>` if it ends."""
        ids = np.asarray(self.seqs[i]).reshape(-1)
        start = 0
        if random_start:
            starts = self.tables.note_starts(ids)
            start = int(starts[rng.integers(len(starts))]) if len(starts) else 0
        stop = start + need + 128  # slack for tokens augmentation removes; cropping keeps epochs cheap
        ids = ids[start:stop].astype(np.int64)
        if self.augment is not None:
            ids = self.augment(ids, rng)
        reaches_end = stop >= len(self.seqs[i])
        return self.tables.insert_dim(ids, rng) if self.dim_token and reaches_end else ids

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng, need = _rng(), self.seq_len + 1
        if self.concat:
            parts = [self._prepared(i % len(self.seqs), rng, need, random_start=True)]
            got = len(parts[0])
            while got < need:
                parts.append(self._prepared(int(rng.integers(len(self.seqs))), rng, need - got))
                got += len(parts[-1])
            buf = np.concatenate(parts)[:need]
        else:
            buf, _ = _fit(self._prepared(i, rng, need), need)
        buf = torch.from_numpy(buf)
        return {"ids": buf[:-1], "targets": buf[1:]}


class ContrastiveDataset(Dataset):
    """Two random note slices of the same file, `<D>` removed, independently augmented, each ending in `<E>`."""

    def __init__(self, sequences: Sequence[np.ndarray], tables: TokenTables, seq_len: int,
                 augment: Augmenter | None = None, min_notes: int = 100, max_notes: int = 650):
        self.seqs, self.tables, self.seq_len, self.augment = sequences, tables, seq_len, augment
        self.min_notes, self.max_notes = min_notes, max_notes

    def __len__(self) -> int:
        return len(self.seqs)

    def view(self, ids: np.ndarray, rng) -> tuple[np.ndarray, int]:
        n = len(self.tables.note_starts(ids))
        count = int(rng.integers(self.min_notes, self.max_notes + 1))
        first = int(rng.integers(0, max(1, n - self.min_notes + 1)))
        piece = self.tables.slice_notes(ids, first, count)
        if self.augment is not None:
            piece = self.augment(piece, rng)
        return _fit(piece[piece != DIM_ID], self.seq_len, keep_eos=True)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = _rng()
        ids = np.asarray(self.seqs[i]).reshape(-1).astype(np.int64)
        (a, ea), (b, eb) = self.view(ids, rng), self.view(ids, rng)
        return {"ids": torch.from_numpy(np.stack([a, b])), "eos": torch.tensor([ea, eb])}


class SegmentDataset(Dataset):
    """Consecutive `notes_per_segment`-note segments of labelled files, for classifiers and file embeddings."""

    def __init__(self, sequences: Sequence[np.ndarray], tables: TokenTables, seq_len: int,
                 labels: Sequence[int] | None = None, notes_per_segment: int = 300, augment: Augmenter | None = None):
        self.seqs, self.tables, self.seq_len, self.augment = sequences, tables, seq_len, augment
        self.labels = labels
        self.index = []  # (file, first note)
        for f, s in enumerate(sequences):
            n = len(tables.note_starts(np.asarray(s).reshape(-1)))
            self.index += [(f, k) for k in range(0, max(n, 1), notes_per_segment)]
        self.notes_per_segment = notes_per_segment

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        f, first = self.index[i]
        ids = self.tables.slice_notes(np.asarray(self.seqs[f]).reshape(-1).astype(np.int64), first,
                                      self.notes_per_segment)
        if self.augment is not None:
            ids = self.augment(ids, _rng())
        ids, eos = _fit(ids[ids != DIM_ID], self.seq_len, keep_eos=True)
        item = {"ids": torch.from_numpy(ids), "eos": torch.tensor(eos), "file": torch.tensor(f)}
        if self.labels is not None:
            item["label"] = torch.tensor(int(self.labels[f]))
        return item


def default_files() -> list[Path]:
    """The embedded corpus: MIDI rendered from the music21 corpus (no shared data needed)."""
    from symcore.corpus import build_corpus

    return list(build_corpus().files)


def expand_files(files: str | Sequence[str] | None) -> list[Path]:
    if files is None:
        return default_files()
    items = [files] if isinstance(files, (str, Path)) else list(files)
    out = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in (".mid", ".midi"))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"MIDI file or folder {p} does not exist")
    if not out:
        raise FileNotFoundError(f"no MIDI files found in {items}")
    return out


def load_labels(csv_path: str | Path) -> tuple[dict[str, int], list[str]]:
    """CSV with columns path,label -> ({resolved path: class index}, class names)."""
    rows = list(csv.DictReader(Path(csv_path).open()))
    names = sorted({r["label"] for r in rows})
    return {str(Path(r["path"]).resolve()): names.index(r["label"]) for r in rows}, names


class AriaDataModule(L.LightningDataModule):
    """Token cache of a MIDI collection, split by file hash, served for pretrain/finetune/contrastive/classify."""

    def __init__(self, files: str | list[str] | None = None, task: str = "pretrain", seq_len: int = 512,
                 batch_size: int = 8, val_fraction: float = 0.1, cache_dir: str | None = None, augment: bool = True,
                 pitch_shift: int = 5, tempo_shift: float = 0.2, velocity_shift: int = 1, min_notes: int = 100,
                 max_notes: int = 650, labels_csv: str | None = None, notes_per_segment: int = 300,
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        if task not in ("pretrain", "finetune", "contrastive", "classify"):
            raise ValueError(f"unknown task {task!r}")
        if task == "classify" and labels_csv is None:
            raise ValueError("task 'classify' needs labels_csv (columns path,label)")
        self.save_hyperparameters()
        self.files, self.task, self.seq_len, self.batch_size = files, task, seq_len, batch_size
        self.val_fraction, self.cache_dir, self.num_workers, self.seed = val_fraction, cache_dir, num_workers, seed
        self.aug_args = (pitch_shift, tempo_shift, velocity_shift) if augment else None
        self.min_notes, self.max_notes = min_notes, max_notes
        self.labels_csv, self.notes_per_segment = labels_csv, notes_per_segment
        self.class_names: list[str] | None = None

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        from symtok.cache import cached

        tok = get_tokenizer()
        tables = TokenTables(tok.vocab)
        paths = expand_files(self.files)
        labels = None
        if self.labels_csv:
            label_map, self.class_names = load_labels(self.labels_csv)
            paths = [p for p in paths if str(Path(p).resolve()) in label_map]
        cache = cached(paths, tok.encode_file, "aria", root=self.cache_dir, progress=False)
        if cache.failed:
            print(f"aria data: skipped {len(cache.failed)} unreadable files: "
                  + "; ".join(f"{f.path} ({f.reason})" for f in cache.failed[:5]))
        seqs = [cache[i] for i in range(len(cache))]
        names = [str(Path(p).resolve()) for p in cache.paths]
        if self.labels_csv:
            labels = [label_map[n] for n in names]
        is_val = [int(hashlib.md5(n.encode()).hexdigest(), 16) % 1000 < 1000 * self.val_fraction for n in names]
        if len(seqs) > 1 and all(is_val):
            is_val[0] = False
        if len(seqs) > 1 and not any(is_val) and self.val_fraction > 0:
            is_val[-1] = True
        self.val_files = [n for n, v in zip(names, is_val) if v]
        self.train_files = [n for n, v in zip(names, is_val) if not v]
        aug = Augmenter(*self.aug_args) if self.aug_args else None
        self.train_set = self._dataset([s for s, v in zip(seqs, is_val) if not v], tables, aug,
                                       None if labels is None else [x for x, v in zip(labels, is_val) if not v])
        val_seqs = [s for s, v in zip(seqs, is_val) if v] or seqs[:1]
        self.val_set = self._dataset(val_seqs, tables, None,
                                     None if labels is None else [x for x, v in zip(labels, is_val) if v] or labels[:1])
        self.tables = tables

    def _dataset(self, seqs, tables, aug, labels):
        if self.task in ("pretrain", "finetune"):
            return PretrainDataset(seqs, tables, self.seq_len, aug, concat=self.task == "pretrain")
        if self.task == "contrastive":
            return ContrastiveDataset(seqs, tables, self.seq_len, aug, self.min_notes, self.max_notes)
        return SegmentDataset(seqs, tables, self.seq_len, labels, self.notes_per_segment, aug)

    def train_dataloader(self) -> DataLoader:
        # Resumes exactly (`--ckpt_path last`): order, crops and augmentation keyed by (seed, epoch, position), the
        # batches already trained skipped (symcore.resume; the configs add StepSeed for dropout).
        from symcore.resume import ResumableLoader

        return ResumableLoader(self.train_set, self.batch_size, seed=self.seed, num_workers=self.num_workers,
                               drop_last=self.task == "contrastive" and len(self.train_set) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, self.batch_size, num_workers=self.num_workers)

