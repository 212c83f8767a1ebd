"""CSV rendering: one row per run, three columns per metric (``task/metric``, ``... stderr``, ``... delta``).

Numbers are written at full precision (Python's shortest round-trip form); empty = not measured.
"""
from __future__ import annotations

import csv
import io

from hyperfit_tasks.compare.leaderboard import Leaderboard

RUN_FIELDS = ["run", "baseline", "model", "epoch", "step", "results_file"]


def _header(board: Leaderboard) -> list[str]:
    """The header row: run fields, then ``KEY``, ``KEY stderr``, ``KEY delta`` per column."""
    return RUN_FIELDS + [name for column in board.columns for name in (column.key, f"{column.key} stderr", f"{column.key} delta")]


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
        writer.writerow(row)
    return out.getvalue()


def _text(value: float | int | None) -> str:
    return "" if value is None else repr(value)
