"""A tiny lm-eval generate_until task scored with the training-copy metrics, written into a tmp folder.

Shared by tests/test_citation_blocker.py and tests/test_copy_rate.py (not a test module itself).
"""
from __future__ import annotations

import json
from pathlib import Path

TASK_NAME = "tiny_copy_task"

_UTILS = '''
import math

import datasets

from hyperfit_tasks.copy_rate import copy_metrics_for_doc, training_reference

PROMPTS = {prompts}


def load(**metadata):
    reference = training_reference(metadata)
    return datasets.DatasetDict({{"test": datasets.Dataset.from_list([{{"prompt": p, **reference}} for p in PROMPTS])}})


def nanmean(values):
    """Mean over the documents where the metric is defined (continuations shorter than K give NaN)."""
    defined = [value for value in values if not math.isnan(value)]
    return sum(defined) / len(defined) if defined else math.nan


def process_results(doc, results):
    return {{"generated_chars": float(len(results[0])), **copy_metrics_for_doc(doc, results[0], k={k})}}
'''

_YAML = """task: {name}
custom_dataset: !function utils.load
output_type: generate_until
test_split: test
doc_to_text: "{{{{prompt}}}}"
doc_to_target: ""
process_results: !function utils.process_results
generation_kwargs:
  until: []
  do_sample: false
  max_gen_toks: {max_gen_toks}
metric_list:
  - metric: generated_chars
    aggregation: mean
    higher_is_better: true
  - metric: training_kgram_rate
    aggregation: !function utils.nanmean
    higher_is_better: false
  - metric: longest_training_span
    aggregation: mean
    higher_is_better: false
  - metric: training_overlap_over_10
    aggregation: mean
    higher_is_better: false
metadata:
  version: 1.0
"""


def write_copy_task(folder: Path, prompts: list[str], max_gen_toks: int, k: int) -> Path:
    """Write ``tiny_copy_task`` (YAML + utils.py) into ``folder``; return the folder (an include path)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "utils.py").write_text(_UTILS.format(prompts=json.dumps(prompts), k=k))
    (folder / f"{TASK_NAME}.yaml").write_text(_YAML.format(name=TASK_NAME, max_gen_toks=max_gen_toks))
    return folder


def evaluate(model: str, model_args: str, include_path: Path, metadata: dict | None = None) -> tuple[dict, list[str]]:
    """(aggregated metrics of tiny_copy_task, the generated continuations in document order)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from hyperfit_tasks.lm_models import register_models

    register_models()
    arguments = dict(pair.split("=", 1) for pair in model_args.split(","))
    manager = TaskManager(include_path=str(include_path), metadata=arguments | (metadata or {}))
    output = lm_eval.simple_evaluate(
        model=model,
        model_args=model_args,
        tasks=[TASK_NAME],
        task_manager=manager,
        batch_size=2,
        device="cpu",
        log_samples=True,
    )
    samples = sorted(output["samples"][TASK_NAME], key=lambda sample: sample["doc_id"])
    return output["results"][TASK_NAME], [sample["resps"][0][0] for sample in samples]
