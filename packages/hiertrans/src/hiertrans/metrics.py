"""Transcription scores with mir_eval — pitches converted to Hz (the paper's scripts passed MIDI numbers)."""

from __future__ import annotations

import numpy as np


def midi_to_hz(pitch) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def _intervals(notes) -> np.ndarray:
    if len(notes["onset"]) == 0:
        return np.zeros((0, 2))
    on = np.asarray(notes["onset"], dtype=np.float64)
    off = np.maximum(np.asarray(notes["offset"], dtype=np.float64), on + 1e-3)  # mir_eval needs positive durations
    return np.stack([on, off], 1)


def note_scores(ref: dict, est: dict, onset_tolerance: float = 0.05) -> dict[str, float]:
    """Note F1 (onset), note+offset F1 (offset ratio 0.2, min 50 ms), note+offset+velocity F1; P/R for each."""
    import mir_eval

    ri, ei = _intervals(ref), _intervals(est)
    rp, ep = midi_to_hz(ref["pitch"]), midi_to_hz(est["pitch"])
    out = {}
    if len(ri) == 0 or len(ei) == 0:
        for k in ("note", "note_offset", "note_offset_velocity"):
            out.update({f"{k}_p": 0.0, f"{k}_r": 0.0, f"{k}_f1": 0.0})
        return out
    for key, ratio in (("note", None), ("note_offset", 0.2)):
        p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ri, rp, ei, ep, onset_tolerance=onset_tolerance, offset_ratio=ratio)
        out.update({f"{key}_p": p, f"{key}_r": r, f"{key}_f1": f})
    p, r, f, _ = mir_eval.transcription_velocity.precision_recall_f1_overlap(
        ri, rp, np.asarray(ref["velocity"], float), ei, ep, np.asarray(est["velocity"], float),
        onset_tolerance=onset_tolerance, offset_ratio=0.2)
    out.update({"note_offset_velocity_p": p, "note_offset_velocity_r": r, "note_offset_velocity_f1": f})
    return out


def notes_to_frames(notes: dict, fps: float, n_frames: int) -> np.ndarray:
    """(n_frames, 128) bool activity roll."""
    roll = np.zeros((n_frames, 128), bool)
    for on, off, p in zip(notes["onset"], notes["offset"], notes["pitch"]):
        a, b = int(round(on * fps)), max(int(round(off * fps)), int(round(on * fps)) + 1)
        roll[max(a, 0):min(b, n_frames), int(p)] = True
    return roll


def frame_scores(ref: dict, est: dict, fps: float = 100.0) -> dict[str, float]:
    """Frame-level P/R/F1 over 10 ms frames (the usual MAESTRO frame metric, counted directly)."""
    end = max([0.0, *np.asarray(ref["offset"]).tolist(), *np.asarray(est["offset"]).tolist()])
    n = int(np.ceil(end * fps)) + 1
    r, e = notes_to_frames(ref, fps, n), notes_to_frames(est, fps, n)
    tp = float((r & e).sum())
    p = tp / max(float(e.sum()), 1.0)
    rc = tp / max(float(r.sum()), 1.0)
    f = 2 * p * rc / (p + rc) if p + rc > 0 else 0.0
    return {"frame_p": p, "frame_r": rc, "frame_f1": f}


def all_scores(ref: dict, est: dict) -> dict[str, float]:
    return {**note_scores(ref, est), **frame_scores(ref, est)}
