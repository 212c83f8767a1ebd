"""Sharpness of next-token distributions: entropy, top-k probability mass, and how confident the top-1 token is when
right and when wrong."""

from __future__ import annotations

import math

import numpy as np

TOP_KS = (1, 3, 5)
CALIBRATION_BINS = 10


def next_token_sharpness(logits, mask=None) -> dict[str, float]:
    """Mean entropy (nats) and top-1/3/5 probability mass of next-token distributions.

    ``logits``: float tensor ``[..., vocab]``. ``mask``: optional bool/0-1 tensor of shape
    ``logits.shape[:-1]``; only positions where it is true count. Returns floats
    ``entropy``, ``top1_prob``, ``top3_prob``, ``top5_prob`` (NaN each when no position counts).
    Top-k with k above the vocabulary size is the whole mass (1.0).
    """
    import torch  # imported here so that the other metrics load without torch

    with torch.no_grad():
        flat = logits.detach().reshape(-1, logits.shape[-1])
        if mask is not None:
            if tuple(mask.shape) != tuple(logits.shape[:-1]):
                raise ValueError(
                    f"mask shape {tuple(mask.shape)} must equal logits shape without the vocab axis "
                    f"{tuple(logits.shape[:-1])}"
                )
            flat = flat[mask.reshape(-1).to(device=flat.device, dtype=torch.bool)]
        if flat.shape[0] == 0:
            return {"entropy": math.nan, **{f"top{k}_prob": math.nan for k in TOP_KS}}
        distribution = torch.distributions.Categorical(logits=flat.float(), validate_args=False)
        probs = distribution.probs
        top_mass = probs.topk(min(max(TOP_KS), probs.shape[-1]), dim=-1).values.cumsum(-1)
        result = {"entropy": distribution.entropy().mean().item()}
        for k in TOP_KS:
            result[f"top{k}_prob"] = top_mass[:, min(k, top_mass.shape[-1]) - 1].mean().item()
    return result


def top1(logits):
    """(probability, id) of the most likely token at every position of ``logits`` ``[..., vocab]``, without a full
    softmax copy."""
    top_logit, top_id = logits.max(-1)
    return (top_logit - logits.logsumexp(-1)).exp(), top_id


def top1_calibration(confidences, correct, bins: int = CALIBRATION_BINS) -> dict[str, float]:
    """Mean top-1 probability where the top-1 token is right and where it is wrong, top-1 accuracy, and equal-mass ECE.

    The paper says hyperfitting sharpens right and wrong predictions alike; this splits the mean top-1
    probability to show it. ``confidences``: the top-1 probability at each position; ``correct``: whether
    that top-1 token is the actual next token (array-likes of one value per position, e.g. CPU tensors).
    The expected calibration error uses ``bins`` equal-mass bins: positions sorted by confidence (stable,
    so ties keep their order) and cut into ``bins`` runs of equal size by ``numpy.array_split``;
    ``ece = sum_b (n_b / N) * |accuracy_b - mean confidence_b|``. Returns floats ``top1_prob_correct``,
    ``top1_prob_wrong``, ``top1_accuracy``, ``ece``; NaN where the group is empty (no position at all,
    or none right, or none wrong).
    """
    confidences = np.asarray(confidences, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=bool).ravel()
    if confidences.shape != correct.shape:
        raise ValueError(
            f"{confidences.size} confidences but {correct.size} correctness values: give one of each per position"
        )
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")

    def mean(values) -> float:
        return float(values.mean()) if values.size else math.nan

    order = np.argsort(confidences, kind="stable")
    gaps = [
        chunk.size * abs(correct[chunk].mean() - confidences[chunk].mean())
        for chunk in np.array_split(order, bins)
        if chunk.size
    ]
    return {
        "top1_prob_correct": mean(confidences[correct]),
        "top1_prob_wrong": mean(confidences[~correct]),
        "top1_accuracy": mean(correct),
        "ece": float(sum(gaps) / confidences.size) if confidences.size else math.nan,
    }


class Top1Calibration:
    """Keeps the top-1 probability and correctness of every position over batches, for one :func:`top1_calibration` at
    the end."""

    def __init__(self, bins: int = CALIBRATION_BINS) -> None:
        self.bins = bins
        self._confidences: list[np.ndarray] = []
        self._correct: list[np.ndarray] = []

    def add(self, confidences, correct) -> None:
        """Keep one batch: the top-1 probabilities and whether each top-1 token is right (tensors on any device, or
        arrays)."""
        self._confidences.append(_flat_numpy(confidences))
        self._correct.append(_flat_numpy(correct))

    def result(self) -> dict[str, float]:
        """:func:`top1_calibration` of every position kept so far."""
        return top1_calibration(
            np.concatenate([np.empty(0), *self._confidences]),
            np.concatenate([np.empty(0, bool), *self._correct]),
            self.bins,
        )


def _flat_numpy(values) -> np.ndarray:
    """``values`` (a torch tensor on any device, or an array-like) as a flat numpy array on the CPU."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values).ravel()
