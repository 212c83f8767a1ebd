"""The verdict on a leaderboard: paired statistics in its cells, "best" only where significant, length and settings flags.

"Best in column" is the run with the best value when that lead is significant (Holm-adjusted,
see :mod:`hyperfit_tasks.compare.paired`) against every other run: against the baseline by its
paired test; between two other runs by non-overlapping intervals of their differences to the
baseline. Tasks whose settings differ between runs get no best mark unless ``force``. Without
any samples, the leaderboard keeps its untested "largest value" marks and says so.
"""
from __future__ import annotations

import dataclasses

from hyperfit_tasks.compare.leaderboard import Column, Leaderboard
from hyperfit_tasks.compare.mismatches import generation_mismatches, task_mismatches
from hyperfit_tasks.compare.paired import (
    DEFAULT_MAUVE_RESAMPLES,
    DEFAULT_SEED,
    PairedStat,
    board_statistics,
)
from hyperfit_tasks.compare.sharpening import training_flags

LENGTH_METRIC = "continuation_tokens"
# Metrics of fixed-size windows, comparable between texts of different lengths (docs/metrics.md).
LENGTH_ROBUST = ("ttr_first_window", "ttr_by_position")
LENGTH_SENSITIVE = ("ttr", "ttr_last96", "ttr_words", "rep_n", "diversity", "distinct_n", "self_bleu", "mauve", "longest_repeated_span")


def add_statistics(
    board: Leaderboard,
    resamples: int | None = None,
    seed: int = DEFAULT_SEED,
    mauve_resamples: int = DEFAULT_MAUVE_RESAMPLES,
    force: bool = False,
) -> Leaderboard:
    """Compute the paired statistics of ``board`` and put them, the significant best marks and the flags in it."""
    result = board_statistics(board, resamples, seed, mauve_resamples)
    board.paired = result
    board.notes += list(dict.fromkeys(result.notes))
    tested = bool(result.stats)
    incomparable = {task: lines for task in board.tasks if (lines := task_mismatches(board.runs, task))}
    for column in board.columns:
        stats = {name: stat for (name, key), stat in result.stats.items() if key == column.key}
        if tested:
            best = significant_best(board, column, stats) if stats else set()
        else:
            best = {run.name for run in board.runs if board.cell(run.name, column).best}
        if column.task in incomparable and not force:
            best = set()
        for run in board.runs:
            cell, stat = board.cell(run.name, column), stats.get(run.name)
            delta = stat.delta if stat is not None else cell.delta
            board.cells[(run.name, column.key)] = dataclasses.replace(cell, delta=delta, best=run.name in best, stat=stat)
    for task, lines in incomparable.items():
        named = [line for line in lines if ": generation_kwargs differs" not in line] + generation_mismatches(board.runs, task)
        settings = "; ".join(line.split(": ", 1)[1] for line in named)
        board.notes.append(
            f"{task}: runs are not comparable ({settings}): "
            + ("best marked anyway (--force)" if force else "no best marked (--force marks it anyway)")
        )
    board.notes += length_flags(board) + training_flags(board)
    return board


def significant_best(board: Leaderboard, column: Column, stats: dict[str, PairedStat]) -> set[str]:
    """``{run}`` whose best value in ``column`` is significantly best (module docstring), else empty."""
    if column.higher_is_better is None:
        return set()
    values = {run.name: board.cell(run.name, column).value for run in board.runs}
    values = {name: value for name, value in values.items() if value is not None}
    if len(values) < 2:
        return set()
    sign = 1 if column.higher_is_better else -1
    best = max(values, key=lambda name: sign * values[name])
    for other in values:
        if other == best:
            continue
        if best == board.baseline:
            stat = stats.get(other)
            ahead = stat is not None and stat.significant and sign * stat.delta < 0
        elif other == board.baseline:
            stat = stats.get(best)
            ahead = stat is not None and stat.significant and sign * stat.delta > 0
        else:
            mine, theirs = stats.get(best), stats.get(other)
            ahead = (
                mine is not None and theirs is not None and mine.significant
                and (mine.ci_low > theirs.ci_high if sign > 0 else mine.ci_high < theirs.ci_low)
            )
        if not ahead:
            return set()
    return {best}


def length_flags(board: Leaderboard) -> list[str]:
    """One line per run and task whose mean continuation length differs significantly from the baseline's."""
    lines = []
    for column in board.columns:
        if column.metric != LENGTH_METRIC:
            continue
        base = board.cell(board.baseline, column).value
        for run in board.runs:
            cell = board.cell(run.name, column)
            if cell.stat is None or not cell.stat.significant or base is None or cell.value is None:
                continue
            lines.append(
                f"{column.task}: {run.name}'s continuations are {'shorter' if cell.stat.delta < 0 else 'longer'} than "
                f"{board.baseline}'s ({cell.value:.0f} against {base:.0f} tokens on average, difference "
                f"{cell.stat.delta:+.1f} [{cell.stat.ci_low:+.1f}, {cell.stat.ci_high:+.1f}]): length-sensitive metrics "
                f"({', '.join(LENGTH_SENSITIVE)}) move with length; {', '.join(LENGTH_ROBUST)} are length-robust"
            )
    return lines
