"""Where the lm-eval task YAMLs of this package live (for ``lm_eval --include_path``)."""

from importlib.resources import files


def task_configs_dir() -> str:
    """Absolute path of the folder holding the ``hyperfit_*`` task YAMLs."""
    return str(files("hyperfit_tasks.task_configs"))


def main() -> None:
    """Console script ``hyperfit-tasks-path``: print the include path."""
    print(task_configs_dir())
