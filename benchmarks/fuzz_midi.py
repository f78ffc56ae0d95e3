"""The full MIDI fuzz count through every available target, written as a results table.

    SYMPHONIA_DATA=../shared/data nice .venv/bin/python benchmarks/fuzz_midi.py --n 10000 \
        --out benchmarks/results/fuzz_midi.md --save /tmp/fuzz-findings

Exit status 1 when any input produced a finding (an exception other than MidiError, a hang over `--timeout`
seconds, a dead worker, or peak RSS over `--max-rss-mb`); the offending inputs are written to `--save`.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections import Counter
from pathlib import Path

from symcore.fuzz import ALLOWED, available, make_case, run_fuzz, seed_corpus

TARGETS = ["symcore.fuzz:load_target", "symtok.fuzz:cp_target", "symtok.fuzz:aria_target", "symtok.fuzz:cache_target"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--max-rss-mb", type=int, default=1024)
    ap.add_argument("--data-root", default=os.environ.get("SYMPHONIA_DATA"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--save", default=None)
    args = ap.parse_args()

    seeds = seed_corpus(args.data_root) if args.data_root and Path(args.data_root).is_dir() else []
    targets, missing = available(TARGETS)
    cases = ((i, *make_case(i, seeds, args.seed)) for i in range(args.n))
    report = run_fuzz(cases, targets, workers=args.workers, timeout=args.timeout, max_rss_mb=args.max_rss_mb,
                      save_dir=args.save)
    print(report.summary())

    names = [k for k in ALLOWED] + sorted({o.kind for o in report.bad})
    counts = report.counts()
    ops = Counter(o.name.split("+")[0] for o in report.outcomes if o.target == targets[0])
    lines = [
        f"# MIDI fuzzing: {report.cases:,} inputs × {len(targets)} targets",
        "",
        "Command: `SYMPHONIA_DATA=../shared/data nice .venv/bin/python benchmarks/fuzz_midi.py "
        f"--n {args.n} --out benchmarks/results/fuzz_midi.md` (also `make fuzz-report`)",
        "",
        f"{len(seeds)} small real seed files (2 per dataset folder of the shared data, ≤ 60 kB), seed {args.seed}; "
        f"{args.workers} guarded workers, {args.timeout:.0f} s per input and target, peak-RSS limit "
        f"{args.max_rss_mb} MB; {report.seconds:.0f} s wall on {os.cpu_count()} shared CPUs "
        f"(Python {platform.python_version()}).",
        "",
        "Allowed outcomes: `ok` (result checked: sorted, in-range notes / ids in the vocabulary / cache equals the "
        "encoder), `midi_error` (MidiError naming the file), `empty` (EmptyMidiError). Everything else is a finding.",
        "",
        "| target | " + " | ".join(names) + " | mean ms | max s |",
        "|---|" + "---:|" * (len(names) + 2),
    ]
    for t in targets:
        sec = [o.seconds for o in report.outcomes if o.target == t]
        cells = [f"{counts.get((t, k), 0):,}" for k in names]
        lines.append(f"| `{t}` | " + " | ".join(cells) + f" | {1000 * sum(sec) / max(len(sec), 1):.1f} | "
                     f"{max(sec, default=0):.2f} |")
    lines += ["", "Inputs by first mutation: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))]
    lines += [f"\nSkipped target `{spec}`: {why}" for spec, why in missing.items()]
    if report.bad:
        lines += ["", f"## Findings ({len(report.bad)})", ""]
        lines += [f"- case {o.case} ({o.name}) `{o.target}`: **{o.kind}** {o.detail}" for o in report.bad[:40]]
    else:
        lines += ["", "No findings."]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    return 1 if report.bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
