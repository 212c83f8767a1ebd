"""Plots of a leaderboard as PNG bytes (matplotlib ``Figure`` on the Agg canvas; no pyplot state).

* headline bars: one panel per headline column, a bar (± stderr) per run;
* metric by epoch: checkpoints of a training run (see :mod:`hyperfit_tasks.compare.epochs`) as
  lines over epoch (or step when an epoch is unknown), other runs as flat dashed lines;
* TTR by position: the mean TTR of successive windows of the continuations, one line per run.
"""
from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

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
    colors = list(run_colors(names).values())
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


@dataclass(frozen=True)
class TrainingCurves:
    """A column over training: ``lines`` per training run (series folder -> sorted (x, value)), ``levels`` of other runs."""

    axis: str
    lines: dict[str, list[tuple[float, float]]]
    levels: dict[str, float]


def training_curves(board: Leaderboard, column: Column) -> TrainingCurves | None:
    """The column's values by epoch (step if any checkpoint lacks an epoch); None unless a training run has 2+ checkpoints."""
    positioned = [run for run in board.runs if run.position is not None]
    counts = Counter(run.position.series for run in positioned)
    if not counts or max(counts.values()) < 2:
        return None
    axis = "epoch" if all(run.position.epoch is not None for run in positioned) else "step"
    lines: dict[str, list[tuple[float, float]]] = {}
    for run in positioned:
        x, value = getattr(run.position, axis), board.cell(run.name, column).value
        if x is not None and value is not None:
            lines.setdefault(run.position.series, []).append((x, value))
    levels = {
        run.name: board.cell(run.name, column).value
        for run in board.runs
        if run.position is None and board.cell(run.name, column).value is not None
    }
    return TrainingCurves(axis, {series: sorted(points) for series, points in lines.items()}, levels)


def metric_by_epoch(board: Leaderboard, columns: Sequence[Column]) -> bytes | None:
    """Line plot of each column over training (:func:`training_curves`); None when no run has 2+ checkpoints."""
    curves = [training_curves(board, column) for column in columns]
    if not columns or curves[0] is None:
        return None
    figure, axes = _panels(len(columns))
    colors = run_colors([run.name for run in board.runs])
    first_of_series = {}
    for run in board.runs:
        if run.position is not None:
            first_of_series.setdefault(run.position.series, run.name)
    for ax, column, found in zip(axes, columns, curves):
        for series, points in found.lines.items():
            ax.plot(*zip(*points), marker="o", color=colors[first_of_series[series]], label=PurePath(series).name)
        for name, value in found.levels.items():
            ax.axhline(value, linestyle="--", color=colors[name], label=name)
        ax.set_xlabel(found.axis, fontsize=8)
        ax.set_title(f"{column.task}\n{column.label} {column.arrow}".rstrip(), fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return _png(figure)


def ttr_by_position(curves: dict[str, dict[str, list[float]]], units: dict[str, str], run_names: Sequence[str]) -> bytes:
    """One panel per task: mean TTR per window position, one line per run (``{task: {run: curve}}``)."""
    figure, axes = _panels(len(curves))
    colors = run_colors(run_names)
    for ax, (task, by_run) in zip(axes, curves.items()):
        for name, curve in by_run.items():
            ax.plot(range(1, len(curve) + 1), curve, marker=".", color=colors[name], label=name)
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


def run_colors(names: Sequence[str]) -> dict[str, tuple]:
    """One tab10 colour per run, in run order (the same run keeps its colour across the plots)."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {name: palette(i % 10) for i, name in enumerate(names)}


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
