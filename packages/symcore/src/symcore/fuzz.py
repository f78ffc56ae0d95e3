"""Fuzzing the MIDI path: mutated real files and hand-built absurd MIDI, run through targets in guarded workers.

Allowed outcomes for every input and target: a correct result or `MidiError` naming the file. Anything else is a
finding: another exception ("crash"), more than `timeout` seconds ("hang"), the worker dying (segfault/abort,
"died") or its peak RSS passing `max_rss_mb` ("memory"). Each case is a pure function of (seed files, index),
so `make_case(i, seeds)` replays a finding.

Targets are "module:function" strings resolved inside the workers (so tokenizers written later are picked up
lazily); a function takes a path and raises `MidiError` for bad input. The guarded workers live in
`symcore.fuzz_runner`; `python -m symcore.fuzz --n N --targets ...` runs a count from the shell.
"""

from __future__ import annotations

import os
import random
import struct
import time
from pathlib import Path

import numpy as np

from symcore.fuzz_runner import ALLOWED, FuzzReport, Outcome, available, run_fuzz
from symcore.notes import load_notes

__all__ = ["ALLOWED", "FuzzReport", "Outcome", "available", "run_fuzz", "make_case", "seed_corpus", "load_target"]

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0x90, 0xB0, 0xF0, 0xF7, 0xFF, 0x2F, 0x51)
DIVISIONS = (0, 1, 2, 96, 480, 0x7FFF, 0x8000, 0xE728, 0xFFFF)
TEMPOS_MSPQ = (0, 1, 2, 500_000, 0xFFFFFF)
DELTAS = (0, 0, 0, 1, 7, 120, 480, 0x3FFF, 0x0FFFFFFF)


# --------------------------------------------------------------------------------------------- raw MIDI writing
def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chunk(tag: bytes, payload: bytes, length: int | None = None) -> bytes:
    return tag + struct.pack(">I", len(payload) if length is None else length & 0xFFFFFFFF) + payload


def header(fmt: int, ntracks: int, division: int) -> bytes:
    return chunk(b"MThd", struct.pack(">HHH", fmt & 0xFFFF, ntracks & 0xFFFF, division & 0xFFFF))


def synth_midi(rng: random.Random) -> tuple[str, bytes]:
    """A hand-built file with absurd but encodable values: tpq, tempi, huge deltas, odd events, empty tracks.

    Half are structurally clean (absurd values only, so the "correct result" path is exercised); the other half
    also get lying lengths, stray data bytes, missing end-of-track and wrong track counts.
    """
    clean = rng.random() < 0.5
    n_tracks = rng.choice((1, 1, 2, 3, 8) if clean else (0, 1, 1, 2, 3, 8))
    division = rng.choice((1, 2, 96, 480, 0x7FFF) if clean else DIVISIONS)
    tracks = []
    for _ in range(n_tracks):
        ev = bytearray()
        for _ in range(rng.choice((0, 0, 1, 5, 40, 200))):
            ev += vlq(rng.choice(DELTAS) if rng.random() < (0.02 if clean else 0.3) else rng.randrange(0, 960))
            kind = rng.random() * (0.94 if clean else 1.0)  # clean files skip the malformed event kinds
            ch = rng.randrange(16)
            if kind < 0.45:  # note on/off pairs, sometimes unmatched, velocity 0, out-of-order
                pitch, vel = rng.randrange(128), rng.choice((0, 1, 64, 127))
                ev += bytes((0x90 | ch, pitch, vel))
                if rng.random() < 0.8:
                    ev += vlq(rng.choice(DELTAS[:-1] if clean else DELTAS)) + bytes((0x80 | ch, pitch, 0))
            elif kind < 0.55:
                ev += b"\xff\x51\x03" + rng.choice(TEMPOS_MSPQ).to_bytes(3, "big")
            elif kind < 0.62:
                ev += b"\xff\x58\x04" + bytes((rng.randrange(256), rng.randrange(256), 24, 8))
            elif kind < 0.67:
                ev += b"\xff\x59\x02" + bytes((rng.randrange(256), rng.randrange(256)))
            elif kind < 0.80:
                ev += bytes((0xB0 | ch, rng.choice((64, 64, 7, 121)), rng.randrange(128)))
            elif kind < 0.85:
                ev += bytes((0xC0 | ch, rng.randrange(128)))
            elif kind < 0.90:
                ev += bytes((0xE0 | ch, rng.randrange(128), rng.randrange(128)))
            elif kind < 0.94:
                ev += b"\xf0" + vlq(3) + b"\x7e\x7f\xf7"
            elif kind < 0.97:  # a meta event whose length lies
                ev += b"\xff\x01" + vlq(rng.choice((0, 5, 0x0FFFFFFF))) + b"abc"
            else:  # running status without a previous status byte, or a stray data byte
                ev += bytes((rng.randrange(128), rng.randrange(128)))
        if clean or rng.random() < 0.9:
            ev += b"\x00\xff\x2f\x00"
        length = None if clean or rng.random() < 0.9 else rng.choice((0, len(ev) + 100, 0xFFFFFFFF))
        tracks.append(chunk(b"MTrk", bytes(ev), length))
    if clean:
        return "synth_clean", header(rng.choice((0, 1)) if n_tracks == 1 else 1, n_tracks, division) + b"".join(tracks)
    declared = n_tracks if rng.random() < 0.85 else rng.choice((0, 1, 0xFFFF))
    return "synth", header(rng.choice((0, 1, 1, 2, 7)), declared, division) + b"".join(tracks)


# --------------------------------------------------------------------------------------------------- mutations
def split_chunks(data: bytes) -> list[bytes]:
    """Chunks as raw bytes (header included); a trailing remainder that is not a whole chunk is its own piece."""
    out, i = [], 0
    while i + 8 <= len(data):
        n = struct.unpack(">I", data[i + 4:i + 8])[0]
        out.append(data[i:i + 8 + n])
        i += 8 + n
    if i < len(data):
        out.append(data[i:])
    return out


def mutate(data: bytes, other: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One random damage to a real file (the name says which)."""
    op = rng.choice(("truncate", "bitflip", "bytes", "splice", "chunks", "header", "length", "garbage",
                     "tempo", "delta", "empty_tracks"))
    b = bytearray(data)
    if op == "truncate":
        return op, data[: rng.randrange(len(data) + 1)]
    if op == "bitflip":
        for _ in range(rng.choice((1, 2, 4, 16, 64))):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return op, bytes(b)
    if op == "bytes":
        for _ in range(rng.choice((1, 3, 10))):
            b[rng.randrange(len(b))] = rng.choice(INTERESTING_BYTES)
        return op, bytes(b)
    if op == "splice":
        return op, data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1):]
    chunks = split_chunks(data)
    if op == "chunks" and len(chunks) > 1:
        head, tracks = chunks[0], chunks[1:] + split_chunks(other)[1:]
        rng.shuffle(tracks)
        keep = tracks[: rng.randrange(len(tracks) + 1)]
        if keep and rng.random() < 0.5:
            keep.append(rng.choice(keep))
        return op, head + b"".join(keep)
    if op == "header" and len(b) >= 14:
        field_at = rng.choice((8, 10, 12))  # format, ntracks, division
        b[field_at:field_at + 2] = struct.pack(">H", rng.choice((0, 1, 2, 7, 0xFFFF) if field_at < 12 else DIVISIONS))
        return op, bytes(b)
    if op == "length" and len(chunks) > 1:
        k = rng.randrange(len(chunks))
        c = bytearray(chunks[k])
        if len(c) >= 8:
            c[4:8] = struct.pack(">I", rng.choice((0, 1, len(c) - 7, len(c) + 1000, 0x7FFFFFFF, 0xFFFFFFFF)))
        chunks[k] = bytes(c)
        return op, b"".join(chunks)
    if op == "garbage":
        i = rng.randrange(len(b) + 1)
        return op, bytes(b[:i]) + rng.randbytes(rng.choice((1, 4, 64, 1024))) + bytes(b[i:])
    if op == "tempo":
        at = [i for i in range(len(b) - 5) if b[i:i + 3] == b"\xff\x51\x03"]
        if at:
            i = rng.choice(at)
            b[i + 3:i + 6] = rng.choice(TEMPOS_MSPQ).to_bytes(3, "big")
            return op, bytes(b)
    if op in ("delta", "empty_tracks") and len(chunks) > 1:
        k = rng.randrange(1, len(chunks))
        c = chunks[k]
        if op == "delta":  # every later event of this track moves by ~2^28 ticks
            payload = vlq(rng.choice((0x3FFF, 0x1FFFFF, 0x0FFFFFFF))) + b"\xff\x01\x01x" + c[8:]
        else:
            payload = b"\x00\xff\x2f\x00"
        chunks[k] = chunk(b"MTrk", payload)
        if op == "empty_tracks":
            chunks += [chunk(b"MTrk", b"\x00\xff\x2f\x00")] * rng.randrange(1, 20)
        return op, b"".join(chunks)
    return "bitflip", bytes(b[:-1]) + bytes([b[-1] ^ 0x40]) if b else b""


def make_case(index: int, seeds: list[bytes], seed: int = 0) -> tuple[str, bytes]:
    """Case `index`: a quarter are hand-built absurd files, the rest mutations of the seed files (1–3 stacked)."""
    rng = random.Random(seed * 1_000_003 + index)
    if not seeds or rng.random() < 0.25:
        return synth_midi(rng)
    data = rng.choice(seeds)
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name, data = mutate(data or b"\x00", rng.choice(seeds), rng)
        names.append(name)
    return "+".join(names), data


# ---------------------------------------------------------------------------------------------------- targets
def check_notes(notes) -> None:
    """Invariants every loaded NoteArray must satisfy; a violation is a bug (AssertionError → "crash")."""
    n = len(notes)
    for col in ("onset", "duration", "pitch", "velocity", "track", "program", "onset_sec", "duration_sec"):
        assert getattr(notes, col).shape == (n,), col
    assert (notes.onset >= 0).all() and (notes.duration >= 0).all(), "negative onset/duration ticks"
    assert ((notes.pitch >= 0) & (notes.pitch <= 127)).all(), "pitch out of 0..127"
    assert ((notes.velocity >= 0) & (notes.velocity <= 127)).all(), "velocity out of 0..127"
    assert np.isfinite(notes.onset_sec).all() and np.isfinite(notes.duration_sec).all(), "non-finite seconds"
    assert (notes.duration_sec >= 0).all(), "negative duration in seconds"
    assert (np.diff(notes.onset) >= 0).all() and (np.diff(notes.onset_sec) >= -1e-9).all(), "not sorted by onset"
    assert notes.tpq > 0


def load_target(path: str) -> None:
    check_notes(load_notes(path))
    check_notes(load_notes(path, sustain=True, drop_drums=True))


def probe_target(path: str) -> None:
    """Harness self-test: misbehaves on purpose when the file says so, so the tests can prove findings are caught."""
    data = Path(path).read_bytes()
    if data == b"crash":
        raise RuntimeError("probe crash")
    if data == b"hang":
        time.sleep(600)
    if data.startswith(b"stall-once:"):  # a machine-wide stall: slow the first time only (marker file)
        marker = Path(data[len(b"stall-once:"):].decode())
        if not marker.exists():
            marker.touch()
            time.sleep(600)
    if data == b"die":
        os.abort()
    if data == b"memory":
        np.ones(2**40, np.uint8)  # 1 TiB: must hit the worker's address-space limit
    if data == b"bloat":
        # Touch 200 MB more than this worker's peak so far, so the peak always rises whatever ran in the worker
        # before (either it fits in the address-space limit and the RSS check fires, or it raises MemoryError).
        # Only the gap between the current RSS and the peak, plus 200 MB, is new: allocating peak + 200 MB (about
        # 1 GB after the imports) timed out twice at 4 s in a loaded CI run (session 7).
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        statm = Path("/proc/self/statm")  # Linux; elsewhere assume the worker sits at its peak
        current = int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") if statm.exists() else peak
        keep = np.ones(max(peak - current, 0) + 200 * 2**20, np.uint8)
        del keep
    load_target(path)


def seed_corpus(root: str | Path, per_folder: int = 2, max_bytes: int = 60_000) -> list[bytes]:
    """A few small real files from each dataset folder under `root` (sorted, so the corpus is reproducible)."""
    root = Path(root)
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        picked = 0
        for f in sorted(folder.rglob("*.mid")):
            if picked >= per_folder:
                break
            if 0 < f.stat().st_size <= max_bytes:
                out.append(f.read_bytes())
                picked += 1
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m symcore.fuzz", description="fuzz the MIDI path")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", default=os.environ.get("SYMPHONIA_DATA"), help="real files to mutate")
    ap.add_argument("--targets", nargs="+", default=["symcore.fuzz:load_target"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--save", default=None, help="write inputs with findings here")
    args = ap.parse_args(argv)
    seeds = seed_corpus(args.data_root) if args.data_root else []
    targets, missing = available(args.targets)
    for spec, why in missing.items():
        print(f"skipping target {spec}: {why}")
    cases = ((i, *make_case(i, seeds, args.seed)) for i in range(args.n))
    report = run_fuzz(cases, targets, workers=args.workers, timeout=args.timeout, save_dir=args.save)
    print(f"{len(seeds)} seed files; " + report.summary())
    return 1 if report.bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
