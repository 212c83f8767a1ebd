"""The metric catalogue is the one place a metric is declared: a user's own task that lists registered ``hyperfit_*``
metrics is compared like ours, and a metric added to the catalogue is registered, scored and compared with no other
edit (docs/layout.md, "to add a metric")."""

from __future__ import annotations

import json

import pytest

from hyperfit_tasks.compare import build_leaderboard, load_results
from hyperfit_tasks.compare.leaderboard import with_statistics
from hyperfit_tasks.compare.text import render_terminal
from hyperfit_tasks.metrics import catalogue

from helpers import OWN_TASK, write_own_run


def test_an_own_task_with_registered_metrics_gets_paired_statistics_and_the_headline(tmp_path):
    looping = [f"the cat sat on the mat and the cat sat on the mat {i}" for i in range(12)]
    varied = [f"text {i} speaks of {' '.join(f'w{i}x{j}' for j in range(8))}" for i in range(12)]
    base = write_own_run(tmp_path / "base", {
        "hyperfit_ttr_last96": [0.3 + 0.01 * i for i in range(12)], "hyperfit_self_bleu": looping,
        "hyperfit_distinct_4": looping,
    })  # fmt: skip
    run = write_own_run(tmp_path / "run", {
        "hyperfit_ttr_last96": [0.7 + 0.01 * i for i in range(12)], "hyperfit_self_bleu": varied,
        "hyperfit_distinct_4": varied,
    })  # fmt: skip
    board = with_statistics(build_leaderboard(load_results([base, run])), permutations=200)
    for name in ("hyperfit_ttr_last96", "hyperfit_self_bleu", "hyperfit_distinct_4"):
        stat = board.paired.stats[("run", f"{OWN_TASK}/{name}")]
        assert stat.ci_low <= stat.delta <= stat.ci_high and stat.significant, name
    stats = {key.split("/")[-1]: stat for (_, key), stat in board.paired.stats.items()}
    assert stats["hyperfit_self_bleu"].delta < 0 < stats["hyperfit_distinct_4"].delta
    terminal = render_terminal(board)
    assert "No headline metric" not in terminal
    assert all(header in terminal for header in ("TTR-96 ↑", "Self-BLEU ↓", "distinct-4 ↑"))


def vowel_share(continuation: catalogue.Continuation) -> float:
    """The test-only metric: the share of vowels among the letters of a continuation."""
    letters = [char for char in continuation.text.lower() if char.isalpha()]
    return sum(char in "aeiou" for char in letters) / len(letters) if letters else float("nan")


@pytest.mark.slow
def test_a_metric_added_to_the_catalogue_is_registered_scored_and_compared(tmp_path, monkeypatch, tiny_lm_path):
    import lm_eval
    from lm_eval.api.registry import get_metric
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from hyperfit_tasks.tasks import registered_metrics

    monkeypatch.setattr(catalogue, "CATALOGUE", dict(catalogue.CATALOGUE))  # the added row leaves with the test
    catalogue.add(catalogue.Metric("test_vowel_share", "vowel share", True, catalogue.TEXT, "nanmean", vowel_share))
    registered_metrics.register()
    assert get_metric("hyperfit_test_vowel_share")(references=[""], predictions=["abc"]) == pytest.approx(1 / 3)

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs.jsonl").write_text(
        "".join(json.dumps({"prompt": f"Story {i}: the", "reference": "x"}) + "\n" for i in range(8))
    )
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "vowels.yaml").write_text(
        "task: vowels\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: docs.jsonl\ntest_split: test\n"
        "output_type: generate_until\ndoc_to_text: prompt\ndoc_to_target: reference\n"
        "generation_kwargs:\n  until: []\n  do_sample: false\nmetric_list:\n  - metric: hyperfit_test_vowel_share\n"
        "metadata:\n  version: 1.0\n"
    )
    model = str(tiny_lm_path)
    runs = []
    for seed, tokens in ((1, 24), (2, 40)):  # two lengths of the same greedy continuations: different texts
        output = lm_eval.simple_evaluate(
            model="hf", model_args=f"pretrained={model}", tasks=["vowels"],
            task_manager=TaskManager(include_path=[str(tmp_path / "tasks")], include_defaults=False),
            gen_kwargs=f"max_gen_toks={tokens}", device="cpu", batch_size=4, log_samples=True, bootstrap_iters=0,
        )  # fmt: skip
        assert isinstance(output["results"]["vowels"]["hyperfit_test_vowel_share,none"], float)
        tracker = EvaluationTracker(output_path=str(tmp_path / f"out{seed}"))
        tracker.general_config_tracker.model_name_sanitized = f"run{seed}"
        samples = output.pop("samples")
        tracker.save_results_aggregated(results=output, samples=samples)
        tracker.save_results_samples(task_name="vowels", samples=samples["vowels"])
        runs.append(tmp_path / f"out{seed}")
    board = with_statistics(build_leaderboard(load_results(runs, names=["first", "second"])), permutations=200)
    stat = board.paired.stats[("second", "vowels/hyperfit_test_vowel_share")]
    assert stat.documents == 8 and stat.ci_low <= stat.delta <= stat.ci_high
