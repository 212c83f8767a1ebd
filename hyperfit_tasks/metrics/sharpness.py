"""Sharpness of next-token distributions: entropy and top-k probability mass."""
from __future__ import annotations

import math

TOP_KS = (1, 3, 5)


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
