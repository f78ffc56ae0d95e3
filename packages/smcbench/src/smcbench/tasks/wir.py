"""When-in-Rome pieces for CR and LK: a score (score.mxl) with a RomanText analysis (analysis.txt) beside it.

Only folders holding both are usable (242 in the shared copy: piano sonatas, keyboard, quartets, Lieder, one
orchestral movement); the rest point at remote scores. Chords are placed by (measure number, offset in the
measure) rather than by absolute offset, because analyses and scores disagree on pickup bars. music21 parses a
piece in about two seconds, so each parsed piece is kept as a small .npz under the cache (no pickles).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from symcore.atomic import atomic_path
from symcore.paths import cache_root

from smcbench.tasks.spelling import KEY_ID, ROOT_ID

PARSE_VERSION = "1"


def wir_folders(root: Path) -> list[Path]:
    """Folders under ``when_in_rome/Corpus`` with both ``score.mxl`` and ``analysis.txt``, sorted."""
    corpus = root / "when_in_rome" / "Corpus"
    if not corpus.is_dir():
        return []
    return sorted(p.parent for p in corpus.rglob("analysis.txt") if (p.parent / "score.mxl").is_file())


def _score_without_harmony(mxl: Path):
    """Some scores carry <harmony> chord symbols music21 cannot read ('Db.I6'); they are not needed here."""
    import re
    import zipfile

    import music21

    with zipfile.ZipFile(mxl) as z:
        name = next(n for n in z.namelist() if n.endswith((".xml", ".musicxml")) and not n.startswith("META-INF"))
        text = z.read(name).decode("utf-8", errors="replace")
    text = re.sub(r"<harmony\b.*?</harmony>", "", text, flags=re.S)
    return music21.converter.parse(text, format="musicxml")


def _parse(folder: Path):
    import music21

    try:
        score = music21.converter.parse(folder / "score.mxl")
    except music21.harmony.HarmonyException:
        score = _score_without_harmony(folder / "score.mxl")
    score = score.stripTies()
    rows = []
    for n in score.recurse().notes:
        if n.duration.isGrace:
            continue
        on = float(n.getOffsetInHierarchy(score))
        for p in n.pitches:
            rows.append((on, float(n.quarterLength), float(p.midi)))
    notes = np.array(sorted(rows), dtype=np.float64).reshape(-1, 3)
    measures = score.parts[0].getElementsByClass("Measure")
    starts: dict[int, float] = {}
    for m in measures:
        starts.setdefault(int(m.number), float(m.getOffsetInHierarchy(score)))
    downbeats = np.array(sorted(set(starts.values()) | {float(score.highestTime)}))

    analysis = music21.converter.parse(folder / "analysis.txt", format="romantext")
    spans = []
    for rn in analysis.recurse().getElementsByClass("RomanNumeral"):
        if rn.measureNumber not in starts:
            continue  # an analysis bar the score does not have
        on = starts[rn.measureNumber] + float(rn.offset)
        root, key = rn.root().name, rn.key.tonicPitchNameWithCase
        spans.append((on, ROOT_ID.get(root, -1), KEY_ID.get(key, -1), f"{root}/{key}"))
    spans.sort(key=lambda s: s[0])
    ends = [s[0] for s in spans[1:]] + [float(score.highestTime)]
    return notes, downbeats, [(s[0], e, s[1], s[2], s[3]) for s, e in zip(spans, ends)]


def wir_piece(folder: Path):
    """(onset, duration, pitch) in quarters, downbeats, spans (start, end, root id, key id, spelling)."""
    stat = [(folder / f).stat() for f in ("score.mxl", "analysis.txt")]
    key = hashlib.sha1(f"{folder.resolve()}|{[(s.st_size, s.st_mtime_ns) for s in stat]}|{PARSE_VERSION}"
                       .encode()).hexdigest()[:16]
    path = cache_root() / "smcbench" / "wir" / f"{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            spans = [(float(a), float(b), int(r), int(k), str(t))
                     for (a, b), r, k, t in zip(z["span_times"], z["roots"], z["keys"], z["names"])]
            return z["notes"], z["downbeats"], spans
    notes, downbeats, spans = _parse(folder)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, notes=notes, downbeats=downbeats,
                 span_times=np.array([(s[0], s[1]) for s in spans], np.float64).reshape(-1, 2),
                 roots=np.array([s[2] for s in spans], np.int64), keys=np.array([s[3] for s in spans], np.int64),
                 names=np.array([s[4] for s in spans], dtype=str))
    return notes, downbeats, spans
