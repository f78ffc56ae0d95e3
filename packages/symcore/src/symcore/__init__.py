"""symcore: the shared foundation of symphonia (MIDI, note arrays, rolls, augmentation, audio, attention)."""

from symcore.errors import AudioError, EmptyMidiError, MidiError
from symcore.notes import NoteArray, fold_sustain, load_notes, load_score, ticks_to_seconds
from symcore.paths import cache_root, data_root, require_data

__all__ = [
    "AudioError", "EmptyMidiError", "MidiError", "NoteArray", "cache_root", "data_root", "fold_sustain",
    "load_notes", "load_score", "require_data", "ticks_to_seconds",
]
