"""`python -m hiertrans.demo`: render a music21-corpus piece, transcribe it with the shipped model, print F1.

No shared data needed: the piece comes from the corpus music21 installs, rendered with FluidR3_GM (a soundfont the
shipped model never heard in training) when available.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

DEMO_SECONDS = 30.0


def _corpus_midi(out: Path) -> Path:
    """A Bach chorale as MIDI, straight from the corpus music21 installs (one parse: seconds, no corpus build)."""
    from music21 import corpus

    score = corpus.parse("bach/bwv66.6")
    path = out / "bwv66.6.mid"
    score.write("midi", fp=str(path))
    return path


def main() -> int:
    from hiertrans.audio import find_soundfont
    from hiertrans.data import render_piece
    from hiertrans.metrics import all_scores
    from hiertrans.transcribe import transcribe_array
    from hiertrans.weights import load_model

    with tempfile.TemporaryDirectory() as tmp:
        midi = _corpus_midi(Path(tmp))
        try:
            sf2 = find_soundfont("FluidR3_GM.sf2")
        except FileNotFoundError:
            sf2 = find_soundfont()
        piece = render_piece(midi, sf2)
        audio, ref = piece.excerpt(DEMO_SECONDS)
        model = load_model()
        print(f"hiertrans demo: {Path(midi).name}, first {len(audio) / 16000:.0f} s rendered with {sf2.name}; "
              f"shipped model {model.extra}")
        for decoder in ("roll", "hier"):
            if decoder == "hier" and "onset" not in model.decoders:
                continue
            t0 = time.perf_counter()
            est = transcribe_array(model, audio, decoder=decoder)
            wall = time.perf_counter() - t0
            s = all_scores(ref, est)
            print(f"  {decoder:5s} notes {len(est['pitch']):4d}/{len(ref['pitch']):4d}  note F1 {s['note_f1']:.3f}  "
                  f"note+offset F1 {s['note_offset_f1']:.3f}  +velocity {s['note_offset_velocity_f1']:.3f}  "
                  f"frame F1 {s['frame_f1']:.3f}  ({wall:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
