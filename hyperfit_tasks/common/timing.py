"""How a wall time is written for people: the model card's training time and the chains' time per step."""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """``9m 58s``, ``1h 02m 05s``; ``unknown`` for None."""
    if seconds is None:
        return "unknown"
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"
