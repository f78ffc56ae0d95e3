"""Shipped (or given) hiertrans model on held-out rendered pieces: roll vs hierarchical vs flattened decoding.

Held-out = pieces whose name hashes into the test split (never trained on), rendered with FluidR3_GM (a soundfont
never used in training). Each piece is cut to its first --seconds to keep the CPU bill bounded.

    SYMPHONIA_DATA=../shared/data .venv/bin/python benchmarks/hiertrans_eval.py --seconds 60 --per-source 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from hiertrans.data import render_many
from hiertrans.evaluate import format_table, summary, write_csv
from hiertrans.metrics import all_scores
from hiertrans.sources import source_files
from hiertrans.transcribe import transcribe_array
from hiertrans.weights import load_model

RESULTS = Path(__file__).parent / "results"


def heldout_excerpts(per_source: int, seconds: float, soundfont: str = "FluidR3_GM.sf2"):
    """(name, audio, reference notes inside the excerpt) for held-out pieces of POP909, ASAP and CPM."""
    out = []
    for src in ("pop909", "asap", "cpm"):
        pieces, failed = render_many(source_files([src], "test", per_source), soundfont)
        for p in pieces:
            audio, ref = p.excerpt(seconds)
            out.append((f"{src}/{p.name}", audio, ref))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--per-source", type=int, default=2)
    ap.add_argument("--decoders", default="roll,hier,flat")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="hiertrans_eval", help="results file stem under benchmarks/results/")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.ckpt)
    data = heldout_excerpts(args.per_source, args.seconds)
    rows, tables = [], {}
    for decoder in args.decoders.split(","):
        if decoder != "roll" and not all(n in model.decoders for n in (("flat",) if decoder == "flat"
                                                                     else ("onset", "velocity", "offset"))):
            continue
        drows = []
        for name, audio, ref in data:
            t0 = time.perf_counter()
            est = transcribe_array(model, audio, decoder=decoder)
            wall = time.perf_counter() - t0
            drows.append({"name": name, "seconds": len(audio) / 16000, "wall": wall, "decoder": decoder,
                          "notes": len(est["pitch"]), **all_scores(ref, est)})
            print(f"{decoder} {name}: note F1 {drows[-1]['note_f1']:.3f} ({wall:.1f} s)", flush=True)
        rows += drows
        tables[f"{model.cfg.encoder.name}+{decoder}"] = summary(drows)
    RESULTS.mkdir(exist_ok=True)
    write_csv(rows, RESULTS / f"{args.out}.csv")
    table = format_table(tables)
    cmd = ("SYMPHONIA_DATA=../shared/data .venv/bin/python benchmarks/hiertrans_eval.py "
           f"--seconds {args.seconds:g} --per-source {args.per_source} --threads {args.threads}"
           + (f" --ckpt {args.ckpt}" if args.ckpt else "") + (f" --out {args.out}" if args.out != "hiertrans_eval" else ""))
    (RESULTS / f"{args.out}.md").write_text(
        f"# hiertrans: decoders on held-out rendered pieces (FluidR3_GM, unseen soundfont)\n\n"
        f"Command: `{cmd}`\n\nModel: {json.dumps(model.extra)}; {len(data)} excerpts of <= {args.seconds:g} s; "
        f"wall = transcription time per audio second on this shared 2-core CPU.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
