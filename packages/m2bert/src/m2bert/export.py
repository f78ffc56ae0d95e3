"""Encoder weights on disk: safetensors through symcore.weights, with the EncoderConfig in the file's metadata.

This is the file smcbench (and any user) loads: `load_encoder(path)` needs nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

from m2bert.config import EncoderConfig
from m2bert.model import M2BertEncoder


def save_encoder(encoder: M2BertEncoder, path: str | Path, state: dict | None = None, **extra_metadata: str) -> Path:
    """`state`: the encoder's full state dict when it had to be gathered first (FSDP); default its state_dict()."""
    from symcore.weights import save_weights

    state = {k: v.detach().contiguous() for k, v in (state if state is not None else encoder.state_dict()).items()}
    meta = {"config": json.dumps(encoder.config.to_dict()), "format": "m2bert-encoder/1", **extra_metadata}
    save_weights(state, path, metadata=meta)
    return Path(path)


def read_config(path: str | Path) -> EncoderConfig | None:
    """The EncoderConfig stored in a safetensors export (None for other files)."""
    from symcore.weights import is_safetensors, read_metadata

    if not is_safetensors(path):
        return None
    meta = read_metadata(path)
    return EncoderConfig.from_dict(json.loads(meta["config"])) if "config" in meta else None


def export_checkpoint(ckpt: str | Path, out: str | Path) -> Path:
    """The encoder of an M2BertPretrainModule/M2BertFinetuneModule Lightning checkpoint -> safetensors export.

    The encoder config comes from the checkpoint's hyper-parameters (preset + overrides), so the whole file is
    read with weights-only unpickling (symcore.weights.load_checkpoint), not just its state_dict.
    """
    from symcore.weights import load_checkpoint

    raw = load_checkpoint(ckpt)
    hp = dict(raw.get("hyper_parameters") or {})
    prefix = "encoder."
    state = {k.removeprefix(prefix): v for k, v in raw.get("state_dict", raw).items() if k.startswith(prefix)}
    if not state:
        raise ValueError(f"{ckpt}: no encoder.* weights (not an m2bert Lightning checkpoint)")
    encoder = M2BertEncoder(EncoderConfig.from_name(hp.get("preset", "tiny"), **(hp.get("encoder") or {})))
    encoder.load_state_dict(state)
    return save_encoder(encoder, out, objective=str(hp.get("objective", "")))


def load_encoder(path: str | Path, config: EncoderConfig | None = None) -> M2BertEncoder:
    """An encoder built from `config` (default: the file's own) with the file's weights; strict about keys."""
    from symcore.weights import load_weights

    config = config or read_config(path)
    if config is None:
        raise ValueError(f"{path}: no encoder config in the file; pass config=EncoderConfig.from_name(...)")
    encoder = M2BertEncoder(config)
    state = {k.removeprefix("encoder."): v for k, v in load_weights(path).items()}
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit the encoder config (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    return encoder
