"""Every YAML under configs/m2bert builds its model, and its data/trainer sections name real arguments."""

import importlib
import inspect
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from m2bert.cli import main
from m2bert.config import PRESETS, EncoderConfig
from m2bert.data import CPDataModule
from m2bert.module import M2BertFinetuneModule, M2BertPretrainModule

CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs" / "m2bert"
OVERLAYS = ("fsdp.yaml",)  # trainer-only files layered on a full config with a second --config
CONFIGS = sorted(p for p in CONFIG_DIR.glob("*.yaml") if p.name not in OVERLAYS)


def _params(cls):
    return set(inspect.signature(cls.__init__).parameters) - {"self"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_builds(path):
    cfg = yaml.safe_load(path.read_text())
    finetune = path.name.startswith("finetune")
    module_cls = M2BertFinetuneModule if finetune else M2BertPretrainModule
    with torch.device("meta"):  # shapes only: the paper-size init would take seconds
        module = module_cls(**cfg["model"])
    assert sum(p.numel() for p in module.parameters()) > 0
    if finetune:
        mod, _, name = cfg["data"]["class_path"].rpartition(".")
        data_cls = getattr(importlib.import_module(mod), name)
        assert set(cfg["data"].get("init_args", {})) <= _params(data_cls)
    else:
        assert set(cfg["data"]) <= _params(CPDataModule)
    assert set(cfg["trainer"]) <= _params(L.Trainer)


def test_base_is_the_paper_model():
    with torch.device("meta"):
        module = M2BertPretrainModule(preset="base")
    n = sum(p.numel() for p in module.encoder.parameters())
    assert 60e6 < n < 63e6  # "about 62M"
    c = module.config
    assert (c.num_layers, c.hidden_size, c.num_heads, c.intermediate_size, c.max_len) == (12, 768, 12, 1152, 1024)
    assert [i for i in range(12) if c.is_global(i)] == [0, 3, 6, 9]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_config_round_trip(name):
    cfg = EncoderConfig.from_name(name)
    assert EncoderConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict()))) == cfg


def test_fsdp_overlay_gives_a_model_parallel_trainer(tmp_path, monkeypatch):
    """tiny.yaml + fsdp.yaml through LightningCLI (parse and instantiate, no run): the trainer runs FSDP2 over 2
    data-parallel ranks (the 2-process run itself is the slow test in test_ddp.py)."""
    from lightning.pytorch.cli import LightningCLI
    from lightning.pytorch.strategies import ModelParallelStrategy

    monkeypatch.chdir(tmp_path)  # the config's relative run folders land here
    cli = LightningCLI(M2BertPretrainModule, CPDataModule, run=False,
                       args=["--config", str(CONFIG_DIR / "tiny.yaml"), "--config", str(CONFIG_DIR / "fsdp.yaml")])
    strategy = cli.trainer.strategy
    assert isinstance(strategy, ModelParallelStrategy)
    assert (strategy._data_parallel_size, strategy._tensor_parallel_size) == (2, 1)
    assert cli.trainer.num_devices == 2
    assert cli.model.device_mesh is None  # set by the strategy only once fit() has launched the ranks


def test_cli_rejects_unknown_command():
    with pytest.raises(SystemExit, match="unknown command"):
        main(["train"])
