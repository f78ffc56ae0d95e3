"""The embedded default corpus: MIDI files made from the score corpus that `pip install music21` ships.

Every package can train, test and demo without the shared datasets. Sources are the core corpus of
music21 (`music21.corpus.getComposer`), one file per work or movement, Bach chorales first so `limit=12`
is quick. Choices:
- a work stored twice (`.krn` and `.mxl`) is converted once, from the MusicXML;
- RomanText analyses (`.rntxt`) are not scores, and multi-tune ABC collections (folk books) are left out;
  Palestrina's 1 318 mass movements are left out of the default list only because they triple the build time
  (ask for them with `composers=("palestrina",)` or `composers="all"`);
- MIDI is written by `score_to_notes` + `write_midi` (music21's own writer takes minutes on a whole quartet):
  one track per part, ties merged, velocity from dynamic markings, repeats unrolled for scores of at most
  `EXPAND_REPEATS_MAX_NOTES` notes whose repeats music21 can expand; any failure is skipped and reported.

The cache (`cache_root()/music21_corpus`) is built resumably and atomically: each MIDI is written to a temporary
file and renamed, then its metadata sidecar (`<name>.json`, also written for a failure so it is not retried),
and the index (`index.json`) last. Each conversion holds an `fcntl` lock on that source, so pytest-xdist workers
calling `build_corpus` at the same time convert each file once (and a long full build never blocks a caller
whose files are done); readers of a complete cache take no lock at all.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import re
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib.metadata import version as _pkg_version
from pathlib import Path

import numpy as np

from symcore.atomic import atomic_write
from symcore.midi_write import write_midi
from symcore.notes import KEYSIG_DTYPE, TEMPO_DTYPE, TIMESIG_DTYPE, NoteArray, notes_from_arrays
from symcore.paths import cache_root

FORMAT = 3  # 2: our own writer (score_to_notes), 3: repeats unrolled up to 2500 notes; a bump rebuilds caches
# music21's expandRepeats deep-copies the score (a minute of CPU for a whole quartet, minutes for some movements): only
# scores up to this many notes are unrolled (every chorale is; long movements keep the notated order).
EXPAND_REPEATS_MAX_NOTES = 2500
CACHE_DIR = "music21_corpus"
# Bach first (chorales, then the rest), then composers with a handful of multi-part works each.
DEFAULT_COMPOSERS = (
    "bach", "beethoven", "mozart", "haydn", "schumann_robert", "schumann_clara", "chopin", "schubert", "handel",
    "corelli", "cpebach", "joplin", "beach", "weber", "verdi", "schoenberg", "webern", "monteverdi", "trecento",
    "luca", "lusitano", "ciconia", "johnson_j_r", "liliuokalani",
)
SCORE_SUFFIXES = (".mxl", ".musicxml", ".xml", ".krn")  # preference order for a work stored twice


@dataclass
class Corpus:
    """MIDI files of the embedded corpus with one metadata dict each (parallel lists) and the failures."""

    files: list[Path]
    metadata: list[dict]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    root: Path | None = None
    seconds: float = 0.0  # wall time of this call (conversion included)
    converted: int = 0  # files converted by this call (0 when everything came from the cache)

    def __len__(self) -> int:
        return len(self.files)


# ------------------------------------------------------------------------------------------------ sources
def _natural_key(rel: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", rel)]


def _is_chorale(rel: str) -> bool:
    # bach/bwvNNN.M(.mxl) and bach/bwv250..438 are the four-part chorales; bwv846 (WTC) and the rest are not.
    m = re.fullmatch(r"bach/bwv(\d+)(\.\d+)?[^/]*", rel)
    return bool(m) and int(m.group(1)) != 846


def list_sources(composers: Sequence[str] | str | None = None) -> list[str]:
    """Corpus-relative source paths in build order (imports music21: about a second)."""
    from music21 import corpus as m21corpus

    if composers == "all":
        root = Path(m21corpus.__file__).parent
        names = sorted({p.relative_to(root).parts[0] for p in map(Path, m21corpus.getCorePaths())})
        composers = [c for c in DEFAULT_COMPOSERS if c in names] + [c for c in names if c not in DEFAULT_COMPOSERS]
    composers = list(DEFAULT_COMPOSERS if composers is None else ([composers] if isinstance(composers, str) else composers))
    out: list[str] = []
    for composer in composers:
        stems: dict[str, str] = {}
        for p in map(Path, m21corpus.getComposer(composer)):
            rel = "/".join(p.parts[p.parts.index("corpus") + 1:]) if "corpus" in p.parts else p.name
            if p.suffix not in SCORE_SUFFIXES:
                continue
            stem = rel[: -len(p.suffix)]
            old = stems.get(stem)
            if old is None or SCORE_SUFFIXES.index(p.suffix) < SCORE_SUFFIXES.index(Path(old).suffix):
                stems[stem] = rel
        rels = sorted(stems.values(), key=lambda r: (not _is_chorale(r), _natural_key(r)))
        out += [r for r in rels if r not in out]
    return out


def _name(rel: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", rel.rsplit(".", 1)[0].replace("/", "__"))


# ------------------------------------------------------------------------------------------------ conversion
def _atomic_write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1, ensure_ascii=False))


def _score_metadata(score, rel: str) -> dict:
    md = score.metadata
    title = (md.title or md.movementName) if md is not None else None
    if title and title.endswith(Path(rel).suffix):  # music21 uses the file name when the score has no title
        title = None
    composer = md.composer if md is not None and md.composer else None
    parts = list(score.parts) if hasattr(score, "parts") else []
    try:
        k = score.analyze("key")
        key = f"{k.tonic.name} {k.mode}"
    except Exception:  # analysis fails on unpitched/empty material: fall back to the written signature
        key = None
    ks = next(iter(score.recurse().getElementsByClass("KeySignature")), None)
    ts = next(iter(score.recurse().getElementsByClass("TimeSignature")), None)
    return {
        "source": rel, "composer": rel.split("/")[0], "composer_name": composer, "title": title or Path(rel).stem, "key": key,
        "key_signature_sharps": None if ks is None else int(ks.sharps),
        "time_signature": None if ts is None else ts.ratioString,
        "parts": len(parts), "part_names": [p.partName for p in parts],
        "chorale": _is_chorale(rel),
    }


def score_to_notes(score, tpq: int = 480) -> NoteArray:
    """A music21 Score as a NoteArray (one track per part), written by us rather than by music21's MIDI writer.

    music21's writer deep-copies and strips ties in ways that take minutes of CPU on a whole string quartet;
    this walks each part once. Ties are merged, grace notes and unpitched notes skipped; velocity follows the
    latest dynamic marking of the part (90 before any); tempo from metronome marks (120 qpm without one).
    """
    cols: dict[str, list] = {k: [] for k in ("onset", "offset", "pitch", "velocity", "track", "program")}
    for ti, part in enumerate(score.parts):
        flat = part.flatten()
        dyn = [(float(d.offset), d.volumeScalar) for d in flat.getElementsByClass("Dynamic") if d.volumeScalar]
        dyn_on = np.array([o for o, _ in dyn], np.float64)
        dyn_vel = np.array([round(127 * v) for _, v in dyn], np.int64)
        inst = part.getInstrument(returnDefault=True)
        program = int(inst.midiProgram or 0) if inst is not None else 0
        start = len(cols["onset"])
        open_ties: dict[int, int] = {}  # MIDI pitch -> row of the note its tie continues
        for el in flat.notes:
            if el.duration.isGrace:
                continue
            on, end = float(el.offset), float(el.offset + el.duration.quarterLength)
            for nt in (el.notes if el.isChord else [el]):
                if not hasattr(nt, "pitch"):
                    continue
                midi = int(nt.pitch.midi)
                tie = (nt.tie or (el.tie if el.isChord else None))
                tie = tie.type if tie is not None else None
                if tie in ("stop", "continue") and midi in open_ties:
                    cols["offset"][open_ties[midi]] = end
                    if tie == "stop":
                        del open_ties[midi]
                    continue
                if tie in ("start", "continue"):
                    open_ties[midi] = len(cols["onset"])
                for k, v in (("onset", on), ("offset", end), ("pitch", midi), ("track", ti), ("program", program)):
                    cols[k].append(v)
        ons = np.array(cols["onset"][start:], np.float64)
        i = np.searchsorted(dyn_on, ons, side="right") - 1
        cols["velocity"] += np.where(i >= 0, dyn_vel[np.maximum(i, 0)] if len(dyn_vel) else 90, 90).tolist()
    if not cols["onset"]:
        raise ValueError("the score has no pitched notes")
    flat = score.flatten()
    marks = {}
    for mm in flat.getElementsByClass("MetronomeMark"):
        bpm = mm.getQuarterBPM()
        if bpm:
            marks.setdefault(round(float(mm.offset) * tpq), float(bpm))
    tempos = np.array(sorted(marks.items()) or [(0, 120.0)], TEMPO_DTYPE)
    ts = {round(float(t.offset) * tpq): (t.numerator, t.denominator) for t in
          score.parts[0].flatten().getElementsByClass("TimeSignature")}
    ks = {round(float(k.offset) * tpq): (int(k.sharps), int(getattr(k, "mode", "major") == "minor")) for k in
          score.parts[0].flatten().getElementsByClass("KeySignature")}
    ticks = {k: np.rint(np.array(cols[k], np.float64) * tpq).astype(np.int64) for k in ("onset", "offset")}
    names = tuple(p.partName or f"part {i}" for i, p in enumerate(score.parts))
    notes = notes_from_arrays(
        ticks["onset"], ticks["offset"] - ticks["onset"], cols["pitch"], np.clip(cols["velocity"], 1, 127),
        track=cols["track"], program=cols["program"], tpq=tpq, tempos=tempos, track_names=names,
        time_signatures=np.array([(t, n, d) for t, (n, d) in sorted(ts.items())], TIMESIG_DTYPE),
    )
    return replace(notes, key_signatures=np.array([(t, k, m) for t, (k, m) in sorted(ks.items())], KEYSIG_DTYPE))


def convert_source(rel: str, out: Path, expand_limit: int = EXPAND_REPEATS_MAX_NOTES) -> dict:
    """Parse one corpus score, write its MIDI atomically to `out`, return its metadata (raises on failure)."""
    from music21 import corpus as m21corpus

    score = m21corpus.parse(rel)
    if not hasattr(score, "parts") or not len(score.parts):  # an Opus (several works in one file) is not one piece
        raise ValueError(f"{type(score).__name__} is not a single score with parts")
    meta = _score_metadata(score, rel)
    meta["repeats_expanded"] = False
    if len(score.recurse().notes) <= expand_limit:
        try:
            score = score.expandRepeats()
            meta["repeats_expanded"] = True
        except Exception:  # badly formed repeats: keep the notated order
            pass
    write_midi(score_to_notes(score), out)
    return meta


# ------------------------------------------------------------------------------------------------ cache
@contextmanager
def _locked(lock_path: Path):
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _sources(root: Path, composers, refresh: bool) -> list[str]:
    """The source list, cached per composer selection and music21 version (saves importing music21)."""
    key = "all" if composers == "all" else ",".join(
        DEFAULT_COMPOSERS if composers is None else [composers] if isinstance(composers, str) else composers)
    path = root / "sources.json"
    cached = _read_json(path) or {}
    m21 = _pkg_version("music21")
    if cached.get("music21") != m21 or cached.get("format") != FORMAT:
        cached = {"format": FORMAT, "music21": m21, "lists": {}}
    if refresh or key not in cached["lists"]:
        cached["lists"][key] = list_sources(composers)
        _atomic_write_json(path, cached)
    return cached["lists"][key]


def _collect(root: Path, sources: Iterable[str], limit: int | None, index: dict,
             retry_failed: bool = False) -> tuple[Corpus, list[str]]:
    """Corpus from what is on disk; also the sources still missing before `limit` files are reached."""
    corpus, missing = Corpus([], [], root=root), []
    for rel in sources:
        if limit is not None and len(corpus.files) >= limit:
            break
        name = _name(rel)
        entry = index.get(rel) or _read_json(root / f"{name}.json")
        if entry is not None and entry.get("format") != FORMAT:  # written by an older converter
            entry = None
        ok = entry is not None and entry.get("status") == "ok"
        if entry is None or (ok and not (root / f"{name}.mid").is_file()) or (not ok and retry_failed):
            missing.append(rel)
            if limit is not None and len(corpus.files) + len(missing) >= limit:
                break
            continue
        if entry.get("status") == "ok":
            corpus.files.append(root / f"{name}.mid")
            corpus.metadata.append(entry["meta"])
        else:
            corpus.failed.append((rel, entry.get("reason", "unknown")))
    return corpus, missing


def build_corpus(
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    composers: Sequence[str] | str | None = None,
    *,
    retry_failed: bool = False,
    progress: bool = False,
) -> Corpus:
    """MIDI files of the music21 corpus, converted once and cached; `limit` = number of files wanted.

    `composers`: corpus directory names (default `DEFAULT_COMPOSERS`, or "all"). Failed conversions are
    returned in `.failed` and not retried unless `retry_failed`.
    """
    t0 = time.perf_counter()
    root = Path(cache_dir) if cache_dir is not None else cache_root() / CACHE_DIR
    root.mkdir(parents=True, exist_ok=True)
    sources = _sources(root, composers, refresh=False)
    index = (_read_json(root / "index.json") or {}).get("entries", {})
    corpus, missing = _collect(root, sources, limit, index, retry_failed)
    converted, retry = 0, retry_failed
    while missing:  # a failure leaves `limit` unreached: look further down the list
        for rel in missing:
            entry, done = _convert_locked(root, rel, retry)
            index[rel] = entry
            converted += done
            if progress and done and converted % 25 == 0:
                print(f"  converted {converted} ({rel})", flush=True)
            if done and converted % 50 == 0:
                _write_index(root, index)
        retry = False
        corpus, missing = _collect(root, sources, limit, index)
    if converted:
        _write_index(root, index)
    corpus.converted = converted
    corpus.seconds = time.perf_counter() - t0
    return corpus


def _convert_locked(root: Path, rel: str, retry_failed: bool) -> tuple[dict, bool]:
    """Convert one source under its own lock; (entry, True) if converted here, (entry, False) if another did."""
    name = _name(rel)
    (root / ".locks").mkdir(exist_ok=True)
    with _locked(root / ".locks" / f"{name}.lock"):
        entry = _read_json(root / f"{name}.json")
        if entry is not None and entry.get("format") == FORMAT:
            if entry.get("status") == "ok" and (root / f"{name}.mid").is_file():
                return entry, False
            if entry.get("status") == "failed" and not retry_failed:
                return entry, False
        for stale in root.glob(f".{name}.*.tmp"):  # left by a killed builder
            stale.unlink(missing_ok=True)
        try:
            meta = convert_source(rel, root / f"{name}.mid")
            entry = {"format": FORMAT, "status": "ok", "meta": {**meta, "file": f"{name}.mid"}}
        except Exception as exc:  # music21 raises many types for odd scores: skip and report
            entry = {"format": FORMAT, "status": "failed", "source": rel,
                     "reason": f"{type(exc).__name__}: {exc}"[:300]}
        _atomic_write_json(root / f"{name}.json", entry)
        return entry, True


def _write_index(root: Path, entries: dict) -> None:
    """Merge `entries` into index.json under a short lock (several builders may finish at once)."""
    with _locked(root / ".index.lock"):
        on_disk = (_read_json(root / "index.json") or {}).get("entries", {})
        merged = {k: v for k, v in on_disk.items() if v.get("format") == FORMAT} | entries
        _atomic_write_json(root / "index.json", {"format": FORMAT, "music21": _pkg_version("music21"),
                                                 "entries": merged})


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m symcore.corpus", description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="number of MIDI files wanted (default: all)")
    ap.add_argument("--cache-dir", default=None, help="default: $SYMPHONIA_CACHE/music21_corpus")
    ap.add_argument("--composers", default=None, help="comma-separated corpus directories, or 'all'")
    ap.add_argument("--retry-failed", action="store_true")
    args = ap.parse_args(argv)
    composers = None if args.composers is None else ("all" if args.composers == "all" else args.composers.split(","))
    c = build_corpus(args.limit, args.cache_dir, composers, retry_failed=args.retry_failed, progress=True)
    by_comp: dict[str, int] = {}
    for m in c.metadata:
        by_comp[m["composer"]] = by_comp.get(m["composer"], 0) + 1
    print(f"{len(c.files)} MIDI files in {c.root} ({c.converted} converted now, {c.seconds:.1f} s)")
    print("by composer: " + ", ".join(f"{k} {v}" for k, v in by_comp.items()))
    print(f"chorales: {sum(m['chorale'] for m in c.metadata)}; failed: {len(c.failed)}")
    for src, reason in c.failed[:20]:
        print(f"  failed {src}: {reason}")


if __name__ == "__main__":
    main()
