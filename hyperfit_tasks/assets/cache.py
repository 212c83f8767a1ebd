"""The user's cache folder and crash-safe, build-once writes into it.

Every asset is built in a temporary sibling folder and renamed into place only once it is
complete, so an interrupted build is never mistaken for a finished one; and under a lock file
beside it, so that processes needing it at once (torchrun ranks, two commands) build it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock

COMPLETE_MARKER = ".complete"


def cache_root() -> Path:
    """Folder for built assets: ``$HYPERFIT_CACHE``, else ``$XDG_CACHE_HOME/hyperfit``, else ``~/.cache/hyperfit``."""
    if os.environ.get("HYPERFIT_CACHE"):
        return Path(os.environ["HYPERFIT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hyperfit"


def is_complete(folder: Path) -> bool:
    """True once ``folder`` was finished by :func:`building`."""
    return (folder / COMPLETE_MARKER).is_file()


@contextlib.contextmanager
def building(folder: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it replaces ``folder`` and is marked complete."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        (staging / COMPLETE_MARKER).write_text("ok\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_once(folder: Path, ready: Callable[[], bool], build: Callable[[Path], None]) -> Path:
    """Return ``folder``, first filling it with ``build(staging)`` (see :func:`building`) unless ``ready()``.

    The build holds ``<folder>.lock``, and ``ready()`` is asked again once the lock is held: a process that waited
    while another built the asset finds it finished and builds nothing.
    """
    if ready():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.with_name(f"{folder.name}.lock")):
        if not ready():
            with building(folder) as staging:
                build(staging)
    return folder


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
