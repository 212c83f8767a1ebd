"""Metric functions; the pure ones (token ids or words in, floats out) are exported here, cards in ``docs/metrics.md``.

Metrics that need a model or training data have modules of their own: ``mauve_score``, ``coherence``, ``copy_rate``
(model analyses such as top-1 agreement and the entropy-matched temperature are in :mod:`hyperfit_tasks.analysis`).
"""

from hyperfit_tasks.metrics.distinct import distinct_n
from hyperfit_tasks.metrics.lexical import ttr_by_position, type_token_ratio, windowed_ttr
from hyperfit_tasks.metrics.repetition import diversity, longest_repeated_span, rep_n, token_repetition
from hyperfit_tasks.metrics.self_bleu import self_bleu, self_bleu_per_doc
from hyperfit_tasks.metrics.sharpness import Top1Calibration, next_token_sharpness, top1_calibration

__all__ = [
    "distinct_n",
    "diversity",
    "longest_repeated_span",
    "next_token_sharpness",
    "rep_n",
    "self_bleu",
    "self_bleu_per_doc",
    "token_repetition",
    "top1_calibration",
    "Top1Calibration",
    "ttr_by_position",
    "type_token_ratio",
    "windowed_ttr",
]
