"""The run-folder contract: the names and readers of what ``hyperfit-train``, lm-eval and ``hyperfit-compare`` write
and other tools read. Every reader of these files uses this module, so a name is spelled once.

* a ``hyperfit-train`` output folder: ``hyperfit_run.json`` (the run record, written last: the run finished),
  ``diagnostics.jsonl`` (one row per measured epoch) and its plot, ``train_blocks.parquet`` (the exact training
  blocks), ``checkpoint-<step>/`` folders and ``early_stopped/`` (the model of the lowest held-out loss, with its
  record);
* an lm-eval ``--output_path``: ``results_<timestamp>.json`` per model folder (read by
  :mod:`hyperfit_tasks.compare.results`);
* a ``hyperfit-compare --out`` folder: ``table.md``, ``table.csv``, ``table.json`` and ``index.html``
  (``table.json`` is read back by :mod:`hyperfit_tasks.compare.data`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from hyperfit_tasks.common.atomic import atomic_target
from hyperfit_tasks.common.json_rows import read_rows
from hyperfit_tasks.common.model_args import parse_model_args

RUN_RECORD = "hyperfit_run.json"
DIAGNOSTICS_FILE = "diagnostics.jsonl"
DIAGNOSTICS_PLOT = "diagnostics.png"
CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
TRAIN_BLOCKS_FILE = "train_blocks.parquet"
# the model of the epoch with the lowest held-out loss (the early-stopped fine-tune), and its record inside that folder
EARLY_STOPPED_DIR = "early_stopped"
EARLY_STOPPED_RECORD = "hyperfit_early_stopped.json"
BLOCKS_METADATA_KEY = b"hyperfit"
RESULTS_GLOB = "results_*.json"  # lm-eval's results file, one per model folder and run
TABLE_MD, TABLE_CSV, TABLE_JSON, INDEX_HTML = (
    "table.md",
    "table.csv",
    "table.json",
    "index.html",
)  # hyperfit-compare --out


def read_json(path: Path) -> Any:
    """The JSON in ``path``, None when it is absent or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_run_record(run_dir: Path) -> dict[str, Any] | None:
    """The ``hyperfit_run.json`` of a ``hyperfit-train`` output folder, None if absent or unreadable."""
    record = read_json(Path(run_dir) / RUN_RECORD)
    return record if isinstance(record, dict) else None


def read_diagnostics(run_dir: Path) -> list[dict[str, Any]]:
    """The ``diagnostics.jsonl`` rows of a ``hyperfit-train`` output folder, [] without the file."""
    return read_rows(Path(run_dir) / DIAGNOSTICS_FILE)


def read_early_stopped(run_dir: Path) -> dict[str, Any] | None:
    """The record of the early-stopped model kept in a run folder (epoch, step, held-out loss), None without one."""
    record = read_json(Path(run_dir) / EARLY_STOPPED_DIR / EARLY_STOPPED_RECORD)
    return record if isinstance(record, dict) and isinstance(record.get("heldout_loss"), (int, float)) else None


def has_results(folder: Path) -> bool:
    """True if lm-eval already wrote a results file under ``folder``."""
    return any(Path(folder).rglob(RESULTS_GLOB))


def results_model_args(folder: Path) -> dict[str, Any]:
    """The ``--model_args`` recorded in the newest lm-eval results file under ``folder`` (``config.model_args``,
    parsed), {} when there is none."""
    files = sorted(Path(folder).rglob(RESULTS_GLOB), key=lambda path: path.stat().st_mtime)
    return parse_model_args(((read_json(files[-1]) or {}).get("config") or {}).get("model_args") if files else None)


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
