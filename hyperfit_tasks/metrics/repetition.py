"""Repetition inside one text: rep-n / seq-rep-n, diversity, token-level rep/l, longest repeated span."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from hyperfit_tasks.metrics.ngrams import ngrams


def rep_n(tokens: Sequence[Hashable], n: int) -> float:
    """1 - |unique n-grams| / |n-grams| (Su et al. 2022 rep-n = Welleck et al. 2020 seq-rep-n).

    NaN when the text has no n-gram (fewer than ``n`` tokens).
    """
    grams = list(ngrams(tokens, n))
    if not grams:
        return math.nan
    return 1.0 - len(set(grams)) / len(grams)


def diversity(tokens: Sequence[Hashable], ns: Iterable[int] = (2, 3, 4)) -> float:
    """Product over ``ns`` of (1 - rep-n) (Su et al. 2022); NaN if any rep-n is NaN."""
    return math.prod(1.0 - rep_n(tokens, n) for n in ns)


def token_repetition(tokens: Sequence[Hashable], context: int = 16) -> float:
    """Welleck et al. (2020) rep/l: share of tokens already seen among the previous ``context`` tokens.

    Every token counts in the denominator (the first one can never repeat); NaN when empty.
    """
    if context < 1:
        raise ValueError(f"context must be >= 1, got context={context}")
    tokens = list(tokens)
    if not tokens:
        return math.nan
    repeats = sum(token in tokens[max(0, t - context) : t] for t, token in enumerate(tokens))
    return repeats / len(tokens)


def longest_repeated_span(tokens: Sequence[Hashable]) -> int:
    """Length of the longest token span that occurs at least twice (overlaps allowed); 0 if none.

    Compares the text with itself shifted by every offset (O(n^2) element comparisons in numpy).
    """
    ids = _dense_ids(tokens)
    best = 0
    for offset in range(1, len(ids)):
        if best >= len(ids) - offset:  # no longer span can fit at this or a larger offset
            break
        same = np.concatenate(([False], ids[:-offset] == ids[offset:], [False]))
        edges = np.flatnonzero(same[1:] != same[:-1])  # alternating run starts and ends
        if edges.size:
            best = max(best, int((edges[1::2] - edges[0::2]).max()))
    return best


def _dense_ids(tokens: Sequence[Hashable]) -> np.ndarray:
    """Map hashable tokens to small integers (equal tokens -> equal ids)."""
    ids: dict[Hashable, int] = {}
    return np.fromiter((ids.setdefault(token, len(ids)) for token in tokens), dtype=np.int64)
