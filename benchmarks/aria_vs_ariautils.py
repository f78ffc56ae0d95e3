"""symtok's AbsTokenizer vs EleutherAI aria-utils' AbsTokenizer: identical ids on every file, and speed.

aria-utils is not on PyPI: pass a local checkout with --ariautils (e.g. `git archive` of the fetched repo into
/tmp); it is put on sys.path for this run only (it needs `mido`, in symtok's dev extra). Both sides tokenize
from the file path: upstream `AbsTokenizer().tokenize(MidiDict.from_midi(path), add_dim_tok=False)` then
`encode`, ours `AbsTokenizer().encode_file(path)`. Instrument prefix tokens are shuffled by upstream, so with
several instruments the prefix is compared as a multiset (and counted separately).

    python benchmarks/aria_vs_ariautils.py --ariautils /tmp/aria_ref --sets pop909:100,asap:100
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _data_root(arg: str | None) -> Path:
    for cand in (arg, os.environ.get("SYMPHONIA_DATA"), str(ROOT.parent / "shared" / "data")):
        if cand and Path(cand).is_dir():
            return Path(cand)
    sys.exit("no dataset root: pass --data-root or set SYMPHONIA_DATA")


def _files(root: Path, spec: str) -> list[Path]:
    """`set:n` entries; files are spread evenly over each sorted set so every composer/song range appears."""
    globs = {
        "pop909": "pop909/POP909/*/[0-9][0-9][0-9].mid",
        "asap": "asap/**/*.mid",
        "cpm": "cpm/midis/**/*.mid",
        "emopia": "emopia/midis/*.mid",
    }
    out = []
    for item in spec.split(","):
        name, n = item.split(":")
        found = sorted(p for p in root.glob(globs[name]) if not (name == "asap" and p.name == "midi_score.mid"))
        if not found:
            print(f"skip {name}: no files under {root}")
            continue
        idx = np.unique(np.linspace(0, len(found) - 1, min(int(n), len(found))).astype(int))
        out += [found[i] for i in idx]
    return out


def _load_ariautils(path: str | None, commit: str | None):
    if not path or not (Path(path) / "ariautils" / "tokenizer" / "absolute.py").is_file():
        sys.exit("aria-utils checkout not found: pass --ariautils PATH (a checkout of EleutherAI/aria-utils); skipping")
    try:
        import mido  # noqa: F401
    except ImportError:
        sys.exit("aria-utils needs mido: pip install mido (symtok's dev extra); skipping")
    sys.path.insert(0, str(Path(path).resolve()))
    from ariautils.midi import MidiDict
    from ariautils.tokenizer import AbsTokenizer

    if not commit:
        git = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True)
        commit = git.stdout.strip() if git.returncode == 0 else "unknown (not a git checkout)"
    return MidiDict, AbsTokenizer, commit


def _compare(ours: np.ndarray, ref: list[int], n_prefix: int) -> str:
    if ours.tolist() == ref:
        return "identical"
    if len(ours) == len(ref) and sorted(ours[:n_prefix].tolist()) == sorted(ref[:n_prefix]) and \
            ours[n_prefix:].tolist() == ref[n_prefix:]:
        return "identical up to prefix order"
    if len(ours) != len(ref):
        return f"different length ({len(ours)} vs {len(ref)})"
    first = int(np.flatnonzero(np.asarray(ref) != ours)[0])
    return f"differs at token {first}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ariautils", help="path to an aria-utils checkout")
    ap.add_argument("--ariautils-commit", help="commit of that checkout, when it is not a git work tree")
    ap.add_argument("--data-root")
    ap.add_argument("--sets", default="pop909:100,asap:100", help="comma list of set:count (pop909, asap, cpm, emopia)")
    ap.add_argument("--name", default="aria_vs_ariautils", help="results file stem under benchmarks/results")
    args = ap.parse_args()

    MidiDict, RefTokenizer, commit = _load_ariautils(args.ariautils, args.ariautils_commit)
    from symcore.errors import MidiError
    from symtok.aria import AbsTokenizer

    root = _data_root(args.data_root)
    files = _files(root, args.sets)
    ours, ref = AbsTokenizer(), RefTokenizer()
    t0 = time.perf_counter()
    ours.encode_file(files[0])  # numba kernels: compile or load from cache, reported separately
    warmup = time.perf_counter() - t0

    rows = []
    for path in files:
        rel = str(path.relative_to(root))
        t0 = time.perf_counter()
        try:
            ref_ids = ref.encode(ref.tokenize(MidiDict.from_midi(path), add_dim_tok=False))
            ref_err = ""
        except Exception as exc:  # upstream raises bare Exceptions for empty files
            ref_ids, ref_err = None, f"{type(exc).__name__}: {exc}"
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            our_ids = ours.encode_file(path)
            our_err = ""
        except MidiError as exc:
            our_ids, our_err = None, str(exc)
        t_ours = time.perf_counter() - t0
        if ref_ids is None or our_ids is None:
            status = "both rejected" if ref_ids is None and our_ids is None else f"rejected: ours={our_err!r} ref={ref_err!r}"
            n_notes = 0
        else:
            n_prefix = int(np.flatnonzero(our_ids == 0)[0])
            status = _compare(our_ids, ref_ids, n_prefix)
            n_notes = int(((our_ids >= 39) & (our_ids < 16726)).sum())
        rows.append(dict(file=rel, notes=n_notes, tokens=0 if our_ids is None else len(our_ids),
                         ariautils_ms=round(t_ref * 1e3, 2), ours_ms=round(t_ours * 1e3, 2), result=status))

    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / f"{args.name}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    t_ref = sum(r["ariautils_ms"] for r in rows) / 1e3
    t_our = sum(r["ours_ms"] for r in rows) / 1e3
    notes = sum(r["notes"] for r in rows)
    counts: dict[str, int] = {}
    for r in rows:
        key = r["result"] if r["result"].startswith(("identical", "both")) else "different"
        counts[key] = counts.get(key, 0) + 1
    cmd = "python benchmarks/aria_vs_ariautils.py " + " ".join(sys.argv[1:])
    lines = [
        "# Aria AbsTokenizer: symtok vs aria-utils",
        "",
        f"Command: `{cmd}`  ",
        f"aria-utils commit {commit}; {len(rows)} files ({args.sets}); one process, 2 shared CPU cores, nice.",
        "",
        "| | aria-utils | symtok | ratio |",
        "|---|---:|---:|---:|",
        f"| total time (s) | {t_ref:.2f} | {t_our:.2f} | {t_ref / t_our:.1f}× |",
        f"| files/s | {len(rows) / t_ref:.1f} | {len(rows) / t_our:.1f} | {t_ref / t_our:.1f}× |",
        f"| notes/s | {notes / t_ref:,.0f} | {notes / t_our:,.0f} | {t_ref / t_our:.1f}× |",
        "",
        f"symtok's one-off numba load/compile before timing: {warmup:.2f} s.",
        "",
        "| result | files |",
        "|---|---:|",
        *[f"| {k} | {v} |" for k, v in sorted(counts.items())],
    ]
    diffs = [r for r in rows if not r["result"].startswith(("identical", "both"))]
    if diffs:
        lines += ["", "Files that differ:", ""] + [f"- {r['file']}: {r['result']}" for r in diffs]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
