"""The head of every benchmark's JSON record: its name, its settings and the machine it ran on."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib.metadata import version
from pathlib import Path


def record_head(
    name: str, args: argparse.Namespace, packages: tuple[str, ...], skip: tuple[str, ...] = ("output",)
) -> dict:
    """``{"benchmark", "settings", "environment"}`` for ``name``: the options (less ``skip``), Python,
    machine, core count, torch threads (when torch is loaded) and the versions of ``packages``."""
    environment = {"python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count()}
    if "torch" in sys.modules:
        environment["torch_threads"] = sys.modules["torch"].get_num_threads()
    environment |= {package: version(package) for package in packages}
    settings = {key: value for key, value in vars(args).items() if key not in skip}
    return {"benchmark": name, "settings": settings, "environment": environment}


RESULTS_DIR = Path(__file__).resolve().parent / "results"


def add_model_arguments(parser: argparse.ArgumentParser, output: str) -> None:
    """``--model``, ``--threads`` and ``--output`` (default ``benchmarks/results/<output>``), as the benchmarks on the
    default model take them."""
    parser.add_argument("--model", help="model folder (default: hyperfit's default model, SmolLM2-135M)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / output, help="JSON file")


def resolve_model(args: argparse.Namespace) -> str:
    """``args.model``, or the default model's folder (built by hyperfit-assets if needed) when none was given."""
    if args.model is None:
        from hyperfit_tasks.assets import default_model_path

        args.model = str(default_model_path())
    return args.model
