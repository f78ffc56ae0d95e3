"""Input spectrograms: Kong's log-mel (torch.stft + librosa's mel filters) and HPPNet's CQT (nnAudio CQT1992v2).

Both are modules so they move with the model and run batched; neither has trainable parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16000


class LogMel(nn.Module):
    """(B, samples) -> (B, T, n_mels) log-mel, T = samples // hop (100 fps at hop 160)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = 2048, hop: int = 160, n_mels: int = 229,
                 fmin: float = 30.0, fmax: float = 8000.0):
        super().__init__()
        import librosa

        mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        self.register_buffer("mel", torch.from_numpy(mel).float(), persistent=False)  # (n_mels, n_fft//2+1)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.n_fft, self.hop = n_fft, hop

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        n_frames = audio.shape[-1] // self.hop
        spec = torch.stft(audio, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        power = spec.abs().pow(2)  # (B, F, T+1)
        mel = torch.matmul(self.mel, power)[..., :n_frames]  # (B, n_mels, T)
        return torch.log(torch.clamp(mel, min=1e-10)).transpose(1, 2)  # (B, T, n_mels)


class CQTSpec(nn.Module):
    """(B, samples) -> (B, T, n_bins) CQT in dB (352 bins, 4 per semitone from A0, hop 320 = 50 fps).

    nnAudio's CQT1992v2 is used because CQT2010v2 fails at hop 320.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, hop: int = 320, n_bins: int = 352, bins_per_octave: int = 48,
                 fmin: float = 27.5):
        super().__init__()
        from nnAudio.features import CQT1992v2

        self.cqt = CQT1992v2(sr=sample_rate, hop_length=hop, fmin=fmin, n_bins=n_bins,
                             bins_per_octave=bins_per_octave, output_format="Magnitude", pad_mode="constant",
                             verbose=False)
        self.hop = hop

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        n_frames = audio.shape[-1] // self.hop
        mag = self.cqt(audio)[..., :n_frames]  # (B, n_bins, T)
        db = 20 * torch.log10(torch.clamp(mag, min=1e-5))
        return db.transpose(1, 2)  # (B, T, n_bins)


def random_eq_db(batch: int, n_bins: int, max_db: float, device=None, knots: int = 6) -> torch.Tensor:
    """(B, 1, n_bins) random smooth gain curves in dB, within ±``max_db``: a training-time timbre augmentation.

    ``knots`` random gains spread over the frequency axis, linearly interpolated: a different piano, microphone or
    room mostly changes the spectral envelope, and rendered training data has only a few soundfonts' envelopes.
    Six knots over 30-8000 Hz tilt whole regions; about twelve vary the level roughly octave by octave, which is what
    moves a note's second harmonic relative to its fundamental (the octave errors on an unseen piano).
    """
    knots = (torch.rand(batch, 1, knots, device=device) * 2 - 1) * max_db
    return F.interpolate(knots, size=n_bins, mode="linear", align_corners=True)
