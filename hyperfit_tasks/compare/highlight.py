"""Repeated n-grams inside one continuation, marked so that the HTML page shows a reader the repetition.

Words are nltk ``wordpunct_tokenize`` units (as hyperfit's word metrics count them). A word is
marked when it belongs to an n-gram that already occurred earlier in the same text (the
earlier occurrence may overlap it); runs of marked words become one marked piece (one ``<mark>`` on the page).
"""
from __future__ import annotations

from hyperfit_tasks.metrics.ngrams import ngrams

REPEAT_N = 4


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` (``nltk`` ``WordPunctTokenizer.span_tokenize``)."""
    from nltk.tokenize import WordPunctTokenizer

    return list(WordPunctTokenizer().span_tokenize(text))


def repeated_word_mask(words: list[str], n: int = REPEAT_N) -> list[bool]:
    """For each word: does it belong to an ``n``-gram seen earlier in ``words``?"""
    if n < 1:
        raise ValueError(f"n must be >= 1, got n={n}")
    marked = [False] * len(words)
    seen: set[tuple] = set()
    for start, gram in enumerate(ngrams(words, n)):
        if gram in seen:
            marked[start : start + n] = [True] * n
        seen.add(gram)
    return marked


def repeated_share(text: str, n: int = REPEAT_N) -> float:
    """Share of the words of ``text`` that are marked as repeated (0.0 for a text without words)."""
    spans = word_spans(text)
    mask = repeated_word_mask([text[a:b] for a, b in spans], n)
    return sum(mask) / len(mask) if mask else 0.0


def repeat_segments(text: str, n: int = REPEAT_N) -> list[tuple[str, bool]]:
    """``text`` cut into consecutive non-empty pieces, each with whether it is a run of repeated words."""
    spans = word_spans(text)
    mask = repeated_word_mask([text[a:b] for a, b in spans], n)
    pieces, position, index = [], 0, 0
    while index < len(spans):
        if not mask[index]:
            index += 1
            continue
        end_index = index
        while end_index + 1 < len(spans) and mask[end_index + 1]:
            end_index += 1
        start, end = spans[index][0], spans[end_index][1]
        pieces += [(text[position:start], False), (text[start:end], True)]
        position, index = end, end_index + 1
    pieces.append((text[position:], False))
    return [(piece, repeated) for piece, repeated in pieces if piece]
