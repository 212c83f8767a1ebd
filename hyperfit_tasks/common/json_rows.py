"""JSON-lines rows both packages read and write: ``diagnostics.jsonl`` rows (a torn last line skipped) and strict JSON
values (NaN and infinity as null)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``diagnostics.jsonl`` file; a torn last line (the process was killed mid-write) is skipped."""
    rows = []
    if Path(path).is_file():
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity (nested in dicts and lists) replaced by None, for standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
