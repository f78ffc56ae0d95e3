"""Rendering alignment, segment datasets with targets and tokens, the MAESTRO-layout loader, stable splits."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hiertrans.data import SegmentDataset, collate, midi_notes, recorded_piece, render_piece
from hiertrans.sources import is_heldout, maestro_pieces
from symtok import transcription as tt


def test_render_is_aligned_with_midi(tmp_path, need_fluidsynth, midi_writer):
    write_midi = midi_writer
    # isolated notes at known times: the audio envelope must rise within ~30 ms of each onset
    onsets = [1.0, 2.5, 4.0]
    midi = write_midi(tmp_path / "clicks.mid", [(t, t + 0.4, 72, 110) for t in onsets])
    piece = render_piece(midi, "TimGM6mb.sf2", cache_dir=tmp_path / "cache")
    audio = np.asarray(piece.audio(), np.float32) / 32767
    env = np.convolve(np.abs(audio), np.ones(80) / 80, mode="same")  # 5 ms smoothing
    for t in onsets:
        before = env[int((t - 0.2) * 16000):int((t - 0.02) * 16000)].max()
        after = env[int(t * 16000):int((t + 0.05) * 16000)].max()
        assert after > 5 * before + 1e-4, t
        rise = int((t - 0.1) * 16000) + int(np.argmax(env[int((t - 0.1) * 16000):] > 0.5 * after))
        assert abs(rise / 16000 - t) < 0.03
    # cached: the second call reads the same file
    assert render_piece(midi, "TimGM6mb.sf2", cache_dir=tmp_path / "cache").audio_path == piece.audio_path
    # an excerpt ending inside the second note keeps the first two notes, the second cut at the excerpt's end
    clip, ref = piece.excerpt(2.7)
    assert len(clip) == int(2.7 * 16000) and np.array_equal(clip, audio[: len(clip)])
    assert ref["onset"].tolist() == pytest.approx([1.0, 2.5], abs=1e-3)
    assert ref["offset"].tolist() == pytest.approx([1.4, 2.7], abs=1e-3)


def test_other_gm_pianos_render_another_timbre_of_the_same_notes(tmp_path, need_fluidsynth, midi_writer):
    midi = midi_writer(tmp_path / "c.mid", [(0.5, 1.5, 60, 100), (0.5, 1.5, 64, 100), (2.0, 3.0, 48, 90)])
    grand = render_piece(midi, "TimGM6mb.sf2", cache_dir=tmp_path / "cache")
    electric = render_piece(midi, "TimGM6mb.sf2", cache_dir=tmp_path / "cache", program=2)
    assert electric.audio_path != grand.audio_path  # cached apart
    assert render_piece(midi, "TimGM6mb.sf2", cache_dir=tmp_path / "cache", program=0).audio_path == grand.audio_path
    for k in ("onset", "offset", "pitch", "velocity"):
        assert np.array_equal(electric.notes()[k], grand.notes()[k])
    a, b = (np.asarray(p.audio(), np.float32) / 32767 for p in (grand, electric))
    n = min(len(a), len(b))
    spec = [np.abs(np.fft.rfft(x[8000:24000])) for x in (a[:n], b[:n])]  # the chord, 0.5-1.5 s
    assert np.corrcoef(*spec)[0, 1] < 0.9  # a different timbre, not the same samples
    assert np.abs(b[8000:24000]).max() > 0.01  # and it sounds


def test_pedal_extends_reference_offsets(tmp_path, midi_writer):
    write_midi = midi_writer
    midi = write_midi(tmp_path / "ped.mid", [(0.0, 0.5, 60, 80), (2.0, 2.5, 62, 80)], pedal=[(0.2, 1.5)])
    n = midi_notes(midi)
    assert n["offset"][0] == pytest.approx(1.5, abs=0.01) and n["offset"][1] == pytest.approx(2.5, abs=0.01)


def test_segment_dataset_targets_and_tokens(scale_midi, tmp_path, need_fluidsynth):
    piece = render_piece(scale_midi, "TimGM6mb.sf2", cache_dir=tmp_path)
    ds = SegmentDataset([piece], seconds=10.0)
    assert len(ds) == 2  # ~12.5 s of audio -> windows at 0 s and 10 s
    a, b = ds[0], ds[1]
    assert a["audio"].shape == (160000,) and a["frame"].shape == (1000, 88)
    assert a["onset"].sum() == 11  # eight scale notes, the chord's two notes, the 9.5 s note
    cont = tt.decode_onsets(b["onset_tokens"].numpy())
    assert (None, 64) in cont  # the note from 9.5 s to 11.5 s continues into the second window
    batch = collate([a, b])
    assert batch["onset_tokens"].shape[0] == 2 and batch["offset_mask"].dtype == __import__("torch").bool


def test_maestro_layout_loader(tmp_path, need_fluidsynth, midi_writer):
    write_midi = midi_writer
    root = tmp_path / "maestro"
    (root / "2018").mkdir(parents=True)
    midi = write_midi(root / "2018" / "a.midi", [(0.5, 1.0, 60, 70), (1.5, 2.0, 64, 70)])
    from hiertrans.audio import render_midi

    render_midi(midi, out_path=root / "2018" / "a.wav")
    with open(root / "maestro-v3.0.0.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["canonical_composer", "canonical_title", "split", "year", "midi_filename", "audio_filename",
                    "duration"])
        w.writerow(["X", "A", "train", 2018, "2018/a.midi", "2018/a.wav", 2.5])
        w.writerow(["X", "B", "test", 2018, "2018/missing.midi", "2018/missing.wav", 2.5])
    pieces = maestro_pieces(root)
    assert [p.title for p in pieces] == ["A"]  # missing files are skipped
    assert maestro_pieces(root, "test") == []
    piece = recorded_piece(pieces[0].audio, pieces[0].midi, cache_dir=tmp_path / "cache")
    assert piece.notes()["pitch"].tolist() == [60, 64]
    with pytest.raises(FileNotFoundError, match="maestro"):
        maestro_pieces(tmp_path / "cache")


def test_heldout_split_is_stable_and_about_ten_percent():
    names = [f"pop909/{i:03d}" for i in range(1, 910)]
    held = [n for n in names if is_heldout(n)]
    assert 50 < len(held) < 140
    assert held == [n for n in names if is_heldout(n)]
