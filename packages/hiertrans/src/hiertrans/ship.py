"""``python -m hiertrans.ship EXPORT.safetensors``: pick roll thresholds on *training* pieces and write the shipped
checkpoint (the thresholds travel in its metadata, so `transcribe` uses them by default).

Tuning on training pieces (TimGM6mb renders) keeps the held-out pieces and the unseen soundfont clean for the
benchmarks.
"""

from __future__ import annotations

import argparse
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
    torch.set_num_threads(2)
    model = load_model(args.export)
    pieces, _ = render_many(source_files(["pop909", "asap", "cpm"], "train", 1), "TimGM6mb.sf2")
    data = []
    for p in pieces:
        audio = np.asarray(p.audio()[: int(args.seconds * 16000)], np.float32) / 32767
        ref = p.notes()
        keep = ref["onset"] < args.seconds
        data.append((audio, {k: v[keep] for k, v in ref.items()}))
    best = (-1.0, None)
    for th in (float(x) for x in args.grid.split(",")):
        cand = RollThresholds(onset=th, offset=th, frame=th)
        f1 = float(np.mean([note_scores(ref, transcribe_array(model, a, thresholds=cand))["note_f1"]
                            for a, ref in data]))
        print(f"threshold {th}: training-piece note F1 {f1:.3f}")
        if f1 > best[0]:
            best = (f1, cand)
    extra = dict(model.extra, thresholds=asdict(best[1]), tuned_note_f1_train=round(best[0], 4))
    save_model(model, model.cfg, args.output, extra)
    print(f"wrote {args.output} with {extra}")


if __name__ == "__main__":
    main()
