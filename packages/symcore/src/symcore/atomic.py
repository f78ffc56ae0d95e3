"""Atomic file writes: write a temporary file beside the target, then rename it over the target.

`os.replace` within one directory is atomic, so a reader — or the next run after a crash, Ctrl-C or `kill -9` —
sees the old file or the complete new one, never a part. A writer that raises removes its temporary file; only a
killed process leaves one behind, hidden as `.NAME.<pid>-<random>.tmp.SUFFIX`. The temporary file is created by
the writer itself, so it gets the usual permissions (umask), not `mkstemp`'s owner-only 0600. This guards against
interruption, not power loss (no fsync). Every durable output of symphonia (weights, caches, result tables,
embeddings) is written through here.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write with any library; it replaces `path` when the block exits cleanly.

    It keeps the suffix, so writers that look at it (``np.save`` appends ``.npy`` otherwise, ``savefig`` picks the
    format by it) behave as with `path`::

        with atomic_path(out) as tmp:
            np.save(tmp, array)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    """`Path.write_text` / `write_bytes`, atomically."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)
    return Path(path)
