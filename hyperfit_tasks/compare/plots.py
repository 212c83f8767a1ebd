"""Plots of a leaderboard as PNG bytes (matplotlib ``Figure`` on the Agg canvas; no pyplot state).

* forest: each headline metric's paired difference to the baseline with its 95% interval, one row
  of panels per domain, runs as rows, coloured by the verdict (significant better / worse, not
  significant, not tested);
* metric by epoch: checkpoints of a training run (see :func:`hyperfit_tasks.compare.results.training_position`) as
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

from hyperfit_tasks.compare.leaderboard import Column, Leaderboard
from hyperfit_tasks.compare.results import CompareError
from hyperfit_tasks.compare.text import Domain, header
from hyperfit_tasks.metrics import catalogue

# Headline metrics, in this order, where the results have them (hyperfit's tasks and lm-eval's wikitext).
HEADLINE_METRICS = tuple(metric.name for metric in catalogue.view(catalogue.PLOTS))
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
    wanted = list(metrics) if metrics else _headline_metrics(found) or found[:FALLBACK_HEADLINES]
    subtasks = {
        child
        for run in board.runs
        for children in (run.data.get("group_subtasks") or {}).values()
        for child in children or []
    }
    chosen: list[Column] = []
    for metric in wanted:
        having = [column for column in board.columns if column.metric == metric and _has_values(board, column)]
        chosen += [column for column in having if column.task not in subtasks] or having
    return chosen[:MAX_PANELS]


def _headline_metrics(found: Sequence[str]) -> list[str]:
    """The metrics of ``found`` that are :data:`HEADLINE_METRICS` by either catalogue name, in that order."""
    rows = {metric: catalogue.find(metric) for metric in found}
    return [
        metric
        for name in HEADLINE_METRICS
        for metric in found
        if rows[metric] is not None and rows[metric].name == name
    ]


VERDICT_COLORS = {
    "better": "#1a7f37",
    "worse": "#c62828",
    "significant": "#1f4e9c",
    "not significant": "#555555",
    "not tested": "#aaaaaa",
}


def forest(board: Leaderboard, domains: Sequence[Domain]) -> bytes | None:
    """Forest plot: per domain a row of panels (one per headline metric), in each the runs as rows with their paired
    difference to the baseline and its 95% interval; hollow = not tested; None without a run to compare."""
    others = [run.name for run in board.runs if run.name != board.baseline]
    # a panel only where some run has a difference (e.g. no perplexity panel when only the baseline was scored on it)
    shown = {
        domain.name: [c for c in domain.columns if any(board.cell(name, c).delta is not None for name in others)]
        for domain in domains
    }
    domains = [domain for domain in domains if shown[domain.name]]
    width = max((len(shown[domain.name]) for domain in domains), default=0)
    if not others or not width:
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2.4 * width, (0.9 + 0.32 * len(others)) * len(domains)), layout="constrained")
    axes = figure.subplots(len(domains), width, squeeze=False)
    for row, domain in zip(axes, domains):
        columns = shown[domain.name]
        for position, ax in enumerate(row):
            if position >= len(columns):
                ax.set_visible(False)
                continue
            column = columns[position]
            ax.axvline(0, color="#999999", linewidth=0.8)
            for y, name in enumerate(others):
                cell = board.cell(name, column)
                if cell.delta is None:
                    continue
                color = VERDICT_COLORS[_verdict(cell, column)]
                stat = cell.stat
                if stat is not None and math.isfinite(stat.ci_low) and math.isfinite(stat.ci_high):
                    ax.plot([stat.ci_low, stat.ci_high], [y, y], color=color, linewidth=2)
                tested = cell.state != "not tested"
                ax.plot(
                    [cell.delta], [y], "o", color=color, markerfacecolor=color if tested else "white", markersize=5
                )
            ax.set_yticks(range(len(others)), others if position == 0 else [""] * len(others), fontsize=7)
            ax.set_ylim(len(others) - 0.5, -0.5)
            ax.tick_params(axis="x", labelsize=7)
            ax.set_title(f"{domain.name}: {header(column)}", fontsize=8)
    return _png(figure)


def _verdict(cell, column: Column) -> str:
    """The forest's colour key of a cell: better / worse / significant (no direction) / not significant / not
    tested."""
    if cell.state != "significant":
        return cell.state
    if column.higher_is_better is None:
        return "significant"
    return "better" if (cell.delta > 0) == column.higher_is_better else "worse"


@dataclass(frozen=True)
class TrainingCurves:
    """A column over training: ``lines`` per training run (series folder -> sorted (x, value)), ``levels`` of other
    runs."""

    axis: str
    lines: dict[str, list[tuple[float, float]]]
    levels: dict[str, float]


def training_curves(board: Leaderboard, column: Column) -> TrainingCurves | None:
    """The column's values by epoch (step if any checkpoint lacks an epoch); None unless a training run has 2+
    checkpoints."""
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


def ttr_by_position(
    curves: dict[str, dict[str, list[float]]], units: dict[str, str], run_names: Sequence[str]
) -> bytes:
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
