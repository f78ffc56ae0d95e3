"""Fuzz targets for the tokenizers and the token cache (run by `symcore.fuzz.run_fuzz` in guarded workers).

Each target takes a MIDI path, raises `MidiError` for bad input and checks its own result: token ids inside the
vocabulary, decoding does not crash, the cache holds exactly what the encoder returns. A tokenizer that does
not exist yet is an ImportError, which `symcore.fuzz.available` turns into a skip.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
from symcore.errors import EmptyMidiError, MidiError

TARGETS = ("symtok.fuzz:cp_target", "symtok.fuzz:aria_target", "symtok.fuzz:cache_target")


@functools.cache
def _cp():
    from symtok.cp import CPTokenizer

    return CPTokenizer()


@functools.cache
def _aria():
    from symtok.aria import AbsTokenizer

    return AbsTokenizer()


def cp_target(path: str) -> None:
    from symtok.cp import CP_VOCAB_SIZES

    tokens = _cp().encode_file(path)
    assert tokens.ndim == 2 and tokens.shape[1] == 4, f"CP tokens of shape {tokens.shape}"
    assert ((tokens >= 0) & (tokens < np.asarray(CP_VOCAB_SIZES))).all(), "CP token outside its vocabulary"
    _cp().decode(tokens)


def aria_target(path: str) -> None:
    tok = _aria()
    ids = tok.encode_file(path)
    assert ids.ndim == 1 and ((ids >= 0) & (ids < tok.vocab_size)).all(), "Aria id outside the vocabulary"
    tok.detokenize(ids)


def _cache_encoder():
    """The richest encoder available: CP, else Aria, else the raw note columns."""
    for make in (lambda: _cp().encode_file, lambda: _aria().encode_file):
        try:
            return make()
        except ImportError:
            continue
    from symtok.cache import note_columns

    return note_columns


def cache_target(path: str) -> None:
    """A one-file cache build: the file is cached exactly as encoded, or listed as failed with a MidiError reason."""
    from symtok.cache import TokenCache, build_cache

    encode = _cache_encoder()
    tmp = Path(tempfile.mkdtemp(prefix="symfuzz-cache-"))
    try:
        cache = build_cache([path], encode, tmp / "c", workers=0, progress=False)
        if cache.failed:
            f = cache.failed[0]
            assert f.kind != "crash", f.reason
            cause = f.reason.split(": ", 1)[-1]
            raise (EmptyMidiError if f.kind == "empty" else MidiError)(path, cause)
        again = TokenCache(tmp / "c", encoder=encode)
        np.testing.assert_array_equal(again[0], encode(path))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
