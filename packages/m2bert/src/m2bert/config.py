"""Encoder configurations: plain dataclasses, serialisable to/from dicts and YAML, with named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

# CP sub-token vocabularies [bar, position, pitch, duration]; the last two ids of each field are PAD and MASK.
CP_VOCAB_SIZES = (4, 18, 88, 66)


@dataclass(frozen=True)
class EncoderConfig:
    """A ModernBERT encoder over CP tokens (defaults: the M2BERT paper model)."""

    vocab_sizes: tuple[int, ...] = CP_VOCAB_SIZES
    """Vocabulary size of each CP field; PAD = size-2 and MASK = size-1 in every field."""
    embed_dim: int = 256
    """Width of each field's embedding table (scaled by sqrt(embed_dim), concatenated, projected to hidden)."""
    hidden_size: int = 768
    """Transformer width."""
    num_layers: int = 12
    """Number of encoder layers."""
    num_heads: int = 12
    """Attention heads per layer (hidden_size must be divisible by it)."""
    intermediate_size: int = 1152
    """GeGLU inner width (Wi projects to twice this: value and gate)."""
    max_len: int = 1024
    """Longest sequence the model is trained on (RoPE itself has no hard limit)."""
    local_window: int = 128
    """Total sliding-window width of local layers: a query sees keys within +-local_window//2 (HF `local_attention`)."""
    global_every: int = 3
    """Layers i with i % global_every == 0 attend globally, the rest locally (ModernBERT: 0, 3, 6, ...)."""
    global_rope_theta: float = 160000.0
    """RoPE base of the global layers."""
    local_rope_theta: float = 10000.0
    """RoPE base of the local layers."""
    attention_dropout: float = 0.1
    """Dropout on attention probabilities and on the attention output projection (HF ModernBERT applies both)."""
    mlp_dropout: float = 0.1
    """Dropout between the GeGLU activation and its output projection."""
    embedding_dropout: float = 0.0
    """Dropout after the embedding LayerNorm."""
    norm_eps: float = 1e-5
    """LayerNorm epsilon (all LayerNorms are bias-free)."""
    final_norm: bool = True
    """Apply the final LayerNorm to the output. The released M2BERT heads read HF 4.x `hidden_states[-1]`, which is
    taken *before* final_norm; set False to reproduce their features from the official weights."""
    init_std: float = 0.02
    """Std of the truncated-normal init (output projections use init_std / sqrt(2 * num_layers), as HF)."""
    attn_backend: str = "auto"
    """symcore.attention backend: "auto", "sdpa", "naive" or "flash"."""
    unpad: bool = False
    """When a batch is right-padded, drop the padding: the layer stack runs on the real tokens packed back to back
    and attention per sequence (symcore.attention.attention_varlen: one flash-attn varlen call on CUDA, a loop of
    SDPA calls elsewhere). Outputs at padded positions are then zeros, otherwise meaningless. Off by default: on
    CPU it measured slower than padded attention with a key mask (benchmarks/results/m2bert_throughput.md)."""

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if (self.hidden_size // self.num_heads) % 2:
            raise ValueError("head dimension must be even for RoPE")
        object.__setattr__(self, "vocab_sizes", tuple(int(v) for v in self.vocab_sizes))

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def pad_ids(self) -> tuple[int, ...]:
        return tuple(n - 2 for n in self.vocab_sizes)

    @property
    def mask_ids(self) -> tuple[int, ...]:
        return tuple(n - 1 for n in self.vocab_sizes)

    def is_global(self, layer: int) -> bool:
        return layer % self.global_every == 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["vocab_sizes"] = list(self.vocab_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown EncoderConfig fields: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_name(cls, name: str, **overrides) -> EncoderConfig:
        if name not in PRESETS:
            raise ValueError(f"unknown encoder preset {name!r}; choose from {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)


PRESETS: dict[str, EncoderConfig] = {
    # Trains a few steps in about a second on one CPU core; still has both global and local layers.
    "tiny": EncoderConfig(hidden_size=64, num_layers=4, num_heads=4, intermediate_size=96, max_len=256,
                          local_window=32, embed_dim=32),
    "small": EncoderConfig(hidden_size=384, num_layers=6, num_heads=6, intermediate_size=576, max_len=512),
    "base": EncoderConfig(),
}
