"""Training and held-out data: load text with ``datasets``, tokenize, cut into blocks, sample, hash, save.

The texts are tokenized without special tokens, joined into one stream with the tokenizer's EOS
after every document, and cut into consecutive blocks of ``block_size`` tokens (the trailing
partial block is dropped), as in the Hugging Face ``run_clm`` examples and TRL's ``wrapped``
packing. Training blocks are then sampled with a seed; held-out blocks are spread evenly.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from hyperfit_tasks.common.atomic import atomic_target
from hyperfit_tasks.common.errors import HyperfitError

logger = logging.getLogger("hyperfit_train")

LOCAL_BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
TRAIN_BLOCKS_FILE = "train_blocks.parquet"
BLOCKS_METADATA_KEY = b"hyperfit"


def load_text_dataset(source: str, text_field: str = "text", config: str | None = None, split: str = "train", role: str = "training data"):
    """A ``datasets.Dataset`` with one text per row in column ``text_field``.

    ``source`` is a local file (``.txt`` read as one document in column ``text``; ``.jsonl``,
    ``.json``, ``.parquet``, ``.csv``), a local folder, or a Hugging Face Hub dataset id.
    """
    path = Path(source).expanduser()
    if path.is_file():
        builder = LOCAL_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise HyperfitError(f"{role} {path} has an unsupported extension: use {', '.join(LOCAL_BUILDERS)}")
        if path.stat().st_size == 0:
            raise HyperfitError(f"{role} file {path} is empty: give a file with text")
        if builder != "parquet":
            check_utf8(path, role)
        options = {"sample_by": "document"} if builder == "text" else {}
        dataset = _load(role, source, builder, data_files=str(path), split="train", **options)
        if builder == "text":
            text_field = "text"
    elif path.is_dir():
        dataset = _load(role, source, str(path), split=split)
    elif path.suffix.lower() in LOCAL_BUILDERS or source.startswith((".", "/", "~")):
        raise HyperfitError(f"{role} file not found: {path}: check the path")
    else:
        dataset = _load(role, source, source, name=config, split=split)
    if text_field not in dataset.column_names:
        raise HyperfitError(
            f"{role} {source} has no '{text_field}' column (columns: {', '.join(dataset.column_names) or 'none'}): "
            "set --dataset_text_field to the column that holds the text"
        )
    dtype = getattr(dataset.features[text_field], "dtype", None)
    if dtype not in ("string", "large_string"):
        raise HyperfitError(f"{role} {source} column '{text_field}' holds {dtype or 'non-text values'}, not text: set --dataset_text_field")
    if len(dataset) == 0:
        raise HyperfitError(f"{role} {source} has no rows: give a file with text")
    return dataset.select_columns([text_field])


def check_utf8(path: Path, role: str, chunk_bytes: int = 1 << 20) -> None:
    """Fail with one line if a text file is not valid UTF-8 (``datasets`` would fail later, mid-tokenization)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(chunk_bytes)
            pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                position = offset - pending + error.start
                raise HyperfitError(f"{role} file {path} is not UTF-8 text (byte {position}): convert it to UTF-8") from None
            if not chunk:
                return
            offset += len(chunk)


def _load(role: str, source: str, path: str, **kwargs):
    from datasets import load_dataset

    try:
        return load_dataset(path, **kwargs)
    except Exception as error:  # datasets raises many types (FileNotFoundError, DatasetGenerationError, ...)
        while error.__cause__ is not None:  # the root cause names the real problem (e.g. the JSON error)
            error = error.__cause__
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        fix = "check the file's format" if Path(source).expanduser().exists() else "give a local file or a reachable Hub dataset id"
        raise HyperfitError(f"cannot load {role} {source!r}: {reason}: {fix}") from None


def tokenize_to_blocks(dataset, tokenizer, block_size: int, role: str = "training data") -> np.ndarray:
    """Tokenize every text (EOS after each), concatenate, and cut into ``[n_blocks, block_size]`` int64 ids."""
    text_field = dataset.column_names[0]
    separator = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]

    def encode(batch: dict[str, list]) -> dict[str, list]:
        texts = [text for text in batch[text_field] if text and text.strip()]
        ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
        return {"input_ids": [list(token_ids) + separator for token_ids in ids if token_ids]}

    tokenized = dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc=f"Tokenizing {role}")
    chunks = tokenized.data.column("input_ids").chunks
    stream = np.concatenate([chunk.flatten().to_numpy(zero_copy_only=False) for chunk in chunks] or [np.zeros(0)])
    stream = stream.astype(np.int64, copy=False)
    if stream.size == 0:
        raise HyperfitError(f"{role} contains no text: give texts that are not empty")
    num_blocks = stream.size // block_size
    if num_blocks == 0:
        raise HyperfitError(
            f"{role} has {stream.size} tokens, fewer than one block of {block_size}: give more text or lower --max_length"
        )
    return stream[: num_blocks * block_size].reshape(num_blocks, block_size)


def sample_blocks(blocks: np.ndarray, num_samples: int, seed: int, role: str = "training data") -> np.ndarray:
    """``num_samples`` distinct blocks in a seeded random order; all of them (warning) if there are fewer."""
    if num_samples > len(blocks):
        logger.warning(
            "%s holds %d blocks, fewer than the %d requested: training on all %d", role, len(blocks), num_samples, len(blocks)
        )
    chosen = np.random.default_rng(seed).choice(len(blocks), size=min(num_samples, len(blocks)), replace=False)
    return blocks[chosen]


def evenly_spaced_blocks(blocks: np.ndarray, count: int) -> np.ndarray:
    """``count`` blocks spread evenly from the first to the last (all if there are fewer), in order."""
    count = min(count, len(blocks))
    return blocks[np.linspace(0, len(blocks) - 1, count).round().astype(np.int64)]


def blocks_sha256(blocks: np.ndarray) -> str:
    """SHA-256 hex digest of the blocks as a row-major little-endian int64 array (shape recorded separately)."""
    return hashlib.sha256(np.ascontiguousarray(blocks, dtype="<i8").tobytes()).hexdigest()


def write_train_blocks(path: Path, blocks: np.ndarray, metadata: dict[str, Any]) -> None:
    """Write ``blocks`` to parquet (column ``input_ids``, list<int64>) with JSON ``metadata``, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    blocks = np.ascontiguousarray(blocks, dtype=np.int64)
    offsets = pa.array(np.arange(0, blocks.size + 1, blocks.shape[1], dtype=np.int32))
    column = pa.ListArray.from_arrays(offsets, pa.array(blocks.reshape(-1)))
    table = pa.table({"input_ids": column}).replace_schema_metadata({BLOCKS_METADATA_KEY: json.dumps(metadata)})
    with atomic_target(path) as temporary:
        pq.write_table(table, temporary)


def read_train_blocks(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The ``[n_blocks, block_size]`` ids and the metadata written by :func:`write_train_blocks`."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["input_ids"])
    column = table.column("input_ids").combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    metadata = json.loads((table.schema.metadata or {}).get(BLOCKS_METADATA_KEY, b"{}"))
    return values.reshape(len(column), -1), metadata
