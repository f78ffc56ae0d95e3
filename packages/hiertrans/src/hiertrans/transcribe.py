"""Audio of any length -> notes, in 10 s segments with bounded memory.

Roll decoding keeps only the (T, 88) probabilities (as uint8) for the whole file and post-processes once; the LM
decoders work segment by segment and stitch, carrying notes still sounding at a segment end into the next one as
``<cont>`` prefixes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from symcore.errors import AudioError
from symcore.midi_write import write_midi
from symtok import transcription as tt

from hiertrans import generate
from hiertrans.audio import SAMPLE_RATE, load_audio
from hiertrans.postprocess import RollThresholds, rolls_to_notes

SEGMENT = int(tt.SEGMENT_SECONDS * SAMPLE_RATE)


def check_audio(audio: np.ndarray, name: str | Path | None = None) -> np.ndarray:
    """Reject what cannot be transcribed, naming the file: empty, NaN/Inf, digital silence."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise AudioError(name, f"expected mono samples, got shape {audio.shape}")
    if audio.size == 0:
        raise AudioError(name, "no samples")
    if not np.isfinite(audio).all():
        raise AudioError(name, "audio contains NaN or Inf samples")
    if float(np.abs(audio).max()) < 1e-5:
        raise AudioError(name, "audio is silent (peak below -100 dBFS)")
    return audio


def _segments(audio: np.ndarray, batch: int):
    """Yield (starts, (B, SEGMENT) tensor) over the file, zero-padding the last segment."""
    starts = list(range(0, len(audio), SEGMENT))
    for i in range(0, len(starts), batch):
        chunk = starts[i:i + batch]
        x = np.zeros((len(chunk), SEGMENT), np.float32)
        for j, s in enumerate(chunk):
            piece = audio[s:s + SEGMENT]
            x[j, : len(piece)] = piece
        yield chunk, torch.from_numpy(x)


def prepare(audio: np.ndarray, name: str | Path | None = None) -> np.ndarray:
    """Checked (see ``check_audio``) and peak-normalised to 0.9, as the training audio was before gain augmentation."""
    audio = check_audio(audio, name)
    return audio * (0.9 / max(float(np.abs(audio).max()), 1e-8))


@torch.no_grad()
def transcribe_array(model, audio: np.ndarray, decoder: str = "roll", batch: int = 2, progress: bool = False,
                     thresholds: RollThresholds | None = None, name: str | None = None) -> dict[str, np.ndarray]:
    """16 kHz mono -> notes {onset, offset (seconds), pitch, velocity}."""
    audio = prepare(audio, name)
    model.eval()
    if thresholds is None and "thresholds" in getattr(model, "extra", {}):
        thresholds = RollThresholds(**model.extra["thresholds"])  # tuned when the checkpoint was shipped
    n_seg = (len(audio) + SEGMENT - 1) // SEGMENT
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_seg, unit="seg", desc=str(name or "audio"), leave=False)
    try:
        if decoder == "roll":
            return _roll(model, audio, batch, bar, thresholds)
        if decoder in ("hier", "flat"):
            return _lm(model, audio, batch, bar, decoder)
        raise ValueError(f"unknown decoder {decoder!r}: roll, hier or flat")
    finally:
        if bar is not None:
            bar.close()


def _roll(model, audio, batch, bar, thresholds):
    r = roll_probabilities(model, audio, batch, bar)
    return rolls_to_notes(r["reg_onset"], r["reg_offset"], r["frame"], r["velocity"], model.fps, thresholds,
                          getattr(model, "note_filter", None))


@torch.no_grad()
def roll_probabilities(model, audio: np.ndarray, batch: int = 2, bar=None) -> dict[str, np.ndarray]:
    """``prepare``d 16 kHz mono -> the encoder's (T, 88) float16 probability rolls for the whole file.

    Kept apart from the note decoding so threshold tuning runs the network once per file.
    """
    model.eval()
    fps = model.fps
    per_seg = int(round(tt.SEGMENT_SECONDS * fps))
    n_frames = int(np.ceil(len(audio) / SAMPLE_RATE * fps))
    rolls = {k: np.zeros((n_frames + per_seg, 88), np.uint8) for k in ("reg_onset", "reg_offset", "frame", "velocity")}
    for starts, x in _segments(audio, batch):
        out = model(x)
        for j, s in enumerate(starts):
            f0 = int(round(s / SAMPLE_RATE * fps))
            for k in rolls:
                p = torch.sigmoid(out[k][j]).numpy()
                rolls[k][f0:f0 + len(p)] = np.round(p * 255).astype(np.uint8)
        if bar is not None:
            bar.update(len(starts))
    # float16 halves the memory of the whole-file rolls (an hour: 4 x 360k x 88) and is ample for thresholds
    r = {k: (v[:n_frames] / np.float16(255.0)).astype(np.float16) for k, v in rolls.items()}
    del rolls
    return r


def _lm(model, audio, batch, bar, decoder):
    """Segments must be decoded in order (each one's continuing notes come from the previous), so the batch
    dimension is unused here except for the encoder; decoding dominates anyway."""
    names = ("onset", "velocity", "offset") if decoder == "hier" else ("flat",)
    missing = [n for n in names if n not in model.decoders]
    if missing:
        raise ValueError(f"this checkpoint has no {', '.join(missing)} decoder (has: {list(model.decoders)})")
    segs, seg_starts, carried = [], [], []
    for starts, x in _segments(audio, batch):
        feats = model(x)["features"]
        for j, s in enumerate(starts):
            f = feats[j:j + 1]
            if decoder == "hier":
                ons = generate.decode_onsets(model.decoders["onset"], f, [carried])[0]
                notes = tt.decode_onsets(ons)
                vel = generate.decode_attributes(model.decoders["velocity"], f, [notes], tt.TASK_VELOCITY)[0]
                off = generate.decode_attributes(model.decoders["offset"], f, [notes], tt.TASK_OFFSET)[0]
                seg = tt.decode_hierarchical(ons, vel, off)
            else:
                seg = tt.decode_flat(generate.decode_flat(model.decoders["flat"], f, [carried])[0])
            carried = sorted({int(p) for p, o in zip(seg.pitch, seg.offset) if np.isnan(o)})
            segs.append(seg)
            seg_starts.append(s / SAMPLE_RATE)
        if bar is not None:
            bar.update(len(starts))
    on, off, p, v = tt.stitch_segments(segs, seg_starts, final_end=len(audio) / SAMPLE_RATE)
    return {"onset": on, "offset": off, "pitch": p, "velocity": np.clip(v, 1, 127)}


def transcribe_file(model, path: str | Path, **kw) -> dict[str, np.ndarray]:
    return transcribe_array(model, load_audio(path), name=str(path), **kw)


def write_notes_midi(notes: dict[str, np.ndarray], path: str | Path) -> None:
    """A one-track piano MIDI at 120 qpm (1 tick = 1 ms at tpq 500), so seconds map exactly."""
    import symusic

    score = symusic.Score(500)
    score.tempos.append(symusic.Tempo(0, 120.0))
    track = symusic.Track("piano", 0, False)
    for on, off, p, v in zip(notes["onset"], notes["offset"], notes["pitch"], notes["velocity"]):
        t0 = int(round(on * 1000))
        track.notes.append(symusic.Note(t0, max(int(round(off * 1000)) - t0, 1), int(p), int(np.clip(v, 1, 127))))
    score.tracks.append(track)
    write_midi(score, path)
