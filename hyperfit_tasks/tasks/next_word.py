"""Greedy agreement with human text: is the true next word the model's greedy choice?

For each held-out text and each of the first ``agreement_words`` (default 16) words after the
prompt, one ``loglikelihood`` request asks for that word (with its leading whitespace) given the
prompt and the true words before it. lm-eval's ``is_greedy`` says whether greedy decoding would
have produced exactly that word; its loglikelihood gives the word-level perplexity.

* ``greedy_agreement``: share of (text, position) pairs where the true next word is the greedy
  continuation; higher = the model's top choice agrees more with human text.
* ``next_word_perplexity``: exp of the mean negative log-likelihood of the true next word.
"""

from __future__ import annotations

from typing import Any

import datasets

from hyperfit_tasks.tasks.continuation_data import PROMPT_WORDS, load_texts, report_skipped, word_ends

AGREEMENT_WORDS = 16


def next_word_docs(
    *, prompt_words: int = PROMPT_WORDS, agreement_words: int = AGREEMENT_WORDS, **kwargs: Any
) -> datasets.DatasetDict:
    """``custom_dataset``: one ``{"context", "next_word", "position"}`` doc per text and position."""
    texts, source = load_texts(**kwargs)
    docs, used = [], 0
    for text in texts:
        text = text.strip()
        ends = word_ends(text, prompt_words + agreement_words)
        starts = [0, *ends]  # a word's characters run from the previous word's end (its leading space)
        positions = range(max(0, len(ends) - prompt_words))
        docs += [
            {
                "context": text[: starts[prompt_words + k]],
                "next_word": text[starts[prompt_words + k] : ends[prompt_words + k]],
                "position": k,
            }
            for k in positions
        ]
        used += bool(positions)
    report_skipped(len(texts) - used, len(texts), source, f"no text after the first {prompt_words} words")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def process_results(doc: dict, results: list[tuple[float, bool]]) -> dict[str, float]:
    """Items of ``greedy_agreement`` (is_greedy) and ``next_word_perplexity`` (the log-likelihood)."""
    ((loglikelihood, is_greedy),) = results
    return {"greedy_agreement": float(is_greedy), "next_word_perplexity": loglikelihood}
