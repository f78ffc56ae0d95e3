"""Encoder weights on disk: safetensors through symcore.weights, with the EncoderConfig in the file's metadata.

This is the file smcbench (and any user) loads: `load_encoder(path)` needs nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

from m2bert.config import EncoderConfig
from m2bert.model import M2BertEncoder


def save_encoder(encoder: M2BertEncoder, path: str | Path, **extra_metadata: str) -> Path:
    from symcore.weights import save_weights

    state = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    meta = {"config": json.dumps(encoder.config.to_dict()), "format": "m2bert-encoder/1", **extra_metadata}
    save_weights(state, path, metadata=meta)
    return Path(path)


def read_config(path: str | Path) -> EncoderConfig | None:
    """The EncoderConfig stored in a safetensors export (None for other files)."""
    if not str(path).endswith(".safetensors"):
        return None
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    return EncoderConfig.from_dict(json.loads(meta["config"])) if "config" in meta else None


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
