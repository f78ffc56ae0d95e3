"""A learned second look at roll onsets: a tiny MLP that keeps or drops each candidate onset peak from the rolls
around it, fitted (by ``hiertrans.ship``) on unseen pieces to the encoder it ships with.

Why: one onset threshold cannot separate the encoder's two main errors on an unseen piano — real notes whose onset
peak is only 0.6–0.8 (most of the misses) and harmonic or re-attack ghosts above 0.8 (most of the false notes).
The surrounding rolls tell them apart (a real note's frame roll rises after its onset; a ghost sits on a stronger
peak 12, 19 or 24 keys below, or on a key that was already sounding). Everything works on peak coordinates, so an
hour-long roll costs no extra (T, 88) arrays.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hiertrans.metrics import midi_to_hz
from hiertrans.postprocess import HARMONICS, MIN_PITCH, _refine

FEATURES = ("onset", "frame_after", "frame_before", "frame_rise", "harmonic", "harmonic_above", "semitone",
            "velocity", "key", "simultaneous", "sharpness", "frame_long", "harm12", "harm19", "harm24",
            "onset_x_frame", "harmonic_excess")


def _window_mean(x: np.ndarray, t: np.ndarray, k: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Mean of x[t+start : t+stop, k] per candidate, clipped at the roll's ends (gathers; no roll-sized temps)."""
    n = len(x)
    acc = np.zeros(len(t), np.float32)
    cnt = np.zeros(len(t), np.float32)
    for s in range(start, stop):
        tt = t + s
        ok = (tt >= 0) & (tt < n)
        acc += np.where(ok, x[np.clip(tt, 0, n - 1), k], 0)
        cnt += ok
    return acc / np.maximum(cnt, 1)


def _max_near(x: np.ndarray, t: np.ndarray, k: np.ndarray, dk: int, window: int = 3) -> np.ndarray:
    """Largest x within ±window frames on key k - dk (0 off the keyboard)."""
    n, n_keys = x.shape
    kk = k - dk
    ok = (kk >= 0) & (kk < n_keys)
    best = np.zeros(len(t), np.float32)
    for s in range(-window, window + 1):
        best = np.maximum(best, np.where(ok, x[np.clip(t + s, 0, n - 1), np.clip(kk, 0, n_keys - 1)], 0))
    return best


def candidate_features(onset: np.ndarray, frame: np.ndarray, velocity: np.ndarray, t: np.ndarray,
                       k: np.ndarray) -> np.ndarray:
    """(N,) onset peaks at frames ``t``, keys ``k`` of (T, 88) probability rolls -> (N, len(FEATURES)) float32."""
    t, k = np.asarray(t, np.int64), np.asarray(k, np.int64)
    if len(t) == 0:
        return np.zeros((0, len(FEATURES)), np.float32)
    n = len(onset)
    p = onset[t, k].astype(np.float32)
    after, before = _window_mean(frame, t, k, 1, 6), _window_mean(frame, t, k, -5, 0)
    h12, h19, h24 = (_max_near(onset, t, k, d) for d in HARMONICS)
    harm = np.maximum(np.maximum(h12, h19), h24)
    semi = np.maximum(_max_near(onset, t, k, 1), _max_near(onset, t, k, -1))
    order = np.argsort(t, kind="stable")
    ts = t[order]
    simultaneous = np.empty(len(t), np.float32)
    simultaneous[order] = np.searchsorted(ts, ts + 2, "right") - np.searchsorted(ts, ts - 2, "left")
    sharp = p - 0.5 * (onset[np.clip(t - 2, 0, n - 1), k] + onset[np.clip(t + 2, 0, n - 1), k])
    cols = (p, after, before, after - before, harm, (harm > p), semi, velocity[t, k], k / 88.0,
            np.log1p(simultaneous), sharp, _window_mean(frame, t, k, 1, 16), h12, h19, h24, p * after,
            np.maximum(harm - p, 0))
    return np.stack([np.asarray(c, np.float32) for c in cols], 1)


class NoteFilter(nn.Module):
    """features (N, F) -> keep-logit (N,); inputs are standardised by buffers fitted with the weights."""

    def __init__(self, n_features: int = len(FEATURES), hidden: tuple[int, ...] = (32,)):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        layers, d = [], n_features
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.net = nn.Sequential(*layers, nn.Linear(d, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std).squeeze(-1)

    @torch.no_grad()
    def keep(self, onset, frame, velocity, t, k, threshold: float) -> np.ndarray:
        """Boolean mask over the candidates: keep-probability >= threshold."""
        x = torch.from_numpy(candidate_features(onset, frame, velocity, t, k))
        return (torch.sigmoid(self(x)) >= threshold).numpy()


def fit(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...] = (32,), steps: int = 300, lr: float = 3e-3,
        weight_decay: float = 1e-4, seed: int = 0) -> NoteFilter:
    """Full-batch Adam on binary cross-entropy (candidates number thousands, so this takes seconds)."""
    torch.manual_seed(seed)
    f = NoteFilter(x.shape[1], hidden)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    f.mean.copy_(xt.mean(0))
    f.std.copy_(xt.std(0).clamp(min=1e-3))
    opt = torch.optim.AdamW(f.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(f(xt), yt).backward()
        opt.step()
    return f.eval()


def label_candidates(onset: np.ndarray, t: np.ndarray, k: np.ndarray, ref: dict, fps: float) -> np.ndarray:
    """1 where a candidate is matched to a reference note by mir_eval's onset+pitch matching (50 ms), else 0."""
    import mir_eval

    y = np.zeros(len(t), np.int64)
    if len(t) == 0 or len(ref["onset"]) == 0:
        return y
    on = _refine(onset, t, k) / fps
    ref_iv = np.stack([ref["onset"], ref["onset"] + 1.0], 1)
    est_iv = np.stack([on, on + 1.0], 1)
    matched = mir_eval.transcription.match_notes(ref_iv, midi_to_hz(ref["pitch"]), est_iv, midi_to_hz(k + MIN_PITCH),
                                                 offset_ratio=None)
    y[[j for _, j in matched]] = 1
    return y
