"""symcore.attention backends on CPU, forward+backward, as ratios against the naive explicit-softmax path
(the named peer, same inputs, same run); plus FluidSynth rendering speed as a multiple of real time.

    nice .venv/bin/python benchmarks/symcore_attention.py --out benchmarks/results/symcore_attention.md

Shapes follow the project's models: ModernBERT-style local attention (window (64, 64)) and causal LM attention,
B=2, H=8, T=512, D=64, with and without right padding. Timings are the median of --repeats runs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from symcore.attention import attention

CASES = {
    "causal": dict(causal=True),
    "window (64,64)": dict(window=(64, 64)),
    "causal + padding": dict(causal=True, pad=True),
    "window + padding": dict(window=(64, 64), pad=True),
    "decode Tq=1, Tk=512": dict(causal=True, tq=1),
}


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (and mask cache fill)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_case(kw: dict, backend: str, repeats: int, b=2, h=8, t=512, d=64) -> float:
    kw = dict(kw)
    tq = kw.pop("tq", t)
    pad = kw.pop("pad", False)
    q = torch.randn(b, h, tq, d, requires_grad=tq > 1)
    k, v = (torch.randn(b, h, t, d, requires_grad=tq > 1) for _ in range(2))
    if pad:
        kw["key_padding_mask"] = torch.arange(t)[None] < torch.tensor([[t], [t * 3 // 4]])

    def step():
        out = attention(q, k, v, backend=backend, **kw)
        if out.requires_grad:
            out.sum().backward()

    if tq == 1:
        with torch.no_grad():
            return timed(step, repeats)
    return timed(step, repeats)


def render_speed() -> str:
    import shutil

    import symusic
    from symcore.audio import render_midi

    if shutil.which("fluidsynth") is None:
        return "fluidsynth not installed: rendering not measured"
    score = symusic.Score(480)
    track = symusic.Track("piano", program=0)
    for i in range(240):  # 60 s of 4 notes per second at 120 qpm
        track.notes.append(symusic.Note(i * 240, 480, 48 + (i * 7) % 36, 90))
    score.tracks.append(track)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sixty.mid"
        score.dump_midi(str(path))
        lines = []
        for sf2 in ("TimGM6mb.sf2", "FluidR3_GM.sf2"):
            t0 = time.perf_counter()
            audio = render_midi(path, sr=16000, soundfont=sf2)
            dt = time.perf_counter() - t0
            lines.append(f"| {sf2} | {len(audio) / 16000:.1f} s | {dt:.2f} s | {len(audio) / 16000 / dt:.0f}x |")
    return "\n".join(["| soundfont | audio | wall time | real-time factor |", "|---|---|---|---|", *lines])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rows = ["| case | naive (s) | sdpa (s) | naive / sdpa |", "|---|---|---|---|"]
    for name, kw in CASES.items():
        naive = run_case(kw, "naive", a.repeats)
        sdpa = run_case(kw, "sdpa", a.repeats)
        rows.append(f"| {name} | {naive:.4f} | {sdpa:.4f} | {naive / sdpa:.2f}x |")
        print(rows[-1], flush=True)
    text = "\n".join([
        "# symcore attention backends and FluidSynth rendering (CPU)", "",
        f"Command: `nice .venv/bin/python benchmarks/symcore_attention.py --repeats {a.repeats}"
        + (f" --out {a.out}`" if a.out else "`"), "",
        f"torch {torch.__version__}, 1 thread, {platform.processor() or platform.machine()}, Python "
        f"{sys.version.split()[0]}; shared 2-core machine under load from other jobs, so read the ratios, "
        "not the seconds. Forward + backward (decode: forward only), B=2 H=8 T=512 D=64, median of runs.", "",
        *rows, "", "## Rendering 60 s of piano MIDI to 16 kHz mono", "", render_speed(), "",
    ])
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
