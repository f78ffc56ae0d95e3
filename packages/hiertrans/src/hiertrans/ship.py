"""``python -m hiertrans.ship EXPORT.safetensors``: pick roll thresholds on tuning pieces and write the shipped
checkpoint (the thresholds travel in its metadata, so `transcribe` uses them by default).

Tuning pieces are held-out pieces (never trained on) that no benchmark uses — numbers ``TUNE_FIRST`` onwards of each
source's held-out split (the first ones are the validation and benchmark pieces) — rendered with the *training*
soundfonts, so the benchmarks' pieces and their unseen soundfont stay clean. Unseen pieces matter: thresholds tuned
on training pieces come out too high, because the network is more confident on music it has fitted (session 6:
onset 0.8 on training pieces vs 0.75 on unseen ones, held-out note F1 0.468 vs 0.500).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict

import numpy as np
import torch

from hiertrans.data import render_many
from hiertrans.metrics import frame_scores, note_scores
from hiertrans.postprocess import RollThresholds, rolls_to_notes
from hiertrans.sources import source_files
from hiertrans.transcribe import prepare, roll_probabilities
from hiertrans.weights import SHIPPED, load_model, save_model

TUNE_FIRST = 3
"""Held-out pieces 0..TUNE_FIRST-1 of each source are the training-time validation and benchmark pieces."""
SOURCES = ("pop909", "asap", "cpm")
SOUNDFONTS = ("TimGM6mb.sf2", "MuseScore_General.sf3")
OFFSET_OFF = 1.1
"""An offset threshold above 1: offset peaks never end a note, the frame roll alone does."""


def tuning_set(model, per_source: int, seconds: float) -> list[tuple[dict, dict]]:
    """(probability rolls, reference notes) for the tuning excerpts; the network runs once per excerpt."""
    files = [f for src in SOURCES for f in source_files([src], "test", TUNE_FIRST + per_source)[TUNE_FIRST:]]
    data = []
    for j, f in enumerate(files):
        pieces, _ = render_many([f], SOUNDFONTS[j % len(SOUNDFONTS)])
        for p in pieces:
            audio, ref = p.excerpt(seconds)
            data.append((roll_probabilities(model, prepare(audio, p.name)), ref))
    if not data:
        raise RuntimeError("no tuning piece could be rendered (check $SYMPHONIA_DATA and fluidsynth)")
    return data


def mean_score(data, fps: float, th: RollThresholds, key: str) -> float:
    scores = []
    for r, ref in data:
        est = rolls_to_notes(r["reg_onset"], r["reg_offset"], r["frame"], r["velocity"], fps, th)
        scores.append((frame_scores if key.startswith("frame") else note_scores)(ref, est)[key])
    return float(np.mean(scores))


def tune(data, fps: float, onset_grid, offset_grid, frame_grid,
         harmonic_grid=(0.0,)) -> tuple[RollThresholds, dict[str, float]]:
    """Two stages: the onset and harmonic thresholds, searched jointly, decide which notes exist (note F1 ignores
    ends), then offset and frame thresholds, searched jointly, decide where they end (note+offset F1)."""
    f1, on, hm = max(((mean_score(data, fps, RollThresholds(t, OFFSET_OFF, 0.3, harmonic=h), "note_f1"), t, h)
                      for t in onset_grid for h in harmonic_grid), key=lambda c: (c[0], c[1], -c[2]))
    # ^ on a tie the harmonic suppression stays off (lowest value): it only runs when it pays
    cands = [RollThresholds(on, o, fr, harmonic=hm) for o in offset_grid for fr in frame_grid]
    off_f1, best = max(((mean_score(data, fps, c, "note_offset_f1"), i) for i, c in enumerate(cands)))
    th = cands[best]
    return th, {"note_f1": f1, "note_offset_f1": off_f1, "frame_f1": mean_score(data, fps, th, "frame_f1")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("export")
    ap.add_argument("-o", "--output", default=str(SHIPPED))
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--per-source", type=int, default=3, help="tuning pieces per source")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2)))
    model = load_model(args.export)
    data = tuning_set(model, args.per_source, args.seconds)
    th, scores = tune(data, model.fps, onset_grid=np.round(np.arange(0.4, 0.91, 0.05), 2).tolist(),
                      offset_grid=(0.5, 0.7, 0.9, OFFSET_OFF), frame_grid=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
                      harmonic_grid=(0.0, 0.8, 0.85, 0.9, 0.95))
    print(f"thresholds {th}: tuning-set note F1 {scores['note_f1']:.3f}, note+offset F1 "
          f"{scores['note_offset_f1']:.3f}, frame F1 {scores['frame_f1']:.3f} ({len(data)} excerpts)")
    extra = {k: v for k, v in model.extra.items() if not k.startswith("tuned_")}
    extra.update(thresholds=asdict(th), tuned_on=f"held-out pieces {TUNE_FIRST}..{TUNE_FIRST + args.per_source - 1} "
                 f"per source, first {args.seconds:g} s, training soundfonts",
                 **{f"tuned_{k}": round(v, 4) for k, v in scores.items()})
    save_model(model, model.cfg, args.output, extra)
    print(f"wrote {args.output} with {extra}")


if __name__ == "__main__":
    main()
