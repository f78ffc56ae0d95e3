"""Merge run records into one table (mean ± std over seeds of the fold-mean test score), CSV, Markdown, PNG."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from symcore.atomic import atomic_path, atomic_write

from smcbench.tasks import ALL_TASKS


def collect(paths: list[Path]) -> list[dict]:
    """Run records from JSON files or folders holding them (recursively)."""
    records = []
    for p in paths:
        files = sorted(Path(p).rglob("*.json")) if Path(p).is_dir() else [Path(p)]
        for f in files:
            rec = json.loads(f.read_text())
            if {"task", "model", "seed", "test"} <= rec.keys():
                records.append(rec)
    return records


def summarise(records: list[dict]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """model -> task -> (mean, std, n_seeds) of the per-seed mean over folds."""
    by = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in records:
        by[r["model"]][r["task"]][r["seed"]].append(r["test"])
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for model, tasks in by.items():
        out[model] = {}
        for task, seeds in tasks.items():
            per_seed = np.array([np.mean(v) for v in seeds.values()])
            out[model][task] = (float(per_seed.mean()), float(per_seed.std()), len(per_seed))
    return out


def tables(summary, out_dir: Path, title: str = "SMC benchmark") -> str:
    """Writes results.csv, results.md and results.png into out_dir; returns the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in ALL_TASKS if any(t in s for s in summary.values())]
    with atomic_path(out_dir / "results.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "task", "metric", "mean", "std", "n_seeds"])
        for model, res in summary.items():
            for t in tasks:
                if t in res:
                    w.writerow([model, t, ALL_TASKS[t].metric, *(f"{x:.4f}" for x in res[t][:2]), res[t][2]])
    lines = [f"# {title}", "", "| model | " + " | ".join(tasks) + " | mean |", "|---" * (len(tasks) + 2) + "|"]
    for model, res in summary.items():
        cells = [f"{res[t][0]:.3f} ± {res[t][1]:.3f}" if t in res else "—" for t in tasks]
        mean = np.mean([res[t][0] for t in tasks if t in res])
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {mean:.3f} |")
    lines += ["", "Metrics: " + ", ".join(f"{t} {ALL_TASKS[t].metric}" for t in tasks) + "; mean ± std over seeds."]
    md = "\n".join(lines) + "\n"
    atomic_write(out_dir / "results.md", md)
    _chart(summary, tasks, out_dir / "results.png", title)
    return md


def _chart(summary, tasks, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(summary)
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(tasks)), 3.5))
    x = np.arange(len(tasks))
    for i, m in enumerate(models):
        mean = [summary[m].get(t, (np.nan, 0, 0))[0] for t in tasks]
        std = [summary[m].get(t, (0, 0, 0))[1] for t in tasks]
        ax.bar(x + i * width, mean, width, yerr=std, label=m, capsize=2)
    ax.set_xticks(x + width * (len(models) - 1) / 2, tasks)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test score")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def probe_table(out_dir: Path) -> str:
    """Every `probe_<model>.json` in `out_dir` as one Markdown table (accuracy / macro-F1 per probe), also written
    to `probes.md` there, so runs of different encoders made at different times read as one comparison."""
    rows = {}
    for path in sorted(Path(out_dir).glob("probe_*.json")):
        rows[path.stem[len("probe_"):]] = json.loads(path.read_text())["results"]
    names = sorted({n for r in rows.values() for n in r})
    lines = ["| model | " + " | ".join(f"{n} acc / F1" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for model, res in rows.items():
        cells = [f"{res[n]['acc']:.3f} / {res[n]['macro_f1']:.3f}" if n in res else "—" for n in names]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if rows:
        first = next(iter(rows.values()))
        lines.append("| chance (majority) | " + " | ".join(
            f"{first[n]['chance']:.3f}" if n in first else "—" for n in names) + " |")
    md = "\n".join(lines) + "\n"
    atomic_write(Path(out_dir) / "probes.md", md)
    return md
