"""Every third-party module that our packages import (at the top or inside a function) belongs to a distribution
that ``pyproject.toml`` declares, in ``[project.dependencies]`` or an optional extra: nothing works only because
something else happens to pull it in. ruff's ``target-version`` is the Python floor of ``requires-python``."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OWN = {"hyperfit_tasks", "hyperfit_train", "task_configs"}


def _name(requirement: str) -> str:
    """The PEP 503 normalised distribution name of a requirement such as ``"lm-eval>=0.4.13,<0.5"``."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group()).lower()


def imported_modules() -> dict[str, set[str]]:
    """Top-level module -> the files that import it, over our packages and task_configs (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for root in ("hyperfit_tasks", "hyperfit_train", "task_configs"):
        for path in (REPO / root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO)))
    return found


def test_every_third_party_import_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(item) for item in project["dependencies"]}
    declared |= {_name(item) for extra in project["optional-dependencies"].values() for item in extra}
    distributions = metadata.packages_distributions()
    third_party = {
        module: files for module, files in imported_modules().items()
        if module not in sys.stdlib_module_names and module not in OWN and module != "__future__"
    }  # fmt: skip
    assert {"torch", "scipy", "pyarrow", "faiss"} <= set(third_party)  # the scan sees imports inside functions too
    missing = {
        module: sorted(files) for module, files in third_party.items()
        if not {_name(dist) for dist in distributions.get(module, [module])} & declared
    }  # fmt: skip
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_ruff_targets_the_python_floor():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    floor = re.fullmatch(r">=\s*3\.(\d+)", data["project"]["requires-python"]).group(1)
    assert data["tool"]["ruff"]["target-version"] == f"py3{floor}"
