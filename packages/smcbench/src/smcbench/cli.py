"""`smcbench`: list tasks, finetune-and-test encoders on them, merge reports, run MIR linear probes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smcbench.store import load_task
from smcbench.tasks import ALL_TASKS, TASKS


def _task_list(value: str) -> list[str]:
    """Task keys from a comma list (any case); empty = the 12 SMC tasks. SATB and MODE are the embedded ones."""
    names = [n.strip().upper() for n in value.split(",") if n.strip()] if value else [k.upper() for k in TASKS]
    unknown = [n for n in names if n not in {k.upper() for k in ALL_TASKS}]
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}; known: {', '.join(ALL_TASKS)}")
    return [next(k for k in ALL_TASKS if k.upper() == n) for n in names]


def cmd_tasks(args) -> int:
    print(f"{'task':5} {'level':5} {'cls':>4} {'metric':6} {'split':5} {'train':>14} {'valid':>14} {'test':>14} {'skip':>4}  note")
    for name in _task_list(args.tasks):
        spec = ALL_TASKS[name]
        try:
            data = load_task(name, args.data_root, cache=not args.rebuild)
        except FileNotFoundError as exc:
            print(f"{name:5} {spec.level:5} {spec.n_classes:4} {spec.metric:6} {spec.protocol:5}  unavailable: {exc}")
            continue
        c = data.counts()
        cells = [f"{c[f'{s}_pieces']}p/{c.get(f'{s}_notes', c[f'{s}_pieces'])}" for s in ("train", "valid", "test")]
        print(f"{name:5} {spec.level:5} {spec.n_classes:4} {spec.metric:6} {spec.protocol:5} {cells[0]:>14} "
              f"{cells[1]:>14} {cells[2]:>14} {c['skipped']:4}  {spec.note}")
        for f, reason in data.skipped if args.verbose else []:
            print(f"      skipped {f}: {reason}")
    print("counts: pieces p / labelled notes (note-level) or pieces (sequence-level); cv5 tasks show fold 0")
    return 0


def cmd_run(args) -> int:
    from smcbench.encoders import encoder_factory
    from smcbench.report import collect, summarise, tables
    from smcbench.runner import folds_for, run_one

    make = encoder_factory(args.model, args.ckpt, args.config)
    name = args.name or args.model
    failed, done = [], 0
    for task in _task_list(args.tasks):
        for seed in range(args.seeds):
            for fold in folds_for(task, args.profile):
                try:
                    rec = run_one(task, make, name, profile=args.profile, seed=seed, fold=fold, out_dir=args.out,
                                  data_root=args.data_root, progress=not args.no_progress, limit=args.limit)
                    done += 1
                    print(f"[smcbench] {name} {task} seed {seed} fold {fold}: {rec['metric']} {rec['test']:.4f} "
                          f"(best valid {rec['best_val']:.4f} at epoch {rec['best_epoch']})")
                except (FileNotFoundError, ValueError) as exc:
                    failed.append((task, str(exc)))
                    print(f"[smcbench] {task}: skipped: {exc}")
    if (Path(args.out) / "runs").is_dir():  # absent when nothing has ever run into this folder
        print(tables(summarise(collect([Path(args.out) / "runs"])), Path(args.out)))
    if failed:
        print("skipped tasks:\n" + "\n".join(f"  {t}: {r}" for t, r in failed))
    return 1 if not done or (failed and args.strict) else 0


def cmd_report(args) -> int:
    from smcbench.report import collect, summarise, tables

    print(tables(summarise(collect([Path(p) for p in args.inputs])), Path(args.out), args.title))
    return 0


def cmd_probe(args) -> int:
    from symcore.paths import data_root

    from smcbench.encoders import encoder_factory, file_embedding
    from smcbench.probe import run_probes

    root = data_root(args.data_root)
    if root is None:
        raise SystemExit("probe: no data root; set $SYMPHONIA_DATA or pass --data-root")
    encoder = encoder_factory(args.model, args.ckpt, args.config)()
    names = [n.strip() for n in args.probes.split(",")] if args.probes else None
    try:
        results, failed = run_probes(lambda p: file_embedding(encoder, p, args.max_len), root, names,
                                     max_per_class=args.max_per_class, seed=args.seed)
    except ValueError as exc:  # an unknown probe name
        raise SystemExit(f"probe: {exc}") from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from smcbench.report import probe_table
    from smcbench.runner import _atomic_json

    _atomic_json({"results": results, "failed": failed}, out / f"probe_{args.name or args.model}.json")
    for n, r in results.items():
        print(f"{n:9} acc {r['acc']:.3f}  macro-F1 {r['macro_f1']:.3f}  (chance {r['chance']:.3f}, {r['n_files']} files, {r['folds']} folds)")
    for f, reason in failed:
        print(f"skipped {f}: {reason}")
    print(probe_table(out))
    return 1 if not results or (failed and args.strict) else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smcbench", description=__doc__)
    p.add_argument("--data-root", default=None, help="dataset root (default: $SYMPHONIA_DATA)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tasks", help="list the 12 tasks with example counts")
    t.add_argument("--tasks", default="")
    t.add_argument("--rebuild", action="store_true", help="ignore cached task data")
    t.add_argument("-v", "--verbose", action="store_true", help="list skipped files with reasons")
    t.set_defaults(func=cmd_tasks)

    def model_args(q):
        q.add_argument("--model", default="scratch", help="scratch | m2bert | midibert-mlm | any label for --ckpt")
        q.add_argument("--ckpt", default=None, help="encoder weights (.safetensors)")
        q.add_argument("--config", default="tiny", help="encoder preset when the checkpoint does not say")
        q.add_argument("--name", default=None, help="label of this model in result tables")
        q.add_argument("--out", default="outputs/smcbench")
        q.add_argument("--strict", action="store_true", help="exit non-zero when something was skipped")

    r = sub.add_parser("run", help="finetune and test on tasks")
    model_args(r)
    r.add_argument("--tasks", default="ME,VE,ER")
    r.add_argument("--profile", choices=["smoke", "demo", "quick", "full"], default="quick")
    r.add_argument("--seeds", type=int, default=1)
    r.add_argument("--limit", type=int, default=None, help="build tasks from at most this many files per split")
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="merge result files into one table")
    rep.add_argument("inputs", nargs="+", help="run JSON files or folders")
    rep.add_argument("--out", default="outputs/smcbench/report")
    rep.add_argument("--title", default="SMC benchmark")
    rep.set_defaults(func=cmd_report)

    pr = sub.add_parser("probe", help="frozen embeddings -> linear probes (composer, period, emotion, genre)")
    model_args(pr)
    pr.add_argument("--probes", default="", help="subset of composer,period,emotion,genre")
    pr.add_argument("--max-per-class", type=int, default=None)
    pr.add_argument("--max-len", type=int, default=512)
    pr.add_argument("--seed", type=int, default=0)
    pr.set_defaults(func=cmd_probe)

    from smcbench.datasets import add_data_parser
    add_data_parser(sub)

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
