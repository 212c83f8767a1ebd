"""The metric catalogue: one row per metric that hyperfit's tasks report, and everything other code needs to know of
it.

Each :class:`Metric` says how lm-eval reduces it (``aggregation``: an lm-eval aggregation name for a per-text mean,
the function itself for a corpus metric), its direction, its one display label (the same in the terminal, the tables,
the pages, the plots and the model card), its range, whether it moves with continuation length, and where it shows by
default (:data:`VIEWS`). A metric with an ``item`` (its per-document value or corpus item, from a
:class:`Continuation`) is also registered in lm-eval as ``hyperfit_<name>``
(:mod:`hyperfit_tasks.tasks.registered_metrics`), so anyone's ``generate_until`` task can list it;
``hyperfit_tasks.tasks.continuation_scores`` returns the same items, and ``hyperfit-compare`` finds a metric's
aggregation, direction and label here by either name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from hyperfit_tasks.metrics import corpus
from hyperfit_tasks.metrics.lexical import ttr_by_position, type_token_ratio, windowed_ttr
from hyperfit_tasks.metrics.mauve_features import DEFAULT_FEATURIZER
from hyperfit_tasks.metrics.mauve_score import mauve_aggregation
from hyperfit_tasks.metrics.repetition import diversity, longest_repeated_span, rep_n, token_repetition
from hyperfit_tasks.metrics.text_units import DEFAULT_TOKENIZER, token_ids, words

PREFIX = "hyperfit_"  # lm-eval registry names: hyperfit_<name>
LAST_WINDOW = 96  # the hyperfitting authors' TTR window (last 96 generated tokens)
POSITION_WINDOW = 32  # window of the TTR-by-position curve
REPETITION_CONTEXT = 16  # previous tokens searched by token_repetition (Welleck et al. rep/l)

TEXT, CORPUS = "text", "corpus"  # level: a mean of per-text values, or one number of all texts of a task
SENSITIVE, ROBUST = "sensitive", "robust"  # how a metric reacts to continuation length (docs/metrics.md, "Length")
# default views, each an ordered selection of metrics: the headline verdict (terminal, table.md, index.html, forest
# plot), the metric-by-epoch plots, and hyperfit-demo's answer table
HEADLINE, PLOTS, ANSWER = "headline", "plots", "answer"
UNIT = (0.0, 1.0)
COUNT = (0.0, math.inf)
PERPLEXITY = (1.0, math.inf)
SIMILARITY = (-1.0, 1.0)  # a cosine


@dataclass(frozen=True)
class Continuation:
    """One generated continuation as the metrics read it: its text, the human reference and the scoring settings."""

    text: str
    reference: str = ""
    metric_tokenizer: str = DEFAULT_TOKENIZER
    mauve_featurizer: str = DEFAULT_FEATURIZER

    @cached_property
    def tokens(self) -> list[int]:
        return token_ids(self.text, self.metric_tokenizer)

    @cached_property
    def words(self) -> list[str]:
        return words(self.text)

    @cached_property
    def curve(self) -> list[float]:
        return ttr_by_position(self.tokens, POSITION_WINDOW)


@dataclass(frozen=True)
class Metric:
    """One metric: its row of the catalogue (module docstring)."""

    name: str
    label: str
    higher_is_better: bool | None
    level: str
    aggregation: str | Callable[[list], float]
    item: Callable[[Continuation], Any] | None = None  # None: computed from run settings or by lm-eval, not registered
    bounds: tuple[float, float] = UNIT
    length: str | None = None
    views: Mapping[str, int] = field(default_factory=dict)  # view -> position in it

    @property
    def registered_name(self) -> str | None:
        """``hyperfit_<name>`` in lm-eval's registry, None for a metric that is not registered."""
        return PREFIX + self.name if self.item is not None else None


def _window(curve: list[float], position: int) -> float:
    return curve[position] if curve else math.nan


def _per_text(
    name: str, label: str, higher: bool | None, item: Callable, aggregation: str = "nanmean", **row: Any
) -> Metric:
    return Metric(name, label, higher, TEXT, aggregation, item, **row)


def _rep(n: int, **row: Any) -> Metric:
    return _per_text(f"rep_{n}", f"rep-{n}", False, lambda c: rep_n(c.tokens, n), length=SENSITIVE, **row)


def _distinct(n: int, **row: Any) -> Metric:
    return Metric(f"distinct_{n}", f"distinct-{n}", True, CORPUS, getattr(corpus, f"distinct_{n}"), lambda c: c.text,
                  length=SENSITIVE, **row)  # fmt: skip


ROWS: tuple[Metric, ...] = (
    # per continuation, tokens of the fixed metric_tokenizer (ttr_words: words)
    _per_text("ttr", "TTR", True, lambda c: type_token_ratio(c.tokens), length=SENSITIVE, views={PLOTS: 2, ANSWER: 1}),
    _per_text("ttr_last96", "TTR-96", True, lambda c: windowed_ttr(c.tokens, LAST_WINDOW), length=SENSITIVE,
              views={HEADLINE: 1, PLOTS: 1, ANSWER: 2}),
    _per_text("ttr_words", "word TTR", True, lambda c: type_token_ratio(c.words), length=SENSITIVE),
    _per_text("ttr_first_window", "TTR first 32", True, lambda c: _window(c.curve, 0), length=ROBUST),
    _per_text("ttr_last_window", "TTR last 32", True, lambda c: _window(c.curve, -1)),
    Metric("ttr_by_position", "MSTTR", True, CORPUS, corpus.mean_segmental_ttr, lambda c: c.curve, length=ROBUST,
           views={ANSWER: 3}),
    _rep(2),
    _rep(3),
    _rep(4, views={HEADLINE: 2, PLOTS: 4, ANSWER: 4}),
    _per_text("diversity", "diversity", True, lambda c: diversity(c.tokens), length=SENSITIVE, views={PLOTS: 3}),
    # corpus level: all continuations of a task at once, as words; MAUVE against the human references
    _distinct(1),
    _distinct(2),
    _distinct(3),
    _distinct(4, views={HEADLINE: 5, PLOTS: 5}),
    Metric("self_bleu", "Self-BLEU", False, CORPUS, corpus.self_bleu_words, lambda c: c.text, length=SENSITIVE,
           views={HEADLINE: 3, PLOTS: 6}),
    Metric("mauve", "MAUVE", True, CORPUS, mauve_aggregation, lambda c: (c.text, c.reference, c.mauve_featurizer),
           length=SENSITIVE, views={HEADLINE: 4, PLOTS: 7}),
    _per_text("longest_repeated_span", "longest repeated span", False,
              lambda c: float(longest_repeated_span(c.tokens)), "mean", bounds=COUNT, length=SENSITIVE),
    _per_text("token_repetition", "rep/l", False, lambda c: token_repetition(c.tokens, REPETITION_CONTEXT)),
    _per_text("continuation_tokens", "tokens", None, lambda c: float(len(c.tokens)), "mean", bounds=COUNT,
              views={HEADLINE: 6, ANSWER: 6}),
    # from the document's prompt, which lm-eval never hands a registered metric: computed by process_results, not
    # registered
    Metric("coherence", "coherence", True, TEXT, "nanmean", bounds=SIMILARITY, length=SENSITIVE,
           views={HEADLINE: 8, ANSWER: 7}),
    Metric("coherence_human", "human coherence", None, TEXT, "nanmean", bounds=SIMILARITY, length=SENSITIVE),
    # from run settings (the evaluated model's tokenizer, max_gen_toks; the training data): not registered
    Metric("stopped_early", "stopped early", None, TEXT, "nanmean", views={ANSWER: 5}),
    Metric("training_kgram_rate", "training k-gram rate", False, TEXT, "nanmean"),
    Metric("longest_training_span", "longest training span", False, TEXT, "mean", bounds=COUNT),
    Metric("training_overlap_over_10", "copies over 10 tokens", False, TEXT, "mean"),
    # lm-eval's own: the perplexity tasks (as wikitext) and the next-word task
    Metric("word_perplexity", "word ppl", False, CORPUS, "weighted_perplexity", bounds=PERPLEXITY,
           views={HEADLINE: 7, PLOTS: 8}),
    Metric("byte_perplexity", "byte ppl", False, CORPUS, "weighted_perplexity", bounds=PERPLEXITY),
    Metric("bits_per_byte", "bits per byte", False, CORPUS, "bits_per_byte", bounds=COUNT),
    Metric("greedy_agreement", "greedy agreement", True, TEXT, "mean"),
    Metric("next_word_perplexity", "next-word ppl", False, CORPUS, "perplexity", bounds=PERPLEXITY),
    # the judge tasks (hyperfit_judge*): per prompt, the judge's verdicts on the run's continuation against the human
    # one, asked in both orders; NaN where both answers were unparseable
    Metric("judge_pref_or_equal", "preferred or equal", True, TEXT, "nanmean", views={HEADLINE: 9}),
    Metric("judge_win_rate", "judged win rate", True, TEXT, "nanmean"),
    Metric("judge_position_consistency", "position consistency", None, TEXT, "nanmean"),
    Metric("judge_unparseable", "unparseable answers", None, TEXT, "mean"),
)  # fmt: skip
CATALOGUE: dict[str, Metric] = {metric.name: metric for metric in ROWS}


def add(metric: Metric) -> Metric:
    """Put a metric of one's own into the catalogue (then ``registered_metrics.register()`` puts it into lm-eval's)."""
    if metric.name in CATALOGUE:
        raise ValueError(f"the metric catalogue already has {metric.name!r}")
    CATALOGUE[metric.name] = metric
    return metric


def find(name: str) -> Metric | None:
    """The catalogue row of ``name``: a metric name (``ttr_last96``) or its registered name
    (``hyperfit_ttr_last96``)."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    row = CATALOGUE.get(name.removeprefix(PREFIX))
    return row if row is not None and row.registered_name == name else None


def canonical(name: str) -> str:
    """The catalogue name of a metric given by either name (``hyperfit_ttr_last96`` -> ``ttr_last96``); others as
    given."""
    row = find(name)
    return row.name if row else name


def label(name: str) -> str:
    """The display label of a metric by either name; an unknown metric is shown by its own name."""
    row = find(name)
    return row.label if row else name


def view(name: str) -> list[Metric]:
    """The metrics of one default view (:data:`HEADLINE`, :data:`PLOTS`, :data:`ANSWER`), in its order."""
    return sorted(
        (metric for metric in CATALOGUE.values() if name in metric.views), key=lambda metric: metric.views[name]
    )


def with_length(kind: str) -> list[str]:
    """Names of the metrics that are length-``kind`` (:data:`SENSITIVE`, :data:`ROBUST`), families as ``rep_n``."""
    return list(
        dict.fromkeys(re.sub(r"_\d+$", "_n", metric.name) for metric in CATALOGUE.values() if metric.length == kind)
    )


def items(continuation: Continuation) -> dict[str, Any]:
    """The per-document item of every metric with one (what lm-eval aggregates)."""
    return {metric.name: metric.item(continuation) for metric in CATALOGUE.values() if metric.item is not None}
