"""`hiertrans evaluate` on a folder as a batch job: bad audio, a corrupt reference and an unmatched file are each
skipped and named; the good pair is still scored; the exit code is 1 only with --strict or when nothing was scored."""

from __future__ import annotations

import csv

import numpy as np
import soundfile as sf
import torch
from hiertrans.cli import main
from hiertrans.config import preset
from hiertrans.model import Transcriber
from hiertrans.weights import save_model


def _tone(path, sr=16000, seconds=1.5):
    t = np.arange(int(sr * seconds)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)


def test_evaluate_folder_skips_and_reports(tmp_path, midi_writer, capsys):
    cfg = preset("tiny")
    torch.manual_seed(0)
    ckpt = save_model(Transcriber(cfg), cfg, tmp_path / "tiny.safetensors")
    audio, refs = tmp_path / "audio", tmp_path / "refs"
    audio.mkdir(), refs.mkdir()
    _tone(audio / "good.wav")
    midi_writer(refs / "good.mid", [(0.0, 1.5, 69, 80)])
    (audio / "broken.wav").write_bytes(b"RIFF not really a wav")
    midi_writer(refs / "broken.mid", [(0.0, 1.5, 69, 80)])
    _tone(audio / "badref.wav")
    (refs / "badref.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    _tone(audio / "orphan.wav")  # no orphan.mid
    table = tmp_path / "scores.csv"
    args = ["evaluate", str(audio), str(refs), "--ckpt", str(ckpt), "--csv", str(table)]

    assert main(args) == 0  # something was scored, so a plain run succeeds
    err = capsys.readouterr().err
    for name in ("broken.wav", "badref", "orphan.wav"):
        assert name in err, f"{name} not reported:\n{err}"
    rows = list(csv.DictReader(table.open()))
    assert [r["name"] for r in rows] == ["good"]
    assert 0.0 <= float(rows[0]["note_f1"]) <= 1.0

    assert main([*args, "--strict"]) == 1
    assert [r["name"] for r in csv.DictReader(table.open())] == ["good"]  # still scored and written

    (audio / "good.wav").unlink()
    assert main(args) == 1  # nothing could be scored
