"""Data-parallel evaluation: ``hyperfit-lm-eval --model hf-cpu-dp`` on 2 CPU processes (torchrun,
gloo) scores every continuation as the single-process ``hf`` run does, and its corpus-level
aggregates (distinct-n, Self-BLEU, MAUVE) see every rank's continuations."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ENV, TASK_NAME, free_port, same_number, write_continuation_task

CLI = str(Path(sys.executable).parent / "hyperfit-lm-eval")
# ACCELERATE_USE_CPU: without it accelerate sees 2 CPU processes as 2 independent runs (each evaluates everything)
CORPUS_METRICS = ("distinct_1", "distinct_2", "distinct_3", "distinct_4", "self_bleu", "mauve")
LIMIT = 6


def run_eval(launcher: list[str], lm: str, model: Path, tasks: Path, out: Path) -> tuple[dict, list[dict], str]:
    """Results, samples (in document order) and stderr of one ``hyperfit-lm-eval`` run of ``my_continuation``."""
    metadata = {"metric_tokenizer": str(model), "mauve_featurizer": str(model), "prompt_tokenizer": None}
    command = launcher + [
        CLI, "--model", lm, "--model_args", f"pretrained={model}", "--device", "cpu", "--include_path", str(tasks),
        "--tasks", TASK_NAME, "--limit", str(LIMIT), "--batch_size", "3", "--gen_kwargs", "max_gen_toks=40",
        "--log_samples", "--output_path", str(out), "--metadata", json.dumps(metadata),
    ]  # fmt: skip
    result = subprocess.run(command, env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    (results_file,) = out.rglob("results_*.json")
    (samples_file,) = out.rglob(f"samples_{TASK_NAME}_*.jsonl")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    return json.loads(results_file.read_text()), sorted(samples, key=lambda sample: sample["doc_id"]), result.stderr


@pytest.mark.slow
def test_two_process_evaluation_matches_the_single_process_run(tmp_path, tiny_lm_path, english_text):
    paragraphs = [paragraph for paragraph in english_text.split("\n\n") if len(paragraph.split()) > 60]
    tasks = write_continuation_task(tmp_path / "tasks", paragraphs[:LIMIT])
    single, single_samples, _ = run_eval([], "hf", tiny_lm_path, tasks, tmp_path / "single")
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
    ]
    parallel, parallel_samples, log = run_eval(torchrun, "hf-cpu-dp", tiny_lm_path, tasks, tmp_path / "parallel")

    # rank 0 generated half of the documents (its progress bar counts its own requests), rank 1 the rest
    assert f"| 0/{LIMIT // 2} [" in log and f"/{LIMIT} [" not in log
    assert [sample["doc_id"] for sample in parallel_samples] == list(range(LIMIT))
    metrics = [key for key in single["results"][TASK_NAME] if key.endswith(",none") and "stderr" not in key]
    assert {f"{name},none" for name in CORPUS_METRICS} <= set(metrics)
    for sample, reference in zip(parallel_samples, single_samples):
        assert sample["resps"] == reference["resps"]
        for metric in (key.split(",")[0] for key in metrics):
            assert same_number(sample[metric], reference[metric]), metric
    for metric in metrics:
        assert same_number(parallel["results"][TASK_NAME][metric], single["results"][TASK_NAME][metric]), metric
    assert math.isfinite(single["results"][TASK_NAME]["mauve,none"]) and math.isfinite(
        single["results"][TASK_NAME]["self_bleu,none"]
    )
