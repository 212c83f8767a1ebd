"""Markdown rendering of a leaderboard (lm-eval's own table writer, ``pytablewriter``), one table per task."""
from __future__ import annotations

from hyperfit_tasks.compare.formatting import SIGNIFICANT_MARK, UNTESTED_MARK, format_delta, format_interval, format_number
from hyperfit_tasks.compare.leaderboard import Cell, Leaderboard
from hyperfit_tasks.compare.results import RunResult

LEGEND = (
    "Cells: value ± lm-eval stderr (difference to the baseline [95% interval]); every difference is significant "
    f"({SIGNIFICANT_MARK}), not significant (no mark) or not tested ({UNTESTED_MARK} not tested, why: under the table); "
    "**bold** = significantly best in its column; ↑ higher is better, ↓ lower is better; empty = not measured."
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
    if cell.delta is None:
        return text
    interval = f" {format_interval(cell.stat.ci_low, cell.stat.ci_high)}" if cell.stat is not None else ""
    mark = {"significant": SIGNIFICANT_MARK, "not tested": f" {UNTESTED_MARK} not tested"}.get(cell.state, "")
    return text + f" ({format_delta(cell.delta)}{interval}){mark}"


def statistics_legend(board: Leaderboard) -> str:
    """How the intervals were made and what the marks mean ("" when nothing was tested)."""
    if board.paired is None or not board.paired.stats:
        return ""
    return (
        "Differences: (delta [95% interval]) from a " + board.paired.describe()
        + "; **bold** = significantly best (better than every other run). Intervals show sampling noise over these "
        "prompts only, not variation between trainings."
    )


def untested_list(board: Leaderboard, columns) -> str:
    """The reasons of a table's untested cells, as a Markdown list to print right under it ("" when none)."""
    from hyperfit_tasks.compare.verdict import untested_lines

    return "\n".join(f"- {UNTESTED_MARK} {line}" for line in untested_lines(board, columns))


def headline_sections(board: Leaderboard) -> list[str]:
    """The verdict first: headline tables per domain (with intervals), the sharpening table, the flags."""
    from hyperfit_tasks.compare.compact import header, headline_domains
    from hyperfit_tasks.compare.sharpening import sharpening_headers, sharpening_rows

    sections = []
    for domain in headline_domains(board):
        rows = [[run_label(board, run), *(cell_text(board.cell(run.name, column)) for column in domain.columns)] for run in board.runs]
        sections += [
            f"## Headline: {domain.name}",
            _table(["Run", *(header(column) for column in domain.columns)], rows),
            untested_list(board, domain.columns),
        ]
    sharpening = sharpening_rows(board)
    if sharpening:
        sections += ["## Next-token sharpening on held-out text (hyperfit-train diagnostics)", _table(sharpening_headers(), sharpening)]
    if board.notes:
        sections += ["## Notes on the statistics", "\n".join(f"- {line}" for line in board.notes)]
    return sections


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
    from hyperfit_tasks.compare.verdict import verdict_sentences

    sections = [
        f"# Leaderboard: {len(board.runs)} runs, baseline {board.baseline}",
        " ".join(verdict_sentences(board)),
        LEGEND,
        statistics_legend(board),
        *headline_sections(board),
        "## Runs",
        _table(["Run", "Model", "Checkpoint", "Results file"], [run_details(run) for run in board.runs]),
    ]
    for task in board.tasks:
        columns = board.columns_of(task)
        headers = ["Run", *(f"{column.label} {column.arrow}".rstrip() for column in columns)]
        rows = [[run_label(board, run), *(cell_text(board.cell(run.name, column)) for column in columns)] for run in board.runs]
        sections += [f"## {task}", _table(headers, rows), untested_list(board, columns)]
    if board.warnings:
        sections += ["## Warnings", "\n".join(f"- {line}" for line in board.warnings)]
    return "\n\n".join(section.strip("\n") for section in sections if section) + "\n"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    from pytablewriter import MarkdownTableWriter
    from pytablewriter.typehint import String

    writer = MarkdownTableWriter()
    writer.headers = headers
    writer.type_hints = [String] * len(headers)  # cells are formatted already: no number re-parsing
    writer.value_matrix = rows
    return writer.dumps()
