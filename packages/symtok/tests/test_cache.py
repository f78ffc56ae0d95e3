"""Token cache: real POP909 files plus corrupt/empty ones, interrupted and killed builds, staleness, reopening."""

from __future__ import annotations

import functools
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import symusic
from symcore.notes import load_notes
from symtok.cache import (
    BadFilesError,
    CacheError,
    CacheMismatchError,
    IncompleteCacheError,
    TokenCache,
    build_cache,
    cached,
    note_columns,
)
from symtok.cache_cli import main as cli_main

N_REAL = 10


def pitches(path: str) -> np.ndarray:
    """A 1-D test encoder that is not `note_columns`."""
    return load_notes(path).pitch.astype(np.int16)


def interrupt_on(path: str, *, marker: str) -> np.ndarray:
    if marker in Path(path).name:
        raise KeyboardInterrupt
    return note_columns(path)


def buggy(path: str) -> np.ndarray:
    if "003" in Path(path).name:
        raise ZeroDivisionError("bug in the encoder")
    return note_columns(path)


@pytest.fixture()
def midi_dir(tmp_path, data_root) -> Path:
    """N_REAL POP909 songs plus one truncated, one non-MIDI, one 0-byte and one valid-but-empty file."""
    src = data_root / "pop909" / "POP909"
    if not src.is_dir():
        pytest.skip("POP909 absent from the shared data")
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(1, N_REAL + 1):
        shutil.copy(src / f"{i:03d}" / f"{i:03d}.mid", folder / f"{i:03d}.mid")
    data = (folder / "001.mid").read_bytes()
    (folder / "zz_truncated.mid").write_bytes(data[: len(data) // 3])
    (folder / "zz_text.mid").write_text("this is not a MIDI file\n")
    (folder / "zz_zero.mid").write_bytes(b"")
    score = symusic.Score(480)
    score.tracks.append(symusic.Track("silent"))
    score.dump_midi(str(folder / "zz_empty.mid"))
    (folder / "readme.txt").write_text("ignored: not a MIDI suffix")
    return folder


def real_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("[0-9]*.mid"))


def test_build_skips_and_reports_bad_files(midi_dir, tmp_path):
    cache = build_cache(midi_dir, note_columns, tmp_path / "cache", workers=2, progress=False)
    assert len(cache) == N_REAL
    assert [Path(p).name for p in cache.paths] == [p.name for p in real_files(midi_dir)]
    for i, path in enumerate(real_files(midi_dir)):
        np.testing.assert_array_equal(cache[i], note_columns(str(path)))
    assert cache.lengths.sum() == cache.total_tokens == sum(len(load_notes(p)) for p in real_files(midi_dir))
    kinds = {Path(f.path).name: f.kind for f in cache.failed}
    assert kinds == {"zz_truncated.mid": "error", "zz_text.mid": "error", "zz_zero.mid": "error",
                     "zz_empty.mid": "empty"}
    assert cache.n_empty == 1
    for f in cache.failed:
        assert Path(f.path).name in f.reason  # every reason names its file
    assert "zz_truncated.mid" in cache.report() and "1 empty" in cache.report()


def test_reopen_equals_built_and_is_read_only(midi_dir, tmp_path):
    built = build_cache(midi_dir, pitches, tmp_path / "cache", workers=0, progress=False)
    again = TokenCache(tmp_path / "cache", encoder=pitches)
    assert len(again) == len(built) and again.paths == built.paths and again.feature_shape == ()
    assert again.dtype == np.int16
    for a, b in zip(built, again):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(again[-1], pitches(built.paths[-1]))
    with pytest.raises(ValueError):
        again[0][0] = 1  # memory-mapped read-only
    with pytest.raises(IndexError):
        again[len(again)]
    clone = pickle.loads(pickle.dumps(again))  # DataLoader workers re-map rather than copy
    np.testing.assert_array_equal(clone[3], again[3])
    assert len(pickle.dumps(again)) < 1000


def test_strict_raises_after_building(midi_dir, tmp_path):
    with pytest.raises(BadFilesError) as info:
        build_cache(midi_dir, note_columns, tmp_path / "cache", workers=0, strict=True, progress=False)
    assert len(info.value.cache.failed) == 4 and "zz_text.mid" in str(info.value)
    assert len(TokenCache(tmp_path / "cache")) == N_REAL  # the good files are cached anyway


def test_encoder_crash_is_reported_not_fatal(midi_dir, tmp_path):
    cache = build_cache(real_files(midi_dir), buggy, tmp_path / "cache", workers=2, progress=False)
    crashes = [f for f in cache.failed if f.kind == "crash"]
    assert len(cache) == N_REAL - 1 and len(crashes) == 1 and "ZeroDivisionError" in crashes[0].reason
    with pytest.raises(CacheError, match="every file"):
        build_cache(real_files(midi_dir)[2:3], buggy, tmp_path / "c2", workers=0, progress=False)


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupted_build_leaves_no_cache(midi_dir, tmp_path, workers):
    out = tmp_path / "cache"
    enc = functools.partial(interrupt_on, marker="006")
    with pytest.raises(KeyboardInterrupt):
        build_cache(real_files(midi_dir), enc, out, workers=workers, progress=False)
    assert not out.exists()
    assert not list(tmp_path.glob(".cache.*")), "partial build directory left behind"
    with pytest.raises(IncompleteCacheError, match="interrupted"):
        TokenCache(out)
    # An interrupted rebuild keeps the previous complete cache untouched.
    old = build_cache(real_files(midi_dir)[:3], note_columns, out, workers=0, progress=False)
    with pytest.raises(KeyboardInterrupt):
        build_cache(real_files(midi_dir), enc, out, workers=workers, progress=False)
    kept = TokenCache(out)
    assert kept.paths == old.paths and kept.total_tokens == old.total_tokens


KILLED_BUILD = """
import sys, time
from symtok.cache import build_cache, note_columns

def slow(path):
    time.sleep(0.3)
    return note_columns(path)

build_cache(sys.argv[1:-1], slow, sys.argv[-1], workers=0, progress=False)
"""


def test_killed_build_never_reads_as_complete(midi_dir, tmp_path):
    out = tmp_path / "cache"
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(KILLED_BUILD))
    files = [str(p) for p in real_files(midi_dir)]
    proc = subprocess.Popen([sys.executable, str(script), *files, str(out)])
    try:
        deadline = time.monotonic() + 60
        partial = None
        while time.monotonic() < deadline and partial is None:  # wait until tokens are being written
            found = [p for p in tmp_path.glob(".cache.partial-*") if (p / "tokens.bin").exists()
                     and (p / "tokens.bin").stat().st_size > 0]
            partial = found[0] if found else None
            time.sleep(0.05)
        assert partial is not None, "the build never started writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists() and not (partial / "manifest.json").exists()
    for candidate in (out, partial):
        with pytest.raises(IncompleteCacheError):
            TokenCache(candidate)
    cache = build_cache(files, note_columns, out, workers=0, progress=False)  # a new build cleans up the corpse
    assert len(cache) == N_REAL and not partial.exists()


def test_damaged_cache_is_refused(midi_dir, tmp_path):
    out = tmp_path / "cache"
    build_cache(real_files(midi_dir)[:3], note_columns, out, workers=0, progress=False)
    tokens = out / "tokens.bin"
    tokens.write_bytes(tokens.read_bytes()[:-8])
    with pytest.raises(IncompleteCacheError, match="truncated"):
        TokenCache(out)
    (out / "manifest.json").unlink()
    with pytest.raises(IncompleteCacheError):
        TokenCache(out)


def test_other_encoder_is_refused(midi_dir, tmp_path):
    build_cache(real_files(midi_dir)[:2], note_columns, tmp_path / "cache", workers=0, progress=False)
    assert len(TokenCache(tmp_path / "cache", encoder=note_columns)) == 2
    assert len(TokenCache(tmp_path / "cache", encoder="note_columns")) == 2
    with pytest.raises(CacheMismatchError, match="note_columns"):
        TokenCache(tmp_path / "cache", encoder=pitches)
    with pytest.raises(CacheMismatchError):
        TokenCache(tmp_path / "cache", encoder=functools.partial(interrupt_on, marker="x"))


def test_refuses_to_overwrite_a_non_cache_directory(midi_dir, tmp_path):
    precious = tmp_path / "music"
    precious.mkdir()
    (precious / "song.mid").write_bytes(b"keep me")
    with pytest.raises(CacheError, match="not a token cache"):
        build_cache(real_files(midi_dir)[:1], note_columns, precious, workers=0, progress=False)
    assert (precious / "song.mid").read_bytes() == b"keep me"


def test_staleness_and_cached_reuse(midi_dir, tmp_path):
    files = real_files(midi_dir)[:4] + [midi_dir / "zz_text.mid"]
    first = cached(files, note_columns, "pop", workers=0, root=tmp_path / "root", progress=False)
    assert first.dir.parent == tmp_path / "root" / "tokens" and first.dir.name.startswith("pop-")
    assert not first.is_stale()
    built_at = (first.dir / "manifest.json").stat().st_mtime_ns
    assert cached(files, note_columns, "pop", workers=0, root=tmp_path / "root").dir == first.dir
    assert (first.dir / "manifest.json").stat().st_mtime_ns == built_at  # reused, not rebuilt
    # A fixed bad file and an edited good file both make the cache stale.
    shutil.copy(midi_dir / "005.mid", midi_dir / "zz_text.mid")
    shutil.copy(midi_dir / "009.mid", files[1])
    assert sorted(first.stale()) == sorted([str(files[1].absolute()), str((midi_dir / "zz_text.mid").absolute())])
    assert str((midi_dir / "010.mid").absolute()) in first.stale(midi_dir)  # never-seen file
    fresh = cached(files, note_columns, "pop", workers=0, root=tmp_path / "root", progress=False)
    assert len(fresh) == 5 and not fresh.failed and not fresh.is_stale()
    np.testing.assert_array_equal(fresh[1], note_columns(str(midi_dir / "009.mid")))
    assert cached(files, pitches, "pop", workers=0, root=tmp_path / "root", progress=False).dir != first.dir
    files[0].unlink()
    assert str(files[0].absolute()) in fresh.stale()


def test_cli_build_and_info(midi_dir, tmp_path, capsys):
    out = tmp_path / "cli-cache"
    assert cli_main(["build", str(midi_dir), "-t", "notes", "-o", str(out), "-j", "2", "--no-progress"]) == 0
    assert "4 skipped" in capsys.readouterr().out
    assert len(TokenCache(out, encoder=note_columns)) == N_REAL
    assert cli_main(["build", str(midi_dir), "-t", "notes", "-o", str(out), "--strict", "--no-progress"]) == 1
    assert cli_main(["info", str(out)]) == 0
    assert "zz_zero.mid" in capsys.readouterr().out
    assert cli_main(["info", str(tmp_path / "nothing")]) == 2
