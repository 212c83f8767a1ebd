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


SIGNIFICANT_MARK = "*"  # Holm-adjusted p < 0.05 and the interval excludes 0 (hyperfit_tasks.compare.paired)
UNTESTED_MARK = "?"  # a difference without a verdict: not tested (the reason is printed beside the table)


def format_interval(low: float, high: float) -> str:
    """A 95% interval of a difference, ``[-0.0100, +0.0300]``."""
    return f"[{format_delta(low)}, {format_delta(high)}]"


def format_short(value: float | None, signed: bool = False) -> str:
    """Three significant digits for narrow terminal cells (``0.612``, ``25.3``, ``+0.088``); "" for None."""
    if value is None:
        return ""
    text = f"{value:+.3g}" if signed else f"{value:.3g}"
    return text.replace("e+0", "e").replace("e-0", "e-")
