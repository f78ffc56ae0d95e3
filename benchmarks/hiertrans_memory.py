"""Peak RSS of ``hiertrans transcribe`` on 60 minutes of audio (goal: < 2 GiB).

The hour is rendered held-out piano (or, without shared data, a music21 piece) repeated to 60 min and written as a
44.1 kHz stereo WAV, so loading, resampling and downmixing are part of the measurement. The transcription runs in a
child process; its peak RSS comes from ``resource.getrusage(RUSAGE_CHILDREN)``.

    SYMPHONIA_DATA=../shared/data .venv/bin/python benchmarks/hiertrans_memory.py --minutes 60
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from symcore.paths import cache_root

RESULTS = Path(__file__).parent / "results"


def hour_of_audio(minutes: float, out: Path) -> Path:
    from hiertrans.data import render_many
    from hiertrans.sources import source_files

    pieces, _ = render_many(source_files(["asap"], "test", 2), "FluidR3_GM.sf2")
    base = np.concatenate([np.asarray(p.audio(), np.float32) / 32767 for p in pieces])
    import librosa

    base = librosa.resample(base, orig_sr=16000, target_sr=44100)
    n = int(minutes * 60 * 44100)
    reps = int(np.ceil(n / len(base)))
    with sf.SoundFile(out, "w", 44100, 2, subtype="PCM_16") as fh:  # written in pieces: no hour in RAM here
        for _ in range(reps):
            chunk = base[: min(len(base), n)]
            fh.write(np.stack([chunk, chunk], 1))
            n -= len(chunk)
            if n <= 0:
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--decoder", default="roll")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ckpt", help="checkpoint (default: the shipped model)")
    args = ap.parse_args()
    wav = cache_root() / "hiertrans" / f"hour-{args.minutes:g}min.wav"
    if not wav.is_file():
        hour_of_audio(args.minutes, wav)
    out = wav.with_suffix(".mid")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hiertrans.cli", "transcribe", str(wav), "-o", str(out), "-q",
                           "--decoder", args.decoder, "--threads", str(args.threads),
                           *(["--ckpt", args.ckpt] if args.ckpt else [])], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    line = (f"| {args.minutes:g} min, 44.1 kHz stereo WAV | {args.decoder} | {peak_mib:.0f} MiB | "
            f"{wall:.0f} s ({wall / (args.minutes * 60):.3f} s per audio second) |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hiertrans_memory.md").write_text(
        "# hiertrans transcribe: peak memory on long audio (goal < 2 GiB)\n\n"
        f"Command: `SYMPHONIA_DATA=../shared/data .venv/bin/python benchmarks/hiertrans_memory.py --minutes "
        f"{args.minutes:g} --decoder {args.decoder} --threads {args.threads}"
        f"{' --ckpt ' + args.ckpt if args.ckpt else ''}` ({args.ckpt or 'shipped small CRNN'}; shared 2-core CPU)\n\n"
        "| input | decoder | peak RSS (child) | wall |\n|---|---|---|---|\n" + line + "\n")
    print(line)


if __name__ == "__main__":
    main()
