"""MIR linear probes on frozen per-file embeddings: composer, period, emotion, pop-vs-classical genre.

Files: ASAP performances + CPM (composer, period, genre "classical"), EMOPIA clips (emotion quadrant),
POP909 songs (genre "pop"). Cross-validation is grouped by piece (all ASAP performances of one score stay in
one fold, so a probe cannot recognise the piece instead of the composer) and stratified by label; the
classifier is scikit-learn's logistic regression on standardised embeddings.
Periods are derived from the composer by this table (documented in docs/smcbench.md):
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

PERIOD = {
    "Bach": "baroque", "Scarlatti": "baroque", "Handel": "baroque",
    "Haydn": "classical", "Mozart": "classical", "Beethoven": "classical", "Clementi": "classical",
    "Schubert": "romantic", "Chopin": "romantic", "Schumann": "romantic", "Liszt": "romantic",
    "Mendelssohn": "romantic", "Brahms": "romantic", "Grieg": "romantic", "Tchaikovsky": "romantic",
    "Balakirev": "romantic", "Glinka": "romantic", "Burgmueller": "romantic", "Mussorgsky": "romantic",
    "Borodin": "romantic", "Moszkowski": "romantic", "Sinding": "romantic", "Albeniz": "romantic",
    "Debussy": "modern", "Ravel": "modern", "Scriabin": "modern", "Rachmaninoff": "modern",
    "Prokofiev": "modern", "Granados": "modern", "Godowsky": "modern",
}
MIN_FILES_PER_CLASS = 10


def _classical(root: Path) -> list[tuple[Path, str, str]]:
    """(midi, composer, piece group) from ASAP performances and CPM."""
    out = []
    meta = root / "asap" / "metadata.csv"
    if meta.is_file():
        with meta.open(newline="") as fh:
            for r in csv.DictReader(fh):
                out.append((root / "asap" / r["midi_performance"], r["composer"], f"asap/{r['folder']}"))
    meta = root / "cpm" / "metadata.csv"
    if meta.is_file():
        with meta.open(newline="") as fh:
            for r in csv.DictReader(fh):
                out.append((root / "cpm" / r["midi"], r["composer"], f"cpm/{r['midi']}"))
    return out


def probe_sets(root: Path, max_per_class: int | None = None) -> dict[str, list[tuple[Path, str, str]]]:
    """probe name -> [(file, label, group)], classes with too few files dropped (and said in the label list)."""
    classical = _classical(root)
    sets = {
        "composer": [(p, c, g) for p, c, g in classical],
        "period": [(p, PERIOD[c], g) for p, c, g in classical if c in PERIOD],
        "emotion": [(p, p.name[:2], p.stem) for p in sorted((root / "emopia" / "midis").glob("Q*_*.mid"))],
        "genre": [(p, "pop", p.parent.name) for p in sorted((root / "pop909" / "POP909").glob("*/*.mid"))]
                 + [(p, "classical", g) for p, _, g in classical],
    }
    for name, items in sets.items():
        counts = Counter(label for _, label, _ in items)
        items = [it for it in items if counts[it[1]] >= MIN_FILES_PER_CLASS]
        if max_per_class:  # spread subset, deterministic
            taken: Counter = Counter()
            kept = []
            for it in items:
                if taken[it[1]] < max_per_class:
                    kept.append(it)
                    taken[it[1]] += 1
            items = kept
        sets[name] = items
    return sets


def linear_probe(X: np.ndarray, labels: list[str], groups: list[str], seed: int = 0, folds: int = 5) -> dict:
    """Grouped, stratified k-fold logistic regression: mean accuracy and macro-F1 over folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.array(labels)
    n_groups = len(set(groups))
    k = min(folds, n_groups, min(Counter(labels).values()))
    if k < 2:
        raise ValueError("too few groups or files per class for cross-validation")
    accs, f1s = [], []
    for tr, te in StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(X, y, groups):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        clf.fit(X[tr], y[tr])
        pred = clf.predict(X[te])
        accs.append(accuracy_score(y[te], pred))
        f1s.append(f1_score(y[te], pred, average="macro"))
    return {"acc": float(np.mean(accs)), "macro_f1": float(np.mean(f1s)), "folds": k, "n_files": len(y),
            "classes": sorted(set(labels)), "chance": max(Counter(labels).values()) / len(y)}


def run_probes(embed: Callable[[Path], np.ndarray], root: Path, names: list[str] | None = None,
               max_per_class: int | None = None, seed: int = 0, progress: bool = True) -> tuple[dict, list]:
    """Embed every needed file once (bad files skipped and reported), then fit each probe."""
    from symcore.errors import MidiError
    from tqdm import tqdm

    sets = probe_sets(root, max_per_class)
    names = names or list(sets)
    unknown = [n for n in names if n not in sets]
    if unknown:
        raise ValueError(f"unknown probe(s) {unknown}; choose from {list(sets)}")
    files = sorted({p for n in names for p, _, _ in sets[n]})
    cache, failed = {}, []
    for p in tqdm(files, desc="embedding", disable=not progress):
        try:
            cache[p] = np.asarray(embed(p), dtype=np.float32)
        except (MidiError, OSError, ValueError) as exc:
            failed.append((str(p), str(exc)))
    results = {}
    for n in names:  # a probe without enough data is skipped and reported; the others still run
        items = [it for it in sets[n] if it[0] in cache]
        if len({lab for _, lab, _ in items}) < 2:
            failed.append((f"probe {n}", f"needs >= 2 classes with >= {MIN_FILES_PER_CLASS} readable files each, "
                                         f"found {dict(Counter(lab for _, lab, _ in items))} under {root}"))
            continue
        try:
            X = np.stack([cache[p] for p, _, _ in items])
            results[n] = linear_probe(X, [lab for _, lab, _ in items], [g for _, _, g in items], seed=seed)
        except ValueError as exc:
            failed.append((f"probe {n}", str(exc)))
    return results, failed
