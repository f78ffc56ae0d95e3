"""Finetune-and-test loops over tasks, seeds and folds, with per-run result files so runs resume.

A finished (task, model, seed, fold) has a JSON file under `<out>/runs/`; it is never recomputed.
Profiles: `quick` (short sequences, a capped training subset, few epochs, fold 0 only) for CPU checks and CI,
`full` (the paper protocol: 512 tokens, 10 epochs, every fold).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from symcore.atomic import atomic_write
from torch import nn

from smcbench.data import TaskDataModule
from smcbench.module import FinetuneModule
from smcbench.store import load_task
from smcbench.tasks import get_task


@dataclass(frozen=True)
class Profile:
    max_len: int
    epochs: int
    batch_size: int
    lr: float
    max_train_segments: int | None
    max_eval_segments: int | None  # a fixed (seed-independent) subset of valid/test segments
    folds: tuple[int, ...] | None  # None = every fold of a cv5 task


PROFILES = {
    "smoke": Profile(max_len=64, epochs=1, batch_size=8, lr=1e-3, max_train_segments=16, max_eval_segments=64, folds=(0,)),
    "demo": Profile(max_len=128, epochs=2, batch_size=16, lr=1e-3, max_train_segments=96, max_eval_segments=128, folds=(0,)),
    "quick": Profile(max_len=128, epochs=3, batch_size=16, lr=3e-4, max_train_segments=256, max_eval_segments=512, folds=(0,)),
    "full": Profile(max_len=512, epochs=10, batch_size=12, lr=2e-5, max_train_segments=None, max_eval_segments=None, folds=None),
}


def _atomic_json(obj: dict, path: Path) -> None:
    atomic_write(path, json.dumps(obj, indent=1))


class _Estimate(L.Callback):
    """Prints the expected time of the whole task after its first epoch."""

    def __init__(self, label: str, epochs: int):
        self.label, self.epochs, self.t0 = label, epochs, 0.0

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == 0:
            self.t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == 0:
            per_epoch = time.perf_counter() - self.t0
            print(f"[smcbench] {self.label}: ~{per_epoch:.0f}s/epoch, ~{per_epoch * self.epochs:.0f}s for {self.epochs} epochs")


def run_one(task: str, make_encoder: Callable[[], nn.Module], model_name: str, *, profile: str = "quick",
            seed: int = 0, fold: int = 0, out_dir: str | Path = "outputs/smcbench", data_root=None,
            progress: bool = True, limit: int | None = None) -> dict:
    """Finetune one encoder on one task/seed/fold; returns (and stores) the result record."""
    spec, prof = get_task(task), PROFILES[profile]
    path = Path(out_dir) / "runs" / model_name / f"{spec.name}_{profile}_s{seed}_f{fold}.json"
    if path.is_file():
        return json.loads(path.read_text())
    L.seed_everything(seed, workers=True, verbose=False)
    data = load_task(spec.name, data_root, limit=limit)
    dm = TaskDataModule(data, fold=fold, max_len=prof.max_len, batch_size=prof.batch_size,
                        max_train_segments=prof.max_train_segments, max_eval_segments=prof.max_eval_segments,
                        seed=seed)
    dm.setup()
    module = FinetuneModule(make_encoder(), spec, lr=prof.lr)
    trainer = L.Trainer(max_epochs=prof.epochs, accelerator="auto", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[_Estimate(f"{model_name}/{spec.name}", prof.epochs)])
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    module.restore_best()
    trainer.test(module, datamodule=dm, verbose=False)
    record = {
        "task": spec.name, "model": model_name, "profile": profile, "seed": seed, "fold": fold,
        "metric": spec.metric, "test": module.test_score, "best_val": module.best_score,
        "best_epoch": module.best_epoch, "history": module.history, "seconds": time.perf_counter() - t0,
        "segments": {k: len(v) for k, v in dm.sets.items()}, "profile_settings": asdict(prof),
        "torch": torch.__version__,
    }
    _atomic_json(record, path)
    return json.loads(path.read_text())  # the same record a resumed run would return


def folds_for(task: str, profile: str) -> tuple[int, ...]:
    spec, prof = get_task(task), PROFILES[profile]
    if spec.protocol != "cv5":
        return (0,)
    return prof.folds if prof.folds is not None else tuple(range(5))
