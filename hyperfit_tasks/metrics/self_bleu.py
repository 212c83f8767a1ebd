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
    matches = _clipped_matches(docs, lengths, max_n)
    ref_lengths = _closest_other_lengths(lengths.tolist())
    weight = 1 / max_n
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
    matches = []
    for n in range(1, max_n + 1):
        starts = np.flatnonzero(room >= n)
        if starts.size == 0:  # no doc has n tokens
            matches.append(np.zeros(num_docs))
            continue
        if n > 1:  # number n-grams exactly: (id of the (n-1)-gram, next token) -> dense id
            keys = gram_ids[starts] * len(vocabulary) + tokens[starts + n - 1]
            gram_ids = np.zeros_like(tokens)
            gram_ids[starts] = np.unique(keys, return_inverse=True)[1]
        pairs, counts = np.unique(gram_ids[starts] * num_docs + doc_of[starts], return_counts=True)
        gram, doc = np.divmod(pairs, num_docs)
        order = np.lexsort((-counts, gram))  # per n-gram, documents by descending count
        gram, doc, counts = gram[order], doc[order], counts[order]
        first = np.flatnonzero(np.r_[True, gram[1:] != gram[:-1]])
        group = np.repeat(np.arange(first.size), np.diff(np.r_[first, gram.size]))
        top_count, top_doc = counts[first], doc[first]
        has_second = np.r_[first[1:], gram.size] - first > 1
        second_count = np.where(has_second, counts[np.minimum(first + 1, gram.size - 1)], 0)
        max_in_others = np.where(doc == top_doc[group], second_count[group], top_count[group])
        clipped = np.minimum(counts, max_in_others)
        matches.append(np.bincount(doc, weights=clipped, minlength=num_docs))
    return matches


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
