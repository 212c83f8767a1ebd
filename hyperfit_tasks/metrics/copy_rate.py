"""Training-copy metrics: how much of a continuation is copied from the hyperfitting data (token ids).

``training_kgram_rate`` (share of K-grams found in the training data), ``longest_training_span`` and
``training_overlap_over_10`` (the paper's "dataset overlap"), over a suffix array of the training tokens; formulas and
costs: ``docs/controls.md``. ``training_reference`` and ``copy_metrics_for_text`` are the lm-eval tasks' entry points.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from hyperfit_tasks.common.errors import TrainingDataError
from hyperfit_tasks.common.model_args import evaluated_model_name
from hyperfit_tasks.common.training_tokens import load_training_sequences, recorded_tokenizer, resolve_training_source
from hyperfit_tasks.metrics.text_units import load_tokenizer
from hyperfit_tasks.models.citation_blocker import DEFAULT_BLOCK_LEN

OVERLAP_THRESHOLD = 10
REFERENCE_FIELDS = ("training_data", "tokenizer")


class TrainingSpanIndex:
    """Exact occurrence look-ups of token spans in a set of token sequences (a suffix array)."""

    def __init__(self, sequences: Iterable[Sequence[int] | np.ndarray]):
        parts = []
        for ids in sequences:
            parts += [np.asarray(ids, dtype=np.int64), np.array([-1])]  # -1: document separator
        text = np.concatenate(parts) if parts else np.array([-1])
        if text.size > 1 and text.min() < -1:
            raise ValueError("token ids must be >= 0")
        self._suffixes = suffix_array(text).tolist()
        self._text = text.tolist()  # ends with a separator: a matched span never runs off the end

    def __len__(self) -> int:
        """Number of training tokens."""
        return len(self._text) - self._text.count(-1)

    def _narrow(self, ids: Sequence[int], start: int, limit: int) -> tuple[int, int, int]:
        """Match ids[start:start+limit] token by token; (matched length, suffix-array range)."""
        low, high, text = 0, len(self._suffixes), self._text
        for depth in range(min(limit, len(ids) - start)):
            token = int(ids[start + depth])
            low = bisect_left(self._suffixes, token, low, high, key=lambda suffix: text[suffix + depth])
            high = bisect_right(self._suffixes, token, low, high, key=lambda suffix: text[suffix + depth])
            if low == high:
                return depth, low, high
        return min(limit, len(ids) - start), low, high

    def count(self, span: Sequence[int]) -> int:
        """Number of occurrences of ``span`` in the training data (0 for an empty span)."""
        if not len(span):
            return 0
        matched, low, high = self._narrow(span, 0, len(span))
        return high - low if matched == len(span) else 0

    def __contains__(self, span: Sequence[int]) -> bool:
        return self.count(span) > 0

    def match_length(self, ids: Sequence[int], start: int = 0, limit: int | None = None) -> int:
        """Length of the longest prefix of ``ids[start:]`` (at most ``limit`` tokens) found in the data."""
        return self._narrow(ids, start, len(ids) if limit is None else limit)[0]


def suffix_array(text: np.ndarray) -> np.ndarray:
    """Start positions of the suffixes of ``text`` in lexicographic order (prefix doubling, numpy).

    A suffix that is a prefix of another sorts first; O(N log N) per round, log2(longest repeat) rounds.
    """
    rank = np.unique(text, return_inverse=True)[1].astype(np.int64).ravel()
    size, step = len(rank), 1
    while True:
        second = np.full(size, -1, dtype=np.int64)
        second[: max(size - step, 0)] = rank[step:]
        order = np.lexsort((second, rank))
        first_sorted, second_sorted = rank[order], second[order]
        changed = (first_sorted[1:] != first_sorted[:-1]) | (second_sorted[1:] != second_sorted[:-1])
        rank = np.empty(size, dtype=np.int64)
        rank[order] = np.concatenate(([0], np.cumsum(changed)))
        if size == 0 or rank.max() == size - 1 or step >= size:
            return order
        step *= 2


def training_kgram_rate(ids: Sequence[int], index: TrainingSpanIndex, k: int = DEFAULT_BLOCK_LEN) -> float:
    """Share of the K-grams of ``ids`` that occur in the training data; NaN with fewer than K tokens."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got k={k}")
    windows = len(ids) - k + 1
    if windows < 1:
        return math.nan
    return sum(index.match_length(ids, start, k) == k for start in range(windows)) / windows


def longest_training_span(ids: Sequence[int], index: TrainingSpanIndex) -> int:
    """Length of the longest contiguous span of ``ids`` that occurs in the training data (0 if none)."""
    best = 0
    for start in range(len(ids)):
        if len(ids) - start <= best:
            break
        if index.match_length(ids, start, best + 1) == best + 1:  # only a longer span can change the answer
            best = index.match_length(ids, start)
    return best


def copy_metrics(ids: Sequence[int], index: TrainingSpanIndex, k: int = DEFAULT_BLOCK_LEN) -> dict[str, float]:
    """All training-copy metrics of one continuation (token ids)."""
    longest = longest_training_span(ids, index)
    return {
        "training_kgram_rate": training_kgram_rate(ids, index, k),
        "longest_training_span": float(longest),
        f"training_overlap_over_{OVERLAP_THRESHOLD}": float(longest > OVERLAP_THRESHOLD),
    }


@lru_cache(maxsize=4)
def _cached_index(path: str, modified: float, tokenizer_name: str | None) -> TrainingSpanIndex:
    tokenizer = _cached_tokenizer(tokenizer_name) if tokenizer_name else None
    return TrainingSpanIndex(load_training_sequences(path, tokenizer))


def _cached_tokenizer(name: str):
    """The tokenizer of the continuation text (cached by :func:`load_tokenizer`); its error as a
    :class:`TrainingDataError`."""
    try:
        return load_tokenizer(name)
    except ValueError as error:
        raise TrainingDataError(f"training-copy metrics: {error}") from None


def load_span_index(source: str | os.PathLike, tokenizer: str | None = None) -> TrainingSpanIndex:
    """The span index of a training set (formats of ``training_tokens``), cached per file and tokenizer."""
    path = resolve_training_source(source)
    return _cached_index(str(path.resolve()), path.stat().st_mtime, tokenizer if path.suffix != ".parquet" else None)


def training_reference(metadata: dict) -> dict[str, str]:
    """From lm-eval task metadata, the run's training reference for :func:`copy_metrics_for_text`.

    Training data: ``training_data`` (``--metadata '{"training_data": PATH}'``) or else
    ``blocked_data`` (lm-eval merges ``--model_args`` into the metadata, so the blocked model's own
    data is used). Tokenizer for the continuation text: the evaluated model's (``--model_args``),
    else the one the trainer recorded in train_blocks.parquet. Both fields are empty when no training data is given.
    """
    source = metadata.get("training_data") or metadata.get("blocked_data")
    if not source:
        return dict.fromkeys(REFERENCE_FIELDS, "")
    resolve_training_source(source)  # a bad path fails now, with one line
    tokenizer = evaluated_model_name(metadata) or recorded_tokenizer(source)
    if not isinstance(tokenizer, (str, Path)):
        raise TrainingDataError(
            'training-copy metrics need the evaluated model\'s tokenizer: add "tokenizer": PATH to --metadata'
        )
    return {"training_data": str(source), "tokenizer": str(tokenizer)}


def copy_metrics_for_text(
    continuation: str, reference: dict[str, str], k: int = DEFAULT_BLOCK_LEN
) -> dict[str, float]:
    """``process_results`` helper: the copy metrics of ``continuation`` (text) against the run's
    ``reference`` (from :func:`training_reference`), or {} when the run names no training data."""
    if not reference.get("training_data"):
        return {}
    index = load_span_index(reference["training_data"], reference["tokenizer"])
    ids = _cached_tokenizer(reference["tokenizer"])(continuation, add_special_tokens=False)["input_ids"]
    return copy_metrics(ids, index, k)
