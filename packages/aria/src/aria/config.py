"""Aria model configuration: plain data, (de)serialisable to dict/YAML, with named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import yaml
from symcore.atomic import atomic_write

ARIA_VOCAB_SIZE = 17_727


@dataclass
class AriaConfig:
    """Shape and regularisation of an Aria decoder and its heads."""

    vocab_size: int = ARIA_VOCAB_SIZE
    """Token vocabulary size (AbsTokenizer: 17,727)."""
    d_model: int = 64
    """Width of the residual stream."""
    n_layers: int = 2
    """Number of decoder blocks."""
    n_heads: int = 4
    """Attention heads (full multi-head, no grouped-query sharing)."""
    ff_mult: int = 4
    """SwiGLU hidden width as a multiple of d_model."""
    max_seq_len: int = 512
    """Longest sequence (also the default KV-cache length)."""
    rope_base: float = 500_000.0
    """RoPE base frequency (LLaMA-3 style)."""
    resid_dropout: float = 0.0
    """Residual dropout of the last layer; layer i uses resid_dropout * i / (n_layers - 1)."""
    emb_dim: int | None = 512
    """Width of the contrastive embedding head read at `<E>`; None drops the head."""
    n_classes: int | None = None
    """Classes of the classification head read at `<E>`; None drops the head."""
    lm_head: bool = True
    """Whether to build the next-token head (embedding/classifier models may drop it)."""
    attn_backend: str = "auto"
    """symcore.attention backend: auto, flash, sdpa or naive."""

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError("head dimension must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AriaConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown AriaConfig fields: {sorted(unknown)}")
        return cls(**data)

    def to_yaml(self, path: str | Path) -> None:
        atomic_write(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: str | Path) -> AriaConfig:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})

    @classmethod
    def preset(cls, name: str, **overrides) -> AriaConfig:
        if name not in PRESETS:
            raise ValueError(f"unknown Aria preset {name!r}; choose from {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)


PRESETS: dict[str, AriaConfig] = {
    # Trains a few steps in seconds on CPU; for tests and the demo.
    "tiny": AriaConfig(d_model=64, n_layers=2, n_heads=4, max_seq_len=512),
    # A laptop-scale model (~40M with the 17.7k vocab) for the small-scale experiments.
    "small": AriaConfig(d_model=512, n_layers=8, n_heads=8, max_seq_len=2048),
    # The released Aria model (~650M): EleutherAI/aria config/models/medium.json.
    "medium": AriaConfig(d_model=1536, n_layers=16, n_heads=24, max_seq_len=8192),
}
