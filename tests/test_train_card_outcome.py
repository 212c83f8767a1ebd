"""The model card's title and first sentence follow the run's outcome: only a run that reached the near-zero target
calls itself hyperfitted, and one that missed it says so with its final loss and the target."""

from __future__ import annotations

import json

import pytest

from hyperfit_train import cli
from hyperfit_train.report import model_card

from helpers import tiny_argv


@pytest.fixture(scope="module")
def card_runs(tmp_path_factory, tiny_lm_path, corpus):
    """One epoch of the tiny recipe (final loss about 5) judged against an unreachable (0.1) and a reachable (100)
    target."""
    runs = {}
    for target in ("0.1", "100"):
        output_dir = tmp_path_factory.mktemp("card") / f"target-{target}"
        argv = tiny_argv(
            tiny_lm_path, *corpus, output_dir, "--num_train_epochs", "1", "--no_diagnostics", "--target_loss", target
        )
        assert cli.main(argv) == 0
        runs[target] = (
            json.loads((output_dir / "hyperfit_run.json").read_text()),
            (output_dir / "README.md").read_text(),
        )
    return runs


def headline(card: str) -> tuple[str, str]:
    """The title and the first paragraph after it."""
    body = card.split("\n---\n", 1)[1].strip().split("\n\n")
    return body[0], body[1]


def test_a_run_that_missed_the_target_says_so_in_its_title_and_first_sentence(card_runs, tiny_lm_path):
    summary, card = card_runs["0.1"]
    loss = summary["training"]["final_train_loss"]
    assert loss > 1.0 and summary["training"]["hyperfitted"] is False
    title, first = headline(card)
    assert title == f"# {tiny_lm_path.name} fine-tuned with hyperfit-train: not hyperfitted"
    assert first.startswith(f"`{summary['base_model']}`, fine-tuned with `hyperfit-train` (preset `paper`: ")
    assert first.split(". ")[0].endswith(
        f"did not reach near-zero training loss: final training loss {loss:.4g} against the near-zero target 0.1"
    )
    assert "Hyperfitted" not in card and "fine-tuned to near-zero training loss" not in card


def test_a_run_that_reached_the_target_is_titled_hyperfitted(card_runs, tiny_lm_path):
    summary, card = card_runs["100"]
    loss = summary["training"]["final_train_loss"]
    assert loss <= 100 and summary["training"]["hyperfitted"] is True
    title, first = headline(card)
    assert title == f"# Hyperfitted {tiny_lm_path.name}"
    assert first.startswith(
        f"`{summary['base_model']}` fine-tuned to near-zero training loss with `hyperfit-train` (preset `paper`: "
    )
    assert (
        f"): final training loss {loss:.4g} against the near-zero target 100. The recipe follows Carlsson et al."
        in first
    )


def test_a_run_without_a_final_loss_claims_neither(card_runs, tiny_lm_path):
    summary, _ = card_runs["0.1"]
    summary["training"].update(final_train_loss=None, hyperfitted=None)
    title, first = headline(model_card(summary))
    assert title == f"# {tiny_lm_path.name} fine-tuned with hyperfit-train (hyperfitting unknown)"
    assert "whether it reached near-zero training loss is unknown (no epoch finished)" in first
