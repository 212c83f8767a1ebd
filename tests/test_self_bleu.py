"""Self-BLEU equals nltk's sentence_bleu loop (method1 smoothing) to 1e-9, quirks included."""

import math
import random

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from hyperfit_tasks.metrics import self_bleu, self_bleu_per_doc
from hyperfit_tasks.metrics.self_bleu import SelfBleuOfResamples


def nltk_self_bleu_per_doc(docs, max_n):
    """The reference definition: each doc against all others with nltk."""
    smoothing = SmoothingFunction().method1
    return [
        sentence_bleu(
            [other for j, other in enumerate(docs) if j != i],
            doc,
            weights=(1 / max_n,) * max_n,
            smoothing_function=smoothing,
        )
        for i, doc in enumerate(docs)
    ]


def assert_matches_nltk(docs, max_n):
    expected = nltk_self_bleu_per_doc(docs, max_n)
    assert self_bleu_per_doc(docs, max_n=max_n) == pytest.approx(expected, abs=1e-9, rel=0)
    assert self_bleu(docs, max_n=max_n) == pytest.approx(sum(expected) / len(expected), abs=1e-9, rel=0)


def random_corpus(rng, num_docs, vocab, lengths):
    return [[rng.randrange(vocab) for _ in range(rng.choice(lengths))] for _ in range(num_docs)]


@pytest.mark.parametrize("max_n", [2, 4])
@pytest.mark.parametrize("num_docs", [2, 3, 7, 20, 60])
def test_random_corpora_match_nltk(num_docs, max_n):
    rng = random.Random(num_docs * 10 + max_n)
    # small vocabularies force repeated n-grams, ties in counts and ties in closest reference length
    for vocab in (2, 5, 40):
        assert_matches_nltk(random_corpus(rng, num_docs, vocab, lengths=range(0, 31)), max_n)


@pytest.mark.parametrize("max_n", [1, 2, 3, 4, 5])
def test_very_short_and_empty_docs_match_nltk(max_n):
    rng = random.Random(max_n)
    for _ in range(30):
        docs = random_corpus(rng, rng.randint(2, 9), vocab=3, lengths=(0, 1, 3))
        assert_matches_nltk(docs, max_n)
    assert_matches_nltk([[], []], max_n)  # all empty: every score 0
    assert_matches_nltk([[1], []], max_n)  # the only reference is empty


def test_duplicate_docs_and_strings_match_nltk():
    rng = random.Random(7)
    base = random_corpus(rng, 12, vocab=6, lengths=range(5, 25))
    docs = base + base[:4] + [base[0]]  # exact duplicates, one three times
    assert_matches_nltk(docs, 4)
    words = [["日本", "語", "é", "ß", "the"][rng.randrange(5)] for _ in range(200)]
    assert_matches_nltk([words[i : i + rng.randint(0, 20)] for i in range(0, 200, 10)], 4)


def test_known_values():
    # identical docs: every precision 1, equal lengths -> BLEU 1
    # disjoint docs: no unigram match -> 0 even with smoothing (nltk returns 0 early)
    assert self_bleu([[1, 2, 3, 4, 5]] * 3) == pytest.approx(1.0)
    assert self_bleu_per_doc([[1, 2], [3, 4]]) == [0.0, 0.0]
    # closest reference length, ties to the shorter (max_n=1, precision = clipped unigram matches / length):
    # doc0 abcde: 5/5 matched; refs 3 and 7 tie at distance 2 -> 3 < 5 -> BP 1          -> 1
    # doc1 abc:   3/3 matched; refs 5 and 7 -> 5 > 3 -> BP exp(1 - 5/3)                  -> exp(-2/3)
    # doc2 abcdefg: a..e matched 5/7; refs 5 and 3 -> 5 < 7 -> BP 1                       -> 5/7
    docs = [list("abcde"), list("abc"), list("abcdefg")]
    assert self_bleu_per_doc(docs, max_n=1) == pytest.approx([1.0, math.exp(-2 / 3), 5 / 7], abs=1e-12)
    # abcd vs abxy, max_n=2: p1 = 2/4 (a b), p2 = 1/3 (ab) -> sqrt(1/2 * 1/3)
    assert self_bleu_per_doc([list("abcd"), list("abxy")], max_n=2) == pytest.approx([math.sqrt(1 / 6)] * 2)
    # axby vs aybx: every unigram matches, p1 = 4/4; no bigram matches, method1 smoothing:
    # p2 = (0 + 0.1) / 3 -> sqrt(1 * 0.1/3)
    assert self_bleu_per_doc([list("axby"), list("aybx")], max_n=2) == pytest.approx([math.sqrt(0.1 / 3)] * 2)


def test_fewer_than_two_docs_warn_and_return_nan():
    with pytest.warns(UserWarning, match="at least 2 texts, got 1"):
        assert math.isnan(self_bleu([[1, 2, 3]]))
    with pytest.warns(UserWarning, match="at least 2 texts"):
        per_doc = self_bleu_per_doc([[1, 2, 3]])
    assert len(per_doc) == 1 and math.isnan(per_doc[0])
    with pytest.warns(UserWarning, match="got 0"):
        assert math.isnan(self_bleu([]))


def test_bad_max_n():
    with pytest.raises(ValueError, match="max_n"):
        self_bleu([[1], [2]], max_n=0)


@pytest.mark.parametrize("max_n", [1, 4])
def test_resamples_equal_self_bleu_of_the_resampled_docs_exactly(max_n):
    """SelfBleuOfResamples (each doc's n-grams counted once) gives, bit for bit, self_bleu of the resampled list, whose
    repeats are duplicate documents (each matching the other fully); and it matches nltk on a resample."""
    rng = random.Random(max_n)
    docs = random_corpus(rng, 25, vocab=6, lengths=[0, 1, 2, *range(5, 30)])
    of_rows = SelfBleuOfResamples(docs, max_n=max_n)
    for _ in range(40):
        rows = [rng.randrange(len(docs)) for _ in range(rng.choice([2, 3, 25]))]
        assert of_rows(rows) == self_bleu([docs[j] for j in rows], max_n=max_n)
    rows = [0, 3, 3, 7, 11, 11, 11, 20]
    expected = nltk_self_bleu_per_doc([docs[j] for j in rows], max_n)
    assert of_rows(rows) == pytest.approx(sum(expected) / len(expected), abs=1e-9, rel=0)
    with pytest.warns(UserWarning, match="at least 2 texts"):
        assert math.isnan(of_rows([4]))
