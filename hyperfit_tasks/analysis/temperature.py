"""Next-token entropy as a function of the sampling temperature, and the temperature that matches a target.

Used by ``hyperfit-temperature``: the base model's logits are computed once
(:func:`next_token_logits`) and re-scaled here for every temperature tried. Mean entropy grows monotonically with the
temperature (its derivative is ``Var_p(logits) / T**3`` >= 0), so bisection finds the matching temperature.
"""

from __future__ import annotations

import math

CHUNK_ROWS = 32  # positions at a time: the extra memory stays 2 x chunk x vocabulary floats (fastest on CPU)


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
            # H = log Z - E_p[z] with z = logits / T shifted to max 0, e = exp(z), Z = sum e (in place: 2.5x
            # log_softmax's speed)
            z = rows[start : start + CHUNK_ROWS].float() / temperature
            z.sub_(z.amax(-1, keepdim=True))
            e = z.exp()
            total = e.sum(-1)
            out[start : start + CHUNK_ROWS] = total.log() - e.mul_(z).sum(-1) / total
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
    logits,
    target: float,
    low: float = 0.05,
    high: float = 4.0,
    tolerance: float = 0.01,
    precision: float = 1e-3,
    max_steps: int = 100,
) -> tuple[float, float, int]:
    """(T, mean entropy at T, entropies computed): the temperature where the mean entropy crosses ``target``, by
    bisection.

    The search halves ``[low, high]`` geometrically (temperatures spread over orders of
    magnitude), keeping the crossing inside, until the entropies at the two ends are within
    ``tolerance`` nats and the ends within a factor ``1 + precision``; it returns the middle.
    Both conditions matter: where the entropy barely changes with T, many temperatures are within
    the tolerance, but only one is the crossing. A target beyond the entropy at ``low`` or
    ``high`` by more than ``tolerance`` raises :class:`TemperatureRangeError` naming the side;
    within it, that end is the answer.
    """
    if not 0 < low < high:
        raise ValueError(f"the search range must satisfy 0 < low < high, got [{low}, {high}]")
    if not (tolerance > 0 and precision > 0):
        raise ValueError(f"tolerance and precision must be > 0, got {tolerance} and {precision}")
    low_entropy, high_entropy = mean_entropy_at_temperature(logits, low), mean_entropy_at_temperature(logits, high)
    if target <= low_entropy:
        if target < low_entropy - tolerance:
            raise TemperatureRangeError(
                f"target entropy {target:.4f} nats is below the entropy at the lowest temperature {low:g} "
                f"({low_entropy:.4f})",
                "low",
            )
        return low, low_entropy, 2
    if target >= high_entropy:
        if target > high_entropy + tolerance:
            raise TemperatureRangeError(
                f"target entropy {target:.4f} nats is above the entropy at the highest temperature {high:g} "
                f"({high_entropy:.4f})",
                "high",
            )
        return high, high_entropy, 2
    for step in range(3, max_steps + 3):
        middle = math.sqrt(low * high)
        entropy = mean_entropy_at_temperature(logits, middle)
        if entropy < target:
            low, low_entropy = middle, entropy
        else:
            high, high_entropy = middle, entropy
        if high_entropy - low_entropy <= tolerance and high <= low * (1 + precision):
            middle = math.sqrt(low * high)
            return middle, mean_entropy_at_temperature(logits, middle), step + 1
    raise ValueError(
        f"no temperature within {tolerance} nats of {target:.4f} after {max_steps} bisection steps: raise the "
        "tolerance"
    )


def next_token_logits(model, blocks, batch_size: int, desc: str):
    """Float32 CPU tensor (blocks, block_size - 1, vocabulary): the model's logits at every position with a next
    token."""
    import torch
    from tqdm.auto import tqdm

    logits = None
    with torch.inference_mode():
        for start in tqdm(range(0, len(blocks), batch_size), desc=desc, unit="batch"):
            batch = blocks[start : start + batch_size].to(model.device)
            out = model(batch).logits[:, :-1].float().cpu()
            if logits is None:
                logits = torch.empty((len(blocks), *out.shape[1:]), dtype=torch.float32)
            logits[start : start + len(batch)] = out
    return logits


def block_entropies(model, blocks, batch_size: int, desc: str):
    """Float tensor (blocks, block_size - 1): the model's next-token entropy (nats, T = 1) at every position."""
    import torch
    from tqdm.auto import tqdm

    parts = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(blocks), batch_size), desc=desc, unit="batch"):
            parts.append(
                entropy_at_temperature(
                    model(blocks[start : start + batch_size].to(model.device)).logits[:, :-1], 1.0
                ).cpu()
            )
    return torch.cat(parts)


def temperature_interval(
    base_block_entropy, hyperfitted_block_entropy, slope: float, temperature: float
) -> list[float] | None:
    """95% interval of T over held-out blocks (delta method): the paired per-block entropy
    difference's standard error divided by d(mean entropy)/dT; None with fewer than two blocks."""
    differences = (base_block_entropy - hyperfitted_block_entropy).double()
    if len(differences) < 2 or not slope > 0:
        return None
    half_width = 1.96 * differences.std().item() / math.sqrt(len(differences)) / slope
    return [temperature - half_width, temperature + half_width]
