"""symcore: the shared foundation of symphonia (MIDI, note arrays, rolls, augmentation, audio, attention)."""

from symcore.augment import shift_velocity, stretch_tempo, transpose
from symcore.errors import AudioError, EmptyMidiError, MidiError
from symcore.midi_write import write_midi
from symcore.notes import (
    NoteArray,
    filter_programs,
    fold_sustain,
    load_notes,
    load_score,
    merge_tracks,
    notes_from_arrays,
    seconds_to_ticks,
    ticks_to_seconds,
    window,
)
from symcore.paths import cache_root, data_root, require_data
from symcore.pianoroll import bar_grids, chroma, frame_rolls, pianoroll_targets

__all__ = [
    "AudioError", "EmptyMidiError", "MidiError", "NoteArray", "cache_root", "data_root", "fold_sustain",
    "load_notes", "load_score", "require_data", "ticks_to_seconds",
    "filter_programs", "merge_tracks", "notes_from_arrays", "seconds_to_ticks", "window", "shift_velocity",
    "stretch_tempo", "transpose", "write_midi", "bar_grids", "chroma", "frame_rolls", "pianoroll_targets",
]

# Torch/scipy-backed parts load on first use, so `import symcore` stays light for MIDI-only work. (The function
# `attention` is not re-exported: `symcore.attention` is its module; use `from symcore.attention import attention`.)
_LAZY = {
    "rope_cache": "symcore.rope", "apply_rope": "symcore.rope", "RotaryEmbedding": "symcore.rope",
    "load_audio": "symcore.audio", "render_midi": "symcore.audio", "find_soundfont": "symcore.audio",
    "is_silent": "symcore.audio", "save_weights": "symcore.weights", "load_weights": "symcore.weights",
    "load_checkpoint": "symcore.weights", "WeightsError": "symcore.weights",
    "build_corpus": "symcore.corpus",  # lazy so `python -m symcore.corpus` runs without a double import
}
__all__ += list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'symcore' has no attribute {name!r}")
