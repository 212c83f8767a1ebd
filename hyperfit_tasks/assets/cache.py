"""The user's cache folder and crash-safe writes into it.

Every asset is built in a temporary sibling folder and renamed into place only once it is
complete, so an interrupted build is never mistaken for a finished one.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path
from typing import Iterator

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


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
