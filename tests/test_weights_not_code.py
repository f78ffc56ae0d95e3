"""Weights are not code: every package's checkpoint loader (and Lightning's `ckpt_path` resume) refuses a pickle
that would run a command, and the command never runs. The loaders go through `symcore.weights` (safetensors, or
`torch.load(weights_only=True)`) or safetensors directly; this checks it from the outside, per public entry point."""

from __future__ import annotations

import os

import pytest
import torch


class _Marker:
    """Unpickling this would run `touch <marker>`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _aria(bad, tmp):
    from aria.cli import main
    from aria.weights import load_checkpoint

    for call in (lambda: load_checkpoint(bad), lambda: main(["export", str(bad), str(tmp / "out.safetensors")])):
        with pytest.raises(ValueError, match="refusing to execute pickled code"):
            call()


def _m2bert(bad, tmp):
    from m2bert.cli import main
    from m2bert.config import EncoderConfig
    from m2bert.export import load_encoder

    for call in (lambda: load_encoder(bad, EncoderConfig.from_name("tiny")),
                 lambda: main(["export", str(bad), str(tmp / "enc.safetensors")])):
        with pytest.raises((ValueError, SystemExit), match="refusing to execute pickled code"):  # CLI: exit message
            call()


def _smcbench(bad, tmp):
    from smcbench.encoders import encoder_factory

    with pytest.raises(ValueError, match="refusing to execute pickled code"):
        encoder_factory("m2bert", bad)


def _hiertrans(bad, tmp):
    from hiertrans.weights import load_model

    with pytest.raises(ValueError):
        load_model(bad)


def _lightning_resume(bad, tmp):
    import pickle

    import lightning as L
    from lightning.pytorch.demos.boring_classes import BoringModel

    trainer = L.Trainer(max_steps=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                        enable_model_summary=False, default_root_dir=tmp)
    with pytest.raises(pickle.UnpicklingError):  # torch >= 2.6 loads with weights_only=True by default
        trainer.fit(BoringModel(), ckpt_path=str(bad))


LOADERS = {"aria": _aria, "m2bert": _m2bert, "smcbench": _smcbench, "hiertrans": _hiertrans,
           "lightning": _lightning_resume}


@pytest.mark.parametrize("package", sorted(LOADERS))
def test_malicious_checkpoint_is_refused_and_never_runs(package, tmp_path):
    pytest.importorskip(package)
    marker = tmp_path / "pwned"
    bad = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"encoder.w": torch.ones(2)}, "payload": _Marker(marker)}, bad)
    LOADERS[package](bad, tmp_path)
    assert not marker.exists()
