"""Paired audio + MIDI for transcription: rendered once and cached, cut into 10 s segments with roll targets and
hierarchical note tokens.

A piece in the cache is ``<key>.npy`` (int16 mono 16 kHz audio, memory-mapped at train time) and ``<key>.npz``
(note onset/offset seconds with the sustain pedal folded in, pitch, velocity). Keys hash the MIDI bytes and the
soundfont, so the same corpus rendered with another soundfont (the evaluation one) lives beside it.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from symcore.errors import MidiError
from symcore.paths import cache_root
from symtok import transcription as tt
from torch.utils.data import DataLoader, Dataset

from hiertrans.audio import SAMPLE_RATE, content_key, find_soundfont, load_audio, piano_midi, render_midi
from hiertrans.sources import maestro_pieces, source_files
from hiertrans.targets import frame_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    """A cached audio file with its reference notes (seconds, sustain folded, same-pitch overlaps trimmed)."""

    audio_path: Path
    notes_path: Path
    name: str

    def audio(self) -> np.ndarray:
        """Int16 samples, memory-mapped: a segment read touches only its own pages."""
        return np.load(self.audio_path, mmap_mode="r")

    def notes(self) -> dict[str, np.ndarray]:
        with np.load(self.notes_path) as z:
            return {k: z[k] for k in ("onset", "offset", "pitch", "velocity")}

    @property
    def seconds(self) -> float:
        return len(self.audio()) / SAMPLE_RATE

    def excerpt(self, seconds: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The first ``seconds`` as float32 audio, with the notes starting inside them (offsets cut at the end), so an
        evaluation on an excerpt does not count notes the audio cannot contain."""
        audio = np.asarray(self.audio()[: int(seconds * SAMPLE_RATE)], np.float32) / 32767.0
        end = len(audio) / SAMPLE_RATE
        ref = self.notes()
        keep = ref["onset"] < end
        ref = {k: v[keep] for k, v in ref.items()}
        ref["offset"] = np.minimum(ref["offset"], end)
        return audio, ref


def midi_notes(midi_path: str | Path) -> dict[str, np.ndarray]:
    """Reference notes for evaluation/training: non-drum notes, offsets extended by the sustain pedal."""
    from symcore.notes import load_notes

    notes = load_notes(midi_path, sustain=True, drop_drums=True)
    notes = notes.select(notes.is_drum == False)  # noqa: E712  (load_notes may keep drums when asked not to drop)
    on = notes.onset_sec.astype(np.float64)
    off = tt.trim_overlaps(on, notes.offset_sec, notes.pitch)
    return {"onset": on, "offset": off, "pitch": notes.pitch.astype(np.int64),
            "velocity": notes.velocity.astype(np.int64)}


def _save(out: Path, key: str, audio: np.ndarray, notes: dict[str, np.ndarray], name: str) -> Piece:
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    scaled = audio / peak * 0.9 if peak > 0 else audio  # renders differ wildly in level; gain is augmented later
    tmp = out / f"{key}.tmp.npy"
    np.save(tmp, (scaled * 32767).astype(np.int16))
    np.savez(out / f"{key}.npz", **notes, name=name)
    tmp.rename(out / f"{key}.npy")  # audio last: its presence marks a complete entry
    return Piece(out / f"{key}.npy", out / f"{key}.npz", name)


def render_piece(midi_path: str | Path, soundfont: str | Path | None = None,
                 cache_dir: str | Path | None = None, program: int = 0) -> Piece:
    """Render (all tracks as GM piano ``program``, see ``piano_midi``) and cache one MIDI file; re-uses the cached
    copy when present."""
    sf2 = find_soundfont(str(soundfont) if soundfont else None)
    out = Path(cache_dir) if cache_dir else cache_root() / "hiertrans" / "rendered"
    out.mkdir(parents=True, exist_ok=True)
    key = content_key(midi_path, sf2.name, *([f"program {program}"] if program else []))
    if (out / f"{key}.npy").is_file():
        return Piece(out / f"{key}.npy", out / f"{key}.npz", Path(midi_path).stem)
    notes = midi_notes(midi_path)
    if len(notes["pitch"]) == 0:
        raise MidiError(midi_path, "no pitched notes to transcribe")
    with tempfile.TemporaryDirectory() as tmp:
        piano = Path(tmp) / "piano.mid"
        piano_midi(midi_path, piano, program)
        audio = render_midi(piano, sr=SAMPLE_RATE, soundfont=sf2)
    return _save(out, key, audio, notes, Path(midi_path).stem)


def recorded_piece(audio_path: str | Path, midi_path: str | Path, cache_dir: str | Path | None = None) -> Piece:
    """A real recording with its aligned MIDI (MAESTRO), converted once to the same cached form."""
    out = Path(cache_dir) if cache_dir else cache_root() / "hiertrans" / "recorded"
    out.mkdir(parents=True, exist_ok=True)
    key = content_key(midi_path, str(audio_path))
    if (out / f"{key}.npy").is_file():
        return Piece(out / f"{key}.npy", out / f"{key}.npz", Path(midi_path).stem)
    return _save(out, key, load_audio(audio_path), midi_notes(midi_path), Path(midi_path).stem)


def render_many(files, soundfont=None, cache_dir=None, program: int = 0) -> tuple[list[Piece], list[tuple[Path, str]]]:
    """Render a batch, skipping (and returning) files that fail, with the reason."""
    pieces, failed = [], []
    for f in files:
        try:
            pieces.append(render_piece(f, soundfont, cache_dir, program))
        except (MidiError, OSError, ValueError, RuntimeError) as err:
            failed.append((Path(f), str(err)))
            log.warning("skipped %s: %s", f, err)
    return pieces, failed


class SegmentDataset(Dataset):
    """Fixed-length windows over cached pieces, each with roll targets and the hierarchical token sequences.

    Training windows start at a random offset inside their slot (``random_offset``) and get a random gain;
    evaluation windows are the fixed grid.
    """

    def __init__(self, pieces: list[Piece], seconds: float = tt.SEGMENT_SECONDS, fps: float = 100.0,
                 random_offset: bool = False, gain_db: float = 0.0, noise: float = 0.0, tokens: bool = True,
                 seed: int = 0):
        self.pieces, self.seconds, self.fps = pieces, seconds, fps
        self.random_offset, self.gain_db, self.noise, self.tokens = random_offset, gain_db, noise, tokens
        self.rng = np.random.default_rng(seed)
        self.n_samples = int(round(seconds * SAMPLE_RATE))
        self.n_frames = int(round(seconds * fps))
        self.index = [(i, s) for i, p in enumerate(pieces)
                      for s in np.arange(0.0, max(p.seconds - 1.0, 0.0), seconds)]
        self._notes: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        pi, start = self.index[i]
        piece = self.pieces[pi]
        if self.random_offset:
            start = float(start + self.rng.uniform(0, self.seconds))
            start = round(min(start, max(piece.seconds - self.seconds, 0.0)) * self.fps) / self.fps
        raw = piece.audio()
        a = int(round(start * SAMPLE_RATE))
        audio = np.zeros(self.n_samples, np.float32)
        chunk = np.asarray(raw[a:a + self.n_samples], dtype=np.float32) / 32767.0
        audio[: len(chunk)] = chunk
        if self.gain_db:
            audio *= 10 ** (self.rng.uniform(-self.gain_db, self.gain_db) / 20)
        if self.noise:
            audio += self.rng.normal(0, self.noise * self.rng.uniform(), self.n_samples).astype(np.float32)
        notes = self._notes.setdefault(pi, piece.notes())
        item = {"audio": torch.from_numpy(audio), "start": torch.tensor(start)}
        rolls = frame_targets(notes["onset"], notes["offset"], notes["pitch"], notes["velocity"],
                              start=start, n_frames=self.n_frames, fps=self.fps)
        item.update({k: torch.from_numpy(v) for k, v in rolls.items()})
        if self.tokens:
            seg = tt.segment_notes(notes["onset"], notes["offset"], notes["pitch"], notes["velocity"], start,
                                   self.seconds)
            vel, vmask = tt.velocity_sequence(seg)
            off, omask = tt.offset_sequence(seg)
            item.update(onset_tokens=torch.from_numpy(tt.onset_sequence(seg)), velocity_tokens=torch.from_numpy(vel),
                        velocity_mask=torch.from_numpy(vmask), offset_tokens=torch.from_numpy(off),
                        offset_mask=torch.from_numpy(omask), flat_tokens=torch.from_numpy(tt.flat_sequence(seg)))
        return item


def collate(items: list[dict[str, torch.Tensor]], max_tokens: int = 1024) -> dict[str, torch.Tensor]:
    """Stack fixed-size fields; right-pad token sequences with PAD (masks with False), cut at ``max_tokens``."""
    out = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        if k.endswith("_tokens") or k.endswith("_mask"):
            n = min(max(len(v) for v in vals), max_tokens)
            pad = torch.zeros(len(vals), n, dtype=vals[0].dtype)
            for j, v in enumerate(vals):
                pad[j, : min(len(v), n)] = v[:n]
            out[k] = pad
        else:
            out[k] = torch.stack(vals)
    return out


class TranscriptionDataModule(L.LightningDataModule):
    """Rendered corpora (or a MAESTRO folder) as 10 s training windows and a fixed held-out grid.

    Training pieces use ``train_soundfonts`` (one picked per piece, a cheap timbre augmentation); validation uses
    held-out pieces rendered with ``eval_soundfont``, a soundfont never heard in training.
    """

    def __init__(self, sources: list[str] = ("pop909", "asap", "cpm"), limit_per_source: int | None = 20,
                 val_limit_per_source: int | None = 2, train_soundfonts: list[str] = ("TimGM6mb.sf2",),
                 eval_soundfont: str = "FluidR3_GM.sf2", maestro_root: str | None = None,
                 segment_seconds: float = tt.SEGMENT_SECONDS, fps: float = 100.0, batch_size: int = 4,
                 num_workers: int = 0, gain_db: float = 6.0, noise: float = 0.002, tokens: bool = True,
                 max_tokens: int = 1024, val_segments: int | None = 24, data_root: str | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.train_set: SegmentDataset | None = None
        self.val_set: SegmentDataset | None = None

    def _render(self, split: str, limit, soundfonts) -> list[Piece]:
        h = self.hparams
        if h.maestro_root:
            mp = maestro_pieces(h.maestro_root, "train" if split == "train" else "validation")[:limit]
            return [recorded_piece(p.audio, p.midi) for p in mp]
        files = source_files(list(h.sources), split, limit, h.data_root)
        pieces: list[Piece] = []
        for j, f in enumerate(files):
            got, _ = render_many([f], soundfonts[j % len(soundfonts)])
            pieces += got
        return pieces

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        if self.train_set is None:
            train = self._render("train", h.limit_per_source, list(h.train_soundfonts))
            val = self._render("test", h.val_limit_per_source, [h.eval_soundfont])
            if not train:
                raise RuntimeError("no training pieces could be rendered (check $SYMPHONIA_DATA and fluidsynth)")
            self.train_set = SegmentDataset(train, h.segment_seconds, h.fps, True, h.gain_db, h.noise, h.tokens)
            self.val_set = SegmentDataset(val or train[:1], h.segment_seconds, h.fps, tokens=h.tokens)
            if h.val_segments and len(self.val_set.index) > h.val_segments:
                step = len(self.val_set.index) / h.val_segments
                self.val_set.index = [self.val_set.index[int(i * step)] for i in range(h.val_segments)]

    def _loader(self, ds, shuffle):
        return DataLoader(ds, batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers,
                          collate_fn=lambda b: collate(b, self.hparams.max_tokens))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)
