"""Known answers (arithmetic in the comments) for the per-sample and corpus metrics."""

import doctest
import math
from pathlib import Path

import pytest
import torch

from hyperfit_tasks.metrics import (
    distinct_n,
    diversity,
    longest_repeated_span,
    next_token_sharpness,
    rep_n,
    token_repetition,
    ttr_by_position,
    type_token_ratio,
    windowed_ttr,
)
from hyperfit_tasks.metrics.ngrams import ngrams

WORDS = "the cat sat on the mat the cat".split()  # 8 tokens, 5 distinct: the cat sat on mat


def test_ngrams_match_nltk_and_reject_bad_order():
    from nltk.util import ngrams as nltk_ngrams

    for n in (1, 2, 3, 8, 9):
        assert list(ngrams(WORDS, n)) == list(nltk_ngrams(WORDS, n))
    with pytest.raises(ValueError, match="n=0"):
        ngrams(WORDS, 0)


def test_type_token_ratio():
    assert type_token_ratio(WORDS) == 5 / 8
    assert type_token_ratio([7]) == 1.0
    assert type_token_ratio([1, 1, 1, 2]) == 2 / 4
    assert type_token_ratio(("ß", "ß", "日本", "日本", "é")) == 3 / 5  # non-ASCII tokens: 3 distinct of 5
    assert math.isnan(type_token_ratio([]))


def test_windowed_ttr_uses_last_window():
    tokens = [0] * 10 + list(range(1, 5))  # last 4 tokens 1 2 3 4 -> 4/4; last 5 -> 0 1 2 3 4 -> 5/5
    assert windowed_ttr(tokens, window=4) == 1.0
    assert windowed_ttr(tokens, window=6) == 5 / 6  # 0 0 1 2 3 4 -> 5 distinct of 6
    assert windowed_ttr(tokens, window=96) == 5 / 14  # shorter than the window: whole text, 5 of 14
    assert windowed_ttr(list(range(200)) + [0] * 96) == 1 / 96  # default window 96: only zeros left
    assert math.isnan(windowed_ttr([]))
    with pytest.raises(ValueError, match="window"):
        windowed_ttr(tokens, window=0)


def test_ttr_by_position_full_windows_only():
    tokens = [1, 2, 3, 1, 1, 1, 2, 3, 4, 5]  # windows of 3: [1 2 3]=1, [1 1 1]=1/3, [2 3 4]=1, tail [5] dropped
    assert ttr_by_position(tokens, window=3) == [1.0, 1 / 3, 1.0]
    assert ttr_by_position(tokens, window=5) == [3 / 5, 1.0]  # [1 2 3 1 1]=3/5, [1 2 3 4 5]=5/5
    assert ttr_by_position(tokens, window=11) == []
    assert ttr_by_position([], window=3) == []
    assert ttr_by_position(list(range(64)) + [0] * 32) == [1.0, 1.0, 1 / 32]  # default window 32


def test_rep_n():
    # bigrams of WORDS: (the cat) (cat sat) (sat on) (on the) (the mat) (mat the) (the cat): 7, 6 distinct
    assert rep_n(WORDS, 2) == pytest.approx(1 - 6 / 7)
    assert rep_n(WORDS, 1) == pytest.approx(1 - 5 / 8)
    assert rep_n(WORDS, 8) == 0.0  # one 8-gram, unique
    assert rep_n([5, 5, 5, 5], 2) == pytest.approx(1 - 1 / 3)  # (5 5) x3 -> 1 distinct of 3
    assert rep_n(["日本", "語", "日本", "語"], 2) == pytest.approx(1 - 2 / 3)  # (日本 語)(語 日本)(日本 語)
    assert math.isnan(rep_n(WORDS, 9))  # fewer tokens than n: no n-gram
    assert math.isnan(rep_n([], 1))


def test_diversity():
    # WORDS: 1-rep2 = 6/7; trigrams (the cat sat)(cat sat on)(sat on the)(on the mat)(the mat the)(mat the cat)
    # all 6 distinct -> 1; 4-grams: 5, all distinct -> 1. diversity = 6/7
    assert diversity(WORDS) == pytest.approx(6 / 7)
    assert diversity(WORDS, ns=(1, 2)) == pytest.approx(5 / 8 * 6 / 7)
    assert diversity(list(range(10))) == 1.0
    assert diversity([3] * 10) == pytest.approx((1 / 9) * (1 / 8) * (1 / 7))  # one distinct n-gram each
    assert math.isnan(diversity([1, 2, 3]))  # no 4-gram


def test_token_repetition():
    # tokens a b a c a, context 1: a(no) b(no: [a]) a(no: [b]) c(no) a(no) -> 0/5
    # context 2: a no, b no, a yes ([a b]), c no ([b a]), a yes ([a c]) -> 2/5
    tokens = list("abaca")
    assert token_repetition(tokens, context=1) == 0.0
    assert token_repetition(tokens, context=2) == 2 / 5
    assert token_repetition([9, 9, 9, 9]) == 3 / 4  # all but the first repeat the previous token
    assert token_repetition(["ü"]) == 0.0
    # context 16 on 0..19 then 0: the final 0 is 20 tokens back -> not a repeat; with context 32 it is
    tokens = list(range(20)) + [0]
    assert token_repetition(tokens) == 0.0
    assert token_repetition(tokens, context=32) == 1 / 21
    assert math.isnan(token_repetition([]))
    with pytest.raises(ValueError, match="context"):
        token_repetition(tokens, context=0)


def test_longest_repeated_span():
    assert longest_repeated_span("abcabcab") == 5  # "abcab" at 0 and 3 (overlapping)
    assert longest_repeated_span([7, 7, 7, 7]) == 3  # [7 7 7] at 0 and 1
    assert longest_repeated_span(WORDS) == 2  # "the cat" twice
    assert longest_repeated_span(["日", "本", "x", "日", "本"]) == 2
    assert longest_repeated_span([1, 2, 3]) == 0
    assert longest_repeated_span([1]) == 0
    assert longest_repeated_span([]) == 0
    # brute force on random low-vocabulary texts
    rng = torch.Generator().manual_seed(0)
    for _ in range(50):
        tokens = torch.randint(0, 3, (int(torch.randint(0, 30, (1,), generator=rng)),), generator=rng).tolist()
        spans = [
            tuple(tokens[i : i + length]) for length in range(1, len(tokens)) for i in range(len(tokens) - length + 1)
        ]
        expected = max((len(s) for s in set(spans) if spans.count(s) >= 2), default=0)
        assert longest_repeated_span(tokens) == expected


def test_longest_repeated_span_is_fast_on_long_text():
    tokens = list(range(5000)) + list(range(100))  # 100-token repeat in 5,100 tokens
    assert longest_repeated_span(tokens) == 100


def test_distinct_n():
    docs = [["a", "b", "a"], ["a", "b"], []]
    # unigrams: a b a | a b -> 5 total, 2 distinct; bigrams: (a b)(b a) | (a b) -> 3 total, 2 distinct
    assert distinct_n(docs, 1) == 2 / 5
    assert distinct_n(docs, 2) == 2 / 3
    assert distinct_n(docs, 3) == 1.0  # only (a b a)
    assert distinct_n(iter(docs), 2) == 2 / 3  # any iterable of docs
    assert math.isnan(distinct_n(docs, 4))
    assert math.isnan(distinct_n([], 1))


def test_sharpness_uniform():
    vocab = 10
    result = next_token_sharpness(torch.zeros(2, 3, vocab))  # uniform: H = ln V, top-k mass k/V
    assert result["entropy"] == pytest.approx(math.log(vocab), abs=1e-6)
    assert result["top1_prob"] == pytest.approx(0.1, abs=1e-6)
    assert result["top3_prob"] == pytest.approx(0.3, abs=1e-6)
    assert result["top5_prob"] == pytest.approx(0.5, abs=1e-6)
    assert set(result) == {"entropy", "top1_prob", "top3_prob", "top5_prob"}
    assert all(isinstance(value, float) for value in result.values())


def test_sharpness_peaked_and_masked():
    # row 0: logits (ln 6, ln 2, ln 1, ln 1) -> p = (0.6, 0.2, 0.1, 0.1)
    #   H = -(0.6 ln 0.6 + 0.2 ln 0.2 + 2 * 0.1 ln 0.1); top1 .6, top3 .9, top5 (k > V) 1.0
    # row 1: one-hot (-inf elsewhere) -> H = 0, top1 = top3 = top5 = 1
    peaked = torch.tensor([6.0, 2.0, 1.0, 1.0]).log()
    one_hot = torch.tensor([0.0, -math.inf, -math.inf, -math.inf])
    logits = torch.stack([peaked, one_hot, torch.zeros(4)]).unsqueeze(0)  # [1, 3, 4]; row 2 uniform
    h0 = -(0.6 * math.log(0.6) + 0.2 * math.log(0.2) + 2 * 0.1 * math.log(0.1))
    masked = next_token_sharpness(logits, mask=torch.tensor([[True, True, False]]))
    assert masked["entropy"] == pytest.approx(h0 / 2, abs=1e-6)
    assert masked["top1_prob"] == pytest.approx((0.6 + 1.0) / 2, abs=1e-6)
    assert masked["top3_prob"] == pytest.approx((0.9 + 1.0) / 2, abs=1e-6)
    assert masked["top5_prob"] == pytest.approx(1.0, abs=1e-6)
    # an integer mask works the same; without a mask the uniform row (H = ln 4, top1 .25) joins
    assert next_token_sharpness(logits, mask=torch.tensor([[1, 1, 0]])) == masked
    full = next_token_sharpness(logits)
    assert full["entropy"] == pytest.approx((h0 + math.log(4)) / 3, abs=1e-6)
    assert full["top1_prob"] == pytest.approx((0.6 + 1.0 + 0.25) / 3, abs=1e-6)
    assert full["top3_prob"] == pytest.approx((0.9 + 1.0 + 0.75) / 3, abs=1e-6)


def test_sharpness_empty_mask_and_bad_mask():
    logits = torch.zeros(2, 5)
    assert all(
        math.isnan(value) for value in next_token_sharpness(logits, mask=torch.zeros(2, dtype=torch.bool)).values()
    )
    with pytest.raises(ValueError, match="mask shape"):
        next_token_sharpness(logits, mask=torch.ones(3, dtype=torch.bool))


def test_metric_card_examples_run():
    cards = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
    result = doctest.testfile(str(cards), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 20 and result.failed == 0
