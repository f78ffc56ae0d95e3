"""`python -m symtok.cache build FOLDER --tokenizer cp|aria -o OUT` and `... info OUT`."""

from __future__ import annotations

import argparse
import sys

TOKENIZERS = ("cp", "aria", "notes")


def make_encoder(name: str):
    """The picklable `path -> tokens` callable for a tokenizer name; tokenizers are imported only when asked for."""
    if name == "cp":
        from symtok.cp import CPTokenizer

        return CPTokenizer().encode_file
    if name == "aria":
        from symtok.aria import AbsTokenizer

        return AbsTokenizer().encode_file
    if name == "notes":
        from symtok.cache import note_columns

        return note_columns
    raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")


def main(argv: list[str] | None = None) -> int:
    from symtok.cache import BadFilesError, CacheError, TokenCache, build_cache

    parser = argparse.ArgumentParser(prog="python -m symtok.cache", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="tokenize a folder (or files) of MIDI into a memory-mapped token cache")
    b.add_argument("inputs", nargs="+", help="a folder searched recursively for .mid/.midi, or MIDI files")
    b.add_argument("--tokenizer", "-t", choices=TOKENIZERS, default="cp")
    b.add_argument("-o", "--out", required=True, help="cache directory to create (replaced atomically if a cache)")
    b.add_argument("--workers", "-j", type=int, default=2)
    b.add_argument("--strict", action="store_true", help="exit 1 if any file was skipped (the cache is still built)")
    b.add_argument("--no-progress", action="store_true")
    i = sub.add_parser("info", help="summarise a cache and list its skipped files")
    i.add_argument("cache")
    args = parser.parse_args(argv)

    try:
        if args.command == "info":
            cache = TokenCache(args.cache)
            print(repr(cache))
            print(cache.report())
            stale = cache.stale()
            print(f"{len(stale)} source files changed since the build" + "".join(f"\n  {p}" for p in stale))
            return 0
        inputs = args.inputs[0] if len(args.inputs) == 1 else args.inputs
        cache = build_cache(inputs, make_encoder(args.tokenizer), args.out, workers=args.workers,
                            strict=args.strict, progress=not args.no_progress)
    except BadFilesError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (CacheError, ImportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(repr(cache))
    print(cache.report())
    return 0 if len(cache) else 1  # no file could be tokenized: a failure even without --strict


if __name__ == "__main__":
    raise SystemExit(main())
