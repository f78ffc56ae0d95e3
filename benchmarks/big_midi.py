"""A 10-million-note MIDI file through load_notes, the CP and Aria tokenizers and the token cache: time and peak RSS.

    nice .venv/bin/python benchmarks/big_midi.py --notes 10000000 --out benchmarks/results/big_midi.md

Each step runs in its own subprocess so its peak RSS (ru_maxrss) is its own; the file is written once by symusic
(one piano track, random pitches/velocities, ~4 notes per tick at 480 tpq).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WRITE = """
import sys, numpy as np, symusic
n, path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
score = symusic.Score(480)
track = symusic.Track("big")
track.notes = symusic.Note.from_numpy(time=np.sort(rng.integers(0, n // 4, n)).astype(np.int32),
    duration=rng.integers(1, 960, n).astype(np.int32), pitch=rng.integers(21, 109, n).astype(np.int8),
    velocity=rng.integers(1, 128, n).astype(np.int8))
score.tracks.append(track)
score.dump_midi(path)
"""

STEPS = {  # name: (imports, the timed call)
    "load_notes": ("from symcore.notes import load_notes", "out = load_notes(path, sustain=True)"),
    "CPTokenizer.encode_file": ("from symtok.cp import CPTokenizer; tok = CPTokenizer()", "out = tok.encode_file(path)"),
    "AbsTokenizer.encode_file": ("from symtok.aria import AbsTokenizer; tok = AbsTokenizer()",
                                 "out = tok.encode_file(path)"),
    "build_cache (CP, 1 file)": ("from symtok.cache import build_cache; from symtok.cp import CPTokenizer",
                                 "out = build_cache([path], CPTokenizer().encode_file, tmp + '/cache', workers=0, "
                                 "progress=False)[0]"),
}

RUN = """
import resource, sys, time
path, tmp = sys.argv[1], sys.argv[2]
try:
    {imports}
except ImportError as exc:
    print(f"-\t-\t-\tskipped ({{exc}})")
    sys.exit(0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
try:
    {call}
    result = f"{{len(out):,}} rows"
except Exception as exc:
    result = f"{{type(exc).__name__}}: {{exc}}"[:200]
print(f"{{time.perf_counter() - t0:.1f}}\t{{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}}\t{{base:.0f}}\t{{result}}")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notes", type=int, default=10_000_000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.mid"
        subprocess.run([sys.executable, "-c", WRITE, str(args.notes), str(path)], check=True)
        size_mb = path.stat().st_size / 1e6
        rows = []
        for name, step in STEPS.items():
            code = RUN.format(imports=step[0], call=step[1])
            out = subprocess.run([sys.executable, "-c", code, str(path), tmp], capture_output=True, text=True)
            if out.returncode != 0:
                rows.append((name, "-", "-", "-", f"process died ({out.returncode}): {out.stderr[-200:]}"))
                continue
            rows.append((name, *out.stdout.strip().splitlines()[-1].split("\t")))
            print(name, rows[-1], flush=True)
    lines = [
        f"# A {args.notes:,}-note MIDI file ({size_mb:.0f} MB)",
        "",
        f"Command: `nice .venv/bin/python benchmarks/big_midi.py --notes {args.notes} --out benchmarks/results/big_midi.md`"
        f" — {os.cpu_count()} CPUs shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end).",
        "",
        "| step | seconds | peak RSS MB | RSS after imports MB | result |",
        "|---|---:|---:|---:|---|",
        *(f"| {n} | {s} | {r} | {b} | {res} |" for n, s, r, b, res in rows),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
