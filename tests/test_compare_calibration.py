"""Size and coverage of hyperfit-compare's paired tests, by simulation on synthetic runs with known answers.

* Size: under a true null (both runs' outputs of a prompt drawn from the same distribution, so they are exchangeable
  within the prompt) every metric family is rejected at p < 0.05 in about 5% of replicates: per-text means (with and
  without ties), the corpus-level Self-BLEU and distinct-4, and a perplexity. The old bootstrap rejected Self-BLEU in
  56% of such replicates, because a resample that repeats a text halves Self-BLEU's and distinct-n's spread.
* Coverage: a corpus metric's 95% interval (jackknife over prompts) holds its true expected difference at 12 and 32
  prompts in at least 90% of replicates (the bootstrap's covered 66%).

The band is binomial: the 99.9% interval of the rejection count of a test whose size is exactly 0.05.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from hyperfit_tasks.compare.paired import Pooled, corpus_test, jackknife_interval, mean_test, resolve_aggregation

VOCABULARY = [f"w{i}" for i in range(3000)]
WORDS = 48


def topic_text(rng: np.random.Generator, topic: np.ndarray, loop: float) -> str:
    """A text of WORDS words from a prompt's topic words; with probability ``loop`` it repeats a short phrase."""
    if rng.random() < loop:
        phrase = list(rng.choice(topic, rng.integers(4, 12)))
        return " ".join((phrase * WORDS)[:WORDS])
    return " ".join(rng.choice(topic, WORDS))


def topics(rng: np.random.Generator, prompts: int) -> list[np.ndarray]:
    """Per prompt its own 40 topic words: texts of one prompt resemble each other, as continuations of one prompt
    do."""
    return [rng.choice(VOCABULARY, 40, replace=False) for _ in range(prompts)]


def band(replicates: int) -> tuple[float, float]:
    low, high = scipy.stats.binom.interval(0.999, replicates, 0.05)
    return low / replicates, high / replicates


@pytest.mark.parametrize("prompts", [12, 32])
def test_per_text_means_keep_their_size_with_and_without_ties(prompts):
    rng = np.random.default_rng(prompts)
    replicates = 400
    rejected = {"skewed": 0, "tied": 0}
    for r in range(replicates):
        effect = rng.exponential(1.0, prompts)  # prompts differ a lot; within a prompt the two runs are exchangeable
        base, run = effect + rng.exponential(1.0, prompts), effect + rng.exponential(1.0, prompts)
        rejected["skewed"] += mean_test(base, run, permutations=199, seed=r).p_value < 0.05
        # continuation length: most texts run to 256 tokens (ties), some stop early
        lengths = np.where(rng.random((2, prompts)) < 0.7, 256.0, rng.integers(100, 256, (2, prompts)))
        rejected["tied"] += mean_test(lengths[0], lengths[1], permutations=199, seed=r).p_value < 0.05
    low, high = band(replicates)
    for family, count in rejected.items():
        assert count / replicates <= high, (family, count)
    assert rejected["skewed"] / replicates >= low  # not merely conservative where nothing ties


@pytest.mark.parametrize("metric, name", [("self_bleu", "self_bleu_words"), ("distinct_4", "aggregate")])
def test_corpus_metrics_keep_their_size_under_a_true_null(metric, name):
    """The case that failed: Self-BLEU "significant" in 56% of null replicates under the bootstrap."""
    aggregation = resolve_aggregation(f"def {name}(continuations)", metric)
    rng = np.random.default_rng(7)
    replicates, prompts = 200, 12
    rejected = 0
    for r in range(replicates):
        words = topics(rng, prompts)
        base = [topic_text(rng, topic, 0.5) for topic in words]
        run = [topic_text(rng, topic, 0.5) for topic in words]
        stat = corpus_test(Pooled(aggregation, base + run), base, run, permutations=39, seed=r)
        rejected += stat.p_value < 0.05
    low, high = band(replicates)
    assert low <= rejected / replicates <= high, rejected


def test_a_perplexity_keeps_its_size_under_a_true_null():
    """lm-eval's weighted_perplexity (word perplexity of the whole corpus) as the aggregation of (loglik, words)
    items."""
    aggregation = resolve_aggregation("weighted_perplexity", "word_perplexity")
    rng = np.random.default_rng(11)
    replicates, prompts = 300, 16
    rejected = 0
    for r in range(replicates):
        words = rng.integers(50, 400, prompts)
        difficulty = rng.normal(3.0, 0.5, prompts)  # per-document nats per word, shared by both runs
        base = [(-float(w * (d + rng.normal(0, 0.3))), int(w)) for w, d in zip(words, difficulty)]
        run = [(-float(w * (d + rng.normal(0, 0.3))), int(w)) for w, d in zip(words, difficulty)]
        stat = corpus_test(Pooled(aggregation, base + run), base, run, permutations=39, seed=r)
        rejected += stat.p_value < 0.05
    low, high = band(replicates)
    assert low <= rejected / replicates <= high, rejected


@pytest.mark.parametrize("metric, name", [("distinct_4", "aggregate"), ("self_bleu", "self_bleu_words")])
@pytest.mark.parametrize("prompts", [12, 32])
def test_corpus_metric_interval_covers_its_known_expected_difference(metric, name, prompts):
    """A population of 400 prompts with fixed continuations of two runs (the run loops less); the truth is the expected
    difference at ``prompts`` texts (distinct-n and Self-BLEU depend on the corpus size), averaged over 1,500 draws."""
    aggregation = resolve_aggregation(f"def {name}(continuations)", metric)
    rng = np.random.default_rng(prompts)
    population = 400
    words = topics(rng, population)
    base = [topic_text(rng, topic, 0.6) for topic in words]
    run = [topic_text(rng, topic, 0.2) for topic in words]
    pooled = Pooled(aggregation, base + run)
    draws = [rng.choice(population, prompts, replace=False) for _ in range(1500)]
    truth = np.mean([pooled.score(rows + population) - pooled.score(rows) for rows in draws])
    replicates, covered = 150, 0
    for rows in draws[:replicates]:
        # the sample's own pooled list: its n baseline texts, then its n run texts
        sample = Pooled(aggregation, [base[j] for j in rows] + [run[j] for j in rows])
        delta = sample.score(np.arange(prompts, 2 * prompts)) - sample.score(np.arange(prompts))
        low, high = jackknife_interval(sample.score, prompts, delta)
        covered += low <= truth <= high
    assert covered / replicates >= 0.90, (covered, truth)
