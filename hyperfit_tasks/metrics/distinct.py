"""distinct-n (Li et al. 2016): corpus-level share of distinct n-grams."""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence

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
