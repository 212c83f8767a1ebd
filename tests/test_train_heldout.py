"""Held-out text for the diagnostics: a slice of the user's own data, or --eval_data with its own text column."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hyperfit_tasks.common.errors import HyperfitError
from hyperfit_tasks.common.run_files import read_train_blocks
from hyperfit_tasks.common.text_files import load_text_dataset
from hyperfit_train import cli
from hyperfit_train.data import blocks_sha256, hold_out_tail, sample_blocks, tokenize_to_blocks

from helpers import BLOCK, tiny_argv


def with_column(source, target, column: str):
    """``source`` (jsonl with a 'text' column) rewritten with the text in ``column``."""
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    target.write_text("".join(json.dumps({column: row["text"], "id": i}) + "\n" for i, row in enumerate(rows)))
    return target


def argv_without_eval_data(model, data, output_dir, *extra) -> list[str]:
    argv = tiny_argv(model, data, "unused", output_dir, "--num_train_epochs", "1", *extra)
    at = argv.index("--eval_data")
    return argv[:at] + argv[at + 2 :]


def test_hold_out_tail_takes_the_last_blocks_up_to_a_tenth():
    blocks = np.arange(25 * 3).reshape(25, 3)
    rest, held = hold_out_tail(blocks, 4)
    assert np.array_equal(held, blocks[23:]) and np.array_equal(rest, blocks[:23])  # 25 // 10 = 2 < 4
    rest, held = hold_out_tail(blocks, 1)
    assert np.array_equal(held, blocks[24:]) and len(rest) == 24
    with pytest.raises(HyperfitError, match="9 blocks, too few to hold out a tenth.*--eval_data"):
        hold_out_tail(blocks[:9], 4)


def test_own_data_without_eval_data_holds_out_its_own_tail(tmp_path, tiny_lm_path, corpus, tokenizer):
    data = with_column(corpus[0], tmp_path / "mine.jsonl", "body")
    output_dir = tmp_path / "run"
    assert cli.main(argv_without_eval_data(tiny_lm_path, data, output_dir, "--dataset_text_field", "body")) == 0

    summary = json.loads((output_dir / "hyperfit_run.json").read_text())
    all_blocks = tokenize_to_blocks(load_text_dataset(str(data), "body"), tokenizer, BLOCK)
    held = min(4, len(all_blocks) // 10)  # --diagnostic_blocks 4
    heldout = summary["heldout_data"]
    assert heldout["source"] == str(data.resolve()) and heldout["text_field"] == "body"
    assert heldout["blocks"] == held and heldout["sha256"] == blocks_sha256(all_blocks[-held:])
    assert heldout["held_out_from"] == "the end of the training text, before sampling"
    train_blocks, _ = read_train_blocks(output_dir / "train_blocks.parquet")
    assert np.array_equal(train_blocks, sample_blocks(all_blocks[:-held], 16, 42))  # sampled from the rest only
    assert summary["training_data"]["available_blocks"] == len(all_blocks) - held
    assert not {row.tobytes() for row in train_blocks} & {row.tobytes() for row in all_blocks[-held:]}
    assert "cut off before the training blocks were sampled" in (output_dir / "README.md").read_text()


def test_eval_data_with_its_own_text_column(tmp_path, tiny_lm_path, corpus, capsys):
    data = with_column(corpus[0], tmp_path / "mine.jsonl", "body")
    heldout = with_column(corpus[1], tmp_path / "theirs.jsonl", "passage")
    base = tiny_argv(
        tiny_lm_path, data, heldout, tmp_path / "fails", "--num_train_epochs", "1", "--dataset_text_field", "body"
    )
    assert cli.main(base) == 1  # the training column is not the held-out file's
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (
        f"hyperfit-train: error: held-out data {heldout.resolve()} has no 'body' column (columns: passage, id): "
        "set --eval_text_field to the column that holds the text"
    )
    assert not (tmp_path / "fails").exists()

    output_dir = tmp_path / "run"
    options = ["--num_train_epochs", "1", "--dataset_text_field", "body", "--eval_text_field", "passage"]
    argv = tiny_argv(tiny_lm_path, data, heldout, output_dir, *options)
    assert cli.main(argv) == 0
    summary = json.loads((output_dir / "hyperfit_run.json").read_text())
    assert (
        summary["heldout_data"]["text_field"] == "passage" and summary["heldout_data"]["held_out_from"] == "eval_data"
    )
    assert "heldout_tail_blocks" not in summary["training_data"]
