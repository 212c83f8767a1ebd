"""hyperfit-compare's HTML page (``index.html``): the Jinja template renders it as the string-built page did, and
every text from the inputs is escaped.

The golden pages under ``tests/data/compare_html/`` were written from the inputs built here by the string-concatenation
renderer that the template replaced (``html.escape``, commit cd345e0). The template reproduces them byte for byte but
for two spellings of the same characters: its autoescape (markupsafe) writes ``"`` as ``&#34;`` and ``'`` as ``&#39;``
where ``html.escape`` wrote ``&quot;`` and ``&#x27;``; :func:`same_page` reads them as one. Their headline headers
were since edited in place to the catalogue's one label per metric (``TTR-96``, ``Self-BLEU``, ``distinct-4``,
``word ppl``). Regenerate the golden pages only for an intended change of the page:
``python tests/test_compare_html.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from unittest import mock

import numpy as np

from hyperfit_tasks.compare import build_leaderboard, load_results, render_html
from hyperfit_tasks.compare import text as compare_text
from hyperfit_tasks.compare.html_page import Plot
from hyperfit_tasks.compare.leaderboard import Leaderboard, with_statistics
from hyperfit_tasks.compare.report import FOREST_TITLE, collect_examples
from hyperfit_tasks.compare.samples import generation_samples

from helpers import FIXTURES, OTHER_SETTINGS, REAL_RUNS, STAMP

GOLDEN = Path(__file__).parent / "data" / "compare_html"
HOSTILE = ["base", "<script>alert(1)</script>", "a&b"]
# Fake PNG bytes: the page inlines them as they are, and real plots would tie the golden files to matplotlib's version.
PLOTS = [
    Plot(FOREST_TITLE, "differences.png", b"\x89PNG forest"),
    Plot(
        "Headline metrics over training (checkpoints of one run; dashed = other runs)",
        "metric_by_epoch.png",
        b"\x89PNG epochs",
    ),
    Plot('TTR <by> position & "quotes"', "ttr_by_position.png", b"\x89PNG ttr"),
]
# The sharpening table's columns when the golden pages were written: the page's layout is under test, not which
# diagnostics the table shows.
SHARPENING_COLUMNS = (
    ("heldout_perplexity", "held-out ppl", ".2f"),
    ("top1_prob", "top-1 prob", ".3f"),
    ("top1_prob_correct", "top-1 prob when right", ".3f"),
    ("top1_prob_wrong", "top-1 prob when wrong", ".3f"),
    ("ece", "ECE", ".3f"),
    ("entropy", "entropy (nats)", ".3f"),
    ("ttr_last96", "greedy TTR last 96", ".3f"),
)


def page(board: Leaderboard, notes: list[str]) -> str:
    """The page as ``write_report`` renders it, with :data:`PLOTS` instead of matplotlib's."""
    samples, problems = generation_samples(board.runs)
    return render_html(board, PLOTS, collect_examples(board, samples, 2), problems + notes)


def real_runs_page() -> str:
    """The committed lm-eval outputs (three checkpoints, one run with other settings; MAUVE left out, whose featurizer
    would make the test slow and machine-dependent), their fixture folder written as ``FIXTURES``."""
    runs = load_results([REAL_RUNS, OTHER_SETTINGS])
    metrics = sorted({metric for run in runs for task in run.tasks for metric, _ in run.metrics[task]} - {"mauve"})
    board = with_statistics(build_leaderboard(runs, metrics=metrics), permutations=50, seed=3)
    return page(board, ['no example <continuations> & no "plot"']).replace(str(FIXTURES), "FIXTURES")


def write_run(
    folder: Path, items: dict[str, list[float]], texts: list[str], model: Path, gen_toks: int = 256, missing=()
) -> Path:
    """A results file and samples (but none of the documents ``missing``) of the ``generate_until`` task ``t``;
    ``acc_norm`` is in the results only (not tested)."""
    higher = {"ttr_last96": True, "rep_4": False, "continuation_tokens": None, "acc_norm": True}
    entry = {"alias": "t", "name": "t", "sample_len": len(texts), "acc_norm,none": 0.25, "acc_norm_stderr,none": 0.01}
    for metric, values in items.items():
        entry[f"{metric},none"], entry[f"{metric}_stderr,none"] = (
            float(np.mean(values)),
            float(np.std(values) / len(values) ** 0.5),
        )
    data = {
        "results": {"t": entry},
        "group_subtasks": {},
        "configs": {
            "t": {
                "task": "t",
                "output_type": "generate_until",
                "generation_kwargs": {"until": [], "do_sample": False, "max_gen_toks": gen_toks},
                "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": higher[m]} for m in higher],
                "metadata": {"version": 1.0},
            }
        },
        "versions": {"t": 1.0},
        "n-shot": {"t": 0},
        "higher_is_better": {"t": higher},
        "n-samples": {"t": {"original": len(texts), "effective": len(texts)}},
        "config": {"model": "hf", "model_args": f"pretrained={model}"},
        "lm_eval_version": "0.4.13",
        "model_name": str(model),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"results_{STAMP}.json").write_text(json.dumps(data))
    prompts = [f'Prompt {doc} <p> & "{doc}"' for doc in range(len(texts))]
    records = [
        {
            "doc_id": doc,
            "doc": {"prompt": prompt},
            "arguments": {"gen_args_0": {"arg_0": prompt}},
            "resps": [[text]],
            "filtered_resps": [text],
            "filter": "none",
            "doc_hash": f"d{doc}",
            "prompt_hash": f"h{doc}",
            **{metric: values[doc] for metric, values in items.items()},
        }
        for doc, (prompt, text) in enumerate(zip(prompts, texts))
        if doc not in missing
    ]
    (folder / f"samples_t_{STAMP}.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    return folder


def constructed_page(tmp_path: Path) -> str:
    """Three runs named :data:`HOSTILE` with significant, non-significant and untested differences, a hyperfit-train
    run record that missed its target, other generation settings (best marked anyway) and longer continuations;
    ``tmp_path`` written as ``TMP``."""
    rng = np.random.default_rng(11)
    count = 30
    ttr, rep = rng.normal(0.5, 0.1, count), rng.normal(0.3, 0.1, count)
    model = tmp_path / "hyperfitted <model>"
    model.mkdir()
    diagnostics = {"heldout_perplexity": 20.0, "top1_prob": 0.32, "entropy": 3.6, "ttr_last96": 0.5}
    record = {
        "initial_diagnostics": diagnostics,
        "final_diagnostics": diagnostics | {"top1_prob": 0.68, "entropy": 1.3},
        "training": {"hyperfitted": False, "final_train_loss": 1.3, "target_loss": 0.1},
    }
    (model / "hyperfit_run.json").write_text(json.dumps(record))
    texts = ['a b c d x a b c d <y> & "z"', "la la la la la", "no repeat <here> & there"]
    runs = [
        write_run(
            tmp_path / "base",
            {"ttr_last96": ttr, "rep_4": rep, "continuation_tokens": np.full(count, 200.0)},
            texts * 10,
            tmp_path / "m/base",
        ),
        write_run(
            tmp_path / "better",
            {
                "ttr_last96": ttr + 0.1 + rng.normal(0, 0.01, count),
                "rep_4": rng.permutation(rep),
                "continuation_tokens": 230.0 + rng.normal(0, 1, count),
            },
            texts[::-1] * 10,
            model,
        ),
        write_run(
            tmp_path / "worse",
            {
                "ttr_last96": ttr - 0.1 + rng.normal(0, 0.01, count),
                "rep_4": rep + 0.05,
                "continuation_tokens": np.full(count, 200.0),
            },
            texts[1:] * 15,
            tmp_path / "m/a&b",
            gen_toks=64,
            missing={1},
        ),
    ]
    board = with_statistics(build_leaderboard(load_results(runs, HOSTILE)), permutations=400, seed=3, force=True)
    with mock.patch.object(compare_text, "SHARPENING_COLUMNS", SHARPENING_COLUMNS):
        return page(board, ['a note with <tags> & "quotes"']).replace(str(tmp_path), "TMP")


def same_page(page_text: str) -> str:
    """``page_text`` with the entities of ``"`` and ``'`` spelled as ``html.escape`` spells them (the module
    docstring)."""
    return page_text.replace("&#34;", "&quot;").replace("&#39;", "&#x27;")


def test_real_runs_page_equals_the_golden_page():
    assert same_page(real_runs_page()) == same_page((GOLDEN / "real_runs.html").read_text(encoding="utf-8"))


def test_constructed_page_equals_the_golden_page(tmp_path):
    assert same_page(constructed_page(tmp_path)) == same_page(
        (GOLDEN / "constructed.html").read_text(encoding="utf-8")
    )


def test_run_names_are_escaped_wherever_the_page_shows_them(tmp_path):
    values = {
        "ttr_last96": np.linspace(0.2, 0.8, 6),
        "rep_4": np.linspace(0.1, 0.3, 6),
        "continuation_tokens": np.full(6, 9.0),
    }
    texts = ["one two three four one two three four <i>", "x & y"] * 3
    runs = [write_run(tmp_path / name, values, texts, tmp_path / "m" / name) for name in ("first", "second")]
    board = with_statistics(
        build_leaderboard(load_results(runs, ["<script>alert(1)</script>", "a&b"])), permutations=50
    )
    html = page(board, [])
    script = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "<script>" not in html and "a&b" not in html
    assert (
        f"<title>hyperfit-compare: {script} and 1 more</title>" in html
        and f"<h1>Leaderboard: 2 runs, baseline {script}</h1>" in html
    )
    assert f"<p class='verdict'>a&amp;b against {script}: " in html
    assert html.count(f"<tr><td>{script} (baseline)</td>") == 2  # headline and full table
    assert html.count("<tr><td>a&amp;b</td>") == 3  # headline, full table, runs and files
    assert (
        f"<div><b>{script} (baseline)</b> <small>36% repeated</small>" in html and "<div><b>a&amp;b</b>" in html
    )  # examples
    assert "one two three four <mark>one two three four</mark> &lt;i&gt;</div>" in html and ">x &amp; y</div>" in html
    assert f"<tr><td>{script}</td><td>TMP/m/first</td>" in html.replace(str(tmp_path), "TMP")  # runs and files


if __name__ == "__main__":  # regenerate the golden pages (see the module docstring)
    import tempfile

    GOLDEN.mkdir(parents=True, exist_ok=True)
    (GOLDEN / "real_runs.html").write_text(real_runs_page(), encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        (GOLDEN / "constructed.html").write_text(constructed_page(Path(folder)), encoding="utf-8")
    sys.exit(0)
