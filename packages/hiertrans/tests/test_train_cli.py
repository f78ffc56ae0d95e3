"""A real tiny training step through Lightning; transcribe/evaluate end to end; clear errors on bad audio."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from hiertrans.cli import main
from hiertrans.config import preset
from hiertrans.data import SegmentDataset, collate, render_piece
from hiertrans.model import Transcriber
from hiertrans.module import TranscriptionModule
from hiertrans.weights import load_model, save_model


@pytest.mark.slow  # seconds on an idle machine, minutes on the shared CI CPU
def test_tiny_train_step_reduces_loss(scale_midi, tmp_path, need_fluidsynth):
    import lightning as L

    torch.manual_seed(0)
    piece = render_piece(scale_midi, "TimGM6mb.sf2", cache_dir=tmp_path)
    ds = SegmentDataset([piece], seconds=1.0)  # short windows keep the step fast; tokens use the same window
    batch = collate([ds[1], ds[2]])
    # overfitting one batch: the loss must fall (batch_size=None: the loader yields the ready batch)
    loader = torch.utils.data.DataLoader([batch] * 5, batch_size=None)
    module = TranscriptionModule("tiny", decoders=["onset", "velocity", "offset", "flat"], stage="joint", lr=1e-2,
                                 warmup_steps=1)
    module.eval()
    with torch.no_grad():
        before = float(module.compute_loss(batch)[0])
    module.train()
    trainer = L.Trainer(max_steps=5, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, loader)
    module.eval()
    with torch.no_grad():
        after = float(module.compute_loss(batch)[0])
    assert np.isfinite(after) and after < before


def test_weights_roundtrip_and_refuse_pickles(tmp_path):
    cfg = preset("tiny")
    m = Transcriber(cfg)
    path = save_model(m, cfg, tmp_path / "m.safetensors", {"step": 3})
    loaded = load_model(path)
    assert loaded.extra == {"step": 3}
    for (k, a), (_, b) in zip(m.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    torch.save(m.state_dict(), tmp_path / "m.ckpt")
    with pytest.raises((ValueError, Exception)):
        load_model(tmp_path / "m.ckpt")


@pytest.fixture
def tiny_ckpt(tmp_path):
    cfg = preset("tiny")
    torch.manual_seed(0)
    return save_model(Transcriber(cfg), cfg, tmp_path / "tiny.safetensors")


def test_transcribe_cli_file_folder_and_bad_audio(tmp_path, tiny_ckpt, capsys):
    sr = 22050  # not 16 kHz: resampled on load
    t = np.arange(int(sr * 1.5)) / sr
    good = tmp_path / "in" / "tone.wav"
    good.parent.mkdir()
    sf.write(good, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    sf.write(tmp_path / "in" / "silent.wav", np.zeros(sr, np.float32), sr)
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF not really a wav")
    nan = np.full(sr, np.nan, np.float32)
    sf.write(tmp_path / "in" / "nan.wav", nan, sr, subtype="FLOAT")
    out = tmp_path / "out.mid"
    assert main(["transcribe", str(good), "-o", str(out), "--ckpt", str(tiny_ckpt), "-q"]) == 0
    assert out.is_file()
    code = main(["transcribe", str(tmp_path / "in"), "-o", str(tmp_path / "outdir"), "--ckpt", str(tiny_ckpt),
                 "-q", "--decoder", "hier"])
    err = capsys.readouterr().err
    assert code == 0 and (tmp_path / "outdir" / "tone.mid").is_file()
    assert "3 of 4 file(s) failed" in err
    assert "silent" in err and "NaN" in err and "broken.wav" in err
    strict = main(["transcribe", str(tmp_path / "in"), "-o", str(tmp_path / "outdir2"), "--ckpt", str(tiny_ckpt),
                   "-q", "--strict"])
    assert strict == 1 and (tmp_path / "outdir2" / "tone.mid").is_file()  # good files still written
    with pytest.raises(SystemExit, match="does not exist"):
        main(["transcribe", str(tmp_path / "nope.wav"), "-o", str(out), "--ckpt", str(tiny_ckpt)])


def test_evaluate_cli_writes_csv_and_png(scale_midi, tmp_path, tiny_ckpt, need_fluidsynth, capsys):
    from hiertrans.audio import render_midi

    wav = tmp_path / "scale.wav"
    render_midi(scale_midi, out_path=wav)
    code = main(["evaluate", str(wav), str(scale_midi), "--ckpt", str(tiny_ckpt), "--csv",
                 str(tmp_path / "s.csv"), "--png", str(tmp_path / "roll.png")])
    out = capsys.readouterr().out
    assert code == 0 and "note_f1" in out
    assert (tmp_path / "s.csv").read_text().startswith("name,seconds,wall,decoder,note_p")
    assert (tmp_path / "roll.png").stat().st_size > 1000


def test_streaming_load_equals_whole_file_load(tmp_path):
    from hiertrans.audio import _load_streaming
    from symcore.audio import load_audio as whole_file

    sr = 44100
    t = np.arange(sr * 3) / sr
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "st.wav", np.stack([x, 0.5 * x], 1), sr)
    a = _load_streaming(tmp_path / "st.wav", 16000, min_seconds=1.0)
    b = whole_file(tmp_path / "st.wav", sr=16000)
    assert len(a) == len(b) == 3 * 16000
    # soxr (streamed) and scipy's polyphase filter (symcore, whole file) agree to ~62 dB SNR; a wrong rate or
    # channel mix would be near 0 dB
    snr = 10 * np.log10(np.sum(b ** 2) / np.sum((a - b) ** 2))
    assert snr > 40, snr
    assert _load_streaming(tmp_path / "st.wav", 16000) is None  # short files take the ordinary path
