"""Reading lm-eval output: results_<timestamp>.json files, their samples files and run names.

What ``lm_eval --output_path OUT`` writes (lm-eval 0.4.x, ``EvaluationTracker``):
``OUT/<model_name_sanitized>/results_<timestamp>.json`` with ``results`` (task -> ``"metric,filter"``
values and ``"metric_stderr,filter"`` numbers or ``"N/A"``; group rows too), ``groups``,
``group_subtasks``, ``configs`` (task YAML as run: ``generation_kwargs``, ``num_fewshot``,
``metadata``), ``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``, ``config``
(``model``, ``model_args``, ``limit``, ...), ``lm_eval_version``, ``task_hashes``, ``model_name``;
with ``--log_samples`` also ``samples_<task>_<timestamp>.jsonl`` next to it (same timestamp).
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from hyperfit_tasks.common.model_args import MODEL_PATH_KEYS
from hyperfit_tasks.common.run_files import CHECKPOINT_NAME, RESULTS_GLOB
from hyperfit_tasks.compare.epochs import TrainingPosition, training_position
from hyperfit_tasks.compare.errors import CompareError

# Keys of a task's entry in "results" that are not metrics.
ENTRY_KEYS = frozenset({"name", "alias", "sample_len", "sample_count"})
FIX_PATH = "pass a results_<timestamp>.json or the --output_path folder of an lm_eval run"


@dataclass(frozen=True)
class Measurement:
    """One metric of one task: its value and lm-eval's stderr (None where absent, "N/A" or not finite)."""

    value: float | None
    stderr: float | None = None


@dataclass
class RunResult:
    """One lm-eval run (one results file): metrics per task, raw JSON, samples files, name.

    ``unusable`` maps ``(task, metric, filter)`` to a recorded value that is not a finite number
    (NaN, infinity, text); its measurement holds None.
    """

    name: str
    path: Path
    data: dict[str, Any]
    metrics: dict[str, dict[tuple[str, str], Measurement]]
    samples: dict[str, Path] = field(default_factory=dict)
    unusable: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    position: TrainingPosition | None = None

    @property
    def tasks(self) -> list[str]:
        """Task and group names, groups first followed by their subtasks (lm-eval's table order)."""
        return list(self.metrics)

    @property
    def model_path(self) -> str | None:
        """The evaluated model's name or path (``model_name`` or ``--model_args``), None if unknown."""
        return model_name(self.data)

    def measurement(self, task: str, metric: str, filter_name: str = "none") -> Measurement | None:
        """The recorded measurement, or None when this run lacks that task or metric."""
        return self.metrics.get(task, {}).get((metric, filter_name))

    def higher_is_better(self, task: str, metric: str) -> bool | None:
        """lm-eval's direction of ``metric`` in ``task`` (None: no direction recorded)."""
        value = ((self.data.get("higher_is_better") or {}).get(task) or {}).get(metric)
        return value if isinstance(value, bool) else None

    def output_type(self, task: str) -> str | None:
        """``generate_until``, ``loglikelihood_rolling``, ... (None for groups)."""
        return ((self.data.get("configs") or {}).get(task) or {}).get("output_type")


def load_results(paths: Sequence[str | Path], names: Sequence[str | None] | None = None) -> list[RunResult]:
    """Runs of every input path (a results file, or a folder: the newest results file per model folder).

    ``names`` (optional, one per path, None = default) sets display names; a named path must
    hold exactly one run. Default names come from the model path (:func:`default_names`).
    """
    names = list(names) if names is not None else [None] * len(paths)
    if len(names) != len(paths):
        raise ValueError(f"names must give one entry per path: {len(names)} names for {len(paths)} paths")
    runs: list[RunResult] = []
    given: list[str | None] = []
    for path, name in zip(paths, names):
        files = find_results_files(path)
        if name is not None and len(files) > 1:
            folders = ", ".join(file.parent.name for file in files)
            raise CompareError(
                f"{path}={name} names one run, but {path} holds results of {len(files)} model folders ({folders}): "
                "name each folder on its own"
            )
        runs += [read_results(file) for file in files]
        given += [name] * len(files)
    unnamed = [i for i, name in enumerate(given) if name is None]
    defaults = default_names([runs[i].model_path or str(runs[i].path.parent) for i in unnamed])
    for i, default in zip(unnamed, defaults):
        given[i] = default
    if len(set(given)) != len(given):
        raise CompareError(f"display names must be unique, got {given}: give the runs different names (PATH=NAME)")
    for run, name in zip(runs, given):
        run.name = name
    return runs


def find_results_files(path: str | Path) -> list[Path]:
    """``path`` itself if a file; for a folder the newest ``results_*.json`` of each folder below it."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise CompareError(f"{path} does not exist: {FIX_PATH}")
    newest: dict[Path, Path] = {}
    for file in sorted(path.rglob(RESULTS_GLOB)):
        if file.is_file() and (file.parent not in newest or _timestamp_key(file) > _timestamp_key(newest[file.parent])):
            newest[file.parent] = file
    if not newest:
        raise CompareError(f"no {RESULTS_GLOB} under {path}: {FIX_PATH}")
    return [newest[folder] for folder in sorted(newest)]


def read_results(path: Path, name: str | None = None) -> RunResult:
    """Parse one lm-eval results file; ``name`` defaults to the file's folder name."""
    data = _read_json(path)
    unusable: dict[tuple[str, str, str], Any] = {}
    metrics = {task: _measurements(task, data["results"][task], unusable) for task in _task_order(data)}
    return RunResult(
        name=name or path.parent.name,
        path=path,
        data=data,
        metrics=metrics,
        samples=samples_files(path),
        unusable=unusable,
        position=training_position(model_name(data)),
    )


def samples_files(results_path: Path) -> dict[str, Path]:
    """``{task: samples_<task>_<timestamp>.jsonl}`` written with the same timestamp as ``results_path``."""
    from lm_eval.utils import get_file_task_name

    stamp = _timestamp(results_path)
    return {
        get_file_task_name(file.name): file
        for file in sorted(results_path.parent.glob(f"samples_*_{stamp}.jsonl"))
        if file.is_file()
    }


def model_name(data: dict[str, Any]) -> str | None:
    """The evaluated model: top-level ``model_name``, else the first model key of ``config.model_args``."""
    if isinstance(data.get("model_name"), str) and data["model_name"]:
        return data["model_name"]
    args = (data.get("config") or {}).get("model_args")
    if isinstance(args, str):
        from lm_eval.utils import simple_parse_args_string

        try:
            args = simple_parse_args_string(args)
        except ValueError:
            return None
    if isinstance(args, dict):
        for key in MODEL_PATH_KEYS:
            if args.get(key):
                return str(args[key])
    return None


def default_names(model_names: Sequence[str]) -> list[str]:
    """Short unique names: the model path's last folder (``run/checkpoint-N`` for checkpoints).

    Names that clash take more trailing folders until unique; identical paths get ``#2``, ``#3``.
    """
    paths = [PurePath(name.rstrip("/\\")) for name in model_names]
    parts = [(path.parts[1:] if path.anchor else path.parts) or (str(path),) for path in paths]
    depth = [2 if CHECKPOINT_NAME.match(p[-1]) and len(p) > 1 else 1 for p in parts]
    while True:
        names = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        clashing = [
            i
            for i, name in enumerate(names)
            if depth[i] < len(parts[i]) and any(names[j] == name and parts[j] != parts[i] for j in range(len(names)))
        ]
        if not clashing:
            break
        for i in clashing:
            depth[i] += 1
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return unique


def _read_json(path: Path) -> dict[str, Any]:
    if path.name.startswith("samples_") and path.suffix == ".jsonl":
        raise CompareError(f"{path} is a samples file: pass the results_<timestamp>.json next to it, or its folder")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CompareError(f"{path} is not a UTF-8 text file: {FIX_PATH}") from None
    except OSError as error:
        raise CompareError(f"cannot read {path} ({error.strerror}): {FIX_PATH}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CompareError(
            f"{path} is not valid JSON ({error.msg} at line {error.lineno} column {error.colno}); "
            "a file cut short by an interrupted run looks like this: re-run lm_eval or pass another results file"
        ) from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not all(isinstance(entry, dict) for entry in results.values()):
        raise CompareError(
            f'{path} is JSON but not an lm-eval results file (no "results" object of task -> metrics): {FIX_PATH}'
        )
    if not results:
        raise CompareError(f"{path} holds no task results: pass the results file of a finished lm_eval run")
    return data


def _task_order(data: dict[str, Any]) -> list[str]:
    """Tasks of ``results`` with every group followed by its subtasks, as lm-eval's table prints them."""
    results, subtasks = data["results"], data.get("group_subtasks") or {}
    children = {child for kids in subtasks.values() if isinstance(kids, list) for child in kids}
    order: list[str] = []

    def visit(task: str) -> None:
        if task in order:
            return
        if task in results:
            order.append(task)
        for child in subtasks.get(task) or []:
            visit(child)

    for task in [*subtasks, *results]:
        if task not in children:
            visit(task)
    order += [task for task in results if task not in order]
    return order


def _measurements(task: str, entry: dict[str, Any], unusable: dict[tuple[str, str, str], Any]) -> dict[tuple[str, str], Measurement]:
    """``{(metric, filter): Measurement}`` of one task entry; values that are not numbers go to ``unusable``."""
    found: dict[tuple[str, str], Measurement] = {}
    for key, raw in entry.items():
        metric, comma, filter_name = key.partition(",")
        if key in ENTRY_KEYS or not comma or metric.endswith("_stderr"):
            continue
        value = _number(raw)
        if value is None:
            unusable[(task, metric, filter_name)] = raw
        stderr = _number(entry.get(f"{metric}_stderr,{filter_name}"))
        found[(metric, filter_name)] = Measurement(value, stderr)
    return found


def _number(raw: Any) -> float | None:
    """A finite float, else None (lm-eval writes "N/A" for missing stderr and NaN for undefined means)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    return float(raw) if math.isfinite(raw) else None


def _timestamp(results_path: Path) -> str:
    """The ``<timestamp>`` of ``results_<timestamp>.json`` (lm-eval's ``get_file_datetime``)."""
    return results_path.name[results_path.name.rfind("_") + 1 :].removesuffix(".json")


def _timestamp_key(results_path: Path) -> tuple[str, float]:
    """Newest first by the ISO timestamp in the name, then by modification time."""
    return _timestamp(results_path), results_path.stat().st_mtime
