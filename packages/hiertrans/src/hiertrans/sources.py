"""Where training MIDI comes from: the shared corpora (POP909, ASAP, CPM), the music21 corpus, a MAESTRO folder.

Every lister returns a deterministic list of paths so train/held-out splits are reproducible; held-out pieces
are chosen by a stable hash of the piece name (never by position), so adding files does not reshuffle splits.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from symcore.paths import data_root

SOURCES = ("pop909", "asap", "cpm", "music21")


def is_heldout(name: str, fraction: float = 0.1) -> bool:
    """Stable piece-level split: the same piece is always train or always held out."""
    h = int(hashlib.md5(name.encode()).hexdigest()[:8], 16)
    return (h % 1000) < fraction * 1000


def _take(paths: list[Path], split: str, limit: int | None, key) -> list[Path]:
    chosen = [p for p in sorted(paths) if (split == "all") or ((split == "test") == is_heldout(key(p)))]
    return chosen[:limit] if limit else chosen


def pop909_files(root: Path, split: str = "train", limit: int | None = None) -> list[Path]:
    files = list((root / "pop909" / "POP909").glob("[0-9][0-9][0-9]/[0-9][0-9][0-9].mid"))
    return _take(files, split, limit, lambda p: "pop909/" + p.stem)


def asap_files(root: Path, split: str = "train", limit: int | None = None) -> list[Path]:
    """One performance per piece (the first listed), held out per piece so no piece leaks between splits."""
    base = root / "asap"
    seen: dict[str, Path] = {}
    with open(base / "metadata.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            path = base / row["midi_performance"]
            if row["folder"] not in seen and path.is_file():
                seen[row["folder"]] = path
    return _take(list(seen.values()), split, limit, lambda p: "asap/" + str(p.parent.relative_to(base)))


def cpm_files(root: Path, split: str = "train", limit: int | None = None) -> list[Path]:
    files = list((root / "cpm" / "midis").rglob("*.mid"))
    return _take(files, split, limit, lambda p: "cpm/" + p.stem)


def music21_files(split: str = "train", limit: int | None = None) -> list[Path]:
    from symcore.corpus import build_corpus

    return _take(list(build_corpus(limit=None if limit is None else limit * 3).files), split, limit,
                 lambda p: "m21/" + p.stem)


def source_files(sources: tuple[str, ...] | list[str], split: str = "train", limit_per_source: int | None = None,
                 root: str | Path | None = None) -> list[Path]:
    """MIDI files of the named sources; shared corpora need $SYMPHONIA_DATA (or ``root``)."""
    files: list[Path] = []
    base = data_root(root)
    for name in sources:
        if name == "music21":
            files += music21_files(split, limit_per_source)
            continue
        if base is None:
            raise FileNotFoundError(f"source {name!r} needs the shared datasets: set $SYMPHONIA_DATA")
        lister = {"pop909": pop909_files, "asap": asap_files, "cpm": cpm_files}.get(name)
        if lister is None:
            raise ValueError(f"unknown source {name!r}; choose from {SOURCES}")
        files += lister(base, split, limit_per_source)
    return files


@dataclass(frozen=True)
class MaestroPiece:
    """One recorded performance of a MAESTRO-layout folder: its audio, its aligned MIDI, its split."""

    audio: Path
    midi: Path
    split: str
    title: str


def maestro_pieces(folder: str | Path, split: str | None = None) -> list[MaestroPiece]:
    """Pieces listed in a MAESTRO folder's CSV (``maestro-v*.csv``: split, midi_filename, audio_filename, ...).

    Missing files are skipped; a folder without the CSV is an error that says what was expected.
    """
    folder = Path(folder)
    csvs = sorted(folder.glob("maestro-v*.csv")) or sorted(folder.glob("*.csv"))
    if not csvs:
        raise FileNotFoundError(f"{folder}: no maestro-v*.csv (expected the MAESTRO layout: CSV + year folders)")
    out = []
    with open(csvs[-1], newline="") as fh:
        for row in csv.DictReader(fh):
            if split and row["split"] != split:
                continue
            audio, midi = folder / row["audio_filename"], folder / row["midi_filename"]
            if audio.is_file() and midi.is_file():
                out.append(MaestroPiece(audio, midi, row["split"], row.get("canonical_title", midi.stem)))
    return out
