"""Saving and loading transcriber weights as safetensors with the config in the metadata (never pickles)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from symcore.weights import is_safetensors, load_weights, read_metadata, save_weights
from torch import nn

from hiertrans.config import TranscriberConfig

SHIPPED = Path(__file__).parent / "weights" / "small-crnn.safetensors"


def _load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata; symcore refuses anything that is not plain tensors (weights_only) and names the file
    when it is corrupt."""
    return load_weights(path), (read_metadata(path) if is_safetensors(path) else {})


def save_model(model: nn.Module, cfg: TranscriberConfig, path: str | Path, extra: dict | None = None) -> Path:
    """Weights (float32, contiguous) + ``{"config": ..., **extra}`` as JSON metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().contiguous() if v.is_floating_point() else v.detach().contiguous()
             for k, v in model.state_dict().items()}
    meta = {"config": json.dumps(cfg.to_dict()), "extra": json.dumps(extra or {})}
    save_weights(state, path, metadata=meta)
    return path


def load_state(model: nn.Module, path: str | Path, strict: bool = True) -> list[str]:
    """Load matching tensors; returns the model keys left at their initialisation."""
    state, _ = _load(Path(path))
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if strict and len(usable) != len(own):
        raise ValueError(f"{path}: {len(own) - len(usable)} tensors missing or mis-shaped for this model")
    model.load_state_dict(usable, strict=False)
    return [k for k in own if k not in usable]


def load_model(path: str | Path | None = None):
    """A Transcriber from a safetensors file saved by ``save_model`` (default: the shipped small model)."""
    from hiertrans.model import Transcriber

    path = Path(path) if path else SHIPPED
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found" + (" (the shipped model is missing from this install)"
                                                                  if path == SHIPPED else ""))
    state, meta = _load(path)
    if "config" not in meta:
        raise ValueError(f"{path}: no transcriber config in its metadata (was it saved by hiertrans.save_model?)")
    cfg = TranscriberConfig.from_dict(json.loads(meta["config"]))
    model = Transcriber(cfg)
    model.load_state_dict(state)
    model.eval()
    model.extra = json.loads(meta.get("extra", "{}"))
    return model
