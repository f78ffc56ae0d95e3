"""`python -m smcbench.demo`: finetune encoders on the two embedded-corpus tasks and print the results table.

Compares a randomly initialised tiny M2BERT with the tiny encoder the m2bert demo pretrained (when its
export exists), using the quick profile. Runs offline in a few minutes on a CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smcbench.encoders import encoder_factory
from smcbench.report import collect, summarise, tables
from smcbench.runner import run_one

PRETRAINED = Path("outputs/demo/m2bert/encoder.safetensors")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smcbench.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", default=str(PRETRAINED), help="pretrained encoder to compare with random init")
    ap.add_argument("--out", default="outputs/demo/smcbench")
    ap.add_argument("--profile", default="demo")
    args = ap.parse_args(argv)
    models = {"scratch": encoder_factory("scratch", config="tiny")}
    if Path(args.ckpt).is_file():
        models["m2bert-demo"] = encoder_factory("m2bert", args.ckpt)
    else:
        print(f"(no pretrained encoder at {args.ckpt}: comparing random init only; run `python -m m2bert.demo` first)")
    for task in ("SATB", "MODE"):
        for name, make in models.items():
            rec = run_one(task, make, name, profile=args.profile, out_dir=args.out, progress=False)
            print(f"{name:12} {task:5} {rec['metric']} {rec['test']:.3f} (best valid {rec['best_val']:.3f}, "
                  f"{rec['seconds']:.0f} s)")
    print(tables(summarise(collect([Path(args.out) / "runs"])), Path(args.out), "embedded-corpus tasks"))
    print(f"table, CSV and chart in {args.out}/results.{{md,csv,png}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
