"""Kong et al. (2021) high-resolution piano transcription CRNN: four acoustic sub-models and two heads.

Frame, onset-regression, offset-regression and velocity sub-models share nothing (each its own conv stack + biGRU);
the onset head re-reads the onset regression with the velocity, the frame head re-reads frame, onset and offset.
Outputs are logits; ``features`` are the onset/offset/frame GRU states the LM decoder attends to (1536-d at paper
size).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hiertrans.features import LogMel, random_eq_db

N_KEYS = 88


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.AvgPool2d((1, 2)), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AcousticModel(nn.Module):
    """(B, T, n_mels) -> logits (B, T, 88) and GRU states (B, T, 2*gru)."""

    def __init__(self, n_mels: int, channels: tuple[int, ...], fc: int, gru: int, dropout: float = 0.2):
        super().__init__()
        blocks, c = [], 1
        for ch in channels:
            blocks.append(ConvBlock(c, ch, dropout))
            c = ch
        self.convs = nn.Sequential(*blocks)
        freq = n_mels
        for _ in channels:
            freq //= 2
        self.fc = nn.Sequential(nn.Linear(c * freq, fc, bias=False), nn.LayerNorm(fc), nn.ReLU(), nn.Dropout(dropout))
        self.gru = nn.GRU(fc, gru, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * gru, N_KEYS)

    def forward(self, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.convs(spec.unsqueeze(1))  # (B, C, T, F')
        x = x.permute(0, 2, 1, 3).flatten(2)  # (B, T, C*F')
        h, _ = self.gru(self.fc(x))  # (B, T, 2*gru)
        return self.out(h), h


class Head(nn.Module):
    """biGRU over concatenated per-key activations: (B, T, k*88) -> logits (B, T, 88), states (B, T, 2*gru)."""

    def __init__(self, n_in: int, gru: int):
        super().__init__()
        self.gru = nn.GRU(n_in, gru, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * gru, N_KEYS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, _ = self.gru(x)
        return self.out(h), h


class CRNN(nn.Module):
    """Audio (B, samples at 16 kHz) -> dict of (B, T, 88) logits at 100 fps plus ``features`` (B, T, feature_dim).

    ``shared=True`` is a CPU-budget variant (not Kong's): one acoustic model whose biGRU feeds all four outputs and
    no heads — a quarter of the conv and recurrent work, which is what a model trained on a shared 2-core CPU in an
    hour can afford.
    """

    fps = 100.0

    def __init__(self, n_mels: int = 229, channels: tuple[int, ...] = (48, 64, 96, 128), fc: int = 768,
                 gru: int = 256, dropout: float = 0.2, shared: bool = False, eq_db: float = 0.0,
                 eq_knots: int = 6):
        super().__init__()
        self.logmel = LogMel(n_mels=n_mels)
        self.eq_db, self.eq_knots = eq_db, eq_knots
        self.bn0 = nn.BatchNorm1d(n_mels)
        self.shared = shared
        if shared:
            self.acoustic = AcousticModel(n_mels, channels, fc, gru, dropout)
            self.acoustic.out = nn.Linear(2 * gru, 4 * N_KEYS)
            self.feature_dim = 2 * gru
            return
        self.frame_model = AcousticModel(n_mels, channels, fc, gru, dropout)
        self.onset_model = AcousticModel(n_mels, channels, fc, gru, dropout)
        self.offset_model = AcousticModel(n_mels, channels, fc, gru, dropout)
        self.velocity_model = AcousticModel(n_mels, channels, fc, gru, dropout)
        self.onset_head = Head(2 * N_KEYS, gru // 2)
        self.frame_head = Head(3 * N_KEYS, gru // 2)
        self.feature_dim = 3 * 2 * gru

    def forward(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        spec = self.logmel(audio)  # (B, T, n_mels), natural log of power
        if self.training and self.eq_db > 0:
            spec = spec + random_eq_db(len(spec), spec.shape[-1], self.eq_db, spec.device, self.eq_knots) * (
                math.log(10) / 10)
        spec = self.bn0(spec.transpose(1, 2)).transpose(1, 2)
        if self.shared:
            out, h = self.acoustic(spec)  # (B, T, 4*88), (B, T, 2*gru)
            frame, onset, offset, velocity = out.chunk(4, dim=-1)
            return {"reg_onset": onset, "reg_offset": offset, "frame": frame, "velocity": velocity, "features": h}
        frame0, h_frame = self.frame_model(spec)
        onset0, h_onset = self.onset_model(spec)
        offset, h_offset = self.offset_model(spec)
        velocity, _ = self.velocity_model(spec)
        # Kong: the onset head sees velocity (loud notes have sharper onsets); the frame head sees onsets/offsets.
        # Detached so the heads do not pull the sub-models away from their own targets.
        onset, _ = self.onset_head(torch.cat([torch.sigmoid(onset0), torch.sigmoid(velocity).detach()], -1))
        frame, _ = self.frame_head(torch.cat([torch.sigmoid(frame0), torch.sigmoid(onset).detach(),
                                              torch.sigmoid(offset).detach()], -1))
        return {"reg_onset": onset, "reg_offset": offset, "frame": frame, "velocity": velocity,
                "aux_onset": onset0, "aux_frame": frame0,
                "features": torch.cat([h_onset, h_offset, h_frame], -1)}  # (B, T, 6*gru)
