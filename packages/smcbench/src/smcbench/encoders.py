"""Encoders smcbench can finetune or probe, by name. Anything with the small interface plugs in:
`encoder(tokens (B,T,4) long, mask (B,T) bool) -> (B,T,H)` plus `hidden_size`.

- `scratch`: an M2BERT encoder of the given preset, randomly initialised (the no-pretraining baseline);
- `m2bert`, `midibert-mlm` (or any label): an M2BERT-family encoder exported as safetensors by
  `m2bert pretrain` — the preset comes from the file's metadata, or `--config`.
Weights are read only through symcore.weights (safetensors, or torch.load with weights_only=True).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn


def encoder_factory(model: str, ckpt: str | Path | None = None, config: str = "tiny") -> Callable[[], nn.Module]:
    """A function building a fresh encoder (each finetuning run starts from the same weights)."""
    from m2bert.config import EncoderConfig
    from m2bert.model import M2BertEncoder

    if model == "scratch" and ckpt is None:
        cfg = EncoderConfig.from_name(config)
        return lambda: M2BertEncoder(cfg)
    if ckpt is None:
        raise ValueError(f"model {model!r} needs --ckpt (a safetensors encoder export); use 'scratch' for random init")
    from m2bert.export import load_encoder, read_config

    cfg = read_config(ckpt) or EncoderConfig.from_name(config)
    template = load_encoder(ckpt, cfg)  # read once (safetensors / weights_only), copied per run
    return lambda: copy.deepcopy(template)


@torch.no_grad()
def file_embedding(encoder: nn.Module, path: Path, max_len: int = 512) -> np.ndarray:
    """Mean over segments of the mean hidden state of real tokens: a frozen per-file embedding."""
    from symcore.notes import load_notes
    from symtok.cp import CPTokenizer

    from smcbench.data import segment
    from smcbench.tasks import Piece

    tokens = CPTokenizer().encode(load_notes(path))
    if len(tokens) == 0:
        raise ValueError(f"{path}: no notes left after CP quantisation")
    toks, _, mask = segment([Piece(path.stem, tokens, 0)], max_len, "seq")
    encoder.eval()
    h = encoder(torch.from_numpy(toks), torch.from_numpy(mask))  # (S,T,H)
    m = torch.from_numpy(mask)[..., None].float()
    seg = (h * m).sum(1) / m.sum(1).clamp_min(1)  # (S,H)
    return seg.mean(0).numpy()
