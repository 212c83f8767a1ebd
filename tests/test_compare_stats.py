"""hyperfit-compare's paired statistics: known answers, references (scipy, hand computation), lm-eval's own aggregates.

Real samples come from the committed lm-eval fixtures (tests/data/lm_eval_results); constructed
runs are written in the layout lm-eval writes (results JSON with ``metric_list``, samples JSONL
with ``doc_hash``/``prompt_hash``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from hyperfit_tasks.cli import compare as cli
from hyperfit_tasks.compare import (
    build_leaderboard,
    load_results,
    render_csv,
    render_html,
    render_json,
    render_markdown,
)
from hyperfit_tasks.compare.leaderboard import with_statistics
from hyperfit_tasks.compare.paired import (
    FeatureCache,
    MauveSide,
    Pooled,
    board_statistics,
    enough_permutations,
    holm,
    mean_test,
    resolve_aggregation,
    swap_patterns,
)
from hyperfit_tasks.compare.samples import read_samples
from hyperfit_tasks.compare.text import TERMINAL_WIDTH, render_terminal
from hyperfit_tasks.metrics.corpus import self_bleu_words

FIXTURES = Path(__file__).parent / "data" / "lm_eval_results"
REAL_RUNS = FIXTURES / "hyperfit_tasks"
OTHER_SETTINGS = FIXTURES / "other_settings"
STAMP = "2025-01-02T03-04-05.000006"
TASK = "t"


# ---------------------------------------------------------------- constructed runs


def write_run(
    folder: Path,
    items: dict[str, list],
    aggregations: dict[str, str],
    higher: dict[str, bool | None],
    docs=None,
    gen_toks=256,
    model=None,
    metadata=None,
) -> Path:
    """A results file and samples of task ``t``: ``items[metric][i]`` is document i's item; values aggregated here."""
    from lm_eval.api.registry import get_aggregation

    count = len(next(iter(items.values())))
    docs = list(range(count)) if docs is None else docs
    entry = {"alias": TASK, "name": TASK, "sample_len": count}
    for metric, values in items.items():
        entry[f"{metric},none"] = float(get_aggregation(aggregations[metric])(values))
        entry[f"{metric}_stderr,none"] = "N/A"
    data = {
        "results": {TASK: entry},
        "group_subtasks": {},
        "configs": {
            TASK: {
                "task": TASK,
                "output_type": "generate_until",
                "generation_kwargs": {"until": [], "do_sample": False, "max_gen_toks": gen_toks},
                "metric_list": [
                    {"metric": m, "aggregation": aggregations[m], "higher_is_better": higher[m]} for m in items
                ],
                "metadata": {"version": 1.0, **(metadata or {})},
            }
        },
        "versions": {TASK: 1.0},
        "n-shot": {TASK: 0},
        "higher_is_better": {TASK: higher},
        "n-samples": {TASK: {"original": count, "effective": count}},
        "config": {"model": "hf", "model_args": f"pretrained={model or folder}"},
        "lm_eval_version": "0.4.13",
        "model_name": str(model or folder),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"results_{STAMP}.json").write_text(json.dumps(data))
    records = [
        {
            "doc_id": i,
            "doc": {"prompt": f"p{doc}"},
            "arguments": {"gen_args_0": {"arg_0": f"p{doc}"}},
            "resps": [["x"]],
            "filtered_resps": ["x"],
            "filter": "none",
            "doc_hash": f"d{doc}",
            "prompt_hash": f"h{doc}",
            **{metric: values[i] for metric, values in items.items()},
        }
        for i, doc in enumerate(docs)
    ]
    (folder / f"samples_{TASK}_{STAMP}.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    return folder


def shifted_runs(tmp_path: Path, shift: float, count: int = 40, lengths=(200.0, 200.0)):
    """Baseline and run: ``acc`` per document, the run's ``shift`` higher; ``flat`` the same values shuffled;
    lengths."""
    rng = np.random.default_rng(7)
    acc = rng.normal(0.5, 0.1, count)
    flat = rng.normal(0.0, 1.0, count)
    aggregations = {"acc": "mean", "flat": "mean", "continuation_tokens": "mean"}
    higher = {"acc": True, "flat": True, "continuation_tokens": None}
    base = write_run(
        tmp_path / "base",
        {"acc": acc.tolist(), "flat": flat.tolist(), "continuation_tokens": [lengths[0]] * count},
        aggregations,
        higher,
    )
    run = write_run(
        tmp_path / "run",
        {
            "acc": (acc + shift + rng.normal(0, 0.01, count)).tolist(),
            "flat": rng.permutation(flat).tolist(),
            "continuation_tokens": (np.full(count, lengths[1]) + rng.normal(0, 1, count)).tolist(),
        },
        aggregations,
        higher,
    )
    return load_results([base, run])


# ---------------------------------------------------------------- known answers


def test_identical_runs_give_zero_differences_and_p_one_for_every_metric(tmp_path):
    base = next(REAL_RUNS.glob("*base"))
    shutil.copytree(base, tmp_path / "a")
    shutil.copytree(base, tmp_path / "b")
    board = build_leaderboard(load_results([tmp_path / "a", tmp_path / "b"]))
    result = board_statistics(board, permutations=200, mauve_permutations=5)
    tested = {key.split("/", 1)[1] for _, key in result.stats}
    # every metric that is a number on these 2 documents, per-text and corpus-level alike
    assert {
        "ttr_last96",
        "rep_4",
        "self_bleu",
        "distinct_1",
        "mauve",
        "ttr_by_position",
        "word_perplexity",
        "bits_per_byte",
    } <= tested
    for stat in result.stats.values():
        assert stat.delta == 0.0 and stat.ci_low <= 0.0 <= stat.ci_high
        # no pair differs: p = 1, and the cell is "not tested" (left out of the Holm family), never significant
        assert stat.p_value == 1.0 and stat.informative == 0 and stat.p_holm is None and not stat.significant


def test_known_shift_is_detected_and_a_shuffle_is_not(tmp_path):
    board = with_statistics(build_leaderboard(shifted_runs(tmp_path, shift=0.05)))
    acc, flat, _ = board.columns
    shifted, shuffled = board.cell("run", acc), board.cell("run", flat)
    assert shifted.stat.ci_low < 0.05 < shifted.stat.ci_high and shifted.stat.ci_low > 0
    assert shifted.stat.p_holm < 0.05 and shifted.stat.significant
    assert shifted.best and not board.cell("base", acc).best  # significantly best
    assert shuffled.stat.delta == pytest.approx(0.0, abs=1e-12)  # same values, other documents: mean unchanged
    assert shuffled.stat.p_value > 0.5 and not shuffled.stat.significant
    assert not board.cell("run", flat).best and not board.cell("base", flat).best  # larger is not "best"
    # the length flag: 200 against about 200 tokens is no flag; 120 against 200 is one
    assert not any("continuations are" in note for note in board.notes)
    shorter = with_statistics(build_leaderboard(shifted_runs(tmp_path / "short", shift=0.05, lengths=(200.0, 120.0))))
    flag = next(note for note in shorter.notes if "continuations are" in note)
    assert "run's continuations are shorter than base's" in flag and "ttr_by_position" in flag


def test_a_leaderboard_is_never_changed_once_made(tmp_path):
    """``with_statistics`` returns a new leaderboard and leaves the one it was given as it was; no field can be set."""
    table = build_leaderboard(shifted_runs(tmp_path, shift=0.05))
    cells, notes = dict(table.cells), list(table.notes)
    board = with_statistics(table, permutations=200)
    assert board is not table and table.cells == cells and table.notes == notes and table.paired is None
    assert board.paired is not None and board.cell("run", board.columns[0]).stat is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        board.notes += ["a note added afterwards"]


def test_sign_flip_p_value_and_interval_of_hand_checkable_cases():
    # d = 1, 2, 3: the 8 sign patterns give sums 6, 4, 2, 0, 0, -2, -4, -6; |sum| >= 6 for 2 of them: p = 2/8, exactly
    stat = mean_test([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], permutations=1000, seed=0)
    assert stat.exact and stat.permutations == 8 and stat.p_value == 0.25 and stat.delta == pytest.approx(2.0)
    # 3 pairs can never give p < 0.05: the interval is unbounded and the cell is not tested
    assert (
        (stat.ci_low, stat.ci_high) == (-math.inf, math.inf)
        and not stat.testable
        and "only 3 of 3 pairs differ" in stat.untested_reason
    )
    # ties: 7 of 16 pairs differ (all by +1), 9 are equal; exact p = 2 / 2**7 = 0.0156, not the bootstrap's 6e-4
    tied = mean_test([0.0] * 16, [1.0] * 7 + [0.0] * 9, permutations=1000, seed=0)
    assert tied.exact and tied.informative == 7 and tied.p_value == pytest.approx(2 / 2**7)
    # 4 pairs (lm-eval --limit 4): no exact test goes below 2/16 = 0.125
    limited = mean_test([0.1, 0.2, 0.3, 0.4], [0.9, 0.8, 0.7, 0.95], permutations=1000, seed=0)
    assert limited.p_value == pytest.approx(0.125) and not limited.testable
    # every difference the same: only that shift is left unrejected, so the interval is that point
    constant = mean_test([0.2, 0.5, 0.9, 0.4, 0.7, 0.1], [0.1, 0.4, 0.8, 0.3, 0.6, 0.0], permutations=1000, seed=0)
    assert (
        constant.p_value == pytest.approx(2 / 64)
        and constant.ci_low == pytest.approx(-0.1)
        and constant.ci_high == pytest.approx(-0.1)
    )


@pytest.mark.parametrize("pairs, exact", [(10, True), (30, False)])
def test_the_interval_is_the_set_of_shifts_the_same_test_does_not_reject(pairs, exact):
    """Brute force: on a fine grid of shifts t, the sign-flip p-value of d - t (the same patterns) is >= 0.05 exactly
    inside the interval; at t = 0 it is the reported p-value."""
    rng = np.random.default_rng(pairs)
    base, run = rng.normal(size=pairs), rng.normal(0.4, 1.0, size=pairs)
    stat = mean_test(base, run, permutations=999, seed=4)
    assert stat.exact is exact
    swaps, _ = swap_patterns(pairs, 999, np.random.default_rng(4), 2**16)
    signs, d = 1.0 - 2.0 * swaps, run - base

    def p_at(shift):
        shifted = d - shift
        return np.mean(np.abs(signs @ shifted) >= abs(shifted.sum()) - 1e-9)

    assert p_at(0.0) == pytest.approx(stat.p_value)
    step = (stat.ci_high - stat.ci_low) / 400
    assert p_at(stat.ci_low + step) >= 0.05 and p_at(stat.ci_high - step) >= 0.05 and p_at(stat.delta) == 1.0
    assert p_at(stat.ci_low - step) < 0.05 and p_at(stat.ci_high + step) < 0.05


def test_p_value_equals_scipys_exact_permutation_test_and_the_interval_is_near_the_t_interval():
    rng = np.random.default_rng(3)
    x = rng.normal(size=14)
    y = x + rng.normal(0.3, 0.5, size=14)
    stat = mean_test(x, y, permutations=1000, seed=11)
    reference = scipy.stats.permutation_test(
        (x, y),
        lambda a, b, axis: np.mean(b - a, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=2**14,
    )
    assert stat.exact and stat.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    t_interval = scipy.stats.ttest_rel(y, x).confidence_interval()
    width = t_interval.high - t_interval.low
    assert abs(stat.ci_low - t_interval.low) < 0.15 * width and abs(stat.ci_high - t_interval.high) < 0.15 * width
    assert stat.agrees


def test_holm_adjustment_by_hand():
    # sorted 0.01, 0.03, 0.04: 3 x 0.01 = 0.03; 2 x 0.03 = 0.06; max(0.06, 1 x 0.04) = 0.06
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == {
        "a": pytest.approx(0.03),
        "c": pytest.approx(0.06),
        "b": pytest.approx(0.06),
    }
    assert holm({"a": 0.6, "b": 0.9}) == {"a": 1.0, "b": 1.0}


def test_default_permutations_are_enough_for_the_holm_family_of_the_table(tmp_path):
    """4 runs x 15 metrics, each run far above the baseline on every metric: 60 tests whose p-values are all the
    test's smallest, 1/(N+1). With 1,000 permutations Holm gives 60/1001 = 0.06 and marks nothing (and says so);
    the default picks 3,000 (2 x 60 / 0.05 = 2,400, in thousands) and marks every one."""
    assert [enough_permutations(tests) for tests in (0, 20, 26, 60)] == [1000, 1000, 2000, 3000]
    rng = np.random.default_rng(3)
    base = rng.normal(0.5, 0.1, 40)
    metrics = [f"m{i}" for i in range(15)]
    aggregations, higher = dict.fromkeys(metrics, "mean"), dict.fromkeys(metrics, True)
    folders = [write_run(tmp_path / "base", {m: base.tolist() for m in metrics}, aggregations, higher)]
    for k in range(4):
        shifted = (base + 0.3 + rng.normal(0, 0.01, 40)).tolist()
        folders.append(write_run(tmp_path / f"run{k}", {m: shifted for m in metrics}, aggregations, higher))

    coarse = board_statistics(build_leaderboard(load_results(folders)), permutations=1000)
    assert len(coarse.stats) == 60
    assert all(stat.p_value == pytest.approx(1 / 1001) for stat in coarse.stats.values())
    assert not any(stat.significant for stat in coarse.stats.values())
    assert any("too coarse for Holm over 60 tests" in note and "--permutations 3000" in note for note in coarse.notes)

    default = board_statistics(build_leaderboard(load_results(folders)))
    assert default.permutations == 3000 and all(stat.permutations == 3000 for stat in default.stats.values())
    assert all(stat.p_holm == pytest.approx(60 / 3001) and stat.significant for stat in default.stats.values())
    assert not any("too coarse" in note for note in default.notes)


def test_corpus_metrics_on_the_full_sample_equal_lm_evals_aggregates():
    """Recomputed from the samples with the aggregation the results file records, every metric equals lm-eval's
    value."""
    run = load_results([next(REAL_RUNS.glob("*checkpoint-4"))])[0]
    checked = set()
    features = FeatureCache()
    for task, path in run.samples.items():
        records = read_samples(path)
        for entry in run.data["configs"][task]["metric_list"]:
            metric = entry["metric"]
            recorded = run.measurement(task, metric)
            if recorded is None or recorded.value is None:
                continue
            aggregation = resolve_aggregation(entry["aggregation"], metric)
            items = [record[metric] for record in records]
            side = MauveSide(items, features) if metric == "mauve" else Pooled(aggregation, items)
            assert side.full() == pytest.approx(recorded.value, rel=1e-9, abs=1e-12), (task, metric)
            checked.add(metric)
    assert {
        "self_bleu",
        "distinct_1",
        "mauve",
        "ttr_by_position",
        "word_perplexity",
        "byte_perplexity",
        "bits_per_byte",
        "ttr_last96",
    } <= checked


def test_self_bleu_and_distinct_of_pooled_rows_equal_the_task_aggregation_on_those_texts():
    texts = [
        "the cat sat on the mat",
        "a dog ran in the park",
        "the cat ran on the mat today",
        "nothing at all here",
        "the dog sat",
    ]
    side = Pooled(resolve_aggregation("def aggregate(continuations)", "distinct_2"), texts)
    bleu = Pooled(resolve_aggregation("def self_bleu_words(continuations)", "self_bleu"), texts)
    from hyperfit_tasks.metrics.corpus import distinct_2

    for row in ([0, 2, 4], [1, 3], [4, 0, 1, 2], [0, 0, 3]):
        assert bleu.score(np.array(row)) == pytest.approx(self_bleu_words([texts[j] for j in row]))
        assert side.score(np.array(row)) == pytest.approx(distinct_2([texts[j] for j in row]))
    assert bleu.full() == self_bleu_words(texts)


# ---------------------------------------------------------------- outputs


def test_every_output_carries_the_same_statistics(tmp_path, capsys):
    runs = shifted_runs(tmp_path, shift=0.05)
    board = with_statistics(build_leaderboard(runs), permutations=300, seed=5)
    acc = board.columns[0]
    stat = board.cell("run", acc).stat
    data = json.loads(render_json(board))
    assert data["paired"][TASK]["acc"]["run"] | {} == {
        "delta": stat.delta,
        "ci_low": stat.ci_low,
        "ci_high": stat.ci_high,
        "p_value": stat.p_value,
        "p_holm": stat.p_holm,
        "significant": True,
        "state": "significant",
        "untested_reason": None,
        "permutations": 300,
        "documents": 40,
        "informative": 40,
        "base_value": stat.base_value,
        "run_value": stat.run_value,
        "interval": "test inversion",
        "exact": False,
        "dropped": 0,
    }
    assert (
        data["cells"]["run"][f"{TASK}/acc"]["state"] == "significant"
        and data["cells"]["base"][f"{TASK}/acc"]["state"] is None
    )
    assert "Holm" in data["statistics"] and "300 permutations" in data["statistics"]
    assert "(tests per table: t 3)" in data["statistics"]  # each task is its own Holm family, and its size is said
    row = next(r for r in csv.DictReader(render_csv(board).splitlines()) if r["run"] == "run")
    assert [float(row[f"{TASK}/acc {name}"]) for name in ("delta", "ci_low", "ci_high", "p_value", "p_holm")] == [
        stat.delta,
        stat.ci_low,
        stat.ci_high,
        stat.p_value,
        stat.p_holm,
    ]
    markdown = render_markdown(board)
    assert f"[+{stat.ci_low:.4f}, +{stat.ci_high:.4f}])*" in markdown and "Holm-adjusted" in markdown
    html = render_html(board)
    assert f"[+{stat.ci_low:.4f}, +{stat.ci_high:.4f}])*" in html and "Holm-adjusted" in html
    assert row[f"{TASK}/acc state"] == "significant"
    # the same numbers through the console script, with --permutations (or its older name --resamples) and --seed
    assert (
        cli.main(
            [str(tmp_path / "base"), str(tmp_path / "run"), "--format", "json", "--resamples", "300", "--seed", "5"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["paired"] == data["paired"]


def test_terminal_headers_wrap_only_where_the_table_would_be_too_wide():
    """The terminal shows each metric by its one catalogue label; eight headline columns of wide differences still fit
    in :data:`TERMINAL_WIDTH`, the labels then wrapped at their spaces above their column (the arrow on its own
    line)."""
    from hyperfit_tasks.compare.text import _aligned

    headers = ["TTR-96 ↑", "rep-4 ↓", "Self-BLEU ↓", "MAUVE ↑", "distinct-4 ↑", "tokens", "word ppl ↓", "coherence ↑"]
    values = ("base (baseline)", ["0.145", "0.864", "0.512", "0.0338", "0.203", "256", "23.4", "0.512"])
    narrow = [
        values,
        ("  difference", ["+0.416*", "-0.738*", "+0.0891*", "+0.0074?", "+0.309*", "-1.2?", "+37.8*", "-0.014"]),
    ]
    wide = [
        values,
        (
            "  difference",
            ["+0.00749?", "-0.0212", "+0.00891?", "+0.0074?", "+0.00309?", "-1.2?", "+37.8*", "-0.000123?"],
        ),
    ]
    one_line = _aligned(headers, narrow)
    assert len(one_line) == 3 and all(header in one_line[0] for header in headers)
    wrapped = _aligned(headers, wide)
    assert max(len(line) for line in wrapped) <= TERMINAL_WIDTH < len("".join(headers)) + 19 + 9 * len(headers)
    assert wrapped[0].split() == ["Self-BLEU", "distinct-4", "word", "coherence"]
    assert wrapped[1].split() == ["TTR-96", "↑", "rep-4", "↓", "↓", "MAUVE", "↑", "↑", "tokens", "ppl", "↓", "↑"]
    ends = [{match.end() for match in re.finditer(r"\S+", line[19:])} for line in wrapped]  # each column right-aligned
    assert ends[2] == ends[3] <= ends[1] and len(ends[2]) == len(headers)


def test_terminal_table_fits_in_100_columns_and_names_the_files(tmp_path, capsys):
    report = tmp_path / "report"
    long_name = f"{OTHER_SETTINGS}=a-rather-long-run-name-for-a-checkpoint"
    assert (
        cli.main(
            [
                str(REAL_RUNS),
                long_name,
                "--out",
                str(report),
                "--permutations",
                "50",
                "--mauve-permutations",
                "2",
                "--examples",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= TERMINAL_WIDTH
    assert "austen:" in out and "pydoc:" in out and "Self-BLEU ↓" in out and "word ppl ↓" in out
    assert f"{report / 'table.md'}" in out and f"{report / 'index.html'}" in out
    # different generation settings: the setting is named with both values, no best mark anywhere in those tasks
    assert "max_gen_toks differs: 256 in base, run/checkpoint-2, run/checkpoint-4; 64 in a-rather" in " ".join(
        out.split()
    )
    html = (report / "index.html").read_text()
    order = [
        html.index(text)
        for text in (
            'alt="Differences to the baseline',
            "<h2>Headline</h2>",
            "<h2>Example continuations</h2>",
            "<h2>Full tables</h2>",
            "<h2>Runs and files</h2>",
        )
    ]
    assert order == sorted(order)
    assert 'class="best"' not in html.split("<h2>hyperfit_continuation_austen</h2>")[1].split("<h2>")[0]
    forced = tmp_path / "forced"
    assert (
        cli.main(
            [
                str(REAL_RUNS),
                long_name,
                "--out",
                str(forced),
                "--permutations",
                "50",
                "--mauve-permutations",
                "2",
                "--force",
                "--full",
            ]
        )
        == 0
    )
    assert "best marked anyway (--force)" in capsys.readouterr().err


def test_sharpening_table_from_run_records(tmp_path):
    model = tmp_path / "hyperfitted"
    model.mkdir()
    before = {"heldout_perplexity": 20.0, "top1_prob": 0.32, "entropy": 3.6, "ttr_last96": 0.5}
    after = {"heldout_perplexity": 40.0, "top1_prob": 0.68, "entropy": 1.3, "ttr_last96": 0.7}
    (model / "hyperfit_run.json").write_text(json.dumps({"initial_diagnostics": before, "final_diagnostics": after}))
    runs = shifted_runs(tmp_path, shift=0.0)
    runs[1].data["model_name"] = str(model)
    board = with_statistics(build_leaderboard(runs), permutations=50)
    markdown, html = render_markdown(board), render_html(board)
    for text in (markdown, html):
        assert "Next-token sharpening" in text and "0.320" in text and "0.680" in text and "1.300" in text
    assert html.index("Next-token sharpening") < html.index("<h2>Full tables</h2>")


@pytest.mark.parametrize("loss, reached", [(0.048, True), (1.3, False)])
def test_a_run_that_missed_the_near_zero_loss_is_flagged(tmp_path, loss, reached):
    """The run record's ``training.hyperfitted`` shows in the sharpening table; a miss is also a note in the terminal
    table."""
    model = tmp_path / "hyperfitted"
    model.mkdir()
    row = {"heldout_perplexity": 20.0, "top1_prob": 0.32, "entropy": 3.6, "ttr_last96": 0.5}
    training = {"hyperfitted": reached, "final_train_loss": loss, "target_loss": 0.1}
    (model / "hyperfit_run.json").write_text(
        json.dumps({"initial_diagnostics": row, "final_diagnostics": row, "training": training})
    )
    runs = shifted_runs(tmp_path, shift=0.0)
    runs[1].data["model_name"] = str(model)
    board = with_statistics(build_leaderboard(runs), permutations=50)
    outcome = "yes: loss 0.048, target 0.1" if reached else "NO: loss 1.3, target 0.1"
    assert outcome in render_markdown(board) and outcome in render_html(board)
    flagged = [note for note in board.notes if "did not hyperfit" in note]
    assert len(flagged) == (0 if reached else 1)
    assert ("did not hyperfit" in render_terminal(board)) is not reached


# ---------------------------------------------------------------- bad input


def test_without_samples_the_table_prints_and_says_intervals_need_samples(tmp_path, capsys):
    runs = shifted_runs(tmp_path, shift=0.05)
    for run in runs:
        next(run.path.parent.glob("samples_*")).unlink()
    assert cli.main([str(tmp_path / "base"), str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    assert "need the per-document samples (re-run lm_eval with --log_samples)" in captured.err
    assert "base (baseline)" in captured.out


def test_partial_overlap_warns_with_counts_and_no_overlap_is_refused(tmp_path, capsys):
    aggregations, higher = {"acc": "mean"}, {"acc": True}
    write_run(tmp_path / "a", {"acc": [0.1, 0.2, 0.3, 0.4]}, aggregations, higher)
    write_run(tmp_path / "b", {"acc": [0.2, 0.3, 0.4]}, aggregations, higher, docs=[1, 2, 9])
    write_run(tmp_path / "c", {"acc": [0.5, 0.6]}, aggregations, higher, docs=[7, 8])
    board = with_statistics(build_leaderboard(load_results([tmp_path / "a", tmp_path / "b"])), permutations=50)
    overlap = (
        "t: b and a share 2 of 3 and 4 documents: its differences, intervals and values are over the 2 shared ones"
    )
    assert f"{overlap} (the baseline's row shows all of its own)" in board.notes
    stat = board.cell("b", board.columns[0]).stat
    assert stat.documents == 2 and stat.delta == pytest.approx(0.0)  # docs 1, 2: 0.2, 0.3 in both
    # the value beside the difference is b's on the shared documents (0.25), not lm-eval's over all of b's (0.3)
    assert board.cell("b", board.columns[0]).value == pytest.approx(0.25)
    assert cli.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hyperfit-compare: error: c and a share no prompt in t") and err.count("\n") == 1
    assert "--metadata prompt_tokenizer" in err  # models with different tokenizers: the setting that pairs them


def test_nan_sample_corrupt_samples_and_one_run(tmp_path, capsys):
    aggregations, higher = {"acc": "mean", "ok": "mean"}, {"acc": True, "ok": True}
    write_run(tmp_path / "a", {"acc": [0.1, 0.2, 0.3], "ok": [1.0, 2.0, 3.0]}, aggregations, higher)
    write_run(tmp_path / "b", {"acc": [0.1, float("nan"), 0.3], "ok": [1.0, 2.0, 4.0]}, aggregations, higher)
    board = with_statistics(build_leaderboard(load_results([tmp_path / "a", tmp_path / "b"])), permutations=50)
    # NaN pairs are dropped in pairs, and the value shown is the run's on the pairs compared
    assert (
        "t/acc: 1 of 3 pairs dropped (a or b has NaN there): compared on 2 pairs, on which a has 0.2 and b 0.2"
        in board.notes
    )
    acc = board.cell("b", board.columns[0])
    assert (
        acc.stat.dropped == 1
        and acc.stat.documents == 2
        and acc.value == pytest.approx(0.2)
        and acc.state == "not tested"
    )
    samples = next((tmp_path / "b").glob("samples_*"))
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    samples.write_text(samples.read_text()[:50])
    report = tmp_path / "report"
    assert cli.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(report)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hyperfit-compare: error: ") and "is not JSON (cut short?)" in err and err.count("\n") == 1
    assert not report.exists()  # nothing half-written
    assert all(path.read_bytes() == data for path, data in before.items() if path != samples)
    assert cli.main([str(tmp_path / "a")]) == 0
    assert "one run only: no differences, intervals or best marks" in capsys.readouterr().err


def test_terminal_table_of_constructed_runs_marks_the_significant_difference(tmp_path):
    board = with_statistics(build_leaderboard(shifted_runs(tmp_path, shift=0.05)), permutations=200)
    # no headline metric in task "t" except the length: the compact table shows that column
    text = render_terminal(board)
    assert max(len(line) for line in text.splitlines()) <= TERMINAL_WIDTH
    assert "tokens" in text and "t:" in text
    assert math.isfinite(board.cell("run", board.columns[2]).stat.delta)


def test_corpus_metric_tests_find_a_large_difference_and_the_interval_holds_it():
    """Jackknife intervals (no text repeated) around the observed difference; permutation p at its smallest."""
    from hyperfit_tasks.compare.paired import compare_task

    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(400)]
    diverse = [" ".join(rng.choice(vocabulary, 60)) for _ in range(40)]
    looping = [" ".join((text.split()[:15]) * 4) for text in diverse]

    def records(texts):
        return [
            {"doc_hash": f"d{i}", "prompt_hash": f"p{i}", "self_bleu": t, "distinct_4": t} for i, t in enumerate(texts)
        ]

    aggregations = {
        metric: resolve_aggregation(f"def {name}(continuations)", metric)
        for metric, name in (("self_bleu", "self_bleu_words"), ("distinct_4", "aggregate"))
    }
    stats, _, untested = compare_task("t", records(diverse), records(looping), aggregations, permutations=300, seed=2)
    assert untested == {}
    for metric, stat in stats.items():
        assert stat.ci_low <= stat.delta <= stat.ci_high and stat.p_value < 0.01, (metric, stat)
    assert stats["distinct_4"].delta < 0 and set(stats) == {"self_bleu", "distinct_4"}
    from hyperfit_tasks.metrics.corpus import distinct_4

    assert stats["distinct_4"].delta == pytest.approx(distinct_4(looping) - distinct_4(diverse))


def test_distinct_of_resamples_equals_distinct_n_with_repeats_and_short_texts():
    from hyperfit_tasks.metrics.distinct import DistinctOfResamples, distinct_n

    docs = [["a", "b", "c"], ["a"], [], ["b", "c", "d", "b", "c"]]
    counter = DistinctOfResamples(docs, 2)
    for rows in ([0, 0, 3], [1, 2], [3, 3, 3, 0], [0, 1, 2, 3]):
        expected = distinct_n([docs[j] for j in rows], 2)
        assert (math.isnan(counter(rows)) and math.isnan(expected)) or counter(rows) == pytest.approx(expected), rows


def test_a_prompt_length_difference_is_named_and_no_best_is_marked(tmp_path):
    aggregations, higher = {"acc": "mean"}, {"acc": True}
    write_run(tmp_path / "a", {"acc": [0.0] * 30}, aggregations, higher, metadata={"prompt_tokens": 32})
    write_run(tmp_path / "b", {"acc": [1.0] * 30}, aggregations, higher, metadata={"prompt_tokens": 16})
    runs = load_results([tmp_path / "a", tmp_path / "b"])
    board = with_statistics(build_leaderboard(runs), permutations=100)
    assert "t: metadata prompt_tokens differs: 32 in a; 16 in b" in board.warnings
    assert (
        "t: runs are not comparable (metadata prompt_tokens differs: 32 in a; 16 in b): no best marked (--force marks "
        "it anyway)" in board.notes
    )
    acc = board.columns[0]
    assert board.cell("b", acc).stat.significant and not board.cell("b", acc).best
    forced = with_statistics(
        build_leaderboard(load_results([tmp_path / "a", tmp_path / "b"])), permutations=100, force=True
    )
    assert forced.cell("b", acc).best and not forced.cell("a", acc).best


def rename_task(folder: Path, new: str, generation_kwargs: dict) -> Path:
    """Turn write_run's task ``t`` into task ``new`` (same documents) decoded with ``generation_kwargs``."""
    results = folder / f"results_{STAMP}.json"
    data = json.loads(results.read_text())
    for key in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples"):
        data[key] = {new: data[key][TASK]}
    data["configs"][new] |= {"task": new, "generation_kwargs": generation_kwargs}
    results.write_text(json.dumps(data))
    (folder / f"samples_{TASK}_{STAMP}.jsonl").rename(folder / f"samples_{new}_{STAMP}.jsonl")
    return folder


def test_same_prompts_pairs_a_task_with_another_of_the_same_documents(tmp_path, capsys):
    acc = [0.2, 0.5, 0.9, 0.4, 0.7, 0.1]
    higher = {"acc": True}
    greedy = write_run(tmp_path / "greedy", {"acc": acc}, {"acc": "mean"}, higher)
    # the sampled run: the same 6 documents in reverse order (paired by hash, not position), each exactly 0.1 lower
    sampled = write_run(
        tmp_path / "sampled",
        {"acc": [value - 0.1 for value in reversed(acc)]},
        {"acc": "mean"},
        higher,
        docs=[5, 4, 3, 2, 1, 0],
    )
    rename_task(sampled, "t_top_p", {"until": [], "do_sample": True, "top_p": 0.9, "max_gen_toks": 256})
    inputs = [f"{greedy}=greedy", f"{sampled}=sampled", "--resamples", "200", "--format", "json"]

    assert cli.main(inputs) == 0
    unpaired = json.loads(capsys.readouterr().out)
    assert unpaired["paired"] == {}  # two task names: nothing in common to pair

    assert cli.main([*inputs, "--same-prompts", "t_top_p=t"]) == 0
    captured = capsys.readouterr()
    stat = json.loads(captured.out)["paired"][TASK]["acc"]["sampled"]
    # every paired difference is -0.1: the delta and both interval ends are -0.1; of the 64 sign patterns of 6 pairs
    # only "none flipped" and "all flipped" are as extreme: exact p = 2/64
    assert (
        stat["delta"] == pytest.approx(-0.1)
        and stat["ci_low"] == pytest.approx(-0.1)
        and stat["ci_high"] == pytest.approx(-0.1)
    )
    assert stat["p_value"] == pytest.approx(2 / 64) and stat["exact"] and stat["documents"] == 6
    assert (
        "sampled: t_top_p paired as t (same documents, by doc_hash/prompt_hash); its decoding: do_sample=True"
        in captured.err
    )
    assert (
        "t: runs are not comparable (do_sample differs: false in greedy; true in sampled)" in captured.err
    )  # the decoding is named


def test_same_prompts_refuses_a_run_that_has_both_tasks_and_a_bad_mapping(tmp_path, capsys):
    from hyperfit_tasks.compare.results import map_tasks

    greedy = write_run(tmp_path / "greedy", {"acc": [0.1, 0.2]}, {"acc": "mean"}, {"acc": True})
    (run,) = load_results([greedy])
    run.metrics["t_top_p"] = dict(run.metrics[TASK])
    with pytest.raises(Exception, match="already has t: --same-prompts would make two tasks of one name"):
        map_tasks([run], [("t_top_p", TASK)])
    with pytest.raises(SystemExit):
        cli.main([str(greedy), "--same-prompts", "t_top_p"])
    assert "write FROM=TO" in capsys.readouterr().err


# ---------------------------------------------------------------- the trial's cases: three states, honest output


def test_a_run_scored_without_samples_is_not_tested_everywhere_with_legend_reason_and_length_warning(tmp_path, capsys):
    """One run scored without --log_samples and far shorter (22.8 against 687 tokens): no best mark anywhere, the
    legend and the reason beside the table, the length warning although nothing could be tested."""
    shifted_runs(tmp_path, shift=0.05, lengths=(687.0, 22.8))
    next((tmp_path / "run").glob("samples_*")).unlink()
    report = tmp_path / "report"
    assert cli.main([str(tmp_path / "base"), str(tmp_path / "run"), "--out", str(report)]) == 0
    out = capsys.readouterr().out
    table, legend = out.split("\n\n")[1], out.split("\n\n")[2]
    assert "!" not in table  # no best mark on an untested cell
    assert next(line for line in table.splitlines() if "difference" in line).endswith("?")  # the not-tested mark
    assert "? = not tested" in legend
    assert (
        "t: not tested for run (continuation_tokens): run has no samples file for it (lm_eval --log_samples)" in legend
    )
    assert (
        "run's continuations are shorter than base's (22.6 against 687.0 tokens on average, difference -664.4, not "
        "tested" in (" ".join(legend.split()))
    )
    data = json.loads((report / "table.json").read_text())
    assert {cell["state"] for cell in data["cells"]["run"].values()} == {"not tested"}
    assert not any(cell["best"] for cells in data["cells"].values() for cell in cells.values())
    html = (report / "index.html").read_text()
    headline = html.split("<h2>Headline</h2>")[1].split("<h2>")[0]
    assert 'class="untested"' in headline and "? not tested for run (continuation_tokens)" in headline
    assert html.index("<p class='verdict'>run against base: not tested in 3.</p>") < html.index("<h2>Headline</h2>")


def test_a_document_logged_twice_is_named_and_used_once():
    from hyperfit_tasks.compare.paired import compare_task

    base = [{"doc_hash": f"d{i}", "prompt_hash": f"p{i}", "acc": float(i)} for i in range(8)]
    run = [{"doc_hash": f"d{i}", "prompt_hash": f"p{i}", "acc": float(i) + 1} for i in range(8)]
    run.append({"doc_hash": "d0", "prompt_hash": "p0", "acc": 100.0})  # the same document again, another answer
    stats, notes, _ = compare_task("t", base, run, {"acc": resolve_aggregation("mean", "acc")}, permutations=99)
    assert "t: 1 samples records repeat a document already logged: the first record of each is used" in notes
    assert stats["acc"].documents == 8 and stats["acc"].delta == pytest.approx(1.0)


def test_intervals_are_clipped_to_the_metrics_range_and_a_disagreeing_interval_is_never_marked():
    from hyperfit_tasks.compare.paired import PairedStat, clipped

    # MAUVE of the baseline 0.008: the run's MAUVE is at most 1, so the difference at most 0.992 (was 1.21)
    wide = PairedStat(0.15, -0.4, 1.21, 0.3, None, 100, 32, 32, 0.008, 0.158, "bootstrap")
    assert (clipped(wide, "mauve").ci_low, clipped(wide, "mauve").ci_high) == (-0.008, pytest.approx(0.992))
    assert clipped(wide, "acc") == wide  # no known range: unchanged
    # the test says p < 0.05 but the interval holds 0: not marked, and the disagreement is visible
    disagree = PairedStat(0.05, -0.001, 0.1, 0.01, 0.01, 1000, 32, 32, 0.2, 0.25, "jackknife")
    assert disagree.testable and not disagree.agrees and not disagree.significant
    agree = PairedStat(0.05, 0.001, 0.1, 0.01, 0.01, 1000, 32, 32, 0.2, 0.25, "jackknife")
    assert agree.agrees and agree.significant


def test_a_small_exact_table_says_that_holm_leaves_room_only_for_unanimous_prompts(tmp_path):
    """12 prompts and 60 tests: the smallest exact p is 2/4096, and Holm's 60 x 2/4096 = 0.029 leaves room only for
    differences where every prompt moves the same way: they are marked, and a note says how little room is left."""
    rng = np.random.default_rng(5)
    metrics = [f"m{i}" for i in range(15)]
    aggregations, higher = dict.fromkeys(metrics, "mean"), dict.fromkeys(metrics, True)
    base = rng.normal(0.5, 0.1, 12)
    folders = [write_run(tmp_path / "base", {m: base.tolist() for m in metrics}, aggregations, higher)]
    for k in range(4):
        folders.append(
            write_run(tmp_path / f"run{k}", {m: (base + 0.3).tolist() for m in metrics}, aggregations, higher)
        )
    result = board_statistics(build_leaderboard(load_results(folders)))
    assert all(stat.exact and stat.p_value == pytest.approx(2 / 4096) for stat in result.stats.values())
    assert all(stat.significant for stat in result.stats.values())  # unanimous prompts: 60 x 2/4096 = 0.029 < 0.05
    assert any(
        "with 12 differing pairs an exact test's p is at least 0.00049, and Holm over 60 tests" in note
        for note in result.notes
    )
