"""hyperfit-compare: leaderboards of lm-eval results.

Known answers on constructed result files (the key shapes lm-eval writes), parsing of real
lm-eval output (committed fixtures from ``tests/data/lm_eval_results/make_fixtures.py``, plus
one in-process ``lm_eval.simple_evaluate`` run of a tiny model), renderers, errors, atomic writes.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path

import pytest

from hyperfit_tasks.cli import compare as cli
from hyperfit_tasks.common.atomic import write_atomic
from hyperfit_tasks.compare import (
    CompareError,
    build_leaderboard,
    find_results_files,
    leaderboard_dict,
    load_results,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    write_report,
)
from hyperfit_tasks.compare.html_page import repeat_segments, repeated_share, repeated_word_mask
from hyperfit_tasks.compare.results import default_names, training_position
from hyperfit_tasks.compare.samples import mean_curve, pick_examples, read_samples, ttr_curves
from hyperfit_tasks.compare.text import cell_text

from helpers import HIB, OTHER_SETTINGS, REAL_RUNS, STAMP, results_dict, write_results

# ---------------------------------------------------------------- constructed results


def write_samples(folder: Path, task: str, records: list[dict], stamp: str = STAMP) -> Path:
    path = folder / f"samples_{task}_{stamp}.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def sample(doc_id: int, prompt: str, continuation: str, **metrics) -> dict:
    """A samples record in the layout EvaluationTracker.save_results_samples writes."""
    return {
        "doc_id": doc_id,
        "doc": {"prompt": prompt},
        "target": "",
        "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": []}}},
        "resps": [[continuation]],
        "filtered_resps": [continuation],
        "filter": "none",
        "metrics": list(metrics),
        **metrics,
    }


@pytest.fixture
def three_runs(tmp_path):
    """Runs a (baseline), b, c of one task with known values; a's "count" is missing."""
    write_results(tmp_path / "a", results_dict({"t": {"acc": (0.5, 0.01), "ppl": 10.0}}, HIB, model="/m/a"))
    write_results(
        tmp_path / "b", results_dict({"t": {"acc": (0.7, 0.02), "ppl": 8.0, "count": 3.0}}, HIB, model="/m/b")
    )
    write_results(
        tmp_path / "c", results_dict({"t": {"acc": (0.6, 0.03), "ppl": 8.0, "count": 5.0}}, HIB, model="/m/c")
    )
    return load_results([tmp_path / "a", tmp_path / "b", tmp_path / "c"])


def test_deltas_best_and_direction_known_answers(three_runs):
    board = build_leaderboard(three_runs)
    assert board.baseline == "a"
    acc, ppl, count = board.columns
    assert (acc.metric, acc.arrow, ppl.arrow, count.arrow) == ("acc", "↑", "↓", "")
    assert [board.cell(name, acc).delta for name in "abc"] == [None, pytest.approx(0.2), pytest.approx(0.1)]
    assert [board.cell(name, acc).stderr for name in "abc"] == [0.01, 0.02, 0.03]
    assert [board.cell(name, ppl).delta for name in "abc"] == [None, -2.0, -2.0]
    assert [board.cell(name, ppl).stderr for name in "abc"] == [None, None, None]  # "N/A" is no stderr
    # no paired test yet: the largest value is not "best", and every difference is "not tested"
    assert not any(board.cell(name, column).best for name in "abc" for column in board.columns)
    assert [board.cell(name, acc).state for name in "abc"] == [None, "not tested", "not tested"]
    assert board.cell("b", acc).reason == "no paired test for it"
    assert board.cell("a", count).value is None and board.cell("b", count).delta is None  # baseline lacks it

    other = build_leaderboard(three_runs, baseline="b")
    assert [other.cell(name, acc).delta for name in "abc"] == [pytest.approx(-0.2), None, pytest.approx(-0.1)]
    assert [other.cell(name, count).delta for name in "abc"] == [None, None, 2.0]


def test_markdown_cells_and_layout(three_runs):
    board = build_leaderboard(three_runs)
    acc = board.columns[0]
    assert cell_text(board.cell("b", acc)) == "0.7000 ± 0.0200 (+0.2000) ? not tested"
    assert cell_text(board.cell("a", acc)) == "0.5000 ± 0.0100"
    text = render_markdown(board)
    lines = text.split("## t\n")[1].splitlines()  # the task's table, after the runs table
    header = next(line for line in lines if "acc ↑" in line)
    assert [part.strip() for part in header.strip("|").split("|")] == ["Run", "acc ↑", "ppl ↓", "count"]
    row_b = next(line for line in lines if line.startswith("|b "))
    cells = ["b", "0.7000 ± 0.0200 (+0.2000) ? not tested", "8.0000 (-2.0000) ? not tested", "3.0000"]
    assert [part.strip() for part in row_b.strip("|").split("|")] == cells
    assert any(line.startswith("|a (baseline)") for line in lines)


def test_missing_and_nan_metrics_are_empty_cells_with_warnings(tmp_path):
    data = results_dict({"t": {"acc": float("nan"), "ppl": 9.0}}, HIB, model="/m/x")
    write_results(tmp_path / "x", data)  # json.dumps writes NaN, as lm-eval does
    assert "NaN" in (tmp_path / "x" / f"results_{STAMP}.json").read_text()
    write_results(tmp_path / "y", results_dict({"t": {"acc": 0.4}, "u": {"acc": 0.9}}, HIB, model="/m/y"))
    board = build_leaderboard(load_results([tmp_path / "x", tmp_path / "y"]))
    acc_t, ppl_t, acc_u = board.columns
    assert board.cell("x", acc_t).value is None and board.cell("y", acc_t).delta is None
    assert board.cell("y", acc_t).best is False  # a single value is not "best"
    assert board.cell("y", ppl_t).value is None
    assert board.cell("x", acc_u).value is None
    assert "x: t/acc recorded as NaN, shown empty" in board.warnings
    assert "x has no results for u: its cells are empty" in board.warnings
    for text in (render_markdown(board), render_csv(board), render_json(board), render_html(board)):
        assert "nan" not in text.replace(str(tmp_path), "").lower().replace("nan, shown empty", "")
    assert "## Warnings" in render_markdown(board)


def test_mismatched_settings_are_flagged(tmp_path):
    metrics = {"t": {"acc": 0.5}}
    write_results(tmp_path / "a", results_dict(metrics, HIB, model="/m/a"))
    write_results(
        tmp_path / "b",
        results_dict(
            metrics,
            HIB,
            model="/m/b",
            version=2.0,
            n_shot=5,
            limit=3,
            lm_eval_version="0.4.9",
            gen_kwargs={"until": [], "do_sample": True, "max_gen_toks": 64},
        ),
    )
    write_results(tmp_path / "c", results_dict(metrics, HIB, model="/m/c"))
    board = build_leaderboard(load_results([tmp_path / "a", tmp_path / "b", tmp_path / "c"]))
    warnings = "\n".join(board.warnings)
    assert 'lm_eval_version differs: "0.4.13" in a, c; "0.4.9" in b' in warnings
    assert "limit differs" not in warnings  # only b records a limit (None = not recorded)
    assert 't: version differs: "1.0" in a, c; "2.0" in b' in warnings
    assert "t: n-shot differs: 0 in a, c; 5 in b" in warnings
    assert "t: generation_kwargs differs:" in warnings and '"max_gen_toks": 64' in warnings
    assert len(board.warnings) == 4
    same = build_leaderboard(load_results([tmp_path / "a", tmp_path / "c"]))
    assert same.warnings == []
    html = render_html(board)
    assert "<h2>Warnings</h2>" in html and "n-shot differs" in html


# ---------------------------------------------------------------- real lm-eval output


def test_real_results_parse_as_lm_eval_wrote_them():
    runs = load_results([REAL_RUNS])
    assert [run.name for run in runs] == ["base", "run/checkpoint-2", "run/checkpoint-4"]
    for run in runs:
        raw = json.loads(run.path.read_text())
        assert run.tasks == [
            "hyperfit_continuation",
            "hyperfit_continuation_austen",
            "hyperfit_continuation_pydoc",
            "hyperfit_perplexity",
            "hyperfit_perplexity_austen",
            "hyperfit_perplexity_pydoc",
        ]
        for task in run.tasks:
            for (metric, filter_name), measured in run.metrics[task].items():
                value = raw["results"][task][f"{metric},{filter_name}"]
                stderr = raw["results"][task].get(f"{metric}_stderr,{filter_name}")
                assert measured.value == (value if math.isfinite(value) else None)
                assert measured.stderr == (stderr if isinstance(stderr, float) and math.isfinite(stderr) else None)
        assert sorted(run.samples) == sorted(raw["configs"])
        assert run.higher_is_better("hyperfit_perplexity", "word_perplexity") is False
    assert [run.position.step for run in runs[1:]] == [2, 4]  # checkpoint-<step> folders; epoch unknown
    assert runs[0].position is None and runs[1].position.series == runs[2].position.series

    board = build_leaderboard(runs)
    column = next(c for c in board.columns if c.key == "hyperfit_perplexity_austen/word_perplexity")
    raw_values = {
        run.name: json.loads(run.path.read_text())["results"][column.task]["word_perplexity,none"] for run in runs
    }
    assert not any(board.cell(run.name, column).best for run in runs)  # untested: no best mark
    assert board.cell("run/checkpoint-4", column).delta == raw_values["run/checkpoint-4"] - raw_values["base"]
    assert column.higher_is_better is False and column.arrow == "↓"
    # the group row "hyperfit_continuation" has no corpus-level metrics; its MSTTR stderr is "N/A"
    group = {c.metric: c for c in board.columns_of("hyperfit_continuation")}
    assert "mauve" not in group and board.cell("base", group["ttr_by_position"]).stderr is None
    assert board.cell("base", group["ttr"]).stderr is not None


def test_real_runs_with_other_generation_settings_are_flagged(capsys):
    assert cli.main([str(REAL_RUNS), f"{OTHER_SETTINGS}=short", "--format", "json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert [run["name"] for run in data["runs"]] == ["base", "run/checkpoint-2", "run/checkpoint-4", "short"]
    warnings = "\n".join(data["warnings"])
    for task in ("hyperfit_continuation_austen", "hyperfit_continuation_pydoc"):
        assert f"{task}: generation_kwargs differs:" in warnings
        assert f"hyperfit-compare: warning: {task}: generation_kwargs differs:" in captured.err
    assert '"max_gen_toks": 64' in warnings and '"max_gen_toks": 256' in warnings
    assert "short has no results for hyperfit_perplexity: its cells are empty" in data["warnings"]
    assert data["cells"]["short"]["hyperfit_perplexity/word_perplexity"]["value"] is None
    assert (
        cli.main(
            [str(REAL_RUNS), f"{OTHER_SETTINGS}=short", "--format", "json", "--tasks", "hyperfit_continuation_austen"]
        )
        == 0
    )
    only_austen = json.loads(capsys.readouterr().out)
    assert any(
        w.startswith("hyperfit_continuation_austen: generation_kwargs differs") for w in only_austen["warnings"]
    )
    assert not any("pydoc" in w or "perplexity" in w for w in only_austen["warnings"])  # warnings of shown tasks only


def test_in_process_lm_eval_run_and_trainer_state_epochs(tiny_lm_path, tmp_path, capsys):
    """simple_evaluate + EvaluationTracker on a local generate_until and loglikelihood_rolling task."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    docs = tmp_path / "docs.jsonl"
    texts = [
        "The cat sat on the mat and looked at the door.",
        "<b>A</b> river & a town: the mill stands by the bridge.",
    ]
    docs.write_text("".join(json.dumps({"prompt": t[:20], "target": t[20:], "text": t}) + "\n" for t in texts))
    task_dir = tmp_path / "tasks"
    task_dir.mkdir()
    common = f"dataset_path: json\ndataset_kwargs:\n  data_files: {{test: {docs}}}\ntest_split: test\n"
    (task_dir / "gen.yaml").write_text(
        "task: tiny_gen\n" + common + "output_type: generate_until\ndoc_to_text: prompt\ndoc_to_target: target\n"
        "generation_kwargs:\n  until: []\n  do_sample: false\n  max_gen_toks: 8\n"
        "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n"
        "metadata:\n  version: 2.0\n"
    )
    (task_dir / "ppl.yaml").write_text(
        "task: tiny_ppl\n" + common + 'output_type: loglikelihood_rolling\ndoc_to_text: ""\ndoc_to_target: text\n'
        "metric_list:\n  - metric: word_perplexity\n  - metric: bits_per_byte\nmetadata:\n  version: 1.0\n"
    )
    checkpoint = tmp_path / "run" / "checkpoint-3"
    shutil.copytree(tiny_lm_path, checkpoint)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"epoch": 1.5, "global_step": 3}))
    output = tmp_path / "out"
    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    raw = {}
    for model in (tiny_lm_path, checkpoint):
        tracker = EvaluationTracker(output_path=str(output))
        results = lm_eval.simple_evaluate(
            model="hf",
            model_args=f"pretrained={model}",
            tasks=["tiny_gen", "tiny_ppl"],
            task_manager=manager,
            evaluation_tracker=tracker,
            log_samples=True,
            bootstrap_iters=0,
            device="cpu",
            batch_size=2,
        )
        samples = results.pop("samples")
        tracker.save_results_aggregated(results=results, samples=samples)
        for task in results["configs"]:
            tracker.save_results_samples(task_name=task, samples=samples[task])
        raw[str(model)] = results

    runs = load_results([output])
    assert len(runs) == 2
    base, trained = sorted(runs, key=lambda run: run.position is not None)
    assert trained.name == "run/checkpoint-3"
    assert (trained.position.epoch, trained.position.step) == (1.5, 3)
    for run in runs:
        expected = raw[run.model_path]["results"]
        assert run.measurement("tiny_ppl", "word_perplexity").value == expected["tiny_ppl"]["word_perplexity,none"]
        assert run.measurement("tiny_gen", "exact_match").value == expected["tiny_gen"]["exact_match,none"]
        assert sorted(run.samples) == ["tiny_gen", "tiny_ppl"]

    report = tmp_path / "report"
    assert cli.main([str(output), "--out", str(report), "--baseline", base.name, "--full"]) == 0
    captured = capsys.readouterr()
    assert "## tiny_gen" in captured.out and "exact_match ↑" in captured.out
    html = (report / "index.html").read_text()
    assert "Example continuations" in html
    assert "The cat sat on the m" in html and "&lt;b&gt;A&lt;/b&gt; river &amp; a t" in html
    written = sorted(str(p.relative_to(report)) for p in report.rglob("*") if p.is_file())
    assert written == ["index.html", "plots/differences.png", "table.csv", "table.json", "table.md"]
    assert "no metric-by-epoch plot" in captured.err  # one checkpoint is not a series
    assert "no TTR-by-position plot" in captured.err  # 8 generated tokens: no full window of 32 words


# ---------------------------------------------------------------- files and folders


def test_folder_takes_newest_results_per_model_folder_and_matching_samples(tmp_path):
    data = results_dict({"t": {"acc": 0.1}}, HIB, model="/m/a")
    write_results(tmp_path / "out" / "a", data, stamp="2024-01-01T00-00-00.000001")
    newest = write_results(
        tmp_path / "out" / "a",
        results_dict({"t": {"acc": 0.2}}, HIB, model="/m/a"),
        stamp="2024-02-01T00-00-00.000001",
    )
    write_samples(tmp_path / "out" / "a", "t", [sample(0, "p", "c")], stamp="2024-01-01T00-00-00.000001")
    fresh = write_samples(tmp_path / "out" / "a", "t", [sample(0, "p", "c")], stamp="2024-02-01T00-00-00.000001")
    other = write_results(tmp_path / "out" / "deeper" / "b", results_dict({"t": {"acc": 0.3}}, HIB, model="/m/b"))
    assert find_results_files(tmp_path / "out") == [newest, other]
    runs = load_results([tmp_path / "out"])
    assert [run.measurement("t", "acc").value for run in runs] == [0.2, 0.3]
    assert runs[0].samples == {"t": fresh} and runs[1].samples == {}


def test_default_names_are_short_and_unique():
    assert default_names(["/x/models/base", "/x/run/checkpoint-2", "hub-org/model-7b"]) == [
        "base",
        "run/checkpoint-2",
        "model-7b",
    ]
    assert default_names(["/a/final", "/b/final", "/a/final"]) == ["a/final", "b/final", "a/final #2"]
    assert default_names(["/p/run/checkpoint-5", "/q/run/checkpoint-5"]) == [
        "p/run/checkpoint-5",
        "q/run/checkpoint-5",
    ]


def test_training_position_rule(tmp_path):
    stated = tmp_path / "run" / "checkpoint-40"
    stated.mkdir(parents=True)
    (stated / "trainer_state.json").write_text(json.dumps({"epoch": 2.0, "global_step": 40}))
    final = tmp_path / "run"
    (final / "trainer_state.json").write_text(json.dumps({"epoch": 3.0, "global_step": 60}))
    assert training_position(str(stated)) == training_position(str(stated) + "/")
    position = training_position(str(stated))
    assert (position.series, position.step, position.epoch) == (str(final), 40, 2.0)
    assert training_position(str(final)).series == str(final)  # the final model joins its checkpoints
    away = training_position("/gone/run/checkpoint-7")
    assert (away.series, away.step, away.epoch) == ("/gone/run", 7, None)
    assert training_position("/gone/model") is None and training_position(None) is None


def test_training_curves_by_epoch_or_step(tmp_path):
    from hyperfit_tasks.compare.plots import metric_by_epoch, training_curves

    run_dir = tmp_path / "models" / "run"
    for step, epoch in ((20, 1.0), (40, 2.0)):
        (run_dir / f"checkpoint-{step}").mkdir(parents=True)
        (run_dir / f"checkpoint-{step}" / "trainer_state.json").write_text(
            json.dumps({"epoch": epoch, "global_step": step})
        )
    inputs = {
        "base": (tmp_path / "models" / "base", 0.3),
        "late": (run_dir / "checkpoint-40", 0.7),
        "early": (run_dir / "checkpoint-20", 0.5),
    }
    for name, (model, value) in inputs.items():
        write_results(tmp_path / "out" / name, results_dict({"t": {"acc": value}}, HIB, model=str(model)))
    paths = [tmp_path / "out" / name for name in inputs]
    board = build_leaderboard(load_results(paths))
    curves = training_curves(board, board.columns[0])
    assert (curves.axis, curves.lines, curves.levels) == (
        "epoch",
        {str(run_dir): [(1.0, 0.5), (2.0, 0.7)]},
        {"base": 0.3},
    )
    assert metric_by_epoch(board, board.columns).startswith(b"\x89PNG")

    (run_dir / "checkpoint-20" / "trainer_state.json").unlink()  # one epoch unknown: steps for all
    curves = training_curves(build_leaderboard(load_results(paths)), board.columns[0])
    assert (curves.axis, curves.lines[str(run_dir)]) == ("step", [(20, 0.5), (40, 0.7)])

    single = build_leaderboard(load_results(paths[:2]))  # base + one checkpoint: no training curve
    assert training_curves(single, single.columns[0]) is None and metric_by_epoch(single, single.columns) is None


# ---------------------------------------------------------------- samples, highlighting, plots


def brute_force_mask(words, n):
    marked = []
    for i in range(len(words)):
        starts = range(max(0, i - n + 1), min(i, len(words) - n) + 1)
        marked.append(any(words[s : s + n] == words[t : t + n] for s in starts for t in range(s)))
    return marked


def test_repeated_ngram_highlighting():
    assert repeat_segments("a b c d x a b c d <y>") == [("a b c d x ", False), ("a b c d", True), (" <y>", False)]
    assert repeat_segments("la la la la la") == [("la ", False), ("la la la la", True)]
    assert repeat_segments('no "repeat" & <here>') == [('no "repeat" & <here>', False)]
    assert repeated_share("a b c d x a b c d") == pytest.approx(4 / 9)
    words = "the cat saw the cat saw the cat , the cat saw it".split()
    for n in (1, 2, 3, 4):
        assert repeated_word_mask(words, n) == brute_force_mask(words, n)


def test_html_escapes_names_prompts_and_continuations(tmp_path):
    for folder, text in (("a", "one two three four one two three four"), ("b", "<script>alert(1)</script> & more")):
        write_results(tmp_path / folder, results_dict({"t": {"acc": 0.5}}, HIB, model=f"/m/{folder}"))
        write_samples(tmp_path / folder, "t", [sample(0, "Prompt <i>here</i> & there", text)])
    runs = load_results([tmp_path / "a", tmp_path / "b"], names=["<base>", "b&b"])
    written, notes = write_report(build_leaderboard(runs), tmp_path / "report", examples=5)
    html = (tmp_path / "report" / "index.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "Prompt &lt;i&gt;here&lt;/i&gt; &amp; there" in html
    assert "&lt;base&gt; (baseline)" in html and "b&amp;b" in html and "<base>" not in html
    assert "one two three four <mark>one two three four</mark>" in html
    assert any("no metric-by-epoch plot" in note for note in notes)


def test_ttr_curves_logged_or_computed_and_examples(tmp_path):
    logged = [sample(0, "p", "x", ttr_by_position=[1.0, 0.5]), sample(1, "p", "y", ttr_by_position=[0.5])]
    assert ttr_curves(logged) == ([[1.0, 0.5], [0.5]], "logged ttr_by_position windows")
    assert mean_curve([[1.0, 0.5], [0.5]]) == [0.75, 0.5]
    from hyperfit_tasks.metrics import ttr_by_position

    text = " ".join(f"w{i % 20}" for i in range(70))
    curves, units = ttr_curves([sample(0, "p", text)])
    assert units == "windows of 32 words" and curves == [ttr_by_position(text.split(), 32)] == [[20 / 32, 20 / 32]]

    by_run = {
        "base": [sample(3, "p3", "b3"), sample(1, "p1", "b1"), sample(2, "p2", "b2")],
        "new": [sample(1, "p1", "n1"), sample(3, "p3", "n3")],
    }
    examples = pick_examples("t", by_run, ["base", "new", "absent"], "base", 5)
    assert [(e.doc_id, e.prompt, e.continuations) for e in examples] == [
        (1, "p1", {"base": "b1", "new": "n1"}),
        (3, "p3", {"base": "b3", "new": "n3"}),
    ]
    path = write_samples(tmp_path, "t", by_run["base"] + [{**sample(1, "p1", "other"), "filter": "strict"}])
    assert [record["doc_id"] for record in read_samples(path)] == [3, 1, 2]  # the "none" filter only


def test_report_layout_and_plots_on_real_fixtures(tmp_path, capsys):
    report = tmp_path / "report"
    assert (
        cli.main(
            [
                str(REAL_RUNS),
                "--out",
                str(report),
                "--examples",
                "1",
                "--metrics",
                "ttr_last96,word_perplexity",
                "--full",
            ]
        )
        == 0
    )
    written = sorted(str(p.relative_to(report)) for p in report.rglob("*") if p.is_file())
    assert written == [
        "index.html",
        "plots/differences.png",
        "plots/metric_by_epoch.png",
        "plots/ttr_by_position.png",
        "table.csv",
        "table.json",
        "table.md",
    ]
    for png in report.glob("plots/*.png"):
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    html = (report / "index.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert html.count("<h3>") == 2  # one example document for each continuation task
    assert capsys.readouterr().out == (report / "table.md").read_text()


# ---------------------------------------------------------------- CSV / JSON round trip


def test_csv_and_json_round_trip(three_runs):
    board = build_leaderboard(three_runs)
    rows = list(csv.DictReader(render_csv(board).splitlines()))
    assert [row["run"] for row in rows] == ["a", "b", "c"] and [row["baseline"] for row in rows] == [
        "True",
        "False",
        "False",
    ]
    data = json.loads(render_json(board), parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    assert data == leaderboard_dict(board)
    for row, run in zip(rows, board.runs):
        for column in board.columns:
            cell = board.cell(run.name, column)
            for suffix, expected in (("", cell.value), (" stderr", cell.stderr), (" delta", cell.delta)):
                text = row[column.key + suffix]
                assert (float(text) if text else None) == expected
            assert data["cells"][run.name][column.key] == {
                "value": cell.value,
                "stderr": cell.stderr,
                "delta": cell.delta,
                "best": cell.best,
                "state": cell.state,
                "untested_reason": cell.reason,
            }
            assert row[column.key + " state"] == (cell.state or "")
    assert [c["higher_is_better"] for c in data["columns"]] == [True, False, None]


# ---------------------------------------------------------------- bad input and atomic writes


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    (tmp_path / "empty").mkdir()
    real = next(REAL_RUNS.glob("*base/results_*.json"))
    truncated = tmp_path / "truncated" / "results_x.json"
    truncated.parent.mkdir()
    truncated.write_text(real.read_text()[:5000])
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"accuracy": 0.5}))
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    samples = next(REAL_RUNS.glob("*base/samples_*.jsonl"))
    return {
        "missing": ([str(tmp_path / "nowhere")], "does not exist"),
        "empty folder": ([str(tmp_path / "empty")], "no results_*.json under"),
        "truncated": ([str(truncated)], "is not valid JSON"),
        "foreign JSON": ([str(foreign)], "not an lm-eval results file"),
        "JSON list": ([str(listing)], "not an lm-eval results file"),
        "binary": ([str(binary)], "not a UTF-8 text file"),
        "samples file": ([str(samples)], "is a samples file"),
        "named folder of 3 runs": ([f"{REAL_RUNS}=mine"], "names one run, but"),
        "name of another run": ([f"{OTHER_SETTINGS}=base", str(REAL_RUNS)], "display names must be unique"),
        "duplicate names": ([f"{OTHER_SETTINGS}=x", f"{next(REAL_RUNS.iterdir())}=x"], "display names must be unique"),
        "empty name": ([f"{tmp_path / 'nowhere'}="], "empty display name"),
        "baseline": ([str(REAL_RUNS), "--baseline", "nobody"], "--baseline 'nobody' is not a run name"),
        "metric": ([str(REAL_RUNS), "--metrics", "accuracy"], "no metric accuracy in the results"),
        "headline": (
            [str(REAL_RUNS), "--out", str(tmp_path / "o"), "--headline", "accuracy"],
            "--headline names no metric",
        ),
    }


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    for case, (argv, expected) in bad_inputs(tmp_path).items():
        assert cli.main(argv) == 1, case
        err = capsys.readouterr().err
        assert err.startswith("hyperfit-compare: error: ") and expected in err, (case, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (case, err)
    with pytest.raises(CompareError, match="does not exist"):
        cli.main([str(tmp_path / "nowhere"), "--debug"])


def test_atomic_write_failure_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "table.md"
    write_atomic(target, "old table\n")
    os.chmod(target, 0o640)

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new table that never lands\n")
    assert target.read_text() == "old table\n" and sorted(p.name for p in tmp_path.iterdir()) == ["table.md"]
    monkeypatch.undo()
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n" and target.stat().st_mode & 0o777 == 0o640


def test_report_failing_midway_leaves_earlier_outputs_whole(tmp_path, monkeypatch, capsys):
    report = tmp_path / "report"
    assert cli.main([str(REAL_RUNS), "--out", str(report), "--metrics", "word_perplexity"]) == 0
    before = {path: path.read_bytes() for path in report.rglob("*") if path.is_file()}
    import hyperfit_tasks.compare.report as report_module

    def crash(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(report_module, "render_html", crash)
    assert cli.main([str(REAL_RUNS), "--out", str(report), "--metrics", "ttr"]) == 1
    assert "RuntimeError: interrupted (run with --debug for the traceback)" in capsys.readouterr().err
    after = {path: path.read_bytes() for path in report.rglob("*") if path.is_file()}
    assert after == before  # rendering failed before the first write: the previous report is intact
    monkeypatch.undo()

    real_replace = os.replace

    def replace_until_html(source, target):
        if str(target).endswith("index.html"):
            raise KeyboardInterrupt  # the user presses Ctrl-C while the last file is being written
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_until_html)
    assert cli.main([str(REAL_RUNS), "--out", str(report), "--metrics", "ttr"]) == 130
    assert "hyperfit-compare: interrupted: every file already written is complete" in capsys.readouterr().err
    assert (report / "index.html").read_bytes() == before[report / "index.html"]
    assert "ttr ↑" in (report / "table.md").read_text()  # files written before it were replaced whole
    assert sorted(p.name for p in report.iterdir()) == ["index.html", "plots", "table.csv", "table.json", "table.md"]


def test_docs_cover_every_option_and_the_headline_defaults():
    from hyperfit_tasks.compare.plots import HEADLINE_METRICS

    docs = (Path(__file__).parents[1] / "docs" / "compare.md").read_text()
    options = [
        option for action in cli.make_parser()._actions for option in action.option_strings if option.startswith("--")
    ]
    assert options and all(f"`{option}" in docs for option in options if option != "--help")
    assert f"`{', '.join(HEADLINE_METRICS)}`" in docs
