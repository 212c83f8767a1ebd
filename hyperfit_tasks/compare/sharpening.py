"""The sharpening a ``hyperfit-train`` run measured on held-out text, before and after, from its ``hyperfit_run.json``,
and whether the run hyperfitted at all.

A run's model folder (the evaluated ``pretrained=`` path) holds ``hyperfit_run.json`` when
``hyperfit-train`` wrote it; its ``initial_diagnostics`` and ``final_diagnostics`` rows (the
format of :mod:`hyperfit_train.diagnostics`) and its ``training`` block (``hyperfitted``,
``final_train_loss``, ``target_loss``) are read as plain JSON. Records written before the diagnostics
had the top-1 split (``top1_prob_correct``, ``top1_prob_wrong``, ``ece``) show those cells empty.
"""
from __future__ import annotations

from pathlib import Path

from hyperfit_tasks.common.run_files import RUN_RECORD, read_run_record
from hyperfit_tasks.compare.leaderboard import TRAINING, Leaderboard, Note

SHARPENING_COLUMNS = (
    ("heldout_perplexity", "held-out ppl", ".2f"),
    ("top1_prob", "top-1 prob", ".3f"),
    ("top1_prob_correct", "top-1 prob when right", ".3f"),
    ("top1_prob_wrong", "top-1 prob when wrong", ".3f"),
    ("ece", "ECE", ".3f"),
    ("entropy", "entropy (nats)", ".3f"),
    ("ttr_last96", "greedy TTR last 96", ".3f"),
)


def read_diagnostics(folder: Path) -> tuple[dict, dict] | None:
    """(before, after) diagnostics rows of the run record in ``folder``, None if absent or unreadable."""
    record = read_run_record(folder) or {}
    before, after = record.get("initial_diagnostics"), record.get("final_diagnostics")
    return (before, after) if isinstance(before, dict) and isinstance(after, dict) else None


def hyperfit_outcome(folder: Path) -> str:
    """``yes``/``NO`` with the final training loss against the near-zero target, or "" when the record does not say."""
    training = (read_run_record(folder) or {}).get("training")
    if not isinstance(training, dict) or training.get("hyperfitted") is None:
        return ""
    loss, target = training.get("final_train_loss"), training.get("target_loss")
    if training["hyperfitted"]:
        return f"yes: loss {loss:.3g}, target {target:g}"
    return f"NO: loss {loss:.3g}, target {target:g}"


def training_flags(board: Leaderboard) -> list[Note]:
    """One line per run whose ``hyperfit-train`` run missed its near-zero training-loss target."""
    flags = []
    for run in board.runs:
        outcome = hyperfit_outcome(Path(run.model_path)) if run.model_path else ""
        if outcome.startswith("NO"):
            text = (
                f"{run.name} did not hyperfit (final training {outcome.split(': ', 1)[1]}, from its {RUN_RECORD}): "
                "its differences do not show the effect of hyperfitting"
            )
            flags.append(Note(text, TRAINING))
    return flags


def sharpening_rows(board: Leaderboard) -> list[list[str]]:
    """Table rows (label, then one formatted cell per column) of every run with a run record: before, then after."""
    rows = []
    for run in board.runs:
        found = read_diagnostics(Path(run.model_path)) if run.model_path else None
        if found is None:
            continue
        outcomes = ("", hyperfit_outcome(Path(run.model_path)))
        for label, row, outcome in zip((f"{run.name}: before (base)", f"{run.name}: after"), found, outcomes):
            cells = [format(row[key], spec) if isinstance(row.get(key), (int, float)) else "" for key, _, spec in SHARPENING_COLUMNS]
            rows.append([label, *cells, outcome])
    return rows


def sharpening_headers() -> list[str]:
    """Header of the sharpening table."""
    return ["Run", *(label for _, label, _ in SHARPENING_COLUMNS), "hyperfitted (final training loss vs target)"]
