"""Coherence: how close a continuation stays to its prompt, as the cosine similarity of their sentence embeddings.

Su et al. (2022, SimCTG) and Li et al. (2023, contrastive decoding) score coherence with SimCSE embeddings; ours are
the shipped all-MiniLM-L6-v2's (:mod:`hyperfit_tasks.metrics.mauve_features`: mean-pooled, L2-normalised, inputs cut at
256 word pieces; the model loaded once per process), so the values are not comparable with theirs (docs/metrics.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hyperfit_tasks.metrics.mauve_features import minilm_path, sentence_embeddings


def coherence(prompt: str, texts: Sequence[str]) -> list[float]:
    """Cosine similarity of the prompt's MiniLM embedding with each text's, in [-1, 1]; NaN for an empty text or
    prompt.

    One call embeds the prompt and all non-empty texts, each in a forward pass of its own: unpadded, the short prompt
    costs little beside 256-word-piece texts (on CPU about a fifth less time than one padded batch).
    """
    kept = [text for text in texts if text.strip()]
    if not prompt.strip() or not kept:
        return [math.nan] * len(texts)
    prompt_vector, *vectors = sentence_embeddings([prompt, *kept], str(minilm_path()), batch_size=1)
    similarities = iter(float(vector @ prompt_vector) for vector in vectors)
    return [next(similarities) if text.strip() else math.nan for text in texts]
