"""Per-model request caches for lm-eval's ``--use_cache``, so a killed evaluation resumes where it stopped.

lm-eval's cache key is the request alone (its arguments), with no model identity: one cache file
shared by two checkpoints would hand one model's generations to the other. :func:`eval_cache_path`
names the file after the model and a digest of its weights files (plus any setting that changes
the answers, such as ``dtype``), so a different checkpoint, retrained weights or another dtype
get another file, and the same model finds its earlier answers.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf")
DIGEST_CHARS = 16


def weights_digest(model: str) -> str:
    """sha256 over the weights files of a local model folder (names and bytes), or over the name of a hub model.

    A hub id has no local weights to read: its identity is the id alone, so pin a revision (or
    use a local folder) when the hub copy may change.
    """
    digest = hashlib.sha256()
    folder = Path(model)
    files = sorted({path for pattern in WEIGHT_PATTERNS for path in folder.glob(pattern)}) if folder.is_dir() else []
    if not files:
        digest.update(f"name:{model}".encode())
    for path in files:
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def eval_cache_path(cache_dir: str | Path, model: str, settings: str = "") -> str:
    """The ``--use_cache`` path (lm-eval adds ``_rank<N>.db``) for ``model`` evaluated with ``settings``
    (e.g. the ``--model_args`` string): ``<cache_dir>/<model folder name>-<digest>``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(model).name or "model")
    digest = hashlib.sha256(f"{weights_digest(model)}\0{settings}".encode()).hexdigest()[:DIGEST_CHARS]
    return str(Path(cache_dir) / f"{name}-{digest}")
