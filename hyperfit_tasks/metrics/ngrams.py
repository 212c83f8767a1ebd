"""n-gram extraction shared by the repetition, distinct-n and Self-BLEU metrics."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence


def ngrams(tokens: Sequence[Hashable], n: int) -> Iterator[tuple]:
    """Yield the contiguous n-grams of ``tokens`` as tuples (none when ``len(tokens) < n``).

    Same output as ``nltk.util.ngrams``; kept here because importing nltk takes seconds.
    """
    if n < 1:
        raise ValueError(f"n-gram order must be >= 1, got n={n}")
    tokens = list(tokens)
    return zip(*(tokens[offset:] for offset in range(n)))
