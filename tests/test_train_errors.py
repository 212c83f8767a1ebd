"""hyperfit-train on bad input: one-line errors, non-zero exit, and nothing already written is changed."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from transformers import TrainerCallback

from hyperfit_tasks.common.errors import HyperfitError, NonFiniteLossError
from hyperfit_tasks.common.run_files import read_train_blocks
from hyperfit_train import cli
from hyperfit_train.checkpoints import checkpoint_problem
from hyperfit_train.config import parse_args
from hyperfit_train.trainer import train

from helpers import run_cli, snapshot, tiny_argv


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_lm_path, corpus):
    output_dir = tmp_path_factory.mktemp("runs") / "finished"
    assert cli.main(tiny_argv(tiny_lm_path, *corpus, output_dir, "--num_train_epochs", "1")) == 0
    return output_dir


@pytest.mark.parametrize(
    "model",
    ["/nonexistent/model-folder", "no-such-org/no-such-model"],
    ids=["missing-folder", "unknown-hub-id"],
)
def test_unknown_model(capsys, tmp_path, corpus, model):
    code, line = run_cli(capsys, tiny_argv(model, *corpus, tmp_path / "out"))
    assert code == 1 and line.startswith("hyperfit-train: error: cannot load model") and "--model" in line
    assert not (tmp_path / "out").exists()


def test_model_folder_that_does_not_exist_says_so(capsys, tmp_path, corpus):
    # transformers itself says: Repo id must be in the form 'repo_name' or 'namespace/repo_name'
    code, line = run_cli(capsys, tiny_argv(tmp_path / "no" / "model", *corpus, tmp_path / "out"))
    assert code == 1 and line == (
        f"hyperfit-train: error: cannot load model '{tmp_path / 'no' / 'model'}': no such folder: give the folder of "
        "a saved model or a Hub id as --model"
    )


def test_debug_flag_raises_with_the_traceback_instead(tmp_path, tiny_lm_path, corpus):
    with pytest.raises(HyperfitError, match="training data file not found"):
        cli.main(tiny_argv(tiny_lm_path, tmp_path / "absent.jsonl", corpus[1], tmp_path / "out") + ["--debug"])


def test_folder_that_is_not_a_model(capsys, tmp_path, corpus):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a model")
    code, line = run_cli(capsys, tiny_argv(tmp_path / "notes", *corpus, tmp_path / "out"))
    assert code == 1 and "cannot load model" in line and not (tmp_path / "out").exists()


def test_missing_data_file(capsys, tmp_path, tiny_lm_path, corpus):
    code, line = run_cli(capsys, tiny_argv(tiny_lm_path, tmp_path / "absent.jsonl", corpus[1], tmp_path / "out"))
    assert (
        code == 1
        and line == f"hyperfit-train: error: training data file not found: {tmp_path / 'absent.jsonl'}: check the path"
    )
    assert not (tmp_path / "out").exists()


def test_empty_data_file(capsys, tmp_path, tiny_lm_path, corpus):
    (tmp_path / "empty.jsonl").write_text("")
    code, line = run_cli(capsys, tiny_argv(tiny_lm_path, tmp_path / "empty.jsonl", corpus[1], tmp_path / "out"))
    assert code == 1 and line.endswith("is empty: give a file with text") and not (tmp_path / "out").exists()


def test_missing_held_out_file(capsys, tmp_path, tiny_lm_path, corpus):
    code, line = run_cli(capsys, tiny_argv(tiny_lm_path, corpus[0], tmp_path / "absent.txt", tmp_path / "out"))
    assert code == 1 and "held-out data file not found" in line and not (tmp_path / "out").exists()


def test_missing_text_field(capsys, tmp_path, tiny_lm_path, corpus):
    (tmp_path / "rows.jsonl").write_text('{"body": "some text", "id": 1}\n')
    code, line = run_cli(capsys, tiny_argv(tiny_lm_path, tmp_path / "rows.jsonl", corpus[1], tmp_path / "out"))
    assert code == 1 and "has no 'text' column (columns: body, id)" in line and "--dataset_text_field" in line
    assert not (tmp_path / "out").exists()


def test_fewer_tokens_than_one_block(capsys, tmp_path, tiny_lm_path, corpus):
    (tmp_path / "short.jsonl").write_text('{"text": "Too short."}\n')
    code, line = run_cli(capsys, tiny_argv(tiny_lm_path, tmp_path / "short.jsonl", corpus[1], tmp_path / "out"))
    assert code == 1 and "fewer than one block of 32" in line and "--max_length" in line
    assert not (tmp_path / "out").exists()


def test_unknown_option_in_config_file(capsys, tmp_path, tiny_lm_path, corpus):
    (tmp_path / "recipe.yaml").write_text("learning_rat: 0.1\n")
    code, line = run_cli(
        capsys, tiny_argv(tiny_lm_path, *corpus, tmp_path / "out") + ["--config", str(tmp_path / "recipe.yaml")]
    )
    assert code == 1 and "learning_rat" in line


def test_more_samples_than_blocks_warns_and_trains_on_all(capsys, tmp_path, tiny_lm_path, corpus):
    (tmp_path / "small.jsonl").write_text("".join(corpus[0].read_text().splitlines(keepends=True)[:8]))  # 8 paragraphs
    argv = tiny_argv(
        tiny_lm_path,
        tmp_path / "small.jsonl",
        corpus[1],
        tmp_path / "out",
        "--num_train_epochs",
        "1",
        "--num_samples",
        "500",
    )
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "hyperfit_run.json").read_text())
    available = summary["training_data"]["available_blocks"]
    assert 0 < available < 500 and summary["training_data"]["blocks"] == available
    assert f"holds {available} blocks, fewer than the 500 requested: training on all {available}" in err
    assert read_train_blocks(tmp_path / "out" / "train_blocks.parquet")[0].shape == (available, 32)


def test_output_dir_with_a_different_run_is_refused_unless_overwrite(
    capsys, tmp_path, tiny_lm_path, corpus, finished_run
):
    output_dir = tmp_path / "run"
    shutil.copytree(finished_run, output_dir)
    before = snapshot(output_dir)
    code, line = run_cli(
        capsys, tiny_argv(tiny_lm_path, *corpus, output_dir, "--num_train_epochs", "1", "--learning_rate", "2e-2")
    )
    assert code == 1 and "holds a different run (learning_rate: 0.01 -> 0.02)" in line and "--overwrite" in line
    assert snapshot(output_dir) == before
    argv = tiny_argv(
        tiny_lm_path, *corpus, output_dir, "--num_train_epochs", "1", "--learning_rate", "2e-2", "--overwrite"
    )
    assert cli.main(argv) == 0
    assert json.loads((output_dir / "hyperfit_run.json").read_text())["arguments"]["training"]["learning_rate"] == 2e-2


def test_finished_run_is_refused_without_resume_and_left_alone_with_it(
    capsys, tmp_path, tiny_lm_path, corpus, finished_run
):
    before = snapshot(finished_run)
    code, line = run_cli(capsys, tiny_argv(tiny_lm_path, *corpus, finished_run, "--num_train_epochs", "1"))
    assert code == 1 and "holds a finished run of this recipe" in line
    assert cli.main(tiny_argv(tiny_lm_path, *corpus, finished_run, "--num_train_epochs", "1", "--resume")) == 0
    assert "already holds the finished run" in capsys.readouterr().err
    assert snapshot(finished_run) == before


def test_unfinished_run_needs_resume_or_overwrite(capsys, tmp_path, tiny_lm_path, corpus, finished_run):
    output_dir = tmp_path / "unfinished"
    shutil.copytree(finished_run, output_dir)
    (output_dir / "hyperfit_run.json").unlink()
    before = snapshot(output_dir)
    code, line = run_cli(capsys, tiny_argv(tiny_lm_path, *corpus, output_dir, "--num_train_epochs", "1"))
    assert code == 1 and "holds an unfinished run of this recipe: pass --resume" in line
    assert snapshot(output_dir) == before


def test_non_empty_folder_without_a_run_is_refused(capsys, tmp_path, tiny_lm_path, corpus):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    for extra in ([], ["--overwrite"]):
        code, line = run_cli(capsys, tiny_argv(tiny_lm_path, *corpus, tmp_path / "mine", *extra))
        assert code == 1 and "holds no hyperfit run" in line
    assert [path.name for path in (tmp_path / "mine").iterdir()] == ["notes.txt"]


class PoisonWeightsAtStep(TrainerCallback):
    """Test fault injection: set one weight matrix to NaN after optimizer step ``step``."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                model.get_input_embeddings().weight.fill_(float("nan"))


def test_nan_loss_stops_at_that_step_and_keeps_the_last_good_checkpoint(tmp_path, tiny_lm_path, corpus):
    output_dir = tmp_path / "nan"
    args = parse_args(tiny_argv(tiny_lm_path, *corpus, output_dir, "--num_train_epochs", "3"))
    with pytest.raises(NonFiniteLossError) as caught:
        train(*args, callbacks=(PoisonWeightsAtStep(6),))
    error = caught.value
    assert error.step == 7 and error.last_checkpoint == str(output_dir / "checkpoint-4")
    assert "training loss is nan at step 7" in str(error) and "checkpoint-4" in str(error) and "\n" not in str(error)
    assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == ["checkpoint-4"]
    assert checkpoint_problem(output_dir / "checkpoint-4") is None
    from safetensors.torch import load_file

    assert all(
        torch.isfinite(tensor).all()
        for tensor in load_file(output_dir / "checkpoint-4" / "model.safetensors").values()
    )
    assert not (output_dir / "hyperfit_run.json").exists() and not (output_dir / "model.safetensors").exists()


# -------------------------------------------------------- runs that would train nothing, lengths past the context


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--num_train_epochs", "0"],
            "--num_train_epochs must be a finite number > 0 (or give --max_steps N >= 1), got 0",
        ),
        (
            ["--num_train_epochs", "-2"],
            "--num_train_epochs must be a finite number > 0 (or give --max_steps N >= 1), got -2",
        ),
        (["--max_steps", "0"], "--max_steps must be >= 1, or -1 to train for --num_train_epochs, got 0"),
        (["--max_steps", "-3"], "--max_steps must be >= 1, or -1 to train for --num_train_epochs, got -3"),
    ],
    ids=["zero-epochs", "negative-epochs", "zero-steps", "negative-steps"],
)
def test_a_run_that_would_train_nothing_is_refused_before_anything_is_written(
    capsys, tmp_path, tiny_lm_path, corpus, extra, message
):
    code, line = run_cli(capsys, tiny_argv(tiny_lm_path, *corpus, tmp_path / "out", *extra))
    assert (code, line) == (1, f"hyperfit-train: error: {message}")
    assert not (tmp_path / "out").exists()


def test_max_steps_bounds_training_and_minus_one_leaves_it_to_the_epochs(tmp_path, tiny_lm_path, corpus):
    _, training_args, _ = parse_args(
        tiny_argv(tiny_lm_path, *corpus, tmp_path / "out", "--num_train_epochs", "0", "--max_steps", "2")
    )
    assert (training_args.num_train_epochs, training_args.max_steps) == (0, 2)
    _, training_args, _ = parse_args(
        tiny_argv(tiny_lm_path, *corpus, tmp_path / "out", "--num_train_epochs", "1", "--max_steps", "-1")
    )
    assert (training_args.num_train_epochs, training_args.max_steps) == (1, -1)


@pytest.fixture(scope="module")
def short_context_lm(tmp_path_factory, tokenizer):
    """A tiny GPT-2 with the tiny model's tokenizer and a 16-token context in learned position embeddings (a longer
    input fails with ``IndexError: index out of range in self``, as in the user trial)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("gpt2_context16")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=16,
        n_embd=32,
        n_layer=1,
        n_head=4,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder.resolve()


def test_lengths_past_the_model_context_are_one_line_and_the_corrected_command_runs(
    capsys, tmp_path, short_context_lm, corpus
):
    output_dir = tmp_path / "out"
    argv = tiny_argv(
        short_context_lm, *corpus, output_dir, "--num_train_epochs", "1"
    )  # --max_length 32, 8 + 16 generated tokens
    code, line = run_cli(capsys, argv)
    assert (code, line) == (
        1,
        f"hyperfit-train: error: --max_length 32 is longer than the context of {short_context_lm} (16 tokens): give "
        "--max_length 16 or less",
    )
    assert not output_dir.exists()
    code, line = run_cli(capsys, argv + ["--max_length", "16"])
    assert (code, line) == (
        1,
        "hyperfit-train: error: --diagnostic_prompt_tokens 8 + --diagnostic_new_tokens 16 is longer than the context "
        f"of {short_context_lm} (16 tokens): give --diagnostic_new_tokens 8 or less",
    )
    assert not output_dir.exists()
    assert cli.main(argv + ["--max_length", "16", "--diagnostic_new_tokens", "8"]) == 0
    summary = json.loads((output_dir / "hyperfit_run.json").read_text())
    assert summary["training_data"]["block_size"] == 16 and summary["training"]["global_step"] == 4


def test_a_fresh_run_that_fails_before_its_first_checkpoint_leaves_nothing_that_blocks_the_corrected_command(
    capsys, tmp_path, short_context_lm, corpus, monkeypatch
):
    from hyperfit_train import trainer

    output_dir = tmp_path / "out"
    argv = tiny_argv(short_context_lm, *corpus, output_dir, "--num_train_epochs", "1", "--diagnostic_new_tokens", "8")
    with monkeypatch.context() as patch:
        patch.setattr(trainer, "CONTEXT_LENGTH_KEYS", ())  # as for a config that names no context: the trial's crash
        code, line = run_cli(capsys, argv)
    assert code == 1 and line.startswith("hyperfit-train: error: IndexError: index out of range in self")
    assert list(output_dir.iterdir()) == []  # the recipe, blocks and diagnostics it had written are gone
    assert cli.main(argv + ["--max_length", "16"]) == 0
    assert (output_dir / "hyperfit_run.json").is_file()
