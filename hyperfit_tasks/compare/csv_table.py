"""CSV rendering: one row per run, nine columns per metric (``task/metric``, ``... stderr``, ``... delta``,
then the paired test's ``... ci_low``, ``... ci_high``, ``... p_value``, ``... p_holm``, and ``... state``:
significant / not significant / not tested, with ``... untested_reason``).

Numbers are written at full precision (Python's shortest round-trip form); empty = not measured.
"""
from __future__ import annotations

import csv
import io

from hyperfit_tasks.compare.leaderboard import Leaderboard

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
