"""Markdown rendering of a leaderboard (lm-eval's own table writer, ``pytablewriter``), one table per task."""
from __future__ import annotations

from hyperfit_tasks.compare.formatting import format_delta, format_number
from hyperfit_tasks.compare.leaderboard import Cell, Leaderboard
from hyperfit_tasks.compare.results import RunResult

LEGEND = (
    "Cells: value ± lm-eval stderr (difference to the baseline); **bold** = best in its column; "
    "↑ higher is better, ↓ lower is better; empty = not measured."
)


def cell_text(cell: Cell, bold: str = "**") -> str:
    """``**0.6123** ± 0.0100 (+0.0500)``: the value (wrapped in ``bold`` if best), stderr, delta."""
    if cell.value is None:
        return ""
    text = format_number(cell.value)
    if cell.best:
        text = f"{bold}{text}{bold}"
    if cell.stderr is not None:
        text += f" ± {format_number(cell.stderr)}"
    if cell.delta is not None:
        text += f" ({format_delta(cell.delta)})"
    return text


def run_label(board: Leaderboard, run: RunResult) -> str:
    """The run's name, with ``(baseline)`` after the baseline's."""
    return f"{run.name} (baseline)" if run.name == board.baseline else run.name


def run_details(run: RunResult) -> list[str]:
    """Name, model, training position and results file of a run, as table cells."""
    position = ""
    if run.position is not None:
        parts = [
            f"epoch {run.position.epoch:g}" if run.position.epoch is not None else "",
            f"step {run.position.step}" if run.position.step is not None else "",
        ]
        position = ", ".join(part for part in parts if part)
    return [run.name, run.model_path or "", position, str(run.path)]


def render_markdown(board: Leaderboard) -> str:
    """The whole report as Markdown: runs, one leaderboard table per task, warnings."""
    sections = [
        f"# Leaderboard: {len(board.runs)} runs, baseline {board.baseline}",
        LEGEND,
        _table(["Run", "Model", "Checkpoint", "Results file"], [run_details(run) for run in board.runs]),
    ]
    for task in board.tasks:
        columns = board.columns_of(task)
        headers = ["Run", *(f"{column.label} {column.arrow}".rstrip() for column in columns)]
        rows = [[run_label(board, run), *(cell_text(board.cell(run.name, column)) for column in columns)] for run in board.runs]
        sections += [f"## {task}", _table(headers, rows)]
    if board.warnings:
        sections += ["## Warnings", "\n".join(f"- {line}" for line in board.warnings)]
    return "\n\n".join(section.strip("\n") for section in sections) + "\n"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    from pytablewriter import MarkdownTableWriter
    from pytablewriter.typehint import String

    writer = MarkdownTableWriter()
    writer.headers = headers
    writer.type_hints = [String] * len(headers)  # cells are formatted already: no number re-parsing
    writer.value_matrix = rows
    return writer.dumps()
