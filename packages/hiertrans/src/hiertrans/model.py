"""The transcriber: a roll encoder plus the note decoders named in the config."""

from __future__ import annotations

import torch
from symtok import transcription as tt
from torch import nn

from hiertrans.config import EncoderConfig, TranscriberConfig
from hiertrans.decoder import NoteDecoder
from hiertrans.notefilter import NoteFilter

DECODER_NAMES = ("onset", "velocity", "offset", "flat")


def build_encoder(cfg: EncoderConfig) -> nn.Module:
    if cfg.name == "crnn":
        from hiertrans.crnn import CRNN

        return CRNN(cfg.n_mels, tuple(cfg.channels), cfg.fc, cfg.gru, cfg.dropout, cfg.shared, cfg.eq_db, cfg.eq_knots)
    if cfg.name == "hppnet":
        from hiertrans.hppnet import HPPNet

        return HPPNet(cfg.hpp_channels, cfg.lstm, cfg.dropout, cfg.eq_db, cfg.eq_knots)
    raise ValueError(f"unknown encoder {cfg.name!r}: crnn or hppnet")


class Transcriber(nn.Module):
    """audio (B, samples) -> encoder outputs (rolls at ``fps``, ``features``); decoders read the features; the
    optional note filter re-scores roll onsets (it never sees audio)."""

    def __init__(self, cfg: TranscriberConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg.encoder)
        self.fps = self.encoder.fps
        d = cfg.decoder
        for name in cfg.decoders:
            if name not in DECODER_NAMES:
                raise ValueError(f"unknown decoder {name!r}: {DECODER_NAMES}")
        self.decoders = nn.ModuleDict({
            name: NoteDecoder(tt.VOCAB_SIZE, self.encoder.feature_dim, d.d_model, d.n_layers, d.n_heads, d.ffn,
                              d.dropout, d.rope_base) for name in cfg.decoders})
        self.note_filter = NoteFilter() if cfg.note_filter else None

    def forward(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.encoder(audio)

    def decode_logits(self, name: str, tokens: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, L, V) of decoder ``name``; position i predicts token i+1."""
        return self.decoders[name](tokens, features)
