"""hyperfit-compare on two judge runs: documents paired by the prompt they judge, not by lm-eval's own hashes.

A judge task's document holds the continuation it judges, so lm-eval's ``doc_hash``/``prompt_hash`` of one prompt
differ between the judgement of the base model's run and the hyperfitted model's; the document's
``judged_doc_hash``/``judged_prompt_hash`` (the continuation sample's hashes) are the same. The runs here are
written by hand in the layout lm-eval writes (results JSON, samples JSONL with two requests per document).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperfit_tasks.cli import compare as cli
from hyperfit_tasks.compare import build_leaderboard, load_results
from hyperfit_tasks.compare.paired import board_statistics, clipped, document_key, mean_test
from hyperfit_tasks.compare.results import CompareError, find_mismatches
from hyperfit_tasks.compare.samples import pick_examples

from helpers import results_dict, write_results

STAMP = "2025-01-02T03-04-05.000006"
TASK = "hyperfit_judge_austen"
AGGREGATIONS = {
    "judge_pref_or_equal": "nanmean",
    "judge_win_rate": "nanmean",
    "judge_position_consistency": "nanmean",
    "judge_unparseable": "mean",
}
HIGHER = {
    "judge_pref_or_equal": True,
    "judge_win_rate": True,
    "judge_position_consistency": None,
    "judge_unparseable": None,
}


def judge_record(prompt: int, side: str, items: dict[str, float]) -> dict:
    """A judge samples record of prompt ``prompt`` judging run ``side``'s continuation: its own hashes name the
    side."""
    continuation = f"{side} continuation of prompt {prompt}"
    return {
        "doc_id": prompt,
        "doc": {
            "task": "hyperfit_continuation_austen", "prompt": f"prompt {prompt}", "continuation": continuation,
            "human": f"human {prompt}", "tokens": 64, "judged_doc_hash": f"doc{prompt}",
            "judged_prompt_hash": f"prompt{prompt}",
        },
        "arguments": {
            "gen_args_0": {"arg_0": f"A: {continuation} B: human {prompt}"},
            "gen_args_1": {"arg_0": f"A: human {prompt} B: {continuation}"},
        },
        "resps": [["A"], ["A"]],
        "filtered_resps": ["A", "A"],
        "filter": "none",
        "doc_hash": f"{side}-doc{prompt}",
        "prompt_hash": f"{side}-prompt{prompt}",
        "target_hash": "t",
        **items,
    }  # fmt: skip


def write_judge_run(folder: Path, prompts: list[int], items: dict[str, list[float]], judge: str = "judge") -> Path:
    """Results and samples of ``TASK`` judging ``folder.name``'s continuations of ``prompts`` (items in that order)."""
    import numpy as np

    data = results_dict(
        {TASK: {metric: float(np.nanmean(values)) for metric, values in items.items()}},
        {m: HIGHER[m] for m in items},
        model=judge,
        gen_kwargs={"until": ["\n"], "do_sample": False, "max_gen_toks": 8},
    )
    config = data["configs"][TASK]
    config["metric_list"] = [
        {"metric": m, "aggregation": AGGREGATIONS[m], "higher_is_better": HIGHER[m]} for m in items
    ]
    config["metadata"]["samples"] = f"/runs/{folder.name}"
    data["n-samples"][TASK] = {"original": len(prompts), "effective": len(prompts)}
    data["task_hashes"] = {
        TASK: f"{folder.name}-hash"
    }  # the documents hold the judged continuations: differ by design
    data["config"] = {
        "model": "local-chat-completions",
        "model_args": f"base_url=http://127.0.0.1:9/v1/chat/completions,model={judge}",
    }
    write_results(folder, data, STAMP)
    records = [
        judge_record(prompt, folder.name, {m: values[i] for m, values in items.items()})
        for i, prompt in enumerate(prompts)
    ]
    (folder / f"samples_{TASK}_{STAMP}.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    return folder


# Ten prompts: the base model's continuation is preferred or equal on 3, the hyperfitted one's on those 3 and half of
# the other 7 (one order each). Win rate, consistency and unparseable share are the same in both runs.
BASE_PREF = [0.0] * 7 + [1.0] * 3
RUN_PREF = [0.5] * 7 + [1.0] * 3
SAME = {"judge_win_rate": [0.5] * 10, "judge_position_consistency": [1.0] * 10, "judge_unparseable": [0.0] * 10}


@pytest.fixture
def judge_runs(tmp_path) -> tuple[Path, Path]:
    """The base's and the hyperfitted run's judgements; the latter's samples file lists the prompts in reverse
    order."""
    base = write_judge_run(tmp_path / "base", list(range(10)), {"judge_pref_or_equal": BASE_PREF, **SAME})
    run = write_judge_run(
        tmp_path / "hyperfitted",
        list(range(9, -1, -1)),
        {"judge_pref_or_equal": RUN_PREF[::-1], **{m: v[::-1] for m, v in SAME.items()}},
    )
    return base, run


def test_document_key_is_the_judged_prompt_when_the_document_names_it():
    record = judge_record(3, "base", {})
    assert document_key(record) == ("doc3", "prompt3")
    assert document_key({"doc": {"text": "x"}, "doc_hash": "d", "prompt_hash": "p"}) == ("d", "p")
    assert document_key({"doc": {"judged_doc_hash": "d"}, "doc_hash": "d1", "prompt_hash": "p1"}) == (
        "d1",
        "p1",
    )  # half a key: not one
    assert document_key({"doc_id": 0}) is None


def test_judge_runs_pair_by_the_judged_prompt(judge_runs):
    """Paired by prompt: 7 differing pairs of +0.5, so the exact sign-flip p is 2 * 2**3 / 2**10 = 1/64 (the 7 signs
    all alike, the 3 zero pairs free); by file position the reversed run would give 10 differing pairs."""
    board = build_leaderboard(load_results(list(judge_runs), names=["base", "hyperfitted"]))
    result = board_statistics(board, permutations=1000)
    stat = result.stats[("hyperfitted", f"{TASK}/judge_pref_or_equal")]
    assert (
        stat.delta == pytest.approx(0.35)
        and stat.base_value == pytest.approx(0.3)
        and stat.run_value == pytest.approx(0.65)
    )
    assert (stat.documents, stat.informative, stat.exact) == (10, 7, True)
    assert stat.p_value == pytest.approx(1 / 64) and stat.p_holm == pytest.approx(1 / 64)  # the only testable cell
    assert stat.significant and 0 < stat.ci_low < 0.35 < stat.ci_high <= 0.7  # clipped: the run's value is at most 1
    reference = clipped(mean_test(BASE_PREF, RUN_PREF, 1000, result.seed), "judge_pref_or_equal")
    assert (stat.ci_low, stat.ci_high) == (reference.ci_low, reference.ci_high)
    for metric in SAME:
        assert result.stats[("hyperfitted", f"{TASK}/{metric}")].untested_reason == (
            "the two runs' items are the same on all 10 pairs: nothing to test"
        )
    assert find_mismatches(board.runs) == []  # task_hashes differ by design and are not a setting here


def test_compare_cli_table_of_judge_runs(judge_runs, tmp_path, capsys):
    base, run = judge_runs
    code = cli.main([f"{base}=base", f"{run}=hyperfitted", "--out", str(tmp_path / "report"), "--examples", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = json.loads((tmp_path / "report" / "table.json").read_text())
    key = f"{TASK}/judge_pref_or_equal"
    cell = table["cells"]["hyperfitted"][key]
    assert (
        cell["value"] == pytest.approx(0.65)
        and cell["delta"] == pytest.approx(0.35)
        and cell["state"] == "significant"
    )
    paired = table["paired"][TASK]["judge_pref_or_equal"]["hyperfitted"]
    assert paired["p_value"] == pytest.approx(1 / 64) and paired["documents"] == 10 and paired["informative"] == 7
    assert table["cells"]["hyperfitted"][f"{TASK}/judge_win_rate"]["state"] == "not tested"
    assert "differs" not in captured.err  # no setting flagged: the two judgements are comparable
    assert (
        "A: base continuation of prompt 0 B: human 0" in (tmp_path / "report" / "index.html").read_text()
    )  # the example: the judge's prompt


def test_judge_runs_sharing_part_of_the_prompts(tmp_path):
    base = write_judge_run(tmp_path / "base", list(range(10)), {"judge_pref_or_equal": BASE_PREF, **SAME})
    run = write_judge_run(tmp_path / "other", list(range(3, 13)), {"judge_pref_or_equal": [1.0] * 10, **SAME})
    result = board_statistics(build_leaderboard(load_results([base, run], names=["base", "other"])), permutations=1000)
    assert (
        f"{TASK}: other and base share 7 of 10 and 10 documents: its differences, intervals and values are over the 7 "
        "shared ones "
        "(the baseline's row shows all of its own)" in result.notes
    )
    stat = result.stats[("other", f"{TASK}/judge_pref_or_equal")]
    assert (stat.documents, stat.informative, stat.base_value, stat.delta) == (
        7,
        4,
        pytest.approx(3 / 7),
        pytest.approx(4 / 7),
    )


def test_judge_runs_of_continuation_runs_without_a_shared_prompt(tmp_path):
    base = write_judge_run(tmp_path / "base", list(range(10)), {"judge_pref_or_equal": BASE_PREF, **SAME})
    run = write_judge_run(tmp_path / "other", list(range(10, 20)), {"judge_pref_or_equal": BASE_PREF, **SAME})
    with pytest.raises(CompareError) as error:
        board_statistics(build_leaderboard(load_results([base, run], names=["base", "other"])), permutations=100)
    assert str(error.value) == (
        f"other and base share no judged prompt in {TASK} (the continuation runs they judge, their --metadata "
        "samples, have different prompts or documents; models with different tokenizers cut different 32-token "
        "prompts unless both pass the same --metadata prompt_tokenizer): compare runs that judge continuation runs of "
        "the same task settings"
    )


def test_a_different_judge_is_a_mismatch_and_task_hashes_still_count_elsewhere(tmp_path):
    base = write_judge_run(tmp_path / "base", list(range(10)), {"judge_pref_or_equal": BASE_PREF}, judge="judge-a")
    run = write_judge_run(tmp_path / "other", list(range(10)), {"judge_pref_or_equal": RUN_PREF}, judge="judge-b")
    runs = load_results([base, run])
    assert find_mismatches(runs) == [
        f'{TASK}: judge (--model, model_args model) differs: "local-chat-completions judge-a" in judge-a; '
        '"local-chat-completions judge-b" in judge-b'
    ]
    for run in runs:  # the same files as a task without a judge_* metric: differing task_hashes are a mismatch again
        run.data["results"][TASK] = {"acc,none": 0.5}
    assert (
        f'{TASK}: documents/prompts (task_hashes) differs: "base-hash" in judge-a; "other-hash" in judge-b'
        in find_mismatches(runs)
    )


def test_examples_pair_judge_records_by_the_judged_prompt():
    base = [judge_record(prompt, "base", {}) | {"doc_id": prompt} for prompt in range(3)]
    other = [
        judge_record(prompt, "other", {}) | {"doc_id": 2 - prompt, "filtered_resps": [f"B{prompt}", "A"]}
        for prompt in range(3)
    ]
    examples = pick_examples(TASK, {"base": base, "other": other}, ["base", "other"], "base", 2)
    assert [(example.doc_id, example.continuations) for example in examples] == [
        (0, {"base": "A", "other": "B0"}),
        (1, {"base": "A", "other": "B1"}),
    ]
