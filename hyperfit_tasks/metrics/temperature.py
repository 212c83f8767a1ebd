"""Next-token entropy as a function of the sampling temperature, and the temperature that matches a target.

Used by ``hyperfit-temperature``: the base model's logits are computed once and re-scaled here
for every temperature tried. Mean entropy grows monotonically with the temperature (its
derivative is ``Var_p(logits) / T**3`` >= 0), so bisection finds the matching temperature.
"""
from __future__ import annotations

import math

CHUNK_ROWS = 256  # positions per softmax, so that the extra memory stays chunk x vocab


class TemperatureRangeError(ValueError):
    """The target entropy is not reached by any temperature in the search range."""

    def __init__(self, message: str, side: str):
        super().__init__(message)
        self.side = side  # "low": below the entropy at the lowest temperature; "high": above the highest


def _rows(logits):
    return logits.detach().reshape(-1, logits.shape[-1])


def entropy_at_temperature(logits, temperature: float):
    """Entropy (nats) of ``softmax(logits / temperature)`` at every position: a float tensor ``logits.shape[:-1]``."""
    import torch  # imported here so that the other metrics load without torch

    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    rows = _rows(logits)
    out = torch.empty(rows.shape[0], dtype=torch.float32, device=rows.device)
    with torch.no_grad():
        for start in range(0, rows.shape[0], CHUNK_ROWS):
            log_p = torch.log_softmax(rows[start : start + CHUNK_ROWS].float() / temperature, dim=-1)
            out[start : start + CHUNK_ROWS] = -(log_p.exp() * log_p).sum(-1)
    return out.reshape(logits.shape[:-1])


def entropy_slope(logits, temperature: float) -> float:
    """Mean over positions of d(entropy)/d(temperature) at ``temperature``: ``Var_p(logits) / T**3``."""
    import torch

    rows = _rows(logits)
    total = 0.0
    with torch.no_grad():
        for start in range(0, rows.shape[0], CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS].float()
            p = torch.softmax(chunk / temperature, dim=-1)
            mean = (p * chunk).sum(-1, keepdim=True)
            total += (p * (chunk - mean) ** 2).sum().item()
    return total / max(rows.shape[0], 1) / temperature**3


def mean_entropy_at_temperature(logits, temperature: float) -> float:
    """Mean next-token entropy (nats) over all positions at ``temperature``."""
    return entropy_at_temperature(logits, temperature).mean().item()


def match_temperature(
    logits, target: float, low: float = 0.05, high: float = 4.0, tolerance: float = 0.01, max_steps: int = 100
) -> tuple[float, float, int]:
    """(T, mean entropy at T, entropies computed) with ``|mean entropy at T - target| <= tolerance``, by bisection.

    The search halves ``[low, high]`` geometrically (temperatures spread over orders of
    magnitude); a target outside the entropies at ``low`` and ``high`` raises
    :class:`TemperatureRangeError` naming the side.
    """
    if not 0 < low < high:
        raise ValueError(f"the search range must satisfy 0 < low < high, got [{low}, {high}]")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    low_entropy = mean_entropy_at_temperature(logits, low)
    if target < low_entropy - tolerance:
        raise TemperatureRangeError(
            f"target entropy {target:.4f} nats is below the entropy at the lowest temperature {low:g} ({low_entropy:.4f})", "low"
        )
    if abs(target - low_entropy) <= tolerance:
        return low, low_entropy, 1
    high_entropy = mean_entropy_at_temperature(logits, high)
    if target > high_entropy + tolerance:
        raise TemperatureRangeError(
            f"target entropy {target:.4f} nats is above the entropy at the highest temperature {high:g} ({high_entropy:.4f})", "high"
        )
    if abs(target - high_entropy) <= tolerance:
        return high, high_entropy, 2
    for step in range(3, max_steps + 3):
        middle = math.sqrt(low * high)
        entropy = mean_entropy_at_temperature(logits, middle)
        if abs(entropy - target) <= tolerance:
            return middle, entropy, step
        low, high = (middle, high) if entropy < target else (low, middle)
    raise ValueError(f"no temperature within {tolerance} nats of {target:.4f} after {max_steps} bisection steps: raise the tolerance")
