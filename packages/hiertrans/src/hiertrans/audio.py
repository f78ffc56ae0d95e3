"""Audio in and out for transcription: reading any file to 16 kHz mono, and rendering MIDI with FluidSynth.

symcore.audio is the project's home for these; until it is importable we fall back to the same behaviour here
(soundfile + librosa resampling, the fluidsynth CLI), so hiertrans never blocks on it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from symcore.errors import AudioError, MidiError
from symcore.midi_write import write_midi

SAMPLE_RATE = 16000
SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/share/sounds/sf3")


def find_soundfont(name: str | None = None) -> Path:
    """A General-MIDI soundfont: ``name`` may be a path or a file name (``TimGM6mb.sf2``) in the system folders."""
    try:
        from symcore.audio import find_soundfont as _find

        return Path(_find(name))
    except ImportError:
        pass
    if name and Path(name).is_file():
        return Path(name)
    wanted = [name] if name else ["TimGM6mb.sf2", "FluidR3_GM.sf2", "MuseScore_General.sf3", "default-GM.sf2"]
    for d in SOUNDFONT_DIRS:
        for w in wanted:
            if (Path(d) / w).is_file():
                return Path(d) / w
    raise FileNotFoundError(f"soundfont {name or '(any GM)'} not found in {', '.join(SOUNDFONT_DIRS)}; "
                            "install fluid-soundfont-gm or timgm6mb-soundfont")


STREAM_SECONDS = 600.0  # longer files are read, downmixed and resampled block by block


def _load_streaming(path: str | Path, sr: int, min_seconds: float = STREAM_SECONDS) -> np.ndarray | None:
    """Long files in 60 s blocks: memory stays ~ the 16 kHz mono result (an hour of 44.1 kHz stereo read at once
    is 635 MB of float32 before downmixing, plus the resampler's copies). None if soundfile cannot open it."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:
        return None
    if info.frames / max(info.samplerate, 1) < min_seconds:
        return None
    import soxr

    out = np.empty(int(np.ceil(info.frames * sr / info.samplerate)) + sr, np.float32)
    n = 0
    stream = soxr.ResampleStream(info.samplerate, sr, 1, dtype="float32") if info.samplerate != sr else None
    with sf.SoundFile(str(path)) as fh:
        while True:
            block = fh.read(info.samplerate * 60, dtype="float32", always_2d=True)
            last = len(block) < info.samplerate * 60
            if len(block) and not np.isfinite(block).all():
                raise AudioError(path, "audio contains NaN or Inf samples")
            mono = block.mean(axis=1).astype(np.float32)
            y = stream.resample_chunk(mono, last=last) if stream is not None else mono
            out[n:n + len(y)] = y
            n += len(y)
            if last:
                break
    return out[:n]


def load_audio(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Float32 mono at ``sr``; AudioError naming the file if it cannot be read, is empty, or holds NaN/Inf."""
    streamed = _load_streaming(path, sr)
    if streamed is not None:
        return streamed
    try:
        from symcore.audio import load_audio as _load

        audio = _load(path, sr=sr)
    except ImportError:
        audio = _load_fallback(path, sr)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        raise AudioError(path, "no samples")
    if not np.isfinite(audio).all():
        raise AudioError(path, "audio contains NaN or Inf samples")
    return audio


def _load_fallback(path: str | Path, sr: int) -> np.ndarray:
    import soundfile as sf

    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types; the caller only needs one
        try:
            import librosa

            data, file_sr = librosa.load(str(path), sr=None, mono=False)
            data = np.atleast_2d(data).T
        except Exception:
            raise AudioError(path, f"unreadable audio ({err})") from err
    mono = data.mean(axis=1)
    if file_sr != sr:
        import librosa

        mono = librosa.resample(mono, orig_sr=file_sr, target_sr=sr, res_type="soxr_hq")
    return mono.astype(np.float32)


def render_midi(midi_path: str | Path, sr: int = SAMPLE_RATE, soundfont: str | Path | None = None,
                out_path: str | Path | None = None) -> np.ndarray:
    """Render a MIDI file to float32 mono at ``sr`` with FluidSynth (optionally also written to ``out_path``)."""
    try:
        from symcore.audio import render_midi as _render

        return np.asarray(_render(midi_path, sr=sr, soundfont=soundfont, out_path=out_path), dtype=np.float32)
    except ImportError:
        pass
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise RuntimeError("fluidsynth is not installed (apt-get install fluidsynth)")
    sf2 = find_soundfont(str(soundfont) if soundfont else None)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        proc = subprocess.run([exe, "-ni", "-q", "-g", "1.0", "-r", str(sr), "-F", str(wav), str(sf2),
                               str(midi_path)], capture_output=True, text=True)
        if proc.returncode != 0 or not wav.is_file():
            raise MidiError(midi_path, f"fluidsynth failed: {proc.stderr.strip()[:200]}")
        import soundfile as sf

        data, file_sr = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = data.mean(axis=1)
    if file_sr != sr:
        import librosa

        audio = librosa.resample(audio, orig_sr=file_sr, target_sr=sr)
    if out_path is not None:
        import soundfile as sf

        sf.write(str(out_path), audio, sr)
    return audio.astype(np.float32)


def piano_midi(src: str | Path, dst: str | Path) -> None:
    """Write ``src`` with every non-drum track switched to acoustic grand piano and drums removed
    (POP909's melody/bridge/piano tracks become one piano part)."""
    from symcore.notes import load_score

    score = load_score(src)
    keep = [t for t in score.tracks if not t.is_drum]
    score.tracks.clear()
    for t in keep:
        t.program = 0
        score.tracks.append(t)
    write_midi(score, dst)


def content_key(path: str | Path, *extra: str) -> str:
    """Cache key from a file's bytes plus settings, so edited files and other soundfonts re-render."""
    h = hashlib.sha1(Path(path).read_bytes())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:16]
