"""The embedded default text: disjoint training / held-out / evaluation splits, built offline.

Two domains:

* ``austen`` - Jane Austen's six novels (public domain fiction, ~718k words) from Debian's
  ``r-cran-janeaustenr`` package, read from its R lazy-load files with the ``rdata`` package.
  Whole novels go to one split each, so no passage, sentence or character arc is shared:
  ``train`` = Emma, Mansfield Park, Pride and Prejudice, Sense and Sensibility (hyperfitting
  data); ``heldout`` = Northanger Abbey (perplexity, training diagnostics); ``eval`` =
  Persuasion (continuation prompts).
* ``pydoc`` - CPython's own documentation prose (``pydoc_data.topics``), a second, technical
  domain for domain transfer: topics are split between ``heldout`` and ``eval``; ``train`` (for
  hyperfitting on another domain) is the docstrings of :data:`PYDOC_TRAIN_MODULES` as ``pydoc``
  shows them, minus any paragraph already in ``heldout`` or ``eval``.

Each split is a JSON-lines file of ``{"text": passage}`` where a passage is consecutive
paragraphs joined until it holds at least :data:`MIN_PASSAGE_WORDS` words. The manifest records
every file's SHA-256, which the trainer's and evaluator's outputs repeat, and :data:`CORPORA_VERSION`:
a cache built by another version is rebuilt.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
import struct
import subprocess
import tempfile
import warnings
import zlib
from pathlib import Path
from typing import Iterable

from .cache import build_once, cache_root, is_complete, sha256_file
from .default_model import AssetError

AUSTEN_DEB = "r-cran-janeaustenr"
AUSTEN_RDATA = "usr/lib/R/site-library/janeaustenr/data/Rdata"
AUSTEN_SPLITS = {
    "train": ("emma", "mansfieldpark", "prideprejudice", "sensesensibility"),
    "heldout": ("northangerabbey",),
    "eval": ("persuasion",),
}
DOMAIN_SPLITS = {"austen": ("train", "heldout", "eval"), "pydoc": ("train", "heldout", "eval")}
CORPORA_VERSION = 2  # 2: pydoc/train added (heldout and eval unchanged)
# Standard-library modules whose docstrings (module, public classes and functions) make pydoc/train.
PYDOC_TRAIN_MODULES = (
    "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "collections", "configparser", "contextlib", "copy",
    "csv", "dataclasses", "datetime", "decimal", "difflib", "email.message", "enum", "fractions", "functools",
    "gettext", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "http.client", "imaplib", "inspect", "ipaddress",
    "itertools", "json", "logging", "mailbox", "mimetypes", "numbers", "operator", "optparse", "os", "pathlib",
    "pickle", "pprint", "queue", "random", "re", "sched", "secrets", "shlex", "shutil", "smtplib", "socket",
    "statistics", "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "traceback", "typing", "unittest", "urllib.parse", "urllib.request", "uuid", "warnings", "weakref",
    "zipfile",
)  # fmt: skip
MIN_PASSAGE_WORDS = 150
SHUFFLE_SEED = 1234
_HEADING = re.compile(r"^(chapter|volume|book|finis|the end)\b", re.IGNORECASE)


def corpora_dir() -> Path:
    """Folder holding the built corpus splits and ``manifest.json``."""
    return cache_root() / "corpora"


def corpus_path(domain: str, split: str) -> Path:
    """JSON-lines file of one split (``{"text": ...}`` per line), built on first use."""
    if split not in DOMAIN_SPLITS.get(domain, ()):
        known = ", ".join(f"{d}/{s}" for d, splits in DOMAIN_SPLITS.items() for s in splits)
        raise AssetError(f"unknown corpus split {domain}/{split}: choose one of {known}")
    prepare_corpora()
    return corpora_dir() / domain / f"{split}.jsonl"


def corpus_manifest() -> dict:
    """The manifest of the built corpora: per split its path, SHA-256, document and word counts."""
    prepare_corpora()
    return json.loads((corpora_dir() / "manifest.json").read_text())


def prepare_corpora(austen_deb: Path | None = None, progress=None) -> Path:
    """Build all corpus splits once (idempotent, crash-safe, once whoever asks at the same time); return the corpora
    folder."""
    folder = corpora_dir()
    return build_once(
        folder,
        lambda: is_complete(folder) and built_version(folder) == CORPORA_VERSION,
        lambda staging: write_corpora(staging, austen_deb, progress),
    )


def write_corpora(folder: Path, austen_deb: Path | None = None, progress=None) -> None:
    """Read the sources and write every split and ``manifest.json`` into ``folder``."""
    novels = read_austen_novels(austen_deb)
    splits = {"austen": split_austen(novels), "pydoc": split_pydoc(read_pydoc_topics(), read_pydoc_docstrings())}
    manifest = {
        "version": CORPORA_VERSION,
        "sources": {
            "austen": f"Debian {AUSTEN_DEB}",
            "pydoc": "CPython pydoc_data.topics; train: standard-library docstrings",
        },
    }
    for domain, parts in splits.items():
        (folder / domain).mkdir()
        for split, passages in parts.items():
            path = folder / domain / f"{split}.jsonl"
            write_jsonl(path, passages)
            manifest[f"{domain}/{split}"] = {
                "path": f"{domain}/{split}.jsonl",
                "sha256": sha256_file(path),
                "documents": len(passages),
                "words": sum(len(p.split()) for p in passages),
            }
            if progress is not None:
                progress(f"{domain}/{split}: {len(passages)} passages")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def built_version(folder: Path) -> int | None:
    """The :data:`CORPORA_VERSION` a built corpora folder records (None before version 2, or unreadable)."""
    try:
        return json.loads((folder / "manifest.json").read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def write_jsonl(path: Path, texts: Iterable[str]) -> None:
    """Write one ``{"text": ...}`` object per line."""
    with open(path, "w", encoding="utf-8") as handle:
        for text in texts:
            handle.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")


def paragraphs(lines: Iterable[str]) -> list[str]:
    """Join wrapped lines into paragraphs (blank-line separated), dropping headings and Gutenberg ``_`` italics."""
    found, current = [], []
    for line in list(lines) + [""]:
        line = line.strip()
        if line:
            current.append(line)
            continue
        if current:
            text = " ".join(" ".join(current).replace("_", "").split())
            if len(text.split()) >= 5 and not _HEADING.match(text) and not text.isupper():
                found.append(text)
            current = []
    return found


def passages(paras: Iterable[str], min_words: int = MIN_PASSAGE_WORDS) -> list[str]:
    """Group consecutive paragraphs into passages of at least ``min_words`` words (a short tail is dropped)."""
    found, current, words = [], [], 0
    for para in paras:
        current.append(para)
        words += len(para.split())
        if words >= min_words:
            found.append("\n\n".join(current))
            current, words = [], 0
    return found


def shuffled(items: list[str]) -> list[str]:
    """A fixed pseudo-random order, so that lm-eval's ``--limit N`` takes a spread-out sample."""
    items = list(items)
    random.Random(SHUFFLE_SEED).shuffle(items)
    return items


def disjoint_passages(
    documents: list[tuple[str, list[str]]], min_words: int = MIN_PASSAGE_WORDS
) -> dict[str, list[str]]:
    """Passages per split from ``(split, lines)`` documents; a paragraph seen before anywhere is dropped,
    so no paragraph (and no passage) is shared between splits. Passages never straddle two documents."""
    seen: set[str] = set()
    parts: dict[str, list[str]] = {}
    for split, lines in documents:
        fresh = [p for p in paragraphs(lines) if not (p in seen or seen.add(p))]
        parts.setdefault(split, []).extend(passages(fresh, min_words))
    return parts


def split_austen(novels: dict[str, list[str]]) -> dict[str, list[str]]:
    """Map novel title -> raw lines into the three disjoint splits (whole novels per split)."""
    missing = sorted({n for names in AUSTEN_SPLITS.values() for n in names} - set(novels))
    if missing:
        raise AssetError(f"the Austen data lacks {', '.join(missing)}: reinstall {AUSTEN_DEB}")
    parts = disjoint_passages([(split, novels[n]) for split, names in AUSTEN_SPLITS.items() for n in names])
    return {split: (texts if split == "train" else shuffled(texts)) for split, texts in parts.items()}


def split_pydoc(topics: dict[str, str], docstrings: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Alternate sorted topics between ``heldout`` and ``eval`` (topics that repeat another's text are dropped); the
    ``docstrings`` (module name -> text) come after them as ``train``, so no train paragraph is in the other two."""
    documents = [
        ("heldout" if i % 2 == 0 else "eval", topics[key].splitlines()) for i, key in enumerate(sorted(topics))
    ]
    documents += [("train", text.splitlines()) for _, text in sorted((docstrings or {}).items())]
    return {split: shuffled(texts) for split, texts in disjoint_passages(documents).items()}


def read_pydoc_docstrings() -> dict[str, str]:
    """Module name -> the docstrings of the module and of its public classes and functions, blank-line separated."""
    import importlib
    import inspect

    found = {}
    for name in PYDOC_TRAIN_MODULES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # e.g. typing.re's own deprecation on attribute access
            module = importlib.import_module(name)
            members = [
                obj for key, obj in sorted(vars(module).items())
                if not key.startswith("_") and getattr(obj, "__module__", None) == module.__name__
                and (inspect.isclass(obj) or inspect.isfunction(obj))
            ]  # fmt: skip
            found[name] = "\n\n".join(doc for doc in (inspect.getdoc(obj) for obj in [module, *members]) if doc)
    return found


def read_pydoc_topics() -> dict[str, str]:
    """CPython's documentation topics (always present with the interpreter)."""
    from pydoc_data.topics import topics

    return dict(topics)


def read_austen_novels(austen_deb: Path | None = None) -> dict[str, list[str]]:
    """The six novels as lists of lines, from the installed R package or the Debian package file."""
    installed = Path("/") / AUSTEN_RDATA
    if austen_deb is None and installed.with_suffix(".rdb").is_file():
        return read_r_lazyload(installed)
    extracted = cache_root() / "sources" / AUSTEN_DEB
    build_once(extracted, lambda: is_complete(extracted), lambda staging: unpack_austen_deb(austen_deb, staging))
    return read_r_lazyload(extracted / AUSTEN_RDATA)


def unpack_austen_deb(austen_deb: Path | None, folder: Path) -> None:
    """Unpack the Austen .deb (the one given, else one ``apt-get download``-ed into ``folder``) into ``folder``."""
    deb = Path(austen_deb) if austen_deb else download_deb(AUSTEN_DEB, folder)
    if not deb.is_file():
        raise AssetError(f"{deb} does not exist: pass the .deb downloaded with `apt-get download {AUSTEN_DEB}`")
    run_or_fail(["dpkg-deb", "-x", str(deb), str(folder)], f"cannot unpack {deb}: is it the {AUSTEN_DEB} .deb?")


def download_deb(package: str, into: Path) -> Path:
    """``apt-get download`` one Debian package file (no installation, nothing else pulled in)."""
    hint = (
        f"cannot download Debian package {package}: run `apt-get update && apt-get download {package}` "
        f"and pass the file with `hyperfit-assets --austen-deb PATH`, or give your own text with `--data PATH`"
    )
    if shutil.which("apt-get") is None:
        raise AssetError(hint)
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in ("download", "update-then-download"):
            if attempt == "update-then-download":
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            done = subprocess.run(["apt-get", "download", package], cwd=tmp, capture_output=True)
            debs = sorted(Path(tmp).glob(f"{package}_*.deb"))
            if done.returncode == 0 and debs:
                target = into / debs[0].name
                shutil.move(str(debs[0]), target)
                return target
    raise AssetError(hint)


def run_or_fail(command: list[str], message: str) -> None:
    """Run a command; on failure raise :class:`AssetError` with ``message``."""
    if subprocess.run(command, capture_output=True).returncode != 0:
        raise AssetError(message)


def read_r_lazyload(stem: Path) -> dict[str, list[str]]:
    """Read an R lazy-load database (``stem.rdx`` index + ``stem.rdb`` zlib records) of character vectors."""
    import rdata

    def parse(raw: bytes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rdata warns that a bare serialization has no file header
            return rdata.conversion.convert(rdata.parser.parse_data(raw))

    index = parse(gzip.decompress(stem.with_suffix(".rdx").read_bytes()))
    blob = stem.with_suffix(".rdb").read_bytes()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        record = blob[int(offset) : int(offset) + int(length)]
        (expected,) = struct.unpack(">I", record[:4])
        raw = zlib.decompress(record[4:])
        if len(raw) != expected:
            raise AssetError(f"{stem}.rdb is corrupt (record {name}): reinstall {AUSTEN_DEB}")
        objects[str(name)] = [str(line) for line in parse(raw)]
    return objects
