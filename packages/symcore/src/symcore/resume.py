"""Training data that resumes exactly: a run restarted from a mid-epoch checkpoint sees the same batches and the
same random draws as the run that was never stopped.

Lightning restores weights, optimiser, scheduler and loop counters, but not the random streams. A shuffled
DataLoader restarts a resumed epoch from its first batch in a new order, and random crops, augmentation, masking
and dropout draw from torch's global generator, whose state a new process does not have. Here every draw is keyed
by *position* instead of by *history*:

- `ResumableLoader` — epoch e visits a permutation seeded by (seed, e); the item at position k of epoch e is made
  under `torch.manual_seed(key(seed, e, k))` (the caller's generator state is restored afterwards, also in
  workers). It has Lightning's `state_dict`/`load_state_dict` loader interface, so Lightning stores (epoch,
  batches trained) in the checkpoint and the resumed epoch skips the batches already trained.
- `StepSeed` — a Callback that re-seeds the global generator from (seed, rank, epoch, batch) before every
  training step, for what the LightningModule draws (masking, dropout).

The sampler is a `DistributedSampler`, so Lightning keeps it under DDP (each rank gets its share of positions)
instead of replacing it. Needs Lightning (`pip install symphonia-core[lightning]`; m2bert and aria have it).
"""

from __future__ import annotations

import os

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

_ITEM, _STEP = 0, 1  # key domains, so an item seed never equals a step seed


def keyed_seed(*key: int) -> int:
    """A well-mixed 63-bit seed from non-negative ints (numpy's SeedSequence hash): nearby keys give unrelated
    streams, which `seed + epoch` style sums do not."""
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def default_seed() -> int:
    """The seed `seed_everything` set (LightningCLI's `seed_everything:`), else 0."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0)) % 2**32


class EpochSampler(DistributedSampler):
    """Yields (epoch, position, index) keys of a (seed, epoch) permutation; `skip` positions are left out once."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        ddp = torch.distributed.is_available() and torch.distributed.is_initialized()
        super().__init__(range(n), num_replicas=torch.distributed.get_world_size() if ddp else 1,
                         rank=torch.distributed.get_rank() if ddp else 0, shuffle=shuffle, seed=seed)
        self.skip = 0

    def __iter__(self):
        skip, self.skip = self.skip, 0
        keys = [(self.epoch, self.rank + k * self.num_replicas, i) for k, i in enumerate(super().__iter__())]
        return iter(keys[skip:])


class KeyedDataset(Dataset):
    """`base[index]` made under torch's generator seeded by (seed, epoch, position), then the state restored."""

    def __init__(self, base: Dataset, seed: int):
        self.base, self.seed = base, seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: tuple[int, int, int]):
        epoch, position, index = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(keyed_seed(self.seed, _ITEM, epoch, position))
            return self.base[index]


class ResumableLoader(DataLoader):
    """A shuffling DataLoader over `dataset` whose state (epoch, batches trained) Lightning checkpoints.

    Batches are counted when handed out; that equals "trained" at checkpoint time because Lightning does not
    prefetch from a loader with a length (this one always has one). Other DataLoader arguments pass through; its
    own `generator` (worker base seeds) keeps iteration from advancing the global one.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, seed: int = 0, shuffle: bool = True, **kwargs):
        kwargs.setdefault("generator", torch.Generator().manual_seed(seed))
        super().__init__(KeyedDataset(dataset, seed), batch_size=batch_size,
                         sampler=EpochSampler(len(dataset), seed, shuffle), **kwargs)
        self.trained = 0  # batches of the current epoch handed out
        self._resume: tuple[int, int] | None = None  # (epoch, batches trained) from a checkpoint

    def __iter__(self):
        return self._batches()

    def _batches(self):
        # Started at the first batch, not at iter(): Lightning calls iter() on a resumed loader before set_epoch(),
        # and only then is it known whether the checkpoint's epoch goes on (mid-epoch) or is over.
        epoch, done = self._resume or (-1, 0)
        self._resume = None
        self.trained = done if epoch == self.sampler.epoch else 0
        self.sampler.skip = self.trained * self.batch_size
        for batch in super().__iter__():
            self.trained += 1
            yield batch

    def state_dict(self) -> dict:
        return {"epoch": self.sampler.epoch, "trained": self.trained}

    def load_state_dict(self, state: dict) -> None:
        self._resume = int(state["epoch"]), int(state["trained"])
        self.sampler.set_epoch(self._resume[0])  # Lightning sets the epoch it goes on with before the first batch


class StepSeed(L.Callback):
    """Re-seeds torch's global generator before every training batch from (seed, rank, epoch, batch index), so
    masking and dropout in the LightningModule replay exactly after a resume. Keyed by batch rather than
    global_step so accumulated micro-batches differ; by rank so DDP ranks do not share dropout masks."""

    def __init__(self, seed: int | None = None):
        self.seed = default_seed() if seed is None else seed

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        torch.manual_seed(keyed_seed(self.seed, _STEP, trainer.global_rank, trainer.current_epoch, batch_idx))
