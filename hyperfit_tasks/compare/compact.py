"""The headline verdict: the paper's headline metrics per domain, one row per run, differences and markers.

Used three ways: the terminal table (``hyperfit-compare`` without ``--full``: fits in
:data:`TERMINAL_WIDTH` columns, a value row and a difference row per run) and the first
section of ``table.md`` and ``index.html`` (with 95% intervals). Domains join the tasks of one
text source (``hyperfit_continuation_austen`` and ``hyperfit_perplexity_austen`` -> ``austen``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperfit_tasks.compare.formatting import SIGNIFICANT_MARK, UNTESTED_MARK, format_short
from hyperfit_tasks.compare.leaderboard import FLAGS, Cell, Column, Leaderboard, domain_of
from hyperfit_tasks.metrics import catalogue

TERMINAL_WIDTH = 100
LEGEND = (
    f"{SIGNIFICANT_MARK} = significant (paired permutation test, Holm-adjusted p < 0.05 within the task's table, interval "
    f"excludes 0); no mark = not significant; {UNTESTED_MARK} = not tested (why: below); ! = significantly best."
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
    return [Domain(name, [by_metric[metric] for metric in order if metric in by_metric]) for name, by_metric in found.items()]


def header(column: Column) -> str:
    """The metric's short header in the catalogue, with the better direction."""
    return f"{catalogue.find(column.metric).header} {column.arrow}".rstrip()


def marked_delta(cell: Cell) -> str:
    """``+0.088*`` significant, ``+0.088`` not significant, ``+0.088?`` not tested; "" for the baseline or an empty cell."""
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
        rows = [("", [header(column) for column in domain.columns])]
        for run in board.runs:
            cells = [board.cell(run.name, column) for column in domain.columns]
            label = f"{run.name} (baseline)" if run.name == board.baseline else run.name
            rows.append((label, [format_short(cell.value) + ("!" if cell.best else "") for cell in cells]))
            if run.name != board.baseline:
                rows.append(("  difference", [marked_delta(cell) for cell in cells]))
        lines += ["", f"{domain.name}:", *_aligned(rows)]
    if len(board.runs) > 1:
        from hyperfit_tasks.compare.verdict import untested_lines

        lines += ["", _wrap(LEGEND)]
        lines += [_wrap(f"{domain.name}: {line}") for domain in domains for line in untested_lines(board, domain.columns)]
    lines += [_wrap(note) for note in board.notes if note.kind in FLAGS]
    lines.append(
        _wrap(
            f"Full table (every metric, intervals, p-values): {files}"
            if files
            else "Full table with intervals and p-values: --full, or --out DIR for table.md/.csv/.json and index.html."
        )
    )
    return "\n".join(lines) + "\n"


def _aligned(rows: list[tuple[str, list[str]]]) -> list[str]:
    """Rows of a label and right-aligned cells, each column as wide as its widest cell plus one space (headers and
    differences are at most 10 characters, so 8 headline columns fit in :data:`TERMINAL_WIDTH` beside the label)."""
    widths = [max(len(cells[i]) for _, cells in rows) + 1 for i in range(len(rows[0][1]))]
    lines = []
    for label, cells in rows:
        name = label if len(label) <= NAME_WIDTH else label[: NAME_WIDTH - 1] + "…"
        lines.append((name.ljust(NAME_WIDTH) + "".join(cell.rjust(width) for cell, width in zip(cells, widths))).rstrip())
    return lines


def _wrap(text: str) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, TERMINAL_WIDTH, subsequent_indent="  ", break_on_hyphens=False))
