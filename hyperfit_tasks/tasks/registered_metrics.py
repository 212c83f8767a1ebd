"""hyperfit's continuation metrics in lm-eval's metric registry, for anyone's ``generate_until`` task.

A task without ``process_results`` may list these names in its ``metric_list``; lm-eval then calls
each per document as ``fn(references=[target], predictions=[continuation], **entry_options)`` and
reduces the items with the metric's registered aggregation. Every metric of the catalogue
(:mod:`hyperfit_tasks.metrics.catalogue`) that has a per-document ``item`` is registered, with the catalogue's
aggregation and direction, so the values are those of our ``hyperfit_continuation`` tasks on the same continuations.

Options of a ``metric_list`` entry: ``metric_tokenizer`` (token metrics; default the shipped
SmolLM2 tokenizer) and ``mauve_featurizer`` (``hyperfit_mauve``; default ``minilm``). Not
registered: ``stopped_early`` and the training-copy metrics, which need run settings (the
evaluated model's tokenizer, the training data) that lm-eval does not hand a metric function.
Each metric ``<name>`` and each corpus aggregation ``<name>_aggregation`` is also an attribute of this module: the
objects the ``pyproject.toml`` entry points name.

Importing this module registers the names (idempotent); our task modules import it, and so does
``hyperfit-lm-eval``. lm-eval versions with the ``lm_eval.metrics`` / ``lm_eval.aggregations``
entry points (lm-eval PR #4014) import it themselves when a name is looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from hyperfit_tasks.metrics import catalogue
from hyperfit_tasks.metrics.catalogue import CORPUS, Continuation, Metric
from hyperfit_tasks.metrics.mauve_features import DEFAULT_FEATURIZER
from hyperfit_tasks.metrics.text_units import DEFAULT_TOKENIZER


@lru_cache(maxsize=4096)
def _continuation(prediction: str, reference: str, metric_tokenizer: str, mauve_featurizer: str) -> Continuation:
    """One :class:`Continuation` per (text, settings): lm-eval calls every listed metric on the same text, and the
    continuation keeps its tokens once cut."""
    return Continuation(prediction, reference, metric_tokenizer, mauve_featurizer)


def _metric_function(metric: Metric) -> Callable:
    def function(
        references: Sequence[str],
        predictions: Sequence[str],
        metric_tokenizer: str = DEFAULT_TOKENIZER,
        mauve_featurizer: str = DEFAULT_FEATURIZER,
        **_: Any,
    ):
        return metric.item(_continuation(predictions[0], references[0], str(metric_tokenizer), str(mauve_featurizer)))

    function.__name__ = function.__qualname__ = metric.name
    function.__doc__ = f"Per-document item of ``{metric.registered_name}``: {metric.label} of the continuation."
    return function


def _expose(metric: Metric) -> None:
    """The metric function (and a corpus metric's aggregation) as attributes of this module."""
    if metric.name not in globals():
        globals()[metric.name] = _metric_function(metric)
    if metric.level == CORPUS:
        globals()[f"{metric.name}_aggregation"] = metric.aggregation


def _is_ours(current: Any, name: str) -> bool:
    """True if the registry already holds this module's function of that name (also after a reload)."""
    return getattr(current, "__module__", None) == __name__ and getattr(current, "__name__", None) == name


def register() -> None:
    """Put every registered catalogue metric and its corpus aggregation into lm-eval's registry (safe to call again).

    lm-eval raises ``ValueError`` for an alias registered twice with another object, so a name that
    already holds this module's function (an earlier import, ``importlib.reload``) is left alone.
    """
    import lm_eval.api.metrics  # noqa: F401  (lm-eval's own aggregations, nanmean among them)
    from lm_eval.api.registry import aggregation_registry, metric_registry, register_aggregation, register_metric

    for metric in catalogue.CATALOGUE.values():
        if metric.registered_name is None:
            continue
        _expose(metric)
        aggregation = metric.registered_name if metric.level == CORPUS else metric.aggregation
        if metric.level == CORPUS and aggregation_registry.get(aggregation, None) is not metric.aggregation:
            register_aggregation(aggregation)(metric.aggregation)
        if not _is_ours(metric_registry.get(metric.registered_name, None), metric.name):
            direction = {} if metric.higher_is_better is None else {"higher_is_better": metric.higher_is_better}
            register_metric(metric=metric.registered_name, aggregation=aggregation, **direction)(
                globals()[metric.name]
            )


register()
