"""Frame-level training targets for roll encoders (Kong et al. 2021 regression targets) from note lists."""

from __future__ import annotations

import numpy as np

MIN_PITCH, N_KEYS = 21, 88


def frame_targets(onset: np.ndarray, offset: np.ndarray, pitch: np.ndarray, velocity: np.ndarray, *,
                  start: float, n_frames: int, fps: float, regression_frames: int = 5) -> dict[str, np.ndarray]:
    """Rolls of shape (n_frames, 88) for the window starting at ``start`` seconds.

    ``frame``/``onset``/``offset`` are binary; ``velocity`` is velocity/128 on onset frames; ``reg_onset`` and
    ``reg_offset`` are Kong's regression targets ``1 - |t - t_event| / J`` within J = ``regression_frames``
    frames of the exact (unquantised) event time, which is what lets the post-processing recover onsets finer than
    a frame. Offsets should already include the sustain pedal.
    """
    out = {k: np.zeros((n_frames, N_KEYS), np.float32)
           for k in ("frame", "onset", "offset", "velocity", "reg_onset", "reg_offset")}
    key = np.asarray(pitch, dtype=np.int64) - MIN_PITCH
    on_f = (np.asarray(onset, dtype=np.float64) - start) * fps
    off_f = (np.asarray(offset, dtype=np.float64) - start) * fps
    live = (key >= 0) & (key < N_KEYS) & (off_f >= 0) & (on_f < n_frames)
    frames = np.arange(n_frames)
    J = float(regression_frames)
    for k, a, b, v in zip(key[live], on_f[live], off_f[live], np.asarray(velocity)[live]):
        lo, hi = max(int(round(a)), 0), min(int(round(b)), n_frames - 1)
        out["frame"][lo:hi + 1, k] = 1.0
        ia = int(round(a))
        if 0 <= ia < n_frames:
            out["onset"][ia, k] = 1.0
            out["velocity"][ia, k] = v / 128.0
        ib = int(round(b))
        if 0 <= ib < n_frames:
            out["offset"][ib, k] = 1.0
        for name, t in (("reg_onset", a), ("reg_offset", b)):
            lo_r, hi_r = max(int(np.ceil(t - J)), 0), min(int(np.floor(t + J)), n_frames - 1)
            if lo_r > hi_r:
                continue
            seg = frames[lo_r:hi_r + 1]
            val = 1.0 - np.abs(seg - t) / J
            col = out[name][lo_r:hi_r + 1, k]
            np.maximum(col, val.astype(np.float32), out=col)
    return out
