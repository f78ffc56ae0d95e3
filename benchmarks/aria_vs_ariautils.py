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
import logging
import os
import random
import subprocess
import sys
import tempfile
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
        "asap_score": "asap/**/midi_score.mid",  # score MIDIs: many tempo changes
        "orchestral": "orchestral_texture/dataset/scores_midi/*.mid",  # multi-instrument, several programs
        "bps_motif": "bps_motif/motif_midi/*.mid",
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


def _smf(tracks: list[list[tuple[int, bytes]]], tpb: int) -> bytes:
    """Format-1 MIDI bytes from tracks of (absolute tick, event bytes)."""

    def vlq(n: int) -> bytes:
        out = [n & 0x7F]
        while n > 0x7F:
            n >>= 7
            out.append(0x80 | (n & 0x7F))
        return bytes(reversed(out))

    out = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(tracks).to_bytes(2, "big")
    out += tpb.to_bytes(2, "big")
    for events in tracks:
        body, last = b"", 0
        for tick, ev in sorted(events, key=lambda e: e[0]):
            body += vlq(tick - last) + ev
            last = tick
        body += b"\x00\xff\x2f\x00"
        out += b"MTrk" + len(body).to_bytes(4, "big") + body
    return out


def _random_midi(rng: random.Random) -> bytes:
    """A random multi-track file stressing aria's rules: shared channels, pedals in other tracks, zero-length and
    overlapping same-pitch notes, note-on velocity 0, ignored programs, drums, many tempo changes, odd tpb."""
    chans = rng.sample(range(16), rng.randint(1, 3)) + ([9] if rng.random() < 0.3 else [])
    tracks = []
    for _ in range(rng.randint(1, 3)):
        ev, span = [], rng.randint(100, 20000)
        for _ in range(rng.randint(0, 60)):
            t, c, r = rng.randint(0, span), rng.choice(chans), rng.random()
            if r < 0.45:
                p, d = rng.randint(20, 90), rng.choice([0, 0, 1, rng.randint(1, 2000)])
                end = bytes([0x80 | c, p, 0]) if rng.random() < 0.5 else bytes([0x90 | c, p, 0])
                ev += [(t, bytes([0x90 | c, p, rng.randint(1, 127)])), (t + d, end)]
            elif r < 0.6:
                ev.append((t, bytes([0xB0 | c, 64, rng.choice([0, 10, 63, 64, 100, 127])])))
            elif r < 0.65:
                ev.append((t, bytes([0xC0 | c, rng.choice([0, 0, 5, 10, 25, 33, 41, 90, 115])])))
            elif r < 0.75:
                ev.append((t, b"\xff\x51\x03" + rng.randint(200000, 1500000).to_bytes(3, "big")))
        tracks.append(ev)
    return _smf(tracks, rng.choice([96, 384, 480, 960, 1000]))


def _fuzz(n: int, seed: int, MidiDict, ref, ours, tmp: Path) -> dict[str, int]:
    rng, counts = random.Random(seed), {}
    for i in range(n):
        data = _random_midi(rng)
        (tmp / "fuzz.mid").write_bytes(data)
        try:
            a = ref.encode(ref.tokenize(MidiDict.from_midi(tmp / "fuzz.mid"), add_dim_tok=False))
        except Exception:
            a = None
        try:
            b = ours.encode_file(data)
        except Exception:
            b = None
        if a is None or b is None:
            key = "both rejected" if a is None and b is None else "different (only one side rejected)"
        else:
            key = _compare(b, a, int(np.flatnonzero(b == 0)[0]))
            key = key if key.startswith("identical") else "different"
        if key.startswith("different"):
            (tmp / f"fuzz_diff_{seed}_{i}.mid").write_bytes(data)
        counts[key] = counts.get(key, 0) + 1
    return counts


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
    ap.add_argument("--sets", default="pop909:100,asap:100", help="comma list of set:count (pop909, asap, cpm, emopia, asap_score, orchestral, bps_motif)")
    ap.add_argument("--name", default="aria_vs_ariautils", help="results file stem under benchmarks/results")
    ap.add_argument("--fuzz", type=int, default=0, help="also compare on N random MIDI files (differential fuzz)")
    ap.add_argument("--seed", type=int, default=0)
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
    if args.fuzz:
        logging.disable(logging.WARNING)  # upstream logs every malformed message of the random files
        tmp = Path(tempfile.mkdtemp(prefix="aria-fuzz-"))
        fz = _fuzz(args.fuzz, args.seed, MidiDict, ref, ours, tmp)
        lines += ["", f"Differential fuzz: {args.fuzz} random MIDI files (seed {args.seed}; failing files kept in {tmp}):",
                  "", "| result | files |", "|---|---:|", *[f"| {k} | {v} |" for k, v in sorted(fz.items())]]
    diffs = [r for r in rows if not r["result"].startswith(("identical", "both"))]
    if diffs:
        lines += ["", "Files that differ:", ""] + [f"- {r['file']}: {r['result']}" for r in diffs]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
