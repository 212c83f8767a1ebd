"""The output directory of a run: start, resume or refuse, decided before anything is written.

A run directory is marked by ``hyperfit_recipe.json`` (written when training starts), which holds
the recipe's *fingerprint*: every value that changes the trained weights (base model, training
blocks hash, optimizer and schedule, batch size, seeds, precision, LoRA). ``hyperfit_run.json``
is written last, so its presence means the run finished.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperfit_tasks.common.atomic import write_json_atomic
from hyperfit_tasks.common.errors import HyperfitError
from hyperfit_tasks.common.run_files import RUN_RECORD as RUN_FILE
from hyperfit_train.checkpoints import checkpoint_problem, scan_checkpoints

logger = logging.getLogger("hyperfit_train")

RECIPE_FILE = "hyperfit_recipe.json"


@dataclass
class RunPlan:
    """What to do with the output directory: ``start`` (optionally wiping it), ``resume`` or nothing (``finished``)."""

    action: str
    checkpoint: Path | None = None
    wipe: bool = False
    incomplete: dict[Path, str] = field(default_factory=dict)


def plan_run(
    output_dir: Path,
    fingerprint: dict[str, Any],
    resume: bool,
    overwrite: bool,
    resume_from_checkpoint: str | None = None,
) -> RunPlan:
    """Decide how to use ``output_dir`` (read-only); raise a one-line error when it must be left alone."""
    output_dir = Path(output_dir)
    explicit = Path(resume_from_checkpoint) if resume_from_checkpoint else None
    if explicit is not None:
        problem = checkpoint_problem(explicit) if explicit.is_dir() else "not a folder"
        if problem:
            raise HyperfitError(f"cannot resume from {explicit}: {problem}: give a complete checkpoint-<step> folder")
    if output_dir.exists() and not output_dir.is_dir():
        raise HyperfitError(f"output directory {output_dir} is a file: choose a folder for --output_dir")
    if not output_dir.is_dir() or not any(output_dir.iterdir()):
        return RunPlan("resume", checkpoint=explicit) if explicit else RunPlan("start")
    recipe_file = output_dir / RECIPE_FILE
    if not recipe_file.is_file():
        raise HyperfitError(
            f"output directory {output_dir} is not empty and holds no hyperfit run (no {RECIPE_FILE}): "
            "choose a new or empty --output_dir (nothing was changed)"
        )
    if overwrite:
        _check_safe_to_wipe(output_dir)
        return RunPlan("start", wipe=True)
    differences = fingerprint_differences(read_recipe(output_dir).get("fingerprint", {}), fingerprint)
    if differences:
        shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
        raise HyperfitError(
            f"output directory {output_dir} holds a different run ({shown}): pass --overwrite to replace it "
            "or choose another --output_dir (nothing was changed)"
        )
    if (output_dir / RUN_FILE).is_file():
        if resume:
            return RunPlan("finished")
        raise HyperfitError(
            f"output directory {output_dir} holds a finished run of this recipe: pass --overwrite to train it again "
            "or choose another --output_dir (nothing was changed)"
        )
    if not resume and explicit is None:
        raise HyperfitError(
            f"output directory {output_dir} holds an unfinished run of this recipe: pass --resume to continue it "
            "or --overwrite to start again (nothing was changed)"
        )
    latest, incomplete = scan_checkpoints(output_dir)
    return RunPlan("resume", checkpoint=explicit or latest, incomplete=incomplete)


def prepare_output_dir(plan: RunPlan, output_dir: Path, recipe: dict[str, Any]) -> None:
    """Carry out ``plan`` on the main process: wipe or clean up, then (re)write the recipe file."""
    output_dir = Path(output_dir)
    if plan.wipe:
        logger.warning("--overwrite: deleting the previous run in %s", output_dir)
        _empty(output_dir)
    for folder, problem in plan.incomplete.items():
        logger.warning("removing incomplete checkpoint %s (%s)", folder, problem)
        shutil.rmtree(folder)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output_dir / RECIPE_FILE, recipe)


@contextmanager
def discarded_if_failed_before_a_checkpoint(output_dir: Path, active: bool) -> Iterator[None]:
    """Empty ``output_dir`` when the block fails (error or Ctrl-C) before a complete checkpoint exists in it.

    What is left then (recipe, blocks, the first diagnostics) cannot be resumed from, and its recipe file would make
    :func:`plan_run` refuse the corrected command. ``active``: the main process of a run started afresh (the folder
    holds only what this run wrote); a resumed run's folder is left as it was.
    """
    try:
        yield
    except BaseException:
        if active and scan_checkpoints(output_dir)[0] is None:
            logger.warning("the run failed before its first checkpoint: removing what it wrote in %s", output_dir)
            _empty(output_dir)
        raise


def read_recipe(output_dir: Path) -> dict[str, Any]:
    """The recipe recorded in ``output_dir`` (empty if unreadable)."""
    try:
        return json.loads((Path(output_dir) / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# What a fingerprint written before a key existed meant by its absence (runs before --block_mode were packed)
FINGERPRINT_DEFAULTS = {"block_mode": "packed"}


def fingerprint_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"key: old -> new"`` for every fingerprint value that differs."""
    old = {**FINGERPRINT_DEFAULTS, **old} if old else old
    return [
        f"{key}: {old.get(key)} -> {new.get(key)}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _empty(folder: Path) -> None:
    """Delete everything inside ``folder`` (a link itself, never what it points to)."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _check_safe_to_wipe(output_dir: Path) -> None:
    resolved = output_dir.resolve()
    protected = {Path.cwd().resolve(), Path.home().resolve(), Path(resolved.anchor)}
    if resolved in protected or resolved in Path.cwd().resolve().parents:
        raise HyperfitError(
            f"--overwrite will not delete {resolved} (the working, home or root folder): choose a dedicated "
            "--output_dir"
        )
