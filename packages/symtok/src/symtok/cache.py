"""Token cache: a folder of MIDI tokenized once, in parallel, into one memory-mapped array plus an offsets index.

Every DataModule reads tokens from here instead of re-parsing MIDI each epoch. On-disk layout of a cache directory:

    tokens.bin     all token rows of all files back to back, raw little-endian `dtype`, shape (total, *feature_shape)
    offsets.npy    (n_files + 1,) int64 row offsets: file i is tokens[offsets[i]:offsets[i+1]]
    manifest.json  written last; without it the directory is not a cache (see `build_cache`)

A build writes into a sibling `.<name>.partial-<pid>-<rand>` directory, fsyncs everything, writes the manifest last
and renames the directory into place, so an interrupted or killed build never leaves anything that opens as a
complete cache. Bad files (`MidiError`) are skipped and listed in the manifest; empty ones are counted apart.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from symcore.errors import EmptyMidiError, MidiError
from symcore.notes import load_notes
from symcore.paths import cache_root

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MIDI_SUFFIXES = (".mid", ".midi", ".kar")
Encoder = Callable[[str], np.ndarray]


class CacheError(RuntimeError):
    """A token cache cannot be used as asked."""


class IncompleteCacheError(CacheError):
    """The directory is not a finished cache (build interrupted, files missing or truncated)."""


class CacheMismatchError(CacheError):
    """The cache was built by a different encoder (or encoder configuration/version) than the caller expects."""


class BadFilesError(CacheError):
    """`strict=True` and some inputs failed; the cache was still built and is attached as `.cache`."""

    def __init__(self, cache: TokenCache):
        self.cache = cache
        super().__init__(f"{len(cache.failed)} of {cache.n_inputs} files failed:\n{cache.report()}")


@dataclass(frozen=True)
class FailedFile:
    """One skipped input: `kind` is "error" (MidiError), "empty" (EmptyMidiError) or "crash" (encoder bug)."""

    path: str
    reason: str
    kind: str


def note_columns(path: str) -> np.ndarray:
    """(n, 4) int64 [onset, duration (ticks), pitch, velocity]: a tokenizer-free cache of the raw notes."""
    notes = load_notes(path)
    return np.stack([notes.onset, notes.duration, notes.pitch, notes.velocity], axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------------------- encoder identity
@functools.cache
def _package_version(module: str) -> str:
    top = module.split(".")[0]
    try:
        dists = importlib.metadata.packages_distributions().get(top) or []
        return importlib.metadata.version(dists[0]) if dists else ""
    except Exception:  # a module outside any distribution (tests, scripts) has no version
        return ""


def _state_repr(obj: object) -> str:
    """The part of an encoder object's state that changes its tokens: `cache_key` if it has one, else its scalars."""
    key = getattr(obj, "cache_key", None)
    if key is not None:
        return str(key() if callable(key) else key)
    simple = (bool, int, float, str, type(None))
    items = {k: v for k, v in sorted(vars(obj).items()) if not k.startswith("_")} if hasattr(obj, "__dict__") else {}
    return repr({k: v for k, v in items.items() if isinstance(v, simple) or (isinstance(v, tuple) and all(isinstance(x, simple) for x in v))})


def encoder_identity(encode: Encoder) -> dict[str, str]:
    """Name, version and fingerprint of an encoder, so a cache built by another tokenizer/config is never reused."""
    target, parts = encode, []
    if isinstance(target, functools.partial):
        parts += [repr(target.args), repr(sorted(target.keywords.items()))]
        target = target.func
    owner = getattr(target, "__self__", None)
    if owner is not None and not isinstance(owner, type(os)):  # bound method of a tokenizer instance
        name = f"{type(owner).__module__}.{type(owner).__qualname__}.{target.__name__}"
        parts.append(_state_repr(owner))
    elif hasattr(target, "__qualname__"):
        name = f"{target.__module__}.{target.__qualname__}"
    else:  # a callable instance
        name = f"{type(target).__module__}.{type(target).__qualname__}"
        parts.append(_state_repr(target))
    version = str(getattr(owner if owner is not None else target, "version", "") or _package_version(name))
    fingerprint = hashlib.sha256("\n".join([name, version, *parts]).encode()).hexdigest()[:16]
    return {"name": name, "version": version, "fingerprint": fingerprint}


# ------------------------------------------------------------------------------------------------------ building
def midi_files(files: str | Path | Iterable[str | Path]) -> list[Path]:
    """A folder (searched recursively for .mid/.midi/.kar, sorted) or an explicit list of files, in order."""
    if isinstance(files, (str, Path)):
        root = Path(files)
        if root.is_dir():
            return sorted(p for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
        return [root]
    return [Path(p) for p in files]


def _encode_one(encode: Encoder, path: str) -> tuple[str, object]:
    """Runs in a worker: ("ok", array) or (kind, reason). KeyboardInterrupt and other BaseExceptions propagate."""
    try:
        return "ok", encode(path)
    except EmptyMidiError as exc:
        return "empty", str(exc)
    except MidiError as exc:
        return "error", str(exc)
    except Exception as exc:  # an encoder bug must not kill a 100k-file build; it is reported as "crash"
        return "crash", f"{path}: {type(exc).__name__}: {exc}"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_partials(out_dir: Path) -> None:
    """Partial directories left by killed builds (their pid is gone) are deleted; live concurrent builds are kept."""
    for p in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        try:
            pid = int(p.name.rsplit(".partial-", 1)[1].split("-")[0])
        except (IndexError, ValueError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)


def _results(encode: Encoder, paths: list[str], workers: int):
    """(status, payload) per path, in input order; workers <= 1 runs in this process."""
    if workers <= 1:
        yield from (_encode_one(encode, p) for p in paths)
        return
    chunksize = max(1, min(32, len(paths) // (workers * 8)))
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        yield from pool.map(functools.partial(_encode_one, encode), paths, chunksize=chunksize)
    finally:  # on interrupt, drop queued chunks instead of tokenizing the rest of the folder
        pool.shutdown(wait=True, cancel_futures=True)


def build_cache(
    files: str | Path | Iterable[str | Path],
    encode: Encoder,
    out_dir: str | Path,
    workers: int = 2,
    strict: bool = False,
    progress: bool = True,
    dtype: str | np.dtype | None = None,
) -> TokenCache:
    """Tokenize `files` with `encode` (picklable: path -> (n,) or (n, F) int array) into a cache at `out_dir`.

    Files raising `MidiError` are skipped and listed in `.failed`; with `strict=True` a `BadFilesError` is raised
    after the cache is complete. `dtype` defaults to the first result's dtype. An existing cache at `out_dir` is
    replaced only once the new one is complete; any other existing directory is refused.
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not (out_dir / "manifest.json").exists() and any(out_dir.iterdir()):
        raise CacheError(f"refusing to replace {out_dir}: it exists and is not a token cache")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(out_dir)
    paths = [str(p.absolute()) for p in midi_files(files)]
    sources = []
    for p in paths:
        try:
            st = os.stat(p)
            sources.append({"path": p, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        except OSError:
            sources.append({"path": p, "size": -1, "mtime_ns": -1})
    identity = encoder_identity(encode)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    started = time.perf_counter()
    results = _results(encode, paths, workers)
    try:
        kept, failed, offsets, feature_shape = [], [], [0], None
        dtype = None if dtype is None else np.dtype(dtype)
        bar = tqdm(total=len(paths), unit="file", desc=f"tokenizing {out_dir.name}", disable=not progress)
        with open(tmp / "tokens.bin", "wb") as fh:
            for path, (status, payload) in zip(paths, results):
                bar.update(1)
                if status == "ok":
                    arr = np.asarray(payload)
                    dtype = dtype or arr.dtype
                    feature_shape = arr.shape[1:] if feature_shape is None else feature_shape
                    problem = _check_tokens(arr, dtype, feature_shape)
                    if problem is None:
                        np.ascontiguousarray(arr, dtype=dtype).tofile(fh)
                        kept.append(path)
                        offsets.append(offsets[-1] + len(arr))
                        continue
                    status, payload = "crash", f"{path}: {problem}"
                failed.append(FailedFile(path, str(payload), status))
                bar.set_postfix(failed=len(failed), refresh=False)
            fh.flush()
            os.fsync(fh.fileno())
        results.close()  # zip stops before the generator does: shut the pool down explicitly
        bar.close()
        if paths and len(failed) == len(paths) and all(f.kind == "crash" for f in failed):
            raise CacheError(f"the encoder failed on every file (a bug, not bad files): {failed[0].reason}")
        np.save(tmp / "offsets.npy", np.asarray(offsets, np.int64))
        _fsync(tmp / "offsets.npy")
        manifest = {
            "format": FORMAT_VERSION, "complete": True, "encoder": identity,
            "dtype": np.dtype(dtype or np.int64).str, "feature_shape": list(feature_shape or ()),
            "n_files": len(kept), "total_tokens": offsets[-1], "paths": kept,
            "failed": [asdict(f) for f in failed], "sources": sources,
            "build_seconds": round(time.perf_counter() - started, 3), "workers": workers,
        }
        with open(tmp / "manifest.json", "w") as fh:
            json.dump(manifest, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync(tmp)
        _swap_into_place(tmp, out_dir)
    except BaseException:
        results.close()  # stop the pool now (queued chunks cancelled), not whenever the generator is collected
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    cache = TokenCache(out_dir)
    if failed:
        log.warning("token cache %s: %d of %d files skipped\n%s", out_dir, len(failed), len(paths), cache.report())
    if strict and failed:
        raise BadFilesError(cache)
    return cache


def _check_tokens(arr: np.ndarray, dtype: np.dtype, feature_shape: tuple) -> str | None:
    if arr.ndim not in (1, 2) or arr.shape[1:] != tuple(feature_shape):
        return f"encoder returned shape {arr.shape}, expected (n, {', '.join(map(str, feature_shape))})"
    if arr.dtype.kind not in "iub":
        return f"encoder returned non-integer dtype {arr.dtype}"
    if arr.size and arr.dtype != dtype:
        info = np.iinfo(dtype)
        if arr.min() < info.min or arr.max() > info.max:
            return f"token values {arr.min()}..{arr.max()} do not fit the cache dtype {dtype}"
    return None


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished directory onto `out_dir`; an old cache there is moved aside first, then deleted."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    _fsync(out_dir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------- reading
class TokenCache:
    """A finished cache opened read-only and memory-mapped: `cache[i]` is file i's tokens (a view, no copy).

    `encoder` (a callable or its name) makes opening fail with `CacheMismatchError` if the cache came from
    something else. Pickling sends only the directory, so DataLoader workers re-map instead of copying tokens.
    """

    def __init__(self, out_dir: str | Path, encoder: Encoder | str | None = None):
        self.dir = Path(out_dir)
        manifest_path = self.dir / "manifest.json"
        if not manifest_path.is_file():
            raise IncompleteCacheError(f"{self.dir}: no complete token cache here (never built, or the build was "
                                       "interrupted before its manifest was written); rebuild it")
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as exc:
            raise IncompleteCacheError(f"{self.dir}: unreadable manifest ({exc}); rebuild the cache") from exc
        m = self.manifest
        if m.get("format") != FORMAT_VERSION or not m.get("complete"):
            raise IncompleteCacheError(f"{self.dir}: cache format {m.get('format')} is not {FORMAT_VERSION}; rebuild it")
        self._check_encoder(encoder)
        self.dtype = np.dtype(m["dtype"])
        self.feature_shape = tuple(m["feature_shape"])
        try:
            self.offsets = np.load(self.dir / "offsets.npy")
        except (OSError, ValueError) as exc:
            raise IncompleteCacheError(f"{self.dir}: offsets index unreadable ({exc}); rebuild the cache") from exc
        total = int(m["total_tokens"])
        if self.offsets.shape != (m["n_files"] + 1,) or int(self.offsets[-1]) != total:
            raise IncompleteCacheError(f"{self.dir}: offsets index does not match the manifest; rebuild the cache")
        shape = (total, *self.feature_shape)
        expected = int(np.prod(shape)) * self.dtype.itemsize
        tok_path = self.dir / "tokens.bin"
        actual = tok_path.stat().st_size if tok_path.is_file() else -1
        if actual != expected:
            raise IncompleteCacheError(f"{self.dir}: tokens.bin has {actual} bytes, expected {expected} "
                                       "(truncated or replaced); rebuild the cache")
        self.tokens = np.memmap(tok_path, self.dtype, "r", shape=shape) if total else np.zeros(shape, self.dtype)

    def _check_encoder(self, encoder: Encoder | str | None) -> None:
        built = self.manifest["encoder"]
        if encoder is None:
            return
        if isinstance(encoder, str):
            ok, want = encoder in (built["name"], built["name"].rsplit(".", 1)[-1]), encoder
        else:
            ident = encoder_identity(encoder)
            ok, want = ident["fingerprint"] == built["fingerprint"], f"{ident['name']} {ident['version']}"
        if not ok:
            raise CacheMismatchError(f"{self.dir}: built by {built['name']} {built['version']} "
                                     f"(fingerprint {built['fingerprint']}), not by {want}; rebuild it")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"file index {i} out of range for a cache of {n} files")
        i %= n
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getstate__(self) -> dict:
        return {"dir": str(self.dir)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["dir"])

    def __repr__(self) -> str:
        return (f"TokenCache({str(self.dir)!r}, files={len(self)}, tokens={self.total_tokens}, "
                f"failed={len(self.failed)}, encoder={self.encoder['name']})")

    @property
    def paths(self) -> list[str]:
        return list(self.manifest["paths"])

    @property
    def failed(self) -> list[FailedFile]:
        return [FailedFile(**f) for f in self.manifest["failed"]]

    @property
    def n_empty(self) -> int:
        return sum(f["kind"] == "empty" for f in self.manifest["failed"])

    @property
    def n_inputs(self) -> int:
        return len(self.manifest["sources"])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def total_tokens(self) -> int:
        return int(self.manifest["total_tokens"])

    @property
    def encoder(self) -> dict[str, str]:
        return dict(self.manifest["encoder"])

    def report(self) -> str:
        """Human-readable summary of the skipped files, one line each with its reason."""
        f = self.failed
        head = (f"{len(self)} files cached ({self.total_tokens} tokens), {len(f)} skipped: "
                f"{sum(x.kind == 'error' for x in f)} unreadable, {self.n_empty} empty, "
                f"{sum(x.kind == 'crash' for x in f)} encoder crashes")
        return "\n".join([head, *(f"  [{x.kind}] {x.reason}" for x in f)])

    def stale(self, files: str | Path | Iterable[str | Path] | None = None) -> list[str]:
        """Inputs that changed since the build (size/mtime differ, deleted), plus files in `files` never seen."""
        out = []
        for src in self.manifest["sources"]:
            try:
                st = os.stat(src["path"])
                if (st.st_size, st.st_mtime_ns) != (src["size"], src["mtime_ns"]):
                    out.append(src["path"])
            except OSError:
                if src["size"] != -1:
                    out.append(src["path"])
        if files is not None:
            known = {s["path"] for s in self.manifest["sources"]}
            out += [p for p in (str(q.absolute()) for q in midi_files(files)) if p not in known]
        return out

    def is_stale(self, files: str | Path | Iterable[str | Path] | None = None) -> bool:
        return bool(self.stale(files))


def cached(
    files: str | Path | Iterable[str | Path],
    encode: Encoder,
    name: str,
    *,
    workers: int = 2,
    root: str | Path | None = None,
    progress: bool = True,
) -> TokenCache:
    """The cache of `files` under cache_root()/tokens/<name>-<hash>, rebuilt only when missing, stale or foreign."""
    paths = [str(p.absolute()) for p in midi_files(files)]
    key = hashlib.sha256("\n".join([encoder_identity(encode)["fingerprint"], *paths]).encode()).hexdigest()[:16]
    out_dir = cache_root(root) / "tokens" / f"{name}-{key}"
    try:
        cache = TokenCache(out_dir, encoder=encode)
        if cache.stale(paths):
            log.info("token cache %s is stale; rebuilding", out_dir)
        else:
            return cache
    except CacheError:
        pass
    return build_cache(paths, encode, out_dir, workers=workers, progress=progress)


if __name__ == "__main__":
    from symtok.cache_cli import main

    raise SystemExit(main())
