"""JSON rendering: runs, columns (with direction), cells (value, stderr, delta, best) and warnings.

Strict JSON: a value that is not measured is ``null`` (never ``NaN``).
"""
from __future__ import annotations

import json
from typing import Any

from hyperfit_tasks.compare.leaderboard import Leaderboard


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
            {"key": c.key, "task": c.task, "metric": c.metric, "filter": c.filter, "higher_is_better": c.higher_is_better}
            for c in board.columns
        ],
        "cells": {
            run.name: {
                column.key: {
                    "value": cell.value,
                    "stderr": cell.stderr,
                    "delta": cell.delta,
                    "best": cell.best,
                }
                for column in board.columns
                for cell in [board.cell(run.name, column)]
            }
            for run in board.runs
        },
        "warnings": list(board.warnings),
    }


def render_json(board: Leaderboard) -> str:
    """The leaderboard as indented, strict JSON text."""
    return json.dumps(leaderboard_dict(board), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
