"""Sequence-level tasks over whole files: ER (EMOPIA), PS (Pianist8), SGC (Tagtraum ∩ Lakh).

ER and PS use the SMC benchmark's class-balanced 5-fold CV: files sorted, the j-th file of a class with n
files goes to fold j*5//n. SGC uses a fixed split derived from the track id. Pianist8 and Lakh/Tagtraum are
not in the shared data; their loaders read the official layouts:
- Pianist8: <root>/pianist8/**/<Composer>/*.mid with the eight composer folder names below;
- SGC: <root>/tagtraum/msd_tagtraum_cd2.cls (track id TAB genre) and <root>/lmd_matched/A/B/C/<TRACKID>/*.mid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from symcore.errors import MidiError
from symcore.notes import load_notes

from smcbench.tasks.base import Piece, TaskData, TaskSpec

QUADRANTS = {"Q1": 0, "Q2": 1, "Q3": 2, "Q4": 3}
PIANISTS = {"Bethel": 0, "Clayderman": 1, "Einaudi": 2, "Hancock": 3, "Hillsong": 4, "Hisaishi": 5, "Ryuichi": 6, "Yiruma": 7}
GENRES = ("Rock", "Pop", "Electronic", "Country", "Jazz")  # the five largest CD2 genres present in lmd_matched


def balanced_folds(labels: list[int]) -> list[int]:
    """Class-balanced fold of each item (items already sorted): j-th of n items of a class -> j*5//n."""
    totals: dict[int, int] = {}
    for y in labels:
        totals[y] = totals.get(y, 0) + 1
    seen: dict[int, int] = {}
    folds = []
    for y in labels:
        folds.append(seen.get(y, 0) * 5 // totals[y])
        seen[y] = seen.get(y, 0) + 1
    return folds


def _tokenize(items: Iterable[tuple[str, Path, int]], splits: list[str] | None, spec):
    """Pieces of the readable files; cv5 folds are assigned afterwards, over those files only."""
    from symtok.cp import CPTokenizer

    tok = CPTokenizer()
    pieces, skipped = [], []
    for k, (name, path, label) in enumerate(items):
        try:
            tokens = tok.encode(load_notes(path))
        except (MidiError, OSError) as exc:
            skipped.append((str(path), str(exc)))
            continue
        if len(tokens) == 0:
            skipped.append((str(path), "no notes left after CP quantisation"))
            continue
        pieces.append(Piece(name, tokens, label, split=None if splits is None else splits[k]))
    if spec.protocol == "cv5":
        for piece, fold in zip(pieces, balanced_folds([p.labels for p in pieces])):
            piece.fold = fold
    return TaskData(spec, pieces, skipped)


def _build_er(root: Path, limit: int | None = None) -> TaskData:
    folder = root / "emopia" / "midis"
    files = sorted(folder.glob("Q*_*.mid"))
    if not files:
        raise FileNotFoundError(f"ER: no Q*_*.mid files under {folder}")
    items = [(f.stem, f, QUADRANTS[f.name[:2]]) for f in files if f.name[:2] in QUADRANTS]
    if limit is not None:  # a spread subset keeps every class
        items = items[:: max(1, len(items) // limit)][:limit]
    return _tokenize(items, None, ER)


def _build_ps(root: Path, limit: int | None = None) -> TaskData:
    base = root / "pianist8"
    files = sorted(p for p in base.rglob("*.mid") if p.parent.name in PIANISTS) if base.is_dir() else []
    if not files:
        raise FileNotFoundError(f"PS: no <Composer>/*.mid files (Pianist8 layout) under {base}")
    items = [(f"{f.parent.name}/{f.stem}", f, PIANISTS[f.parent.name]) for f in files][:limit]
    return _tokenize(items, None, PS)


def _build_sgc(root: Path, limit: int | None = None) -> TaskData:
    cls_file = root / "tagtraum" / "msd_tagtraum_cd2.cls"
    lmd = root / "lmd_matched"
    if not cls_file.is_file() or not lmd.is_dir():
        raise FileNotFoundError(f"SGC: needs {cls_file} and {lmd}")
    items, splits = [], []
    for line in cls_file.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        track, genre = line.split("\t")[:2]
        if genre not in GENRES:
            continue
        folder = lmd / track[2] / track[3] / track[4] / track
        for midi in sorted(folder.glob("*.mid"))[:1]:  # one matched MIDI per track
            h = int(hashlib.sha1(track.encode()).hexdigest(), 16) % 10
            items.append((track, midi, GENRES.index(genre)))
            splits.append("test" if h == 0 else ("valid" if h == 1 else "train"))
    if not items:
        raise FileNotFoundError(f"SGC: no lmd_matched MIDI found for the genres {GENRES} listed in {cls_file}")
    return _tokenize(items[:limit], splits[:limit], SGC)


ER = TaskSpec("ER", "emotion recognition (EMOPIA)", "seq", 4, "acc", "cv5", "emopia", build=_build_er,
              note="class-balanced 5-fold CV over all clips, as the SMC benchmark")
PS = TaskSpec("PS", "pianist style (Pianist8)", "seq", 8, "acc", "cv5", "pianist8", build=_build_ps,
              note="not in the shared data; official layout <Composer>/*.mid")
SGC = TaskSpec("SGC", "symbolic genre (Tagtraum CD2 ∩ lmd_matched)", "seq", 5, "acc", "fixed",
               "tagtraum, lmd_matched", build=_build_sgc,
               note="not in the shared data; genres Rock/Pop/Electronic/Country/Jazz, split by track-id hash")
