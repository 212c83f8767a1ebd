"""The results reader: what lm-eval, ``hyperfit-train`` and the Trainer wrote, read into runs that can be compared.

What ``lm_eval --output_path OUT`` writes (lm-eval 0.4.x, ``EvaluationTracker``):
``OUT/<model_name_sanitized>/results_<timestamp>.json`` with ``results`` (task -> ``"metric,filter"``
values and ``"metric_stderr,filter"`` numbers or ``"N/A"``; group rows too), ``groups``,
``group_subtasks``, ``configs`` (task YAML as run: ``generation_kwargs``, ``num_fewshot``,
``metadata``), ``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``, ``config``
(``model``, ``model_args``, ``limit``, ...), ``lm_eval_version``, ``task_hashes``, ``model_name``;
with ``--log_samples`` also ``samples_<task>_<timestamp>.jsonl`` next to it (same timestamp; read by
:mod:`hyperfit_tasks.compare.samples`).

Besides the results files, this module reads where an evaluated checkpoint sits in its training run
(:func:`training_position`), renames tasks for ``--same-prompts`` (:func:`map_tasks`), finds the settings that
differ between runs (:func:`find_mismatches`) and reads the sharpening a ``hyperfit-train`` run recorded
(:func:`run_diagnostics`).

**Training position.** The rule, applied to the model path of each result (``peft=``, ``delta=``, ``pretrained=``,
``model=``, ``path=`` or ``engine=`` of ``--model_args``, the order lm-eval names models by):

1. the folder exists here and holds the Trainer's ``trainer_state.json``: epoch = its ``epoch``,
   step = its ``global_step``;
2. otherwise a folder named ``checkpoint-<step>``: that step, epoch unknown;
3. otherwise: not a checkpoint (such runs are drawn as flat reference lines).

Checkpoints belong to the same training run ("series") when they share the parent folder of
``checkpoint-<step>`` (a model saved at the end of training in that parent folder joins it).

**``--same-prompts FROM=TO``** reads one task (and its subtasks) as another with the same documents, so that runs of
two task names (greedy ``hyperfit_continuation`` against sampled ``hyperfit_continuation_top_p``) are paired prompt by
prompt, by lm-eval's ``doc_hash``/``prompt_hash`` as any two runs of one task (:mod:`hyperfit_tasks.compare.paired`).
A task is renamed when its name is ``FROM`` or ``FROM_<suffix>`` (``hyperfit_continuation_top_p_austen`` ->
``hyperfit_continuation_austen``), everywhere the run's results record it. The setting that differs (the decoding:
``generation_kwargs``) stays recorded, so the mismatch check names it and no best is marked without ``--force``.

**Settings that must match** for numbers to be comparable, checked across runs: lm-eval version and ``--limit``; per
task present in several runs: task version, n-shot, ``generation_kwargs``, evaluated documents (``n-samples``),
hyperfit's prompt settings in the task metadata (``prompt_tokens``, ``prompt_words``, ``prompt_tokenizer``,
``reference_words``) and, where samples were logged, lm-eval's ``task_hashes`` of the documents, prompts and targets.
A setting a run did not record is left out of the comparison. A judge task's documents hold the continuations it
judges, so its ``task_hashes`` differ between two runs' judgements by design: their prompts are paired by the judged
prompt's hashes instead (:func:`hyperfit_tasks.compare.samples.document_key`), and what must match is the judge (the
lm-eval model and its ``model_args`` ``model``).

**The sharpening record**: a run's model folder (the evaluated ``pretrained=`` path) holds ``hyperfit_run.json`` when
``hyperfit-train`` wrote it; its ``initial_diagnostics`` and ``final_diagnostics`` rows (the format of
:mod:`hyperfit_train.diagnostics`) and its ``training`` block (``hyperfitted``, ``final_train_loss``, ``target_loss``)
are read as plain JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from hyperfit_tasks.common.errors import HyperfitError
from hyperfit_tasks.common.model_args import MODEL_PATH_KEYS, parse_model_args
from hyperfit_tasks.common.run_files import CHECKPOINT_NAME, RESULTS_GLOB, read_run_record
from hyperfit_tasks.metrics import catalogue

UNIT_PREFIXES = ("judge_",)  # judge scores of the paper's protocol: shares in [0, 1]


class CompareError(HyperfitError):
    """The one error ``hyperfit-compare`` reports as a single line: unusable input (missing path, no results, broken or
    foreign JSON, bad option value), what is wrong and how to fix it."""


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
        if file.is_file() and (
            file.parent not in newest or _timestamp_key(file) > _timestamp_key(newest[file.parent])
        ):
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
    args = parse_model_args((data.get("config") or {}).get("model_args"))
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


def _measurements(
    task: str, entry: dict[str, Any], unusable: dict[tuple[str, str, str], Any]
) -> dict[tuple[str, str], Measurement]:
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


# ---------------------------------------------------------------- training position


TRAINER_STATE = "trainer_state.json"


@dataclass(frozen=True)
class TrainingPosition:
    """A checkpoint's training run (``series``: its run folder), ``step`` and ``epoch`` (None if unknown)."""

    series: str
    step: int | None
    epoch: float | None


def training_position(model_path: str | None) -> TrainingPosition | None:
    """The position of the model at ``model_path`` in its training run, or None (see module docstring)."""
    if not model_path:
        return None
    path = PurePath(model_path.rstrip("/\\"))
    match = CHECKPOINT_NAME.match(path.name)
    series = str(path.parent) if match else str(path)
    state = _trainer_state(Path(path))
    if state is not None:
        epoch, step = state.get("epoch"), state.get("global_step")
        return TrainingPosition(
            series=series,
            step=int(step) if isinstance(step, (int, float)) else None,
            epoch=float(epoch) if isinstance(epoch, (int, float)) else None,
        )
    if match:
        return TrainingPosition(series=series, step=int(match.group(1)), epoch=None)
    return None


def _trainer_state(folder: Path) -> dict | None:
    try:
        state = json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


# ---------------------------------------------------------------- --same-prompts


TASK_KEYED = (
    "results",
    "configs",
    "versions",
    "n-shot",
    "higher_is_better",
    "n-samples",
    "task_hashes",
    "group_subtasks",
)


def parse_mapping(text: str) -> tuple[str, str]:
    """``FROM=TO`` -> (FROM, TO), a one-line error otherwise."""
    source, _, target = text.partition("=")
    if not source.strip() or not target.strip() or source.strip() == target.strip():
        raise CompareError(
            f"--same-prompts {text!r}: write FROM=TO, two different task or group names (e.g. "
            "hyperfit_continuation_top_p=hyperfit_continuation)"
        )
    return source.strip(), target.strip()


def mapped_name(task: str, mapping: Sequence[tuple[str, str]]) -> str:
    """``task`` under the first mapping whose FROM is the task or its prefix (``FROM_``), else ``task``."""
    for source, target in mapping:
        if task == source:
            return target
        if task.startswith(source + "_"):
            return target + task[len(source) :]
    return task


def map_tasks(runs: Sequence[RunResult], mapping: Sequence[tuple[str, str]]) -> list[str]:
    """Rename the mapped tasks of every run in place; one note per run and renamed task family, naming its decoding."""
    notes = []
    for run in runs:
        renamed = {task: mapped_name(task, mapping) for task in run.metrics}
        renamed = {task: new for task, new in renamed.items() if new != task}
        if not renamed:
            continue
        clashes = sorted(new for new in renamed.values() if new in run.metrics)
        if clashes:
            raise CompareError(
                f"{run.name} already has {', '.join(clashes)}: --same-prompts would make two tasks of one name in one "
                "run; evaluate the two decodings into separate --output_path folders"
            )
        run.metrics = {renamed.get(task, task): value for task, value in run.metrics.items()}
        run.samples = {renamed.get(task, task): path for task, path in run.samples.items()}
        run.unusable = {(renamed.get(task, task), *rest): value for (task, *rest), value in run.unusable.items()}
        for key in TASK_KEYED:
            table = run.data.get(key)
            if isinstance(table, dict):
                run.data[key] = {renamed.get(task, task): value for task, value in table.items()}
        subtasks = run.data.get("group_subtasks")
        if isinstance(subtasks, dict):
            run.data["group_subtasks"] = {
                group: [renamed.get(task, task) for task in kids] if isinstance(kids, list) else kids
                for group, kids in subtasks.items()
            }
        for old, new in renamed.items():
            config = (run.data.get("configs") or {}).get(new)
            if isinstance(config, dict) and config.get("generation_kwargs"):
                decoding = ", ".join(
                    f"{key}={value}" for key, value in sorted(config["generation_kwargs"].items()) if key != "until"
                )
                notes.append(
                    f"{run.name}: {old} paired as {new} (same documents, by doc_hash/prompt_hash); its decoding: "
                    f"{decoding}"
                )
    return notes


# ---------------------------------------------------------------- settings that must match


RUN_SETTINGS: dict[str, Callable[[dict], Any]] = {
    "lm_eval_version": lambda data: data.get("lm_eval_version"),
    "limit": lambda data: (data.get("config") or {}).get("limit"),
}
TASK_SETTINGS: dict[str, Callable[[dict, str], Any]] = {
    "version": lambda data, task: _version((data.get("versions") or {}).get(task)),
    "n-shot": lambda data, task: (data.get("n-shot") or {}).get(task),
    "generation_kwargs": lambda data, task: ((data.get("configs") or {}).get(task) or {}).get("generation_kwargs"),
    "documents (n-samples)": lambda data, task: _documents((data.get("n-samples") or {}).get(task)),
    "documents/prompts (task_hashes)": lambda data, task: (
        None if _judges(data, task) else _short_hash((data.get("task_hashes") or {}).get(task))
    ),
    "judge (--model, model_args model)": lambda data, task: _judge(data) if _judges(data, task) else None,
    # hyperfit's continuation settings (task metadata): name the setting, not only the differing hashes
    **{
        f"metadata {key}": (
            lambda data, task, key=key: (((data.get("configs") or {}).get(task) or {}).get("metadata") or {}).get(key)
        )
        for key in ("prompt_tokenizer", "prompt_tokens", "prompt_words", "reference_words")
    },
}


def find_mismatches(runs: Sequence[RunResult], tasks: Sequence[str] | None = None) -> list[str]:
    """One line per setting whose recorded values differ between runs (empty when all agree).

    ``tasks`` limits the per-task checks (default: every task of any run).
    """
    lines = [_differs(name, runs, lambda run, get=get: get(run.data)) for name, get in RUN_SETTINGS.items()]
    for task in tasks if tasks is not None else list(dict.fromkeys(task for run in runs for task in run.tasks)):
        lines += task_mismatches(runs, task)
    return [line for line in lines if line]


def task_mismatches(runs: Sequence[RunResult], task: str) -> list[str]:
    """The lines of the settings of ``task`` that differ between the runs having it (empty: comparable)."""
    having = [run for run in runs if task in run.metrics]
    lines = [
        _differs(f"{task}: {name}", having, lambda run, get=get, task=task: get(run.data, task))
        for name, get in TASK_SETTINGS.items()
    ]
    return [line for line in lines if line]


def generation_mismatches(runs: Sequence[RunResult], task: str) -> list[str]:
    """One line per generation setting (``max_gen_toks``, ``do_sample``, ...) of ``task`` that differs between runs."""
    having = [run for run in runs if task in run.metrics]
    kwargs = {run.name: ((run.data.get("configs") or {}).get(task) or {}).get("generation_kwargs") for run in having}
    keys = dict.fromkeys(key for value in kwargs.values() if isinstance(value, dict) for key in value)
    lines = [
        _differs(
            f"{task}: {key}",
            having,
            lambda run, key=key: (kwargs[run.name] or {}).get(key) if isinstance(kwargs[run.name], dict) else None,
        )
        for key in keys
    ]
    return [line for line in lines if line]


def _differs(setting: str, runs: Sequence[RunResult], value_of: Callable[[RunResult], Any]) -> str:
    """``"SETTING differs: A in r1, r2; B in r3"`` or "" when at most one recorded value exists."""
    groups: dict[str, list[str]] = {}
    for run in runs:
        value = value_of(run)
        if value is not None:
            groups.setdefault(json.dumps(value, sort_keys=True, default=str), []).append(run.name)
    if len(groups) < 2:
        return ""
    parts = "; ".join(f"{value} in {', '.join(names)}" for value, names in groups.items())
    return f"{setting} differs: {parts}"


def _version(value: Any) -> str | None:
    """Task versions as written by lm-eval (1.0 for tasks, "1.0" for groups) in one form."""
    if value is None:
        return None
    try:
        return str(float(value))
    except (TypeError, ValueError):
        return str(value)


def _documents(counts: Any) -> str | None:
    if not isinstance(counts, dict):
        return None
    return f"{counts.get('effective')} of {counts.get('original')}"


def _short_hash(value: Any) -> str | None:
    return value[:12] if isinstance(value, str) and value else None


def _judges(data: dict, task: str) -> bool:
    """``task`` scores another run's continuations with a judge (it reports a ``judge_*`` metric)."""
    entry = (data.get("results") or {}).get(task) or {}
    return any(catalogue.canonical(key.split(",")[0]).startswith(UNIT_PREFIXES) for key in entry)


def _judge(data: dict) -> str | None:
    """The judging model: lm-eval's ``--model`` and the ``model`` (else ``pretrained``) of its ``--model_args``."""
    config = data.get("config") or {}
    args = config.get("model_args")
    if isinstance(args, str):
        args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    args = args if isinstance(args, dict) else {}
    name = args.get("model") or args.get("pretrained")
    return f"{config.get('model')} {name}" if name else config.get("model")


# ---------------------------------------------------------------- the sharpening record of a hyperfit-train run


def run_diagnostics(folder: Path) -> tuple[dict, dict] | None:
    """(before, after) diagnostics rows of the run record in ``folder``, None if absent or unreadable."""
    record = read_run_record(folder) or {}
    before, after = record.get("initial_diagnostics"), record.get("final_diagnostics")
    return (before, after) if isinstance(before, dict) and isinstance(after, dict) else None


def hyperfit_outcome(folder: Path) -> str:
    """``yes``/``NO`` with the final training loss against the near-zero target, or "" when the record does not say."""
    training = (read_run_record(folder) or {}).get("training")
    if not isinstance(training, dict) or training.get("hyperfitted") is None:
        return ""
    loss, target = training.get("final_train_loss"), training.get("target_loss")
    if training["hyperfitted"]:
        return f"yes: loss {loss:.3g}, target {target:g}"
    return f"NO: loss {loss:.3g}, target {target:g}"
