"""The sharpening a ``hyperfit-train`` run measured on held-out text, before and after, from its ``hyperfit_run.json``.

A run's model folder (the evaluated ``pretrained=`` path) holds ``hyperfit_run.json`` when
``hyperfit-train`` wrote it; its ``initial_diagnostics`` and ``final_diagnostics`` rows (the
format of :mod:`hyperfit_train.diagnostics`) are read as plain JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

from hyperfit_tasks.compare.leaderboard import Leaderboard

RUN_RECORD = "hyperfit_run.json"
SHARPENING_COLUMNS = (
    ("heldout_perplexity", "held-out ppl", ".2f"),
    ("top1_prob", "top-1 prob", ".3f"),
    ("entropy", "entropy (nats)", ".3f"),
    ("ttr_last96", "greedy TTR last 96", ".3f"),
)


def read_diagnostics(folder: Path) -> tuple[dict, dict] | None:
    """(before, after) diagnostics rows of the run record in ``folder``, None if absent or unreadable."""
    try:
        record = json.loads((Path(folder) / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    before, after = (record.get("initial_diagnostics"), record.get("final_diagnostics")) if isinstance(record, dict) else (None, None)
    return (before, after) if isinstance(before, dict) and isinstance(after, dict) else None


def sharpening_rows(board: Leaderboard) -> list[list[str]]:
    """Table rows (label, then one formatted cell per column) of every run with a run record: before, then after."""
    rows = []
    for run in board.runs:
        found = read_diagnostics(Path(run.model_path)) if run.model_path else None
        if found is None:
            continue
        for label, row in zip((f"{run.name}: before (base)", f"{run.name}: after"), found):
            rows.append([label, *(format(row[key], spec) if isinstance(row.get(key), (int, float)) else "" for key, _, spec in SHARPENING_COLUMNS)])
    return rows


def sharpening_headers() -> list[str]:
    """Header of the sharpening table."""
    return ["Run", *(label for _, label, _ in SHARPENING_COLUMNS)]
