"""Scoring of continuations: lm-eval ``process_results`` of the ``hyperfit_continuation`` tasks.

:func:`process_results` returns one item per metric and document: the item of every metric of the catalogue
(:mod:`hyperfit_tasks.metrics.catalogue`: a number, the TTR-by-position curve, or the text for a corpus-level
aggregation), ``coherence`` and ``coherence_human`` (the continuation's and the human reference's, with the
document's prompt), ``stopped_early``, and the training-copy metrics when the run names training data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hyperfit_tasks.metrics import catalogue
from hyperfit_tasks.metrics.catalogue import Continuation
from hyperfit_tasks.metrics.coherence import coherence
from hyperfit_tasks.metrics.copy_rate import copy_metrics_for_text
from hyperfit_tasks.metrics.mauve_features import DEFAULT_FEATURIZER
from hyperfit_tasks.metrics.text_units import DEFAULT_TOKENIZER, token_ids
from hyperfit_tasks.models.citation_blocker import DEFAULT_BLOCK_LEN
from hyperfit_tasks.tasks.continuation_data import cut


def process_results(
    doc: dict,
    results: Sequence[str],
    *,
    metric_tokenizer: str = DEFAULT_TOKENIZER,
    model_tokenizer: str | None = None,
    max_gen_toks: int | None = None,
    mauve_featurizer: str = DEFAULT_FEATURIZER,
    copy_k: int = DEFAULT_BLOCK_LEN,
    training_reference: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Items of every continuation metric for one document (``results[0]`` = the continuation).

    ``metric_tokenizer`` cuts the tokens of the token-level metrics; ``model_tokenizer`` (the
    evaluated model's) and ``max_gen_toks`` give ``stopped_early``, NaN when either is unknown;
    ``training_reference`` (the run's training data and tokenizer) adds the training-copy metrics.
    """
    continuation = Continuation(results[0], doc["reference"], metric_tokenizer, mauve_featurizer)
    return {
        **catalogue.items(continuation),
        **coherence_items(doc.get("prompt", ""), continuation),
        "stopped_early": stopped_early(continuation.text, model_tokenizer, max_gen_toks),
        **copy_metrics_for_text(continuation.text, training_reference or {}, k=copy_k),
    }


def coherence_items(prompt: str, continuation: Continuation) -> dict[str, float]:
    """``coherence`` of the continuation with the prompt, and ``coherence_human``: the same of the human reference cut
    to the continuation's length in metric tokens, since coherence moves with length (docs/metrics.md); NaN without a
    prompt."""
    human_cut = (
        cut(continuation.reference, len(continuation.tokens), continuation.metric_tokenizer)
        if continuation.tokens
        else ""
    )
    run, human = coherence(prompt, [continuation.text, human_cut])
    return {"coherence": run, "coherence_human": human}


def stopped_early(continuation: str, model_tokenizer: str | None, max_gen_toks: int | None) -> float:
    """1.0 if the continuation is shorter than ``max_gen_toks`` tokens of the evaluated model's tokenizer.

    lm-eval returns text with the end-of-sequence token stripped, so stopping at EOS is inferred
    from length: re-encoding the text can differ from the generated ids by a token (a
    non-canonical merge), and EOS in the very last position reads as "not early".
    """
    if model_tokenizer is None or max_gen_toks is None:
        return math.nan
    return float(len(token_ids(continuation, model_tokenizer)) < int(max_gen_toks))
