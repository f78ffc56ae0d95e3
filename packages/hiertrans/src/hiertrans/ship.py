"""``python -m hiertrans.ship EXPORT.safetensors``: pick roll thresholds on *training* pieces and write the shipped
checkpoint (the thresholds travel in its metadata, so `transcribe` uses them by default).

Tuning on training pieces (TimGM6mb renders) keeps the held-out pieces and the unseen soundfont clean for the
benchmarks.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict

import numpy as np
import torch

from hiertrans.data import render_many
from hiertrans.metrics import note_scores
from hiertrans.postprocess import RollThresholds
from hiertrans.sources import source_files
from hiertrans.transcribe import transcribe_array
from hiertrans.weights import SHIPPED, load_model, save_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("export")
    ap.add_argument("-o", "--output", default=str(SHIPPED))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--grid", default="0.2,0.3,0.4,0.5,0.6,0.7,0.8")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2)))
    model = load_model(args.export)
    pieces, _ = render_many(source_files(["pop909", "asap", "cpm"], "train", 1), "TimGM6mb.sf2")
    data = []
    for p in pieces:
        audio = np.asarray(p.audio()[: int(args.seconds * 16000)], np.float32) / 32767
        ref = p.notes()
        keep = ref["onset"] < args.seconds
        data.append((audio, {k: v[keep] for k, v in ref.items()}))
    def score(cand: RollThresholds, key: str) -> float:
        return float(np.mean([note_scores(ref, transcribe_array(model, a, thresholds=cand))[key] for a, ref in data]))

    grid = [float(x) for x in args.grid.split(",")]
    # 1) onsets decide which notes exist: one shared threshold, best note F1
    f1, th = max((score(RollThresholds(onset=t, offset=t, frame=t), "note_f1"), t) for t in grid)
    print(f"onset threshold {th}: training-piece note F1 {f1:.3f}")
    # 2) offsets/frames decide where notes end: tuned apart on note+offset F1 (one shared value cuts them short)
    off_f1, end = max((score(RollThresholds(onset=th, offset=t, frame=t), "note_offset_f1"), t) for t in grid)
    print(f"offset/frame threshold {end}: training-piece note+offset F1 {off_f1:.3f}")
    best = (f1, RollThresholds(onset=th, offset=end, frame=end))
    extra = dict(model.extra, thresholds=asdict(best[1]), tuned_note_f1_train=round(best[0], 4),
                 tuned_note_offset_f1_train=round(off_f1, 4))
    save_model(model, model.cfg, args.output, extra)
    print(f"wrote {args.output} with {extra}")


if __name__ == "__main__":
    main()
