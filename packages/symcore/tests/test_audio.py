import math
import shutil

import numpy as np
import pytest
import soundfile as sf
import symusic
from symcore.audio import find_soundfont, is_silent, load_audio, render_midi, resample, symusic_synth_works
from symcore.errors import AudioError, MidiError

needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth program not installed")


def _soundfont_or_skip():
    try:
        return find_soundfont()
    except FileNotFoundError as err:
        pytest.skip(str(err))


def tone(sr, seconds=0.5, freq=440.0, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return amp * np.sin(2 * np.pi * freq * t)


# (container, subtype, rate, channels, max abs error vs an ideal 16 kHz tone)
FORMATS = [
    ("WAV", "PCM_U8", 8000, 1, 0.03),
    ("WAV", "PCM_16", 44100, 2, 2e-3),
    ("WAV", "PCM_24", 48000, 6, 2e-3),
    ("WAV", "PCM_32", 22050, 1, 2e-3),
    ("WAV", "FLOAT", 16000, 2, 1e-6),
    ("WAV", "DOUBLE", 32000, 3, 2e-3),
    ("FLAC", "PCM_S8", 11025, 1, 0.03),
    ("FLAC", "PCM_16", 44100, 1, 2e-3),
    ("FLAC", "PCM_24", 96000, 2, 2e-3),
    ("OGG", "VORBIS", 44100, 2, 0.1),
]


@pytest.mark.parametrize("fmt,subtype,rate,channels,tol", FORMATS, ids=[f"{f[0]}-{f[1]}-{f[2]}-{f[3]}ch" for f in FORMATS])
def test_load_formats_rates_and_channel_counts(tmp_path, fmt, subtype, rate, channels, tol):
    # Channel c carries the tone at amplitude (c+1)/channels, so the downmix is the tone at the mean amplitude.
    amps = [(c + 1) / channels * 0.8 for c in range(channels)]
    data = np.stack([tone(rate, amp=a) for a in amps], axis=1)
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(str(path), data, rate, format=fmt, subtype=subtype)
    x = load_audio(path, sr=16000)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == math.ceil(len(data) * 16000 / rate)
    ideal = tone(16000, amp=float(np.mean(amps)))[: len(x)]
    inner = slice(400, len(x) - 400)  # resampling filters ring at the edges
    assert np.max(np.abs(x[inner] - ideal[inner])) < tol
    multi = load_audio(path, sr=16000, mono=False)
    assert multi.shape == (channels, len(x))
    np.testing.assert_allclose(multi.mean(axis=0), x, atol=1e-6)


def test_native_rate_and_exact_ratio():
    x = tone(44100, seconds=1.0).astype(np.float32)
    y = resample(x, 44100, 16000)
    assert len(y) == 16000 and y.dtype == np.float32
    assert resample(x, 44100, 44100) is x


def test_native_rate_is_kept_when_sr_is_none(tmp_path):
    sf.write(str(tmp_path / "a.wav"), tone(22050), 22050)
    assert len(load_audio(tmp_path / "a.wav", sr=None)) == 11025


def test_bad_files_raise_audio_error_naming_the_file(tmp_path):
    cases = {}
    cases["garbage.wav"] = b"this is not audio at all" * 10
    cases["empty.flac"] = b""
    good = tmp_path / "good.wav"
    sf.write(str(good), tone(16000), 16000, subtype="PCM_16")
    cases["truncated.wav"] = good.read_bytes()[:30]  # header cut mid-way
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(AudioError, match="unreadable") as err:
            load_audio(tmp_path / name)
        assert name in str(err.value)
    sf.write(str(tmp_path / "zero.wav"), np.zeros((0, 1)), 16000)
    with pytest.raises(AudioError, match="no samples"):
        load_audio(tmp_path / "zero.wav")
    bad = tone(16000)
    bad[100] = np.nan
    sf.write(str(tmp_path / "nan.wav"), bad, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: .*NaN"):
        load_audio(tmp_path / "nan.wav")
    bad[100] = np.inf
    sf.write(str(tmp_path / "inf.wav"), bad, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="Inf"):
        load_audio(tmp_path / "inf.wav")
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "missing.wav")


def test_silence_is_returned_and_detectable(tmp_path):
    sf.write(str(tmp_path / "quiet.wav"), np.zeros(8000), 16000, subtype="PCM_16")
    x = load_audio(tmp_path / "quiet.wav")
    assert len(x) == 8000 and is_silent(x)
    assert not is_silent(tone(16000, amp=0.01))  # -43 dBFS RMS
    assert is_silent(tone(16000, amp=1e-4)) and is_silent(np.zeros(0))


def test_find_soundfont(tmp_path, monkeypatch):
    monkeypatch.delenv("SYMPHONIA_SOUNDFONT", raising=False)
    own = tmp_path / "mine.sf2"
    own.write_bytes(b"RIFF")
    assert find_soundfont(own) == own
    monkeypatch.setenv("SYMPHONIA_SOUNDFONT", str(own))
    assert find_soundfont() == own
    monkeypatch.setenv("SYMPHONIA_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(FileNotFoundError, match="SYMPHONIA_SOUNDFONT"):
        find_soundfont()
    with pytest.raises(FileNotFoundError, match="no_such_font.sf2 not found"):
        find_soundfont("no_such_font.sf2")


# --------------------------------------------------------------------------- rendering

ONSETS = [0.5, 1.0, 1.25, 2.0, 2.6]  # seconds at 120 qpm, 480 tpq -> 960 ticks per second
PITCHES = [60, 67, 64, 72, 55]


def simple_score() -> symusic.Score:
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 120.0))
    track = symusic.Track("piano", program=0)
    for onset, pitch in zip(ONSETS, PITCHES):
        track.notes.append(symusic.Note(int(onset * 960), 192, pitch, 100))  # 0.2 s notes
    score.tracks.append(track)
    return score


def flux_peaks(x, sr, hop=0.005, win=0.04):
    """Times of spectral-flux peaks above half the maximum (log-magnitude, half-wave rectified)."""
    from scipy.signal import find_peaks, stft

    _, times, z = stft(x, sr, nperseg=int(win * sr), noverlap=int(win * sr) - int(hop * sr), boundary=None)
    mag = np.log1p(100 * np.abs(z))
    flux = np.maximum(np.diff(mag, axis=1), 0).sum(axis=0)
    peaks, _ = find_peaks(flux, height=0.3 * flux.max(), distance=int(0.1 / hop))
    return times[1:][peaks]  # frame centres; measured 5 ms after the MIDI onsets with both GM soundfonts


def assert_onsets_align(audio, sr, onsets, tol=0.03):
    peaks = flux_peaks(audio, sr)
    for t in onsets:
        assert np.min(np.abs(peaks - t)) <= tol, f"no flux peak within {tol * 1000:.0f} ms of {t} s: {peaks}"
    assert len(peaks) <= len(onsets) + 2, f"spurious onsets: {peaks}"
    assert is_silent(audio[: int(0.45 * sr)], threshold_db=-50)  # nothing before the first note


@needs_fluidsynth
def test_render_score_onsets_align_with_midi(tmp_path):
    _soundfont_or_skip()
    path = tmp_path / "simple.mid"
    simple_score().dump_midi(str(path))
    audio = render_midi(path, sr=16000, out_path=tmp_path / "out.flac", gain=0.5)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 2.8 * 16000 < len(audio) < 6 * 16000
    assert_onsets_align(audio, 16000, ONSETS)
    np.testing.assert_allclose(load_audio(tmp_path / "out.flac"), audio, atol=1e-4)  # FLAC PCM_16 round trip
    louder = render_midi(path, sr=22050, gain=1.0)
    assert abs(len(louder) / 22050 - len(audio) / 16000) < 0.05
    assert np.abs(louder).max() > 1.5 * np.abs(audio).max()


@needs_fluidsynth
def test_render_note_array_from_shared_data(shared):
    _soundfont_or_skip()
    from symcore.notes import load_notes

    notes = load_notes(shared("pop909/POP909/001/001.mid"))
    first = notes.select(notes.onset_sec < 4.0)
    audio = render_midi(first, sr=16000)
    starts = np.unique(np.round(first.onset_sec, 2))
    assert len(audio) / 16000 >= first.onset_sec.max()
    peaks = flux_peaks(audio, 16000)
    # Dense pop piano: not every chord makes a separate peak, but every peak must sit on a MIDI onset.
    near = [np.min(np.abs(starts - p)) <= 0.03 for p in peaks]
    assert len(peaks) >= 3 and np.mean(near) >= 0.9, (peaks, starts)


def test_render_errors_are_clear(tmp_path, monkeypatch):
    sf2 = _soundfont_or_skip()
    with pytest.raises(AudioError, match="missing.mid: MIDI file to render does not exist"):
        render_midi(tmp_path / "missing.mid", soundfont=sf2)
    (tmp_path / "broken.mid").write_bytes(b"MThd garbage")
    with pytest.raises(MidiError, match="broken.mid: "):  # fluidsynth alone would exit 0
        render_midi(tmp_path / "broken.mid", soundfont=sf2)
    simple_score().dump_midi(str(tmp_path / "ok.mid"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth on PATH
    with pytest.raises(FileNotFoundError, match="fluidsynth program is not installed"):
        render_midi(tmp_path / "ok.mid", soundfont=sf2)


def test_symusic_backend_works_or_says_why(tmp_path):
    sf2 = _soundfont_or_skip()
    path = tmp_path / "simple.mid"
    simple_score().dump_midi(str(path))
    if symusic_synth_works():
        audio = render_midi(path, sr=16000, soundfont=sf2, backend="symusic")
        assert_onsets_align(audio, 16000, ONSETS)
    else:
        with pytest.raises(AudioError, match="symusic Synthesizer unusable here"):
            render_midi(path, sr=16000, soundfont=sf2, backend="symusic")
