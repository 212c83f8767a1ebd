"""The head of every benchmark's JSON record: its name, its settings and the machine it ran on."""
from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib.metadata import version


def record_head(name: str, args: argparse.Namespace, packages: tuple[str, ...], skip: tuple[str, ...] = ("output",)) -> dict:
    """``{"benchmark", "settings", "environment"}`` for ``name``: the options (less ``skip``), Python,
    machine, core count, torch threads (when torch is loaded) and the versions of ``packages``."""
    environment = {"python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count()}
    if "torch" in sys.modules:
        environment["torch_threads"] = sys.modules["torch"].get_num_threads()
    environment |= {package: version(package) for package in packages}
    settings = {key: value for key, value in vars(args).items() if key not in skip}
    return {"benchmark": name, "settings": settings, "environment": environment}
