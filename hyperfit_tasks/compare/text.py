"""The leaderboard as text: how numbers look, the verdict in sentences, the terminal headline and ``table.md``.

* numbers: lm-eval's 4 decimals, small values in e-notation; three significant digits in narrow terminal cells;
* the headline verdict: the paper's headline metrics per domain, one row per run, differences and markers. Used three
  ways: the terminal table (``hyperfit-compare`` without ``--full``: fits in :data:`TERMINAL_WIDTH` columns, a value
  row and a difference row per run) and the first section of ``table.md`` and ``index.html`` (with 95% intervals).
  Domains join the tasks of one text source (``hyperfit_continuation_austen`` and ``hyperfit_perplexity_austen`` ->
  ``austen``);
* ``table.md``: the headline, the sharpening a ``hyperfit-train`` run measured on held-out text (before and after),
  then one table per task, written by lm-eval's own table writer, ``pytablewriter``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from hyperfit_tasks.compare.leaderboard import FLAGS, Cell, Column, Leaderboard, domain_of
from hyperfit_tasks.compare.results import RunResult, hyperfit_outcome, run_diagnostics
from hyperfit_tasks.metrics import catalogue

# ---------------------------------------------------------------- numbers


def format_number(value: float | None) -> str:
    """``0.6123``; ``2.805e-07`` for tiny non-zero values (4 decimals would print 0.0000); "" for None."""
    if value is None:
        return ""
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4f}"


def format_delta(delta: float | None) -> str:
    """A signed difference (``+0.0500``, ``-2.000e-05``); "" for None."""
    if delta is None:
        return ""
    text = format_number(delta)
    return text if text.startswith("-") else f"+{text}"


SIGNIFICANT_MARK = "*"  # Holm-adjusted p < 0.05 and the interval excludes 0 (hyperfit_tasks.compare.paired)
UNTESTED_MARK = "?"  # a difference without a verdict: not tested (the reason is printed beside the table)


def format_interval(low: float, high: float) -> str:
    """A 95% interval of a difference, ``[-0.0100, +0.0300]``."""
    return f"[{format_delta(low)}, {format_delta(high)}]"


def format_short(value: float | None, signed: bool = False) -> str:
    """Three significant digits for narrow terminal cells (``0.612``, ``25.3``, ``+0.088``); "" for None."""
    if value is None:
        return ""
    text = f"{value:+.3g}" if signed else f"{value:.3g}"
    return text.replace("e+0", "e").replace("e-0", "e-")


# ---------------------------------------------------------------- the verdict in sentences


def untested_lines(board: Leaderboard, columns: list[Column]) -> list[str]:
    """One line per run and reason: which of ``columns`` are not tested for it, and why (printed beside the table)."""
    found: dict[tuple[str, str], list[str]] = {}
    for column in columns:
        for run in board.runs:
            cell = board.cell(run.name, column)
            if cell.state == "not tested":
                found.setdefault((run.name, cell.reason), []).append(column.label)
    return [f"not tested for {name} ({', '.join(labels)}): {reason}" for (name, reason), labels in found.items()]


def verdict_sentences(board: Leaderboard) -> list[str]:
    """One sentence per run against the baseline: where it is significantly better, worse, neither, and untested."""
    sentences, groups = [], board.groups
    for run in board.runs:
        if run.name == board.baseline:
            continue
        kinds: dict[str, list[str]] = {
            "better": [],
            "worse": [],
            "different": [],
            "not significant": [],
            "not tested": [],
        }
        for column in board.columns:
            if column.task in groups:  # a group's row repeats its subtasks'
                continue
            cell = board.cell(run.name, column)
            if cell.state == "significant":
                side = None if column.higher_is_better is None else (cell.delta > 0) == column.higher_is_better
                kinds["different" if side is None else "better" if side else "worse"].append(column.key)
            elif cell.state is not None:
                kinds[cell.state].append(column.key)
        parts = [
            f"significantly {kind} in {len(keys)} ({_few(keys)})"
            for kind, keys in kinds.items()
            if keys and kind in ("better", "worse", "different")
        ]
        parts += [
            f"{kind} in {len(keys)}"
            for kind, keys in kinds.items()
            if keys and kind in ("not significant", "not tested")
        ]
        sentences.append(
            f"{run.name} against {board.baseline}: " + ("; ".join(parts) if parts else "no difference to show") + "."
        )
    return sentences


def _few(keys: list[str], shown: int = 4) -> str:
    names = [f"{domain_of(key.split('/', 1)[0])} {key.split('/', 1)[1]}" for key in keys]
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


# ---------------------------------------------------------------- the terminal headline


TERMINAL_WIDTH = 100
TERMINAL_LEGEND = (
    f"{SIGNIFICANT_MARK} = significant (paired permutation test, Holm-adjusted p < 0.05 within the task's table, "
    f"interval excludes 0); no mark = not significant; {UNTESTED_MARK} = not tested (why: below); ! = significantly "
    "best."
)
NAME_WIDTH = 19


@dataclass(frozen=True)
class Domain:
    """A text source and its headline columns (one per headline metric found)."""

    name: str
    columns: list[Column]


def headline_domains(board: Leaderboard) -> list[Domain]:
    """Domains with at least one headline metric, leaf tasks only (groups have no samples to test)."""
    groups, order = board.groups, [metric.name for metric in catalogue.view(catalogue.HEADLINE)]
    found: dict[str, dict[str, Column]] = {}
    for column in board.columns:
        row = catalogue.find(column.metric)
        if column.task in groups or column.filter != "none" or row is None or row.name not in order:
            continue
        found.setdefault(domain_of(column.task), {}).setdefault(row.name, column)
    return [
        Domain(name, [by_metric[metric] for metric in order if metric in by_metric])
        for name, by_metric in found.items()
    ]


def header(column: Column) -> str:
    """The metric's label in the catalogue, with the better direction."""
    return f"{catalogue.label(column.metric)} {column.arrow}".rstrip()


def marked_delta(cell: Cell) -> str:
    """``+0.088*`` significant, ``+0.088`` not significant, ``+0.088?`` not tested; "" for the baseline or an empty
    cell."""
    if cell.delta is None:
        return ""
    mark = {"significant": SIGNIFICANT_MARK, "not tested": UNTESTED_MARK}.get(cell.state, "")
    return format_short(cell.delta, signed=True) + mark


def render_terminal(board: Leaderboard, files: str = "") -> str:
    """The headline verdict as plain text, at most :data:`TERMINAL_WIDTH` columns wide."""
    lines = [f"{len(board.runs)} runs against {board.baseline}."]
    domains = headline_domains(board)
    if not domains:
        lines.append("No headline metric in these results: pass --full for every metric.")
    for domain in domains:
        rows = []
        for run in board.runs:
            cells = [board.cell(run.name, column) for column in domain.columns]
            label = f"{run.name} (baseline)" if run.name == board.baseline else run.name
            rows.append((label, [format_short(cell.value) + ("!" if cell.best else "") for cell in cells]))
            if run.name != board.baseline:
                rows.append(("  difference", [marked_delta(cell) for cell in cells]))
        lines += ["", f"{domain.name}:", *_aligned([header(column) for column in domain.columns], rows)]
    if len(board.runs) > 1:
        lines += ["", _wrap(TERMINAL_LEGEND)]
        lines += [
            _wrap(f"{domain.name}: {line}") for domain in domains for line in untested_lines(board, domain.columns)
        ]
    lines += [_wrap(note) for note in board.notes if note.kind in FLAGS]
    lines.append(
        _wrap(
            f"Full table (every metric, intervals, p-values): {files}"
            if files
            else "Full table with intervals and p-values: --full, or --out DIR for table.md/.csv/.json and index.html."
        )
    )
    return "\n".join(lines) + "\n"


def _aligned(headers: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
    """The header line, then rows of a label and right-aligned cells, each column as wide as its widest cell or header
    plus one space. Where that is wider than :data:`TERMINAL_WIDTH`, the headers are wrapped at their spaces onto lines
    as wide as their column's cells (the arrow, or a label's last words, on a line of its own), so that 8 headline
    columns fit beside the label."""
    cells_wide = [max(len(cells[i]) for _, cells in rows) for i in range(len(headers))]
    stacked = [[text] for text in headers]
    if NAME_WIDTH + sum(max(len(text), wide) + 1 for text, wide in zip(headers, cells_wide)) > TERMINAL_WIDTH:
        stacked = [
            textwrap.wrap(text, wide, break_long_words=False, break_on_hyphens=False) or [""]
            for text, wide in zip(headers, cells_wide)
        ]
    widths = [max(wide, *(len(line) for line in lines)) + 1 for lines, wide in zip(stacked, cells_wide)]
    depth = max(len(lines) for lines in stacked)
    header_rows = [("", [([""] * (depth - len(lines)) + lines)[level] for lines in stacked]) for level in range(depth)]
    out = []
    for label, cells in header_rows + rows:
        name = label if len(label) <= NAME_WIDTH else label[: NAME_WIDTH - 1] + "…"
        out.append(
            (name.ljust(NAME_WIDTH) + "".join(cell.rjust(width) for cell, width in zip(cells, widths))).rstrip()
        )
    return out


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, TERMINAL_WIDTH, subsequent_indent="  ", break_on_hyphens=False))


# ---------------------------------------------------------------- the sharpening table


SHARPENING_COLUMNS = (
    ("heldout_perplexity", "held-out ppl", ".2f"),
    ("top1_prob", "top-1 prob", ".3f"),
    ("top1_prob_correct", "top-1 prob when right", ".3f"),
    ("top1_prob_wrong", "top-1 prob when wrong", ".3f"),
    ("ece", "ECE", ".3f"),
    ("entropy", "entropy (nats)", ".3f"),
    ("ttr_last96", "greedy TTR last 96", ".3f"),
)


def sharpening_rows(board: Leaderboard) -> list[list[str]]:
    """Table rows (label, then one formatted cell per column) of every run with a run record: before, then after."""
    rows = []
    for run in board.runs:
        found = run_diagnostics(Path(run.model_path)) if run.model_path else None
        if found is None:
            continue
        outcomes = ("", hyperfit_outcome(Path(run.model_path)))
        for label, row, outcome in zip((f"{run.name}: before (base)", f"{run.name}: after"), found, outcomes):
            cells = [
                format(row[key], spec) if isinstance(row.get(key), (int, float)) else ""
                for key, _, spec in SHARPENING_COLUMNS
            ]
            rows.append([label, *cells, outcome])
    return rows


def sharpening_headers() -> list[str]:
    """Header of the sharpening table."""
    return ["Run", *(label for _, label, _ in SHARPENING_COLUMNS), "hyperfitted (final training loss vs target)"]


# ---------------------------------------------------------------- table.md


LEGEND = (
    "Cells: value ± lm-eval stderr (difference to the baseline [95% interval]); every difference is significant "
    f"({SIGNIFICANT_MARK}), not significant (no mark) or not tested ({UNTESTED_MARK} not tested, why: under the "
    "table); **bold** = significantly best in its column; ↑ higher is better, ↓ lower is better; empty = not measured."
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
        "Differences: (delta [95% interval]) from a "
        + board.paired.describe()
        + "; **bold** = significantly best (better than every other run). Intervals show sampling noise over these "
        "prompts only, not variation between trainings."
    )


def untested_list(board: Leaderboard, columns) -> str:
    """The reasons of a table's untested cells, as a Markdown list to print right under it ("" when none)."""
    return "\n".join(f"- {UNTESTED_MARK} {line}" for line in untested_lines(board, columns))


def headline_sections(board: Leaderboard) -> list[str]:
    """The verdict first: headline tables per domain (with intervals), the sharpening table, the flags."""
    sections = []
    for domain in headline_domains(board):
        rows = [
            [run_label(board, run), *(cell_text(board.cell(run.name, column)) for column in domain.columns)]
            for run in board.runs
        ]
        sections += [
            f"## Headline: {domain.name}",
            markdown_table(["Run", *(header(column) for column in domain.columns)], rows),
            untested_list(board, domain.columns),
        ]
    sharpening = sharpening_rows(board)
    if sharpening:
        sections += [
            "## Next-token sharpening on held-out text (hyperfit-train diagnostics)",
            markdown_table(sharpening_headers(), sharpening),
        ]
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
    sections = [
        f"# Leaderboard: {len(board.runs)} runs, baseline {board.baseline}",
        " ".join(verdict_sentences(board)),
        LEGEND,
        statistics_legend(board),
        *headline_sections(board),
        "## Runs",
        markdown_table(["Run", "Model", "Checkpoint", "Results file"], [run_details(run) for run in board.runs]),
    ]
    for task in board.tasks:
        columns = board.columns_of(task)
        headers = ["Run", *(f"{column.label} {column.arrow}".rstrip() for column in columns)]
        rows = [
            [run_label(board, run), *(cell_text(board.cell(run.name, column)) for column in columns)]
            for run in board.runs
        ]
        sections += [f"## {task}", markdown_table(headers, rows), untested_list(board, columns)]
    if board.warnings:
        sections += ["## Warnings", "\n".join(f"- {line}" for line in board.warnings)]
    return "\n\n".join(section.strip("\n") for section in sections if section) + "\n"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table of cells formatted already (pytablewriter's ``MarkdownTableWriter``, no number re-parsing)."""
    from pytablewriter import MarkdownTableWriter
    from pytablewriter.typehint import String

    writer = MarkdownTableWriter()
    writer.headers = headers
    writer.type_hints = [String] * len(headers)  # cells are formatted already: no number re-parsing
    writer.value_matrix = rows
    return writer.dumps()


def unpadded_markdown_table(headers: list[str], rows: list[list[str]], right: Collection[int] = ()) -> str:
    """A Markdown table by ``pytablewriter`` whose cells are not padded to the column's width, so that each row reads
    ``| a | b |`` (the README's tables, tests and readers split rows on " | "); only the separator row spans each
    column's width. The columns numbered in ``right`` are right-aligned (numbers), the others left-aligned."""
    from pytablewriter import MarkdownTableWriter
    from pytablewriter.style import Style
    from pytablewriter.typehint import String

    aligns = ["right" if column in right else "left" for column in range(len(headers))]
    writer = MarkdownTableWriter(margin=1)
    writer.headers = headers
    writer.type_hints = [String] * len(headers)  # cells are formatted already: no number re-parsing
    writer.column_styles = [Style(align=align) for align in aligns]
    writer.add_style_filter(lambda cell, **_: Style(padding=0, align=aligns[cell.col]))
    writer.value_matrix = rows
    return writer.dumps()
