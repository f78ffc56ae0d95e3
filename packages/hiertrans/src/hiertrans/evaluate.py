"""Evaluate transcriptions against reference MIDI: per-file CSV, summary table, pianoroll comparison PNG."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
from symcore.atomic import atomic_path

from hiertrans.data import Piece, midi_notes
from hiertrans.metrics import all_scores, notes_to_frames
from hiertrans.transcribe import transcribe_array

SUMMARY_KEYS = ("note_f1", "note_offset_f1", "note_offset_velocity_f1", "frame_f1")


def evaluate_pieces(model, pieces: list[Piece], decoder: str = "roll", progress: bool = False) -> list[dict]:
    """Transcribe each cached piece and score it; rows carry name, seconds, wall time and every metric."""
    rows = []
    for piece in pieces:
        audio = np.asarray(piece.audio(), dtype=np.float32) / 32767.0
        t0 = time.perf_counter()
        est = transcribe_array(model, audio, decoder=decoder, progress=progress, name=piece.name)
        wall = time.perf_counter() - t0
        rows.append({"name": piece.name, "seconds": len(audio) / 16000, "wall": wall, "decoder": decoder,
                     **all_scores(piece.notes(), est)})
    return rows


def evaluate_files(pairs: list[tuple[Path, Path]], model, decoder: str = "roll") -> tuple[list[dict], list]:
    """(audio, reference MIDI) pairs; unreadable ones are skipped and returned with the reason."""
    from hiertrans.audio import load_audio

    rows, failed = [], []
    for audio_path, midi_path in pairs:
        try:
            audio = load_audio(audio_path)
            t0 = time.perf_counter()
            est = transcribe_array(model, audio, decoder=decoder, name=str(audio_path))
            wall = time.perf_counter() - t0
            rows.append({"name": Path(audio_path).stem, "seconds": len(audio) / 16000, "wall": wall,
                         "decoder": decoder, **all_scores(midi_notes(midi_path), est)})
        except (ValueError, OSError) as err:
            failed.append((audio_path, str(err)))
    return rows, failed


def summary(rows: list[dict]) -> dict[str, float]:
    """Means over files (each file weighs the same, as in MAESTRO reporting)."""
    if not rows:
        return {}
    out = {k: float(np.mean([r[k] for r in rows])) for k in SUMMARY_KEYS}
    out["wall_per_audio_second"] = sum(r["wall"] for r in rows) / max(sum(r["seconds"] for r in rows), 1e-9)
    if all("notes" in r for r in rows):  # LM decoding costs per emitted note: compare decoders at equal output
        out["notes"] = sum(r["notes"] for r in rows)
        out["ms_per_note"] = 1000 * sum(r["wall"] for r in rows) / max(out["notes"], 1)
    out["files"] = len(rows)
    return out


def write_csv(rows: list[dict], path: str | Path) -> None:
    if not rows:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def format_table(summaries: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per system."""
    cols = [*SUMMARY_KEYS, "wall_per_audio_second"]
    cols += [c for c in ("notes", "ms_per_note") if any(c in s for s in summaries.values())] + ["files"]
    lines = ["| system | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, s in summaries.items():
        lines.append(f"| {name} | " + " | ".join(f"{s.get(c, float('nan')):.3f}" if c not in ("files", "notes")
                                                   else str(s.get(c, 0)) for c in cols) + " |")
    return "\n".join(lines)


def pianoroll_png(ref: dict, est: dict, path: str | Path, seconds: float | None = 30.0, fps: float = 50.0) -> Path:
    """Reference (green), estimate (magenta), both (white) over the first ``seconds``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = max([1.0, *np.asarray(ref["offset"]).tolist(), *np.asarray(est["offset"]).tolist()])
    end = min(end, seconds) if seconds else end
    n = int(np.ceil(end * fps))
    r, e = notes_to_frames(ref, fps, n)[:, 21:109], notes_to_frames(est, fps, n)[:, 21:109]
    img = np.zeros((88, n, 3))
    img[..., 1] = r.T
    img[..., 0] = e.T
    img[..., 2] = e.T
    img[r.T & e.T] = 1.0
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.imshow(img, origin="lower", aspect="auto", extent=(0, n / fps, 20.5, 108.5), interpolation="nearest")
    ax.set_xlabel("seconds")
    ax.set_ylabel("MIDI pitch")
    ax.set_title("reference (green) / estimate (magenta) / both (white)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
