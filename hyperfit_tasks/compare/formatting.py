"""How numbers look in the text outputs (Markdown, HTML): lm-eval's 4 decimals, small values in e-notation."""
from __future__ import annotations

ARROWS = {True: "↑", False: "↓", None: ""}  # lm-eval's HIGHER_IS_BETTER_SYMBOLS, plus "no direction"


def format_number(value: float | None) -> str:
    """``0.6123``; ``2.805e-07`` for tiny non-zero values (4 decimals would print 0.0000); "" for None."""
    if value is None:
        return ""
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4f}"


def format_delta(delta: float | None) -> str:
    """A signed difference (``+0.0500``, ``-2.000e-05``); "" for None."""
    if delta is None:
        return ""
    text = format_number(delta)
    return text if text.startswith("-") else f"+{text}"
