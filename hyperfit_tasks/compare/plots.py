"""Plots of a leaderboard as PNG bytes (matplotlib ``Figure`` on the Agg canvas; no pyplot state).

* headline bars: one panel per headline column, a bar (± stderr) per run;
* metric by epoch: checkpoints of a training run (see :mod:`hyperfit_tasks.compare.epochs`) as
  lines over epoch (or step when an epoch is unknown), other runs as flat dashed lines;
* TTR by position: the mean TTR of successive windows of the continuations, one line per run.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence

from hyperfit_tasks.compare.errors import CompareError
from hyperfit_tasks.compare.leaderboard import Column, Leaderboard

# Headline metrics, in this order, where the results have them (hyperfit's tasks and lm-eval's wikitext).
HEADLINE_METRICS = ("ttr_last96", "ttr", "diversity", "rep_4", "distinct_4", "self_bleu", "mauve", "word_perplexity")
FALLBACK_HEADLINES = 6  # metrics shown when none of HEADLINE_METRICS exists
MAX_PANELS = 12
PANEL_COLUMNS = 4


def headline_columns(board: Leaderboard, metrics: Sequence[str] | None = None) -> list[Column]:
    """Columns to plot: ``metrics`` (default: HEADLINE_METRICS found, else the first few metrics).

    Each metric is shown for the top-level tasks (groups, ungrouped tasks) that have a value for
    it, else for every task that has one.
    """
    found = list(dict.fromkeys(column.metric for column in board.columns))
    unknown = [metric for metric in metrics or [] if metric not in found]
    if unknown:
        raise CompareError(f"--headline names no metric of the table: {', '.join(unknown)}; choose from {found}")
    wanted = list(metrics) if metrics else [m for m in HEADLINE_METRICS if m in found] or found[:FALLBACK_HEADLINES]
    subtasks = {
        child for run in board.runs for children in (run.data.get("group_subtasks") or {}).values() for child in children or []
    }
    chosen: list[Column] = []
    for metric in wanted:
        having = [column for column in board.columns if column.metric == metric and _has_values(board, column)]
        chosen += [column for column in having if column.task not in subtasks] or having
    return chosen[:MAX_PANELS]


def headline_bars(board: Leaderboard, columns: Sequence[Column]) -> bytes:
    """Bar chart: one panel per column, one bar per run with its stderr, the best bar outlined."""
    figure, axes = _panels(len(columns))
    names = [run.name for run in board.runs]
    colors = _colors(len(names))
    for ax, column in zip(axes, columns):
        cells = [board.cell(name, column) for name in names]
        heights = [cell.value if cell.value is not None else 0.0 for cell in cells]
        errors = [cell.stderr if cell.stderr is not None else 0.0 for cell in cells]
        bars = ax.bar(range(len(names)), heights, yerr=errors, color=colors, capsize=3)
        for bar, cell in zip(bars, cells):
            if cell.best:
                bar.set_edgecolor("black")
                bar.set_linewidth(2)
            if cell.value is None:
                bar.set_alpha(0)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{column.task}\n{column.label} {column.arrow}".rstrip(), fontsize=9)
    return _png(figure)


def metric_by_epoch(board: Leaderboard, columns: Sequence[Column]) -> bytes | None:
    """Line plot of each column over training position; None unless some training run has 2+ checkpoints."""
    positioned = [run for run in board.runs if run.position is not None]
    series = {run.position.series for run in positioned}
    if not any(sum(run.position.series == s for run in positioned) >= 2 for s in series):
        return None
    use_epoch = all(run.position.epoch is not None for run in positioned)
    figure, axes = _panels(len(columns))
    colors = _colors(len(series) + len(board.runs))
    for ax, column in zip(axes, columns):
        for index, name in enumerate(sorted(series)):
            points = sorted(
                (run.position.epoch if use_epoch else run.position.step, board.cell(run.name, column).value)
                for run in positioned
                if run.position.series == name and board.cell(run.name, column).value is not None
            )
            if points:
                ax.plot(*zip(*points), marker="o", color=colors[index], label=name.rsplit("/", 1)[-1])
        for index, run in enumerate(board.runs):
            value = board.cell(run.name, column).value
            if run.position is None and value is not None:
                ax.axhline(value, linestyle="--", color=colors[len(series) + index], label=run.name)
        ax.set_xlabel("epoch" if use_epoch else "step", fontsize=8)
        ax.set_title(f"{column.task}\n{column.label} {column.arrow}".rstrip(), fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return _png(figure)


def ttr_by_position(curves: dict[str, dict[str, list[float]]], units: dict[str, str]) -> bytes:
    """One panel per task: mean TTR per window position, one line per run (``{task: {run: curve}}``)."""
    figure, axes = _panels(len(curves))
    for ax, (task, by_run) in zip(axes, curves.items()):
        colors = _colors(len(by_run))
        for color, (name, curve) in zip(colors, by_run.items()):
            ax.plot(range(1, len(curve) + 1), curve, marker=".", color=color, label=name)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel(f"window ({units[task]})", fontsize=8)
        ax.set_ylabel("mean TTR", fontsize=8)
        ax.legend(fontsize=7)
    return _png(figure)


def _has_values(board: Leaderboard, column: Column) -> bool:
    return any(board.cell(run.name, column).value is not None for run in board.runs)


def _panels(count: int):
    from matplotlib.figure import Figure

    columns = min(PANEL_COLUMNS, max(count, 1))
    rows = math.ceil(max(count, 1) / columns)
    figure = Figure(figsize=(3.6 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, list(axes[:count])


def _colors(count: int) -> list:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(i % 10) for i in range(count)]


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
