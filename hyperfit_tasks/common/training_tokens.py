"""Token ids of a hyperfitting training set, read from any of the formats our controls accept.

Accepted sources (the ``blocked_data=`` model argument, the ``training_data`` task metadata):

- the trainer's ``<output_dir>/train_blocks.parquet`` (column ``input_ids``: the exact training
  blocks, already tokenized; no tokenizer needed);
- a trainer output directory that contains ``train_blocks.parquet``;
- a ``.jsonl`` file with one ``{"text": ...}`` object per line, or any other text file (read as one
  document); both are tokenized with the evaluated model's tokenizer (no special tokens added), so
  they match the training tokens only as far as re-tokenizing the text reproduces them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hyperfit_tasks.common.errors import TrainingDataError
from hyperfit_tasks.common.run_files import TRAIN_BLOCKS_FILE, read_train_blocks
from hyperfit_tasks.common.text_files import read_texts

_SOURCES_HINT = f"give a trainer output directory, its {TRAIN_BLOCKS_FILE}, or a .jsonl/.txt file"


def resolve_training_source(source: str | os.PathLike) -> Path:
    """The file that holds the training data of ``source`` (a directory resolves to its train_blocks.parquet)."""
    path = Path(source).expanduser()
    if path.is_dir():
        blocks = path / TRAIN_BLOCKS_FILE
        if not blocks.is_file():
            raise TrainingDataError(f"no {TRAIN_BLOCKS_FILE} in directory {path}: {_SOURCES_HINT}")
        return blocks
    if not path.is_file():
        raise TrainingDataError(f"training data not found: {path}: {_SOURCES_HINT}")
    return path


def recorded_tokenizer(source: str | os.PathLike) -> str | None:
    """The tokenizer (model id or folder) the trainer recorded in its train_blocks.parquet, if any."""
    path = resolve_training_source(source)
    if path.suffix != ".parquet":
        return None
    try:
        return read_train_blocks(path)[1].get("tokenizer")
    except Exception:  # not the trainer's file: nothing recorded
        return None


def load_training_sequences(source: str | os.PathLike, tokenizer=None) -> list[np.ndarray]:
    """The training set as a list of 1-D int64 token-id arrays (one per block or document).

    ``tokenizer`` (a ``transformers`` tokenizer) is needed for text sources only.
    """
    path = resolve_training_source(source)
    if path.suffix == ".parquet":
        sequences = _read_parquet_blocks(path)
    else:
        if tokenizer is None:
            raise TrainingDataError(f"{path} holds text: tokenizing it needs the evaluated model's tokenizer")
        encoded = tokenizer(read_texts(path), add_special_tokens=False, verbose=False)["input_ids"]
        sequences = [np.asarray(ids, dtype=np.int64) for ids in encoded]
    sequences = [ids for ids in sequences if ids.size]
    if not sequences:
        raise TrainingDataError(f"{path} contains no tokens: {_SOURCES_HINT}")
    return sequences


def _read_parquet_blocks(path: Path) -> list[np.ndarray]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as error:  # pyarrow raises several types for non-parquet bytes
        raise TrainingDataError(f"{path} is not a readable parquet file ({error}): {_SOURCES_HINT}") from None
    if "input_ids" not in schema.names:
        raise TrainingDataError(
            f"{path} has no 'input_ids' column (columns: {', '.join(schema.names)}): expected the trainer's "
            f"{TRAIN_BLOCKS_FILE}"
        )
    lengths = pc.list_value_length(pq.read_table(path, columns=["input_ids"]).column("input_ids"))
    if len(lengths) == 0:
        raise TrainingDataError(f"{path} contains no blocks: {_SOURCES_HINT}")
    if pc.min_max(lengths)["min"] != pc.min_max(lengths)["max"]:
        raise TrainingDataError(
            f"{path} has 'input_ids' rows of unequal length: expected the trainer's {TRAIN_BLOCKS_FILE}"
        )
    blocks, _ = read_train_blocks(path)
    return list(blocks)
