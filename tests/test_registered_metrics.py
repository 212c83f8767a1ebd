"""hyperfit's metrics in lm-eval's registry: a task of the test suite's own (tests/data/own_tasks, no
``process_results``) lists them by name and gets the values of ``hyperfit_continuation_custom`` on the
same continuations."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest

from hyperfit_tasks.cli.tasks_path import task_configs_dir
from hyperfit_tasks.metrics import catalogue
from hyperfit_tasks.tasks import registered_metrics
from hyperfit_tasks.tasks.continuation_data import continuation_docs

OWN_TASKS = Path(__file__).resolve().parent / "data" / "own_tasks"
SHARED = [
    "ttr", "ttr_last96", "ttr_first_window", "ttr_last_window", "ttr_by_position", "ttr_words",
    "rep_2", "rep_3", "rep_4", "diversity", "token_repetition", "longest_repeated_span",
    "continuation_tokens", "distinct_1", "distinct_2", "distinct_3", "distinct_4", "self_bleu", "mauve",
]  # fmt: skip


def test_registering_again_or_reloading_keeps_the_names():
    from lm_eval.api.registry import get_metric, get_metric_aggregation, is_higher_better

    registered_metrics.register()
    importlib.reload(registered_metrics)  # a second module object: same names, no ValueError
    assert get_metric("hyperfit_rep_2")(references=["x"], predictions=["a b a b"]) == pytest.approx(
        catalogue.find("rep_2").item(catalogue.Continuation("a b a b"))
    )
    assert get_metric_aggregation("hyperfit_self_bleu") is catalogue.find("self_bleu").aggregation
    assert is_higher_better("hyperfit_ttr_last96") is True and is_higher_better("hyperfit_rep_4") is False


@pytest.mark.slow
def test_own_task_lists_registered_metrics_and_matches_hyperfit_continuation(
    tmp_path, monkeypatch, tiny_lm_path, english_text
):
    import lm_eval
    from lm_eval.tasks import TaskManager

    monkeypatch.chdir(tmp_path)  # the own task reads own_docs.jsonl from the working directory
    texts = [p for p in english_text.split("\n\n") if len(p.split()) > 60][:4]
    (tmp_path / "texts.jsonl").write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    # the same prompt/reference pairs as hyperfit_continuation_custom builds from texts.jsonl
    docs = continuation_docs(data_files="texts.jsonl", prompt_tokenizer=None)["test"]
    (tmp_path / "own_docs.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    model = str(tiny_lm_path)
    manager = TaskManager(
        include_path=[task_configs_dir(), str(OWN_TASKS)],
        include_defaults=False,  # lm-eval's own ~14,000 task files are not needed here (10-20 s to index)
        metadata={"pretrained": model, "data_files": "texts.jsonl", "prompt_tokenizer": None},
    )
    output = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model}", tasks=["own_registered_metrics", "hyperfit_continuation_custom"],
        task_manager=manager, gen_kwargs="max_gen_toks=48", device="cpu", batch_size=4, log_samples=True,
        bootstrap_iters=0,
    )  # fmt: skip

    def generated(task: str) -> list[str]:
        return [
            sample["resps"][0][0] for sample in sorted(output["samples"][task], key=lambda sample: sample["doc_id"])
        ]

    assert generated("own_registered_metrics") == generated("hyperfit_continuation_custom")
    assert len(generated("own_registered_metrics")) == 4
    own, ours = output["results"]["own_registered_metrics"], output["results"]["hyperfit_continuation_custom"]
    for name in SHARED:
        assert math.isfinite(own[f"hyperfit_{name},none"]), name
        assert own[f"hyperfit_{name},none"] == pytest.approx(ours[f"{name},none"], rel=1e-12, abs=1e-12), name
    assert output["higher_is_better"]["own_registered_metrics"]["hyperfit_self_bleu"] is False
