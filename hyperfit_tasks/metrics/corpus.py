"""Corpus aggregations of continuations: MSTTR of per-text TTR curves, and Self-BLEU-4 and distinct-n of the texts as
words. Each word aggregation also has ``.resampler(continuations)``: a function of resample rows that cuts each text
into words once (what :mod:`hyperfit_tasks.compare.paired` permutes)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hyperfit_tasks.metrics.distinct import DistinctOfResamples, distinct_n
from hyperfit_tasks.metrics.self_bleu import SelfBleuOfResamples, self_bleu
from hyperfit_tasks.metrics.text_units import words


def mean_segmental_ttr(curves: Sequence[Sequence[float]]) -> float:
    """Aggregation of ``ttr_by_position``: mean over texts of their mean window TTR (MSTTR).

    Texts without a full window are left out; NaN if no text has one.
    """
    per_text = [float(np.mean(curve)) for curve in curves if len(curve)]
    return float(np.mean(per_text)) if per_text else math.nan


def self_bleu_words(continuations: Sequence[str]) -> float:
    """Aggregation: Self-BLEU-4 of the continuations as words (NaN, with a warning, below 2 texts)."""
    return self_bleu([words(text) for text in continuations], max_n=4)


self_bleu_words.resampler = lambda continuations: SelfBleuOfResamples([words(text) for text in continuations], max_n=4)


def _distinct_words(n: int):
    def aggregate(continuations: Sequence[str]) -> float:
        return distinct_n([words(text) for text in continuations], n)

    aggregate.__name__ = aggregate.__qualname__ = f"distinct_{n}"
    aggregate.__doc__ = f"Aggregation: distinct-{n} of all continuations as words (NaN without any {n}-gram)."
    aggregate.resampler = lambda continuations: DistinctOfResamples([words(text) for text in continuations], n)
    return aggregate


distinct_1, distinct_2, distinct_3, distinct_4 = (_distinct_words(n) for n in range(1, 5))
