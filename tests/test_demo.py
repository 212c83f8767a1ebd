"""hyperfit-demo's wiring: the step commands, their order, re-use of finished steps, the sharpening and answer
tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperfit_tasks.chains import steps
from hyperfit_tasks.cli import demo
from hyperfit_tasks.common.errors import HyperfitError

DIAGNOSTICS_BEFORE = {
    "heldout_perplexity": 60.294, "top1_prob": 0.31794, "top1_prob_correct": 0.6118, "top1_prob_wrong": 0.2391,
    "ece": 0.0512, "entropy": 3.5977, "ttr_last96": 0.2526,
}  # fmt: skip
DIAGNOSTICS_AFTER = {"heldout_perplexity": 75.5, "top1_prob": 0.52, "entropy": 2.25, "ttr_last96": None}


# what each fake step "measures": the temperature and agreement per hyperfitted run, a TTR per evaluated model
TEMPERATURES = {"hyperfitted-n8": 0.8123, "hyperfitted-n16": 0.6}
AGREEMENTS = {"hyperfitted-n8": 0.75, "hyperfitted-n16": 0.5}


# the judge's preferred-or-equal share of each judged run's continuations
JUDGED = {"base": 0.125, "hyperfitted-n8": 0.375, "hyperfitted-n16": 0.5}


def fake_ttr(folder: Path) -> float:
    return {"base": 0.1, "hyperfitted-n8": 0.4, "hyperfitted-n16": 0.5, "early-stopped-n8": 0.15}.get(folder.name, 0.2)


def fake_results(output_path: Path, group: str) -> dict:
    """lm-eval's results of one fake evaluation: a judge run's preferred-or-equal share, else a TTR that names the
    model."""
    if group.startswith("hyperfit_judge"):
        consistency = 0.5 if output_path.name == "hyperfitted-n16" else 0.75
        return {group: {"judge_pref_or_equal,none": JUDGED[output_path.name], "judge_pref_or_equal_stderr,none": 0.05,
                        "judge_position_consistency,none": consistency, "judge_unparseable,none": 0.0}}  # fmt: skip
    return {group: {"ttr,none": fake_ttr(output_path), "ttr_stderr,none": 0.01, "stopped_early,none": 0.25}}


def answer_row(name: str, decoding: str, ttr: str, judged: str, agreement: str) -> str:
    """A row of the answer table where the fake evaluation measured TTR and stopped early (0.25) only."""
    measured = {"ttr": ttr, "stopped_early": "0.250"}
    cells = [measured.get(metric.name, "") for metric in demo.ANSWER_COLUMNS]
    return f"| {name} | {decoding} | " + " | ".join([*cells, judged, agreement]) + " |"


def fake_step(calls: list[list[str]]):
    """A run_step that records each command and leaves the output the real command would leave."""

    def run_step(title: str, argv: list[str]) -> None:
        calls.append(argv)
        script = Path(argv[0]).name
        if "--output_dir" in argv:  # hyperfit-train
            run_dir = Path(argv[argv.index("--output_dir") + 1])
            run_dir.mkdir(parents=True)
            record = {"initial_diagnostics": DIAGNOSTICS_BEFORE, "final_diagnostics": DIAGNOSTICS_AFTER}
            (run_dir / "hyperfit_run.json").write_text(json.dumps(record))
            (run_dir / "early_stopped").mkdir()  # the epoch of lowest held-out loss, kept by hyperfit-train
            (run_dir / "early_stopped" / "hyperfit_early_stopped.json").write_text(
                json.dumps({"epoch": 1, "step": 6, "heldout_loss": 3.6651})
            )
        elif "--output_path" in argv:  # lm-eval: group results with a TTR (and stderr) that names the model
            output_path = Path(argv[argv.index("--output_path") + 1])
            folder = output_path / "model"
            folder.mkdir(parents=True)
            results = fake_results(output_path, argv[argv.index("--tasks") + 1].split(",")[0])
            (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps({"results": results}))
        elif script == "hyperfit-compare":  # the table that tells a re-run the comparison is done
            report = Path(argv[argv.index("--out") + 1])
            report.mkdir(parents=True, exist_ok=True)
            (report / "table.json").write_text("{}")
        elif script in ("hyperfit-temperature", "hyperfit-agreement"):
            name = Path(argv[2]).name
            record = (
                {"temperature": TEMPERATURES[name], "temperature_ci95": [0.5, 0.9], "base_entropy": 3.6,
                 "base_entropy_at_temperature": 2.25, "hyperfitted_entropy": 2.2534}
                if script == "hyperfit-temperature" else {"top1_agreement": AGREEMENTS[name]}
            )  # fmt: skip
            path = Path(argv[argv.index("--json") + 1])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))

    return run_step


def test_demo_runs_each_step_once_then_reuses_it(tmp_path, monkeypatch, capsys):
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", fake_step(calls))
    monkeypatch.setattr(steps, "has_chat_template", lambda model: model == "/models/judge")
    argv = [
        "--model",
        "/models/base",
        "--train-samples",
        "8,16",
        "--output-dir",
        str(tmp_path),
        "--limit",
        "3",
        "--judge",
        "/models/judge",
    ]

    assert demo.main(argv) == 0
    scripts = [Path(call[0]).name for call in calls]
    matched = ["hyperfit-temperature", "hyperfit-lm-eval", "hyperfit-agreement"]
    judged = ["hyperfit-lm-eval"] * 3  # the judge on the base's and each hyperfitted model's greedy continuations
    assert (
        scripts == ["hyperfit-train"] * 2 + ["hyperfit-lm-eval"] * 5 + matched * 2 + judged + ["hyperfit-compare"] * 2
    )
    judge_base, judge_8, _ = calls[13:16]
    assert (
        option(judge_base, "--model") == "hf"
        and option(judge_base, "--model_args") == "pretrained=/models/judge,dtype=float32"
    )
    assert (
        option(judge_base, "--tasks") == "hyperfit_judge_logprob"
        and "--apply_chat_template" in judge_base
        and "--limit" not in judge_base
    )
    assert json.loads(option(judge_8, "--metadata")) == {"samples": str(tmp_path / "lm_eval" / "hyperfitted-n8")}
    assert option(judge_8, "--output_path") == str(tmp_path / "judge" / "hyperfitted-n8")
    # the judge's runs get a comparison of their own, each hyperfitted model's against the base's
    judge_compare = calls[-1]
    assert judge_compare[1:4] == [
        f"{tmp_path / 'judge' / name}={name}" for name in ("base", "hyperfitted-n8", "hyperfitted-n16")
    ]
    assert option(judge_compare, "--baseline") == "base" and option(judge_compare, "--out") == str(
        tmp_path / "judge" / "report"
    )
    compare = calls[-2]
    assert compare[compare.index("--same-prompts") + 1] == "hyperfit_continuation_top_p=hyperfit_continuation"
    train_8 = calls[0]
    assert (
        train_8[train_8.index("--num_samples") + 1] == "8" and train_8[train_8.index("--model") + 1] == "/models/base"
    )
    evaluate_16 = calls[4]
    assert (
        evaluate_16[evaluate_16.index("--model_args") + 1]
        == f"pretrained={tmp_path / 'hyperfitted-n16'},dtype=float32"
    )
    assert (
        evaluate_16[evaluate_16.index("--tasks") + 1] == demo.TASKS
        and evaluate_16[evaluate_16.index("--limit") + 1] == "3"
    )
    assert json.loads(evaluate_16[evaluate_16.index("--metadata") + 1]) == {
        "training_data": str(tmp_path / "hyperfitted-n16")
    }
    assert "--metadata" not in calls[2]  # the base model has no training data of its own
    early_8 = calls[5]  # each run's early-stopped model, on the continuation tasks only
    assert (
        early_8[early_8.index("--model_args") + 1]
        == f"pretrained={tmp_path / 'hyperfitted-n8' / 'early_stopped'},dtype=float32"
    )
    assert early_8[early_8.index("--tasks") + 1] == "hyperfit_continuation" and "--metadata" not in early_8
    assert early_8[early_8.index("--output_path") + 1] == str(tmp_path / "lm_eval" / "early-stopped-n8")
    temperature_8, matched_8, agreement_8 = calls[7:10]
    assert temperature_8[1:3] == ["/models/base", str(tmp_path / "hyperfitted-n8")]
    assert agreement_8[1:3] == ["/models/base", str(tmp_path / "hyperfitted-n8")]
    # the base model, sampled at the rounded matched temperature on the top-p group's (the greedy group's) prompts
    assert matched_8[matched_8.index("--model_args") + 1] == "pretrained=/models/base,dtype=float32"
    assert matched_8[matched_8.index("--tasks") + 1] == "hyperfit_continuation_top_p"
    assert matched_8[matched_8.index("--gen_kwargs") + 1] == "max_gen_toks=256,temperature=0.812,top_p=1.0,top_k=0"
    assert matched_8[matched_8.index("--seed") + 1] == "1234" and matched_8[matched_8.index("--limit") + 1] == "3"
    for evaluation in (evaluate_16, matched_8):  # lm-eval's own stderr needs no 100,000-draw bootstrap here
        assert evaluation[evaluation.index("--bootstrap_iters") + 1] == steps.BOOTSTRAP_ITERS
        assert evaluation[evaluation.index("--batch_size") + 1] == steps.BATCH_SIZES["fp32"]
    assert (
        "--seed" not in train_8 and option(train_8, "--precision") == "fp32"
    )  # auto, on a machine without bf16 (conftest)
    assert matched_8[matched_8.index("--output_path") + 1] == str(tmp_path / "lm_eval" / "base-T0.812")
    names = (
        "base",
        "hyperfitted-n8",
        "hyperfitted-n16",
        "early-stopped-n8",
        "early-stopped-n16",
        "base-T0.812",
        "base-T0.600",
    )
    assert compare[1:8] == [f"{tmp_path / 'lm_eval' / name}={name}" for name in names]
    assert compare[compare.index("--baseline") + 1] == "base"
    caches = [Path(call[call.index("--use_cache") + 1]) for call in calls[2:7]]  # one request cache per model
    assert len(set(caches)) == 5 and {cache.parent for cache in caches} == {tmp_path / "lm_eval_cache"}
    table = capsys.readouterr().out.split("entropy-matched temperature (hyperfit_continuation")[-1].splitlines()
    labels = " | ".join(
        metric.label for metric in demo.ANSWER_COLUMNS
    )  # TTR, TTR-96, MSTTR, rep-4, stopped early, tokens, ...
    assert table[1] == f"| model | decoding | {labels} | preferred or equal (judge) | top-1 agreement with base |"
    alignment = (
        table[2].strip("| ").split(" | ")
    )  # model and decoding left-aligned, the measured columns right-aligned
    assert len(alignment) == 4 + len(demo.ANSWER_COLUMNS) and not any(cell.endswith(":") for cell in alignment[:2])
    assert all(cell.endswith(":") and set(cell) == {"-", ":"} for cell in alignment[2:])
    assert table[3] == answer_row("base", "greedy", "0.100 ± 0.010", "0.125 ± 0.050", "")
    assert table[4] == answer_row(
        "early-stopped-n8", "greedy (epoch 1: lowest held-out loss 3.665)", "0.150 ± 0.010", "", ""
    )
    assert table[5] == answer_row("hyperfitted-n8", "greedy", "0.400 ± 0.010", "0.375 ± 0.050", "0.750")
    assert table[6] == answer_row(
        "base-T0.812", "sampled T=0.812 (entropy of hyperfitted-n8)", "0.200 ± 0.010", "", ""
    )
    assert table[7].startswith("| early-stopped-n16 | greedy (epoch 1")
    assert table[8] == answer_row("hyperfitted-n16", "greedy", "0.500 ± 0.010", "0.500 ± 0.050", "0.500")
    assert table[9].startswith("| base-T0.600 | sampled T=0.600 (entropy of hyperfitted-n16) |")
    assert "hyperfitted-n8: entropy-matched T = 0.812 (95% interval 0.500-0.900 over held-out blocks)" in "\n".join(
        table
    )
    # the judge's trust figures close the table: hyperfitted-n16's verdicts flip with the order in half of the prompts
    assert table[-3] == (
        "judge's position consistency and unparseable share: base 0.75, 0.0%; hyperfitted-n8 0.75, 0.0%; "
        "hyperfitted-n16 0.50, 0.0%; outside the trust thresholds (consistency >= 0.6, unparseable <= 20%): its "
        "preferences say little (a judge that answers by position alone finds every text preferred or equal in half "
        "of the judgments)"
    )

    calls.clear()
    assert demo.main(argv) == 0
    assert [Path(call[0]).name for call in calls] == [
        "hyperfit-compare"
    ]  # the judge's comparison is newer than its runs
    assert "already done" in capsys.readouterr().out


def test_demo_without_a_judge_runs_no_judge_step_and_has_no_judge_column(tmp_path, monkeypatch, capsys):
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", fake_step(calls))
    assert (
        demo.main(
            ["--model", "/models/base", "--train-samples", "8", "--output-dir", str(tmp_path), "--judge", "none"]
        )
        == 0
    )
    assert [Path(call[0]).name for call in calls][-2:] == ["hyperfit-agreement", "hyperfit-compare"]
    assert not any("hyperfit_judge" in " ".join(call) for call in calls) and not (tmp_path / "judge").exists()
    assert "preferred or equal" not in capsys.readouterr().out


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_sharpening_table_shows_before_and_after_each_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "hyperfit_run.json").write_text(
        json.dumps({"initial_diagnostics": DIAGNOSTICS_BEFORE, "final_diagnostics": DIAGNOSTICS_AFTER})
    )
    lines = demo.sharpening_table({"hyperfitted-n8": run_dir}).splitlines()
    assert lines[0] == (
        "| model | held-out ppl | top-1 prob | top-1 prob when right | top-1 prob when wrong | ECE | entropy (nats) | "
        "greedy TTR last 96 |"
    )
    # written by pytablewriter: the separator row spans each column, the numbers right-aligned
    assert lines[1] == (
        "| -------------- | -----------: | ---------: | --------------------: | --------------------: | ----: | "
        "-------------: | -----------------: |"
    )
    assert lines[2] == "| before (base) | 60.29 | 0.318 | 0.612 | 0.239 | 0.051 | 3.598 | 0.253 |"
    # a missing value is an empty cell, as are the top-1 split and ECE of a record written before diagnostics had them
    assert lines[3] == "| hyperfitted-n8 | 75.50 | 0.520 |  |  |  | 2.250 |  |"


def test_demo_passes_its_training_seed_on(tmp_path, monkeypatch):
    """``hyperfit-demo --seed 7`` trains with ``--seed 7`` (a second training seed, e.g. to see which conclusions
    hold)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", fake_step(calls))
    assert (
        demo.main(
            [
                "--model",
                "/models/base",
                "--train-samples",
                "8",
                "--output-dir",
                str(tmp_path),
                "--seed",
                "7",
                "--judge",
                "none",
            ]
        )
        == 0
    )
    (train,) = [call for call in calls if Path(call[0]).name == "hyperfit-train"]
    assert train[train.index("--seed") + 1] == "7"


def test_demo_in_bf16_trains_and_evaluates_in_bf16_and_never_mixes_in_fp32_runs(tmp_path, monkeypatch, capsys):
    """Where bf16 is native, ``--precision auto`` trains in bf16 mixed precision and runs every lm-eval model, the
    judge included, with ``dtype=bfloat16`` at the bf16 batch size; re-running on that folder in fp32 is one line, not
    a mix."""
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", fake_step(calls))
    monkeypatch.setattr(steps, "has_chat_template", lambda model: True)
    monkeypatch.setenv("HYPERFIT_BF16", "1")
    argv = [
        "--model",
        "/models/base",
        "--train-samples",
        "8",
        "--output-dir",
        str(tmp_path),
        "--judge",
        "/models/judge",
    ]
    assert demo.main(argv) == 0
    (train,) = [call for call in calls if Path(call[0]).name == "hyperfit-train"]
    assert option(train, "--precision") == "bf16"
    evaluations = [call for call in calls if Path(call[0]).name == "hyperfit-lm-eval"]
    assert (
        len(evaluations) == 6
    )  # base, hyperfitted, early-stopped, sampled base, and the judge on base and on hyperfitted
    assert all(option(call, "--model_args").endswith(",dtype=bfloat16") for call in evaluations)
    assert (
        {option(call, "--batch_size") for call in evaluations}
        == {steps.BATCH_SIZES["bf16"]}
        != {steps.BATCH_SIZES["fp32"]}
    )

    # the fake steps left records that name no precision; make them say bf16 as the real ones do, then ask for fp32
    record = tmp_path / "hyperfitted-n8" / "hyperfit_run.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "training": {"precision": "bf16"}}))
    capsys.readouterr()
    assert demo.main([*argv, "--precision", "fp32"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"hyperfit-demo: error: {tmp_path / 'hyperfitted-n8'} was made in bf16 and this run is in fp32: pass "
        "--precision bf16 to re-use it, or another --output-dir"
    )


def test_a_finished_evaluation_in_another_dtype_is_not_reused(tmp_path):
    """The lm-eval side of the check reads the dtype lm-eval recorded in its results (``config.model_args``)."""
    folder = tmp_path / "lm_eval" / "base" / "model"
    folder.mkdir(parents=True)
    results = {"results": {}, "config": {"model": "hf", "model_args": "pretrained=/models/base,dtype=float32"}}
    (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps(results))
    assert steps.output_precision(tmp_path / "lm_eval" / "base") == "fp32"
    steps.run_step_unless(
        True, tmp_path / "lm_eval" / "base", "3. evaluate base", [], precision="fp32"
    )  # same precision: re-used
    with pytest.raises(
        HyperfitError, match=r"lm_eval/base was made in fp32 and this run is in bf16: pass --precision fp32"
    ):
        steps.run_step_unless(True, tmp_path / "lm_eval" / "base", "3. evaluate base", [], precision="bf16")


def test_bf16_asked_for_without_native_bf16_is_one_line_before_any_step(tmp_path, monkeypatch, capsys):
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", fake_step(calls))
    monkeypatch.setenv("HYPERFIT_BF16", "0")
    assert (
        demo.main(["--model", "/models/base", "--output-dir", str(tmp_path), "--precision", "bf16", "--judge", "none"])
        == 1
    )
    assert calls == []
    error = capsys.readouterr().err.strip()
    assert error.startswith(
        "hyperfit-demo: error: --precision bf16: no native bf16 matrix multiply here (forced by HYPERFIT_BF16=0)"
    )
    assert "\n" not in error and "--precision auto (which picks fp32 on this machine)" in error


def test_each_step_prints_its_wall_time(capsys):
    """The chains' time split: every finished step prints how long it ran (as the model card writes a training
    time)."""
    import sys

    steps.run_step("1. a quick step", [sys.executable, "-c", "pass"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "==> 1. a quick step" and lines[-1] == "==> done in 0m 00s: 1. a quick step"


def test_durations_are_written_as_on_the_model_card():
    from hyperfit_tasks.common.timing import format_duration

    assert [format_duration(s) for s in (None, 0.4, 59.6, 598, 3725)] == [
        "unknown",
        "0m 00s",
        "1m 00s",
        "9m 58s",
        "1h 02m 05s",
    ]


@pytest.fixture
def vllm_env(monkeypatch):
    """The vLLM environment variables unset for the test, and restored (or unset again) afterwards."""
    for name in steps.VLLM_CPU_ENV:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def fake_python(folder: Path, status: int) -> str:
    """An 'interpreter' whose every run exits with ``status`` (0: it has vLLM and hyperfit, as the probe asks)."""
    python = folder / "python"
    python.write_text(f"#!/bin/sh\nexit {status}\n")
    python.chmod(0o755)
    return str(python)


def demo_with_vllm_python(tmp_path, monkeypatch, *options: str) -> tuple[list[list[str]], str]:
    """Run the demo (fake steps, judge ``/models/judge``) with ``options`` and ``--vllm-python`` a Python that has
    vLLM; returns (the steps' command lines, that Python)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", fake_step(calls))
    monkeypatch.setattr(steps, "has_chat_template", lambda model: True)
    python = fake_python(tmp_path, 0)
    argv = ["--model", "/models/base", "--train-samples", "8", "--output-dir", str(tmp_path / "out"), "--limit", "3",
            "--judge", "/models/judge", *options, "--vllm-python", python]  # fmt: skip
    assert demo.main(argv) == 0
    return calls, python


def test_demo_evaluates_through_the_vllm_python(tmp_path, monkeypatch, vllm_env):
    """``--eval-backend vllm --vllm-python P``: every evaluation runs ``P -m hyperfit_tasks.cli.lm_eval --model vllm``
    with ``enforce_eager=True`` on a CPU and vLLM's CPU environment set; training, temperature, agreement, the hf
    judge and the comparisons stay this venv's commands."""
    calls, python = demo_with_vllm_python(tmp_path, monkeypatch, "--eval-backend", "vllm")
    evaluations = [call for call in calls if "--output_path" in call and "hyperfit_judge" not in " ".join(call)]
    assert len(evaluations) == 4  # base, hyperfitted, early-stopped, the entropy-matched sampled base
    for call in evaluations:
        assert call[:3] == [python, "-m", "hyperfit_tasks.cli.lm_eval"] and option(call, "--model") == "vllm"
        assert option(call, "--model_args").endswith(",dtype=float32,enforce_eager=True")
        assert "--use_cache" not in call  # the request cache is keyed by model and settings, not by backend: hf only
    (judge_base, _) = [call for call in calls if "hyperfit_judge_logprob" in call]
    assert Path(judge_base[0]).name == "hyperfit-lm-eval" and option(judge_base, "--model") == "hf"
    assert option(judge_base, "--model_args") == "pretrained=/models/judge,dtype=float32"
    others = {Path(call[0]).name for call in calls if call not in evaluations and call[0] != python}
    assert others == {"hyperfit-train", "hyperfit-temperature", "hyperfit-agreement", "hyperfit-lm-eval",
                      "hyperfit-compare"}  # fmt: skip
    import os

    assert {name: os.environ[name] for name in steps.VLLM_CPU_ENV} == steps.VLLM_CPU_ENV


def test_a_vllm_judge_runs_through_the_vllm_python_too(tmp_path, monkeypatch, vllm_env):
    calls, python = demo_with_vllm_python(tmp_path, monkeypatch, "--judge-backend", "vllm")
    judged = [call for call in calls if "hyperfit_judge_logprob" in call]
    assert len(judged) == 2 and all(call[0] == python and option(call, "--model") == "vllm" for call in judged)
    assert option(judged[0], "--model_args") == "pretrained=/models/judge,dtype=float32,enforce_eager=True"
    evaluations = [call for call in calls if "--output_path" in call and call not in judged]
    assert all(Path(call[0]).name == "hyperfit-lm-eval" and option(call, "--model") == "hf" for call in evaluations)


def test_vllm_on_a_cpu_runs_eager_unless_the_model_args_say_otherwise():
    assert steps.vllm_model_args("vllm", "cpu", "pretrained=/m") == "pretrained=/m,enforce_eager=True"
    assert (
        steps.vllm_model_args("vllm", "cpu", "pretrained=/m,enforce_eager=False")
        == "pretrained=/m,enforce_eager=False"
    )
    assert steps.vllm_model_args("vllm", "cuda", "pretrained=/m") == "pretrained=/m"
    assert steps.vllm_model_args("hf", "cpu", "pretrained=/m") == "pretrained=/m"


@pytest.mark.parametrize("status", [1, None])  # a Python without vLLM (or hyperfit); a path that is no program
def test_vllm_backend_without_vllm_is_one_line_before_training(tmp_path, monkeypatch, capsys, status, vllm_env):
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", fake_step(calls))
    python = fake_python(tmp_path, status) if status is not None else str(tmp_path / "no-such-python")
    argv = ["--model", "/models/base", "--output-dir", str(tmp_path / "out"), "--judge", "none",
            "--eval-backend", "vllm", "--vllm-python", python]  # fmt: skip
    assert demo.main(argv) != 0
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert python in line and ("scripts/vllm_venv.sh" in line if status else "cannot be run" in line)
    assert calls == []  # nothing trained
