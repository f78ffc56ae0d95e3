"""hiertrans (shipped model, roll decoding) vs Spotify basic-pitch 0.4.0 on held-out rendered excerpts.

basic-pitch is installed by this script into its own venv (never the project's): ``pip install --no-deps
basic-pitch==0.4.0`` plus onnxruntime, librosa, ``resampy<0.4.3`` and the small pure-Python deps its import needs;
its ONNX model ships in the wheel. Both systems see the same 16 kHz excerpts (written as WAV) in the same run; wall
time per audio second includes model loading for neither (each is loaded once).

    SYMPHONIA_DATA=../shared/data .venv/bin/python benchmarks/hiertrans_basic_pitch.py --seconds 60 --per-source 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).parent))
from hiertrans.evaluate import format_table, summary, write_csv  # noqa: E402
from hiertrans.metrics import all_scores  # noqa: E402
from hiertrans.transcribe import transcribe_array  # noqa: E402
from hiertrans.weights import load_model  # noqa: E402
from hiertrans_eval import RESULTS, heldout_excerpts  # noqa: E402
from symcore.paths import cache_root  # noqa: E402

BP_PACKAGES = ["onnxruntime", "librosa", "resampy<0.4.3", "pretty_midi", "mir_eval", "scipy", "numpy<2.3",
               "typing_extensions", "setuptools"]

DRIVER = r"""
import json, sys, time
from basic_pitch import ICASSP_2022_MODEL_PATH
from basic_pitch.inference import predict, Model
model = Model(ICASSP_2022_MODEL_PATH)  # the .onnx flavour is picked when onnxruntime is the available backend
predict(sys.argv[1], model)  # warm-up: resampy/numba compile on first use; not counted
out = {}
for wav in sys.argv[1:]:
    t0 = time.perf_counter()
    _, _, events = predict(wav, model)
    out[wav] = {"wall": time.perf_counter() - t0,
                "notes": [[float(s), float(e), int(p), int(round(a * 127))] for s, e, p, a, *_ in events]}
print(json.dumps(out))
"""


def basic_pitch_python() -> Path:
    """The benchmark's own venv with basic-pitch 0.4.0 (created once, under the cache dir)."""
    venv = cache_root() / "hiertrans" / "basic-pitch-venv"
    py = venv / "bin" / "python"
    if not (py.exists() and subprocess.run([py, "-c", "import basic_pitch, onnxruntime"],
                                           capture_output=True).returncode == 0):
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "basic-pitch==0.4.0"], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", *BP_PACKAGES], check=True)
    return py


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--per-source", type=int, default=2)
    ap.add_argument("--decoders", default="roll", help="our note decodings to compare: roll,hier,flat")
    ap.add_argument("--out", default="hiertrans_basic_pitch", help="results file stem under benchmarks/results/")
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = heldout_excerpts(args.per_source, args.seconds)
    wav_dir = cache_root() / "hiertrans" / "bench-wavs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    wavs = []
    for name, audio, _ in data:
        w = wav_dir / (name.replace("/", "_") + f"-{int(args.seconds)}s.wav")
        sf.write(w, audio, 16000)
        wavs.append(str(w))
    py = basic_pitch_python()
    proc = subprocess.run([py, "-c", DRIVER, *wavs], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"basic-pitch failed:\n{proc.stderr[-2000:]}")
    bp = json.loads(proc.stdout.strip().splitlines()[-1])
    model = load_model(args.ckpt)
    ours_names = {d: f"hiertrans small {model.cfg.encoder.name}+{d}" for d in args.decoders.split(",")}
    rows = {"basic-pitch 0.4.0": [], **{n: [] for n in ours_names.values()}}
    for decoder in ours_names:  # warm-up, as for basic-pitch: first-call costs (mel filters, JIT) not counted
        transcribe_array(model, data[0][1][:16000 * 5], decoder=decoder)
    for (name, audio, ref), w in zip(data, wavs):
        notes = np.array(bp[w]["notes"], dtype=float).reshape(-1, 4)
        est = {"onset": notes[:, 0], "offset": notes[:, 1], "pitch": notes[:, 2].astype(int),
               "velocity": np.clip(notes[:, 3], 1, 127)}
        rows["basic-pitch 0.4.0"].append({"name": name, "seconds": len(audio) / 16000, "wall": bp[w]["wall"],
                                          **all_scores(ref, est)})
        for decoder, label in ours_names.items():
            t0 = time.perf_counter()
            ours = transcribe_array(model, audio, decoder=decoder)
            rows[label].append({"name": name, "seconds": len(audio) / 16000, "wall": time.perf_counter() - t0,
                                **all_scores(ref, ours)})
    RESULTS.mkdir(exist_ok=True)
    write_csv([dict(r, system=k) for k, v in rows.items() for r in v], RESULTS / f"{args.out}.csv")
    table = format_table({k: summary(v) for k, v in rows.items()})
    cmd = ("SYMPHONIA_DATA=../shared/data .venv/bin/python benchmarks/hiertrans_basic_pitch.py "
           f"--seconds {args.seconds:g} --per-source {args.per_source} --decoders {args.decoders}"
           + (f" --ckpt {args.ckpt}" if args.ckpt else "")
           + (f" --out {args.out}" if args.out != "hiertrans_basic_pitch" else ""))
    (RESULTS / f"{args.out}.md").write_text(
        "# hiertrans vs basic-pitch 0.4.0 (held-out pieces, FluidR3_GM soundfont unseen in training)\n\n"
        f"Command: `{cmd}`\n\n{len(data)} excerpts of <= {args.seconds:g} s; wall = seconds of compute per second "
        "of audio, both measured in this run on the same shared 2-core CPU.\n\n" + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
