"""Audio for transcription on top of symcore.audio (the project's one reader, soundfont finder and renderer):
hour-long files streamed in blocks with bounded memory, NaN/empty checks that name the file, MIDI made all-piano
for rendering, and cache keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from symcore.audio import find_soundfont, render_midi  # noqa: F401  (re-exported for hiertrans users)
from symcore.audio import load_audio as _load
from symcore.errors import AudioError
from symcore.midi_write import write_midi

SAMPLE_RATE = 16000
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
    audio = np.asarray(_load(path, sr=sr), dtype=np.float32)
    if audio.size == 0:
        raise AudioError(path, "no samples")
    if not np.isfinite(audio).all():
        raise AudioError(path, "audio contains NaN or Inf samples")
    return audio


def piano_midi(src: str | Path, dst: str | Path, program: int = 0) -> None:
    """Write ``src`` with every non-drum track switched to one piano and drums removed (POP909's melody/bridge/piano
    tracks become one piano part); ``program`` 0 is the acoustic grand, 1-3 the bright, electric and honky-tonk GM
    pianos (other timbres from the same soundfont)."""
    from symcore.notes import load_score

    score = load_score(src)
    keep = [t for t in score.tracks if not t.is_drum]
    score.tracks.clear()
    for t in keep:
        t.program = program
        score.tracks.append(t)
    write_midi(score, dst)


def content_key(path: str | Path, *extra: str) -> str:
    """Cache key from a file's bytes plus settings, so edited files and other soundfonts re-render."""
    h = hashlib.sha1(Path(path).read_bytes())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:16]
