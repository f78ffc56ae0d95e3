"""`hiertrans transcribe` on a folder where no file can be transcribed: exit 1, every file named, no MIDI written."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch
from hiertrans.cli import main
from hiertrans.config import preset
from hiertrans.model import Transcriber
from hiertrans.weights import save_model


def test_folder_with_only_bad_audio_exits_nonzero(tmp_path, capsys):
    cfg = preset("tiny")
    torch.manual_seed(0)
    ckpt = save_model(Transcriber(cfg), cfg, tmp_path / "tiny.safetensors")
    src = tmp_path / "in"
    src.mkdir()
    (src / "broken.wav").write_bytes(b"RIFF not really a wav")
    sf.write(src / "silent.wav", np.zeros(8000, np.float32), 16000)
    out = tmp_path / "out"
    assert main(["transcribe", str(src), "-o", str(out), "--ckpt", str(ckpt), "-q"]) == 1  # without --strict
    err = capsys.readouterr().err
    assert "2 of 2 file(s) failed" in err and "broken.wav" in err and "silent" in err
    assert not out.exists() or not list(out.rglob("*.mid"))
