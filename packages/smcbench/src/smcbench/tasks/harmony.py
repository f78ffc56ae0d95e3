"""CR (chord root) and LK (local key) per note, from BPS-FH, DCML ABC and When-in-Rome in their raw layouts.

Each note is labelled with the chord (or key) annotation active at its onset; bars are resized to 4/4 from
the datasets' own downbeats. Roots and keys are spelled (35 roots, 37 keys, ids of the SMC benchmark).
When-in-Rome contributes its pieces whose score is local (see `wir.py`); the other AugmentedNet corpora (Haydn
op. 20, TAVERN, ...) are not in the shared data. AugmentedNet's split file is not in the raw data either, so
pieces are split deterministically per corpus (sorted; every 10th test, next valid).
Annotations whose spelling falls outside the class lists are counted in `skipped`, never relabelled.
"""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import numpy as np

from smcbench.tasks.base import Piece, TaskData, TaskSpec
from smcbench.tasks.beats import split_of_piece
from smcbench.tasks.motif import downbeats_file, read_downbeats
from smcbench.tasks.notes import extend_downbeats, note_array, resize_to_bars, tokens_with_labels
from smcbench.tasks.spelling import KEY_ID, ROOT_ID, degree_tpc, key_name, name_tpc, roman_tpc, tpc_name
from smcbench.tasks.wir import wir_folders, wir_piece


def _xlsx_rows(path: Path) -> list[tuple]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)  # cached values, not formulas
    return [r for r in wb.active.iter_rows(values_only=True) if r and r[0] is not None]


def bps_piece(folder: Path):
    """(onset, duration, pitch) in beats, downbeats, and annotation spans (start, root id, key id)."""
    with (folder / "notes.csv").open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    notes = np.array([[float(r[0]), float(r[3]), float(r[1])] for r in rows])
    spans = []
    for on, off, key, degree, *_ in _xlsx_rows(folder / "chords.xlsx"):
        tonic, minor = name_tpc(str(key)), str(key)[0].islower()
        root = tpc_name(degree_tpc(str(degree), tonic, minor))
        spans.append((float(on), float(off), ROOT_ID.get(root, -1), KEY_ID.get(key_name(tonic, minor), -1), f"{root}/{key}"))
    return notes, read_downbeats(downbeats_file(folder)), spans


def _q(value: str) -> float:
    return float(Fraction(value))


def abc_piece(root: Path, name: str):
    """The same triple for one DCML ABC movement (tied continuations are not new onsets)."""
    def read(kind):
        with (root / kind / f"{name}.{kind}.tsv").open(newline="") as fh:
            return list(csv.DictReader(fh, delimiter="\t"))

    notes = np.array([[_q(r["quarterbeats"]), _q(r["duration_qb"]), float(r["midi"])] for r in read("notes")
                      if r["quarterbeats"] and r.get("tied", "") not in ("0", "-1") and not r.get("gracenote")])
    downbeats = np.array(sorted({_q(r["quarterbeats"]) for r in read("measures") if r["quarterbeats"]}))
    spans = []
    harmonies = [r for r in read("harmonies") if r["quarterbeats"] and r["root"] not in ("", None)]
    for i, r in enumerate(harmonies):
        on = _q(r["quarterbeats"])
        off = _q(harmonies[i + 1]["quarterbeats"]) if i + 1 < len(harmonies) else on + _q(r["duration_qb"])
        g_tonic, g_minor = name_tpc(r["globalkey"]), r["globalkey"][0].islower()
        l_tonic, l_minor = roman_tpc(r["localkey"], g_tonic, g_minor)
        root_name = tpc_name(l_tonic + int(float(r["root"])))
        spans.append((on, off, ROOT_ID.get(root_name, -1), KEY_ID.get(key_name(l_tonic, l_minor), -1),
                      f"{root_name}/{key_name(l_tonic, l_minor)}"))
    return notes, downbeats, spans


def label_notes(onset: np.ndarray, spans: list, which: int) -> tuple[np.ndarray, list[str]]:
    """Label of the span active at each onset (0 outside every span); unknown spellings reported."""
    starts = np.array([s[0] for s in spans])
    ends = np.array([s[1] for s in spans])
    ids = np.array([s[2 + which] for s in spans])
    i = np.searchsorted(starts, onset, side="right") - 1
    inside = (i >= 0) & (onset < ends[np.maximum(i, 0)])
    labels = np.where(inside, ids[np.maximum(i, 0)], 0)
    bad = sorted({spans[j][4] for j in np.unique(i[inside & (labels < 0)])})
    return np.maximum(labels, 0), bad


def _build(root: Path, spec: TaskSpec, which: int, limit: int | None = None) -> TaskData:
    items: list[tuple[str, callable]] = []
    bps = root / "bps_fh" / "BPS_FH_Dataset"
    if bps.is_dir():
        folders = sorted((p for p in bps.iterdir() if p.is_dir()), key=lambda p: int(p.name))
        items += [(f"bps_fh/{p.name}", lambda p=p: bps_piece(p)) for p in folders[:limit]]
    abc = root / "dcml_abc"
    if (abc / "harmonies").is_dir():
        names = sorted(p.name.split(".")[0] for p in (abc / "harmonies").glob("*.harmonies.tsv"))
        items += [(f"dcml_abc/{n}", lambda n=n: abc_piece(abc, n)) for n in names[:limit]]
    items += [(f"when_in_rome/{p.relative_to(root / 'when_in_rome' / 'Corpus')}", lambda p=p: wir_piece(p))
              for p in wir_folders(root)[:limit]]
    if not items:
        raise FileNotFoundError(f"{spec.name}: none of {bps}, {abc / 'harmonies'}, "
                                f"{root / 'when_in_rome' / 'Corpus'} exists")
    pieces, skipped = [], []
    counters: dict[str, int] = {}
    for name, load in items:
        corpus = name.split("/")[0]
        index = counters[corpus] = counters.get(corpus, -1) + 1
        try:
            notes, downbeats, spans = load()
        except Exception as exc:  # noqa: BLE001 - music21 raises its own types; the piece is reported, not lost
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [""]
            why = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"  # music21 embeds tracebacks
            skipped.append((name, f"unreadable annotation: {type(exc).__name__}: {why}"))
            continue
        if len(notes) == 0 or len(spans) == 0:
            skipped.append((name, "no notes or no annotations"))
            continue
        spans.sort(key=lambda s: s[0])
        labels, bad = label_notes(notes[:, 0], spans, which)
        if bad:
            skipped.append((name, f"{len(bad)} annotation spellings outside the class list (labelled 0): {bad[:5]}"))
        keep, on_q, off_q = resize_to_bars(notes[:, 0], notes[:, 1], extend_downbeats(downbeats))
        arr = note_array(on_q[keep], off_q[keep], np.clip(notes[keep, 2], 0, 127).astype(int))
        tokens, token_labels = tokens_with_labels(arr, labels[keep])
        pieces.append(Piece(name, tokens, token_labels, split=split_of_piece(index)))
    return TaskData(spec, pieces, skipped)


CR = TaskSpec("CR", "chord root (BPS-FH + DCML ABC + When-in-Rome)", "note", 36, "acc", "fixed",
              "bps_fh, dcml_abc, when_in_rome",
              build=lambda root, limit=None: _build(root, CR, 0, limit),
              note="note-level at onsets; per-corpus 80/10/10 piece split (AugmentedNet's split file not in raw data)")
LK = TaskSpec("LK", "local key (BPS-FH + DCML ABC + When-in-Rome)", "note", 38, "acc", "fixed",
              "bps_fh, dcml_abc, when_in_rome",
              build=lambda root, limit=None: _build(root, LK, 1, limit),
              note="note-level at onsets; per-corpus 80/10/10 piece split (AugmentedNet's split file not in raw data)")
