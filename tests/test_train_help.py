"""``hyperfit-train --help``: hyperfit's own options first under their heading, inherited help that fits our
meaning."""

from __future__ import annotations

import re

import pytest
from trl import TrlParser

from hyperfit_train import cli
from hyperfit_train.config import DATACLASSES, make_parser


@pytest.fixture(scope="module")
def help_lines() -> list[str]:
    return make_parser().format_help().splitlines()


def option_help(lines: list[str], option: str) -> str:
    """The help text of ``option`` (its line and the indented lines after it), joined into one line."""
    start = next(i for i, line in enumerate(lines) if re.match(rf"  {option}\b", line))
    text = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 10):
            break
        text.append(line.strip())
    return " ".join(text)


def test_headings_come_in_order_with_ours_first(help_lines):
    headings = [line for line in help_lines if re.match(r"^[a-z].*:$", line)]
    assert headings == [
        "options:",
        "hyperfit options:",
        "model loading and LoRA (TRL ModelConfig):",
        "training options (TRL SFTConfig and transformers TrainingArguments):",
    ]


def test_model_and_data_are_near_the_top(help_lines):
    model_line = next(i for i, line in enumerate(help_lines) if "--model MODEL" in line and line.startswith("  --"))
    assert model_line < 20  # was line 604 of a flat list
    ours = help_lines.index("hyperfit options:")
    theirs = help_lines.index("training options (TRL SFTConfig and transformers TrainingArguments):")
    for option in (
        "--data",
        "--preset",
        "--max_length",
        "--eval_data",
        "--eval_text_field",
        "--diagnostics",
        "--resume",
    ):
        line = next(i for i, text in enumerate(help_lines) if re.match(rf"  {option}\b", text))
        assert ours < line < theirs, option
    learning_rate = next(i for i, text in enumerate(help_lines) if text.startswith("  --learning_rate"))
    assert learning_rate > theirs


def test_inherited_help_says_what_the_option_means_here(help_lines):
    max_length = option_help(help_lines, "--max_length")
    assert "Block length in tokens" in max_length and "paper 256, demo 128" in max_length
    assert "Maximum length of the tokenized sequence" not in max_length
    bf16 = option_help(help_lines, "--bf16")
    assert "The presets set it to False" in bf16
    assert "If not set, it defaults to `True`" not in bf16


def test_every_option_name_and_default_is_kept():
    """The regrouped parser parses exactly as TRL's plain parser over the same dataclasses."""

    def options(parser) -> dict[str, object]:
        return {name: action.default for action in parser._actions for name in action.option_strings}

    parser = make_parser()
    assert options(parser) == options(TrlParser(DATACLASSES))
    listed = parser.format_help()
    unlisted = [name for name in options(parser) if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", listed)]
    assert unlisted == []  # each option under exactly one heading: --help shows all 185, --no_diagnostics too
    assert sum(len(group._group_actions) for group in parser._action_groups) == len(parser._actions)


def test_help_through_the_console_script(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--help"])
    assert exit.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("usage: hyperfit-train [--model MODEL] [--data DATA] [--preset {paper,demo}]")
    assert "hyperfit options:" in lines[:12]
    assert "(default: False)" in option_help(lines, "--bf16")  # the paper preset's value, applied before --help
