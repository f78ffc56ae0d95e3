"""symtok's CPTokenizer vs MidiTok 3.x CPWord: load + encode throughput on the same POP909 and ASAP files.

Both sides start from the file path and end with integer ids, in one process, one after the other, after a
warm-up pass: ours `CPTokenizer().encode_file(path)` (symusic parse + vectorised numpy), MidiTok's
`CPWord(config).encode(path)` (symusic parse + its per-note Python tokenization). MidiTok is configured as close
to MidiBERT as it allows: 16th grid (`beat_res={(0, 4): 4, (4, 8): 4}`, durations up to 2 whole notes), pitches
22..107, no velocities, tempos, time signatures, rests or programs. Speed is notes/s over all files
(note count = notes symusic reads from the file, the same numerator for every column), median of `--repeats`.

    nice python benchmarks/cp_vs_miditok.py --n 200 --repeats 3
"""

from __future__ import annotations

import argparse
import csv
import datetime
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def data_root(arg: str | None) -> Path:
    for cand in (arg, os.environ.get("SYMPHONIA_DATA"), str(ROOT.parent / "shared" / "data")):
        if cand and Path(cand).is_dir():
            return Path(cand)
    sys.exit("no dataset root: pass --data-root or set SYMPHONIA_DATA")


def miditok_cpword():
    from miditok import CPWord, TokenizerConfig

    config = TokenizerConfig(
        pitch_range=(22, 108), beat_res={(0, 4): 4, (4, 8): 4}, use_velocities=False, use_tempos=False,
        use_time_signatures=False, use_rests=False, use_programs=False, use_chords=False,
        use_sustain_pedals=False, use_pitch_bends=False, special_tokens=["PAD", "MASK"],
    )
    tok = CPWord(config)

    def encode(path):
        seqs = tok.encode(path)  # one TokSequence per track (use_programs=False)
        seqs = seqs if isinstance(seqs, list) else [seqs]
        return sum(len(s.ids) for s in seqs)

    return encode


def timed_pass(encode, files) -> tuple[float, int]:
    failed = 0
    t0 = time.perf_counter()
    for f in files:
        try:
            encode(f)
        except Exception:  # counted, not hidden: a failure makes that side look faster
            failed += 1
    return time.perf_counter() - t0, failed


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root")
    ap.add_argument("--n", type=int, default=200, help="first N sorted files of each of POP909 and ASAP")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "cp_vs_miditok"))
    args = ap.parse_args(argv)

    import symusic
    from symtok.cp import CPTokenizer

    root = data_root(args.data_root)
    sets = {"pop909": sorted((root / "pop909" / "POP909").glob("*/*.mid"))[: args.n],
            "asap": sorted((root / "asap").rglob("*.mid"))[: args.n]}
    sides = {"symtok CP": CPTokenizer().encode_file, "symtok CP compat": CPTokenizer(compat=True).encode_file,
             "miditok CPWord": miditok_cpword()}
    rows = []
    for name, files in sets.items():
        files = [str(f) for f in files]
        n_notes = sum(sum(len(t.notes) for t in symusic.Score(f).tracks) for f in files)
        for encode in sides.values():  # warm-up: numba caches, imports, file cache
            timed_pass(encode, files[:20])
        times = {s: [] for s in sides}
        failed = {}
        for _ in range(args.repeats):
            for side, encode in sides.items():  # interleaved so load drift hits every side alike
                t, failed[side] = timed_pass(encode, files)
                times[side].append(t)
        base = statistics.median(times["miditok CPWord"])
        for side in sides:
            med = statistics.median(times[side])
            rows.append({"set": name, "files": len(files), "notes": n_notes, "tokenizer": side,
                         "median_s": round(med, 3), "notes_per_s": round(n_notes / med),
                         "speedup_vs_miditok": round(base / med, 1), "failed_files": failed[side],
                         "runs_s": " ".join(f"{t:.3f}" for t in times[side])})
            print(f"{name:7s} {side:17s} {med:8.3f} s {n_notes / med:12,.0f} notes/s "
                  f"x{base / med:6.1f}  failed {failed[side]}", flush=True)
    write(rows, args, Path(args.out))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write(rows, args, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cmd = "nice python benchmarks/cp_vs_miditok.py " + " ".join(sys.argv[1:])
    ver = {p: importlib.metadata.version(p) for p in ("miditok", "symusic", "numpy")}
    lines = [
        "# CP tokenizer: symtok vs MidiTok CPWord (load + encode)", "",
        f"Command: `{cmd.strip()}`  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{', '.join(f'{k} {v}' for k, v in ver.items())}; Python {platform.python_version()}.  ",
        f"Machine: {cpu_name()}, {os.cpu_count()} CPU cores shared with other "
        "jobs (timings are noisy; each side is the median of the interleaved repeats, one process, nice).", "",
        f"First {args.n} sorted files of POP909 and of ASAP; notes = notes symusic reads from the files.", "",
        "| set | tokenizer | files | notes | median time (s) | notes/s | speed-up vs MidiTok | failed files |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['set']} | {r['tokenizer']} | {r['files']} | {r['notes']:,} | {r['median_s']:.3f} | "
                     f"{r['notes_per_s']:,} | {r['speedup_vs_miditok']}× | {r['failed_files']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
