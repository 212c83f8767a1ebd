"""Leaderboards of lm-eval runs: tables (Markdown, CSV, JSON), plots and an HTML report.

    from hyperfit_tasks.compare import load_results, build_leaderboard, render_markdown, write_report
    from hyperfit_tasks.compare.verdict import add_statistics

    runs = load_results(["out/"])                    # newest results_*.json per model folder
    board = build_leaderboard(runs, baseline=runs[0].name)
    add_statistics(board)                            # paired bootstrap intervals, Holm marks (verdict.py)
    print(render_markdown(board))
    write_report(board, Path("report"))              # table.md/.csv/.json, plots/, index.html

The console script ``hyperfit-compare`` (:mod:`hyperfit_tasks.cli.compare`) wires the same calls.
"""
from hyperfit_tasks.compare.csv_table import render_csv
from hyperfit_tasks.compare.errors import CompareError
from hyperfit_tasks.compare.html_page import render_html
from hyperfit_tasks.compare.json_table import leaderboard_dict, render_json
from hyperfit_tasks.compare.leaderboard import Cell, Column, Leaderboard, build_leaderboard
from hyperfit_tasks.compare.markdown import render_markdown
from hyperfit_tasks.compare.report import write_report
from hyperfit_tasks.compare.results import Measurement, RunResult, find_results_files, load_results, read_results

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
    "write_report",
]
