"""hyperfit-train as real processes: exit codes, SIGKILL + --resume, and 2-process DDP (torchrun, gloo on CPU)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file
from transformers.trainer_utils import get_last_checkpoint

from hyperfit_tasks.common.json_rows import read_rows
from hyperfit_train.checkpoints import scan_checkpoints

from helpers import TRAIN_ENV, free_port, tiny_argv

CLI = [sys.executable, "-m", "hyperfit_train.cli"]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, tiny_lm_path, corpus):
    """One uninterrupted single-process run (8 epochs of 4 steps, batch 4)."""
    output_dir = tmp_path_factory.mktemp("runs") / "reference"
    subprocess.run(CLI + tiny_argv(tiny_lm_path, *corpus, output_dir), env=TRAIN_ENV, check=True, capture_output=True)
    return output_dir


def max_weight_difference(first, second) -> float:
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


def comparable(rows: list[dict]) -> list[dict]:
    return [{key: value for key, value in row.items() if key != "elapsed_s"} for row in rows]


def test_bad_input_exits_non_zero_with_one_line_on_stderr(tmp_path, tiny_lm_path, corpus):
    argv = CLI + tiny_argv(tiny_lm_path, tmp_path / "absent.jsonl", corpus[1], tmp_path / "out")
    result = subprocess.run(argv, env=TRAIN_ENV, capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("hyperfit-train: error: training data file not found")


@pytest.mark.parametrize("kill_after_step", [4, 16, 24], ids=lambda step: f"kill-after-step-{step}")
def test_sigkilled_run_resumes_to_the_same_weights_skipping_a_half_written_checkpoint(
    tmp_path, tiny_lm_path, corpus, reference_run, kill_after_step
):
    """SIGKILL early, mid-way and late in the run (32 steps, a checkpoint every 4): every resume ends on the reference
    weights."""
    output_dir = tmp_path / "killed"
    argv = CLI + tiny_argv(tiny_lm_path, *corpus, output_dir)
    process = subprocess.Popen(argv, env=TRAIN_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (output_dir / f"checkpoint-{kill_after_step}" / "trainer_state.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "training ended before it could be killed"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert not (output_dir / "hyperfit_run.json").exists()

    # what a kill during the next save leaves: the model written, trainer_state.json (written last) not yet
    latest, _ = scan_checkpoints(output_dir)
    half_written = output_dir / f"checkpoint-{int(latest.name.split('-')[1]) + 4}"
    shutil.rmtree(half_written, ignore_errors=True)
    shutil.copytree(latest, half_written)
    (half_written / "trainer_state.json").unlink()
    model_file = half_written / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    assert get_last_checkpoint(str(output_dir)) == str(half_written)  # what transformers alone would resume from

    resumed = subprocess.run(argv + ["--resume"], env=TRAIN_ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"removing incomplete checkpoint {half_written}" in resumed.stderr
    assert f"resuming from {latest}" in resumed.stderr
    assert max_weight_difference(reference_run, output_dir) <= 1e-6
    assert comparable(read_rows(output_dir / "diagnostics.jsonl")) == comparable(
        read_rows(reference_run / "diagnostics.jsonl")
    )
    summary = json.loads((output_dir / "hyperfit_run.json").read_text())
    assert summary["training"]["resumed_from"] == str(latest) and summary["training"]["global_step"] == 32


def test_two_process_ddp_matches_the_single_process_run(tmp_path, tiny_lm_path, corpus, reference_run):
    output_dir = tmp_path / "ddp"
    argv = tiny_argv(tiny_lm_path, *corpus, output_dir, "--per_device_train_batch_size", "2")  # same global batch 4
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
    ]
    result = subprocess.run(
        launcher + ["-m", "hyperfit_train.cli", *argv], env=TRAIN_ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((output_dir / "hyperfit_run.json").read_text())
    assert summary["training"]["world_size"] == 2 and summary["training"]["global_step"] == 32
    assert max_weight_difference(reference_run, output_dir) <= 1e-4
    rows, reference_rows = read_rows(output_dir / "diagnostics.jsonl"), read_rows(reference_run / "diagnostics.jsonl")
    assert [row["epoch"] for row in rows] == [
        row["epoch"] for row in reference_rows
    ]  # one row per epoch: rank 0 writes
    for row, reference in zip(rows[1:], reference_rows[1:]):
        assert row["train_loss"] == pytest.approx(reference["train_loss"], abs=1e-4)
        assert row["heldout_loss"] == pytest.approx(reference["heldout_loss"], abs=1e-4)
    # both ranks took rank 0's decision: the same epoch is kept as the early-stopped model, once (one folder, no
    # leftovers)
    kept, reference_kept = (
        summary["early_stopped"],
        json.loads((reference_run / "hyperfit_run.json").read_text())["early_stopped"],
    )
    assert (kept["epoch"], kept["step"]) == (reference_kept["epoch"], reference_kept["step"])
    assert (output_dir / "early_stopped" / "model.safetensors").is_file()
    assert sorted(path.name for path in output_dir.glob("early_stopped*")) == ["early_stopped"]
