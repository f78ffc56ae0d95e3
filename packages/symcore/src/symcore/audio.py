"""Audio in (any soundfile-readable file to float32 at a fixed rate) and out (MIDI rendered by FluidSynth).

Resampling uses ``scipy.signal.resample_poly`` with the exact rational ratio of the two rates (44100 -> 16000 is
160/441), so no rate is approximated and the output length is ``ceil(n * up / down)``.
Rendering shells out to the ``fluidsynth`` program rather than a Python binding: it is what every Linux distro
packages, it renders faster than real time, and a crash in it cannot take the training process down.
symusic's built-in Synthesizer is an optional second backend, used only where it actually works (symusic 0.6
fails to hand its buffer to numpy >= 2.4).
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from symcore.errors import AudioError

SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/share/sounds/sf3")
# Small and fast first: rendering loads the whole soundfont per call, and TimGM6mb is 6 MB against FluidR3's 140 MB.
PREFERRED_SOUNDFONTS = ("TimGM6mb.sf2", "FluidR3_GM.sf2", "default-GM.sf2", "MuseScore_General.sf3")


def load_audio(path: str | Path, sr: int | None = 16000, mono: bool = True) -> np.ndarray:
    """float32 samples at ``sr`` (None keeps the file's rate): (n,) when mono (channels averaged), else (channels, n).

    Raises AudioError naming the file when it is missing, unreadable, has no samples or holds NaN/Inf.
    Silence is returned as is; check it with `is_silent` where sound is required.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file does not exist")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)  # (n, channels)
    except Exception as err:  # soundfile raises LibsndfileError/RuntimeError/TypeError depending on the damage
        raise AudioError(path, f"unreadable audio ({str(err).strip()[:200]})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "no samples (0-length audio)")
    if not np.isfinite(data).all():
        raise AudioError(path, "audio contains NaN or Inf samples")
    x = data.mean(axis=1) if mono else np.ascontiguousarray(data.T)
    if sr is not None and sr != file_sr:
        x = resample(x, file_sr, sr)
    return x.astype(np.float32, copy=False)


def resample(x: np.ndarray, orig_sr: int, sr: int) -> np.ndarray:
    """Polyphase resampling along the last axis by the exact ratio sr / orig_sr."""
    from scipy.signal import resample_poly

    if orig_sr == sr:
        return x
    g = math.gcd(int(orig_sr), int(sr))
    return resample_poly(x, int(sr) // g, int(orig_sr) // g, axis=-1).astype(np.float32)


def is_silent(x: np.ndarray, threshold_db: float = -60.0) -> bool:
    """True when the RMS level is below ``threshold_db`` dBFS (or there are no samples)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return True
    rms = math.sqrt(float(np.mean(x * x)))
    return rms == 0.0 or 20 * math.log10(rms) < threshold_db


def find_soundfont(name: str | Path | None = None) -> Path:
    """A General-MIDI soundfont.

    ``name`` may be a path, or a file name looked up in the system folders. Without a name: $SYMPHONIA_SOUNDFONT,
    then the preferred names, then any .sf2/.sf3 in the system folders.
    """
    if name is None and os.environ.get("SYMPHONIA_SOUNDFONT"):
        name = os.environ["SYMPHONIA_SOUNDFONT"]
        if not Path(name).is_file():
            raise FileNotFoundError(f"$SYMPHONIA_SOUNDFONT points to {name}, which does not exist")
    if name is not None and Path(name).is_file():
        return Path(name)
    dirs = [Path(d) for d in SOUNDFONT_DIRS if Path(d).is_dir()]
    wanted = [Path(name).name] if name is not None else list(PREFERRED_SOUNDFONTS)
    for w in wanted:
        for d in dirs:
            if (d / w).is_file():
                return d / w
    if name is None:
        for d in dirs:
            found = sorted(p for p in d.iterdir() if p.suffix.lower() in (".sf2", ".sf3") and p.is_file())
            if found:
                return found[0]
    raise FileNotFoundError(f"soundfont {name or '(any General MIDI)'} not found in {', '.join(SOUNDFONT_DIRS)}; "
                            "install one (apt-get install fluid-soundfont-gm) or set $SYMPHONIA_SOUNDFONT")


def render_midi(midi, sr: int = 16000, soundfont: str | Path | None = None, out_path: str | Path | None = None,
                gain: float | None = None, *, backend: str = "fluidsynth", timeout: float = 600.0) -> np.ndarray:
    """Render a MIDI file path, `NoteArray` or symusic Score to float32 mono at ``sr``.

    Raises MidiError for an unparsable MIDI file, AudioError when rendering fails, FileNotFoundError when the
    fluidsynth program or a soundfont is missing.

    gain None keeps FluidSynth's default (0.2, which leaves headroom for dense piano). ``out_path`` also writes
    the returned audio there (format from its suffix). backend "fluidsynth" (the CLI) or "symusic".
    """
    sf2 = find_soundfont(soundfont)
    with tempfile.TemporaryDirectory(prefix="symphonia-render-") as tmp:
        mid = _as_midi_file(midi, Path(tmp))
        if backend == "fluidsynth":
            audio = _render_fluidsynth(mid, sr, sf2, gain, Path(tmp) / "out.wav", timeout)
        elif backend == "symusic":
            audio = _render_symusic(mid, sr, sf2, gain)
        else:
            raise ValueError(f"unknown render backend {backend!r}; choose 'fluidsynth' or 'symusic'")
    if not np.isfinite(audio).all():
        raise AudioError(_label(midi), f"{backend} produced NaN/Inf samples")
    if out_path is not None:
        import soundfile as sf

        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(out_path), audio, sr)
    return audio


def _label(midi) -> str:
    return str(midi) if isinstance(midi, (str, Path)) else getattr(midi, "path", None) or f"<{type(midi).__name__}>"


def _as_midi_file(midi, tmp: Path) -> Path:
    if isinstance(midi, (str, Path)):
        if not Path(midi).is_file():
            raise AudioError(midi, "MIDI file to render does not exist")
        from symcore.notes import load_score

        load_score(midi)  # fluidsynth "renders" a damaged file as silence with exit 0: fail with a MidiError first
        return Path(midi)
    out = tmp / "in.mid"
    if hasattr(midi, "dump_midi"):  # a symusic Score
        midi.dump_midi(str(out))
        return out
    from symcore.midi_write import write_midi

    write_midi(midi, out)
    return out


def _render_fluidsynth(mid: Path, sr: int, sf2: Path, gain, wav: Path, timeout: float) -> np.ndarray:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise FileNotFoundError("the fluidsynth program is not installed (apt-get install fluidsynth)")
    cmd = [exe, "-ni", "-q", "-r", str(int(sr)), "-F", str(wav)]
    if gain is not None:
        cmd += ["-g", str(float(gain))]
    cmd += [str(sf2), str(mid)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AudioError(mid, f"fluidsynth did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0 or not wav.is_file() or wav.stat().st_size <= 44:
        msg = (proc.stderr or proc.stdout).strip()[:300]
        raise AudioError(mid, f"fluidsynth failed (exit {proc.returncode}): {msg or 'no audio written'}")
    try:
        return load_audio(wav, sr=sr)  # stereo -> mono; resamples only if fluidsynth ignored -r
    except AudioError as err:
        raise AudioError(mid, f"fluidsynth output unusable: {err.cause}") from None


def _render_symusic(mid: Path, sr: int, sf2: Path, gain) -> np.ndarray:
    import symusic

    try:
        synth = symusic.Synthesizer(sf_path=str(sf2), sample_rate=int(sr))
        audio = np.asarray(synth.render(symusic.Score(str(mid)), stereo=True), dtype=np.float32)
    except Exception as err:  # e.g. symusic 0.6 with numpy >= 2.4: "Unable to convert function return value"
        raise AudioError(mid, f"symusic Synthesizer unusable here ({str(err).splitlines()[0][:160]}); "
                              "use backend='fluidsynth'") from None
    audio = audio.mean(axis=0) if audio.ndim == 2 else audio
    return audio * (1.0 if gain is None else float(gain))


@functools.cache
def symusic_synth_works() -> bool:
    """Whether symusic's Synthesizer renders in this environment (probed once on a one-note score)."""
    import symusic

    try:
        score = symusic.Score(480)
        track = symusic.Track(program=0)
        track.notes.append(symusic.Note(0, 240, 60, 100))
        score.tracks.append(track)
        synth = symusic.Synthesizer(sf_path=str(find_soundfont()), sample_rate=16000)
        return np.asarray(synth.render(score, stereo=True)).size > 0
    except Exception:
        return False
