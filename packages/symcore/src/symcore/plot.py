"""Pianoroll pictures for demos and reports (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symcore.notes import NoteArray


def save_pianoroll_png(notes: NoteArray, path: str | Path, title: str | None = None, *, dpi: int = 110) -> Path:
    """Draw notes as bars (time in seconds x MIDI pitch), coloured by track, alpha by velocity; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    end = float(notes.offset_sec.max()) if len(notes) else 1.0
    fig, ax = plt.subplots(figsize=(min(4 + end / 4, 16), 4.5))
    cmap = plt.get_cmap("tab10")
    rects = [Rectangle((s, p - 0.4), max(d, 1e-3), 0.8) for s, d, p in zip(notes.onset_sec, notes.duration_sec, notes.pitch)]
    colours = [(*cmap(int(t) % 10)[:3], 0.35 + 0.65 * v / 127) for t, v in zip(notes.track, notes.velocity)]
    ax.add_collection(PatchCollection(rects, facecolors=colours, edgecolors="none"))
    lo, hi = (int(notes.pitch.min()), int(notes.pitch.max())) if len(notes) else (48, 72)
    ax.set(xlim=(0, end), ylim=(lo - 2, hi + 2), xlabel="time (s)", ylabel="MIDI pitch")
    ax.set_title(title or (Path(notes.path).name if notes.path else f"{len(notes)} notes"))
    used = [tr for tr in range(len(notes.track_names)) if np.any(notes.track == tr)]
    for tr in used:
        ax.plot([], [], color=cmap(tr % 10), lw=6, label=notes.track_names[tr] or f"track {tr}")
    if len(used) > 1:
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
