"""HPPNet (Wei et al. 2022): CQT -> convs -> harmonic dilated conv -> pool to 88 keys -> frequency-grouped biLSTM.

The harmonic dilated conv looks at each CQT bin together with the bins of its harmonics 2..9 (48·log2(h) bins up
at 4 bins per semitone), which is what a piano note's spectrum is. The LSTM runs along time *per key* with weights
shared over keys, so the model stays ~1M parameters at paper size and treats every key the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hiertrans.features import CQTSpec, random_eq_db

HARMONIC_DILATIONS = (48, 76, 96, 111, 124, 135, 144, 152)
N_KEYS = 88


class HarmonicDilatedConv(nn.Module):
    """Sum over the fundamental and its harmonics of a 1x2 conv dilated by the harmonic's bin distance."""

    def __init__(self, channels: int, dilations: tuple[int, ...] = HARMONIC_DILATIONS):
        super().__init__()
        self.base = nn.Conv2d(channels, channels, 1)
        self.dilations = dilations
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, (1, 2), dilation=(1, d)) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, F)
        out = self.base(x)
        for d, conv in zip(self.dilations, self.convs):
            out = out + conv(F.pad(x, (0, d)))  # bin f sees f and f + d; bins past the top see zeros
        return F.relu(out)


class HPPNet(nn.Module):
    """Audio (B, samples) -> logits (B, T, 88) at 50 fps for frame/reg_onset/reg_offset/velocity; ``features``
    (B, T, 352) are the four probability rolls, as the paper's decoder reads them."""

    fps = 50.0

    def __init__(self, channels: int = 16, lstm: int = 32, dropout: float = 0.2, eq_db: float = 0.0,
                 eq_knots: int = 6):
        super().__init__()
        self.cqt = CQTSpec()
        self.eq_db, self.eq_knots = eq_db, eq_knots
        layers, c = [], 1
        for _ in range(3):
            layers += [nn.Conv2d(c, channels, 7, padding=3), nn.BatchNorm2d(channels), nn.ReLU()]
            c = channels
        self.convs = nn.Sequential(*layers)
        self.hd = HarmonicDilatedConv(channels)
        self.after = nn.Sequential(nn.Conv2d(channels, channels, (5, 1), padding=(2, 0)), nn.BatchNorm2d(channels),
                                   nn.ReLU(), nn.Dropout(dropout))
        self.lstm = nn.LSTM(channels, lstm, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * lstm, 4)
        self.feature_dim = 4 * N_KEYS

    def forward(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        spec = self.cqt(audio)  # (B, T, 352) dB
        if self.training and self.eq_db > 0:
            spec = spec + random_eq_db(len(spec), spec.shape[-1], self.eq_db, spec.device, self.eq_knots)
        spec = (spec + 40.0) / 40.0  # roughly unit scale; BN after the first conv does the rest
        x = self.convs(spec.unsqueeze(1))  # (B, C, T, 352)
        x = self.after(self.hd(x))
        x = F.max_pool2d(x, (1, 4))  # (B, C, T, 88): one column per key
        b, c, t, k = x.shape
        seq = x.permute(0, 3, 2, 1).reshape(b * k, t, c)  # every key is a sequence, weights shared over keys
        h, _ = self.lstm(seq)
        y = self.out(h).view(b, k, t, 4).permute(0, 2, 1, 3)  # (B, T, 88, 4)
        frame, onset, offset, velocity = y.unbind(-1)
        probs = torch.sigmoid(torch.cat([frame, onset, offset, velocity], -1))
        return {"frame": frame, "reg_onset": onset, "reg_offset": offset, "velocity": velocity, "features": probs}
