"""Guarded execution of fuzz inputs: spawned workers with an address-space limit, a per-input timeout, and
replacement of workers that hang or die. Used through `symcore.fuzz.run_fuzz`.

A hang is confirmed before it is reported: the input is re-run once in a fresh worker, because on a shared
machine a multi-second stall of the whole box is common and must not read as a bug.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import resource
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

import numpy as np

from symcore.errors import EmptyMidiError, MidiError

ALLOWED = ("ok", "midi_error", "empty")
# One C4 quarter note at 96 ticks per quarter: the input every worker runs once before the clock starts.
WARMUP_MIDI = (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x0c"
               b"\x00\x90\x3c\x40\x60\x80\x3c\x00\x00\xff\x2f\x00")


def resolve(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def available(targets: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """The targets importable here, and a reason for each one that is not (e.g. a tokenizer not written yet)."""
    ok, missing = [], {}
    for spec in targets:
        try:
            resolve(spec)
            ok.append(spec)
        except (ImportError, AttributeError) as exc:
            missing[spec] = f"{type(exc).__name__}: {exc}"
    return ok, missing


def _run_one(fn, path: Path) -> tuple[str, str]:
    try:
        fn(str(path))
        return "ok", ""
    except EmptyMidiError as exc:
        return "empty", str(exc)
    except MidiError as exc:
        named = exc.path is not None and Path(exc.path).name == path.name
        return ("midi_error" if named else "bad_message"), str(exc)
    except MemoryError as exc:
        return "memory", f"MemoryError {exc}"
    except Exception as exc:
        where = traceback.format_exc().strip().splitlines()[-3].strip()
        return "crash", f"{type(exc).__name__}: {exc} | {where}"


def _worker(conn, targets: list[str], mem_limit_mb: int) -> None:
    logging.disable(logging.WARNING)  # batch jobs warn about every bad file; here bad files are the point
    limit = mem_limit_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # a blow-up fails here instead of eating the machine
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fns = {spec: resolve(spec) for spec in targets}
    with tempfile.TemporaryDirectory(prefix="symfuzz-") as workdir:
        warm = Path(workdir) / "warmup.mid"
        warm.write_bytes(WARMUP_MIDI)
        for fn in fns.values():  # JIT compilation (numba) and lazy imports are per process, not per input
            _run_one(fn, warm)
        conn.send("ready")
        while (msg := conn.recv()) is not None:
            case_id, data, specs = msg
            path = Path(workdir) / f"case{case_id}.mid"
            path.write_bytes(data)
            for spec in specs:
                peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                t0 = time.perf_counter()
                kind, detail = _run_one(fns[spec], path)
                rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                conn.send((case_id, spec, kind, detail[:500], time.perf_counter() - t0, rss_mb, peak_before))
            path.unlink()


@dataclass
class Outcome:
    case: int
    name: str
    target: str
    kind: str
    detail: str = ""
    seconds: float = 0.0
    rss_mb: float = 0.0


@dataclass
class FuzzReport:
    outcomes: list[Outcome] = field(default_factory=list)
    cases: int = 0
    seconds: float = 0.0
    retried: int = 0

    @property
    def bad(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind not in ALLOWED]

    def counts(self) -> Counter:
        return Counter((o.target, o.kind) for o in self.outcomes)

    def summary(self) -> str:
        rows = [f"{self.cases} inputs in {self.seconds:.1f} s ({self.retried} slow inputs re-run); max worker RSS "
                f"{max((o.rss_mb for o in self.outcomes), default=0):.0f} MB"]
        rows += [f"  {t:<32} {k:<12} {n}" for (t, k), n in sorted(self.counts().items())]
        for t in sorted({o.target for o in self.outcomes}):
            sec = [o.seconds for o in self.outcomes if o.target == t]
            rows.append(f"  {t:<32} mean {1000 * np.mean(sec):.1f} ms, max {max(sec):.2f} s per input")
        rows += [f"  FINDING case {o.case} ({o.name}) {o.target}: {o.kind} {o.detail}" for o in self.bad[:20]]
        return "\n".join(rows)


class _Slot:
    """One worker process and the input it is working on."""

    def __init__(self, ctx, targets: list[str], mem_limit_mb: int):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, targets, mem_limit_mb), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.case: tuple[int, str] | None = None
        self.pending: list[str] = []
        self.retried = False
        self.skip = 0  # results still to come from a run of the current input that is being repeated
        self.deadline = 0.0

    def submit(self, cid: int, name: str, data: bytes, pending: list[str], retried: bool, timeout: float) -> None:
        self.case, self.pending, self.retried = (cid, name), list(pending), retried
        self.deadline = time.monotonic() + (timeout if self.ready else 120.0)
        self.conn.send((cid, data, self.pending))

    def stop(self, kill: bool = False) -> None:
        if not kill:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


def run_fuzz(cases: Iterable[tuple[int, str, bytes]], targets: list[str], *, workers: int = 2, timeout: float = 5.0,
             max_rss_mb: int = 1024, mem_limit_mb: int = 3072, save_dir: str | Path | None = None) -> FuzzReport:
    """Run (case_id, name, data) through every target; findings are saved under `save_dir` when given."""
    ctx = mp.get_context("spawn")
    report, started = FuzzReport(), time.perf_counter()
    it: Iterator = iter(cases)
    data_of: dict[int, tuple[str, bytes]] = {}
    slots = [_Slot(ctx, targets, mem_limit_mb) for _ in range(max(1, workers))]

    def feed(slot: _Slot) -> None:
        slot.case = None
        nxt = next(it, None)
        if nxt is not None:
            cid, name, data = nxt
            data_of[cid] = (name, data)
            report.cases += 1
            slot.submit(cid, name, data, targets, False, timeout)

    def record(o: Outcome) -> None:
        report.outcomes.append(o)
        if o.kind not in ALLOWED and save_dir is not None:
            Path(save_dir).mkdir(parents=True, exist_ok=True)
            (Path(save_dir) / f"case{o.case}-{o.kind}.mid").write_bytes(data_of[o.case][1])

    def replace(idx: int, kind: str, detail: str) -> None:
        """Kill the worker; a first hang re-runs the input in the new worker, anything else is recorded."""
        old = slots[idx]
        old.stop(kill=True)
        slots[idx] = new = _Slot(ctx, targets, mem_limit_mb)
        if kind == "hang" and not old.retried:
            report.retried += 1
            new.submit(*old.case, data_of[old.case[0]][1], old.pending, True, timeout)
            return
        detail = f"worker exit code {old.proc.exitcode}" if kind == "died" else detail
        record(Outcome(old.case[0], old.case[1], old.pending[0], kind, detail))
        feed(new)

    try:
        for s in slots:
            feed(s)
        while any(s.case for s in slots):
            busy = [s for s in slots if s.case]
            ready = wait([s.conn for s in busy], timeout=max(0.05, min(s.deadline for s in busy) - time.monotonic()))
            for idx, s in enumerate(slots):
                if s.case is None:
                    continue
                if s.conn not in ready:
                    if time.monotonic() > s.deadline:
                        replace(idx, "hang", f"no answer within {timeout} s (twice)")
                    continue
                try:
                    msg = s.conn.recv()
                except (EOFError, OSError):  # segfault, abort, or the kernel's OOM killer
                    s.proc.join(5)
                    replace(idx, "died", "")
                    continue
                if msg == "ready":
                    s.ready, s.deadline = True, time.monotonic() + timeout
                    continue
                cid, spec, kind, detail, sec, rss, rss_before = msg
                if kind in ALLOWED and rss > max_rss_mb and rss > rss_before:  # this target raised the peak
                    kind, detail = "memory", f"peak RSS {rss:.0f} MB"
                if kind in ALLOWED and sec > timeout:
                    if not s.retried:  # slow once: run the rest of this input again before calling it a hang
                        report.retried += 1
                        s.submit(cid, s.case[1], data_of[cid][1], s.pending, True, timeout)
                        s.skip = len(s.pending) - 1  # the worker first finishes the first run's other targets
                        s.deadline += timeout * s.skip
                        continue
                    kind, detail = "hang", f"took {sec:.1f} s (twice)"
                if s.skip:
                    s.skip -= 1
                    continue
                record(Outcome(cid, s.case[1], spec, kind, detail, sec, rss))
                s.pending.pop(0)
                s.deadline = time.monotonic() + timeout
                if not s.pending:
                    feed(s)
    finally:
        for s in slots:
            s.stop()
    report.seconds = time.perf_counter() - started
    return report
