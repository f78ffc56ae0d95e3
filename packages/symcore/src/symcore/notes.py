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
MAX_PIECE_SECONDS = 24 * 3600.0  # longer "pieces" come from absurd tempi/delta times, not from music

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
            check_chunks(source, name)
            return symusic.Score.from_midi(source)
        path = Path(source)
        if not path.is_file():
            raise MidiError(name, "file not found")
        if path.stat().st_size == 0:
            raise MidiError(name, "file is empty (0 bytes)")
        data = path.read_bytes()
        if data[:4] not in (b"MThd", b"RIFF"):
            raise MidiError(name, "not a MIDI file (no MThd header)")
        check_chunks(data, name)
        return symusic.Score.from_midi(data)
    except MidiError:
        raise
    except Exception as exc:  # symusic raises RuntimeError/ValueError/IndexError for damaged files
        raise MidiError(name, f"cannot parse MIDI ({type(exc).__name__}: {exc})") from exc


def check_chunks(data: bytes, name: str | None) -> None:
    """Raise `MidiError` for a truncated SMF: symusic silently reads what is there, we want to know.

    Walks the chunk headers only (cheap): a chunk longer than the bytes left, or fewer track chunks than the
    header declares, means the file was cut. RIFF-wrapped (RMID) files are left to symusic.
    """
    if data[:4] == b"RIFF":
        return
    if len(data) < 14 or data[:4] != b"MThd":
        raise MidiError(name, f"not a MIDI file or truncated header ({len(data)} bytes)")
    hlen = int.from_bytes(data[4:8], "big")
    if hlen < 6 or 8 + hlen > len(data):
        raise MidiError(name, f"damaged header chunk (length {hlen})")
    n_tracks = int.from_bytes(data[10:12], "big")
    pos, found = 8 + hlen, 0
    while pos + 8 <= len(data) and found < n_tracks:
        length = int.from_bytes(data[pos + 4:pos + 8], "big")
        if pos + 8 + length > len(data):
            raise MidiError(name, f"truncated: chunk at byte {pos} declares {length} bytes, {len(data) - pos - 8} left")
        found += data[pos:pos + 4] == b"MTrk"
        pos += 8 + length
    if found < n_tracks:
        raise MidiError(name, f"truncated: header declares {n_tracks} tracks, file holds {found}")


def fold_sustain(
    onset: np.ndarray, offset: np.ndarray, ped_on: np.ndarray, ped_off: np.ndarray, pitch: np.ndarray | None = None,
) -> np.ndarray:
    """New offsets: a note released while the pedal is down ends when the pedal is released.

    Pedal intervals are [ped_on, ped_off); they come from symusic's CC64 pairing (value >= 64 is down).
    Notes never get shorter. With `pitch`, a held note also ends where the same key is struck again (as a
    piano damps and re-excites the string; the MAESTRO/Kong convention), so same-pitch notes do not overlap.
    """
    if ped_on.size == 0 or offset.size == 0:
        return offset.copy()
    order = np.argsort(ped_on, kind="stable")
    ped_on, ped_off = ped_on[order], ped_off[order]
    idx = np.searchsorted(ped_on, offset, side="right") - 1  # last pedal starting at or before the release
    inside = (idx >= 0) & (offset < ped_off[np.maximum(idx, 0)])
    out = offset.copy()
    out[inside] = np.maximum(offset[inside], ped_off[idx[inside]])
    if pitch is not None and len(out) > 1:
        o = np.lexsort((onset, pitch))  # by pitch, then onset: the next same-pitch onset is the next row
        same = pitch[o][1:] == pitch[o][:-1]
        nxt = np.full(len(o), np.iinfo(np.int64).max)
        nxt[:-1] = np.where(same, onset[o][1:], nxt[:-1])
        cut = np.empty_like(out)
        cut[o] = nxt
        out = np.where(out > offset, np.maximum(offset, np.minimum(out, cut)), out)
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
    sustain: bool | str = False,
    drop_drums: bool = False,
    allow_empty: bool = False,
    path_hint: str | None = None,
) -> NoteArray:
    """Read all tracks of a MIDI file into one sorted `NoteArray`.

    `sustain=True` folds each track's sustain pedal (CC64) into note durations; `sustain="restrike"` also ends a
    pedal-held note where its key is struck again (see `fold_sustain`). An empty but valid file raises
    `EmptyMidiError` unless `allow_empty`.
    """
    if sustain not in (False, True, "restrike"):
        raise ValueError(f"sustain must be False, True or 'restrike', not {sustain!r}")
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
        if onset.min() < 0 or n["duration"].min() < 0:  # symusic sums delta times in int32: huge ones wrap
            raise MidiError(name, f"track {ti}: note times overflow 32-bit ticks (absurd delta times)")
        offset = onset + np.maximum(n["duration"].astype(np.int64), 0)
        if sustain:
            ped = track.pedals.numpy()
            p_on = ped["time"].astype(np.int64)
            offset = fold_sustain(onset, offset, p_on, p_on + ped["duration"].astype(np.int64),
                                  n["pitch"] if sustain == "restrike" else None)
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
    if (tempos["tick"] < 0).any():
        raise MidiError(name, "tempo change times overflow 32-bit ticks (absurd delta times)")
    on_sec = ticks_to_seconds(cat["onset"], tempos, tpq)
    off_sec = ticks_to_seconds(cat["offset"], tempos, tpq)
    if off_sec.size and not off_sec.max() <= MAX_PIECE_SECONDS:  # would make downstream rolls/tokens explode
        raise MidiError(name, f"notes end at {off_sec.max():.3g} s, over {MAX_PIECE_SECONDS:.0f} s "
                              "(absurd tempo or delta times)")
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


def seconds_to_ticks(seconds: np.ndarray, tempos: np.ndarray, tpq: int) -> np.ndarray:
    """Inverse of `ticks_to_seconds` (float ticks; the caller rounds)."""
    seconds = np.asarray(seconds, dtype=np.float64)
    if tempos.size == 0 or tempos["tick"][0] > 0:
        tempos = np.concatenate([np.array([(0, 120.0)], TEMPO_DTYPE), tempos])
    t_tick = tempos["tick"].astype(np.float64)
    sec_per_tick = 60.0 / (tempos["qpm"] * tpq)
    t_sec = np.concatenate([[0.0], np.cumsum(np.diff(t_tick) * sec_per_tick[:-1])])
    i = np.clip(np.searchsorted(t_sec, seconds, side="right") - 1, 0, len(t_sec) - 1)
    return t_tick[i] + (seconds - t_sec[i]) / sec_per_tick[i]


# ------------------------------------------------------------------------------------------ track selection
def filter_programs(notes: NoteArray, programs=None, *, drums: bool = True) -> NoteArray:
    """Notes of pitched tracks whose GM program is in `programs` (None = all), plus drums when `drums`."""
    keep = ~notes.is_drum if programs is None else (~notes.is_drum & np.isin(notes.program, list(programs)))
    return notes.select(keep | (notes.is_drum & drums))


def merge_tracks(notes: NoteArray, *, program: int = 0, name: str = "merged", drums: str = "keep") -> NoteArray:
    """All pitched notes on one track 0 with `program`; drums="keep" puts drum notes on track 1, "drop" removes them.

    Duplicate (onset, pitch) notes from different tracks are kept: they are real doublings, and tokenizers that
    cannot represent them deduplicate themselves.
    """
    if drums not in ("keep", "drop"):
        raise ValueError(f"drums must be 'keep' or 'drop', not {drums!r}")
    out = notes.select(~notes.is_drum) if drums == "drop" else notes
    track = out.is_drum.astype(np.int16)
    prog = np.where(out.is_drum, out.program, np.int16(program)).astype(np.int16)
    names = (name, "drums") if out.is_drum.any() else (name,)
    return replace(out, track=track, program=prog, track_names=names).sorted()


# ------------------------------------------------------------------------------------------ time windows
def _events_from(events: np.ndarray, tick0: int) -> np.ndarray:
    """Events re-based at tick0: the one in force at tick0 moves to 0, earlier ones are dropped."""
    if events.size == 0:
        return events.copy()
    before = np.flatnonzero(events["tick"] <= tick0)
    out = events[before[-1]:].copy() if before.size else events.copy()
    out["tick"] = np.maximum(out["tick"] - tick0, 0)
    return out


def window(
    notes: NoteArray, start: float, end: float | None = None, *, unit: str = "sec", crossing: str = "clip",
    shift: bool = False,
) -> NoteArray:
    """Notes within [start, end) in seconds (`unit="sec"`) or ticks (`unit="tick"`).

    `crossing` decides notes that cross a boundary: "clip" keeps every note overlapping the window, trimmed to
    it (a note sounding at `start` then starts at `start`); "keep" keeps notes whose onset is in the window,
    whole (their offset may pass `end`); "drop" keeps only notes entirely inside. `shift=True` moves the window
    start to time 0 (ticks, seconds, and the tempo/time-signature/key maps, with the values in force at `start`).
    Seconds boundaries map to ticks through the tempo map, rounded to the nearest tick.
    """
    if crossing not in ("clip", "keep", "drop"):
        raise ValueError(f"crossing must be 'clip', 'keep' or 'drop', not {crossing!r}")
    if unit not in ("sec", "tick"):
        raise ValueError(f"unit must be 'sec' or 'tick', not {unit!r}")
    on, off = (notes.onset_sec, notes.offset_sec) if unit == "sec" else (notes.onset, notes.offset)
    hi = np.inf if end is None else end
    if crossing == "clip":
        mask = (on < hi) & ((off > start) | (on >= start))
    elif crossing == "keep":
        mask = (on >= start) & (on < hi)
    else:
        mask = (on >= start) & (off <= hi)
    out = notes.select(mask)
    if unit == "sec":
        t_start = float(start)
        k_start = int(np.rint(seconds_to_ticks(start, notes.tempos, notes.tpq)))
        k_end = None if end is None else int(np.rint(seconds_to_ticks(end, notes.tempos, notes.tpq)))
    else:
        k_start, k_end = int(start), (None if end is None else int(end))
        t_start = float(ticks_to_seconds(np.array([k_start]), notes.tempos, notes.tpq)[0])
    if crossing == "clip" and len(out):
        t_end = np.inf if end is None else (end if unit == "sec" else
                                            float(ticks_to_seconds(np.array([k_end]), notes.tempos, notes.tpq)[0]))
        new_on = np.maximum(out.onset, k_start)
        new_off = np.minimum(out.offset, np.iinfo(np.int64).max if k_end is None else k_end)
        on_s = np.maximum(out.onset_sec, t_start)
        off_s = np.minimum(out.offset_sec, t_end)
        out = out.with_columns(onset=new_on, duration=np.maximum(new_off - new_on, 0), onset_sec=on_s,
                               duration_sec=np.maximum(off_s - on_s, 0.0))
    if shift:
        out = replace(
            out, onset=np.maximum(out.onset - k_start, 0), onset_sec=out.onset_sec - t_start,
            tempos=_events_from(notes.tempos, k_start), time_signatures=_events_from(notes.time_signatures, k_start),
            key_signatures=_events_from(notes.key_signatures, k_start),
        )
    return out.sorted()


def notes_from_arrays(
    onset, duration, pitch, velocity=80, *, track=0, program=0, is_drum=False, tpq: int = 480,
    tempos: np.ndarray | None = None, qpm: float = 120.0, time_signatures: np.ndarray | None = None,
    track_names: tuple[str, ...] = (), path: str | None = None,
) -> NoteArray:
    """A sorted NoteArray from tick columns (scalars broadcast); seconds follow `tempos` (default one `qpm`)."""
    onset = np.asarray(onset, dtype=np.int64).reshape(-1)
    n = len(onset)

    def col(v, dtype):
        return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

    duration = col(duration, np.int64)
    if tempos is None:
        tempos = np.array([(0, qpm)], TEMPO_DTYPE)
    on_s = ticks_to_seconds(onset, tempos, tpq)
    off_s = ticks_to_seconds(onset + duration, tempos, tpq)
    tracks = col(track, np.int16)
    if not track_names:
        track_names = tuple(f"track {i}" for i in range(int(tracks.max()) + 1 if n else 0))
    return NoteArray(
        onset=onset, duration=duration, pitch=col(pitch, np.int16), velocity=col(velocity, np.int16), track=tracks,
        program=col(program, np.int16), is_drum=col(is_drum, bool), onset_sec=on_s, duration_sec=off_s - on_s,
        tpq=int(tpq), tempos=tempos, time_signatures=np.zeros(0, TIMESIG_DTYPE) if time_signatures is None
        else time_signatures, track_names=track_names, path=path,
    ).sorted()
