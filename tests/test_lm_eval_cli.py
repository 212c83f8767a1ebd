"""``hyperfit-lm-eval``: our task folder joined with the user's, and one-line errors for common mistakes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from hyperfit_tasks.cli import lm_eval as lm_eval_cli
from hyperfit_tasks.cli.lm_eval import include_paths, user_include_path
from hyperfit_tasks.cli.tasks_path import task_configs_dir
from hyperfit_tasks.common.errors import HyperfitError

from helpers import TASK_NAME, write_continuation_task


@pytest.fixture(scope="module")
def my_tasks(tmp_path_factory, english_text) -> Path:
    """A user's task folder holding ``my_continuation`` (our template on three long paragraphs)."""
    paragraphs = [p for p in english_text.split("\n\n") if len(p.split()) > 60]
    return write_continuation_task(tmp_path_factory.mktemp("my_tasks"), paragraphs[:3])


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``hyperfit-lm-eval`` in-process: (exit status, last stderr line, stdout)."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # lm-eval's parser reads sys.argv; restore it afterwards

    def run(*argv) -> tuple[int, str, str]:
        import logging

        for handler in logging.getLogger("lm_eval").handlers:  # made once per process: point it at this test's stderr
            if type(handler) is logging.StreamHandler:
                handler.stream = sys.stderr  # (setStream would flush the closed stream of an earlier test)
        code = lm_eval_cli.main([str(arg) for arg in argv])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return code, (captured.err.strip().splitlines() or [""])[-1], captured.out

    return run


def test_include_paths_put_ours_first_then_every_user_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert include_paths(None) == [task_configs_dir()]
    assert include_paths(a) == [task_configs_dir(), a]
    assert include_paths(f"{a}:{b}") == [task_configs_dir(), a, b]  # lm-eval's own CLI does not split this
    assert include_paths([a, b, task_configs_dir()]) == [task_configs_dir(), a, b]  # ours is not indexed twice
    with pytest.raises(
        HyperfitError, match=f"^--include_path folder {tmp_path / 'c'} does not exist: give the folder"
    ):
        include_paths(f"{a}:{tmp_path / 'c'}")


def test_include_path_of_a_config_file_is_kept(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("include_path: [/data/tasks_a, /data/tasks_b]\n")
    assert user_include_path(argparse.Namespace(include_path=None, config=str(config))) == [
        "/data/tasks_a",
        "/data/tasks_b",
    ]
    assert (
        user_include_path(argparse.Namespace(include_path="mine", config=str(config))) == "mine"
    )  # the command line wins
    assert user_include_path(argparse.Namespace(include_path=None)) is None  # `ls` has no --config


def test_misspelt_task_suggests_the_closest_task(cli, my_tasks, tiny_lm_path):
    code, line, _ = cli(
        "--model", "hf", "--model_args", f"pretrained={tiny_lm_path}", "--include_path", my_tasks,
        "--tasks", "hyperfit_perplexty,my_continuaton,zzz_nothing_like_it",
    )  # fmt: skip
    assert code == 1
    assert line == (
        "hyperfit-lm-eval: error: unknown task 'hyperfit_perplexty' (did you mean 'hyperfit_perplexity'?), "
        "'my_continuaton' (did you mean 'my_continuation'?), 'zzz_nothing_like_it': check the name in --tasks "
        "(`hyperfit-lm-eval ls tasks` lists every task, yours need --include_path)"
    )


def test_missing_include_path_folder(cli, tmp_path, tiny_lm_path):
    code, line, _ = cli(
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_lm_path}",
        "--include_path",
        tmp_path / "nope",
        "--tasks",
        "x",
    )
    assert code == 1
    expected = (
        f"--include_path folder {tmp_path / 'nope'} does not exist: give the folder that holds your task YAML files"
    )
    assert line == f"hyperfit-lm-eval: error: {expected}"


def test_model_path_that_does_not_exist(cli, tmp_path):
    # lm-eval itself reports: HFValidationError: Repo id must be in the form 'repo_name' or 'namespace/repo_name'
    code, line, _ = cli(
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tmp_path / 'no_model'}",
        "--tasks",
        "hyperfit_perplexity",
        "--device",
        "cpu",
    )
    assert code == 1
    assert line == (
        f"hyperfit-lm-eval: error: cannot load model '{tmp_path / 'no_model'}': no such folder: give the folder of a "
        "saved model or a Hub id as --model_args pretrained=..."
    )


@pytest.mark.slow
def test_users_task_and_our_group_in_one_run(cli, my_tasks, tiny_lm_path, tmp_path, monkeypatch, english_text):
    """``--include_path my_tasks --tasks my_continuation,hyperfit_perplexity``: lm-eval's CLI alone finds only one
    folder."""
    import hyperfit_tasks.assets

    heldout = tmp_path / "heldout.jsonl"
    paragraphs = [p for p in english_text.split("\n\n") if len(p.split()) > 60]
    heldout.write_text("".join(json.dumps({"text": text}) + "\n" for text in paragraphs[3:5]))
    monkeypatch.setattr(hyperfit_tasks.assets, "corpus_path", lambda domain, split: heldout)
    code, line, _ = cli(
        "--model", "hf", "--model_args", f"pretrained={tiny_lm_path}", "--device", "cpu", "--include_path", my_tasks,
        "--tasks", f"{TASK_NAME},hyperfit_perplexity", "--limit", "2", "--gen_kwargs", "max_gen_toks=8",
        "--output_path", tmp_path / "out", "--predict_only",
        "--metadata", json.dumps({"metric_tokenizer": str(tiny_lm_path)}),
    )  # fmt: skip
    assert code == 0, line
    for task in (TASK_NAME, "hyperfit_perplexity_austen", "hyperfit_perplexity_pydoc"):
        (samples,) = (tmp_path / "out").rglob(f"samples_{task}_*.jsonl")
        rows = [json.loads(row) for row in samples.read_text().splitlines()]
        assert len(rows) == 2 and all(row["resps"] for row in rows), task


@pytest.mark.parametrize("iters", [0, 50])
def test_bootstrap_iters_reaches_lm_eval(cli, my_tasks, tiny_lm_path, tmp_path, iters):
    """``--bootstrap_iters N`` (absent from lm-eval 0.4.13's CLI) is the draws of lm-eval's bootstrap stderr: 0 gives
    ``N/A`` for a NaN-aware (bootstrapped) metric, 50 a number; the results file records N."""
    code, line, _ = cli(
        "--model", "hf", "--model_args", f"pretrained={tiny_lm_path}", "--device", "cpu", "--include_path", my_tasks,
        "--tasks", TASK_NAME, "--limit", "3", "--gen_kwargs", "max_gen_toks=8", "--bootstrap_iters", iters,
        "--output_path", tmp_path / "out", "--metadata", json.dumps({"metric_tokenizer": str(tiny_lm_path)}),
    )  # fmt: skip
    assert code == 0, line
    (results,) = (tmp_path / "out").rglob("results_*.json")
    record = json.loads(results.read_text())
    assert record["config"]["bootstrap_iters"] == iters
    stderr = record["results"][TASK_NAME]["rep_2_stderr,none"]
    assert (stderr == "N/A") if iters == 0 else isinstance(stderr, float)


def test_bootstrap_iters_must_be_a_whole_number(cli):
    code, line, _ = cli("--tasks", TASK_NAME, "--bootstrap_iters", "many")
    assert code != 0 and "--bootstrap_iters needs a whole number" in line


@pytest.mark.parametrize(
    "tasks, ours_only",
    [
        (["hyperfit_continuation"], True),
        (["hyperfit_perplexity_austen,my_continuation"], True),  # ours and the user's own folder
        (["hyperfit_continuation", "hellaswag"], False),  # a built-in task: lm-eval's index is needed
        (["tasks/my_task.yaml"], False),  # a file: lm-eval resolves it
        (None, False),  # tasks from --config
    ],
)
def test_builtin_tasks_are_indexed_only_when_asked_for(my_tasks, tasks, ours_only):
    args = argparse.Namespace(tasks=tasks, include_path=include_paths(str(my_tasks)))
    assert lm_eval_cli.own_tasks_only(args) is ours_only


def test_a_run_of_our_tasks_skips_lm_evals_builtin_index(cli, my_tasks, tiny_lm_path, tmp_path, monkeypatch):
    """The folders lm-eval indexes during a run of hyperfit's and the user's tasks: only those two (about 7 s saved);
    lm-eval's own TaskManager is back afterwards."""
    import lm_eval.tasks
    from lm_eval.tasks._index import TaskIndex

    indexed, build, manager = [], TaskIndex.build, lm_eval.tasks.TaskManager

    def recorded(paths, **options):
        indexed.append(list(paths))
        return build(indexed[-1], **options)

    monkeypatch.setattr(TaskIndex, "build", staticmethod(recorded))
    code, line, _ = cli(
        "--model", "hf", "--model_args", f"pretrained={tiny_lm_path}", "--device", "cpu", "--include_path", my_tasks,
        "--tasks", TASK_NAME, "--limit", "1", "--gen_kwargs", "max_gen_toks=4", "--output_path", tmp_path / "out",
        "--predict_only", "--metadata", json.dumps({"metric_tokenizer": str(tiny_lm_path)}),
    )  # fmt: skip
    assert code == 0, line
    builtin = Path(lm_eval.tasks.__file__).parent
    assert indexed and all(builtin not in map(Path, paths) for paths in indexed)
    assert {Path(path).resolve() for path in indexed[-1]} == {Path(task_configs_dir()).resolve(), my_tasks.resolve()}
    assert lm_eval.tasks.TaskManager is manager
