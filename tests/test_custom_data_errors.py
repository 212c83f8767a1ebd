"""Bad data for the ``_custom`` tasks: one line naming the file, the problem and the fix, in hyperfit-train's words.

lm-eval runs a task's ``custom_dataset`` when its ``TaskManager`` builds the task (in 0.4.13's ``simple_evaluate``
after the model is built), so these tests build the tasks through a ``TaskManager`` on hyperfit's task folder with
the run's metadata, as ``lm_eval --include_path ... --metadata ...`` does, and need no model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperfit_tasks.cli.tasks_path import task_configs_dir
from hyperfit_tasks.common.errors import HyperfitError
from hyperfit_tasks.common.text_files import load_text_dataset

LONG_TEXT = " ".join(f"word{i}" for i in range(60))


def write_bad_data(folder: Path, mistake: str) -> tuple[Path, str]:
    """A data file (or folder) with ``mistake`` in it, and the one line the custom tasks must stop with."""
    path = folder / ("texts" if mistake == "folder" else "texts.jsonl")
    if mistake == "empty":
        path.write_text("")
        return path, f"data file {path} is empty: give a file with text"
    if mistake == "not UTF-8":
        path.write_bytes('{"body": "caf\u00e9 '.encode("latin-1") + LONG_TEXT.encode() + b'"}\n')
        return path, f"data file {path} is not UTF-8 text (byte 13): convert it to UTF-8"
    if mistake == "folder":
        path.mkdir()
        (path / "texts.jsonl").write_text(json.dumps({"body": LONG_TEXT}) + "\n")
        return (
            path,
            f"data file {path} is a folder, not a file: set data_files (in --metadata or dataset_kwargs) to the "
            "file(s) in it",
        )
    path.write_text("".join(json.dumps({"body": number}) + "\n" for number in (1, 2)))
    return path, f"{path} column 'body' holds int64, not text: set text_field (in --metadata or dataset_kwargs)"


def build_custom_task(task: str, data_files: Path) -> dict:
    """Build ``task`` as the lm-eval CLI does, with ``--metadata '{"data_files": ..., "text_field": "body"}'``."""
    from lm_eval.tasks import TaskManager

    metadata = {"data_files": str(data_files), "text_field": "body", "prompt_tokenizer": None}
    return TaskManager(include_path=task_configs_dir(), include_defaults=False, metadata=metadata).load([task])[
        "tasks"
    ]


@pytest.mark.parametrize("task", ["hyperfit_continuation_custom", "hyperfit_perplexity_custom"])
@pytest.mark.parametrize("mistake", ["empty", "not UTF-8", "folder", "numbers"])
def test_bad_data_file_stops_the_custom_task_with_one_line(tmp_path, mistake, task):
    path, message = write_bad_data(tmp_path, mistake)
    with pytest.raises(HyperfitError) as error:
        build_custom_task(task, path)
    assert str(error.value) == message


@pytest.mark.parametrize("mistake", ["empty", "not UTF-8"])
def test_trainer_says_the_same_of_the_same_file(tmp_path, mistake):
    """The custom tasks' line is the trainer's, with ``data`` where the trainer says ``training data``."""
    path, message = write_bad_data(tmp_path, mistake)
    with pytest.raises(HyperfitError) as error:
        load_text_dataset(str(path), "body")
    assert str(error.value) == f"training {message}"


def test_good_file_still_loads(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text("".join(json.dumps({"body": f"text {n}: {LONG_TEXT}"}) + "\n" for n in range(2)))
    continuation = build_custom_task("hyperfit_continuation_custom", path)["hyperfit_continuation_custom"]
    assert [doc["prompt"] for doc in continuation.test_docs()] == [
        " ".join(f"text {n}: {LONG_TEXT}".split()[:24]) for n in range(2)
    ]
    perplexity = build_custom_task("hyperfit_perplexity_custom", path)["hyperfit_perplexity_custom"]
    assert [doc["text"] for doc in perplexity.test_docs()] == [f"text {n}: {LONG_TEXT}" for n in range(2)]


def test_hyperfit_lm_eval_prints_the_one_line(tmp_path, tiny_lm_path, capsys):
    """``hyperfit-lm-eval`` prints the line alone, no traceback (plain ``lm_eval`` ends its traceback with it)."""
    import logging

    from hyperfit_tasks.cli import lm_eval as lm_eval_cli

    for handler in list(logging.getLogger("lm_eval").handlers):  # bound to an earlier stderr: let this run rebind it
        logging.getLogger("lm_eval").removeHandler(handler)
    path, message = write_bad_data(tmp_path, "empty")
    argv = [
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_lm_path}",
        "--device",
        "cpu",
        "--tasks",
        "hyperfit_continuation_custom",
        "--metadata",
        json.dumps({"data_files": str(path), "text_field": "body"}),
    ]
    assert lm_eval_cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == f"hyperfit-lm-eval: error: {message}"
    # checked before the model loads: a model path that does not exist is never reached
    argv[argv.index("--model_args") + 1] = f"pretrained={tmp_path / 'no-such-model'}"
    assert lm_eval_cli.main(argv) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"hyperfit-lm-eval: error: {message}"
