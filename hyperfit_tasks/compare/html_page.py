"""A self-contained HTML report: leaderboard tables, warnings, embedded plots, example continuations.

Every text from the inputs (names, paths, prompts, continuations) is HTML-escaped; plots are
inlined as base64 PNG, so the one file can be mailed or moved on its own.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from hyperfit_tasks.compare.formatting import SIGNIFICANT_MARK, UNTESTED_MARK, format_delta, format_interval, format_number
from hyperfit_tasks.compare.highlight import REPEAT_N, highlight_repeats, repeated_share
from hyperfit_tasks.compare.leaderboard import Cell, Column, Leaderboard
from hyperfit_tasks.compare.markdown import LEGEND, run_details, run_label
from hyperfit_tasks.compare.samples import Example

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}
td.best .value{font-weight:bold}
td.best{background:#eef7ee}
.stderr{color:#777;font-size:.85em}
.better{color:#1a7f37}.worse{color:#c62828}
.warnings li{color:#8a4b00}
.examples{display:grid;gap:.75em;margin-bottom:2em}
.continuation{border:1px solid #ddd;padding:.5em;white-space:pre-wrap;overflow-wrap:anywhere;font-family:ui-monospace,monospace;font-size:.85em}
.prompt{background:#f4f4f4;padding:.5em;white-space:pre-wrap;overflow-wrap:anywhere;font-family:ui-monospace,monospace;font-size:.85em}
mark{background:#ffd54f}
figure{margin:1em 0}img{max-width:100%}
.scroll{overflow-x:auto;max-width:100%;margin-bottom:1em}
.scroll table{margin:0}
.scroll th:first-child,.scroll td:first-child{position:sticky;left:0;background:#fff;z-index:1}
.scroll td.best:first-child{background:#fff}
caption{text-align:left;font-weight:bold;padding:.25em 0}
.headline td .delta,.headline td .better,.headline td .worse{display:block;font-size:.8em;white-space:nowrap}
.headline figure img{max-width:100%}
td.untested .delta,td.untested .better,td.untested .worse{color:#999;font-style:italic}
.untested-tag{color:#999;font-style:italic;font-size:.8em}
ul.untested{color:#666;font-size:.9em;margin-top:-1em}
.verdict{font-size:1.1em;border-left:4px solid #1f4e9c;padding:.25em .75em}
"""


@dataclass(frozen=True)
class Plot:
    """A rendered plot: caption, file name under ``plots/`` and PNG bytes."""

    title: str
    filename: str
    png: bytes


def render_html(board: Leaderboard, plots: Sequence[Plot] = (), examples: Sequence[Example] = (), notes: Sequence[str] = ()) -> str:
    """The whole report as one HTML page, the verdict first: headline tables and plot, sharpening, examples, full tables, files."""
    from hyperfit_tasks.compare.compact import header, headline_domains
    from hyperfit_tasks.compare.markdown import statistics_legend
    from hyperfit_tasks.compare.sharpening import sharpening_headers, sharpening_rows
    from hyperfit_tasks.compare.verdict import verdict_sentences

    body = [f"<h1>Leaderboard: {len(board.runs)} runs, baseline {escape(board.baseline)}</h1>"]
    body += [f"<p class='verdict'>{escape(sentence)}</p>" for sentence in verdict_sentences(board)]
    flags = [note for note in board.notes if "not comparable" in note or "continuations are" in note]
    if flags:
        body.append(_list(flags, "warnings"))
    headline_plots = [plot for plot in plots if plot.filename == "differences.png"]
    body += [_figure(plot) for plot in headline_plots]
    legend = statistics_legend(board)
    body.append(f"<p class='legend'>{escape(legend or LEGEND).replace('**bold**', '<b>bold</b>')}</p>")
    domains = headline_domains(board)
    if domains:
        body.append("<h2>Headline</h2><div class='headline'>")
        for domain in domains:
            body.append(
                _leaderboard_table(board, domain.columns, caption=domain.name, headers=[header(column) for column in domain.columns], compact=True)
            )
        body.append("</div>")
    sharpening = sharpening_rows(board)
    if sharpening:
        body += [
            "<h2>Next-token sharpening on held-out text (hyperfit-train diagnostics)</h2>",
            _table(sharpening_headers(), [[escape(cell) for cell in row] for row in sharpening]),
        ]
    if examples:
        body += [
            "<h2>Example continuations</h2>",
            f"<p>Highlighted: words of a {REPEAT_N}-gram that already occurred earlier in the same continuation "
            "(nltk wordpunct words); the percentage is the highlighted share of words.</p>",
        ]
        body += [_example(example, board.baseline) for example in examples]
    other_plots = [plot for plot in plots if plot not in headline_plots]
    if other_plots:
        body.append("<h2>Plots</h2>")
        body += [_figure(plot) for plot in other_plots]
    body += ["<h2>Full tables</h2>", f"<p>{escape(LEGEND).replace('**bold**', '<b>bold</b>')}</p>"]
    for task in board.tasks:
        body += [f"<h2>{escape(task)}</h2>", _leaderboard_table(board, board.columns_of(task))]
    if board.warnings:
        body += ["<h2>Warnings</h2>", _list(board.warnings, "warnings")]
    if board.notes:
        body += ["<h2>Notes on the statistics</h2>", _list(board.notes, "notes")]
    if notes:
        body += ["<h2>Notes</h2>", _list(notes, "notes")]
    body += [
        "<h2>Runs and files</h2>",
        _table(["Run", "Model", "Checkpoint", "Results file"], [[escape(text) for text in run_details(run)] for run in board.runs]),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>hyperfit-compare: {escape(board.baseline)} and {len(board.runs) - 1} more</title>"
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _figure(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return f'<figure><img alt="{escape(plot.title)}" src="data:image/png;base64,{data}"><figcaption>{escape(plot.title)}</figcaption></figure>'


def _leaderboard_table(
    board: Leaderboard, columns: Sequence[Column], caption: str = "", headers: Sequence[str] | None = None, compact: bool = False
) -> str:
    """A task's table (or a headline table: ``compact`` cells without stderr) in a box that scrolls sideways, run column sticky."""
    headers = ["Run", *(headers or [f"{column.label} {column.arrow}".rstrip() for column in columns])]
    rows = ["<tr>" + "".join(f"<th>{escape(header)}</th>" for header in headers) + "</tr>"]
    for run in board.runs:
        cells = "".join(_cell(board.cell(run.name, column), column, compact) for column in columns)
        rows.append(f"<tr><td>{escape(run_label(board, run))}</td>{cells}</tr>")
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    from hyperfit_tasks.compare.verdict import untested_lines

    reasons = untested_lines(board, list(columns))
    below = _list([f"{UNTESTED_MARK} {line}" for line in reasons], "untested") if reasons else ""
    return f"<div class='scroll'><table>{title}" + "".join(rows) + "</table></div>" + below


def _cell(cell: Cell, column: Column, compact: bool = False) -> str:
    if cell.value is None:
        return "<td></td>"
    parts = [f'<span class="value">{format_number(cell.value)}</span>']
    if cell.stderr is not None and not compact:
        parts.append(f' <span class="stderr">± {format_number(cell.stderr)}</span>')
    if cell.delta is not None:
        mark = SIGNIFICANT_MARK if cell.state == "significant" else ""
        interval = f" {format_interval(cell.stat.ci_low, cell.stat.ci_high)}" if cell.stat is not None else ""
        css = _delta_class(cell.delta, column.higher_is_better) if cell.state == "significant" else "delta"
        if compact:  # headline: difference and interval on lines of their own, so that 7 metrics fit 1,400 px
            parts.append(f' <span class="{css}">{format_delta(cell.delta)}{mark}</span><span class="{css}">{interval.strip()}</span>')
        else:
            parts.append(f' <span class="{css}">({format_delta(cell.delta)}{interval}){mark}</span>')
        if cell.state == "not tested":
            parts.append(f' <span class="untested-tag" title="{escape(cell.reason or "")}">{UNTESTED_MARK} not tested</span>')
    classes = " ".join(name for name, on in (("best", cell.best), ("untested", cell.state == "not tested")) if on)
    return f'<td class="{classes}">{"".join(parts)}</td>' if classes else f"<td>{''.join(parts)}</td>"


def _delta_class(delta: float, higher_is_better: bool | None) -> str:
    if higher_is_better is None or delta == 0:
        return "delta"
    return "better" if (delta > 0) == higher_is_better else "worse"


def _example(example: Example, baseline: str) -> str:
    columns = []
    for name, text in example.continuations.items():
        title = escape(f"{name} (baseline)" if name == baseline else name)
        if text is None:
            columns.append(f"<div><b>{title}</b><div class='continuation'>(no record of this document)</div></div>")
        else:
            share = f"{100 * repeated_share(text):.0f}% repeated"
            columns.append(f"<div><b>{title}</b> <small>{share}</small><div class='continuation'>{highlight_repeats(text)}</div></div>")
    grid = f"<div class='examples' style='grid-template-columns:repeat({len(columns)},1fr)'>{''.join(columns)}</div>"
    return f"<h3>{escape(example.task)}, document {example.doc_id}</h3><div class='prompt'>{escape(example.prompt)}</div>{grid}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "<tr>" + "".join(f"<th>{escape(header)}</th>" for header in headers) + "</tr>"
    return "<table>" + head + "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows) + "</table>"


def _list(lines: Sequence[str], css_class: str) -> str:
    return f'<ul class="{css_class}">' + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"
