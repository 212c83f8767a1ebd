"""The verdict on a leaderboard: paired statistics in its cells, "best" only where significant, length and settings flags.

Every difference is "significant", "not significant" or "not tested" (with its reason). "Best in
column" is the run with the best value when that lead is significant (Holm-adjusted, see
:mod:`hyperfit_tasks.compare.paired`) against every other run: against the baseline by its paired
test; between two other runs by non-overlapping intervals of their differences to the baseline.
An untested cell is never best; tasks whose settings differ between runs get no best mark unless
``force``.
"""
from __future__ import annotations

import dataclasses

from hyperfit_tasks.compare.leaderboard import LENGTH, SETTINGS, STATISTICS, Column, Leaderboard, Note, domain_of
from hyperfit_tasks.compare.mismatches import generation_mismatches, task_mismatches
from hyperfit_tasks.compare.paired import (
    DEFAULT_MAUVE_PERMUTATIONS,
    DEFAULT_SEED,
    PairedStat,
    board_statistics,
)
from hyperfit_tasks.compare.sharpening import training_flags
from hyperfit_tasks.metrics import catalogue

LENGTH_METRIC = "continuation_tokens"


def add_statistics(
    board: Leaderboard,
    permutations: int | None = None,
    seed: int = DEFAULT_SEED,
    mauve_permutations: int = DEFAULT_MAUVE_PERMUTATIONS,
    force: bool = False,
) -> Leaderboard:
    """Compute the paired statistics of ``board`` and put them, the states, the significant best marks and the flags in it."""
    result = board_statistics(board, permutations, seed, mauve_permutations)
    board.paired = result
    board.notes += [Note(text, STATISTICS) for text in dict.fromkeys(result.notes)]
    incomparable = {task: lines for task in board.tasks if (lines := task_mismatches(board.runs, task))}
    groups = board.groups
    for column in board.columns:
        stats = {name: stat for (name, key), stat in result.stats.items() if key == column.key}
        best = significant_best(board, column, stats) if stats else set()
        if column.task in incomparable and not force:
            best = set()
        for run in board.runs:
            cell, stat = board.cell(run.name, column), stats.get(run.name)
            changes = {"best": run.name in best, "stat": stat, "untested": untested_reason(result, run.name, column, groups)}
            if stat is not None:  # the values beside a paired difference are those of the same pairs
                changes.update(delta=stat.delta, value=stat.run_value)
            board.cells[(run.name, column.key)] = dataclasses.replace(cell, **changes)
    for task, lines in incomparable.items():
        named = [line for line in lines if ": generation_kwargs differs" not in line] + generation_mismatches(board.runs, task)
        settings = "; ".join(line.split(": ", 1)[1] for line in named)
        board.notes.append(
            Note(
                f"{task}: runs are not comparable ({settings}): "
                + ("best marked anyway (--force)" if force else "no best marked (--force marks it anyway)"),
                SETTINGS,
            )
        )
    board.notes += length_flags(board) + training_flags(board)
    return board


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
        kinds: dict[str, list[str]] = {"better": [], "worse": [], "different": [], "not significant": [], "not tested": []}
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
            f"significantly {kind} in {len(keys)} ({_few(keys)})" for kind, keys in kinds.items() if keys and kind in ("better", "worse", "different")
        ]
        parts += [f"{kind} in {len(keys)}" for kind, keys in kinds.items() if keys and kind in ("not significant", "not tested")]
        sentences.append(f"{run.name} against {board.baseline}: " + ("; ".join(parts) if parts else "no difference to show") + ".")
    return sentences


def _few(keys: list[str], shown: int = 4) -> str:
    names = [f"{domain_of(key.split('/', 1)[0])} {key.split('/', 1)[1]}" for key in keys]
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def untested_reason(result, run: str, column: Column, groups: set[str]) -> str:
    """Why the paired tests give no verdict on ``run``'s difference in ``column`` (used only where none is given)."""
    if (run, column.key) in result.untested:
        return result.untested[(run, column.key)]
    if column.task in groups:
        return "a group's row: its subtasks' rows are tested"
    if column.filter != "none":
        return f"filtered metric ({column.filter}): only plain metrics are paired"
    return "no paired test for this column"


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


LENGTH_TOLERANCE = 0.01  # untested lengths: a relative difference above this is flagged


def length_flags(board: Leaderboard) -> list[Note]:
    """One line per run and task whose mean continuation length differs from the baseline's: significantly, or (not
    tested) by more than :data:`LENGTH_TOLERANCE` of it."""
    lines = []
    groups = board.groups
    sensitive, robust = catalogue.with_length(catalogue.SENSITIVE), catalogue.with_length(catalogue.ROBUST)
    for column in board.columns:
        if catalogue.canonical(column.metric) != LENGTH_METRIC or column.task in groups:  # a group's length repeats its subtasks'
            continue
        for run in board.runs:
            cell = board.cell(run.name, column)
            if cell.delta is None or cell.value is None:
                continue
            stat = cell.stat
            base = stat.base_value if stat is not None else cell.value - cell.delta
            if cell.state == "significant":
                evidence = f"difference {stat.delta:+.1f} [{stat.ci_low:+.1f}, {stat.ci_high:+.1f}]"
            elif cell.state == "not tested" and abs(cell.delta) > LENGTH_TOLERANCE * abs(base):
                evidence = f"difference {cell.delta:+.1f}, not tested: {cell.reason}"
            else:
                continue
            lines.append(Note(
                f"{column.task}: {run.name}'s continuations are {'shorter' if cell.delta < 0 else 'longer'} than "
                f"{board.baseline}'s ({cell.value:.1f} against {base:.1f} tokens on average, {evidence}): length-sensitive "
                f"metrics ({', '.join(sensitive)}) move with length; {', '.join(robust)} are length-robust",
                LENGTH,
            ))
    return lines
