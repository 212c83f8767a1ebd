"""hyperfit-reproduce's report pages on fixed claim rows: ``claims.md`` (``render_markdown``) and ``index.html``
(``render_html``) against the golden files under ``tests/data/reproduce_report/``.

The golden files were written by the string-built renderers (commit 3beb3de) from the rows built here: every verdict,
an observation, texts with ``|``, line breaks and HTML characters, links with such names and paths, notes, with and
without the plot. The page is now a Jinja template (autoescape) and equals its golden page but for markupsafe's
spelling of ``"`` and ``'`` (``&#34;`` ``&#39;`` for ``html.escape``'s ``&quot;`` ``&#x27;``: the same characters).
The claims table is now written by ``pytablewriter`` and differs in one line: its separator row spans each column's
width (``| --: | ----- |`` for ``|---:|---|``); a Markdown parser reads the same table from both. Regenerate the golden
files only for an intended change of the report: ``python tests/test_reproduce_report_golden.py``.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from hyperfit_tasks.reproduce.claims import DOES_NOT_HOLD, HOLDS, NOT_MEASURABLE, REPORTED, ClaimRow
from hyperfit_tasks.reproduce.report import render_html, render_markdown

GOLDEN = Path(__file__).parent / "data" / "reproduce_report"

ROWS = [
    ClaimRow(
        1,
        "Greedy continuations are less repetitive (higher TTR)",
        "TTR above 0.60 | base 0.17-0.57",
        "austen TTR-96 +0.411 [+0.312, +0.497]*; rep-4 -0.723 [-0.829, -0.599]*",
        HOLDS,
        "every difference in the paper's direction",
        "shown",
    ),
    ClaimRow(
        2,
        "Beats top-p sampling <on diversity> & more",
        "raters prefer \"greedy\" to 'sampled'\nsecond line",
        "austen TTR-96 +0.354 [+0.221, +0.481]",
        DOES_NOT_HOLD,
        "significant in both domains",
        "against: pydoc/ttr_last96",
    ),
    ClaimRow(
        10,
        "Humans prefer the hyperfitted model",
        "34.3% against 4.9%",
        "MAUVE (automatic proxy): +0.185 [-0.004, +0.713]",
        NOT_MEASURABLE,
        "never decided here",
        "no human judgments <here>",
    ),
]
OBSERVED = [
    ClaimRow(
        "S1",
        "Self-BLEU and distinct-4",
        "the paper reports Self-BLEU",
        "austen Self-BLEU +0.138 [-0.00576, +0.282] | x",
        REPORTED,
        "reported only",
        "reported",
    ),
]
REPORTS = {
    "hyperfit-compare: main (against base)": "../compare/main/index.html",
    "odd <name> & 'quotes'": "../compare/a&b/'x'.html",
}
NOTES = ['a note with <tags> & "quotes" | and a pipe', "another note"]

CASES = {
    "full": lambda: (render_markdown(ROWS, NOTES, OBSERVED), render_html(ROWS, REPORTS, True, NOTES, OBSERVED)),
    "bare": lambda: (render_markdown(ROWS[:1]), render_html(ROWS[:1], {}, False)),
}


def same_page(page_text: str) -> str:
    """``page_text`` with the entities of ``"`` and ``'`` spelled as ``html.escape`` spells them (markupsafe writes
    ``&#34;`` and ``&#39;``): the same characters."""
    return page_text.replace("&#34;", "&quot;").replace("&#39;", "&#x27;")


# The one line of claims.md that pytablewriter writes otherwise: the separator row (the golden files have
# |---:|---|...).
SEPARATORS = {
    "full": "| --: | " + " | ".join("-" * width for width in (53, 47, 70, 34)) + " |",
    "bare": "| --: | " + " | ".join("-" * width for width in (53, 31, 70, 9)) + " |",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_claims_markdown_equals_the_golden_file_but_for_the_separator_row(name):
    lines = CASES[name]()[0].split("\n")
    golden = (GOLDEN / f"{name}.md").read_text(encoding="utf-8").split("\n")
    assert golden[1] == "|---:|---|---|---|---|" and lines[1] == SEPARATORS[name]
    assert lines[:1] + lines[2:] == golden[:1] + golden[2:]


@pytest.mark.parametrize("name", sorted(CASES))
def test_claims_markdown_is_the_golden_table_to_a_markdown_reader(name):
    markdown_it = pytest.importorskip("markdown_it")
    reader = markdown_it.MarkdownIt("commonmark").enable("table")
    html = reader.render(CASES[name]()[0])
    assert html == reader.render((GOLDEN / f"{name}.md").read_text(encoding="utf-8"))
    assert html.count("<tr>") == len(CASES[name]()[0].split("\n\n")[0].split("\n")) - 1  # header and every row
    assert '<th style="text-align:right">#</th>' in html


@pytest.mark.parametrize("name", sorted(CASES))
def test_claims_page_equals_the_golden_page(name):
    assert same_page(CASES[name]()[1]) == same_page((GOLDEN / f"{name}.html").read_text(encoding="utf-8"))


def test_every_text_on_the_page_is_escaped():
    page = CASES["full"]()[1]
    assert "<on diversity>" not in page and "&lt;on diversity&gt; &amp; more" in page
    assert "<li><a href='../compare/a&amp;b/&#39;x&#39;.html'>odd &lt;name&gt; &amp; &#39;quotes&#39;</a></li>" in page


def test_the_page_template_is_package_data():
    """pyproject's package data covers the template (tests/test_packaging.py installs a wheel for the compare
    template)."""
    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "hyperfit_tasks.reproduce"
    ]
    shipped = {path for pattern in patterns for path in (root / "hyperfit_tasks" / "reproduce").glob(pattern)}
    assert root / "hyperfit_tasks" / "reproduce" / "templates" / "index.html.j2" in shipped


if __name__ == "__main__":  # regenerate the golden files (see the module docstring)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, render in CASES.items():
        markdown, page = render()
        (GOLDEN / f"{name}.md").write_text(markdown, encoding="utf-8")
        (GOLDEN / f"{name}.html").write_text(page, encoding="utf-8")
    sys.exit(0)
