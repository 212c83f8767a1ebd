"""Type-token ratio (TTR): the share of distinct tokens in a text, whole, windowed or by position."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence


def type_token_ratio(tokens: Sequence[Hashable]) -> float:
    """Unique tokens / total tokens; NaN for an empty sequence."""
    tokens = list(tokens)
    if not tokens:
        return math.nan
    return len(set(tokens)) / len(tokens)


def windowed_ttr(tokens: Sequence[Hashable], window: int = 96) -> float:
    """TTR of the last ``window`` tokens (the hyperfitting authors' ``ttr_last96``).

    A sequence shorter than ``window`` gives the TTR of what exists; empty gives NaN.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got window={window}")
    return type_token_ratio(list(tokens)[-window:])


def ttr_by_position(tokens: Sequence[Hashable], window: int = 32) -> list[float]:
    """TTR of successive non-overlapping windows of ``window`` tokens, from the start.

    Only full windows count: a trailing partial window is dropped, because TTR falls with
    length and a shorter last window would not be comparable. Shorter than ``window``: ``[]``.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got window={window}")
    tokens = list(tokens)
    return [type_token_ratio(tokens[start : start + window]) for start in range(0, len(tokens) - window + 1, window)]
