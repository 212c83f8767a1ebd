"""A self-contained HTML report: leaderboard tables, warnings, embedded plots, example continuations.

This module turns a leaderboard into plain data (strings, rows, CSS classes); the Jinja template
``templates/index.html.j2`` lays it out, and its autoescape escapes every text from the inputs (names,
paths, prompts, continuations). Plots are inlined as base64 PNG, so the one file can be mailed or moved on its own.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined

from hyperfit_tasks.compare.formatting import SIGNIFICANT_MARK, UNTESTED_MARK, format_delta, format_interval, format_number
from hyperfit_tasks.compare.highlight import REPEAT_N, repeat_segments, repeated_share
from hyperfit_tasks.compare.leaderboard import LENGTH, SETTINGS, Cell, Column, Leaderboard
from hyperfit_tasks.compare.markdown import LEGEND, run_details, run_label
from hyperfit_tasks.compare.samples import Example

TEMPLATES = Environment(
    loader=PackageLoader("hyperfit_tasks.compare", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Plot:
    """A rendered plot: caption, file name under ``plots/`` and PNG bytes."""

    title: str
    filename: str
    png: bytes

    @property
    def png_base64(self) -> str:
        """The PNG bytes as base64 text, for a ``data:`` URI."""
        return base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class PageCell:
    """A leaderboard cell as the page shows it: formatted numbers and CSS classes (``value`` None: an empty cell)."""

    value: str | None
    stderr: str | None = None
    delta: str | None = None
    mark: str = ""
    interval: str = ""
    css: str = "delta"  # better, worse or delta: the colour of the difference
    untested: str | None = None  # why the difference has no verdict (shown as the tag's tooltip)
    classes: str = ""  # best and/or untested: the cell's own CSS classes


@dataclass(frozen=True)
class PageTable:
    """A leaderboard table: headers, one (run label, cells) row per run, and why some cells are not tested."""

    headers: list[str]
    rows: list[tuple[str, list[PageCell]]]
    untested: list[str]
    caption: str = ""
    compact: bool = False  # headline: no stderr, difference and interval on lines of their own


@dataclass(frozen=True)
class PageExample:
    """A prompt and each run's continuation as (title, share of repeated words, pieces of (text, repeated)); the share
    and pieces are None where the run has no record of the document."""

    title: str
    prompt: str
    columns: list[tuple[str, str | None, list[tuple[str, bool]] | None]]


def render_html(board: Leaderboard, plots: Sequence[Plot] = (), examples: Sequence[Example] = (), notes: Sequence[str] = ()) -> str:
    """The whole report as one HTML page, the verdict first: headline tables and plot, sharpening, examples, full tables, files."""
    from hyperfit_tasks.compare.compact import header, headline_domains
    from hyperfit_tasks.compare.markdown import statistics_legend
    from hyperfit_tasks.compare.sharpening import sharpening_headers, sharpening_rows
    from hyperfit_tasks.compare.verdict import verdict_sentences

    headline_plots = [plot for plot in plots if plot.filename == "differences.png"]
    return TEMPLATES.get_template("index.html.j2").render(
        baseline=board.baseline,
        verdicts=verdict_sentences(board),
        flags=[note for note in board.notes if note.kind in (SETTINGS, LENGTH)],
        headline_plots=headline_plots,
        legend=(statistics_legend(board) or LEGEND).split("**bold**"),
        headline=[
            _leaderboard_table(board, domain.columns, [header(column) for column in domain.columns], domain.name, compact=True)
            for domain in headline_domains(board)
        ],
        sharpening=sharpening_rows(board),
        sharpening_headers=sharpening_headers(),
        repeat_n=REPEAT_N,
        examples=[_example(example, board.baseline) for example in examples],
        other_plots=[plot for plot in plots if plot not in headline_plots],
        full_legend=LEGEND.split("**bold**"),
        tasks=[(task, _leaderboard_table(board, board.columns_of(task))) for task in board.tasks],
        warnings=board.warnings,
        statistics_notes=board.notes,
        notes=notes,
        runs=[run_details(run) for run in board.runs],
        untested_mark=UNTESTED_MARK,
    )


def _leaderboard_table(
    board: Leaderboard, columns: Sequence[Column], headers: Sequence[str] | None = None, caption: str = "", compact: bool = False
) -> PageTable:
    """A task's table (or a headline table: ``compact`` cells without stderr), with the reasons of its untested cells."""
    from hyperfit_tasks.compare.verdict import untested_lines

    rows = [(run_label(board, run), [_cell(board.cell(run.name, column), column) for column in columns]) for run in board.runs]
    headers = ["Run", *(headers or [f"{column.label} {column.arrow}".rstrip() for column in columns])]
    untested = [f"{UNTESTED_MARK} {line}" for line in untested_lines(board, list(columns))]
    return PageTable(headers, rows, untested, caption, compact)


def _cell(cell: Cell, column: Column) -> PageCell:
    if cell.value is None:
        return PageCell(None)
    significant = cell.state == "significant"
    classes = " ".join(name for name, on in (("best", cell.best), ("untested", cell.state == "not tested")) if on)
    return PageCell(
        value=format_number(cell.value),
        stderr=format_number(cell.stderr) if cell.stderr is not None else None,
        delta=format_delta(cell.delta) if cell.delta is not None else None,
        mark=SIGNIFICANT_MARK if significant else "",
        interval=format_interval(cell.stat.ci_low, cell.stat.ci_high) if cell.stat is not None else "",
        css=_delta_class(cell.delta, column.higher_is_better) if significant else "delta",
        untested=(cell.reason or "") if cell.state == "not tested" else None,
        classes=classes,
    )


def _delta_class(delta: float, higher_is_better: bool | None) -> str:
    if higher_is_better is None or delta == 0:
        return "delta"
    return "better" if (delta > 0) == higher_is_better else "worse"


def _example(example: Example, baseline: str) -> PageExample:
    columns = [
        (
            f"{name} (baseline)" if name == baseline else name,
            None if text is None else f"{100 * repeated_share(text):.0f}% repeated",
            None if text is None else repeat_segments(text),
        )
        for name, text in example.continuations.items()
    ]
    return PageExample(f"{example.task}, document {example.doc_id}", example.prompt, columns)
