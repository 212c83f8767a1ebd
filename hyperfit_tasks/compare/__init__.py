"""Leaderboards of lm-eval runs: tables (Markdown, CSV, JSON), plots and an HTML report.

    from hyperfit_tasks.compare import build_leaderboard, load_results, render_markdown, with_statistics, write_report

    runs = load_results(["out/"])                    # newest results_*.json per model folder
    board = build_leaderboard(runs, baseline=runs[0].name)
    board = with_statistics(board)                   # paired permutation tests, 95% intervals, Holm marks
    print(render_markdown(board))
    write_report(board, Path("report"))              # table.md/.csv/.json, plots/, index.html

Modules by role, each importing only those above it in this list: ``results`` (the results reader: results files, run
names, training positions, ``--same-prompts``, settings that must match, the run record; :class:`CompareError`),
``samples`` (the ``--log_samples`` records), ``paired`` (the statistics), ``leaderboard`` (the table and its
verdict), then the renderers ``text`` (terminal, ``table.md``), ``data`` (``table.csv``, ``table.json``),
``html_page``, ``plots``, and ``report`` (``--out DIR``). The console script ``hyperfit-compare``
(:mod:`hyperfit_tasks.cli.compare`) wires the same calls.
"""

from hyperfit_tasks.compare.data import leaderboard_dict, render_csv, render_json
from hyperfit_tasks.compare.html_page import render_html
from hyperfit_tasks.compare.leaderboard import Cell, Column, Leaderboard, build_leaderboard, with_statistics
from hyperfit_tasks.compare.report import write_report
from hyperfit_tasks.compare.results import (
    CompareError,
    Measurement,
    RunResult,
    find_results_files,
    load_results,
    read_results,
)
from hyperfit_tasks.compare.text import render_markdown, render_terminal

__all__ = [
    "Cell",
    "Column",
    "CompareError",
    "Leaderboard",
    "Measurement",
    "RunResult",
    "build_leaderboard",
    "find_results_files",
    "leaderboard_dict",
    "load_results",
    "read_results",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
    "render_terminal",
    "with_statistics",
    "write_report",
]
