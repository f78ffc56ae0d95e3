"""Training survives interruption: a tiny m2bert / Aria pretraining run is SIGKILLed mid-epoch after a checkpoint,
resumed with `ckpt_path=last.ckpt`, and every later per-step loss equals the uninterrupted run's.

Lightning restores weights, optimiser, scheduler and loop counters, but not the random streams: the data order,
the random crops and the corruption draw from torch's global generator, which a fresh process re-seeds. So the
test setup keys every random draw by position instead of by history (what the packages would need for resumable
training under their own CLIs — see docs/reliability.md):
- `EpochSampler`: epoch e visits a permutation seeded by (seed, e); `ResumableLoader` implements Lightning's
  `state_dict`/`load_state_dict` loader interface (epoch, batches trained) so a resumed epoch skips what was done;
- `KeyedItems`: item k of epoch e is drawn under torch.manual_seed(f(seed, e, k)) (crops, augmentation);
- `StepSeed`: the global generator is re-seeded from (seed, global_step) before each step (masking, dropout).

Run as a script (`python tests/test_resume.py SPEC.json`), this file is the child process the test kills.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

STEPS, EVERY, KILL_AT, ITEMS, BATCH = 10, 4, 5, 12, 2  # 6 batches per epoch: checkpoint at 4, killed after 5
SEED = 7


class EpochSampler(Sampler):
    """(epoch, index, position) triples: a permutation seeded by (seed, epoch), started at `start`."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch, self.start = n, seed, 0, 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this at every epoch start
        self.epoch = epoch

    def __iter__(self):
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 1000 + self.epoch))
        start, self.start = self.start, 0
        return iter([(self.epoch, int(i), k) for k, i in enumerate(order.tolist())][start:])

    def __len__(self) -> int:
        return self.n


class KeyedItems(Dataset):
    """Item (epoch, i, k) of `base` drawn with torch's generator seeded by (seed, epoch, k), then restored."""

    def __init__(self, base, seed: int):
        self.base, self.seed = base, seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        epoch, i, k = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + epoch * 10_007 + k)
            return self.base[i]


class ResumableLoader(DataLoader):
    """A DataLoader Lightning saves in the checkpoint (it has state_dict/load_state_dict): epoch + batches trained."""

    def __init__(self, base, batch_size: int, seed: int):
        super().__init__(KeyedItems(base, seed), batch_size=batch_size, sampler=EpochSampler(len(base), seed),
                         num_workers=0)
        self.trained = 0  # batches of the current epoch already trained (counted by `Progress`)

    def __iter__(self):
        self.trained = self.sampler.start // self.batch_size
        return super().__iter__()

    def state_dict(self) -> dict:
        return {"epoch": self.sampler.epoch, "trained": self.trained}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.epoch, self.sampler.start = state["epoch"], state["trained"] * self.batch_size


class Progress(L.Callback):
    """Seeds each step from (seed, global_step), counts trained batches, logs losses, optionally SIGKILLs itself."""

    def __init__(self, loader: ResumableLoader | None, seed: int, log_path: Path, kill_at: int | None = None,
                 sigkill: bool = True):
        self.loader, self.seed, self.log_path, self.kill_at, self.sigkill = loader, seed, log_path, kill_at, sigkill

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        torch.manual_seed(self.seed * 7919 + trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.loader is not None:
            self.loader.trained += 1
        loss = float(outputs["loss"] if isinstance(outputs, dict) else outputs)
        with open(self.log_path, "a") as f:
            f.write(json.dumps({"step": trainer.global_step, "loss": loss}) + "\n")
        if trainer.global_step == self.kill_at:
            if self.sigkill:  # a real kill: no cleanup, no finally blocks, no checkpoint on exception
                os.kill(os.getpid(), signal.SIGKILL)
            raise Interrupted(f"interrupted after step {trainer.global_step}")


class Interrupted(RuntimeError):
    """The in-process stand-in for a kill (the fast test)."""


def build(model: str, files: list[str]):
    """(LightningModule, training items) for a tiny pretraining run of `model` on `files`."""
    torch.manual_seed(SEED)
    if model == "m2bert":
        from m2bert.data import CropDataset
        from m2bert.module import M2BertPretrainModule
        from symtok.cp import CPTokenizer

        tok = CPTokenizer()
        arrays = [tok.encode_file(f) for f in files]
        items = CropDataset(arrays, 64, random=True, repeat=ITEMS // len(arrays) + 1)
        module = M2BertPretrainModule(encoder={"hidden_size": 32, "num_layers": 2, "num_heads": 2,
                                               "intermediate_size": 48, "embed_dim": 16, "local_window": 16},
                                      lr=3e-3, warmup_steps=3)
    else:
        from aria.config import AriaConfig
        from aria.data import PretrainDataset, TokenTables, get_tokenizer
        from aria.module import AriaModule
        from symtok.aria_augment import Augmenter

        tok = get_tokenizer()
        tables = TokenTables(tok.vocab)
        seqs = [tok.encode_file(f) for f in files]
        items = PretrainDataset(seqs, tables, 64, Augmenter(5, 0.2, 1))
        module = AriaModule(AriaConfig.preset("tiny", resid_dropout=0.1), lr=3e-3, warmup_steps=3,
                            total_steps=STEPS)
    return module, torch.utils.data.Subset(items, range(ITEMS))


def train(model: str, files: list[str], out: Path, *, resumable: bool = True, kill_at: int | None = None,
          sigkill: bool = True, ckpt_path: str | None = None) -> dict[int, float]:
    """Train to STEPS (checkpoint every EVERY steps, last.ckpt kept); returns {global_step: loss} of this run."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    module, items = build(model, files)
    if resumable:
        loader = ResumableLoader(items, BATCH, SEED)
    else:
        loader = DataLoader(items, batch_size=BATCH, shuffle=True, num_workers=0)
    log = out / f"losses-{os.getpid()}-{'resume' if ckpt_path else 'run'}.jsonl"
    ckpt = ModelCheckpoint(dirpath=out / "ckpt", every_n_train_steps=EVERY, save_last=True, save_top_k=-1)
    trainer = L.Trainer(max_steps=STEPS, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                        default_root_dir=out, callbacks=[Progress(loader if resumable else None, SEED, log, kill_at, sigkill),
                                                         ckpt])
    try:
        trainer.fit(module, train_dataloaders=loader, ckpt_path=ckpt_path)
    except Interrupted:
        pass
    return read_losses(log)


def read_losses(path: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["step"]: r["loss"] for r in rows}


def _files(request, model: str) -> list[str]:
    root = os.environ.get("SYMPHONIA_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    pop = Path(root) / "pop909" / "POP909"
    if pop.is_dir():
        return [str(pop / f"{i:03d}" / f"{i:03d}.mid") for i in range(1, 5)]
    return [str(p) for p in request.getfixturevalue("m21_midis")[:4]]


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _last_step(run: Path) -> int:
    return torch.load(run / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]


def _check_resume(base, killed, last_step, resumed):
    assert sorted(killed) == list(range(1, KILL_AT + 1))  # it trained past its last checkpoint, then stopped
    assert killed == {s: base[s] for s in killed}  # same seeds, same steps: the two runs agree before the stop
    assert last_step == EVERY  # step 5 was lost; the last checkpoint is complete and loads
    assert sorted(resumed) == list(range(EVERY + 1, STEPS + 1))  # crosses the epoch boundary at step 6
    for step, loss in resumed.items():
        assert loss == pytest.approx(base[step], rel=1e-6, abs=1e-7), (step, loss, base[step])


@pytest.mark.parametrize("model", ["m2bert", "aria"])
def test_interrupted_run_resumes_with_identical_losses(model, request, tmp_path, one_thread):
    """Fast variant: the interruption is an exception inside the process after step 5."""
    pytest.importorskip(model)
    files = _files(request, model)
    base = train(model, files, tmp_path / "base")
    run = tmp_path / "stopped"
    killed = train(model, files, run, kill_at=KILL_AT, sigkill=False)
    last_step = _last_step(run)
    resumed = train(model, files, run, ckpt_path=str(run / "ckpt" / "last.ckpt"))
    _check_resume(base, killed, last_step, resumed)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["m2bert", "aria"])
def test_killed_run_resumes_with_identical_losses(model, request, tmp_path, one_thread):
    pytest.importorskip(model)
    files = _files(request, model)
    base = train(model, files, tmp_path / "base")
    assert sorted(base) == list(range(1, STEPS + 1))

    run = tmp_path / "killed"
    spec = run / "spec.json"
    run.mkdir()
    spec.write_text(json.dumps({"model": model, "files": files, "out": str(run), "kill_at": KILL_AT}))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, __file__, str(spec)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    killed = read_losses(next(run.glob("losses-*-run.jsonl")))
    assert not list((run / "ckpt").glob("*.tmp*"))
    last_step = _last_step(run)
    resumed = train(model, files, run, ckpt_path=str(run / "ckpt" / "last.ckpt"))
    _check_resume(base, killed, last_step, resumed)


def test_plain_shuffled_loader_would_not_resume_exactly(request, tmp_path, one_thread):
    """The control: with a plain shuffled DataLoader the resumed losses differ, so the test above can fail."""
    pytest.importorskip("m2bert")
    files = _files(request, "m2bert")
    base = train("m2bert", files, tmp_path / "base", resumable=False)
    train("m2bert", files, tmp_path / "stop", resumable=False, kill_at=None)
    resumed = train("m2bert", files, tmp_path / "stop2", resumable=False,
                    ckpt_path=str(tmp_path / "stop" / "ckpt" / f"epoch=0-step={EVERY}.ckpt"))
    assert any(abs(resumed[s] - base[s]) > 1e-6 for s in resumed)


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    train(spec["model"], spec["files"], Path(spec["out"]), kill_at=spec["kill_at"])
    sys.exit(3)  # never reached when kill_at is within the run
