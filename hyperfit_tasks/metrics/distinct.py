"""distinct-n (Li et al. 2016): corpus-level share of distinct n-grams."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from hyperfit_tasks.metrics.ngrams import ngrams


def distinct_n(docs: Iterable[Sequence[Hashable]], n: int) -> float:
    """Unique n-grams / total n-grams over all ``docs`` together; NaN when there is no n-gram."""
    unique: set[tuple] = set()
    total = 0
    for doc in docs:
        grams = list(ngrams(doc, n))
        unique.update(grams)
        total += len(grams)
    if total == 0:
        return math.nan
    return len(unique) / total


class DistinctOfResamples:
    """:func:`distinct_n` of any multiset of a fixed list of docs (bootstrap resamples), exactly, from
    each doc's distinct n-gram ids and n-gram count computed once: unique n-grams of the docs drawn /
    n-grams counted with multiplicity."""

    def __init__(self, docs: Sequence[Sequence[Hashable]], n: int):
        vocabulary: dict[tuple, int] = {}
        self.ids = [
            np.unique(
                np.array([vocabulary.setdefault(gram, len(vocabulary)) for gram in ngrams(doc, n)], dtype=np.int64)
            )
            for doc in docs
        ]
        self.counts = np.array([max(len(doc) - n + 1, 0) for doc in docs], dtype=np.int64)

    def __call__(self, rows: Sequence[int]) -> float:
        """distinct-n of the docs at ``rows`` (repeats count again in the total, not in the unique n-grams)."""
        rows = np.asarray(rows, dtype=np.int64)
        total = int(self.counts[rows].sum())
        if total == 0:
            return math.nan
        return np.unique(np.concatenate([self.ids[j] for j in np.unique(rows)])).size / total
