"""DataModules: CP-token crops from any MIDI collection (through symtok's token cache) and in-memory task data.

`data` names a collection: "music21" (the corpus pip installs, rendered to MIDI by symcore.corpus), a shared
dataset name resolved under $SYMPHONIA_DATA ("pop909", "asap", "cpm", "emopia"; "shared" = all of them), or any
folder / MIDI file path. Several can be given as a list.

Pretraining resumes exactly (`m2bert pretrain --config X.yaml --ckpt_path last`): the training loader is a
`symcore.resume.ResumableLoader` (epoch order and each item's random crop keyed by (seed, epoch, position), and
the batches already trained skipped on resume); the configs add `symcore.resume.StepSeed` for the masking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from m2bert.config import CP_VOCAB_SIZES

SHARED = {"pop909": "pop909/POP909", "asap": "asap", "cpm": "cpm", "emopia": "emopia/midis"}
PAD = np.array([n - 2 for n in CP_VOCAB_SIZES], dtype=np.int64)


def resolve_files(data: str | Sequence[str]) -> list[Path]:
    """MIDI paths of one or several named collections / folders / files."""
    from symtok.cache import midi_files

    names = [data] if isinstance(data, str) else list(data)
    files: list[Path] = []
    for name in names:
        if name == "music21":
            from symcore.corpus import build_corpus

            files += list(build_corpus().files)
        elif name in SHARED or name == "shared":
            from symcore.paths import require_data

            for key in (SHARED if name == "shared" else [name]):
                files += midi_files(require_data(SHARED[key]))
        else:
            path = Path(name).expanduser()
            if not path.exists():
                raise FileNotFoundError(f"data {name!r}: not a collection name ({', '.join(['music21', 'shared', *SHARED])}) "
                                        "nor an existing file or folder")
            files += midi_files(path)
    if not files:
        raise FileNotFoundError(f"data {data!r}: no MIDI files found")
    return files


def cp_cache(files: Sequence[Path], cache_dir: str | Path | None = None, workers: int = 2):
    """The CP token cache of `files` (built once; rebuilt when the file list changes)."""
    from symcore.paths import cache_root
    from symtok.cache import TokenCache, build_cache
    from symtok.cp import CPTokenizer

    tok = CPTokenizer()
    key = hashlib.sha1("\n".join(sorted(str(Path(f).absolute()) for f in files)).encode()).hexdigest()[:12]
    out = Path(cache_dir) if cache_dir else cache_root() / "m2bert" / f"cp-{key}"
    if (out / "manifest.json").exists():
        try:
            return TokenCache(out, encoder=tok.encode_file)
        except Exception:  # stale or built by another tokenizer version: rebuild
            pass
    return build_cache(files, tok.encode_file, out, workers=workers)


def pad_to(tokens: np.ndarray, length: int, pad=PAD) -> np.ndarray:
    out = np.tile(np.asarray(pad, dtype=np.int64), (length, 1))
    out[: len(tokens)] = tokens[:length]
    return out


class CropDataset(Dataset):
    """Training: a random `seq_len` crop of a file per item (`repeat` items per file and epoch), drawn from torch's
    generator (which `ResumableLoader` seeds per position).
    Evaluation (random=False): every non-overlapping window of every file, padded."""

    def __init__(self, arrays: Sequence[np.ndarray], seq_len: int, random: bool = True, repeat: int = 1):
        self.arrays, self.seq_len, self.random = arrays, seq_len, random
        if random:
            self.items = [(i, -1) for _ in range(repeat) for i in range(len(arrays))]
        else:
            self.items = [(i, s) for i, a in enumerate(arrays) for s in range(0, max(len(a), 1), seq_len)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict:
        i, start = self.items[k]
        arr = np.asarray(self.arrays[i], dtype=np.int64)
        if start < 0:
            start = int(torch.randint(0, len(arr) - self.seq_len + 1, ()).item()) if len(arr) > self.seq_len else 0
        return {"tokens": torch.from_numpy(pad_to(arr[start:start + self.seq_len], self.seq_len))}


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """File-level split; at least one validation file when there are two or more files."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(int(round(n * val_fraction)), 1 if n > 1 else 0), n - 1) if n > 1 else 0
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


class CPDataModule(L.LightningDataModule):
    """Pretraining crops of CP tokens from a MIDI collection (see module docstring for `data`)."""

    def __init__(self, data: str | list[str] = "music21", seq_len: int = 256, batch_size: int = 8,
                 val_fraction: float = 0.05, repeat: int = 1, num_workers: int = 0, seed: int = 0,
                 cache_dir: str | None = None, min_tokens: int = 8):
        super().__init__()
        self.save_hyperparameters()
        self.train_set = self.val_set = None

    def prepare_data(self):
        # Rank 0 only (Lightning): tokenize once; the other ranks open the finished cache in setup().
        cp_cache(resolve_files(self.hparams.data), self.hparams.cache_dir)

    def setup(self, stage: str | None = None):
        if self.train_set is not None:
            return
        hp = self.hparams
        cache = cp_cache(resolve_files(hp.data), hp.cache_dir)
        arrays = [cache[i] for i in range(len(cache)) if len(cache[i]) >= hp.min_tokens]
        if not arrays:
            raise ValueError(f"data {hp.data!r}: no file has {hp.min_tokens}+ CP tokens")
        train, val = split_indices(len(arrays), hp.val_fraction, hp.seed)
        self.train_set = CropDataset([arrays[i] for i in train], hp.seq_len, random=True, repeat=hp.repeat)
        self.val_set = CropDataset([arrays[i] for i in val], hp.seq_len, random=False)
        self.n_tokens = int(sum(len(a) for a in arrays))

    def train_dataloader(self):
        from symcore.resume import ResumableLoader

        return ResumableLoader(self.train_set, batch_size=self.hparams.batch_size, seed=self.hparams.seed,
                               num_workers=self.hparams.num_workers, persistent_workers=self.hparams.num_workers > 0)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size, num_workers=self.hparams.num_workers)


class LabeledCrops(Dataset):
    """(tokens (n, 4), labels (n,) per note or a class int) examples cut into `seq_len` windows, padded; note
    labels are padded with `ignore_index`."""

    def __init__(self, examples, seq_len: int, ignore_index: int = -100):
        self.items = []
        for tokens, labels in examples:
            tokens = np.asarray(tokens, dtype=np.int64)
            for s in range(0, max(len(tokens), 1), seq_len):
                tok = pad_to(tokens[s:s + seq_len], seq_len)
                if np.ndim(labels) == 0:
                    lab = np.int64(labels)
                else:
                    lab = np.full(seq_len, ignore_index, dtype=np.int64)
                    part = np.asarray(labels[s:s + seq_len], dtype=np.int64)
                    lab[: len(part)] = part
                self.items.append((tok, lab))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict:
        tok, lab = self.items[k]
        return {"tokens": torch.from_numpy(tok), "labels": torch.as_tensor(lab)}


class TaskDataModule(L.LightningDataModule):
    """In-memory fine-tuning data: lists of (tokens, labels) for train / val / test."""

    def __init__(self, train=None, val=None, test=None, seq_len: int = 256, batch_size: int = 8,
                 ignore_index: int = -100):
        super().__init__()
        self.seq_len, self.batch_size, self.ignore_index = seq_len, batch_size, ignore_index
        self.sets: dict[str, LabeledCrops] = {}
        self.set_examples(train, val, test)

    def set_examples(self, train, val, test=None) -> None:
        self.sets = {k: LabeledCrops(v, self.seq_len, self.ignore_index) for k, v in
                     (("train", train), ("val", val), ("test", test)) if v}

    def train_dataloader(self):
        return DataLoader(self.sets["train"], batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.sets["val"], batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.sets.get("test") or self.sets["val"], batch_size=self.batch_size)
