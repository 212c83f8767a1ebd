"""Coherence (``hyperfit_tasks.metrics.coherence``): the cosine of the prompt's and a text's MiniLM sentence
embeddings, checked against a direct computation with the shipped model; ``process_results`` returns it for the
continuation and the length-matched human reference; ``hyperfit-compare`` pairs it and shows it in the headline from
its catalogue row."""

from __future__ import annotations

import math

import pytest

from hyperfit_tasks.metrics.coherence import coherence
from hyperfit_tasks.metrics.mauve_features import minilm_path
from hyperfit_tasks.tasks.continuation_scores import process_results

from helpers import OWN_TASK, write_own_run

GPL = (
    "This program is free software; you can redistribute it and/or modify it under the terms of the GNU General "
    "Public License as published by"
)
LICENCE = "the Free Software Foundation, either version 3 of the License, or (at your option) any later version."
AUSTEN = (
    "Mr. Weston was a native of Highbury, and born of a respectable family, which for the last two or three "
    "generations had been rising."
)


@pytest.fixture(scope="module")
def minilm():
    """all-MiniLM-L6-v2 loaded by transformers directly, not through hyperfit's loader."""
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path()), AutoModel.from_pretrained(minilm_path()).eval()


def direct_cosine(minilm, prompt: str, text: str) -> float:
    """The same quantity without hyperfit's code: each text alone through the model, mean-pooled, cosine."""
    import torch

    tokenizer, model = minilm
    vectors = []
    with torch.no_grad():
        for one in (prompt, text):
            batch = tokenizer(one, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**batch).last_hidden_state[0]  # one text, no padding: every position counts
            vectors.append(hidden.mean(0))
    return torch.nn.functional.cosine_similarity(vectors[0], vectors[1], dim=0).item()


def test_coherence_equals_the_direct_cosine_of_mean_pooled_minilm_embeddings(minilm):
    pairs = [
        (GPL, LICENCE),
        (GPL, AUSTEN),
        ("The weather in Paris", "It rained all week in the French capital."),
        (AUSTEN, AUSTEN),
    ]
    for prompt, text in pairs:
        assert coherence(prompt, [text]) == [pytest.approx(direct_cosine(minilm, prompt, text), abs=1e-5)], (
            prompt,
            text,
        )
    assert coherence(AUSTEN, [AUSTEN]) == [pytest.approx(1.0, abs=1e-5)]  # a text is its own nearest neighbour


def test_a_continuation_on_topic_scores_higher_than_copied_text_on_another_topic():
    licence, austen = coherence(GPL, [LICENCE, AUSTEN])
    assert licence > 0.5 > 0.0 > austen  # measured 0.60 and -0.09: the drift into Austen is plain to see


def test_an_empty_text_or_prompt_is_nan_and_the_others_keep_their_places():
    alone = coherence(GPL, [LICENCE])[0]
    first, second, third = coherence(GPL, ["", LICENCE, " \n"])
    assert math.isnan(first) and second == pytest.approx(alone, abs=1e-6) and math.isnan(third)
    assert all(math.isnan(value) for value in coherence("  ", [LICENCE, AUSTEN]))
    assert coherence(GPL, []) == []


def test_process_results_scores_the_continuation_and_the_human_reference_cut_to_its_length():
    # the reference goes on after the continuation's words: cut to the continuation's tokens it is the continuation
    items = process_results({"prompt": GPL, "reference": LICENCE + " This program is distributed"}, [LICENCE])
    assert items["coherence"] == pytest.approx(coherence(GPL, [LICENCE])[0], abs=1e-6)
    assert items["coherence_human"] == pytest.approx(items["coherence"], abs=1e-6)
    # a reference shorter than the continuation is scored whole
    items = process_results({"prompt": GPL, "reference": AUSTEN}, [LICENCE + " " + LICENCE])
    assert items["coherence_human"] == pytest.approx(coherence(GPL, [AUSTEN])[0], abs=1e-6)
    # an empty continuation: its length cuts the reference to nothing, so both are NaN
    empty = process_results({"prompt": GPL, "reference": LICENCE}, [""])
    assert math.isnan(empty["coherence"]) and math.isnan(empty["coherence_human"])


def test_compare_pairs_coherence_and_shows_it_in_the_headline_with_an_interval(tmp_path):
    from hyperfit_tasks.compare import build_leaderboard, load_results, render_markdown
    from hyperfit_tasks.compare.leaderboard import with_statistics
    from hyperfit_tasks.compare.text import render_terminal

    base_values = [0.30 + 0.02 * i for i in range(12)]
    run_values = [value + 0.10 + 0.01 * (i % 3) for i, value in enumerate(base_values)]  # +0.10, +0.11, +0.12 in turn
    human = [0.5] * 12
    base = write_own_run(tmp_path / "base", {"coherence": base_values, "coherence_human": human})
    run = write_own_run(tmp_path / "run", {"coherence": run_values, "coherence_human": human})
    board = with_statistics(build_leaderboard(load_results([base, run])), permutations=200)
    stat = board.paired.stats[("run", f"{OWN_TASK}/coherence")]
    assert stat.delta == pytest.approx(0.11) and 0 < stat.ci_low <= stat.delta <= stat.ci_high and stat.significant
    terminal = render_terminal(board)
    assert (
        "coherence ↑" in terminal and "+0.11*" in terminal and "coherence_human" not in terminal
    )  # a reference, not a headline
    markdown = render_markdown(board)
    assert f"**{stat.run_value:.4f}** (+0.1100 [+{stat.ci_low:.4f}, +{stat.ci_high:.4f}])*" in markdown
    assert "coherence_human" in markdown  # in the full table, no direction, same items in both runs: not tested
