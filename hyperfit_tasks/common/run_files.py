"""Names and formats of what a ``hyperfit-train`` run writes that other tools read: checkpoint folders, training blocks
and the early-stopped model."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from hyperfit_tasks.common.atomic import atomic_target

CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
TRAIN_BLOCKS_FILE = "train_blocks.parquet"
# the model of the epoch with the lowest held-out loss (the early-stopped fine-tune), and its record inside that folder
EARLY_STOPPED_DIR = "early_stopped"
EARLY_STOPPED_RECORD = "hyperfit_early_stopped.json"
BLOCKS_METADATA_KEY = b"hyperfit"


def checkpoint_step(path: Path) -> int | None:
    """The step in a ``checkpoint-<step>`` folder name, else None."""
    match = CHECKPOINT_NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


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
