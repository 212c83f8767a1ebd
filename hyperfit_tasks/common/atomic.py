"""Atomic file writes: a temporary sibling, flushed to disk, renamed over the target.

An interrupted or failing write leaves the previous file (or no file) in place, never a
truncated one. Every file hyperfit writes (run records, model cards, training blocks, plots,
comparison reports, benchmark results) goes through this module.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it replaces ``path``, on error it is removed.

    For writers that want a file name (``savefig``, ``pyarrow.parquet.write_table``); the suffix is
    kept so that format detection by extension still works.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    try:
        os.chmod(temporary, _mode_for(path))  # mkstemp makes 0600; keep what a plain open() would give
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` via a temporary file, fsync and ``os.replace``."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_target(path) as temporary:
        with open(temporary, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
    return Path(path)


def write_json_atomic(path: Path, payload: Any) -> Path:
    """Write ``payload`` as indented JSON to ``path`` atomically."""
    return write_atomic(path, json.dumps(payload, indent=2, default=str) + "\n")


def _mode_for(path: Path) -> int:
    """The existing file's permissions, else 0666 minus the process umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
