"""The error types every package raises for bad input, so callers can catch one thing."""

from __future__ import annotations

from pathlib import Path


class MidiError(ValueError):
    """A MIDI file could not be read or is unusable; the message names the file and the cause."""

    def __init__(self, path: str | Path | None, cause: str):
        self.path = None if path is None else str(path)
        self.cause = cause
        super().__init__(f"{self.path or '<bytes>'}: {cause}")


class EmptyMidiError(MidiError):
    """A well-formed MIDI file that holds no notes: distinct because batch jobs count it separately."""


class AudioError(ValueError):
    """Audio could not be read or is unusable (empty, silent where sound is required, NaN/Inf)."""

    def __init__(self, path: str | Path | None, cause: str):
        self.path = None if path is None else str(path)
        self.cause = cause
        super().__init__(f"{self.path or '<array>'}: {cause}")
