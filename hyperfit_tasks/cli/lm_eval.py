"""Console script ``hyperfit-lm-eval``: lm-eval's own CLI with hyperfit's models registered and tasks on the include path.

Every argument is lm-eval's; errors are one line on stderr (exit 1) unless hyperfit's own ``--debug`` asks for the traceback.
"""
from __future__ import annotations

import sys

from hyperfit_tasks.cli.tasks_path import task_configs_dir
from hyperfit_tasks.common.errors import run_command

PROG = "hyperfit-lm-eval"


def with_include_path(argv: list[str]) -> list[str]:
    """``argv`` (without the program name) plus ``--include_path`` of hyperfit's tasks, unless given."""
    given = any(arg == "--include_path" or arg.startswith("--include_path=") for arg in argv)
    if given or not argv or argv[0] in ("-h", "--help"):
        return list(argv)
    return [*argv, "--include_path", task_configs_dir()]


def main(argv: list[str] | None = None) -> int:
    """Run lm-eval's CLI on ``argv`` (default: the command line) with hyperfit's tasks included; returns the exit code."""
    from lm_eval.__main__ import cli_evaluate

    from hyperfit_tasks.models.registry import register_models

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    register_models()
    sys.argv = [sys.argv[0], *with_include_path([arg for arg in argv if arg != "--debug"])]
    return run_command(PROG, cli_evaluate, debug=debug)
