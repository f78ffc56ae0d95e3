"""Vectorised note arrays read from MIDI with symusic.

Everything downstream (tokenizers, pianorolls, augmentation, datasets) works on `NoteArray`: one numpy
column per attribute, sorted by (onset, track, pitch) so that the order is deterministic and matches
MidiBERT's merge order (at equal onset: instrument index, then ascending pitch).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import symusic

from symcore.errors import EmptyMidiError, MidiError

SUSTAIN_CC = 64

TEMPO_DTYPE = np.dtype([("tick", np.int64), ("qpm", np.float64)])
TIMESIG_DTYPE = np.dtype([("tick", np.int64), ("numerator", np.int16), ("denominator", np.int16)])
KEYSIG_DTYPE = np.dtype([("tick", np.int64), ("key", np.int8), ("tonality", np.int8)])


@dataclass(frozen=True)
class NoteArray:
    """Notes of one piece as parallel arrays (ticks are the file's own resolution, `tpq` per quarter)."""

    onset: np.ndarray  # (N,) int64 ticks
    duration: np.ndarray  # (N,) int64 ticks
    pitch: np.ndarray  # (N,) int16, 0..127
    velocity: np.ndarray  # (N,) int16, 1..127
    track: np.ndarray  # (N,) int16 index into the score's tracks
    program: np.ndarray  # (N,) int16 GM program 0..127
    is_drum: np.ndarray  # (N,) bool
    onset_sec: np.ndarray  # (N,) float64 seconds through the tempo map
    duration_sec: np.ndarray  # (N,) float64
    tpq: int = 480
    tempos: np.ndarray = field(default_factory=lambda: np.zeros(0, TEMPO_DTYPE))
    time_signatures: np.ndarray = field(default_factory=lambda: np.zeros(0, TIMESIG_DTYPE))
    key_signatures: np.ndarray = field(default_factory=lambda: np.zeros(0, KEYSIG_DTYPE))
    track_names: tuple[str, ...] = ()
    path: str | None = None

    def __len__(self) -> int:
        return int(self.onset.shape[0])

    @property
    def offset(self) -> np.ndarray:
        return self.onset + self.duration

    @property
    def offset_sec(self) -> np.ndarray:
        return self.onset_sec + self.duration_sec

    @property
    def onset_quarter(self) -> np.ndarray:
        return self.onset / self.tpq

    @property
    def duration_quarter(self) -> np.ndarray:
        return self.duration / self.tpq

    def select(self, mask_or_index: np.ndarray) -> NoteArray:
        """A subset of notes (boolean mask or index array); metadata is kept."""
        cols = {name: getattr(self, name)[mask_or_index] for name in NOTE_COLUMNS}
        return replace(self, **cols)

    def with_columns(self, **cols: np.ndarray) -> NoteArray:
        return replace(self, **cols)

    def sorted(self) -> NoteArray:
        order = np.lexsort((self.pitch, self.track, self.onset))
        return self.select(order)


NOTE_COLUMNS = (
    "onset", "duration", "pitch", "velocity", "track", "program", "is_drum", "onset_sec", "duration_sec",
)


def load_score(source: str | Path | bytes, *, path_hint: str | None = None) -> symusic.Score:
    """Parse a MIDI file (path or bytes) with symusic; any failure becomes a `MidiError` naming the file."""
    name = path_hint or (None if isinstance(source, bytes) else str(source))
    try:
        if isinstance(source, bytes):
            return symusic.Score.from_midi(source)
        path = Path(source)
        if not path.is_file():
            raise MidiError(name, "file not found")
        if path.stat().st_size == 0:
            raise MidiError(name, "file is empty (0 bytes)")
        with path.open("rb") as fh:
            if fh.read(4) not in (b"MThd", b"RIFF"):
                raise MidiError(name, "not a MIDI file (no MThd header)")
        return symusic.Score(str(path))
    except MidiError:
        raise
    except Exception as exc:  # symusic raises RuntimeError/ValueError/IndexError for damaged files
        raise MidiError(name, f"cannot parse MIDI ({type(exc).__name__}: {exc})") from exc


def fold_sustain(onset: np.ndarray, offset: np.ndarray, ped_on: np.ndarray, ped_off: np.ndarray) -> np.ndarray:
    """New offsets: a note released while the pedal is down ends when the pedal is released.

    Pedal intervals are [ped_on, ped_off); they come from symusic's CC64 pairing (value >= 64 is down).
    Notes never get shorter.
    """
    if ped_on.size == 0 or offset.size == 0:
        return offset.copy()
    order = np.argsort(ped_on, kind="stable")
    ped_on, ped_off = ped_on[order], ped_off[order]
    idx = np.searchsorted(ped_on, offset, side="right") - 1  # last pedal starting at or before the release
    inside = (idx >= 0) & (offset < ped_off[np.maximum(idx, 0)])
    out = offset.copy()
    out[inside] = np.maximum(offset[inside], ped_off[idx[inside]])
    return out


def _tempo_array(score: symusic.Score) -> np.ndarray:
    t = score.tempos.numpy()
    arr = np.zeros(len(t["time"]), TEMPO_DTYPE)
    arr["tick"], arr["qpm"] = t["time"], 6e7 / np.maximum(t["mspq"], 1)
    return arr


def ticks_to_seconds(ticks: np.ndarray, tempos: np.ndarray, tpq: int) -> np.ndarray:
    """Seconds at each tick through a piecewise-constant tempo map (120 qpm before the first change)."""
    ticks = np.asarray(ticks, dtype=np.float64)
    if tempos.size == 0 or tempos["tick"][0] > 0:
        tempos = np.concatenate([np.array([(0, 120.0)], TEMPO_DTYPE), tempos])
    t_tick = tempos["tick"].astype(np.float64)
    sec_per_tick = 60.0 / (tempos["qpm"] * tpq)
    t_sec = np.concatenate([[0.0], np.cumsum(np.diff(t_tick) * sec_per_tick[:-1])])
    i = np.searchsorted(t_tick, ticks, side="right") - 1
    i = np.clip(i, 0, len(t_tick) - 1)
    return t_sec[i] + (ticks - t_tick[i]) * sec_per_tick[i]


def load_notes(
    source: str | Path | bytes | symusic.Score,
    *,
    sustain: bool = False,
    drop_drums: bool = False,
    allow_empty: bool = False,
    path_hint: str | None = None,
) -> NoteArray:
    """Read all tracks of a MIDI file into one sorted `NoteArray`.

    `sustain=True` folds each track's sustain pedal (CC64) into note durations. An empty but valid file raises
    `EmptyMidiError` unless `allow_empty`.
    """
    name = path_hint or (str(source) if isinstance(source, (str, Path)) else None)
    score = source if isinstance(source, symusic.Score) else load_score(source, path_hint=name)
    tpq = int(score.ticks_per_quarter)
    if tpq <= 0:
        raise MidiError(name, f"invalid ticks per quarter ({tpq})")
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("onset", "offset", "pitch", "velocity", "track", "program", "is_drum")}
    for ti, track in enumerate(score.tracks):
        n = track.notes.numpy()
        if len(n["time"]) == 0 or (drop_drums and track.is_drum):
            continue
        onset = n["time"].astype(np.int64)
        offset = onset + np.maximum(n["duration"].astype(np.int64), 0)
        if sustain:
            ped = track.pedals.numpy()
            p_on = ped["time"].astype(np.int64)
            offset = fold_sustain(onset, offset, p_on, p_on + ped["duration"].astype(np.int64))
        k = len(onset)
        cols["onset"].append(onset)
        cols["offset"].append(offset)
        cols["pitch"].append(n["pitch"].astype(np.int16))
        cols["velocity"].append(n["velocity"].astype(np.int16))
        cols["track"].append(np.full(k, ti, np.int16))
        cols["program"].append(np.full(k, int(track.program), np.int16))
        cols["is_drum"].append(np.full(k, bool(track.is_drum)))
    if not cols["onset"]:
        if not allow_empty:
            raise EmptyMidiError(name, "valid MIDI but it contains no notes")
        cat = {k: np.zeros(0, np.int64 if k in ("onset", "offset") else (bool if k == "is_drum" else np.int16)) for k in cols}
    else:
        cat = {k: np.concatenate(v) for k, v in cols.items()}
    tempos = _tempo_array(score)
    on_sec = ticks_to_seconds(cat["onset"], tempos, tpq)
    off_sec = ticks_to_seconds(cat["offset"], tempos, tpq)
    ts = score.time_signatures.numpy()
    tsa = np.zeros(len(ts["time"]), TIMESIG_DTYPE)
    tsa["tick"], tsa["numerator"], tsa["denominator"] = ts["time"], ts["numerator"], ts["denominator"]
    ks = score.key_signatures.numpy()
    ksa = np.zeros(len(ks["time"]), KEYSIG_DTYPE)
    ksa["tick"], ksa["key"], ksa["tonality"] = ks["time"], ks["key"], ks["tonality"]
    notes = NoteArray(
        onset=cat["onset"], duration=cat["offset"] - cat["onset"], pitch=cat["pitch"], velocity=cat["velocity"],
        track=cat["track"], program=cat["program"], is_drum=cat["is_drum"], onset_sec=on_sec,
        duration_sec=off_sec - on_sec, tpq=tpq, tempos=tempos, time_signatures=tsa, key_signatures=ksa,
        track_names=tuple(t.name for t in score.tracks), path=name,
    )
    return notes.sorted()
