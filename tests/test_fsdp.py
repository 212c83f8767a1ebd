"""FSDP's bound on CPU: accelerate (1.x) enables FSDP only on GPUs, so an FSDP v2 launch on 2 CPU
processes would train as plain DDP; hyperfit-train stops it with one line before writing anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TRAIN_ENV, free_port, tiny_argv

ACCELERATE = str(Path(sys.executable).parent / "accelerate")
FSDP2_ON_CPU = """\
compute_environment: LOCAL_MACHINE
distributed_type: FSDP
num_machines: 1
num_processes: 2
mixed_precision: 'no'
use_cpu: true
fsdp_config:
  fsdp_version: 2
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_transformer_layer_cls_to_wrap: LlamaDecoderLayer
  fsdp_state_dict_type: SHARDED_STATE_DICT
  fsdp_reshard_after_forward: true
  fsdp_offload_params: false
  fsdp_cpu_ram_efficient_loading: false
"""


@pytest.mark.slow
def test_fsdp_on_cpu_processes_stops_with_one_line_instead_of_training_as_ddp(tmp_path, tiny_lm_path, corpus):
    config = tmp_path / "fsdp2_cpu.yaml"
    config.write_text(FSDP2_ON_CPU)
    output_dir = tmp_path / "fsdp"
    launcher = [ACCELERATE, "launch", "--config_file", str(config), "--main_process_port", str(free_port())]
    argv = launcher + [
        "-m",
        "hyperfit_train.cli",
        *tiny_argv(tiny_lm_path, *corpus, output_dir, "--per_device_train_batch_size", "2"),
    ]
    result = subprocess.run(argv, env=TRAIN_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    # each rank says why on one line (both ranks write to one pipe, so a line may start mid-line)
    reasons = result.stderr.split("hyperfit-train: error: ")[1:]
    assert reasons, result.stderr[-3000:]
    for reason in reasons:
        assert reason.startswith(
            "FSDP was requested but accelerate runs these 2 process(es) as MULTI_CPU, without FSDP (accelerate "
            "enables FSDP only on GPUs or other accelerators): drop the FSDP config and use DDP (torchrun) on CPU, or "
            "launch on GPUs\n"
        ), reason[:300]
    assert not (output_dir / "hyperfit_run.json").exists() and not list(output_dir.glob("checkpoint-*"))
