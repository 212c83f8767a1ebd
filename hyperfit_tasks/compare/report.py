"""``--out DIR``: every output of a comparison, each file written atomically.

Layout: ``table.md``, ``table.csv``, ``table.json``, ``plots/differences.png`` (paired differences, tested runs only),
``plots/metric_by_epoch.png`` (checkpoints of a run only), ``plots/ttr_by_position.png``
(samples only) and ``index.html`` (everything above in one page, plus example continuations).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hyperfit_tasks.common.atomic import write_atomic
from hyperfit_tasks.common.run_files import INDEX_HTML, TABLE_CSV, TABLE_JSON, TABLE_MD
from hyperfit_tasks.compare import plots as plotting
from hyperfit_tasks.compare.data import render_csv, render_json
from hyperfit_tasks.compare.html_page import Plot, render_html
from hyperfit_tasks.compare.leaderboard import Leaderboard
from hyperfit_tasks.compare.samples import Example, generation_samples, mean_curve, pick_examples, ttr_curves
from hyperfit_tasks.compare.text import headline_domains, render_markdown

DEFAULT_EXAMPLES = 3
FOREST_TITLE = (
    "Differences to the baseline with 95% intervals (paired tests over prompts): green = significantly better, "
    "red = significantly worse, dark grey = not significant, hollow light grey = not tested"
)


def write_report(
    board: Leaderboard,
    out_dir: Path,
    examples: int = DEFAULT_EXAMPLES,
    headline: Sequence[str] | None = None,
) -> tuple[list[Path], list[str]]:
    """Write all outputs under ``out_dir``; returns the files written and notes on what was skipped.

    Everything is rendered before the first file is written, so a failure leaves the previous
    report untouched; each file then replaces its predecessor atomically.
    """
    samples, notes = generation_samples(board.runs)
    figures = make_plots(board, samples, headline, notes)
    chosen = collect_examples(board, samples, examples)
    if examples and not chosen:
        notes.append(
            "no example continuations: the baseline and another run need samples of one generate_until task (lm_eval "
            "--log_samples)"
        )
    outputs: dict[str, str | bytes] = {
        TABLE_MD: render_markdown(board),
        TABLE_CSV: render_csv(board),
        TABLE_JSON: render_json(board),
        **{f"plots/{plot.filename}": plot.png for plot in figures},
        INDEX_HTML: render_html(board, figures, chosen, notes),
    }
    return [write_atomic(Path(out_dir) / name, data) for name, data in outputs.items()], notes


def make_plots(
    board: Leaderboard, samples: dict[str, dict[str, list[dict]]], headline: Sequence[str] | None, notes: list[str]
) -> list[Plot]:
    """The forest of differences, metric-by-epoch and TTR-by-position plots that the inputs allow; notes say why one is
    missing."""
    columns = plotting.headline_columns(board, headline)
    figures = []
    differences = plotting.forest(board, headline_domains(board))
    if differences is not None:
        figures.append(Plot(FOREST_TITLE, "differences.png", differences))
    else:
        notes.append("no plot of differences: it needs a second run and a headline metric")
    by_epoch = plotting.metric_by_epoch(board, columns) if columns else None
    if by_epoch is not None:
        figures.append(
            Plot(
                "Headline metrics over training (checkpoints of one run; dashed = other runs)",
                "metric_by_epoch.png",
                by_epoch,
            )
        )
    else:
        notes.append(
            "no metric-by-epoch plot: no two inputs are checkpoints (checkpoint-<step> or trainer_state.json) of one "
            "training run"
        )
    curves, units = {}, {}
    for task, by_run in samples.items():
        per_run = {name: ttr_curves(by_run[name]) for name in [run.name for run in board.runs] if name in by_run}
        means = {name: mean_curve(found) for name, (found, _) in per_run.items()}
        if any(means.values()):
            curves[task] = {name: curve for name, curve in means.items() if curve}
            found_units = sorted({unit for _, unit in per_run.values()})
            units[task] = " / ".join(found_units)
            if len(found_units) > 1:
                notes.append(f"TTR-by-position curves of {task} mix units ({units[task]}): compare them with care")
    if curves:
        figure = plotting.ttr_by_position(curves, units, [run.name for run in board.runs])
        figures.append(
            Plot("TTR by position in the continuation (mean over documents)", "ttr_by_position.png", figure)
        )
    else:
        notes.append(
            "no TTR-by-position plot: no generate_until samples with a full window (run lm_eval with --log_samples)"
        )
    return figures


def collect_examples(board: Leaderboard, samples: dict[str, dict[str, list[dict]]], count: int) -> list[Example]:
    """Up to ``count`` example documents per ``generate_until`` task with samples."""
    order = [run.name for run in board.runs]
    return [
        example
        for task, by_run in samples.items()
        for example in pick_examples(task, by_run, order, board.baseline, count)
    ]
