"""The LLM judge's steps in both chains: the judge each option makes, the command line of each backend, and the
judge steps of hyperfit-reproduce (run, re-used, or skipped with ``--judge none``) on fake steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperfit_tasks.chains import steps
from hyperfit_tasks.chains.steps import Judge, judge_argv, make_judge
from hyperfit_tasks.cli import reproduce


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.fixture
def chat_templates(monkeypatch):
    """Local judges under /chat/ have a chat template, others none (no tokenizer is loaded)."""
    monkeypatch.setattr(steps, "has_chat_template", lambda model: model.startswith("/chat/"))


def test_each_backend_gets_its_task_its_model_args_and_its_chat_format(chat_templates):
    assert make_judge("/chat/judge", "hf") == Judge(
        "hf", "pretrained=/chat/judge,dtype=float32", "hyperfit_judge_logprob", True
    )
    assert make_judge("pretrained=/plain/judge,dtype=bfloat16", "vllm") == Judge(
        "vllm", "pretrained=/plain/judge,dtype=bfloat16", "hyperfit_judge_logprob", False
    )
    assert make_judge("model=m,base_url=http://localhost:8000/v1/chat/completions", "local-chat-completions") == Judge(
        "local-chat-completions", "model=m,base_url=http://localhost:8000/v1/chat/completions", "hyperfit_judge", True
    )
    assert make_judge("gpt-4o-mini", "openai-chat-completions") == Judge(
        "openai-chat-completions", "model=gpt-4o-mini", "hyperfit_judge", True
    )
    # a local judge may be asked to generate its answer too; none means no judge at all
    assert (
        make_judge("/plain/judge", "hf", "hyperfit_judge").task == "hyperfit_judge"
        and make_judge("none", "hf") is None
    )


def test_the_default_judge_is_the_embedded_model_in_its_chat_format(monkeypatch, chat_templates):
    import hyperfit_tasks.assets

    monkeypatch.setattr(hyperfit_tasks.assets, "default_model_path", lambda: Path("/chat/SmolLM2-135M-Instruct-fp32"))
    judge = make_judge(None, "hf")
    assert judge == Judge(
        "hf", "pretrained=/chat/SmolLM2-135M-Instruct-fp32,dtype=float32", "hyperfit_judge_logprob", True
    )
    assert judge.model == "/chat/SmolLM2-135M-Instruct-fp32"


def test_a_chat_api_asked_for_log_probabilities_is_one_line_before_any_step(tmp_path, monkeypatch, capsys):
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", lambda title, argv: calls.append(argv))
    argv = [
        "--model",
        "/models/base",
        "--output-dir",
        str(tmp_path),
        "--judge",
        "gpt-4o-mini",
        "--judge-backend",
        "openai-chat-completions",
    ]
    assert reproduce.main([*argv, "--judge-task", "hyperfit_judge_logprob"]) == 1 and calls == []
    assert capsys.readouterr().err == (
        "hyperfit-reproduce: error: openai-chat-completions gives no log-probabilities of a prompt: use --judge-task "
        "hyperfit_judge (or auto) with it\n"
    )


def test_judge_command_lines_per_backend(tmp_path):
    samples, folder = tmp_path / "lm_eval" / "base", tmp_path / "judge" / "base"
    local = judge_argv(
        Judge("hf", "pretrained=/j", "hyperfit_judge_logprob", True), samples, folder, "cuda", "32", "/cache/j"
    )
    assert local[1:] == [
        "--model", "hf", "--model_args", "pretrained=/j", "--use_cache", "/cache/j",
        "--tasks", "hyperfit_judge_logprob", "--device", "cuda", "--batch_size", "32", "--apply_chat_template",
        "--bootstrap_iters", steps.BOOTSTRAP_ITERS, "--log_samples", "--output_path", str(folder),
        "--metadata", json.dumps({"samples": str(samples)}),
    ]  # fmt: skip
    # the sanity control: the same samples, each continuation replaced by a degenerate loop
    control = judge_argv(
        Judge("vllm", "pretrained=/j", "hyperfit_judge_logprob", False), samples, folder, "cuda", "auto", None, "loop"
    )
    assert json.loads(option(control, "--metadata")) == {"samples": str(samples), "control": "loop"}
    assert (
        option(control, "--model") == "vllm"
        and "--apply_chat_template" not in control
        and "--use_cache" not in control
    )
    # an API judge: no device, one request at a time, messages through the chat format, no --limit (every continuation)
    api = judge_argv(
        Judge("openai-chat-completions", "model=gpt-4o-mini", "hyperfit_judge", True),
        samples,
        folder,
        "cpu",
        "32",
        None,
    )
    assert option(api, "--model") == "openai-chat-completions" and option(api, "--tasks") == "hyperfit_judge"
    assert (
        "--device" not in api
        and option(api, "--batch_size") == "1"
        and "--apply_chat_template" in api
        and "--limit" not in api
    )


def fake_step(calls: list[list[str]]):
    """A run_step that records each command and leaves what the real one would leave (what the chain reads back)."""

    def run_step(title: str, argv: list[str]) -> None:
        calls.append(argv)
        script = Path(argv[0]).name
        if script == "hyperfit-train":
            run_dir = Path(option(argv, "--output_dir"))
            (run_dir / "early_stopped").mkdir(parents=True)
            (run_dir / "hyperfit_run.json").write_text("{}")
        elif script in ("hyperfit-temperature", "hyperfit-agreement"):
            Path(option(argv, "--json")).parent.mkdir(parents=True, exist_ok=True)
            Path(option(argv, "--json")).write_text(json.dumps({"temperature": 0.5, "top1_agreement": 0.7}))
        elif script == "hyperfit-lm-eval":
            folder = Path(option(argv, "--output_path")) / "model"
            folder.mkdir(parents=True)
            task = option(argv, "--tasks").split(",")[0]
            (folder / "results_2026-01-01T00-00-00.json").write_text(
                json.dumps({"results": {task: {"judge_pref_or_equal,none": 0.1}}})
            )
        elif script == "hyperfit-compare":
            Path(option(argv, "--out")).mkdir(parents=True, exist_ok=True)
            (Path(option(argv, "--out")) / "table.json").write_text("{}")

    return run_step


@pytest.fixture
def fake_chain(monkeypatch, chat_templates):
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", fake_step(calls))
    monkeypatch.setattr(reproduce, "pydoc_train", lambda: "/corpora/pydoc/train.jsonl")
    return calls


def test_reproduce_judges_both_runs_and_the_loop_control_then_compares_the_two(tmp_path, fake_chain, capsys):
    argv = ["--model", "/models/base", "--output-dir", str(tmp_path), "--judge", "/chat/judge"]
    assert reproduce.main(argv) == 0
    judged = [call for call in fake_chain if "hyperfit_judge_logprob" in call]
    assert [option(call, "--output_path") for call in judged] == [
        str(tmp_path / "judge" / name) for name in ("base", "hyperfitted", "loop-control")
    ]
    assert [json.loads(option(call, "--metadata")) for call in judged] == [
        {"samples": str(tmp_path / "lm_eval" / "base")}, {"samples": str(tmp_path / "lm_eval" / "hyperfitted")},
        {"samples": str(tmp_path / "lm_eval" / "base"), "control": "loop"},
    ]  # fmt: skip
    assert all(
        option(call, "--model_args") == "pretrained=/chat/judge,dtype=float32" and "--apply_chat_template" in call
        for call in judged
    )
    # the judge's comparison is the last, of its own (claim 10's Holm family holds only the judge's runs)
    judge_compare = fake_chain[-1]
    assert judge_compare[1:3] == [f"{tmp_path / 'judge' / name}={name}" for name in ("base", "hyperfitted")]
    assert option(judge_compare, "--baseline") == "base" and option(judge_compare, "--out") == str(
        tmp_path / "compare" / "judge"
    )
    settings = json.loads((tmp_path / "report" / "claims.json").read_text())["settings"]
    assert settings["judge"] == {"backend": "hf", "model_args": "pretrained=/chat/judge,dtype=float32",
                                 "task": "hyperfit_judge_logprob", "chat_template": True}  # fmt: skip
    # a re-run re-uses every step, the judge's included
    fake_chain.clear()
    assert reproduce.main(argv) == 0 and fake_chain == []


def test_reproduce_without_a_judge_runs_no_judge_step(tmp_path, fake_chain):
    assert reproduce.main(["--model", "/models/base", "--output-dir", str(tmp_path), "--judge", "none"]) == 0
    assert not any("hyperfit_judge" in " ".join(call) for call in fake_chain) and not (tmp_path / "judge").exists()
    assert [option(call, "--out") for call in fake_chain if Path(call[0]).name == "hyperfit-compare"] == [
        str(tmp_path / "compare" / title) for title in ("main", "decoding", "control")
    ]
    claims = json.loads((tmp_path / "report" / "claims.json").read_text())
    assert claims["settings"]["judge"] is None and claims["claims"][9]["basis"].startswith(
        "no judge run (--judge none"
    )


def test_an_earlier_output_folder_runs_only_the_judge_steps(tmp_path, fake_chain):
    """A folder reproduced before the judge existed (--judge none here) gets the three judge runs and their comparison
    only."""
    argv = ["--model", "/models/base", "--output-dir", str(tmp_path)]
    assert reproduce.main([*argv, "--judge", "none"]) == 0
    fake_chain.clear()
    assert reproduce.main([*argv, "--judge", "/chat/judge"]) == 0
    assert [Path(call[0]).name for call in fake_chain] == ["hyperfit-lm-eval"] * 3 + ["hyperfit-compare"]


def test_reproduce_evaluates_through_the_vllm_python_but_the_blocked_run(tmp_path, monkeypatch):
    """``hyperfit-reproduce --eval-backend vllm``: every plain evaluation runs lm-eval's vllm model through the vLLM
    Python (``enforce_eager=True`` on a CPU); the citation-blocked run is hyperfit's own HF model, in this venv."""
    import argparse

    from hyperfit_tasks.cli import reproduce
    from hyperfit_tasks.common.run_files import EARLY_STOPPED_DIR

    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", lambda title, argv: calls.append(argv))
    (tmp_path / "hyperfitted" / EARLY_STOPPED_DIR).mkdir(parents=True)
    args = argparse.Namespace(eval_backend="vllm", vllm_python="/venvs/vllm/bin/python", max_gen_toks=8, device="cpu")
    folders = reproduce.evaluate(args, steps.Precision("bf16", "64"), tmp_path, "/models/base", 3, "0.800")
    assert len(calls) == len(folders) == 9
    for call in calls:
        name = Path(option(call, "--output_path")).name
        if name == "hyperfitted-blocked":
            assert Path(call[0]).name == "hyperfit-lm-eval" and option(call, "--model") == "hf-citation-blocked"
            assert "enforce_eager" not in option(call, "--model_args")
        else:
            assert call[:3] == ["/venvs/vllm/bin/python", "-m", "hyperfit_tasks.cli.lm_eval"], name
            assert option(call, "--model") == "vllm"
            assert option(call, "--model_args").endswith(",dtype=bfloat16,enforce_eager=True"), name
