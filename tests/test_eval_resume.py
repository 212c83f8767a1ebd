"""Resumable evaluation: lm-eval's request cache under a per-model path (hyperfit_tasks.common.eval_cache).
A SIGKILLed ``hyperfit-lm-eval`` run resumes generating only what was not done and writes the
results of an uninterrupted run; two checkpoints never share a cache file."""

from __future__ import annotations

import json
import math
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyperfit_tasks.common.eval_cache import eval_cache_path, weights_digest

from conftest import build_tiny_lm
from helpers import ENV, TASK_NAME, same_number, write_continuation_task

CLI = str(Path(sys.executable).parent / "hyperfit-lm-eval")
DOCS = 8
KILL_AFTER = 3


def command(model: Path, tasks: Path, out: Path, *extra: str) -> list[str]:
    metadata = {"metric_tokenizer": str(model), "mauve_featurizer": str(model), "prompt_tokenizer": None}
    return [
        CLI, "--model", "hf", "--model_args", f"pretrained={model}", "--device", "cpu", "--include_path", str(tasks),
        "--tasks", TASK_NAME, "--limit", str(DOCS), "--batch_size", "1", "--gen_kwargs", "max_gen_toks=64",
        "--log_samples", "--output_path", str(out), "--metadata", json.dumps(metadata), *extra,
    ]  # fmt: skip


def cached_requests(database: Path) -> int:
    """Rows in lm-eval's sqlite request cache (0 while it does not exist yet or is being written)."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.05) as connection:
            return connection.execute("SELECT COUNT(*) FROM unnamed").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def outputs(out: Path) -> tuple[dict, list]:
    (results_file,) = out.rglob("results_*.json")
    (samples_file,) = out.rglob(f"samples_{TASK_NAME}_*.jsonl")
    samples = sorted((json.loads(line) for line in samples_file.read_text().splitlines()), key=lambda s: s["doc_id"])
    return json.loads(results_file.read_text())["results"][TASK_NAME], [sample["resps"] for sample in samples]


@pytest.mark.slow
def test_killed_evaluation_resumes_generating_only_the_rest(tmp_path, tiny_lm_path, english_text):
    paragraphs = [paragraph for paragraph in english_text.split("\n\n") if len(paragraph.split()) > 60]
    tasks = write_continuation_task(tmp_path / "tasks", paragraphs[:DOCS])
    cache = eval_cache_path(tmp_path / "cache", str(tiny_lm_path), f"pretrained={tiny_lm_path}")
    database = Path(cache + "_rank0.db")  # lm-eval's name for rank 0's file

    process = subprocess.Popen(command(tiny_lm_path, tasks, tmp_path / "killed", "--use_cache", cache), env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 150
    while cached_requests(database) < KILL_AFTER:
        assert process.poll() is None and time.monotonic() < deadline, "the evaluation ended before it could be killed"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    done = cached_requests(database)
    assert KILL_AFTER <= done < DOCS and not list((tmp_path / "killed").rglob("results_*.json"))

    resumed = subprocess.run(
        command(tiny_lm_path, tasks, tmp_path / "resumed", "--use_cache", cache),
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Cached requests: {done}, Requests remaining: {DOCS - done}" in resumed.stderr
    assert f"| 0/{DOCS - done} [" in resumed.stderr  # the model's progress bar: only the rest was generated
    assert cached_requests(database) == DOCS

    uninterrupted = subprocess.run(
        command(tiny_lm_path, tasks, tmp_path / "uninterrupted"), env=ENV, capture_output=True, text=True
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    (results, continuations), (reference, reference_continuations) = (
        outputs(tmp_path / "resumed"),
        outputs(tmp_path / "uninterrupted"),
    )
    assert continuations == reference_continuations
    assert results.keys() == reference.keys() and all(same_number(results[key], reference[key]) for key in reference)
    assert math.isfinite(results["self_bleu,none"])


def test_cache_path_follows_the_weights_and_settings(tmp_path, tiny_lm_path):
    first, second = shutil.copytree(tiny_lm_path, tmp_path / "first"), build_tiny_lm(tmp_path / "second", seed=1)
    shutil.copytree(first, tmp_path / "copy")
    path = eval_cache_path(tmp_path / "cache", str(first), "dtype=float32")
    assert path == eval_cache_path(tmp_path / "cache", str(first), "dtype=float32")  # same model: its earlier answers
    assert Path(path).parent == tmp_path / "cache" and Path(path).name.startswith("first-")
    assert weights_digest(str(tmp_path / "copy")) == weights_digest(
        str(first)
    )  # identity is the weights, not the folder
    others = {
        eval_cache_path(tmp_path / "cache", str(second), "dtype=float32"),  # another checkpoint
        eval_cache_path(tmp_path / "cache", str(first), "dtype=bfloat16"),  # same weights, other answers
        eval_cache_path(tmp_path / "cache", "HuggingFaceTB/SmolLM2-135M", "dtype=float32"),  # hub id: its name
    }
    assert len(others) == 3 and path not in others
    shutil.copy(
        second / "model.safetensors", first / "model.safetensors"
    )  # retrained in place: old answers must not be reused
    assert eval_cache_path(tmp_path / "cache", str(first), "dtype=float32") != path
