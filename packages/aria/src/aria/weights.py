"""Checkpoints: our safetensors files, Lightning checkpoints, and the official EleutherAI/aria layout.

The official model (EleutherAI/aria `aria/model.py`: `TransformerLM`, `TransformerEMB`, `TransformerCL`) stores
`model.tok_embeddings`, `model.encode_layers.{i}.{mixed_qkv, att_proj_linear, ff_gate_proj, ff_up_proj,
ff_down_proj, norm1, norm2}`, `model.out_layer_norm` and one head (`lm_head`, `emb_head` or `class_head`).
Its fused qkv is split by `chunk(3)` then viewed head-major, exactly our `[q | k | v]` row layout, and its RoPE
rotates the first half of each head against the second half (despite the `freqs_cis` name) with inverse
frequencies base^(-2i/d) — the rotate-half convention symcore.rope uses. So conversion is a pure renaming: no row
permutation, and it is lossless both ways. Training checkpoints of theirs may carry torch.compile's `_orig_mod.`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from symcore.weights import load_checkpoint as load_torch_object
from symcore.weights import read_metadata, save_weights

from aria.config import AriaConfig
from aria.model import Aria

_LAYER = {
    "attn_norm": "norm1", "qkv": "mixed_qkv", "attn_out": "att_proj_linear",
    "ffn_norm": "norm2", "ffn_gate": "ff_gate_proj", "ffn_up": "ff_up_proj", "ffn_down": "ff_down_proj",
}
_TOP = {
    "decoder.embed.weight": "model.tok_embeddings.weight",
    "decoder.norm.weight": "model.out_layer_norm.weight",
    "decoder.norm.bias": "model.out_layer_norm.bias",
    "lm_head.weight": "lm_head.weight", "emb_head.weight": "emb_head.weight", "class_head.weight": "class_head.weight",
}
_OURS_LAYER = re.compile(r"decoder\.layers\.(\d+)\.(\w+)\.(weight|bias)")
_THEIRS_LAYER = re.compile(r"model\.encode_layers\.(\d+)\.(\w+)\.(weight|bias)")


def is_official(state_dict: dict) -> bool:
    return any(k.replace("_orig_mod.", "").startswith("model.tok_embeddings") for k in state_dict)


def to_official(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our parameter names -> EleutherAI/aria's (whichever heads are present are kept)."""
    out = {}
    for key, value in state_dict.items():
        if key in _TOP:
            out[_TOP[key]] = value
        elif m := _OURS_LAYER.fullmatch(key):
            out[f"model.encode_layers.{m[1]}.{_LAYER[m[2]]}.{m[3]}"] = value
        else:
            raise KeyError(f"no official name for parameter {key!r}")
    return out


def from_official(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """EleutherAI/aria parameter names (optionally with torch.compile's `_orig_mod.`) -> ours."""
    top, layer = {v: k for k, v in _TOP.items()}, {v: k for k, v in _LAYER.items()}
    out = {}
    for key, value in state_dict.items():
        key = key.replace("_orig_mod.", "")
        if key in top:
            out[top[key]] = value
        elif (m := _THEIRS_LAYER.fullmatch(key)) and m[2] in layer:
            out[f"decoder.layers.{m[1]}.{layer[m[2]]}.{m[3]}"] = value
        else:
            raise KeyError(f"unexpected parameter {key!r} in an EleutherAI/aria checkpoint")
    return out


def infer_config(state_dict: dict[str, torch.Tensor], n_heads: int | None = None, max_seq_len: int = 8192,
                 **overrides) -> AriaConfig:
    """Shapes -> config. Head count is not visible in the weights: default d_model // 64 (true of medium)."""
    vocab, d = state_dict["decoder.embed.weight"].shape
    layers = 1 + max(int(m[1]) for k in state_dict if (m := _OURS_LAYER.fullmatch(k)))
    ff = state_dict["decoder.layers.0.ffn_gate.weight"].shape[0] // d
    emb = state_dict["emb_head.weight"].shape[0] if "emb_head.weight" in state_dict else None
    cls = state_dict["class_head.weight"].shape[0] if "class_head.weight" in state_dict else None
    fields = dict(vocab_size=vocab, d_model=d, n_layers=layers, n_heads=n_heads or max(d // 64, 1), ff_mult=ff,
                  max_seq_len=max_seq_len, emb_dim=emb, n_classes=cls, lm_head="lm_head.weight" in state_dict)
    fields.update(overrides)
    return AriaConfig(**fields)


def save_checkpoint(model: Aria, path: str | Path) -> None:
    """Our format: safetensors with the config as JSON metadata, so the file alone rebuilds the model."""
    save_weights(model.state_dict(), path, metadata={"aria_config": json.dumps(model.config.to_dict())})


def load_checkpoint(path: str | Path, config: AriaConfig | None = None, *, strict: bool = True,
                    **overrides) -> Aria:
    """Build a model from our safetensors, a Lightning .ckpt (weights_only) or an official EleutherAI file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    raw = load_torch_object(path)  # weights-only: a Lightning .ckpt keeps its plain-data hyper_parameters
    meta = read_metadata(path) if path.suffix == ".safetensors" else {}
    if "state_dict" in raw and isinstance(raw["state_dict"], dict):  # Lightning checkpoint of AriaModule
        hp = raw.get("hyper_parameters") or {}
        if config is None and isinstance(hp.get("config"), dict):
            config = AriaConfig.from_dict(hp["config"])
        raw = {k[len("model."):]: v for k, v in raw["state_dict"].items() if k.startswith("model.")}
    if is_official(raw):
        raw = from_official(raw)
    if config is None and "aria_config" in meta:
        config = AriaConfig.from_dict(json.loads(meta["aria_config"]))
    if config is None:
        config = infer_config(raw)
    if overrides:
        config = AriaConfig.from_dict({**config.to_dict(), **overrides})
    model = Aria(config)
    missing, unexpected = model.load_state_dict(raw, strict=False)
    if strict and (missing or unexpected):
        raise ValueError(f"{path}: checkpoint does not fit the config (missing {missing}, unexpected {unexpected})")
    return model
