"""Self-BLEU (Zhu et al. 2018, Texygen): BLEU of each text against all the others; higher = less diverse.

Exactly nltk's ``sentence_bleu(others, doc, weights=(1/max_n,)*max_n,
smoothing_function=SmoothingFunction().method1)`` for every doc, computed for all docs at once:
leaving doc i out of the references changes an n-gram's maximum reference count only when doc i
holds its unique maximum, so each n-gram's top two document counts (and the doc holding the top)
suffice. n-grams are numbered exactly (no hashing) with numpy, so the cost grows like N log N.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

SMOOTHING_EPSILON = 0.1  # nltk SmoothingFunction(epsilon=0.1).method1: 0 matches -> 0.1 / n-gram count


def self_bleu(docs: Sequence[Sequence[Hashable]], max_n: int = 4) -> float:
    """Mean over docs of BLEU-``max_n`` of each doc against all other docs (nltk method1 smoothing).

    Fewer than 2 docs: warns and returns NaN.
    """
    scores = self_bleu_per_doc(docs, max_n=max_n)
    return math.fsum(scores) / len(scores) if len(scores) >= 2 else math.nan


def self_bleu_per_doc(docs: Sequence[Sequence[Hashable]], max_n: int = 4) -> list[float]:
    """BLEU-``max_n`` of each doc (hypothesis) against all other docs (references), nltk-exact.

    Fewer than 2 docs: warns and returns NaN for each.
    """
    if not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive integer, got max_n={max_n!r}")
    docs = [list(doc) for doc in docs]
    if len(docs) < 2:
        warnings.warn(f"Self-BLEU needs at least 2 texts, got {len(docs)}; returning NaN", stacklevel=2)
        return [math.nan] * len(docs)
    lengths = np.array([len(doc) for doc in docs], dtype=np.int64)
    return _scores(_clipped_matches(docs, lengths, max_n), lengths)


def _scores(matches: list[np.ndarray], lengths: np.ndarray) -> list[float]:
    """nltk's smoothed BLEU of each doc from its clipped n-gram matches, its length and the others' lengths."""
    ref_lengths = _closest_other_lengths(lengths.tolist())
    weight = 1 / len(matches)
    scores = []
    for i, hyp_len in enumerate(lengths.tolist()):
        if hyp_len == 0 or matches[0][i] == 0:  # nltk returns 0 when no unigram matches
            scores.append(0.0)
            continue
        log_precisions = []
        for n, numerators in enumerate(matches, start=1):
            numerator, denominator = int(numerators[i]), max(1, hyp_len - n + 1)
            precision = numerator / denominator if numerator else SMOOTHING_EPSILON / denominator
            log_precisions.append(weight * math.log(precision))
        ref_len = ref_lengths[i]
        brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
        scores.append(brevity * math.exp(math.fsum(log_precisions)))
    return scores


def _clipped_matches(docs: list[list[Hashable]], lengths: np.ndarray, max_n: int) -> list[np.ndarray]:
    """For n = 1..max_n: per doc, sum over its n-grams of min(count in doc, max count in any other doc)."""
    return [
        np.zeros(len(docs)) if gram.size == 0 else _clip(gram, doc, counts, len(docs))
        for gram, doc, counts in _gram_counts(docs, lengths, max_n)
    ]


def _gram_counts(
    docs: list[list[Hashable]], lengths: np.ndarray, max_n: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For n = 1..max_n: the (n-gram id, doc, count) of every n-gram each doc holds, n-grams numbered exactly."""
    num_docs = len(docs)
    vocabulary: dict[Hashable, int] = {}
    tokens = np.fromiter(
        (vocabulary.setdefault(token, len(vocabulary)) for doc in docs for token in doc),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    doc_of = np.repeat(np.arange(num_docs, dtype=np.int64), lengths)
    position = np.arange(tokens.size, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    room = lengths[doc_of] - position  # tokens from each position to the end of its doc
    gram_ids = tokens  # id of the n-gram starting at each position (valid where room >= n)
    found = []
    for n in range(1, max_n + 1):
        starts = np.flatnonzero(room >= n)
        if starts.size == 0:  # no doc has n tokens
            found.append((np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)))
            continue
        if n > 1:  # number n-grams exactly: (id of the (n-1)-gram, next token) -> dense id
            keys = gram_ids[starts] * len(vocabulary) + tokens[starts + n - 1]
            gram_ids = np.zeros_like(tokens)
            gram_ids[starts] = np.unique(keys, return_inverse=True)[1]
        pairs, counts = np.unique(gram_ids[starts] * num_docs + doc_of[starts], return_counts=True)
        gram, doc = np.divmod(pairs, num_docs)
        found.append((gram, doc, counts))
    return found


def _clip(gram: np.ndarray, doc: np.ndarray, counts: np.ndarray, num_docs: int) -> np.ndarray:
    """Per doc, the sum of min(count, max count of the same n-gram in any other doc) over its (n-gram, count) entries
    (one entry per n-gram and doc)."""
    order = np.lexsort((-counts, gram))  # per n-gram, documents by descending count
    return _clip_sorted(gram[order], doc[order], counts[order], np.ones(order.size, dtype=bool), num_docs)


def _clip_sorted(
    gram: np.ndarray, doc: np.ndarray, counts: np.ndarray, alone: np.ndarray, num_docs: int
) -> np.ndarray:
    """:func:`_clip` of entries sorted by n-gram, then by descending count; ``alone``: the entry's doc has no copy.

    Leaving a doc out changes an n-gram's maximum only where that doc holds the top count and no copy of it
    (nor any other doc) does: then the maximum in the others is the second count.
    """
    first = np.flatnonzero(np.r_[True, gram[1:] != gram[:-1]])
    group = np.repeat(np.arange(first.size), np.diff(np.r_[first, gram.size]))
    top_count, top_doc = counts[first], doc[first]
    has_second = np.r_[first[1:], gram.size] - first > 1
    second_count = np.where(has_second, counts[np.minimum(first + 1, gram.size - 1)], 0)
    max_in_others = np.where((doc == top_doc[group]) & alone, second_count[group], top_count[group])
    return np.bincount(doc, weights=np.minimum(counts, max_in_others), minlength=num_docs)


class SelfBleuOfResamples:
    """:func:`self_bleu` of any resample (document indices, repeats allowed) of fixed ``docs``, exactly.

    Each doc's n-gram counts are found and sorted once; a resample keeps the entries of its docs (a
    doc drawn twice is two documents with the same counts, each matching the other fully) and needs
    no sort, instead of numbering every token and n-gram again (``hyperfit-compare``'s paired
    bootstrap scores 1,000 resamples per run).
    """

    def __init__(self, docs: Sequence[Sequence[Hashable]], max_n: int = 4):
        docs = [list(doc) for doc in docs]
        self.lengths = np.array([len(doc) for doc in docs], dtype=np.int64)
        self.orders = []  # per n: (n-gram ids, docs, counts), sorted by n-gram, then by descending count
        for gram, doc, counts in _gram_counts(docs, self.lengths, max_n):
            order = np.lexsort((-counts, gram))
            self.orders.append((gram[order], doc[order], counts[order]))

    def __call__(self, rows: Sequence[int]) -> float:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size < 2:
            warnings.warn(f"Self-BLEU needs at least 2 texts, got {rows.size}; returning NaN", stacklevel=2)
            return math.nan
        copies = np.bincount(rows, minlength=self.lengths.size)
        matches = []
        for gram, doc, counts in self.orders:
            kept = np.flatnonzero(copies[doc] > 0)
            if kept.size == 0:
                matches.append(np.zeros(rows.size))
                continue
            per_doc = _clip_sorted(gram[kept], doc[kept], counts[kept], copies[doc[kept]] == 1, self.lengths.size)
            matches.append(per_doc[rows])
        scores = _scores(matches, self.lengths[rows])
        return math.fsum(scores) / len(scores)


def _closest_other_lengths(lengths: list[int]) -> list[int]:
    """nltk ``closest_ref_length`` against all other docs: nearest length, ties to the shorter."""
    multiplicity = Counter(lengths)
    distinct = sorted(multiplicity)
    closest = []
    for length in lengths:
        if multiplicity[length] > 1:
            closest.append(length)
            continue
        at = bisect.bisect_left(distinct, length)
        shorter = distinct[at - 1] if at > 0 else None
        longer = distinct[at + 1] if at + 1 < len(distinct) else None
        if longer is None or (shorter is not None and length - shorter <= longer - length):
            closest.append(shorter)
        else:
            closest.append(longer)
    return closest
