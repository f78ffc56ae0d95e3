"""Small-scale reproduction of M2BERT's claim: pretraining objective vs downstream SMC scores.

Pretrains the tiny M2BERT encoder with (b) MLM, (c) RC(4,12,12) and (d) RC + pianoroll for the same number of
steps on the shared corpus (POP909 + ASAP + CPM + EMOPIA), keeps (a) a random init, then finetunes every
encoder with smcbench's quick profile on the obtainable tasks. Every step resumes: a finished pretraining
(encoder.safetensors present) or finished task run is not recomputed. Results (table, CSV, PNG, the exact
commands) land in --out.

    python benchmarks/smc_reproduction.py --steps 150 --seeds 2 --out benchmarks/results/smc_reproduction
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {  # name -> pretraining overrides on configs/m2bert/tiny.yaml
    "mlm": ["--model.objective", "mlm", "--model.pianoroll", "false"],
    "rc": ["--model.objective", "denoise", "--model.pianoroll", "false"],
    "rc+pianoroll": ["--model.objective", "denoise", "--model.pianoroll", "true"],
}


def sh(cmd: list[str], log: Path, commands: list[str]) -> None:
    commands.append(shlex.join(cmd))
    print("$", shlex.join(cmd), flush=True)
    with log.open("a") as fh:
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=150, help="pretraining steps per objective (same budget for all)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--tasks", default="ME,VE,ER,VF,MNID,BP,DbP,CR,LK,OTC")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--data", default="shared")
    ap.add_argument("--runs", default="runs/smc_reproduction", help="pretraining checkpoints (not committed)")
    ap.add_argument("--out", default="benchmarks/results/smc_reproduction")
    args = ap.parse_args()
    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    log = runs / "log.txt"
    commands: list[str] = [shlex.join([sys.executable, *sys.argv])]
    py = sys.executable
    encoders = {"scratch": None}
    t0 = time.time()
    for name, overrides in VARIANTS.items():
        root = runs / name.replace("+", "_")
        enc = root / "encoder.safetensors"
        if not enc.is_file():
            sh([py, "-m", "m2bert.cli", "pretrain", "fit", "--config", "configs/m2bert/tiny.yaml", *overrides,
                "--data.data", args.data, "--trainer.max_steps", str(args.steps), "--trainer.max_epochs", "-1",
                "--trainer.default_root_dir", str(root), "--trainer.logger.init_args.save_dir", str(root),
                "--trainer.enable_progress_bar", "false"], log, commands)
            exported = sorted(root.rglob("encoder.safetensors"), key=lambda p: p.stat().st_mtime)
            if not exported:
                raise SystemExit(f"pretraining {name} wrote no encoder.safetensors under {root}")
            exported[-1].replace(enc)
        encoders[name] = enc
    pretrain_minutes = (time.time() - t0) / 60
    # task-major, seed-major: an interrupted run still leaves complete comparisons for the tasks it reached
    for seed in range(args.seeds):
        for task in args.tasks.split(","):
            for name, enc in encoders.items():
                cmd = [py, "-m", "smcbench.cli", "run", "--model", "scratch" if enc is None else "m2bert", "--name",
                       name, "--tasks", task, "--profile", args.profile, "--seeds", str(seed + 1), "--out", str(out),
                       "--no-progress"]
                if enc is not None:
                    cmd += ["--ckpt", str(enc)]
                sh(cmd, log, commands if seed == args.seeds - 1 else [])
    sh([py, "-m", "smcbench.cli", "report", str(out / "runs"), "--out", str(out),
        "--title", f"tiny M2BERT, {args.steps} pretraining steps, {args.profile} profile"], log, commands)
    (out / "COMMANDS.md").write_text(
        "# How these results were made\n\n```bash\n" + "\n".join(commands) + "\n```\n\n"
        f"Pretraining took {pretrain_minutes:.1f} min in this run; total {(time.time() - t0) / 60:.1f} min "
        "on the 2-core CPU machine (shared with other jobs).\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
