"""The AbsTokenizer vocabulary (aria-utils default config), in aria-utils' id order, with arithmetic id layout.

Ids are contiguous blocks, so tokens are computed with integer arithmetic instead of dictionary lookups:
specials, 33 prefix tokens, note tokens (instrument × pitch × velocity), drums, durations, onsets.
"""

from __future__ import annotations

import numpy as np

BOS, EOS, PAD, UNK, DIM, TIME = "<S>", "<E>", "<P>", "<U>", "<D>", "<T>"
SPECIAL_TOKENS = (BOS, EOS, PAD, UNK, DIM, TIME)
BOS_ID, EOS_ID, PAD_ID, UNK_ID, DIM_ID, TIME_ID = range(6)

# GM program // 8 -> instrument class (aria-utils' program_to_instrument)
INSTRUMENT_CLASSES = (
    "piano", "chromatic", "organ", "guitar", "bass", "strings", "ensemble", "brass", "reed", "pipe",
    "synth_lead", "synth_pad", "synth_effect", "ethnic", "percussive", "sfx",
)
IGNORED_CLASSES = frozenset({"chromatic", "synth_pad", "synth_effect", "ethnic", "percussive", "sfx"})
INSTRUMENTS = tuple(c for c in INSTRUMENT_CLASSES if c not in IGNORED_CLASSES)  # 10 note instruments
INSTRUMENT_PROGRAMS = {
    "piano": 0, "chromatic": 13, "organ": 16, "guitar": 24, "bass": 32, "strings": 40, "ensemble": 48,
    "brass": 56, "reed": 64, "pipe": 73, "synth_lead": 80, "synth_pad": 88, "synth_effect": 96, "ethnic": 104,
    "percussive": 112, "sfx": 120,
}
COMPOSERS = ("bach", "beethoven", "mozart", "chopin", "rachmaninoff", "liszt", "debussy", "schubert", "brahms",
             "ravel", "satie", "scarlatti")
FORMS = ("sonata", "prelude", "nocturne", "étude", "waltz", "mazurka", "impromptu", "fugue")
GENRES = ("jazz", "classical")

ABS_TIME_STEP_MS = 5000  # one <T> per 5 s segment
MAX_DUR_MS = 5000
TIME_STEP_MS = 10
VELOCITY_STEP = 10
DRUM_VELOCITY = 60
DRUM_PITCHES = (35, 82)  # [lo, hi)

VELOCITIES = np.arange(0, 127 // VELOCITY_STEP + 1) * VELOCITY_STEP  # 0..120
MAX_VELOCITY = int(VELOCITIES[-1])
DUR_GRID = np.arange(MAX_DUR_MS // TIME_STEP_MS + 1, dtype=np.int64) * TIME_STEP_MS  # 0..5000
ONSET_GRID = np.arange(MAX_DUR_MS // TIME_STEP_MS, dtype=np.int64) * TIME_STEP_MS  # 0..4990

PREFIX_TOKENS = (
    tuple(("prefix", "instrument", x) for x in INSTRUMENTS + ("drum",))
    + tuple(("prefix", "composer", x) for x in COMPOSERS)
    + tuple(("prefix", "form", x) for x in FORMS)
    + tuple(("prefix", "genre", x) for x in GENRES)
)
PREFIX_START = len(SPECIAL_TOKENS)
N_VEL = len(VELOCITIES)
NOTE_START = PREFIX_START + len(PREFIX_TOKENS)
DRUM_START = NOTE_START + len(INSTRUMENTS) * 128 * N_VEL
DUR_START = DRUM_START + (DRUM_PITCHES[1] - DRUM_PITCHES[0])
ONSET_START = DUR_START + len(DUR_GRID)
VOCAB_SIZE = ONSET_START + len(ONSET_GRID)
DRUM_PREFIX_ID = PREFIX_START + len(INSTRUMENTS)


def build_vocab() -> tuple:
    """All 17,727 tokens in aria-utils' id order (strings for specials, tuples otherwise)."""
    notes = tuple((inst, p, int(v)) for inst in INSTRUMENTS for p in range(128) for v in VELOCITIES)
    drums = tuple(("drum", p) for p in range(*DRUM_PITCHES))
    durs = tuple(("dur", int(d)) for d in DUR_GRID)
    onsets = tuple(("onset", int(o)) for o in ONSET_GRID)
    vocab = SPECIAL_TOKENS + PREFIX_TOKENS + notes + drums + durs + onsets
    assert len(vocab) == VOCAB_SIZE
    return vocab


def note_id(instrument: np.ndarray, pitch: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Id of (instrument index, pitch, quantised velocity) note tokens."""
    return NOTE_START + (instrument.astype(np.int64) * 128 + pitch) * N_VEL + velocity // VELOCITY_STEP


def drum_id(pitch: np.ndarray) -> np.ndarray:
    """Drum token ids; drum notes outside 35..81 have no token and encode to <U>, as in aria-utils."""
    pitch = pitch.astype(np.int64)
    ok = (pitch >= DRUM_PITCHES[0]) & (pitch < DRUM_PITCHES[1])
    return np.where(ok, DRUM_START + pitch - DRUM_PITCHES[0], UNK_ID)


def is_note_id(ids: np.ndarray) -> np.ndarray:
    return (ids >= NOTE_START) & (ids < DRUM_START)


def is_drum_id(ids: np.ndarray) -> np.ndarray:
    return (ids >= DRUM_START) & (ids < DUR_START)


def is_dur_id(ids: np.ndarray) -> np.ndarray:
    return (ids >= DUR_START) & (ids < ONSET_START)


def is_onset_id(ids: np.ndarray) -> np.ndarray:
    return (ids >= ONSET_START) & (ids < VOCAB_SIZE)


def closest_on_grid(n: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """aria-utils `_find_closest_int`, vectorised: same binary-search path, so ties resolve the same way.

    Ties (e.g. 5 ms between 0 and 10) do not always go to the same side: the first grid point probed that is
    strictly closer wins, and which points are probed depends on the search path.
    """
    n = np.asarray(n, np.int64)
    left = np.zeros(n.shape, np.int64)
    right = np.full(n.shape, len(grid) - 1, np.int64)
    best = np.full(n.shape, grid[0], np.int64)
    active = left <= right
    while active.any():
        mid = (left + right) // 2
        g = grid[np.clip(mid, 0, len(grid) - 1)]
        better = active & (np.abs(g - n) < np.abs(best - n))
        best = np.where(better, g, best)
        lower = g < n
        left = np.where(active & lower, mid + 1, left)
        right = np.where(active & ~lower, mid - 1, right)
        active = left <= right
    return best


def _lookup(grid: np.ndarray, hi: int) -> np.ndarray:
    """`closest_on_grid` for every integer 0..hi: the search path depends only on n, so tabulate it once.

    Values below 0 / above the grid snap to its first / last point (the search moves monotonically there), so
    clipping the input to 0..hi before the lookup is exact.
    """
    return closest_on_grid(np.arange(hi + 1), grid)


_VEL_TABLE = _lookup(VELOCITIES, 127)
_DUR_TABLE = _lookup(DUR_GRID, MAX_DUR_MS)
_ONSET_TABLE = _lookup(ONSET_GRID, ABS_TIME_STEP_MS)


def quantize_velocity(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.int64)
    q = _VEL_TABLE[np.clip(v, 0, 127)]
    return np.where((q == 0) & (v != 0), VELOCITY_STEP, q)


def quantize_duration(ms: np.ndarray) -> np.ndarray:
    q = _DUR_TABLE[np.clip(ms, 0, MAX_DUR_MS)]
    return np.where(q == 0, TIME_STEP_MS, q)


def quantize_onset(ms_in_segment: np.ndarray) -> np.ndarray:
    return _ONSET_TABLE[np.clip(ms_in_segment, 0, ABS_TIME_STEP_MS)]
