"""The metric lists agree with the metric catalogue (``hyperfit_tasks.metrics.catalogue``): the templates'
``metric_list``, the groups' ``aggregate_metric_list``, the task card, docs/metrics.md and the ``pyproject.toml`` entry
points of the registered metrics; and ``process_results`` returns the catalogue's items.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "task_configs"
TEMPLATES = {
    "continuation": CONFIGS / "continuation" / "_continuation_template.yaml",
    "next_word": CONFIGS / "next_word" / "_next_word_template.yaml",
    "perplexity": CONFIGS / "perplexity" / "_perplexity_template.yaml",
    "judge": CONFIGS / "judge" / "_judge_template.yaml",
}
CARD_HIGHER = {"true": True, "false": False, "none (descriptive)": None}


def load(path: Path) -> dict:
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(path, resolve_func=False)


def template_metrics(kind: str) -> dict[str, bool | None]:
    """``{metric: higher_is_better}`` of a template, in its order."""
    return {entry["metric"]: entry["higher_is_better"] for entry in load(TEMPLATES[kind])["metric_list"]}


def table_rows(path: Path, header: str) -> list[list[str]]:
    """Cells of the Markdown table whose header row starts with ``header``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def metric_names(cell: str) -> list[str]:
    """Metric names of a table cell: `a`, `b` lists and `x_1` ... `x_4` ranges."""
    names = re.findall(r"`([a-z0-9_]+)`", cell)
    if "..." in cell and len(names) == 2:
        (stem, first), (_, last) = (name.rsplit("_", 1) for name in names)
        return [f"{stem}_{n}" for n in range(int(first), int(last) + 1)]
    return names


@pytest.fixture(scope="module")
def continuation_items(tiny_lm_path):
    """``process_results`` items of one continuation, with the training-copy metrics of a tiny training set."""
    from hyperfit_tasks.metrics.copy_rate import TrainingSpanIndex, copy_metrics
    from hyperfit_tasks.tasks.continuation_scores import process_results

    items = process_results(
        {"reference": "the human text"}, ["a model continuation of some words"], metric_tokenizer=str(tiny_lm_path)
    )
    return items | copy_metrics([1, 2, 3], TrainingSpanIndex([[1, 2, 3]]))


def test_templates_list_every_catalogue_metric_with_its_aggregation_and_direction():
    from hyperfit_tasks.metrics import catalogue

    listed = {}
    for kind in TEMPLATES:
        for entry in load(TEMPLATES[kind])["metric_list"]:
            row = catalogue.find(entry["metric"])
            assert row is not None and row.name == entry["metric"] and entry["metric"] not in listed, entry
            assert entry["higher_is_better"] is row.higher_is_better, entry
            # a corpus aggregation of ours by its lm-eval registry name, a mean by lm-eval's own
            assert entry["aggregation"] == (
                row.aggregation if isinstance(row.aggregation, str) else row.registered_name
            ), entry
            listed[row.name] = row
    assert set(listed) == set(catalogue.CATALOGUE)


def test_entry_points_name_every_registered_metric_and_aggregation():
    import importlib
    import tomllib

    from hyperfit_tasks.metrics import catalogue

    points = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    registered = [row for row in catalogue.CATALOGUE.values() if row.registered_name]
    module = "hyperfit_tasks.tasks.registered_metrics"
    assert points["lm_eval.metrics"] == {row.registered_name: f"{module}:{row.name}" for row in registered}
    corpus = [row for row in registered if row.level == catalogue.CORPUS]
    assert points["lm_eval.aggregations"] == {
        row.registered_name: f"{module}:{row.name}_aggregation" for row in corpus
    }
    objects = importlib.import_module(module)
    assert all(getattr(objects, f"{row.name}_aggregation") is row.aggregation for row in corpus)
    assert all(getattr(objects, row.name).__name__ == row.name for row in registered)


def test_template_lists_exactly_what_process_results_returns(continuation_items):
    assert list(template_metrics("continuation")) == list(
        dict.fromkeys([*template_metrics("continuation")])
    )  # no repeats
    assert set(template_metrics("continuation")) == set(continuation_items)


def test_groups_aggregate_every_per_text_metric(continuation_items):
    # corpus-level metrics (distinct-n, Self-BLEU, MAUVE) get the raw text per document and are not averaged over tasks
    per_text = {name for name, item in continuation_items.items() if isinstance(item, (float, list))}
    assert per_text and "mauve" not in per_text and "ttr_by_position" in per_text
    for group in ("hyperfit_continuation.yaml", "hyperfit_continuation_top_p.yaml"):
        config = load(CONFIGS / "continuation" / group)
        if "aggregate_metric_list" not in config:  # the sampled group takes the greedy group's list by include
            config = load(CONFIGS / "continuation" / config["include"]) | config
        aggregated = [entry["metric"] for entry in config["aggregate_metric_list"]]
        assert len(aggregated) == len(set(aggregated)) and set(aggregated) == per_text, group
    next_word = load(CONFIGS / "next_word" / "hyperfit_next_word.yaml")
    assert {entry["metric"] for entry in next_word["aggregate_metric_list"]} <= set(template_metrics("next_word"))


def test_task_card_lists_every_metric_with_its_direction():
    card = {}
    for row in table_rows(CONFIGS / "README.md", "| metric | unit |"):
        for name in metric_names(row[0]):
            assert name not in card, f"{name} is listed twice in task_configs/README.md"
            card[name] = CARD_HIGHER[row[-1]]
    from hyperfit_tasks.metrics import catalogue

    assert card == {row.name: row.higher_is_better for row in catalogue.CATALOGUE.values()}


def test_metric_cards_name_the_function_of_every_continuation_metric():
    import hyperfit_tasks.metrics as metrics
    from hyperfit_tasks.metrics import copy_rate, corpus, mauve_score
    from hyperfit_tasks.tasks import continuation_scores

    documented = {}
    for row in table_rows(ROOT / "docs" / "metrics.md", "| task metric |"):
        functions = re.findall(r"`([a-z0-9_]+)`", row[1])
        assert functions and all(
            any(hasattr(module, name) for module in (metrics, copy_rate, corpus, mauve_score, continuation_scores))
            for name in functions
        ), row
        documented |= dict.fromkeys(metric_names(row[0]), functions)
    assert set(documented) == set(template_metrics("continuation"))
