"""Checks on how accelerate actually distributed a run, so a requested strategy never silently falls back."""

from __future__ import annotations

import os

from hyperfit_tasks.common.errors import HyperfitError


def fsdp_requested(training_args) -> bool:
    """True if FSDP was asked for: by ``accelerate launch`` (``distributed_type: FSDP``) or ``--fsdp``."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" or bool(
        getattr(training_args, "fsdp", None)
    )


def check_fsdp_engaged(trainer) -> None:
    """Stop before anything is written when FSDP was requested but accelerate runs the processes another way.

    accelerate (1.x) turns FSDP on only for multi-GPU/accelerator process groups: on CPU processes
    it keeps ``MULTI_CPU`` (plain DDP, full model and optimizer on every rank) without a warning.
    """
    if fsdp_requested(trainer.args) and not trainer.is_fsdp_enabled:
        kind = trainer.accelerator.distributed_type
        raise HyperfitError(
            f"FSDP was requested but accelerate runs these {trainer.accelerator.num_processes} process(es) as "
            f"{getattr(kind, 'value', kind)}, without FSDP (accelerate enables FSDP only on GPUs or other "
            "accelerators): drop the FSDP config and use DDP (torchrun) on CPU, or launch on GPUs"
        )
