"""Encoders smcbench can finetune or probe, by name. Anything with the small interface plugs in:
`encoder(tokens (B,T,4) long, mask (B,T) bool) -> (B,T,H)` plus `hidden_size`.

- `scratch`: an M2BERT encoder of the given preset, randomly initialised (the no-pretraining baseline);
- `m2bert`, `midibert-mlm` (or any label): an M2BERT-family encoder exported as safetensors by
  `m2bert pretrain` — the preset comes from the file's metadata, or `--config`;
- `aria`: an Aria checkpoint with an embedding head (`aria.weights.load_checkpoint`: ours, Lightning or official);
  it reads AbsTokenizer ids, so `file_embedding` hands it to `aria.embed` (mean of slice embeddings at `<E>`).
Weights are read only through symcore.weights (safetensors, or torch.load with weights_only=True).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn


def encoder_factory(model: str, ckpt: str | Path | None = None, config: str = "tiny") -> Callable[[], nn.Module]:
    """A function building a fresh encoder (each finetuning run starts from the same weights)."""
    from m2bert.config import EncoderConfig
    from m2bert.model import M2BertEncoder

    if model == "aria":
        if ckpt is None:
            raise ValueError("model 'aria' needs --ckpt (an Aria checkpoint with an embedding head)")
        from aria.weights import load_checkpoint as load_aria

        aria = load_aria(ckpt)
        if aria.emb_head is None:
            raise ValueError(f"{ckpt}: this Aria checkpoint has no embedding head (emb_dim is None)")
        return lambda: copy.deepcopy(aria)
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
    if _is_aria(encoder):
        return _aria_embedding(encoder, path, max_len)
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


def _is_aria(encoder: nn.Module) -> bool:
    try:
        from aria.model import Aria
    except ImportError:  # aria not installed: nothing can be an Aria model
        return False
    return isinstance(encoder, Aria)


@functools.cache
def _aria_tokens():
    from aria.data import get_tokenizer
    from aria.tokens import TokenTables

    tok = get_tokenizer()
    return tok, TokenTables(tok.vocab)


def _aria_embedding(model: nn.Module, path: Path, max_len: int) -> np.ndarray:
    """Aria's own file embedding; slices of ~max_len/3.4 notes (a note is ~3.4 tokens with its `<T>`s), so
    a 512-token context reads 150-note slices and the default 2048 upstream's 300."""
    from aria.embed import file_embedding as aria_file_embedding

    tok, tables = _aria_tokens()
    return aria_file_embedding(model, tables, tok.encode_file(path), notes_per_slice=min(300, max_len * 10 // 34),
                               max_len=max_len)
