"""Losses and optimisation of the Lightning layer (tokenizer-free parts)."""

import math

import lightning as L
import torch
from aria import AriaConfig
from aria.module import AriaModule, nt_xent
from torch.utils.data import DataLoader


def test_nt_xent_matches_hand_computation():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z2 = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    tau = 0.5
    # cosines: z1[0]·z2 = [1/sqrt2, 0]; z1[1]·z2 = [1/sqrt2, 1]
    c = 1 / math.sqrt(2)
    s = torch.tensor([[c, 0.0], [c, 1.0]]) / tau
    row = -(math.log(math.exp(s[0, 0]) / (math.exp(s[0, 0]) + math.exp(s[0, 1])))
            + math.log(math.exp(s[1, 1]) / (math.exp(s[1, 0]) + math.exp(s[1, 1])))) / 2
    col = -(math.log(math.exp(s[0, 0]) / (math.exp(s[0, 0]) + math.exp(s[1, 0])))
            + math.log(math.exp(s[1, 1]) / (math.exp(s[0, 1]) + math.exp(s[1, 1])))) / 2
    assert abs(nt_xent(z1, z2, tau).item() - (row + col) / 2) < 1e-6
    # scale invariance (cosine) and a perfect alignment beats a swapped one
    assert abs(nt_xent(3 * z1, z2, tau).item() - nt_xent(z1, z2, tau).item()) < 1e-6
    assert nt_xent(z1, z1, tau) < nt_xent(z1, z1.flip(0), tau)


def _fit(task, batch, steps=15, **kw):
    torch.manual_seed(0)
    module = AriaModule(AriaConfig.preset("tiny", vocab_size=30, max_seq_len=32, **kw), task=task, lr=3e-3,
                        warmup_steps=2, total_steps=steps)
    before = module.loss(batch).item()
    trainer = L.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, DataLoader([batch] * steps, batch_size=None))
    return before, module.loss(batch).item()


def test_contrastive_steps_reduce_loss():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(6, 30, (4, 2, 12), generator=g)
    ids[:, 1, :6] = ids[:, 0, :6]  # views share their opening
    ids[..., -1] = 1
    before, after = _fit("contrastive", {"ids": ids, "eos": torch.full((4, 2), 11)})
    assert after < before


def test_classifier_steps_reduce_loss():
    ids = torch.randint(6, 30, (6, 10))
    ids[:, -1] = 1
    before, after = _fit("classify", {"ids": ids, "eos": torch.full((6,), 9), "label": torch.arange(6) % 3},
                         n_classes=3)
    assert after < before


def test_lightning_cli_builds_module_and_data_from_tiny_yaml():
    from pathlib import Path

    from aria.data import AriaDataModule
    from lightning.pytorch.cli import LightningCLI

    cfg = Path(__file__).resolve().parents[3] / "configs" / "aria" / "tiny.yaml"
    cli = LightningCLI(AriaModule, AriaDataModule, run=False,
                       args=["--config", str(cfg), "--trainer.logger=false", "--trainer.accelerator=cpu"])
    assert cli.model.model.config == AriaConfig.preset("tiny")
    assert cli.datamodule.task == "pretrain" and cli.datamodule.seq_len == 256
