"""Model configurations: one dataclass per part, presets ``tiny`` (tests), ``small`` (the shipped CPU model),
``paper`` (Kong CRNN / HPPNet sizes with a 4-layer decoder)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class EncoderConfig:
    """A roll encoder: audio -> per-frame 88-key logits and features for the decoder."""

    name: str = "crnn"
    """``crnn`` (Kong et al. 2021, log-mel, 100 fps) or ``hppnet`` (Wei et al. 2022, CQT, 50 fps)."""
    n_mels: int = 229
    """CRNN: log-mel bins (30-8000 Hz, FFT 2048, hop 160)."""
    channels: tuple[int, ...] = (48, 64, 96, 128)
    """CRNN: channels of the four conv blocks of each acoustic model."""
    fc: int = 768
    """CRNN: width of the projection between the conv stack and the biGRU."""
    gru: int = 256
    """CRNN: hidden size of each direction of the biGRUs."""
    shared: bool = False
    """CRNN: one acoustic model for all four outputs and no heads (CPU budget variant, not Kong's)."""
    dropout: float = 0.2
    """Dropout inside the encoder."""
    hpp_channels: int = 16
    """HPPNet: channels of the 7x7 convs and the harmonic dilated conv."""
    lstm: int = 32
    """HPPNet: hidden size per direction of the frequency-grouped LSTM (shared across the 88 keys)."""
    eq_db: float = 0.0
    """Training only: random smooth spectral EQ within ±eq_db dB on the input spectrogram (timbre augmentation)."""
    eq_knots: int = 6
    """Training only: how many random gains the EQ curve interpolates across the frequency axis."""


@dataclass
class DecoderConfig:
    """The LLaMA-style note decoder shared by the onset, velocity, offset (and flattened) models."""

    d_model: int = 256
    """Width of the decoder."""
    n_layers: int = 4
    """Decoder blocks (self-attention, cross-attention, SwiGLU)."""
    n_heads: int = 4
    """Attention heads."""
    ffn: int = 683
    """SwiGLU hidden width."""
    dropout: float = 0.1
    """Dropout on attention output and FFN."""
    max_tokens: int = 1024
    """Longest token sequence per 10 s segment (longer targets are cut when training)."""
    rope_base: float = 10000.0
    """RoPE base for the token positions."""


@dataclass
class TranscriberConfig:
    """Encoder + which note decoders exist."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """The roll encoder."""
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    """Size of every note decoder."""
    decoders: tuple[str, ...] = ("onset", "velocity", "offset")
    """Which decoders to build: any of ``onset``, ``velocity``, ``offset``, ``flat``."""
    note_filter: bool = False
    """Carry a fitted ``NoteFilter`` (a second look at roll onsets, see ``hiertrans.notefilter``); set by ship."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TranscriberConfig:
        enc = {k: tuple(v) if isinstance(v, list) else v for k, v in d.get("encoder", {}).items()}
        known_e = {f.name for f in fields(EncoderConfig)}
        known_d = {f.name for f in fields(DecoderConfig)}
        return cls(EncoderConfig(**{k: v for k, v in enc.items() if k in known_e}),
                   DecoderConfig(**{k: v for k, v in d.get("decoder", {}).items() if k in known_d}),
                   tuple(d.get("decoders", ("onset", "velocity", "offset"))), bool(d.get("note_filter", False)))


def preset(name: str, encoder: str = "crnn") -> TranscriberConfig:
    """Named sizes; ``encoder`` picks CRNN or HPPNet at that size."""
    if name == "tiny":
        enc = EncoderConfig(encoder, n_mels=229, channels=(4, 4, 4, 4), fc=16, gru=8, shared=False,
                            hpp_channels=4, lstm=4)
        dec = DecoderConfig(d_model=32, n_layers=1, n_heads=2, ffn=64, max_tokens=512)
    elif name == "small":
        enc = EncoderConfig(encoder, n_mels=229, channels=(8, 16, 16, 24), fc=128, gru=64, shared=True,
                            hpp_channels=8, lstm=16)
        dec = DecoderConfig(d_model=128, n_layers=2, n_heads=4, ffn=344, max_tokens=1024)
    elif name == "paper":
        enc = EncoderConfig(encoder)
        dec = DecoderConfig()
    else:
        raise ValueError(f"unknown preset {name!r}: tiny, small, paper")
    return TranscriberConfig(enc, dec)
