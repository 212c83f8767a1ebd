"""The run-folder contract (``hyperfit_tasks.common.run_files``): every file name is spelled there only; ``table.json``
reads back into compare's own statistics; notes are chosen by their kind, never by their wording."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from hyperfit_tasks.common import run_files
from hyperfit_tasks.compare import build_leaderboard, load_results
from hyperfit_tasks.compare.data import paired_stat, read_table, render_json
from hyperfit_tasks.compare.leaderboard import LENGTH, STATISTICS, Note, with_statistics
from hyperfit_tasks.compare.text import render_terminal

from helpers import OWN_TASK, write_own_run

ROOT = Path(__file__).resolve().parents[1]
# not checked: early_stopped (also a key of the run record) and index.html (also hyperfit-reproduce's own report page)
NAMES = {
    run_files.RUN_RECORD, run_files.DIAGNOSTICS_FILE, run_files.DIAGNOSTICS_PLOT, run_files.TRAIN_BLOCKS_FILE,
    run_files.EARLY_STOPPED_RECORD, run_files.RESULTS_GLOB, run_files.TABLE_JSON, run_files.TABLE_MD,
    run_files.TABLE_CSV,
}  # fmt: skip


def test_every_run_file_name_is_spelled_only_in_run_files():
    found = []
    for package in ("hyperfit_tasks", "hyperfit_train"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "hyperfit_tasks" / "common" / "run_files.py":
                continue
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {node.value}"
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Constant) and node.value in NAMES
            ]
    assert found == []


def own_board(tmp_path: Path):
    base = write_own_run(tmp_path / "base", {"hyperfit_ttr_last96": [0.3 + 0.01 * i for i in range(12)]})
    run = write_own_run(tmp_path / "run", {"hyperfit_ttr_last96": [0.6 + 0.02 * i for i in range(12)]})
    return with_statistics(build_leaderboard(load_results([base, run])), permutations=200)


def test_table_json_reads_back_into_the_paired_statistic_compare_computed(tmp_path):
    board = own_board(tmp_path)
    (tmp_path / run_files.TABLE_JSON).write_text(render_json(board))
    table = read_table(tmp_path / run_files.TABLE_JSON)
    assert (
        paired_stat(table, OWN_TASK, "hyperfit_ttr_last96", "run")
        == board.paired.stats[("run", f"{OWN_TASK}/hyperfit_ttr_last96")]
    )
    assert (
        paired_stat(table, OWN_TASK, "hyperfit_ttr_last96", "base") is None
        and read_table(tmp_path / "missing.json") is None
    )
    stat = paired_stat(table, OWN_TASK, "hyperfit_ttr_last96", "run")
    assert (stat.negated().delta, stat.negated().ci_low, stat.negated().base_value) == (
        -stat.delta,
        -stat.ci_high,
        stat.run_value,
    )


def test_the_headline_shows_flags_by_their_kind_not_their_wording(tmp_path):
    board = own_board(tmp_path)
    flags = [
        Note("a length flag in any words", LENGTH),
        Note("runs are not comparable, but only a statistics note", STATISTICS),
    ]
    board = dataclasses.replace(board, notes=[*board.notes, *flags])
    terminal = render_terminal(board)
    assert "a length flag in any words" in terminal and "only a statistics note" not in terminal
    assert all(isinstance(note, Note) for note in board.notes)
