"""Where in a training run an evaluated checkpoint sits (epoch, step), for metric-by-epoch plots.

The rule, applied to the model path of each result (``peft=``, ``delta=``, ``pretrained=``,
``model=``, ``path=`` or ``engine=`` of ``--model_args``, the order lm-eval names models by):

1. the folder exists here and holds the Trainer's ``trainer_state.json``: epoch = its ``epoch``,
   step = its ``global_step``;
2. otherwise a folder named ``checkpoint-<step>``: that step, epoch unknown;
3. otherwise: not a checkpoint (such runs are drawn as flat reference lines).

Checkpoints belong to the same training run ("series") when they share the parent folder of
``checkpoint-<step>`` (a model saved at the end of training in that parent folder joins it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePath

from hyperfit_tasks.common.run_files import CHECKPOINT_NAME

TRAINER_STATE = "trainer_state.json"


@dataclass(frozen=True)
class TrainingPosition:
    """A checkpoint's training run (``series``: its run folder), ``step`` and ``epoch`` (None if unknown)."""

    series: str
    step: int | None
    epoch: float | None


def training_position(model_path: str | None) -> TrainingPosition | None:
    """The position of the model at ``model_path`` in its training run, or None (see module docstring)."""
    if not model_path:
        return None
    path = PurePath(model_path.rstrip("/\\"))
    match = CHECKPOINT_NAME.match(path.name)
    series = str(path.parent) if match else str(path)
    state = _trainer_state(Path(path))
    if state is not None:
        epoch, step = state.get("epoch"), state.get("global_step")
        return TrainingPosition(
            series=series,
            step=int(step) if isinstance(step, (int, float)) else None,
            epoch=float(epoch) if isinstance(epoch, (int, float)) else None,
        )
    if match:
        return TrainingPosition(series=series, step=int(match.group(1)), epoch=None)
    return None


def _trainer_state(folder: Path) -> dict | None:
    try:
        state = json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None
