"""The leaderboard: one row per run, one column per (task, metric), deltas against a baseline, and its verdict.

Direction comes from the results' own ``higher_is_better``; a column without one (or with
conflicting ones) gets no arrow. :func:`build_leaderboard` makes the table of values; :func:`with_statistics`
returns it with the verdict: paired statistics in its cells, "best" only where significant, length, settings and
training flags. Neither changes a leaderboard it is given.

Every difference is "significant", "not significant" or "not tested" (with its reason). "Best in
column" is the run with the best value when that lead is significant (Holm-adjusted, see
:mod:`hyperfit_tasks.compare.paired`) against every other run: against the baseline by its paired
test; between two other runs by non-overlapping intervals of their differences to the baseline.
An untested cell is never best; tasks whose settings differ between runs get no best mark unless
``force``; no cell is ever marked best for a bare largest value.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hyperfit_tasks.common.run_files import RUN_RECORD
from hyperfit_tasks.compare.paired import (
    DEFAULT_MAUVE_PERMUTATIONS,
    DEFAULT_SEED,
    PairedResult,
    PairedStat,
    board_statistics,
)
from hyperfit_tasks.compare.results import (
    CompareError,
    RunResult,
    find_mismatches,
    generation_mismatches,
    hyperfit_outcome,
    task_mismatches,
)
from hyperfit_tasks.metrics import catalogue

ARROWS = {True: "↑", False: "↓", None: ""}  # lm-eval's HIGHER_IS_BETTER_SYMBOLS, plus "no direction"
TASK_PREFIXES = ("hyperfit_continuation_", "hyperfit_perplexity_", "hyperfit_next_word_")


def domain_of(task: str) -> str:
    """The text source of a task: ``hyperfit_continuation_austen`` -> ``austen``; other tasks are their own domain."""
    for prefix in TASK_PREFIXES:
        if task.startswith(prefix):
            return task[len(prefix) :]
    return task


@dataclass(frozen=True)
class Column:
    """A metric of a task (``filter`` is lm-eval's filter name, ``"none"`` for plain metrics)."""

    task: str
    metric: str
    filter: str = "none"
    higher_is_better: bool | None = None

    @property
    def label(self) -> str:
        """``metric``, or ``metric,filter`` for a filter other than ``none`` (lm-eval's key form)."""
        return self.metric if self.filter == "none" else f"{self.metric},{self.filter}"

    @property
    def key(self) -> str:
        """``task/label``: the column's name in the CSV and JSON outputs."""
        return f"{self.task}/{self.label}"

    @property
    def arrow(self) -> str:
        """↑ higher is better, ↓ lower is better, "" no direction."""
        return ARROWS[self.higher_is_better]


SIGNIFICANT, NOT_SIGNIFICANT, NOT_TESTED = "significant", "not significant", "not tested"

# what a note is about: runs whose settings differ, continuation lengths that differ, a run that did not hyperfit (the
# three flags shown beside the headline), the paired statistics, and tasks paired by --same-prompts
SETTINGS, LENGTH, TRAINING, STATISTICS, PAIRING = "settings", "length", "training", "statistics", "pairing"
FLAGS = (SETTINGS, LENGTH, TRAINING)


class Note(str):
    """A note on a leaderboard: its text (a plain string to every writer) and its ``kind``, by which renderers choose
    notes, so that rewording a note never changes where it shows."""

    kind: str

    def __new__(cls, text: str, kind: str) -> Note:
        note = super().__new__(cls, text)
        note.kind = kind
        return note


@dataclass(frozen=True)
class Cell:
    """One run's entry in one column; None where the run lacks the metric (or it is the baseline's delta).

    With a paired test (``stat``), ``value`` is the run's value on the pairs the test used (equal to lm-eval's
    value when every document is paired); ``untested`` says why a difference has no verdict.
    """

    value: float | None
    stderr: float | None
    delta: float | None
    best: bool
    stat: PairedStat | None = None  # paired test against the baseline (hyperfit_tasks.compare.paired)
    untested: str | None = None

    @property
    def state(self) -> str | None:
        """significant, not significant or not tested; None for a cell without a difference (baseline, empty)."""
        if self.delta is None:
            return None
        if self.stat is None or not self.stat.testable:
            return NOT_TESTED
        return SIGNIFICANT if self.stat.significant else NOT_SIGNIFICANT

    @property
    def reason(self) -> str | None:
        """Why a "not tested" cell was not tested."""
        if self.state != NOT_TESTED:
            return None
        return (
            (self.stat.untested_reason if self.stat is not None else None) or self.untested or "no paired test for it"
        )


@dataclass(frozen=True)
class Leaderboard:
    """Runs (rows), columns, cells and the warnings the inputs raised; with the paired statistics (``paired``) once
    :func:`with_statistics` made it. Never changed after it is made: each step returns a new leaderboard."""

    runs: list[RunResult]
    baseline: str
    columns: list[Column]
    cells: dict[tuple[str, str], Cell]
    warnings: list[str] = field(default_factory=list)
    paired: PairedResult | None = None  # made by with_statistics
    notes: list[Note] = field(default_factory=list)  # pairings, what the statistics could not test, the flags

    def cell(self, run_name: str, column: Column) -> Cell:
        """The cell of ``run_name`` in ``column``."""
        return self.cells[(run_name, column.key)]

    @property
    def tasks(self) -> list[str]:
        """Tasks in column order."""
        return list(dict.fromkeys(column.task for column in self.columns))

    @property
    def groups(self) -> set[str]:
        """Tasks that are groups of other tasks in some run (their rows have no samples of their own)."""
        return {
            group
            for run in self.runs
            for group, children in (run.data.get("group_subtasks") or {}).items()
            if children
        }

    def columns_of(self, task: str) -> list[Column]:
        """The columns of one task."""
        return [column for column in self.columns if column.task == task]


def build_leaderboard(
    runs: Sequence[RunResult],
    baseline: str | None = None,
    tasks: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    notes: Sequence[Note] = (),
) -> Leaderboard:
    """Compare ``runs`` against ``baseline`` (a run name; default the first run): values and deltas, no verdict yet.

    ``tasks`` / ``metrics`` keep only those tasks / metric names (default: all found); ``notes`` start the board's
    notes (e.g. the ``--same-prompts`` pairings).
    """
    if not runs:
        raise CompareError("no runs to compare: pass at least one results file or folder")
    names = [run.name for run in runs]
    baseline = names[0] if baseline is None else baseline
    if baseline not in names:
        raise CompareError(f"--baseline {baseline!r} is not a run name: choose one of {names}")
    columns = _columns(runs, tasks, metrics)
    base = next(run for run in runs if run.name == baseline)
    cells = {}
    for column in columns:
        measured = {run.name: run.measurement(column.task, column.metric, column.filter) for run in runs}
        values = {name: m.value for name, m in measured.items() if m is not None and m.value is not None}
        reference = values.get(base.name)
        for run in runs:
            value = values.get(run.name)
            delta = value - reference if value is not None and reference is not None and run is not base else None
            stderr = measured[run.name].stderr if value is not None else None
            cells[(run.name, column.key)] = Cell(value, stderr, delta, False)
    shown_tasks = list(dict.fromkeys(column.task for column in columns))
    warnings = [
        *find_mismatches(runs, shown_tasks),
        *_direction_conflicts(runs, columns),
        *_missing_tasks(runs, columns),
    ]
    warnings += _unusable_values(runs, columns)
    return Leaderboard(list(runs), baseline, columns, cells, warnings, notes=list(notes))


def _columns(runs: Sequence[RunResult], tasks: Sequence[str] | None, metrics: Sequence[str] | None) -> list[Column]:
    found = list(
        dict.fromkeys(
            (task, metric, filter_name)
            for run in runs
            for task in run.tasks
            for metric, filter_name in run.metrics[task]
        )
    )
    for wanted, kind, known in (
        (tasks, "task", {t for t, _, _ in found}),
        (metrics, "metric", {m for _, m, _ in found}),
    ):
        unknown = [name for name in wanted or [] if name not in known]
        if unknown:
            raise CompareError(f"no {kind} {', '.join(unknown)} in the results: choose from {sorted(known)}")
    return [
        Column(task, metric, filter_name, _direction(runs, task, metric))
        for task, metric, filter_name in found
        if (not tasks or task in tasks) and (not metrics or metric in metrics)
    ]


def _direction(runs: Sequence[RunResult], task: str, metric: str) -> bool | None:
    """The direction all runs that record one agree on; None if none recorded or they conflict."""
    directions = {run.higher_is_better(task, metric) for run in runs} - {None}
    return directions.pop() if len(directions) == 1 else None


def _direction_conflicts(runs: Sequence[RunResult], columns: Sequence[Column]) -> list[str]:
    lines = []
    for column in columns:
        directions = {run.name: run.higher_is_better(column.task, column.metric) for run in runs}
        if len(set(directions.values()) - {None}) > 1:
            lines.append(f"{column.key}: higher_is_better differs between runs ({directions}): no arrow, no best")
    return lines


def _missing_tasks(runs: Sequence[RunResult], columns: Sequence[Column]) -> list[str]:
    tasks = dict.fromkeys(column.task for column in columns)
    return [
        f"{run.name} has no results for {task}: its cells are empty"
        for task in tasks
        for run in runs
        if task not in run.metrics
    ]


def _unusable_values(runs: Sequence[RunResult], columns: Sequence[Column]) -> list[str]:
    """Per run and odd value: the shown columns whose recorded value is not a number (NaN, inf, text)."""
    lines = []
    for run in runs:
        by_value: dict[str, list[str]] = {}
        for column in columns:
            key = (column.task, column.metric, column.filter)
            if key in run.unusable:
                by_value.setdefault(json.dumps(run.unusable[key], default=str)[:40], []).append(column.key)
        lines += [
            f"{run.name}: {', '.join(keys)} recorded as {value}, shown empty" for value, keys in by_value.items()
        ]
    return lines


# ---------------------------------------------------------------- the verdict


LENGTH_METRIC = "continuation_tokens"


def with_statistics(
    board: Leaderboard,
    permutations: int | None = None,
    seed: int = DEFAULT_SEED,
    mauve_permutations: int = DEFAULT_MAUVE_PERMUTATIONS,
    force: bool = False,
) -> Leaderboard:
    """A new leaderboard: ``board``'s with the paired statistics, the states, the significant best marks and the flags
    (``board`` itself stays as it was)."""
    result = board_statistics(board, permutations, seed, mauve_permutations)
    notes = [*board.notes, *(Note(text, STATISTICS) for text in dict.fromkeys(result.notes))]
    cells = dict(board.cells)
    incomparable = {task: lines for task in board.tasks if (lines := task_mismatches(board.runs, task))}
    groups = board.groups
    for column in board.columns:
        stats = {name: stat for (name, key), stat in result.stats.items() if key == column.key}
        best = significant_best(board, column, stats) if stats else set()
        if column.task in incomparable and not force:
            best = set()
        for run in board.runs:
            cell, stat = board.cell(run.name, column), stats.get(run.name)
            changes = {
                "best": run.name in best,
                "stat": stat,
                "untested": untested_reason(result, run.name, column, groups),
            }
            if stat is not None:  # the values beside a paired difference are those of the same pairs
                changes.update(delta=stat.delta, value=stat.run_value)
            cells[(run.name, column.key)] = dataclasses.replace(cell, **changes)
    for task, lines in incomparable.items():
        named = [line for line in lines if ": generation_kwargs differs" not in line] + generation_mismatches(
            board.runs, task
        )
        settings = "; ".join(line.split(": ", 1)[1] for line in named)
        notes.append(
            Note(
                f"{task}: runs are not comparable ({settings}): "
                + ("best marked anyway (--force)" if force else "no best marked (--force marks it anyway)"),
                SETTINGS,
            )
        )
    stated = dataclasses.replace(board, cells=cells, paired=result, notes=notes)
    return dataclasses.replace(stated, notes=[*notes, *length_flags(stated), *training_flags(stated)])


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
                mine is not None
                and theirs is not None
                and mine.significant
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
        if (
            catalogue.canonical(column.metric) != LENGTH_METRIC or column.task in groups
        ):  # a group's length repeats its subtasks'
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
            lines.append(
                Note(
                    f"{column.task}: {run.name}'s continuations are {'shorter' if cell.delta < 0 else 'longer'} than "
                    f"{board.baseline}'s ({cell.value:.1f} against {base:.1f} tokens on average, {evidence}): "
                    f"length-sensitive metrics ({', '.join(sensitive)}) move with length; {', '.join(robust)} are "
                    "length-robust",
                    LENGTH,
                )
            )
    return lines


def training_flags(board: Leaderboard) -> list[Note]:
    """One line per run whose ``hyperfit-train`` run missed its near-zero training-loss target."""
    flags = []
    for run in board.runs:
        outcome = hyperfit_outcome(Path(run.model_path)) if run.model_path else ""
        if outcome.startswith("NO"):
            text = (
                f"{run.name} did not hyperfit (final training {outcome.split(': ', 1)[1]}, from its {RUN_RECORD}): "
                "its differences do not show the effect of hyperfitting"
            )
            flags.append(Note(text, TRAINING))
    return flags
