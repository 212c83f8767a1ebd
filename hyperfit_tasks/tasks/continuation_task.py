"""The lm-eval task class of the continuation tasks: a ``ConfigurableTask`` that hands run settings to scoring.

lm-eval calls a YAML ``process_results`` with ``(doc, results)`` only, so this class passes the settings known only
for the run (metric tokenizer, MAUVE featurizer, the evaluated model's tokenizer, ``max_gen_toks``, the copy rate's K
and training data) as keyword arguments, and checks them when the task is built, before any text is generated.
"""

from __future__ import annotations

import warnings
from typing import Any

from lm_eval.api.task import ConfigurableTask
from lm_eval.models.utils import normalize_gen_kwargs

from hyperfit_tasks.common.model_args import evaluated_model_name
from hyperfit_tasks.metrics.copy_rate import training_reference
from hyperfit_tasks.metrics.mauve_features import DEFAULT_FEATURIZER, minilm_path
from hyperfit_tasks.metrics.text_units import DEFAULT_TOKENIZER, load_tokenizer
from hyperfit_tasks.models.citation_blocker import DEFAULT_BLOCK_LEN


class ContinuationTask(ConfigurableTask):
    """``class: !function hyperfit_tasks.tasks.continuation_task.ContinuationTask`` in a task YAML."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        # lm-eval passes the whole YAML, including the ``class`` key that selected this class.
        super().__init__(config={key: value for key, value in (config or {}).items() if key != "class"}, **kwargs)
        metadata = self.config.metadata or {}
        self.metric_tokenizer = str(metadata.get("metric_tokenizer", DEFAULT_TOKENIZER))
        self.mauve_featurizer = str(metadata.get("mauve_featurizer", DEFAULT_FEATURIZER))
        self.copy_k = int(metadata.get("block_len", DEFAULT_BLOCK_LEN))
        self.training_reference = training_reference(metadata)
        if metadata.get("min_gen_toks") is not None:
            self.config.generation_kwargs = forbid_early_eos(self.config.generation_kwargs, metadata["min_gen_toks"])
        load_tokenizer(self.metric_tokenizer)
        minilm_path()  # coherence always embeds with MiniLM (MAUVE too, with its default featurizer)
        self.model_tokenizer = evaluated_model_name(metadata)
        if self.model_tokenizer is not None:
            try:
                load_tokenizer(self.model_tokenizer)
            except ValueError as error:  # e.g. an API model: no local tokenizer, so no stopped_early
                warnings.warn(f"{self.config.task}: stopped_early will be NaN: {error}", stacklevel=2)
                self.model_tokenizer = None

    def scoring_settings(self) -> dict[str, Any]:
        """Keyword arguments for the YAML's ``process_results``, from this run's configuration."""
        return {
            "metric_tokenizer": self.metric_tokenizer,
            "model_tokenizer": self.model_tokenizer,
            "max_gen_toks": normalize_gen_kwargs(self.config.generation_kwargs or {})["max_gen_toks"],
            "mauve_featurizer": self.mauve_featurizer,
            "copy_k": self.copy_k,
            "training_reference": self.training_reference,
        }

    def process_results(self, doc: dict, results: list) -> dict[str, Any]:
        if not callable(self.config.process_results):  # --predict_only swapped scoring for lm-eval's "bypass"
            return super().process_results(doc, results)
        items = self.config.process_results(doc, results, **self.scoring_settings())
        # the items of the metrics this task lists (a catalogue metric that its metric_list does not name has no
        # aggregation)
        return {name: item for name, item in items.items() if name in self._aggregation_list}


def forbid_early_eos(generation_kwargs: dict | None, min_gen_toks: Any) -> dict:
    """``generation_kwargs`` plus transformers' ``min_new_tokens``: EOS is banned for the first
    ``min_gen_toks`` tokens, so with ``min_gen_toks >= max_gen_toks`` every continuation is exactly
    ``max_gen_toks`` tokens long (metadata ``min_gen_toks``; vLLM's name is ``min_tokens``)."""
    if isinstance(min_gen_toks, bool) or not isinstance(min_gen_toks, int) or min_gen_toks < 0:
        raise ValueError(
            f"min_gen_toks must be a whole number of tokens >= 0, got {min_gen_toks!r}: e.g. --metadata "
            "'{\"min_gen_toks\": 256}'"
        )
    return {**(generation_kwargs or {}), "min_new_tokens": min_gen_toks}
