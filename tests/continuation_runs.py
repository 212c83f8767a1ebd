"""In-process lm-eval runs of hyperfit's real continuation tasks on the tiny model (a test helper,
not a test module): shared by tests/test_copy_rate.py, tests/test_citation_blocker.py and
tests/test_tasks.py."""
from __future__ import annotations

import json
from pathlib import Path

from hyperfit_tasks.cli.tasks_path import task_configs_dir

TASK_NAME = "my_continuation"
TEMPLATE = Path(task_configs_dir()) / "continuation" / "_continuation_template.yaml"


def write_continuation_task(folder: Path, texts: list[str]) -> Path:
    """Write ``my_continuation`` (the shipped continuation template on ``texts``) into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    (folder / f"{TASK_NAME}.yaml").write_text(f"task: {TASK_NAME}\ninclude: {TEMPLATE}\ndataset_kwargs:\n  data_files: {data}\n")
    return folder


def evaluate(
    model: str,
    model_args: str,
    tasks: list[str],
    include_path: Path | None = None,
    metadata: dict | None = None,
    **kwargs,
) -> dict:
    """lm-eval's output for ``tasks`` (samples logged, no bootstrap); the token metrics and MAUVE
    use the evaluated model (``pretrained``) instead of the default model, and lm-eval's CLI
    merging of ``model_args`` into the task metadata is reproduced."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from hyperfit_tasks.models.registry import register_models

    register_models()
    arguments = dict(pair.split("=", 1) for pair in model_args.split(","))
    scorers = {"metric_tokenizer": arguments["pretrained"], "mauve_featurizer": arguments["pretrained"]}
    include = [task_configs_dir(), *([str(include_path)] if include_path else [])]
    manager = TaskManager(include_path=include, metadata=scorers | arguments | (metadata or {}))
    settings = {"batch_size": 2, "device": "cpu", "bootstrap_iters": 0, "log_samples": True} | kwargs
    return lm_eval.simple_evaluate(model=model, model_args=model_args, tasks=tasks, task_manager=manager, **settings)


def continuations(output: dict, task: str) -> list[str]:
    """The generated continuations of ``task`` in document order."""
    samples = sorted(output["samples"][task], key=lambda sample: sample["doc_id"])
    return [sample["resps"][0][0] for sample in samples]
