"""A self-contained HTML report: leaderboard tables, warnings, embedded plots, example continuations.

This module turns a leaderboard into plain data (strings, rows, CSS classes); the Jinja template
``templates/index.html.j2`` lays it out, and its autoescape escapes every text from the inputs (names,
paths, prompts, continuations). Plots are inlined as base64 PNG, so the one file can be mailed or moved on its own.

The example continuations mark repeated n-grams, so that the page shows a reader the repetition. Words are nltk
``wordpunct_tokenize`` units (as hyperfit's word metrics count them). A word is marked when it belongs to an n-gram
that already occurred earlier in the same text (the earlier occurrence may overlap it); runs of marked words become
one marked piece (one ``<mark>`` on the page).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined

from hyperfit_tasks.compare.leaderboard import LENGTH, SETTINGS, Cell, Column, Leaderboard
from hyperfit_tasks.compare.samples import Example
from hyperfit_tasks.compare.text import (
    LEGEND,
    SIGNIFICANT_MARK,
    UNTESTED_MARK,
    format_delta,
    format_interval,
    format_number,
    header,
    headline_domains,
    run_details,
    run_label,
    sharpening_headers,
    sharpening_rows,
    statistics_legend,
    untested_lines,
    verdict_sentences,
)
from hyperfit_tasks.metrics.ngrams import ngrams

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


def render_html(
    board: Leaderboard, plots: Sequence[Plot] = (), examples: Sequence[Example] = (), notes: Sequence[str] = ()
) -> str:
    """The whole report as one HTML page, the verdict first: headline tables and plot, sharpening, examples, full
    tables, files."""
    headline_plots = [plot for plot in plots if plot.filename == "differences.png"]
    return TEMPLATES.get_template("index.html.j2").render(
        baseline=board.baseline,
        verdicts=verdict_sentences(board),
        flags=[note for note in board.notes if note.kind in (SETTINGS, LENGTH)],
        headline_plots=headline_plots,
        legend=(statistics_legend(board) or LEGEND).split("**bold**"),
        headline=[
            _leaderboard_table(
                board, domain.columns, [header(column) for column in domain.columns], domain.name, compact=True
            )
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
    board: Leaderboard,
    columns: Sequence[Column],
    headers: Sequence[str] | None = None,
    caption: str = "",
    compact: bool = False,
) -> PageTable:
    """A task's table (or a headline table: ``compact`` cells without stderr), with the reasons of its untested
    cells."""
    rows = [
        (run_label(board, run), [_cell(board.cell(run.name, column), column) for column in columns])
        for run in board.runs
    ]
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


# ---------------------------------------------------------------- repeated n-grams


REPEAT_N = 4


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` (``nltk`` ``WordPunctTokenizer.span_tokenize``)."""
    from nltk.tokenize import WordPunctTokenizer

    return list(WordPunctTokenizer().span_tokenize(text))


def repeated_word_mask(words: list[str], n: int = REPEAT_N) -> list[bool]:
    """For each word: does it belong to an ``n``-gram seen earlier in ``words``?"""
    if n < 1:
        raise ValueError(f"n must be >= 1, got n={n}")
    marked = [False] * len(words)
    seen: set[tuple] = set()
    for start, gram in enumerate(ngrams(words, n)):
        if gram in seen:
            marked[start : start + n] = [True] * n
        seen.add(gram)
    return marked


def repeated_share(text: str, n: int = REPEAT_N) -> float:
    """Share of the words of ``text`` that are marked as repeated (0.0 for a text without words)."""
    spans = word_spans(text)
    mask = repeated_word_mask([text[a:b] for a, b in spans], n)
    return sum(mask) / len(mask) if mask else 0.0


def repeat_segments(text: str, n: int = REPEAT_N) -> list[tuple[str, bool]]:
    """``text`` cut into consecutive non-empty pieces, each with whether it is a run of repeated words."""
    spans = word_spans(text)
    mask = repeated_word_mask([text[a:b] for a, b in spans], n)
    pieces, position, index = [], 0, 0
    while index < len(spans):
        if not mask[index]:
            index += 1
            continue
        end_index = index
        while end_index + 1 < len(spans) and mask[end_index + 1]:
            end_index += 1
        start, end = spans[index][0], spans[end_index][1]
        pieces += [(text[position:start], False), (text[start:end], True)]
        position, index = end, end_index + 1
    pieces.append((text[position:], False))
    return [(piece, repeated) for piece, repeated in pieces if piece]
