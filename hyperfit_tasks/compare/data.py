"""The leaderboard as data: ``table.csv`` and ``table.json``, and ``table.json`` read back.

``table.csv``: one row per run, nine columns per metric (``task/metric``, ``... stderr``, ``... delta``, then the
paired test's ``... ci_low``, ``... ci_high``, ``... p_value``, ``... p_holm``, and ``... state``: significant / not
significant / not tested, with ``... untested_reason``). Numbers are written at full precision (Python's shortest
round-trip form); empty = not measured.

``table.json``: runs, columns (with direction), cells (value, stderr, delta, best, state, untested_reason), warnings,
and the paired statistics (``paired``: task -> metric -> run -> ``delta``, ``ci_low``, ``ci_high``, ``p_value``,
``p_holm``, ``significant``, ``state``, the values on the same pairs, ...); written by :func:`render_json` and read
back by :func:`read_table` and :func:`paired_stat` (``hyperfit-reproduce`` reads it so). Strict JSON: a value that is
not measured is ``null`` (never ``NaN``); an unbounded interval end is ``null`` too.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any

from hyperfit_tasks.common.run_files import read_json
from hyperfit_tasks.compare.leaderboard import Leaderboard
from hyperfit_tasks.compare.paired import PairedStat
from hyperfit_tasks.compare.text import verdict_sentences

# ---------------------------------------------------------------- table.csv


RUN_FIELDS = ["run", "baseline", "model", "epoch", "step", "results_file"]
STAT_FIELDS = ("ci_low", "ci_high", "p_value", "p_holm")


def _header(board: Leaderboard) -> list[str]:
    """The header row: run fields, then ``KEY``, ``KEY stderr``, ``KEY delta`` and the statistics per column."""
    suffixes = ("", " stderr", " delta", *(f" {name}" for name in STAT_FIELDS), " state", " untested_reason")
    return RUN_FIELDS + [column.key + suffix for column in board.columns for suffix in suffixes]


def render_csv(board: Leaderboard) -> str:
    """The leaderboard as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_header(board))
    for run in board.runs:
        position = run.position
        row = [
            run.name,
            run.name == board.baseline,
            run.model_path or "",
            _text(position.epoch if position else None),
            _text(position.step if position else None),
            str(run.path),
        ]
        for column in board.columns:
            cell = board.cell(run.name, column)
            row += [_text(cell.value), _text(cell.stderr), _text(cell.delta)]
            row += [_text(getattr(cell.stat, name) if cell.stat is not None else None) for name in STAT_FIELDS]
            row += [cell.state or "", cell.reason or ""]
        writer.writerow(row)
    return out.getvalue()


def _text(value: float | int | None) -> str:
    return "" if value is None else repr(value)


# ---------------------------------------------------------------- table.json


def leaderboard_dict(board: Leaderboard) -> dict[str, Any]:
    """A plain-data form of the leaderboard (what ``table.json`` holds)."""
    return {
        "baseline": board.baseline,
        "runs": [
            {
                "name": run.name,
                "model": run.model_path,
                "results_file": str(run.path),
                "samples_files": {task: str(path) for task, path in run.samples.items()},
                "series": run.position.series if run.position else None,
                "epoch": run.position.epoch if run.position else None,
                "step": run.position.step if run.position else None,
            }
            for run in board.runs
        ],
        "columns": [
            {
                "key": c.key,
                "task": c.task,
                "metric": c.metric,
                "filter": c.filter,
                "higher_is_better": c.higher_is_better,
            }
            for c in board.columns
        ],
        "cells": {
            run.name: {
                column.key: {
                    "value": cell.value,
                    "stderr": cell.stderr,
                    "delta": cell.delta,
                    "best": cell.best,
                    "state": cell.state,
                    "untested_reason": cell.reason,
                }
                for column in board.columns
                for cell in [board.cell(run.name, column)]
            }
            for run in board.runs
        },
        "warnings": list(board.warnings),
        "statistics": board.paired.describe() if board.paired is not None and board.paired.stats else None,
        "verdict": verdict_sentences(board),
        "notes": list(board.notes),
        # task -> metric -> run -> paired bootstrap against the baseline (tested cells only)
        "paired": _paired(board),
    }


def _paired(board: Leaderboard) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for column in board.columns:
        for run in board.runs:
            cell = board.cell(run.name, column)
            if cell.stat is not None:
                found.setdefault(column.task, {}).setdefault(column.label, {})[run.name] = {
                    **{name: _finite(value) for name, value in dataclasses.asdict(cell.stat).items()},
                    "significant": cell.stat.significant,
                    "state": cell.state,
                    "untested_reason": cell.reason,
                }
    return found


def _finite(value: Any) -> Any:
    """An unbounded interval end (too few pairs) as null: strict JSON has no infinity."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def render_json(board: Leaderboard) -> str:
    """The leaderboard as indented, strict JSON text."""
    return json.dumps(leaderboard_dict(board), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def read_table(path: Path) -> dict[str, Any] | None:
    """A ``table.json`` that :func:`render_json` wrote, None when it is absent or unreadable."""
    table = read_json(path)
    return table if isinstance(table, dict) else None


def paired_stat(table: dict[str, Any] | None, task: str, metric: str, run: str) -> PairedStat | None:
    """The paired statistic of ``run`` in ``task``/``metric`` of a ``table.json`` (None where it holds none)."""
    entry = ((((table or {}).get("paired") or {}).get(task) or {}).get(metric) or {}).get(run)
    if not isinstance(entry, dict):
        return None
    fields = {field.name: entry[field.name] for field in dataclasses.fields(PairedStat) if field.name in entry}
    for end, unbounded in (("ci_low", -math.inf), ("ci_high", math.inf)):
        if end in fields and fields[end] is None:
            fields[end] = unbounded
    try:
        return PairedStat(**fields)
    except TypeError:  # a field missing: not a statistic hyperfit-compare wrote
        return None
