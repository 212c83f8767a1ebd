"""The claims report: ``claims.md`` (the table and the rules), ``claims.json``, ``index.html`` (linking each underlying
``hyperfit-compare`` report) and ``training.png`` (held-out loss, top-1 probability and TTR against epoch, and TTR and
held-out loss against training loss), written atomically after everything is rendered."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import PackageLoader

from hyperfit_tasks.common.atomic import write_atomic
from hyperfit_tasks.common.json_rows import json_safe
from hyperfit_tasks.compare.html_page import TEMPLATES
from hyperfit_tasks.compare.text import unpadded_markdown_table
from hyperfit_tasks.reproduce.claims import ClaimRow

PLOT_FILE = "training.png"
# hyperfit-compare's Jinja environment (autoescape, strict undefined, whitespace) over this package's templates
PAGES = TEMPLATES.overlay(loader=PackageLoader("hyperfit_tasks.reproduce", "templates"))
CURVES = (
    ("heldout_loss", "held-out loss (nats)"),
    ("top1_prob", "held-out top-1 probability"),
    ("ttr_last96", "greedy TTR of the last 96 tokens"),
)


HEADERS = ["#", "claim", "the paper", "ours (difference, 95% interval; * = significant: Holm p < 0.05)", "verdict"]


def render_markdown(rows: Sequence[ClaimRow], notes: Sequence[str] = (), observed: Sequence[ClaimRow] = ()) -> str:
    """The claims table (claim | paper | ours, 95% interval | verdict; verdicts of claims in bold), the observations
    reported beside it, then each claim's rule and basis."""
    cells = [[str(row.number), row.claim, row.paper, row.ours, f"**{row.verdict}**"] for row in rows]
    cells += [[str(row.number), row.claim, row.paper, row.ours, row.verdict] for row in observed]
    lines = [
        unpadded_markdown_table(HEADERS, cells, right=[0]).rstrip("\n"),
        "",
        "Rules (docs/reproduce.md):",
        "",
        *(f"{row.number}. {row.rule}. Here: {row.verdict} ({row.basis})." for row in rows),
    ]
    lines += ["", *(f"- {note}" for note in notes)] if notes else []
    return "\n".join(lines) + "\n"


def claims_dict(
    rows: Sequence[ClaimRow], settings: dict[str, Any], observed: Sequence[ClaimRow] = ()
) -> dict[str, Any]:
    """The machine-readable report: the settings of the run, every claim and every observation with its numbers."""
    return {
        "settings": settings,
        "claims": [row.as_dict() for row in rows],
        "observations": [row.as_dict() for row in observed],
    }


def render_html(
    rows: Sequence[ClaimRow],
    reports: dict[str, str],
    plot: bool,
    notes: Sequence[str] = (),
    observed: Sequence[ClaimRow] = (),
) -> str:
    """One page: the claims table (observations last), links to each ``hyperfit-compare`` report (name -> relative
    path), the plot; rendered from ``templates/index.html.j2`` with hyperfit-compare's Jinja settings (autoescape)."""
    return PAGES.get_template("index.html.j2").render(
        rows=[(row, row.verdict.split(",")[0].replace(" ", "-")) for row in [*rows, *observed]],
        rules=[row.rule for row in rows],
        reports=list(reports.items()),
        plot=PLOT_FILE if plot else None,
        notes=notes,
    )


def training_plot(runs: dict[str, list[dict[str, Any]]], early_stopped: dict[str, Any] | None = None) -> bytes | None:
    """PNG of :data:`CURVES` against epoch, one line per training run, and the paper's Figure 2 view of the first run:
    greedy TTR-96 and held-out loss against its training loss, the early-stopped epoch marked; None when no run has
    two epochs. Drawn on a pyplot-free ``Figure``, so the caller's matplotlib backend is left alone."""
    if not any(len(rows) > 1 for rows in runs.values()):
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * (len(CURVES) + 1), 3.4))
    axes = figure.subplots(1, len(CURVES) + 1)
    for axis, (key, label) in zip(axes, CURVES):
        for name, rows in runs.items():
            points = [(row["epoch"], row[key]) for row in rows if isinstance(row.get(key), (int, float))]
            if points:
                axis.plot(*zip(*points), marker="o", label=name)
        axis.set_xlabel("epoch")
        axis.set_title(label, fontsize=10)
    axes[0].legend(fontsize=8)
    name, rows = next(iter(runs.items()))
    _against_training_loss(axes[-1], rows, early_stopped, name)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _against_training_loss(axis, rows: list[dict[str, Any]], early_stopped: dict[str, Any] | None, name: str) -> None:
    """TTR-96 (left) and held-out loss (right) of each epoch against its training loss, on a log axis that falls to the
    right as training goes on; a dashed line at the base model's TTR-96 (epoch 0) and a dotted one at the early-stopped
    epoch's training loss."""

    def points(key: str) -> list[tuple[float, float]]:
        return [(row["train_loss"], row[key]) for row in rows
                if isinstance(row.get("train_loss"), (int, float)) and row["train_loss"] > 0
                and isinstance(row.get(key), (int, float))]  # fmt: skip

    ttr, loss = points("ttr_last96"), points("heldout_loss")
    if ttr:
        axis.plot(*zip(*ttr), marker="o", color="tab:blue", label="greedy TTR-96")
    base = next(
        (
            row["ttr_last96"]
            for row in rows
            if row.get("step") == 0 and isinstance(row.get("ttr_last96"), (int, float))
        ),
        None,
    )
    if base is not None:  # the base model has no training loss of its own: a reference line
        axis.axhline(base, color="tab:blue", linestyle="--", linewidth=1)
        axis.annotate(
            "base",
            (1, base),
            xycoords=("axes fraction", "data"),
            fontsize=8,
            color="tab:blue",
            ha="right",
            va="bottom",
        )
    axis.set_ylabel("greedy TTR-96", color="tab:blue")
    other = axis.twinx()
    if loss:
        other.plot(*zip(*loss), marker="s", color="tab:red", label="held-out loss")
    other.set_ylabel("held-out loss (nats)", color="tab:red")
    if isinstance((early_stopped or {}).get("train_loss"), (int, float)) and early_stopped["train_loss"] > 0:
        axis.axvline(early_stopped["train_loss"], color="grey", linestyle=":")
        axis.annotate(f"early-stopped (epoch {early_stopped['epoch']:g})", (early_stopped["train_loss"], 1),
                      xycoords=("data", "axes fraction"), fontsize=8, ha="left", va="top", rotation=90)  # fmt: skip
    if ttr or loss:
        axis.set_xscale("log")
        axis.invert_xaxis()
    axis.set_xlabel("training loss of the epoch (log, falling)")
    axis.set_title(f"{name}: against training loss", fontsize=10)


def write_report(
    out_dir: Path,
    rows: Sequence[ClaimRow],
    settings: dict[str, Any],
    reports: dict[str, str],
    curves: dict[str, list[dict]],
    notes: Sequence[str] = (),
    observed: Sequence[ClaimRow] = (),
    early_stopped: dict[str, Any] | None = None,
) -> list[Path]:
    """Render everything, then write each file atomically; returns the files written (``early_stopped``: the main run's
    ``hyperfit_run.json`` record of its early-stopped model, marked in the plot)."""
    png = training_plot(curves, early_stopped)
    outputs: dict[str, str | bytes] = {
        "claims.md": render_markdown(rows, notes, observed),
        "claims.json": json.dumps(
            json_safe(claims_dict(rows, settings, observed)), indent=2, allow_nan=False, default=str
        )
        + "\n",
        **({PLOT_FILE: png} if png else {}),
        "index.html": render_html(rows, reports, png is not None, notes, observed),
    }
    return [write_atomic(Path(out_dir) / name, data) for name, data in outputs.items()]
