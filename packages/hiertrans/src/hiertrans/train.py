"""``python -m hiertrans.train fit --config configs/hiertrans/small.yaml``: LightningCLI over the transcription
module and data, plus a callback that exports safetensors weights as training goes (the shippable artefact)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.cli import LightningCLI

from hiertrans.data import TranscriptionDataModule
from hiertrans.module import TranscriptionModule
from hiertrans.weights import save_model


class ExportWeights(L.Callback):
    """Write ``path`` (safetensors + config) every ``every_n_steps`` and at the end; atomic, so a reader never
    sees a half-written file while training continues."""

    def __init__(self, path: str = "hiertrans-export.safetensors", every_n_steps: int = 100):
        self.path, self.every = Path(path), every_n_steps

    def _export(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            save_model(pl_module.model, pl_module.cfg, self.path,
                       {"step": trainer.global_step, "stage": pl_module.hparams.stage})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step and trainer.global_step % self.every == 0:
            self._export(trainer, pl_module)

    def on_train_end(self, trainer, pl_module):
        self._export(trainer, pl_module)


def main(args=None) -> None:
    LightningCLI(TranscriptionModule, TranscriptionDataModule, save_config_kwargs={"overwrite": True}, args=args)


if __name__ == "__main__":
    main()
