"""`smcbench` command line: list tasks with their example counts (more subcommands join as they land)."""

from __future__ import annotations

import argparse
import sys

from smcbench.store import load_task
from smcbench.tasks import TASKS


def cmd_tasks(args: argparse.Namespace) -> int:
    names = [n.strip().upper() for n in args.tasks.split(",")] if args.tasks else list(TASKS)
    header = f"{'task':6} {'level':5} {'classes':>7} {'metric':8} {'split':5} {'train':>12} {'valid':>12} {'test':>12} {'skipped':>7}  note"
    print(header)
    print("-" * len(header))
    for name in names:
        spec = TASKS[name]
        try:
            data = load_task(name, args.data_root, cache=not args.rebuild)
        except FileNotFoundError as exc:
            print(f"{name:6} {spec.level:5} {spec.n_classes:7} {spec.metric:8} {spec.protocol:5}  unavailable: {exc}")
            continue
        c = data.counts()
        unit = "notes" if spec.level == "note" else "pieces"

        def cell(split: str) -> str:
            return f"{c[f'{split}_pieces']}p/{c.get(f'{split}_notes', c[f'{split}_pieces'])}"

        print(f"{name:6} {spec.level:5} {spec.n_classes:7} {spec.metric:8} {spec.protocol:5} {cell('train'):>12} "
              f"{cell('valid'):>12} {cell('test'):>12} {c['skipped']:7}  {spec.note} ({unit}; fold 0 shown for cv5)")
        if args.verbose:
            for f, reason in data.skipped:
                print(f"    skipped {f}: {reason}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smcbench", description=__doc__)
    parser.add_argument("--data-root", default=None, help="dataset root (default: $SYMPHONIA_DATA)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tasks", help="list the tasks and their example counts")
    p.add_argument("--tasks", default="", help="comma-separated subset")
    p.add_argument("--rebuild", action="store_true", help="ignore cached task data")
    p.add_argument("-v", "--verbose", action="store_true", help="list skipped files with reasons")
    p.set_defaults(func=cmd_tasks)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
