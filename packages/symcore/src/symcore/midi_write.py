"""Writing a `NoteArray` back to a standard MIDI file with symusic.

Ticks are authoritative: the file gets the array's `tpq`, tempo map, time and key signatures, so reading it back
gives the same onsets/durations in ticks and the same seconds. Seconds columns are not consulted (a NoteArray
edited only in seconds must be re-timed first, e.g. by `augment.stretch_tempo`). One MIDI track per distinct
`track` id, keeping its name, program and drum flag.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import symusic

from symcore.atomic import atomic_path
from symcore.notes import NoteArray


def to_score(notes: NoteArray) -> symusic.Score:
    """A symusic Score (ticks) holding the notes, tempo map and signatures of `notes`."""
    score = symusic.Score(int(notes.tpq))
    for tr in np.unique(notes.track) if len(notes) else []:
        sel = notes.track == tr
        i = int(np.flatnonzero(sel)[0])
        name = notes.track_names[tr] if 0 <= tr < len(notes.track_names) else f"track {tr}"
        track = symusic.Track(name, program=int(notes.program[i]), is_drum=bool(notes.is_drum[i]))
        order = np.lexsort((notes.pitch[sel], notes.onset[sel]))
        track.notes = symusic.Note.from_numpy(
            time=notes.onset[sel][order].astype(np.int32),
            duration=np.maximum(notes.duration[sel][order], 0).astype(np.int32),
            pitch=np.clip(notes.pitch[sel][order], 0, 127).astype(np.int8),
            velocity=np.clip(notes.velocity[sel][order], 1, 127).astype(np.int8),
        )
        score.tracks.append(track)
    for t in notes.tempos:
        score.tempos.append(symusic.Tempo(int(t["tick"]), float(t["qpm"])))
    for t in notes.time_signatures:
        score.time_signatures.append(symusic.TimeSignature(int(t["tick"]), int(t["numerator"]), int(t["denominator"])))
    for k in notes.key_signatures:
        score.key_signatures.append(symusic.KeySignature(int(k["tick"]), int(k["key"]), int(k["tonality"])))
    return score


def write_midi(notes: NoteArray | symusic.Score, path: str | Path) -> Path:
    """Write a MIDI file atomically (temporary file in the same folder, then rename); returns the path."""
    path = Path(path)
    score = notes if isinstance(notes, symusic.Score) else to_score(notes)
    with atomic_path(path) as tmp:
        score.dump_midi(str(tmp))
    return path
