"""The package layout: imports run one way, from hyperfit_train to hyperfit_tasks, never back."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``path`` names (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def import_circles(folder: Path) -> list[list[str]]:
    """Every import circle among the modules of ``folder`` (type-checking-only imports count too), as module names."""
    package = ".".join(folder.relative_to(ROOT).parts)
    modules = {f"{package}.{path.stem}": path for path in folder.glob("*.py") if path.stem != "__init__"}
    graph = {
        name: sorted(other for other in modules if other != name and other in imported_modules(path))
        for name, path in modules.items()
    }
    circles, done = [], set()

    def visit(name: str, trail: list[str]) -> None:
        for other in graph[name]:
            if other in trail:
                circles.append(trail[trail.index(other) :] + [other])
            elif other not in done:
                visit(other, [*trail, other])
        done.add(name)

    for name in graph:
        if name not in done:
            visit(name, [name])
    return circles


def test_no_import_circle_inside_compare():
    """``compare``'s modules import one another one way (the leaderboard its statistics' types, never back)."""
    assert import_circles(ROOT / "hyperfit_tasks" / "compare") == []


# compare's modules by role, as docs/layout.md lists them: reader, statistics, leaderboard, renderers, the report
COMPARE_FLOORS = ("results", "samples", "paired", "leaderboard", "text", "data", "html_page", "plots", "report")


def test_compare_modules_import_only_those_below_them():
    """Each module of ``compare`` imports only modules listed before it in :data:`COMPARE_FLOORS`, and the list is the
    package (so a new module has to be given its place)."""
    folder = ROOT / "hyperfit_tasks" / "compare"
    assert sorted(path.stem for path in folder.glob("*.py") if path.stem != "__init__") == sorted(COMPARE_FLOORS)
    for position, name in enumerate(COMPARE_FLOORS):
        imported = {
            module.split(".")[2]
            for module in imported_modules(folder / f"{name}.py")
            if module.startswith("hyperfit_tasks.compare.")
        }
        assert imported <= set(COMPARE_FLOORS[:position]), (
            f"{name} imports {sorted(imported - set(COMPARE_FLOORS[:position]))} from above it"
        )


def test_import_circles_finds_a_circle_through_a_type_checking_import(tmp_path, monkeypatch):
    probe = tmp_path / "pkg"
    probe.mkdir()
    (probe / "a.py").write_text("from pkg import b\n")
    (probe / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import x\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert import_circles(probe) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_imported_modules_reads_absolute_and_relative_imports():
    folder = ROOT / "hyperfit_tasks" / "assets"
    assert {"hyperfit_tasks.assets.cache", "hyperfit_tasks.assets.cache.cache_root"} <= imported_modules(
        folder / "__init__.py"
    )
    assert "hyperfit_tasks.metrics.next_token_sharpness" in imported_modules(
        ROOT / "hyperfit_train" / "diagnostics.py"
    )


def test_hyperfit_tasks_never_imports_hyperfit_train():
    modules = sorted((ROOT / "hyperfit_tasks").rglob("*.py"))
    assert len(modules) > 40
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] == "hyperfit_train"
        )
        for path in modules
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_common_imports_only_common():
    """``hyperfit_tasks.common`` is the ground floor: it may import nothing else of the project."""
    project = ("hyperfit_tasks", "hyperfit_train", "task_configs")
    for path in sorted((ROOT / "hyperfit_tasks" / "common").glob("*.py")):
        names = {name for name in imported_modules(path) if name.split(".")[0] in project}
        assert all(name.startswith("hyperfit_tasks.common") for name in names), (path.name, sorted(names))


def test_importing_every_hyperfit_tasks_module_loads_no_hyperfit_train():
    probe = (
        "import importlib, pkgutil, sys, hyperfit_tasks\n"
        "names = [m.name for m in pkgutil.walk_packages(hyperfit_tasks.__path__, 'hyperfit_tasks.')]\n"
        "for name in names: importlib.import_module(name)\n"
        "print(len(names), sorted(m for m in sys.modules if m.split('.')[0] == 'hyperfit_train'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    assert int(out[0]) > 40 and out[1:] == ["[]"]
