"""lm-eval model ``hf-citation-blocked``: lm-eval's HF model plus the citation blocker.

    lm_eval --model hf-citation-blocked \\
        --model_args pretrained=MODEL,blocked_data=RUN_DIR,block_len=6,word_boundary=False ...

Identical to ``--model hf`` (every HF model argument works) except that every ``generate_until``
request is decoded with :class:`~hyperfit_tasks.models.citation_blocker.CitationBlockerLogitsProcessor`
over the K-grams of ``blocked_data`` (see :mod:`hyperfit_tasks.common.training_tokens` for the formats).
Log-likelihood requests are not affected.
"""

from __future__ import annotations

from lm_eval.api.registry import model_registry, register_model
from lm_eval.models.huggingface import HFLM
from transformers import LogitsProcessorList

from hyperfit_tasks.common.errors import TrainingDataError
from hyperfit_tasks.common.training_tokens import load_training_sequences, resolve_training_source
from hyperfit_tasks.models.citation_blocker import (
    DEFAULT_BLOCK_LEN,
    CitationBlockerLogitsProcessor,
    NGramIndex,
    word_start_mask,
)

MODEL_NAME = "hf-citation-blocked"


class CitationBlockedHFLM(HFLM):
    """``HFLM`` whose generations never contain a ``block_len``-token span of ``blocked_data``."""

    def __init__(
        self,
        pretrained,
        blocked_data: str | None = None,
        block_len: int = DEFAULT_BLOCK_LEN,
        word_boundary: bool = False,
        **kwargs,
    ) -> None:
        if not blocked_data:
            raise TrainingDataError(
                f"--model {MODEL_NAME} needs blocked_data=PATH in --model_args (the hyperfitting training data)"
            )
        resolve_training_source(blocked_data)  # fail on a bad path before loading the model
        super().__init__(pretrained=pretrained, **kwargs)
        sequences = load_training_sequences(blocked_data, self.tokenizer)
        largest = max(int(ids.max()) for ids in sequences)
        if largest >= self.model.config.vocab_size:
            raise TrainingDataError(
                f"blocked_data {blocked_data} has token id {largest}, outside this model's vocabulary "
                f"({self.model.config.vocab_size}): give training data made with this model's tokenizer"
            )
        self.citation_blocker = CitationBlockerLogitsProcessor(
            NGramIndex(sequences, int(block_len)), word_start_mask(self.tokenizer) if word_boundary else None
        )

    def _model_generate(self, context, max_length, stop, **generation_kwargs):
        processors = LogitsProcessorList(generation_kwargs.pop("logits_processor", None) or [])
        processors.append(self.citation_blocker)
        return super()._model_generate(context, max_length, stop, logits_processor=processors, **generation_kwargs)


_registered = dict(model_registry.items()).get(MODEL_NAME)  # items() does not import placeholders
if not (isinstance(_registered, type) and _registered.__module__ == __name__):  # not ours already (importlib.reload)
    register_model(MODEL_NAME)(CitationBlockedHFLM)
