"""MAUVE (Pillutla et al., 2021) between model continuations and human references, via ``mauve-text``.

MAUVE in [0, 1], higher = the model's text distribution is closer to the human one. It is a
corpus-level number: the lm-eval aggregation :func:`mauve_aggregation` receives one
``(continuation, reference, featurizer)`` item per document. Few samples bias MAUVE upward
(its authors use thousands; with ``num_buckets="auto"`` = n/10 clusters, 100 texts give only
10 clusters), so compare MAUVE only between runs with the same number of texts and featurizer.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from hyperfit_tasks.metrics.mauve_features import DEFAULT_FEATURIZER, featurize


def mauve_score(
    model_texts: Sequence[str],
    human_texts: Sequence[str],
    featurizer: str = DEFAULT_FEATURIZER,
    **mauve_kwargs,
) -> float:
    """``mauve.compute_mauve`` on features of the non-empty texts (P = model, Q = human).

    Empty texts are dropped as ``mauve-text`` itself does for text input; fewer than two texts
    left on either side: warns and returns NaN. ``mauve_kwargs`` go to ``compute_mauve``.
    """
    model_texts = [text for text in model_texts if text.strip()]
    human_texts = [text for text in human_texts if text.strip()]
    if min(len(model_texts), len(human_texts)) < 2:
        warnings.warn(
            f"MAUVE needs at least 2 non-empty texts per side, got {len(model_texts)} model and "
            f"{len(human_texts)} human texts; returning NaN",
            stacklevel=2,
        )
        return math.nan
    import mauve

    result = mauve.compute_mauve(
        p_features=featurize(model_texts, featurizer),
        q_features=featurize(human_texts, featurizer),
        **mauve_kwargs,
    )
    return float(result.mauve)


def mauve_aggregation(items: Sequence[tuple[str, str, str]]) -> float:
    """lm-eval aggregation: MAUVE of all continuations against all references of a task."""
    featurizers = {featurizer for _, _, featurizer in items}
    if len(featurizers) != 1:
        raise ValueError(f"one MAUVE featurizer per task expected, got {sorted(featurizers)}")
    return mauve_score(
        [continuation for continuation, _, _ in items],
        [reference for _, reference, _ in items],
        featurizer=featurizers.pop(),
    )
