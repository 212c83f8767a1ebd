"""hyperfit's continuation metrics in lm-eval's metric registry, for anyone's ``generate_until`` task.

A task without ``process_results`` may list these names in its ``metric_list``; lm-eval then calls
each per document as ``fn(references=[target], predictions=[continuation], **entry_options)`` and
reduces the items with the metric's registered aggregation. The values are those of our
``hyperfit_continuation`` tasks on the same continuations: every function below reads
:func:`hyperfit_tasks.tasks.continuation_scores.text_scores` or feeds the same aggregations.

Options of a ``metric_list`` entry: ``metric_tokenizer`` (token metrics; default the shipped
SmolLM2 tokenizer) and ``mauve_featurizer`` (``hyperfit_mauve``; default ``minilm``). Not
registered: ``stopped_early`` and the training-copy metrics, which need run settings (the
evaluated model's tokenizer, the training data) that lm-eval does not hand a metric function.

Importing this module registers the names (idempotent); our task modules import it, and so does
``hyperfit-lm-eval``. lm-eval versions with the ``lm_eval.metrics`` / ``lm_eval.aggregations``
entry points (lm-eval PR #4014) import it themselves when a name is looked up.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from hyperfit_tasks.metrics.mauve_features import DEFAULT_FEATURIZER
from hyperfit_tasks.metrics.mauve_score import mauve_aggregation
from hyperfit_tasks.metrics.text_units import DEFAULT_TOKENIZER
from hyperfit_tasks.tasks import continuation_scores

PREFIX = "hyperfit_"
# per-text metric -> higher_is_better (None: descriptive); each is averaged with lm-eval's nanmean
PER_TEXT = {
    "ttr": True, "ttr_last96": True, "ttr_first_window": True, "ttr_last_window": True, "ttr_words": True,
    "rep_2": False, "rep_3": False, "rep_4": False, "diversity": True, "token_repetition": False,
    "longest_repeated_span": False, "continuation_tokens": None,
}  # fmt: skip
# corpus metric -> (aggregation over all items of the task, higher_is_better)
CORPUS: dict[str, tuple[Callable, bool]] = {
    "ttr_by_position": (continuation_scores.mean_segmental_ttr, True),
    **{f"distinct_{n}": (getattr(continuation_scores, f"distinct_{n}"), True) for n in range(1, 5)},
    "self_bleu": (continuation_scores.self_bleu_words, False),
    "mauve": (mauve_aggregation, True),
}


@lru_cache(maxsize=4096)
def _scores(continuation: str, metric_tokenizer: str) -> dict[str, Any]:
    """``text_scores`` once per (text, tokenizer): lm-eval calls every listed metric on the same text."""
    return continuation_scores.text_scores(continuation, metric_tokenizer)


def _per_text(name: str) -> Callable:
    def metric(references: Sequence[str], predictions: Sequence[str], metric_tokenizer: str = DEFAULT_TOKENIZER, **_: Any):
        return _scores(predictions[0], str(metric_tokenizer))[name]

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = f"Per-document ``{name}`` of the continuation (tokens of ``metric_tokenizer``)."
    return metric


def _corpus_item(name: str) -> Callable:
    if name == "ttr_by_position":
        return _per_text(name)
    if name == "mauve":

        def metric(references: Sequence[str], predictions: Sequence[str], mauve_featurizer: str = DEFAULT_FEATURIZER, **_: Any):
            return (predictions[0], references[0], str(mauve_featurizer))

    else:

        def metric(references: Sequence[str], predictions: Sequence[str], **_: Any):
            return predictions[0]

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = f"Per-document item of the corpus-level ``{name}`` (the continuation, and for MAUVE its reference)."
    return metric


def _aggregation(name: str, aggregate: Callable) -> Callable:
    def aggregation(items: Sequence[Any]) -> float:
        return aggregate(items)

    aggregation.__name__ = aggregation.__qualname__ = f"{name}_aggregation"
    aggregation.__doc__ = f"Aggregation of ``{PREFIX}{name}``: ``{aggregate.__module__}.{aggregate.__qualname__}``."
    return aggregation


# module attributes, so that entry points ("hyperfit_tasks.tasks.registered_metrics:ttr_last96",
# "...:mauve_aggregation") name exactly the objects registered below
for _name in PER_TEXT:
    globals()[_name] = _per_text(_name)
for _name, (_aggregate, _) in CORPUS.items():
    globals()[_name] = _corpus_item(_name)
    globals()[f"{_name}_aggregation"] = _aggregation(_name, _aggregate)


def _is_ours(current: Any, name: str) -> bool:
    """True if the registry already holds this module's object of that name (also after a reload)."""
    return getattr(current, "__module__", None) == __name__ and getattr(current, "__name__", None) == name


def register() -> None:
    """Put every ``hyperfit_*`` metric and aggregation into lm-eval's registry (safe to call repeatedly).

    lm-eval raises ``ValueError`` for an alias registered twice with another object, so a name that
    already holds this module's function (an earlier import, ``importlib.reload``) is left alone.
    """
    import lm_eval.api.metrics  # noqa: F401  (lm-eval's own aggregations, nanmean among them)
    from lm_eval.api.registry import aggregation_registry, metric_registry, register_aggregation, register_metric

    aggregations = dict(aggregation_registry.items())
    for name in CORPUS:
        if not _is_ours(aggregations.get(PREFIX + name), f"{name}_aggregation"):
            register_aggregation(PREFIX + name)(globals()[f"{name}_aggregation"])
    metrics = dict(metric_registry.items())
    for name, higher in PER_TEXT.items():
        if not _is_ours(metrics.get(PREFIX + name), name):
            extra = {} if higher is None else {"higher_is_better": higher}
            register_metric(metric=PREFIX + name, aggregation="nanmean", **extra)(globals()[name])
    for name, (_, higher) in CORPUS.items():
        if not _is_ours(metrics.get(PREFIX + name), name):
            register_metric(metric=PREFIX + name, aggregation=PREFIX + name, higher_is_better=higher)(globals()[name])


register()
