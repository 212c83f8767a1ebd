"""Documents of the judge tasks: a scored run's continuations beside the human continuations of the same prompts.

lm-eval calls :func:`judge_docs` as ``custom_dataset`` with the task metadata (``--metadata`` merged in). ``samples``
names a run's ``--log_samples`` output: an lm-eval ``--output_path`` folder, one model folder in it, or one
``samples_<task>_<timestamp>.jsonl``. Every continuation task found there (its documents hold ``prompt`` and
``reference``; the latest timestamp per task; metadata ``tasks`` selects some) gives one judge document per prompt:

``{"task", "prompt", "continuation", "human", "tokens", "judged_doc_hash", "judged_prompt_hash"}``

The run's continuation and the human one are both cut to ``tokens``, the smaller of their lengths in tokens of
``metric_tokenizer``, so that length does not decide the verdict; the judged hashes are the original sample's
lm-eval ``doc_hash`` and ``prompt_hash``, which pair a judgment with the sample it judged. ``control: loop`` replaces
the continuation by its first :data:`LOOP_TOKENS` tokens repeated to the same length: a trustworthy judge prefers
the human text to that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from hyperfit_tasks.compare.samples import continuation_of, read_samples
from hyperfit_tasks.metrics.text_units import DEFAULT_TOKENIZER, load_tokenizer, token_ids
from hyperfit_tasks.tasks.continuation_data import cut, report_skipped

SAMPLES_GLOB = "samples_*.jsonl"
LOOP_TOKENS = 16
CONTROLS = ("loop",)
FIX_SAMPLES = 'give --metadata \'{"samples": "<the --output_path of an lm_eval run with --log_samples>"}\''


def judge_docs(
    *,
    samples: str | None = None,
    tasks: str | list[str] | None = None,
    metric_tokenizer: str = DEFAULT_TOKENIZER,
    control: str | None = None,
    **_metadata: Any,
) -> datasets.DatasetDict:
    """``custom_dataset`` of the judge tasks: a ``test`` split of judge documents (module docstring)."""
    if control is not None and control not in CONTROLS:
        raise ValueError(f"unknown control {control!r}: the only one is 'loop' (or leave control out)")
    if not samples:
        raise ValueError(f"the judge tasks read a scored run's samples: {FIX_SAMPLES}")
    metric_tokenizer = str(metric_tokenizer)
    load_tokenizer(metric_tokenizer)
    docs, total = [], 0
    for task, records in continuation_samples(Path(samples).expanduser(), tasks).items():
        total += len(records)
        docs += [doc for record in records if (doc := judge_doc(task, record, metric_tokenizer, control)) is not None]
    report_skipped(total - len(docs), total, f"samples {samples}", "empty continuation")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def continuation_samples(path: Path, tasks: str | list[str] | None) -> dict[str, list[dict[str, Any]]]:
    """``{task: records by doc_id}`` of the continuation tasks under ``path`` (the latest file per task), ``tasks``
    only if given."""
    latest = latest_samples(path)
    wanted = [tasks] if isinstance(tasks, str) else list(tasks or [])
    missing = [task for task in wanted if task not in latest]
    if missing:
        raise ValueError(
            f"no samples of {', '.join(missing)} under {path} (found: {', '.join(sorted(latest))}): fix metadata tasks"
        )
    chosen = {}
    for task in wanted or sorted(latest):
        records = sorted(read_samples(latest[task]), key=lambda record: record.get("doc_id", 0))
        if records and all(has_reference(record) for record in records):
            chosen[task] = records
        elif wanted or path.is_file():
            raise ValueError(
                f"{latest[task]} holds no human continuations (documents without 'prompt' and 'reference'): judge a "
                "continuation task"
            )
    if not chosen:
        raise ValueError(
            f"no continuation task's samples under {path} (documents with 'prompt' and 'reference'): judge a "
            "continuation task"
        )
    return chosen


def latest_samples(path: Path) -> dict[str, Path]:
    """``{task: its latest samples file}`` of one run: ``path`` is a samples file, a model folder or an
    ``--output_path``."""
    from lm_eval.utils import get_file_datetime, get_file_task_name

    if path.is_file():
        if not path.match(SAMPLES_GLOB):
            raise ValueError(
                f"{path} is not an lm-eval {SAMPLES_GLOB} file: give one, its model folder or the run's --output_path"
            )
        files = [path]
    elif path.is_dir():
        files = sorted(path.rglob(SAMPLES_GLOB))
    else:
        raise ValueError(f"samples {path} does not exist: {FIX_SAMPLES}")
    if not files:
        raise ValueError(
            f"no {SAMPLES_GLOB} under {path}: score the run with lm_eval --log_samples, then {FIX_SAMPLES}"
        )
    latest: dict[str, Path] = {}
    for file in files:
        task, other = get_file_task_name(file.name), latest.get(get_file_task_name(file.name))
        if other is not None and other.parent != file.parent:
            raise ValueError(
                f"samples of {task} from several runs under {path} ({other.parent}, {file.parent}): name one model "
                "folder"
            )
        if other is None or get_file_datetime(file.name) > get_file_datetime(other.name):
            latest[task] = file
    return latest


def has_reference(record: dict[str, Any]) -> bool:
    """True if a logged sample is a continuation task's: its document holds a prompt and a human reference."""
    doc = record.get("doc")
    return isinstance(doc, dict) and isinstance(doc.get("prompt"), str) and isinstance(doc.get("reference"), str)


def judge_doc(task: str, record: dict[str, Any], metric_tokenizer: str, control: str | None) -> dict[str, Any] | None:
    """The judge document of one logged sample, None when its continuation is empty."""
    continuation, human = continuation_of(record).strip(), record["doc"]["reference"].strip()
    ids = token_ids(continuation, metric_tokenizer)
    tokens = min(len(ids), len(token_ids(human, metric_tokenizer)))
    if tokens == 0:
        return None
    if control == "loop":
        continuation = loop_text(ids, tokens, metric_tokenizer)
    else:
        continuation = cut(continuation, tokens, metric_tokenizer)
    return {
        "task": task,
        "prompt": record["doc"]["prompt"],
        "continuation": continuation,
        "human": cut(human, tokens, metric_tokenizer),
        "tokens": tokens,
        "judged_doc_hash": str(record.get("doc_hash", "")),
        "judged_prompt_hash": str(record.get("prompt_hash", "")),
    }


def loop_text(ids: list[int], tokens: int, metric_tokenizer: str) -> str:
    """The degenerate control: the first :data:`LOOP_TOKENS` token ids repeated to ``tokens`` ids, as text.

    A continuation of at most :data:`LOOP_TOKENS` tokens is its own loop: the control changes nothing there.
    """
    head = ids[:LOOP_TOKENS]
    return load_tokenizer(metric_tokenizer).decode((head * (tokens // len(head) + 1))[:tokens])
