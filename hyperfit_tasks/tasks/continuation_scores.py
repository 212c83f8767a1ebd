"""Scoring of continuations: lm-eval ``process_results`` and the corpus-level aggregations.

:func:`process_results` returns one item per metric and document (a number, the TTR-by-position curve, or the text for
the corpus-level aggregations below); the training-copy metrics are added only when the run names training data.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hyperfit_tasks.metrics import (
    distinct_n,
    diversity,
    longest_repeated_span,
    rep_n,
    self_bleu,
    token_repetition,
    ttr_by_position,
    type_token_ratio,
    windowed_ttr,
)
from hyperfit_tasks.metrics.copy_rate import copy_metrics_for_text
from hyperfit_tasks.metrics.distinct import DistinctOfResamples
from hyperfit_tasks.metrics.mauve_features import DEFAULT_FEATURIZER
from hyperfit_tasks.metrics.self_bleu import SelfBleuOfResamples
from hyperfit_tasks.metrics.text_units import DEFAULT_TOKENIZER, token_ids, words
from hyperfit_tasks.models.citation_blocker import DEFAULT_BLOCK_LEN

LAST_WINDOW = 96  # the hyperfitting authors' TTR window (last 96 generated tokens)
POSITION_WINDOW = 32  # window of the TTR-by-position curve
REPETITION_CONTEXT = 16  # previous tokens searched by token_repetition (Welleck et al. rep/l)


def process_results(
    doc: dict,
    results: Sequence[str],
    *,
    metric_tokenizer: str = DEFAULT_TOKENIZER,
    model_tokenizer: str | None = None,
    max_gen_toks: int | None = None,
    mauve_featurizer: str = DEFAULT_FEATURIZER,
    copy_k: int = DEFAULT_BLOCK_LEN,
    training_reference: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Items of every continuation metric for one document (``results[0]`` = the continuation).

    ``metric_tokenizer`` cuts the tokens of the token-level metrics; ``model_tokenizer`` (the
    evaluated model's) and ``max_gen_toks`` give ``stopped_early``, NaN when either is unknown;
    ``training_reference`` (the run's training data and tokenizer) adds the training-copy metrics.
    """
    continuation = results[0]
    return {
        **text_scores(continuation, metric_tokenizer),
        "stopped_early": stopped_early(continuation, model_tokenizer, max_gen_toks),
        **{f"distinct_{n}": continuation for n in range(1, 5)},
        "self_bleu": continuation,
        "mauve": (continuation, doc["reference"], mauve_featurizer),
        **copy_metrics_for_text(continuation, training_reference or {}, k=copy_k),
    }


def text_scores(continuation: str, metric_tokenizer: str = DEFAULT_TOKENIZER) -> dict[str, Any]:
    """The per-text metrics of one continuation that need nothing but its text and the metric tokenizer."""
    tokens = token_ids(continuation, metric_tokenizer)
    curve = ttr_by_position(tokens, POSITION_WINDOW)
    return {
        "ttr": type_token_ratio(tokens),
        "ttr_last96": windowed_ttr(tokens, LAST_WINDOW),
        "ttr_first_window": curve[0] if curve else math.nan,
        "ttr_last_window": curve[-1] if curve else math.nan,
        "ttr_by_position": curve,
        "ttr_words": type_token_ratio(words(continuation)),
        "rep_2": rep_n(tokens, 2),
        "rep_3": rep_n(tokens, 3),
        "rep_4": rep_n(tokens, 4),
        "diversity": diversity(tokens),
        "token_repetition": token_repetition(tokens, REPETITION_CONTEXT),
        "longest_repeated_span": float(longest_repeated_span(tokens)),
        "continuation_tokens": float(len(tokens)),
    }


def stopped_early(continuation: str, model_tokenizer: str | None, max_gen_toks: int | None) -> float:
    """1.0 if the continuation is shorter than ``max_gen_toks`` tokens of the evaluated model's tokenizer.

    lm-eval returns text with the end-of-sequence token stripped, so stopping at EOS is inferred
    from length: re-encoding the text can differ from the generated ids by a token (a
    non-canonical merge), and EOS in the very last position reads as "not early".
    """
    if model_tokenizer is None or max_gen_toks is None:
        return math.nan
    return float(len(token_ids(continuation, model_tokenizer)) < int(max_gen_toks))


def mean_segmental_ttr(curves: Sequence[Sequence[float]]) -> float:
    """Aggregation of ``ttr_by_position``: mean over texts of their mean window TTR (MSTTR).

    Texts without a full window are left out; NaN if no text has one.
    """
    per_text = [float(np.mean(curve)) for curve in curves if len(curve)]
    return float(np.mean(per_text)) if per_text else math.nan


def self_bleu_words(continuations: Sequence[str]) -> float:
    """Aggregation: Self-BLEU-4 of the continuations as words (NaN, with a warning, below 2 texts)."""
    return self_bleu_of_words([words(text) for text in continuations])


def self_bleu_of_words(docs: Sequence[Sequence[str]]) -> float:
    """Self-BLEU-4 of texts already cut into words (what :func:`self_bleu_words` scores)."""
    return self_bleu(docs, max_n=4)


def _distinct_words(n: int):
    def aggregate(continuations: Sequence[str]) -> float:
        return aggregate.of_words([words(text) for text in continuations])

    aggregate.__name__ = aggregate.__qualname__ = f"distinct_{n}"
    aggregate.__doc__ = f"Aggregation: distinct-{n} of all continuations as words (NaN without any {n}-gram)."
    aggregate.of_words = lambda docs: distinct_n(docs, n)
    aggregate.resampler = lambda continuations: DistinctOfResamples([words(text) for text in continuations], n)
    return aggregate


distinct_1, distinct_2, distinct_3, distinct_4 = (_distinct_words(n) for n in range(1, 5))
self_bleu_words.of_words = self_bleu_of_words


self_bleu_words.resampler = lambda continuations: SelfBleuOfResamples([words(text) for text in continuations], max_n=4)
# Corpus aggregations over continuations that score their words; ``.resampler(continuations)`` gives
# a function of resample rows (hyperfit_tasks.compare.paired) that cuts each text into words once.
WORD_AGGREGATIONS = {function.__name__: function for function in (self_bleu_words, distinct_1, distinct_2, distinct_3, distinct_4)}
