"""The leaderboard: one row per run, one column per (task, metric), deltas against a baseline.

Direction comes from the results' own ``higher_is_better``; a column without one (or with
conflicting ones) gets no arrow. No cell is marked best here: "best" is a verdict of the paired
tests (:mod:`hyperfit_tasks.compare.verdict`), never a bare largest value.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hyperfit_tasks.compare.errors import CompareError
from hyperfit_tasks.compare.formatting import ARROWS
from hyperfit_tasks.compare.mismatches import find_mismatches
from hyperfit_tasks.compare.results import RunResult

if TYPE_CHECKING:
    from hyperfit_tasks.compare.paired import PairedResult, PairedStat


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
        return (self.stat.untested_reason if self.stat is not None else None) or self.untested or "no paired test for it"


@dataclass
class Leaderboard:
    """Runs (rows), columns, cells and the warnings the inputs raised."""

    runs: list[RunResult]
    baseline: str
    columns: list[Column]
    cells: dict[tuple[str, str], Cell]
    warnings: list[str] = field(default_factory=list)
    paired: PairedResult | None = None  # set by hyperfit_tasks.compare.verdict.add_statistics
    notes: list[Note] = field(default_factory=list)  # what the statistics could not test, length and settings flags

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
        return {group for run in self.runs for group, children in (run.data.get("group_subtasks") or {}).items() if children}

    def columns_of(self, task: str) -> list[Column]:
        """The columns of one task."""
        return [column for column in self.columns if column.task == task]


def build_leaderboard(
    runs: Sequence[RunResult],
    baseline: str | None = None,
    tasks: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> Leaderboard:
    """Compare ``runs`` against ``baseline`` (a run name; default the first run).

    ``tasks`` / ``metrics`` keep only those tasks / metric names (default: all found).
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
    warnings = [*find_mismatches(runs, shown_tasks), *_direction_conflicts(runs, columns), *_missing_tasks(runs, columns)]
    warnings += _unusable_values(runs, columns)
    return Leaderboard(list(runs), baseline, columns, cells, warnings)


def _columns(runs: Sequence[RunResult], tasks: Sequence[str] | None, metrics: Sequence[str] | None) -> list[Column]:
    found = list(dict.fromkeys((task, metric, filter_name) for run in runs for task in run.tasks for metric, filter_name in run.metrics[task]))
    for wanted, kind, known in ((tasks, "task", {t for t, _, _ in found}), (metrics, "metric", {m for _, m, _ in found})):
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
    return [f"{run.name} has no results for {task}: its cells are empty" for task in tasks for run in runs if task not in run.metrics]


def _unusable_values(runs: Sequence[RunResult], columns: Sequence[Column]) -> list[str]:
    """Per run and odd value: the shown columns whose recorded value is not a number (NaN, inf, text)."""
    lines = []
    for run in runs:
        by_value: dict[str, list[str]] = {}
        for column in columns:
            key = (column.task, column.metric, column.filter)
            if key in run.unusable:
                by_value.setdefault(json.dumps(run.unusable[key], default=str)[:40], []).append(column.key)
        lines += [f"{run.name}: {', '.join(keys)} recorded as {value}, shown empty" for value, keys in by_value.items()]
    return lines

