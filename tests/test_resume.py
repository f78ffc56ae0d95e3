"""Training survives interruption: tiny m2bert / Aria pretraining with the packages' own DataModules and
LightningModules is stopped after step 5 (its last checkpoint is at step 4), resumed with `ckpt_path=last.ckpt`,
and every later per-step loss equals the uninterrupted run's.

What makes it exact lives in the packages: `CPDataModule` / `AriaDataModule.train_dataloader()` return a
`symcore.resume.ResumableLoader` (order, crops and augmentation keyed by (seed, epoch, position); Lightning stores
the batches trained in the checkpoint and the resumed epoch skips them), and the `symcore.resume.StepSeed`
callback (in every pretraining config) re-seeds masking and dropout per batch. The control shows a plain shuffled
DataLoader does not resume exactly, so these tests can fail.

Run as a script (`python tests/test_resume.py SPEC.json`), this file is the child process the slow test kills.
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

STEPS, EVERY, KILL_AT, BATCH, EPOCH = 10, 4, 5, 2, 6  # 6 batches per epoch: checkpoint at 4, stopped after 5
SEED = 7


class Progress(L.Callback):
    """Logs each step's loss; at `kill_at` SIGKILLs the process (or raises `Interrupted`, the in-process stand-in)."""

    def __init__(self, log_path: Path, kill_at: int | None = None, sigkill: bool = True):
        self.log_path, self.kill_at, self.sigkill = log_path, kill_at, sigkill

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = float(outputs["loss"] if isinstance(outputs, dict) else outputs)
        with open(self.log_path, "a") as f:
            f.write(json.dumps({"step": trainer.global_step, "loss": loss}) + "\n")
        if trainer.global_step == self.kill_at:
            if self.sigkill:  # a real kill: no cleanup, no finally blocks, no checkpoint on exception
                os.kill(os.getpid(), signal.SIGKILL)
            raise Interrupted(f"interrupted after step {trainer.global_step}")


class Interrupted(RuntimeError):
    pass


def build(model: str, files: list[str], cache: Path):
    """(LightningModule, LightningDataModule) of a tiny pretraining run of `model` on `files`."""
    torch.manual_seed(SEED)  # the initial weights
    if model == "m2bert":
        from m2bert.data import CPDataModule
        from m2bert.module import M2BertPretrainModule

        # 4 files: 1 for validation, 3 x repeat 4 = 12 random crops = 6 batches per epoch
        data = CPDataModule(data=files, seq_len=64, batch_size=BATCH, val_fraction=0.0, repeat=4, seed=SEED,
                            cache_dir=str(cache))
        module = M2BertPretrainModule(encoder={"hidden_size": 32, "num_layers": 2, "num_heads": 2,
                                               "intermediate_size": 48, "embed_dim": 16, "local_window": 16},
                                      lr=3e-3, warmup_steps=3)
    else:
        from aria.config import AriaConfig
        from aria.data import AriaDataModule
        from aria.module import AriaModule

        # packed 64-token windows with pitch/tempo/velocity augmentation; limit_train_batches makes the epoch 6
        data = AriaDataModule(files=files, task="pretrain", seq_len=64, batch_size=BATCH, val_fraction=0.0,
                              cache_dir=str(cache), seed=SEED)
        module = AriaModule(AriaConfig.preset("tiny", resid_dropout=0.1), lr=3e-3, warmup_steps=3,
                            total_steps=STEPS)
    return module, data


def train(model: str, files: list[str], out: Path, *, plain: bool = False, kill_at: int | None = None,
          sigkill: bool = True, ckpt_path: str | None = None) -> dict[int, float]:
    """Train to STEPS (checkpoint every EVERY steps, last.ckpt kept); returns {global_step: loss} of this run.
    `plain`: the control, a plain shuffled DataLoader over the same dataset and no StepSeed."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    from symcore.resume import StepSeed
    from torch.utils.data import DataLoader

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    module, data = build(model, files, out.parent / "cache")
    if plain:
        data.setup("fit")
        data.train_dataloader = lambda: DataLoader(data.train_set, batch_size=BATCH, shuffle=True)
    log = out / f"losses-{os.getpid()}-{'resume' if ckpt_path else 'run'}.jsonl"
    ckpt = ModelCheckpoint(dirpath=out / "ckpt", every_n_train_steps=EVERY, save_last=True, save_top_k=-1)
    callbacks = [Progress(log, kill_at, sigkill), ckpt] + ([] if plain else [StepSeed(SEED)])
    trainer = L.Trainer(max_steps=STEPS, limit_train_batches=EPOCH, limit_val_batches=0, num_sanity_val_steps=0,
                        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=out, callbacks=callbacks)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    except Interrupted:
        pass
    return read_losses(log)


def read_losses(path: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["step"]: r["loss"] for r in rows}


def _files(request) -> list[str]:
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
    from symcore.weights import load_checkpoint

    return load_checkpoint(run / "ckpt" / "last.ckpt")["global_step"]  # complete, and loads weights-only


def _check_resume(base, killed, last_step, resumed):
    assert sorted(base) == list(range(1, STEPS + 1))
    assert sorted(killed) == list(range(1, KILL_AT + 1))  # it trained past its last checkpoint, then stopped
    assert killed == {s: base[s] for s in killed}  # same seeds, same steps: the two runs agree before the stop
    assert last_step == EVERY  # step 5 was lost
    assert sorted(resumed) == list(range(EVERY + 1, STEPS + 1))  # crosses the epoch boundary at step 6
    for step, loss in resumed.items():
        assert loss == pytest.approx(base[step], rel=1e-6, abs=1e-7), (step, loss, base[step])


@pytest.mark.parametrize("model", ["m2bert", "aria"])
def test_interrupted_run_resumes_with_identical_losses(model, request, tmp_path, one_thread):
    """Fast variant: the interruption is an exception inside the process after step 5."""
    pytest.importorskip(model)
    files = _files(request)
    base = train(model, files, tmp_path / "base")
    run = tmp_path / "stopped"
    killed = train(model, files, run, kill_at=KILL_AT, sigkill=False)
    last_step = _last_step(run)
    resumed = train(model, files, run, ckpt_path=str(run / "ckpt" / "last.ckpt"))
    _check_resume(base, killed, last_step, resumed)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["m2bert", "aria"])
def test_killed_run_resumes_with_identical_losses(model, request, tmp_path, one_thread):
    """A real SIGKILL of the training process after step 5; resumed in this process from its last.ckpt."""
    pytest.importorskip(model)
    files = _files(request)
    base = train(model, files, tmp_path / "base")
    run = tmp_path / "killed"
    spec = run / "spec.json"
    run.mkdir()
    spec.write_text(json.dumps({"model": model, "files": files, "out": str(run), "kill_at": KILL_AT}))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, __file__, str(spec)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    killed = read_losses(next(run.glob("losses-*-run.jsonl")))
    assert not list((run / "ckpt").glob("*.tmp*"))
    last_step = _last_step(run)
    resumed = train(model, files, run, ckpt_path=str(run / "ckpt" / "last.ckpt"))
    _check_resume(base, killed, last_step, resumed)


@pytest.mark.parametrize("model", ["m2bert", "aria"])
def test_cli_config_resumes_with_ckpt_path_last(model, request, tmp_path, one_thread):
    """`m2bert pretrain --config configs/m2bert/tiny.yaml` / `aria fit --config configs/aria/tiny.yaml`, then the
    same with `--ckpt_path last`, as users run them: the configs' own callbacks (last.ckpt in a fixed folder,
    StepSeed) make a run stopped after step 5 resume with identical losses (without the config's StepSeed the
    resumed masks / dropout differ and this fails)."""
    pytest.importorskip(model)
    import csv

    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / model / "tiny.yaml").read_text())
    if model == "m2bert":
        from m2bert.cli import main

        command, loss_key = ["pretrain"], "train/loss"
        cfg["model"].update(encoder={"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 48,
                                     "embed_dim": 16, "local_window": 16}, warmup_steps=3, lr=3e-3)
        cfg["data"].update(data=_files(request), seq_len=64, batch_size=BATCH, val_fraction=0.25, repeat=4,
                           cache_dir=str(tmp_path / "cache"))  # 3 training files x 4 crops: 6 batches per epoch
    else:
        from aria.cli import main

        command, loss_key = ["fit"], "train/loss"
        cfg["model"]["config"].update(resid_dropout=0.1)
        cfg["model"].update(warmup_steps=3, lr=3e-3, total_steps=STEPS)  # the same schedule when stopped at 5
        cfg["data"].update(files=_files(request), seq_len=64, batch_size=BATCH, val_fraction=0.0,
                           cache_dir=str(tmp_path / "cache"))
    callbacks = cfg["trainer"]["callbacks"]
    ckpt = [c for c in callbacks if c.get("init_args", {}).get("save_last")]
    assert len(ckpt) == 1 and any(c["class_path"] == "symcore.resume.StepSeed" for c in callbacks)

    def run(out: Path, max_steps: int, *extra: str) -> dict[int, float]:
        """Losses by step of this run (the newest CSV log), through the CLI with the edited config."""
        for c in callbacks:
            if "dirpath" in c.get("init_args", {}):
                c["init_args"]["dirpath"] = str(out / "checkpoints")
        ckpt[0]["init_args"]["every_n_train_steps"] = EVERY
        cfg["trainer"].update(max_steps=max_steps, max_epochs=None, log_every_n_steps=1, limit_val_batches=1,
                              limit_train_batches=EPOCH, default_root_dir=str(out), enable_progress_bar=False,
                              accelerator="cpu", logger={"class_path": "lightning.pytorch.loggers.CSVLogger",
                                                         "init_args": {"save_dir": str(out), "name": "logs"}})
        out.mkdir(exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg))
        main([*command, "--config", str(out / "config.yaml"), *extra])
        newest = max(out.glob("logs/version_*/metrics.csv"), key=lambda f: int(f.parent.name.split("_")[1]))
        return {int(r["step"]) + 1: float(r[loss_key]) for r in csv.DictReader(newest.open()) if r.get(loss_key)}

    base = run(tmp_path / "base", STEPS)
    stopped = run(tmp_path / "run", KILL_AT)
    resumed = run(tmp_path / "run", STEPS, "--ckpt_path", "last")
    assert sorted(base) == list(range(1, STEPS + 1)) and stopped == {s: base[s] for s in range(1, KILL_AT + 1)}
    assert sorted(resumed) == list(range(EVERY + 1, STEPS + 1))  # from last.ckpt at step 4: step 5 is redone
    for step, loss in resumed.items():
        assert loss == pytest.approx(base[step], rel=1e-6), (step, loss, base[step])


def test_plain_shuffled_loader_would_not_resume_exactly(request, tmp_path, one_thread):
    """The control: a plain shuffled DataLoader (and no StepSeed) resumed from the step-4 checkpoint of the same
    run trains on other batches and masks than the uninterrupted run did, so the tests above can fail."""
    pytest.importorskip("m2bert")
    files = _files(request)
    base = train("m2bert", files, tmp_path / "base", plain=True)
    resumed = train("m2bert", files, tmp_path / "again", plain=True,
                    ckpt_path=str(tmp_path / "base" / "ckpt" / f"epoch=0-step={EVERY}.ckpt"))
    assert sorted(resumed) == list(range(EVERY + 1, STEPS + 1))
    assert any(abs(resumed[s] - base[s]) > 1e-6 for s in resumed)


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    train(spec["model"], spec["files"], Path(spec["out"]), kill_at=spec["kill_at"])
    sys.exit(3)  # never reached when kill_at is within the run
