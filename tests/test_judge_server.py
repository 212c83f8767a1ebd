"""The judge task through a real HTTP server, and judged preference paired in hyperfit-compare.

Two continuation runs of ``hyperfit_continuation_austen`` (two tiny random models) are judged by lm-eval's
``local-chat-completions`` model against a loopback server (tests/judge_server.py) that answers by a fixed rule;
hyperfit-compare then pairs the two judge runs by the prompt they judged. The expected numbers are worked out here
from the rule and the texts, not by the judge task's own scoring code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from judge_server import JudgeServer, always_a, garbage, higher_ttr, shown_continuations

from hyperfit_tasks.cli import compare as compare_cli
from hyperfit_tasks.cli import lm_eval as lm_eval_cli
from hyperfit_tasks.cli.tasks_path import task_configs_dir
from hyperfit_tasks.common.errors import HyperfitError
from hyperfit_tasks.metrics import type_token_ratio
from hyperfit_tasks.metrics.text_units import words

from conftest import build_tiny_lm
from helpers import evaluate, free_port

CONTINUATION = "hyperfit_continuation_austen"
JUDGE, LOGPROB = "hyperfit_judge", "hyperfit_judge_logprob"
METRICS = ("judge_pref_or_equal", "judge_win_rate", "judge_position_consistency", "judge_unparseable")


def save(output: dict, tracker) -> None:
    """Write an lm-eval output as its CLI does with ``--output_path --log_samples``: results and one samples file per
    task."""
    samples = output.pop("samples")
    tracker.save_results_aggregated(results=output, samples=samples)
    for task in output["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])


@pytest.fixture(scope="module")
def continuation_runs(tmp_path_factory, tiny_lm_path) -> dict[str, Path]:
    """``--output_path`` folders of the continuation task on 7 prompts: "base" (the session's tiny model) and
    "hyperfitted" (another seed), 16 greedy tokens each."""
    from lm_eval.loggers import EvaluationTracker

    root = tmp_path_factory.mktemp("continuations")
    models = {"base": tiny_lm_path, "hyperfitted": build_tiny_lm(root / "other_model", seed=1)}
    runs = {}
    for name, model in models.items():
        tracker = EvaluationTracker(output_path=str(root / name))
        output = evaluate(
            "hf",
            f"pretrained={model}",
            [CONTINUATION],
            limit=7,
            gen_kwargs="max_gen_toks=16",
            evaluation_tracker=tracker,
        )
        save(output, tracker)
        runs[name] = root / name
    return runs


def judge(server: JudgeServer, samples: Path, out: Path, tokenizer: Path, logprob: bool = False) -> dict:
    """``lm_eval --model local-chat-completions --apply_chat_template --tasks hyperfit_judge --log_samples`` of
    ``samples`` against ``server`` (``logprob``: ``--model local-completions --tasks hyperfit_judge_logprob``, the
    tiny model's tokenizer), in-process with only hyperfit's task folder indexed; its results dict."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    task = LOGPROB if logprob else JUDGE
    model_args = {"base_url": server.completions_url if logprob else server.chat_url, "model": "judge"}
    if logprob:
        model_args |= {"tokenizer_backend": "huggingface", "tokenizer": str(tokenizer)}
    metadata = model_args | {
        "samples": str(samples),
        "metric_tokenizer": str(tokenizer),
    }  # the CLI merges model_args in
    manager = TaskManager(include_path=[task_configs_dir()], include_defaults=False, metadata=metadata)
    tracker = EvaluationTracker(output_path=str(out))
    output = lm_eval.simple_evaluate(
        model="local-completions" if logprob else "local-chat-completions", model_args=model_args, tasks=[task],
        task_manager=manager, apply_chat_template=not logprob, bootstrap_iters=0, log_samples=True,
        evaluation_tracker=tracker,
    )  # fmt: skip
    results = output["results"][task]
    save(output, tracker)
    return results


def judge_samples(out: Path) -> list[dict]:
    (path,) = out.rglob("samples_hyperfit_judge*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def keys(out: Path) -> list[tuple[str, str]]:
    """The judged prompts of a judge run, in its samples' order."""
    return [(record["doc"]["judged_doc_hash"], record["doc"]["judged_prompt_hash"]) for record in judge_samples(out)]


def compare(capsys, base: Path, run: Path, report: Path) -> dict:
    """``hyperfit-compare BASE=base RUN=hyperfitted --out REPORT``: its table.json."""
    code = compare_cli.main([f"{base}=base", f"{run}=hyperfitted", "--out", str(report)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads((report / "table.json").read_text())


@pytest.fixture
def judge_server():
    """``judge_server(rule)`` starts a :class:`JudgeServer` answering by ``rule``; each one started stops after the
    test."""
    with contextlib.ExitStack() as servers:
        yield lambda rule: servers.enter_context(JudgeServer(rule))


# ---------------------------------------------------------------- the server itself


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


PROMPT = "Continuation A:\nthe the the the\n\nContinuation B:\nthe cat sat down\n\nWhich continuation is better?"


def test_server_answers_by_its_rule_and_records_requests(judge_server):
    server = judge_server(higher_ttr)
    chat = post(
        server.chat_url,
        {"model": "j", "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": PROMPT}]},
    )
    text = post(
        server.completions_url,
        {"model": "j", "prompt": [PROMPT, PROMPT.replace("the cat sat down", "the the the the")]},
    )
    assert chat["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "B"}, "finish_reason": "stop"}
    ]  # TTR 1/4 < 4/4
    assert [choice["text"] for choice in text["choices"]] == ["B", "equal"]
    assert [path for path, _ in server.requests] == ["/v1/chat/completions", "/v1/completions"]
    assert server.prompts()[0] == PROMPT
    assert shown_continuations(PROMPT) == ("the the the the", "the cat sat down")
    assert always_a(PROMPT) == "A" and garbage(PROMPT) not in ("A", "B", "equal")


# ---------------------------------------------------------------- a server that does not answer


@pytest.fixture
def cli(monkeypatch, capsys):
    """``hyperfit-lm-eval`` in-process: (exit status, last stderr line, seconds taken)."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))

    def run(*argv) -> tuple[int, str, float]:
        import logging

        for handler in logging.getLogger("lm_eval").handlers:  # made once per process: point it at this test's stderr
            if type(handler) is logging.StreamHandler:
                handler.stream = sys.stderr
        start = time.monotonic()
        code = lm_eval_cli.main([str(arg) for arg in argv])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return code, (err.strip().splitlines() or [""])[-1], time.monotonic() - start

    return run


def test_refused_connection_is_one_line_naming_the_url_before_any_task_is_built(cli, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1/chat/completions"  # nothing listens there
    code, line, seconds = cli(
        "--model", "local-chat-completions", "--model_args", f"base_url={url},model=judge", "--tasks", JUDGE,
        "--apply_chat_template",
        # the task would fail on this; the check comes first
        "--metadata", json.dumps({"samples": str(tmp_path / "not_built")}),
    )  # fmt: skip
    assert code == 1
    assert line == (
        f"hyperfit-lm-eval: error: cannot reach the server of --model local-chat-completions at {url} ([Errno 111] "
        "Connection refused): start it, or check base_url in --model_args"
    )
    assert seconds < 30  # lm-eval's parser and imports; no retries


def test_silent_server_is_reported_after_the_check_timeout():
    """A socket that accepts connections but never answers: lm-eval would wait ``timeout`` (300 s) per try."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1/chat/completions"
        args = argparse.Namespace(model="local-chat-completions", model_args={"base_url": url})
        start = time.monotonic()
        with pytest.raises(HyperfitError) as error:
            lm_eval_cli.check_api_server(args, seconds=0.5)
        assert time.monotonic() - start < 10
    assert str(error.value) == (
        f"cannot reach the server of --model local-chat-completions at {url} (no answer within 0.5 s): start it, or "
        "check base_url in --model_args"
    )


def test_check_passes_a_live_server_and_ignores_other_models(judge_server):
    server = judge_server(always_a)
    lm_eval_cli.check_api_server(
        argparse.Namespace(model="local-completions", model_args=f"base_url={server.completions_url},model=j")
    )
    assert server.requests == []  # a GET only (answered 405): no completion was asked for
    dead = f"http://127.0.0.1:{free_port()}/v1"
    lm_eval_cli.check_api_server(
        argparse.Namespace(model="hf", model_args={"pretrained": "x", "base_url": dead})
    )  # not an API model
    lm_eval_cli.check_api_server(
        argparse.Namespace(model="local-chat-completions", model_args={"model": "j"})
    )  # no base_url given


# ---------------------------------------------------------------- end to end


def test_always_a_judge_gives_half_and_no_difference(judge_server, continuation_runs, tiny_lm_path, tmp_path, capsys):
    """A judge that always answers A: the run's text wins in order 1 and loses in order 2 on every prompt, so
    preferred-or-equal and win rate are 1/2, consistency 0, unparseable 0 for both runs; the difference is 0."""
    outs = {name: tmp_path / f"judge_{name}" for name in continuation_runs}
    server = judge_server(always_a)
    results = {name: judge(server, continuation_runs[name], outs[name], tiny_lm_path) for name in continuation_runs}
    for name, values in results.items():
        prompts = len(judge_samples(outs[name]))
        assert prompts >= 4, name  # 7 prompts, less any empty continuation
        assert [values[f"{metric},none"] for metric in METRICS] == [0.5, 0.5, 0.0, 0.0], name
    # two requests per prompt, the run's continuation shown first, then the human one
    assert len(server.requests) == sum(len(judge_samples(out)) for out in outs.values()) * 2
    first = judge_samples(outs["base"])[0]["doc"]
    assert [shown_continuations(prompt) for prompt in server.prompts()[:2]] == [
        (first["continuation"], first["human"]), (first["human"], first["continuation"]),
    ]  # fmt: skip
    table = compare(capsys, outs["base"], outs["hyperfitted"], tmp_path / "report")
    shared = set(keys(outs["base"])) & set(keys(outs["hyperfitted"]))
    for metric in METRICS:
        cell = table["cells"]["hyperfitted"][f"{JUDGE}/{metric}"]
        assert cell["delta"] == 0.0 and cell["state"] == "not tested", metric
        assert (
            cell["untested_reason"] == f"the two runs' items are the same on all {len(shared)} pairs: nothing to test"
        )


def ttr_outcome(continuation: str, human: str) -> float:
    """The run's outcome under the higher-TTR rule, in either order: 1 win, 0.5 equal, 0 loss."""
    run, reference = type_token_ratio(words(continuation)), type_token_ratio(words(human))
    return 1.0 if run > reference else 0.5 if run == reference else 0.0


LOOP = " the" * 40  # TTR 1/40, and 1/n once cut to n words: below any human text's
DIVERSE = " " + " ".join(f"w{i}" for i in range(400))  # every word new: TTR 1, at least any human text's


@pytest.fixture(scope="module")
def controlled_runs(continuation_runs, tmp_path_factory) -> dict[str, Path]:
    """The base run's own samples records (lm-eval's documents and hashes) with every continuation replaced: "base"
    a loop of one word, "hyperfitted" all-new words, so the higher-TTR judge's verdicts are known in advance."""
    (path,) = continuation_runs["base"].rglob(f"samples_{CONTINUATION}_*.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    runs = {}
    for name, text in (("base", LOOP), ("hyperfitted", DIVERSE)):
        folder = tmp_path_factory.mktemp(f"controlled_{name}")
        rewritten = [record | {"resps": [[text]], "filtered_resps": [text]} for record in records]
        (folder / path.name).write_text("".join(json.dumps(record) + "\n" for record in rewritten))
        runs[name] = folder
    return runs


def test_ttr_judge_numbers_follow_from_the_texts(judge_server, controlled_runs, tiny_lm_path, tmp_path, capsys):
    """The higher-TTR rule does not depend on the order, so every prompt is consistent (1). The loop loses on all 7
    prompts (preferred or equal 0, win rate 0); the all-new words win, or tie with a human text without a repeated
    word (preferred or equal 1, win rate 1 or 1/2): the difference in preferred-or-equal is 1 on 7 of 7 pairs, exact
    p = 2 / 2**7 = 1/64, and Holm over the two cells that differ (it and win rate) gives 1/32: significant."""
    outs = {name: tmp_path / f"judge_{name}" for name in controlled_runs}
    server = judge_server(higher_ttr)
    results = {name: judge(server, controlled_runs[name], outs[name], tiny_lm_path) for name in controlled_runs}
    wins = {}
    for name, out in outs.items():
        records = judge_samples(out)
        assert len(records) == 7, name
        outcomes = [ttr_outcome(record["doc"]["continuation"], record["doc"]["human"]) for record in records]
        assert (outcomes == [0.0] * 7) if name == "base" else all(outcome > 0 for outcome in outcomes), name
        pref = [1.0 if outcome > 0 else 0.0 for outcome in outcomes]
        assert [record["judge_pref_or_equal"] for record in records] == pref
        assert [record["judge_win_rate"] for record in records] == outcomes
        values = results[name]
        assert values["judge_pref_or_equal,none"] == sum(pref) / 7
        assert values["judge_win_rate,none"] == pytest.approx(sum(outcomes) / 7)
        assert (values["judge_position_consistency,none"], values["judge_unparseable,none"]) == (1.0, 0.0)
        wins[name] = sum(outcomes) / 7
    assert keys(outs["base"]) == keys(outs["hyperfitted"])  # the same prompts, judged from two runs
    table = compare(capsys, outs["base"], outs["hyperfitted"], tmp_path / "report")
    for metric, delta in (("judge_pref_or_equal", 1.0), ("judge_win_rate", wins["hyperfitted"])):
        paired = table["paired"][JUDGE][metric]["hyperfitted"]
        assert (paired["documents"], paired["informative"], paired["exact"]) == (7, 7, True), metric
        assert (
            paired["delta"] == pytest.approx(delta) and paired["p_value"] == 1 / 64 and paired["p_holm"] == 1 / 32
        ), metric
        assert table["cells"]["hyperfitted"][f"{JUDGE}/{metric}"]["state"] == "significant", metric
    for metric in METRICS[2:]:
        assert table["cells"]["hyperfitted"][f"{JUDGE}/{metric}"]["delta"] == 0.0, metric


def test_logprob_judge_through_completions_gives_the_same_verdicts(
    judge_server, controlled_runs, tiny_lm_path, tmp_path
):
    """``hyperfit_judge_logprob`` through ``local-completions``: the server makes the higher-TTR answer the likely one
    after each context, so the verdicts are those of the generation test: the loop loses everywhere, the all-new
    words never lose; six scored answers per prompt, never unparseable."""
    from transformers import AutoTokenizer

    server = judge_server(higher_ttr)
    server.decode = AutoTokenizer.from_pretrained(tiny_lm_path).decode
    base = judge(server, controlled_runs["base"], tmp_path / "base", tiny_lm_path, logprob=True)
    other = judge(server, controlled_runs["hyperfitted"], tmp_path / "other", tiny_lm_path, logprob=True)
    assert [base[f"{metric},none"] for metric in METRICS] == [0.0, 0.0, 1.0, 0.0]
    assert (
        other["judge_pref_or_equal,none"],
        other["judge_position_consistency,none"],
        other["judge_unparseable,none"],
    ) == (1.0, 1.0, 0.0)
    assert len(server.requests) == 2 * 7 * 6 and all(body["echo"] for _, body in server.requests)


def test_garbage_judge_is_unparseable_through_the_cli(judge_server, cli, continuation_runs, tiny_lm_path, tmp_path):
    """Through ``hyperfit-lm-eval`` itself: every answer unparseable, so the unparseable share is 1 and the other
    three metrics have no parseable order (NaN, written as such by lm-eval)."""
    server = judge_server(garbage)
    code, line, _ = cli(
        "--model", "local-chat-completions", "--model_args", f"base_url={server.chat_url},model=judge",
        "--tasks", JUDGE, "--apply_chat_template", "--log_samples", "--bootstrap_iters", "0",
        "--output_path", tmp_path / "out",
        "--metadata", json.dumps({"samples": str(continuation_runs["base"]), "metric_tokenizer": str(tiny_lm_path)}),
    )  # fmt: skip
    assert code == 0, line
    (results,) = (tmp_path / "out").rglob("results_*.json")
    values = json.loads(results.read_text())["results"][JUDGE]
    assert values["judge_unparseable,none"] == 1.0
    assert all(math.isnan(values[f"{metric},none"]) for metric in METRICS[:3])
    assert len(server.requests) == 2 * len(judge_samples(tmp_path / "out"))
