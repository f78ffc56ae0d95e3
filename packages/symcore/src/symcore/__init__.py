"""symcore: the shared foundation of symphonia (MIDI, note arrays, rolls, augmentation, audio, attention)."""

from symcore.augment import shift_velocity, stretch_tempo, transpose
from symcore.corpus import build_corpus
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
    "build_corpus",
]
