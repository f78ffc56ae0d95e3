"""Roll decoding: per-key onset peaks refined below a frame (Kong's regression idea), offsets from the offset
regression or the frame activation, velocity read at the onset. This is the baseline the LM decoder must beat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_PITCH = 21


@dataclass
class RollThresholds:
    """Decision thresholds on sigmoid outputs."""

    onset: float = 0.3
    """Onset regression peak height that counts as a note."""
    offset: float = 0.3
    """Offset regression peak height that ends a note (above 1: offset peaks unused, the frame roll alone ends it)."""
    frame: float = 0.3
    """Frame activation below which a sounding note ends."""
    min_frames: int = 1
    """Shortest note, in frames."""
    harmonic: float = 0.0
    """Onset threshold for a note 12, 19 or 24 semitones above a note starting within ±30 ms (its 2nd, 3rd or 4th
    harmonic); at or below ``onset`` it changes nothing. On an unseen piano half the false notes sit on such
    harmonics, and they have weaker onset peaks than real octaves (see ``drop_harmonics``)."""
    filter: float = 0.0
    """Keep-probability a candidate onset needs from the checkpoint's note filter; 0 means no filter (then
    ``onset`` and ``harmonic`` decide). With a filter, ``candidate`` replaces both as the peak height to consider."""
    candidate: float = 0.4
    """With a note filter: onset peaks at least this high are candidates for it."""


HARMONICS = (12, 19, 24)
"""Semitones from a fundamental to its 2nd, 3rd and 4th harmonic."""


def drop_harmonics(t: np.ndarray, k: np.ndarray, onset: np.ndarray, threshold: float,
                   window: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Onset peaks (frame ``t``, key ``k``) minus those below ``threshold`` that lie on a harmonic of another peak
    within ±``window`` frames.

    A real octave doubling has an onset peak as strong as its lower note; the model's harmonic confusions do not
    (session 7, run-5 weights, 9 unseen pieces: a 0.9 bar on harmonic positions removed 120 of 488 false notes at a
    cost of 28 of 1590 true ones with a training soundfont, and 226 of 831 for 48 of 1337 with the unseen one).
    Works on the peak coordinates, so an hour-long roll costs no extra (T, 88) arrays.
    """
    if threshold <= 0 or len(t) == 0:
        return t, k
    n_keys = onset.shape[1]
    codes = t * n_keys + k
    weak = np.nonzero(onset[t, k] < threshold)[0]
    tw, kw = t[weak], k[weak]
    on_harmonic = np.zeros(len(weak), bool)
    for d in HARMONICS:
        below = kw - d
        for s in range(-window, window + 1):
            on_harmonic |= (below >= 0) & np.isin((tw + s) * n_keys + below, codes)
    keep = np.ones(len(t), bool)
    keep[weak[on_harmonic]] = False
    return t[keep], k[keep]


def _peaks(x: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean (T, K): local maxima (>= left, > right) above threshold."""
    peak = x >= threshold
    peak[1:] &= x[1:] >= x[:-1]  # in place: no shifted copies of an hour-long roll
    peak[:-1] &= x[:-1] > x[1:]
    return peak


def _refine(x: np.ndarray, t: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Sub-frame peak position by a parabola through the peak and its neighbours (within ±0.5 frame)."""
    a = x[np.maximum(t - 1, 0), k].astype(np.float64)
    b = x[t, k].astype(np.float64)
    c = x[np.minimum(t + 1, len(x) - 1), k].astype(np.float64)
    den = a - 2 * b + c
    shift = np.where(np.abs(den) > 1e-6, 0.5 * (a - c) / np.where(np.abs(den) > 1e-6, den, 1.0), 0.0)
    return t + np.clip(shift, -0.5, 0.5)


def onset_peaks(onset: np.ndarray, frame: np.ndarray, velocity: np.ndarray | None, th: RollThresholds,
                note_filter=None) -> tuple[np.ndarray, np.ndarray]:
    """(frames, keys) of the onsets that become notes: thresholded peaks, or the note filter's choice among
    candidate peaks when there is a filter and ``th.filter`` > 0."""
    if note_filter is not None and th.filter > 0:
        t, k = np.nonzero(_peaks(onset, th.candidate))
        vel = velocity if velocity is not None else np.full_like(onset, 0.5)
        keep = note_filter.keep(onset, frame, vel, t, k, th.filter)
        return t[keep], k[keep]
    return drop_harmonics(*np.nonzero(_peaks(onset, th.onset)), onset, th.harmonic)


def rolls_to_notes(onset: np.ndarray, offset: np.ndarray, frame: np.ndarray, velocity: np.ndarray, fps: float,
                   th: RollThresholds | None = None, note_filter=None) -> dict[str, np.ndarray]:
    """Probabilities (T, 88) -> notes {onset, offset (seconds), pitch (MIDI), velocity (1..127)}, sorted by onset.

    ``note_filter`` (a fitted ``hiertrans.notefilter.NoteFilter``) picks the onsets when ``th.filter`` > 0."""
    th = th or RollThresholds()
    onset, offset, frame = (np.asarray(a) for a in (onset, offset, frame))  # float16 is fine: no copies
    n_frames = len(onset)
    on_t, on_k = onset_peaks(onset, frame, velocity, th, note_filter)
    off_peak = _peaks(offset, th.offset)
    rows = []
    for k in np.unique(on_k):
        starts = np.sort(on_t[on_k == k])
        ends_at = np.append(starts[1:], n_frames)
        fine_on = _refine(onset, starts, np.full(len(starts), k))
        for s, nxt, fs in zip(starts, ends_at, fine_on):
            lo = s + th.min_frames
            seg_off = off_peak[lo:nxt, k]
            seg_fr = frame[lo:nxt, k] < th.frame
            cands = []
            if seg_off.any():
                e = lo + int(np.argmax(seg_off))
                cands.append(float(_refine(offset, np.array([e]), np.array([k]))[0]))
            if seg_fr.any():
                cands.append(float(lo + int(np.argmax(seg_fr))))
            end = min(cands) if cands else float(nxt)
            end = max(end, fs + th.min_frames)
            v = float(velocity[s, k]) if velocity is not None else 0.5
            rows.append((fs / fps, end / fps, k + MIN_PITCH, int(np.clip(round(v * 128), 1, 127))))
    if not rows:
        return {"onset": np.zeros(0), "offset": np.zeros(0), "pitch": np.zeros(0, np.int64),
                "velocity": np.zeros(0, np.int64)}
    rows.sort()
    on, off, p, v = (np.array(c) for c in zip(*rows))
    return {"onset": np.maximum(on, 0.0), "offset": off, "pitch": p.astype(np.int64), "velocity": v.astype(np.int64)}
