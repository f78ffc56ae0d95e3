"""`python -m symtok.demo`: build the embedded music21 corpus, then show how one piece is tokenized.

Prints the piece's first CP words (MidiBERT/M2BERT) and Aria tokens, checks that CP decoding gives the
same tokens back, and writes a pianoroll PNG. Runs offline; the corpus is cached after the first run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from symcore.corpus import build_corpus
from symcore.notes import load_notes
from symcore.plot import save_pianoroll_png

from symtok.aria import AbsTokenizer
from symtok.cache import build_cache
from symtok.cp import CPTokenizer

FIELDS = ("Bar", "Position", "Pitch", "Duration")


def cp_words(tokens: np.ndarray, n: int) -> list[str]:
    """Readable CP words: 'New/Cont pos/16 pitch dur-bin'."""
    bar = {0: "New", 1: "Cont"}
    return [f"[{bar.get(int(b), b)} {int(p) + 1:>2}/16 pitch {int(q) + 22:>3} dur {int(d):>2}]" for b, p, q, d in tokens[:n]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m symtok.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=120,
                    help="corpus files to build (default 120: the chorales every demo uses; 0 = the whole corpus, "
                         "also `make corpus`)")
    ap.add_argument("--out", default="outputs/demo")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    corpus = build_corpus(limit=args.limit or None, progress=True)
    composers: dict[str, int] = {}
    for m in corpus.metadata:
        composers[m["composer"]] = composers.get(m["composer"], 0) + 1
    print(f"embedded corpus: {len(corpus.files)} MIDI files in {corpus.root} ({time.perf_counter() - t0:.1f} s); "
          f"failed conversions: {len(corpus.failed)}")
    print("  by composer: " + ", ".join(f"{k} {v}" for k, v in sorted(composers.items(), key=lambda kv: -kv[1])))

    path, meta = corpus.files[0], corpus.metadata[0]
    notes = load_notes(path)
    print(f"\npiece: {meta.get('title') or path.stem} ({meta.get('composer')}, key {meta.get('key')}, "
          f"{len(notes)} notes, parts {meta.get('parts')})")

    cp = CPTokenizer()
    tokens = cp.encode(notes)
    again = cp.encode(cp.decode(tokens))
    print(f"CP tokens {tokens.shape} (bar, position, pitch, duration); decode->encode identical: "
          f"{np.array_equal(tokens, again)}")
    for word in cp_words(tokens, 8):
        print("  " + word)

    aria = AbsTokenizer()
    seq = aria.tokenize(path)
    ids = aria.encode(seq)
    print(f"Aria tokens: {len(seq)} (vocab {len(aria.vocab)}); first 16:")
    print("  " + " ".join(str(t) for t in seq[:16]))
    print(f"  ids: {ids[:16].tolist()}")

    png = save_pianoroll_png(notes, out / f"{path.stem}_pianoroll.png", title=str(meta.get("title") or path.stem))
    print(f"pianoroll: {png}")

    cache = build_cache(corpus.files[:50], cp, out / "cp_cache", workers=2, progress=False)
    print(f"token cache: {len(cache)} files, {cache.total_tokens} CP tokens in {out / 'cp_cache'} "
          f"({len(cache.failed)} skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
