"""CP (compound word) tokens of MidiBERT / M2BERT: one 4-field token per note, [bar, position, pitch, duration].

The vocabulary is MidiBERT's `CP.pkl` (Bar New/Continue, 16 positions, pitch 22..107, 64 duration bins of a
1/32 note, each field with PAD and MASK). Everything is treated as 4/4 and the whole file is merged into one
note stream; empty bars produce no token (the vocabulary cannot express them).

Two modes, both fully vectorised (no Python loop over notes):

- `compat=True` reproduces MidiBERT's `extract_events` deliberately, quirks included, so that tokens match
  the published datasets and checkpoints: 480 ticks per beat whatever the file says, an onset grid that stops
  *before* the last onset (`np.arange(0, last, 120)`) with ties rounding down, ends moved by the same shift
  (durations stay unquantized), duration binned by argmin over 60..3840 with ties low, bars every 1920 ticks,
  MidiBERT's merge order. Pitches outside 22..107 raise `MidiError` (the original crashed with KeyError).
- `compat=False` (default) keeps the vocabulary but fixes the quirks: the grid is in the file's own
  resolution (a 16th = tpq/4 ticks, a bar = 4*tpq, a duration bin = tpq/8), the last onset is on the grid,
  onsets and durations round half up, out-of-range pitches are moved by octaves (or dropped, or rejected:
  `out_of_range`), and notes at one position are ordered by pitch so the token order does not depend on
  micro-timing or track layout.

Both modes drop zero-length notes (MidiBERT's parser, miditoolkit 0.1.14, never emits them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from symcore.errors import MidiError
from symcore.notes import NoteArray, load_notes

CP_VOCAB_SIZES = (4, 18, 88, 66)
CP_PAD = (2, 16, 86, 64)
CP_MASK = (3, 17, 87, 65)
CP_FIELDS = ("Bar", "Position", "Pitch", "Duration")

BAR_NEW, BAR_CONTINUE = 0, 1
PITCH_MIN, PITCH_MAX = 22, 107  # MIDI pitches in the vocabulary (A#0 .. B7)
N_POSITIONS, N_DURATIONS = 16, 64
COMPAT_TPQ = 480  # MidiBERT's DEFAULT_RESOLUTION, applied to every file
VELOCITY_LABEL_BINS = np.array([0, 32, 48, 64, 80, 96, 128])  # MidiBERT's VE task bins
OUT_OF_RANGE = ("octave", "drop", "error")
DECODE_TPQ = 480


def vocab() -> dict[str, dict[str, int]]:
    """`event2word` of MidiBERT's CP.pkl: field -> {"<Field> <value>": id} (PAD/MASK as "<PAD>"/"<MASK>")."""
    values = {
        "Bar": ["New", "Continue"],
        "Position": [f"{i}/16" for i in range(1, N_POSITIONS + 1)],
        "Pitch": [str(p) for p in range(PITCH_MIN, PITCH_MAX + 1)],
        "Duration": [str(i) for i in range(N_DURATIONS)],
    }
    out = {}
    for field in CP_FIELDS:
        words = [f"{field} {v}" for v in values[field]] + [f"{field} <PAD>", f"{field} <MASK>"]
        out[field] = {w: i for i, w in enumerate(words)}
    return out


def word2event() -> dict[str, dict[int, str]]:
    """The inverse of `vocab()`: field -> {id: event string}."""
    return {field: {i: w for w, i in words.items()} for field, words in vocab().items()}


def token_events(tokens: np.ndarray) -> list[list[str]]:
    """Event strings of each token, e.g. ["Bar New", "Position 1/16", "Pitch 60", "Duration 3"]."""
    inv = word2event()
    return [[inv[f][int(v)] for f, v in zip(CP_FIELDS, row)] for row in np.asarray(tokens)]


def velocity_labels(velocity: np.ndarray) -> np.ndarray:
    """MidiBERT's VE classes 1..6 (0 is padding) for MIDI velocities: bins 0/32/48/64/80/96/128."""
    return np.searchsorted(VELOCITY_LABEL_BINS, np.asarray(velocity), side="right").astype(np.int64)


def melody_labels(track: np.ndarray) -> np.ndarray:
    """MidiBERT's ME classes: track index + 1 (processed POP909: vocal 1, bridge 2, piano 3; 0 is padding)."""
    return np.asarray(track).astype(np.int64) + 1


class CPTokenizer:
    """MidiBERT/M2BERT compound-word tokenizer; picklable, and callable as `path -> tokens` for the token cache."""

    version = "1"

    def __init__(self, compat: bool = False, out_of_range: str = "octave", min_duration: float = 0.0,
                 drop_drums: bool = False):
        if out_of_range not in OUT_OF_RANGE:
            raise ValueError(f"out_of_range must be one of {OUT_OF_RANGE}, not {out_of_range!r}")
        self.compat = bool(compat)
        self.out_of_range = "error" if compat else out_of_range  # compat: the original cannot encode them
        self.min_duration = float(min_duration)  # in quarter notes; notes strictly shorter are dropped
        self.drop_drums = bool(drop_drums)

    @property
    def cache_key(self) -> str:
        return (f"CPTokenizer v{self.version} compat={self.compat} out_of_range={self.out_of_range} "
                f"min_duration={self.min_duration} drop_drums={self.drop_drums}")

    def __repr__(self) -> str:
        return (f"CPTokenizer(compat={self.compat}, out_of_range={self.out_of_range!r}, "
                f"min_duration={self.min_duration}, drop_drums={self.drop_drums})")

    def __call__(self, path: str | Path) -> np.ndarray:
        return self.encode_file(path)

    # ------------------------------------------------------------------------------------------------ encode
    def encode(self, notes: NoteArray, return_index: bool = False):
        """(N, 4) int64 tokens [bar, position, pitch, duration]; with `return_index` also the index into
        `notes` of each token's source note (for attaching per-note labels)."""
        onset = np.asarray(notes.onset, np.int64)
        duration = np.asarray(notes.duration, np.int64)
        pitch = np.asarray(notes.pitch, np.int64)
        track = np.asarray(notes.track, np.int64)
        tpq = COMPAT_TPQ if self.compat else int(notes.tpq)
        keep = duration > 0
        if self.min_duration > 0:
            keep &= duration >= self.min_duration * tpq
        if self.drop_drums:
            keep &= ~np.asarray(notes.is_drum, bool)
        pitch = self._fit_pitch(pitch, keep, notes.path)
        keep &= pitch >= 0
        index = np.flatnonzero(keep)
        onset, duration, pitch, track = onset[index], duration[index], pitch[index], track[index]
        if self.compat:
            step, dur = _compat_grid(onset), _compat_duration(duration)
            order = np.lexsort((pitch, track, onset, step))  # merge order, then stable re-sort after quantizing
        else:
            step = (8 * onset + tpq) // (2 * tpq)  # 16ths, round half up: floor(4*onset/tpq + 1/2)
            dur = np.clip((16 * duration + tpq) // (2 * tpq) - 1, 0, N_DURATIONS - 1)  # 1/32 bins, half up
            order = np.lexsort((onset, track, pitch, step))
        step, dur, pitch, index = step[order], dur[order], pitch[order], index[order]
        bar = step // N_POSITIONS
        tokens = np.empty((len(order), 4), np.int64)
        new_bar = np.ones(len(order), bool)
        new_bar[1:] = bar[1:] != bar[:-1]
        tokens[:, 0] = np.where(new_bar, BAR_NEW, BAR_CONTINUE)
        tokens[:, 1] = step - bar * N_POSITIONS
        tokens[:, 2] = pitch - PITCH_MIN
        tokens[:, 3] = dur
        return (tokens, index) if return_index else tokens

    def _fit_pitch(self, pitch: np.ndarray, keep: np.ndarray, path: str | None) -> np.ndarray:
        """Pitches inside 22..107; -1 marks a note to drop."""
        bad = keep & ((pitch < PITCH_MIN) | (pitch > PITCH_MAX))
        if not bad.any():
            return pitch
        if self.out_of_range == "error":
            found = np.unique(pitch[bad])
            raise MidiError(path, f"pitch {', '.join(map(str, found[:8]))} outside the CP vocabulary "
                                  f"{PITCH_MIN}..{PITCH_MAX} (MidiBERT itself fails with KeyError on such files)")
        if self.out_of_range == "drop":
            return np.where(bad, -1, pitch)
        low = PITCH_MIN + (pitch - PITCH_MIN) % 12  # octave shift into the lowest / highest full octave
        high = PITCH_MAX - (PITCH_MAX - pitch) % 12
        return np.where(pitch < PITCH_MIN, low, np.where(pitch > PITCH_MAX, high, pitch))

    def load(self, path: str | Path) -> NoteArray:
        """The notes this tokenizer reads from a file: symusic's, or in compat mode miditoolkit 0.1.14's
        (`symtok.cp_compat`), whose note pairing MidiBERT's tokens depend on."""
        if self.compat:
            from symtok.cp_compat import load_notes_midibert

            return load_notes_midibert(path)
        return load_notes(path)

    def encode_file(self, path: str | Path) -> np.ndarray:
        """Tokens of a MIDI file; `MidiError` (naming the file) for unreadable, empty or (compat) unencodable files."""
        return self.encode(self.load(path))

    def encode_with_labels(self, notes: NoteArray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Tokens plus MidiBERT's per-token labels `melody` (track+1) and `velocity` (bins 1..6)."""
        tokens, index = self.encode(notes, return_index=True)
        return tokens, {"melody": melody_labels(notes.track[index]),
                        "velocity": velocity_labels(notes.velocity[index])}

    # ------------------------------------------------------------------------------------------------ decode
    def decode(self, tokens: np.ndarray, velocity: int = 80) -> NoteArray:
        """Notes of a token sequence at 480 tpq in 4/4 (one track). Rows holding a PAD or MASK id are skipped.

        Empty bars were never tokenized, so consecutive non-empty bars come out adjacent; a first token with
        `Bar Continue` (a crop) starts in bar 0."""
        tokens = np.asarray(tokens, np.int64).reshape(-1, 4)
        real = (tokens < np.asarray(CP_PAD)).all(axis=1)
        if ((tokens < 0) | (tokens >= np.asarray(CP_VOCAB_SIZES))).any():
            raise ValueError("CP token id outside the vocabulary")
        t = tokens[real]
        bar = np.cumsum(t[:, 0] == BAR_NEW)
        bar = np.maximum(bar - 1 if len(t) and t[0, 0] == BAR_NEW else bar, 0)
        step16 = DECODE_TPQ // 4
        onset = bar * N_POSITIONS * step16 + t[:, 1] * step16
        duration = (t[:, 3] + 1) * (DECODE_TPQ // 8)
        n = len(t)
        sec = 60.0 / (120.0 * DECODE_TPQ)  # 120 qpm
        return NoteArray(
            onset=onset, duration=duration, pitch=(t[:, 2] + PITCH_MIN).astype(np.int16),
            velocity=np.full(n, velocity, np.int16), track=np.zeros(n, np.int16), program=np.zeros(n, np.int16),
            is_drum=np.zeros(n, bool), onset_sec=onset * sec, duration_sec=duration * sec, tpq=DECODE_TPQ,
        )


def _compat_grid(onset: np.ndarray) -> np.ndarray:
    """MidiBERT's quantize_items as 16th indices: nearest of arange(0, last_onset, 120), ties to the lower point.

    The grid excludes the last onset itself, so the final notes always move back. With every onset at 0 the
    grid is empty and the original raises ValueError; here they stay at 0."""
    if onset.size == 0:
        return onset.copy()
    n_grid = -(-int(onset.max()) // 120)  # len(np.arange(0, last, 120))
    idx = (onset + 59) // 120  # round((s)/120) with ties down, for integer ticks
    return np.clip(idx, 0, max(n_grid - 1, 0))


def _compat_duration(duration: np.ndarray) -> np.ndarray:
    """argmin |[60, 120, ..., 3840] - d| with ties to the lower bin, on the unquantized length."""
    return np.clip((duration - 31) // 60, 0, N_DURATIONS - 1)
