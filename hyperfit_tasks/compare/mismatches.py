"""Settings that must match for numbers to be comparable, and where inputs disagree on them.

Checked across runs: lm-eval version and ``--limit``; per task present in several runs: task
version, n-shot, ``generation_kwargs``, evaluated documents (``n-samples``), hyperfit's prompt
settings in the task metadata (``prompt_tokens``, ``prompt_words``, ``prompt_tokenizer``,
``reference_words``) and, where samples were logged, lm-eval's ``task_hashes`` of the documents,
prompts and targets. A setting a run
did not record is left out of the comparison.

A judge task's documents hold the continuations it judges, so its ``task_hashes`` differ between two
runs' judgements by design: their prompts are paired by the judged prompt's hashes instead
(:func:`hyperfit_tasks.compare.samples.document_key`), and what must match is the judge (the
lm-eval model and its ``model_args`` ``model``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from hyperfit_tasks.compare.paired import UNIT_PREFIXES
from hyperfit_tasks.compare.results import RunResult
from hyperfit_tasks.metrics import catalogue

RUN_SETTINGS: dict[str, Callable[[dict], Any]] = {
    "lm_eval_version": lambda data: data.get("lm_eval_version"),
    "limit": lambda data: (data.get("config") or {}).get("limit"),
}
TASK_SETTINGS: dict[str, Callable[[dict, str], Any]] = {
    "version": lambda data, task: _version((data.get("versions") or {}).get(task)),
    "n-shot": lambda data, task: (data.get("n-shot") or {}).get(task),
    "generation_kwargs": lambda data, task: ((data.get("configs") or {}).get(task) or {}).get("generation_kwargs"),
    "documents (n-samples)": lambda data, task: _documents((data.get("n-samples") or {}).get(task)),
    "documents/prompts (task_hashes)": lambda data, task: None if _judges(data, task) else _short_hash((data.get("task_hashes") or {}).get(task)),
    "judge (--model, model_args model)": lambda data, task: _judge(data) if _judges(data, task) else None,
    # hyperfit's continuation settings (task metadata): name the setting, not only the differing hashes
    **{
        f"metadata {key}": (lambda data, task, key=key: (((data.get("configs") or {}).get(task) or {}).get("metadata") or {}).get(key))
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
    lines = [_differs(f"{task}: {name}", having, lambda run, get=get, task=task: get(run.data, task)) for name, get in TASK_SETTINGS.items()]
    return [line for line in lines if line]


def generation_mismatches(runs: Sequence[RunResult], task: str) -> list[str]:
    """One line per generation setting (``max_gen_toks``, ``do_sample``, ...) of ``task`` that differs between runs."""
    having = [run for run in runs if task in run.metrics]
    kwargs = {run.name: ((run.data.get("configs") or {}).get(task) or {}).get("generation_kwargs") for run in having}
    keys = dict.fromkeys(key for value in kwargs.values() if isinstance(value, dict) for key in value)
    lines = [
        _differs(f"{task}: {key}", having, lambda run, key=key: (kwargs[run.name] or {}).get(key) if isinstance(kwargs[run.name], dict) else None)
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
