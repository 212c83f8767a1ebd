"""Precision: bf16 where the hardware multiplies bf16 natively, fp32 where it does not
(hyperfit_tasks.common.precision), hyperfit-train's --precision, and a bf16 run of the tiny recipe that still
hyperfits."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from transformers import TrainerCallback

from hyperfit_tasks.common.errors import HyperfitError
from hyperfit_tasks.common.json_rows import read_rows
from hyperfit_tasks.common.precision import BF16_OVERRIDE, bf16_support, lm_eval_dtype, resolve_precision
from hyperfit_train import cli
from hyperfit_train.config import parse_args
from hyperfit_train.trainer import train

from helpers import tiny_argv

NO_BF16_CPU = {"architecture": "x86_64", "avx512_f": True, "avx512_bf16": False, "amx_bf16": False}


@pytest.fixture
def detected(monkeypatch):
    """Set the detection's answer: ``detected(True)`` / ``detected(False)`` through HYPERFIT_BF16."""
    return lambda supported: monkeypatch.setenv(BF16_OVERRIDE, "1" if supported else "0")


@pytest.mark.parametrize(
    ("capabilities", "supported", "found"),
    [
        (NO_BF16_CPU | {"avx512_bf16": True}, True, "AVX512-BF16 CPU"),  # AMD Zen 4, Intel Cooper Lake: no AMX needed
        (NO_BF16_CPU | {"amx_bf16": True, "avx512_bf16": True}, True, "AMX-BF16 and AVX512-BF16 CPU"),
        (NO_BF16_CPU, False, "x86_64 CPU without AMX-BF16 or AVX512-BF16"),  # AVX-512 alone: oneDNN would emulate bf16
        ({"architecture": "aarch64"}, False, "aarch64 CPU without AMX-BF16 or AVX512-BF16"),
    ],
)
def test_cpu_detection_reads_torchs_capability_flags(monkeypatch, capabilities, supported, found):
    monkeypatch.delenv(BF16_OVERRIDE, raising=False)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert bf16_support("cpu") == (support := bf16_support(torch.device("cpu")))
    assert (support.supported, support.found) == (supported, found)
    assert resolve_precision("auto", "cpu") == ("bf16" if supported else "fp32")


def test_the_environment_variable_forces_the_detection_and_a_bad_value_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: NO_BF16_CPU)
    monkeypatch.setenv(BF16_OVERRIDE, "1")
    assert bf16_support("cpu").supported and bf16_support("cpu").found == "forced by HYPERFIT_BF16=1"
    monkeypatch.setenv(BF16_OVERRIDE, "yes")
    with pytest.raises(HyperfitError, match=r"^HYPERFIT_BF16 must be 1 \(bf16 supported\) or 0 \(not\), got 'yes'"):
        resolve_precision("auto", "cpu")


def test_a_device_without_native_bf16_is_not_assumed_to_have_it(monkeypatch):
    monkeypatch.delenv(BF16_OVERRIDE, raising=False)
    assert bf16_support("meta") == bf16_support("meta:0")
    assert not bf16_support("meta").supported and resolve_precision("auto", "meta") == "fp32"
    with pytest.raises(HyperfitError, match="meta device"):
        resolve_precision("bf16", "meta")


@pytest.mark.parametrize("supported", [True, False])
def test_precision_choice_with_and_without_bf16_support(detected, supported):
    detected(supported)
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("auto", "cpu") == ("bf16" if supported else "fp32")
    if supported:
        assert resolve_precision("bf16", "cpu") == "bf16"
    else:
        with pytest.raises(
            HyperfitError, match=r"^--precision bf16: no native bf16 .* \(which picks fp32 on this machine\)$"
        ):
            resolve_precision("bf16", "cpu")
    with pytest.raises(HyperfitError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        resolve_precision("fp16", "cpu")


def test_lm_eval_dtype_of_each_resolved_precision():
    assert (lm_eval_dtype("fp32"), lm_eval_dtype("bf16")) == ("float32", "bfloat16")
    with pytest.raises(HyperfitError, match="resolve 'auto' first"):
        lm_eval_dtype("auto")


@pytest.mark.parametrize("supported", [True, False])
def test_train_auto_sets_trainings_bf16_mixed_precision_only_with_support(detected, supported):
    detected(supported)
    script_args, training_args, model_args = parse_args(["--use_cpu", "--precision", "auto"])
    assert script_args.precision == "auto" and model_args.dtype == "float32"  # float32 master weights either way
    assert training_args.bf16 is supported and training_args.mixed_precision == ("bf16" if supported else "no")
    # the paper's recipe keeps the authors' fp32; the demo preset (and the chains) take bf16 where it is native
    script_args, training_args, _ = parse_args(["--use_cpu", "--preset", "paper"])
    assert script_args.precision == "fp32" and training_args.bf16 is False and training_args.mixed_precision == "no"
    script_args, training_args, _ = parse_args(["--use_cpu", "--preset", "demo"])
    assert script_args.precision == "auto" and training_args.bf16 is supported


def test_bf16_true_is_a_request_for_bf16(detected):
    detected(True)
    script_args, training_args, _ = parse_args(["--use_cpu", "--bf16", "true"])
    assert script_args.precision == "bf16" and training_args.bf16 is True and training_args.mixed_precision == "bf16"
    with pytest.raises(HyperfitError, match=r"^--precision bf16 and --fp16 true ask for two precisions"):
        parse_args(["--use_cpu", "--precision", "bf16", "--fp16", "true"])


@pytest.mark.parametrize(
    ("option", "named"), [(["--precision", "bf16"], "--precision bf16"), (["--bf16", "true"], "--bf16 true")]
)
def test_bf16_without_support_is_a_one_line_cli_error_and_writes_nothing(detected, tmp_path, capsys, option, named):
    detected(False)
    output_dir = tmp_path / "run"
    assert cli.main(["--use_cpu", "--output_dir", str(output_dir), *option]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"hyperfit-train: error: {named}: no native bf16 matrix multiply here (forced by HYPERFIT_BF16=0), so torch "
        "would emulate bf16, slower than fp32: use --precision fp32, or --precision auto (which picks fp32 on this "
        "machine)\n"
    )
    assert not output_dir.exists()


class LinearOutputDtypes(TrainerCallback):
    """Records the dtype of the LM head's output in every training forward pass (bf16 under bf16 autocast)."""

    def __init__(self):
        self.dtypes = set()

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        model.get_output_embeddings().register_forward_hook(
            lambda module, inputs, output: self.dtypes.add(output.dtype) if module.training else None
        )


def test_tiny_recipe_in_bf16_reaches_the_near_zero_loss_and_records_bf16(detected, tmp_path, tiny_lm_path, corpus):
    """bf16 forced on, so this runs on any machine (torch emulates bf16 where the CPU lacks it): the paper preset on
    the tiny model for 40 epochs, as tests/test_train.py's fp32 run, reaches the same training loss below 0.1."""
    detected(True)
    output_dir = tmp_path / "bf16"
    argv = tiny_argv(
        tiny_lm_path,
        *corpus,
        output_dir,
        "--num_train_epochs",
        "40",
        "--precision",
        "bf16",
        "--diagnostic_generation_every",
        "40",
    )
    dtypes = LinearOutputDtypes()
    summary = train(*parse_args(argv), callbacks=(dtypes,))
    assert dtypes.dtypes == {torch.bfloat16}  # the matrix multiplies ran in bf16 ...
    with safe_open(output_dir / "model.safetensors", "pt") as weights:  # ... on float32 master weights
        assert {weights.get_tensor(name).dtype for name in weights.keys()} == {torch.float32}
    rows = read_rows(output_dir / "diagnostics.jsonl")
    assert rows[1]["train_loss"] > 5.0 and rows[-1]["train_loss"] < 0.1
    record = json.loads((output_dir / "hyperfit_run.json").read_text())
    assert record["training"]["hyperfitted"] is True and record["training"]["final_train_loss"] < 0.1
    assert {key: record["training"][key] for key in ("precision", "precision_requested", "bf16_support")} == {
        "precision": "bf16", "precision_requested": "bf16", "bf16_support": "forced by HYPERFIT_BF16=1",
    }  # fmt: skip
    assert record["arguments"]["training"]["bf16"] is True and summary["training"]["precision"] == "bf16"
    assert (
        "Precision: bf16 mixed precision (bf16 matrix multiplies, float32 master weights and optimizer state); asked "
        "for "
        "`--precision bf16`, bf16 detection: forced by HYPERFIT_BF16=1." in (output_dir / "README.md").read_text()
    )
