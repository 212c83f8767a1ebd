"""``--same-prompts FROM=TO``: read one task (and its subtasks) as another with the same documents, so that runs of
two task names (greedy ``hyperfit_continuation`` against sampled ``hyperfit_continuation_top_p``) are paired prompt by
prompt, by lm-eval's ``doc_hash``/``prompt_hash`` as any two runs of one task (:mod:`hyperfit_tasks.compare.paired`).

A task is renamed when its name is ``FROM`` or ``FROM_<suffix>`` (``hyperfit_continuation_top_p_austen`` ->
``hyperfit_continuation_austen``), everywhere the run's results record it. The setting that differs (the decoding:
``generation_kwargs``) stays recorded, so the mismatch check names it and no best is marked without ``--force``.
"""
from __future__ import annotations

from collections.abc import Sequence

from hyperfit_tasks.compare.errors import CompareError
from hyperfit_tasks.compare.results import RunResult

TASK_KEYED = ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "task_hashes", "group_subtasks")


def parse_mapping(text: str) -> tuple[str, str]:
    """``FROM=TO`` -> (FROM, TO), a one-line error otherwise."""
    source, _, target = text.partition("=")
    if not source.strip() or not target.strip() or source.strip() == target.strip():
        raise CompareError(
            f"--same-prompts {text!r}: write FROM=TO, two different task or group names (e.g. hyperfit_continuation_top_p=hyperfit_continuation)"
        )
    return source.strip(), target.strip()


def mapped_name(task: str, mapping: Sequence[tuple[str, str]]) -> str:
    """``task`` under the first mapping whose FROM is the task or its prefix (``FROM_``), else ``task``."""
    for source, target in mapping:
        if task == source:
            return target
        if task.startswith(source + "_"):
            return target + task[len(source):]
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
                f"{run.name} already has {', '.join(clashes)}: --same-prompts would make two tasks of one name in one run; "
                "evaluate the two decodings into separate --output_path folders"
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
                group: [renamed.get(task, task) for task in kids] if isinstance(kids, list) else kids for group, kids in subtasks.items()
            }
        for old, new in renamed.items():
            config = (run.data.get("configs") or {}).get(new)
            if isinstance(config, dict) and config.get("generation_kwargs"):
                decoding = ", ".join(f"{key}={value}" for key, value in sorted(config["generation_kwargs"].items()) if key != "until")
                notes.append(f"{run.name}: {old} paired as {new} (same documents, by doc_hash/prompt_hash); its decoding: {decoding}")
    return notes
