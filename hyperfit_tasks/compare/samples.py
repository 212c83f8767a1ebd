"""Per-document records of ``--log_samples``: prompts, continuations, TTR-by-position curves, examples.

A record of a ``generate_until`` task (``samples_<task>_<timestamp>.jsonl``) holds the prompt as
``arguments.gen_args_0.arg_0``, the continuation as ``filtered_resps[0]`` and every per-document
metric item under its own name (hyperfit's continuation tasks log ``ttr_by_position`` as a list).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyperfit_tasks.compare.results import CompareError, RunResult

CURVE_FIELD = "ttr_by_position"
WORD_WINDOW = 32  # window (in words) of curves computed from the text when none was logged
JUDGED_KEYS = ("judged_doc_hash", "judged_prompt_hash")  # a judge document's record of the prompt it judges


@dataclass(frozen=True)
class Example:
    """One prompt and each run's continuation of it (None where a run has no record of the document)."""

    task: str
    doc_id: int
    prompt: str
    continuations: dict[str, str | None]


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The records of a samples JSONL file, one filter only (``none`` if present, else the first)."""
    records, number = [], 0
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):  # noqa: B007 (the except clause reports the line number)
                if line.strip():
                    records.append(json.loads(line))
    except OSError as error:
        raise CompareError(f"cannot read {path} ({error.strerror})") from None
    except UnicodeDecodeError:
        raise CompareError(f"{path} is not UTF-8 text: pass the samples file lm_eval wrote") from None
    except json.JSONDecodeError:
        raise CompareError(
            f"{path} line {number} is not JSON (cut short?): re-run lm_eval with --log_samples"
        ) from None
    if not all(isinstance(record, dict) for record in records):
        raise CompareError(f"{path} is not an lm-eval samples file (a line is not a JSON object)")
    filters = list(dict.fromkeys(record.get("filter", "none") for record in records))
    keep = "none" if "none" in filters else (filters[0] if filters else "none")
    return [record for record in records if record.get("filter", "none") == keep]


def document_key(record: dict[str, Any]) -> tuple[str, str] | None:
    """The prompt a samples record scores: a judge task's ``doc.judged_doc_hash``/``doc.judged_prompt_hash`` (the
    judged continuation's own hashes; the judge document holds that continuation, so lm-eval's hashes of it differ
    between two runs' judgements of one prompt), else lm-eval's (``doc_hash``, ``prompt_hash``); None when neither was
    logged."""
    doc = record.get("doc")
    judged = tuple(doc.get(key) for key in JUDGED_KEYS) if isinstance(doc, dict) else ()
    if judged and all(isinstance(part, str) for part in judged):
        return judged
    doc_hash, prompt_hash = record.get("doc_hash"), record.get("prompt_hash")
    return (doc_hash, prompt_hash) if isinstance(doc_hash, str) and isinstance(prompt_hash, str) else None


def judges_prompts(records: Sequence[dict]) -> bool:
    """The records are a judge task's: each document names the judged prompt (:data:`JUDGED_KEYS`)."""
    return bool(records) and all(
        isinstance(record.get("doc"), dict) and JUDGED_KEYS[0] in record["doc"] for record in records
    )


def prompt_of(record: dict[str, Any]) -> str:
    """The text the model was given (first request's first argument)."""
    arguments = record.get("arguments")
    if isinstance(arguments, dict):
        first = arguments.get("gen_args_0") or {}
        return str(first.get("arg_0", ""))
    return ""


def continuation_of(record: dict[str, Any]) -> str:
    """The generated text after lm-eval's filters (``filtered_resps[0]``, else ``resps[0][0]``)."""
    for key in ("filtered_resps", "resps"):
        value = record.get(key)
        while isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str):
            return value
    return ""


def generation_samples(runs: Sequence[RunResult]) -> tuple[dict[str, dict[str, list[dict]]], list[str]]:
    """``{task: {run name: records}}`` of every ``generate_until`` task with samples, and problems found."""
    found: dict[str, dict[str, list[dict]]] = {}
    problems = []
    for run in runs:
        for task, path in run.samples.items():
            if run.output_type(task) != "generate_until":
                continue
            try:
                found.setdefault(task, {})[run.name] = read_samples(path)
            except CompareError as error:
                problems.append(f"{run.name}: skipped samples of {task}: {error}")
    return found, problems


def pick_examples(
    task: str, records_by_run: dict[str, list[dict]], run_order: Sequence[str], baseline: str, count: int
) -> list[Example]:
    """The first ``count`` documents (by the baseline's doc_id) the baseline and at least one other run both continued.

    Documents are matched as the paired statistics match them (:func:`document_key`: a judge task's by
    the judged prompt), by ``doc_id`` where a record has no hashes.
    """
    by_run = {
        name: {_example_key(record): record for record in reversed(records)}
        for name, records in records_by_run.items()
    }
    base = by_run.get(baseline, {})
    others = [name for name in run_order if name != baseline and name in by_run]
    shared = sorted(
        (key for key in base if any(key in by_run[name] for name in others)), key=lambda key: base[key].get("doc_id")
    )
    examples = []
    for key in shared[:count]:
        continuations = {
            name: continuation_of(by_run[name][key]) if key in by_run[name] else None
            for name in run_order
            if name in by_run
        }
        examples.append(Example(task, base[key].get("doc_id"), prompt_of(base[key]), continuations))
    return examples


def _example_key(record: dict[str, Any]) -> tuple:
    """The document a record continues, as the paired statistics pair it; its doc_id where it has no hashes."""
    return document_key(record) or ("doc_id", record.get("doc_id"))


def ttr_curves(records: Sequence[dict[str, Any]]) -> tuple[list[list[float]], str]:
    """Per-document TTR-by-position curves and their units.

    The logged ``ttr_by_position`` lists when every record has one (hyperfit's continuation tasks:
    tokens of the task's metric tokenizer); otherwise computed here from the continuation's words
    with :func:`hyperfit_tasks.metrics.ttr_by_position` (windows of ``WORD_WINDOW`` words).
    """
    if records and all(isinstance(record.get(CURVE_FIELD), list) for record in records):
        return [
            [float(value) for value in record[CURVE_FIELD]] for record in records
        ], "logged ttr_by_position windows"
    from hyperfit_tasks.metrics import ttr_by_position
    from hyperfit_tasks.metrics.text_units import words

    curves = [ttr_by_position(words(continuation_of(record)), WORD_WINDOW) for record in records]
    return curves, f"windows of {WORD_WINDOW} words"


def mean_curve(curves: Sequence[Sequence[float]]) -> list[float]:
    """Mean TTR at each window position over the documents long enough to have that window."""
    length = max((len(curve) for curve in curves), default=0)
    return [float(np.mean([curve[i] for curve in curves if len(curve) > i])) for i in range(length)]
