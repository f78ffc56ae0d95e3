"""Two tasks built from the embedded music21 corpus, so the benchmark runs (and demos) without any dataset.

- SATB: the voice (soprano, alto, tenor, bass) of every note of the four-part chorales (note-level,
  4 classes + pad) — the chorale analogue of melody extraction;
- MODE: major vs minor key of a piece from music21's key analysis stored in the corpus metadata
  (sequence-level).
Pieces are split by their position in the corpus list: every 10th test, the next valid.
"""

from __future__ import annotations

from pathlib import Path

from smcbench.tasks.base import Piece, TaskData, TaskSpec


def _split(i: int) -> str:
    return "test" if i % 10 == 0 else ("valid" if i % 10 == 1 else "train")


def _build_satb(root: Path | None = None, limit: int | None = 120) -> TaskData:
    from m2bert.tasks import chorale_voice_examples
    from symcore.corpus import build_corpus

    corpus = build_corpus(limit=limit)
    examples = chorale_voice_examples(corpus.files)
    pieces = [Piece(f"satb{i}", tokens, labels + 1, split=_split(i)) for i, (tokens, labels) in enumerate(examples)]
    skipped = [(str(f), r) for f, r in corpus.failed]
    return TaskData(SATB, pieces, skipped)


def _build_mode(root: Path | None = None, limit: int | None = 120) -> TaskData:
    from symcore.corpus import build_corpus
    from symcore.errors import MidiError
    from symcore.notes import load_notes
    from symtok.cp import CPTokenizer

    corpus, tok = build_corpus(limit=limit), CPTokenizer()
    pieces, skipped = [], [(str(f), r) for f, r in corpus.failed]
    for i, (path, meta) in enumerate(zip(corpus.files, corpus.metadata)):
        mode = str(meta.get("key") or "").split(" ")[-1]
        if mode not in ("major", "minor"):
            skipped.append((str(path), f"no major/minor key in metadata ({meta.get('key')!r})"))
            continue
        try:
            tokens = tok.encode(load_notes(path))
        except MidiError as exc:
            skipped.append((str(path), str(exc)))
            continue
        pieces.append(Piece(Path(path).stem, tokens, int(mode == "minor"), split=_split(i)))
    return TaskData(MODE, pieces, skipped)


SATB = TaskSpec("SATB", "chorale voice (music21 corpus)", "note", 5, "acc", "fixed", "embedded music21 corpus",
                build=_build_satb, note="embedded: four-part chorales, piece split 80/10/10", needs_data=False)
MODE = TaskSpec("MODE", "major/minor (music21 corpus)", "seq", 2, "acc", "fixed", "embedded music21 corpus",
                build=_build_mode, note="embedded: key from music21 analysis, piece split 80/10/10", needs_data=False)
