"""``hyperfit-train``: parse the options (TRL's parser, presets, ``--config`` YAML) and run the trainer.

Errors are one line on stderr with a non-zero exit code; a bare ``--debug`` shows the traceback
instead (``--debug underflow_overflow`` still reaches transformers' own debug option).

Distributed: ``torchrun --nproc_per_node N -m hyperfit_train.cli ...`` or
``accelerate launch -m hyperfit_train.cli ...`` (DDP, or FSDP / DeepSpeed through an accelerate config).
"""

from __future__ import annotations

import logging
import os
import sys

from hyperfit_tasks.common.errors import HyperfitError, run_command

PROG = "hyperfit-train"
TRANSFORMERS_DEBUG_OPTIONS = ("underflow_overflow", "tpu_metrics_debug")


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    argv, show_traceback = take_debug_flag(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    configure_logging()

    def work() -> None:
        from hyperfit_train.config import parse_args
        from hyperfit_train.trainer import train

        script_args, training_args, model_args = parse_args(argv)
        if training_args.process_index != 0:
            logging.getLogger("hyperfit_train").setLevel(logging.WARNING)
        train(script_args, training_args, model_args)

    def on_this_rank(error: Exception) -> bool:  # a bad-input error is the same on every rank: say it once
        return os.environ.get("RANK", "0") == "0" or not isinstance(error, HyperfitError)

    return run_command(
        PROG,
        work,
        debug=show_traceback,
        interrupted="interrupted: run the same command with --resume to continue",
        report=on_this_rank,
    )


def take_debug_flag(argv: list[str]) -> tuple[list[str], bool]:
    """Remove a bare ``--debug`` (one not followed by a transformers debug option) from ``argv``."""
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        if arg == "--debug" and following not in TRANSFORMERS_DEBUG_OPTIONS:
            return argv[:index] + argv[index + 1 :], True
    return argv, False


def configure_logging() -> None:
    """Show the trainer's own messages (``hyperfit_train`` logger) on stderr as ``hyperfit-train: level: message``."""
    logger = logging.getLogger("hyperfit_train")
    for handler in list(logger.handlers):  # a second call (tests, notebooks) must write to the current stderr
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
