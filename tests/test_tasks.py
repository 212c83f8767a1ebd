"""hyperfit's lm-eval tasks: prompt cutting, data loading, scoring with known answers, degenerate
inputs, the CLI wrapper, and one end-to-end lm-eval run of both groups on the tiny model."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperfit_tasks.cli.tasks_path import task_configs_dir
from hyperfit_tasks.metrics.corpus import distinct_1, distinct_2, mean_segmental_ttr, self_bleu_words
from hyperfit_tasks.metrics.text_units import words
from hyperfit_tasks.tasks.continuation_data import continuation_docs, perplexity_docs, split_by_tokens, split_by_words
from hyperfit_tasks.tasks.continuation_scores import process_results
from hyperfit_tasks.tasks.next_word import next_word_docs
from hyperfit_tasks.tasks.next_word import process_results as next_word_results

from helpers import CONTINUATION_METRICS, PERPLEXITY_METRICS, TEMPLATE, build_own_task, continuations, evaluate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def word_tokenizer(tmp_path_factory) -> str:
    """A tokenizer folder whose tokens are exactly the whitespace-separated words (for hand counts)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = ["[UNK]", "a", "b", "c", "x"] + [f"w{i}" for i in range(32)]
    tokenizer = Tokenizer(models.WordLevel({word: i for i, word in enumerate(vocabulary)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = tmp_path_factory.mktemp("word_tokenizer")
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]").save_pretrained(folder)
    return str(folder)


def write_jsonl(path: Path, texts: list[str], field: str = "text") -> Path:
    path.write_text("".join(json.dumps({field: text}) + "\n" for text in texts))
    return path


# --- prompts --------------------------------------------------------------------------------------


def test_split_by_words_keeps_the_original_characters():
    text = "One  two,\nthree   four five.  "
    assert split_by_words(text, 3) == ("One  two,\nthree", "   four five.  ")
    assert split_by_words(text, 5) is None  # nothing left to continue
    assert split_by_words("", 2) is None


def test_split_by_tokens_cuts_at_a_token_boundary(tiny_lm_path, english_text):
    from transformers import AutoTokenizer

    text = english_text[:400]
    prompt, rest = split_by_tokens(text, 32, str(tiny_lm_path))
    ids = AutoTokenizer.from_pretrained(tiny_lm_path)(text, add_special_tokens=False)["input_ids"]
    assert prompt + rest == text
    assert AutoTokenizer.from_pretrained(tiny_lm_path)(prompt, add_special_tokens=False)["input_ids"] == ids[:32]
    assert split_by_tokens("too short", 32, str(tiny_lm_path)) is None


# --- data -----------------------------------------------------------------------------------------


def test_continuation_docs_from_a_local_file(tmp_path):
    long_text = "  " + " ".join(f"word{i}" for i in range(40))
    path = write_jsonl(tmp_path / "texts.jsonl", [long_text, "far too short", ""], field="body")
    with pytest.warns(UserWarning, match="skipped 2 of 3 texts"):
        docs = continuation_docs(
            data_files=str(path), text_field="body", prompt_words=24, reference_words=10, version=1.0
        )
    (doc,) = docs["test"]
    assert doc["prompt"] == " ".join(f"word{i}" for i in range(24))
    assert doc["reference"] == " " + " ".join(f"word{i}" for i in range(24, 34))


def test_prompt_tokenizer_model_uses_the_evaluated_model(tmp_path, tiny_lm_path, english_text):
    path = write_jsonl(tmp_path / "texts.jsonl", [english_text[:600]])
    docs = continuation_docs(
        data_files=str(path), prompt_tokenizer="model", prompt_tokens=32, pretrained=str(tiny_lm_path)
    )
    assert docs["test"][0]["prompt"] == split_by_tokens(english_text[:600].strip(), 32, str(tiny_lm_path))[0]
    with pytest.raises(ValueError, match="needs the model in --model_args"):
        continuation_docs(data_files=str(path), prompt_tokenizer="model")


def test_shipped_tasks_prompt_with_the_models_first_32_tokens(tmp_path, tiny_lm_path, english_text):
    data = write_jsonl(tmp_path / "texts.jsonl", [english_text[:600]])
    model = str(tiny_lm_path)
    task = build_own_task(tmp_path, data, {"pretrained": model, "metric_tokenizer": model})
    assert [doc["prompt"] for doc in task.test_docs()] == [split_by_tokens(english_text[:600].strip(), 32, model)[0]]


def test_perplexity_docs_keep_whole_texts(tmp_path):
    path = write_jsonl(tmp_path / "texts.jsonl", ["First text.", "  ", "Second text."])
    with pytest.warns(UserWarning, match="skipped 1 of 3"):
        docs = perplexity_docs(data_files=str(path))
    assert docs["test"]["text"] == ["First text.", "Second text."]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"data_files": "/no/such/file.jsonl"},
            "data file /no/such/file.jsonl does not exist: fix data_files \\(in --metadata or dataset_kwargs\\)",
        ),
        ({}, "exactly one text source"),
        ({"data_files": "texts.jsonl", "corpus": "austen"}, "exactly one text source"),
        (
            {"data_files": "texts.jsonl", "text_field": "story"},
            "texts.jsonl has no column 'story' \\(columns: text\\)",
        ),
        ({"data_files": "texts.xml"}, "must share one of the extensions"),
        ({"data_files": "texts.jsonl", "detokenize": "latex"}, "unknown detokenize"),
    ],
)
def test_bad_data_arguments_fail_with_one_line(tmp_path, monkeypatch, kwargs, message):
    monkeypatch.chdir(tmp_path)  # relative data_files resolve against the working directory
    write_jsonl(tmp_path / "texts.jsonl", ["some text " * 20])
    (tmp_path / "texts.xml").write_text("<texts/>")
    with pytest.raises((ValueError, FileNotFoundError), match=message) as error:
        continuation_docs(**kwargs)
    assert "\n" not in str(error.value)


def test_wikitext_detokenizer_is_lm_evals(tmp_path):
    path = write_jsonl(
        tmp_path / "wiki.jsonl", [" = Title = \n The 1 @,@ 000 @-@ year war , it said . " + "more words " * 30]
    )
    docs = continuation_docs(data_files=str(path), detokenize="wikitext", prompt_words=8)
    assert docs["test"][0]["prompt"] == "= Title =\nThe 1,000-year war, it said."


def test_next_word_docs_and_results(tmp_path):
    path = write_jsonl(tmp_path / "texts.jsonl", ["  a b c  d\ne f g", "x y"])
    with pytest.warns(UserWarning, match="skipped 1 of 2 texts"):
        docs = next_word_docs(data_files=str(path), prompt_words=3, agreement_words=3)
    assert list(docs["test"]) == [
        {"context": "a b c", "next_word": "  d", "position": 0},
        {"context": "a b c  d", "next_word": "\ne", "position": 1},
        {"context": "a b c  d\ne", "next_word": " f", "position": 2},
    ]
    assert next_word_results({}, [(-2.5, True)]) == {"greedy_agreement": 1.0, "next_word_perplexity": -2.5}


def test_texts_too_short_for_a_prompt_fail_with_one_line(tmp_path):
    path = write_jsonl(tmp_path / "texts.jsonl", ["only four words here"])
    with pytest.raises(ValueError, match="no usable text in .* give longer texts"):
        continuation_docs(data_files=str(path))


# --- scoring: known answers -----------------------------------------------------------------------


def score(continuation: str, tokenizer: str, **settings) -> dict:
    return process_results({"reference": "the human text"}, [continuation], metric_tokenizer=tokenizer, **settings)


def test_process_results_hand_computed(word_tokenizer):
    scores = score(" a b a b c", word_tokenizer, model_tokenizer=word_tokenizer, max_gen_toks=8)
    # tokens a b a b c: 3 types / 5 tokens; bigrams ab ba ab bc (3 unique of 4); trigrams aba bab abc (all unique)
    assert scores["ttr"] == pytest.approx(3 / 5)
    assert scores["ttr_last96"] == pytest.approx(3 / 5)
    assert scores["rep_2"] == pytest.approx(1 / 4)
    assert scores["rep_3"] == 0.0
    assert scores["rep_4"] == 0.0  # abab, babc
    assert scores["diversity"] == pytest.approx(3 / 4)
    assert scores["token_repetition"] == pytest.approx(2 / 5)  # the 2nd a and the 2nd b
    assert scores["longest_repeated_span"] == 2.0  # "a b"
    assert scores["continuation_tokens"] == 5.0
    assert scores["stopped_early"] == 1.0  # 5 tokens < max_gen_toks 8
    assert scores["ttr_words"] == pytest.approx(3 / 5)
    assert scores["ttr_by_position"] == [] and math.isnan(scores["ttr_first_window"])
    assert scores["mauve"] == (" a b a b c", "the human text", "minilm")
    assert all(scores[f"distinct_{n}"] == " a b a b c" for n in range(1, 5)) and scores["self_bleu"] == " a b a b c"


def test_process_results_windows(word_tokenizer):
    text = " ".join(f"w{i}" for i in range(32)) + " x" * 32 + " a" * 8  # 72 tokens: 2 full windows of 32
    scores = score(text, word_tokenizer, model_tokenizer=word_tokenizer, max_gen_toks=72)
    assert scores["ttr_by_position"] == [1.0, pytest.approx(1 / 32)]
    assert scores["ttr_first_window"] == 1.0 and scores["ttr_last_window"] == pytest.approx(1 / 32)
    assert scores["ttr"] == pytest.approx(34 / 72) and scores["ttr_last96"] == pytest.approx(34 / 72)
    assert scores["stopped_early"] == 0.0  # exactly max_gen_toks tokens: ran to the limit
    assert scores["longest_repeated_span"] == 31.0  # x * 31 (overlapping) is the longest repeat
    assert math.isnan(score(text, word_tokenizer)["stopped_early"])  # evaluated model unknown


def test_ttr_last96_looks_at_the_last_96_tokens(word_tokenizer):
    scores = score(" ".join(["x"] * 100 + [f"w{i}" for i in range(32)]), word_tokenizer)
    assert scores["ttr_last96"] == pytest.approx(33 / 96)
    assert scores["ttr"] == pytest.approx(33 / 132)


def test_degenerate_continuations_never_crash(word_tokenizer, tiny_lm_path):
    empty = score("", word_tokenizer, model_tokenizer=word_tokenizer, max_gen_toks=4)
    for name in ("ttr", "ttr_last96", "ttr_words", "rep_2", "rep_4", "diversity", "token_repetition"):
        assert math.isnan(empty[name]), name
    assert (
        empty["continuation_tokens"] == 0.0 and empty["longest_repeated_span"] == 0.0 and empty["stopped_early"] == 1.0
    )
    short = score(" a b", word_tokenizer)  # shorter than n for rep_3 / rep_4
    assert short["rep_2"] == 0.0 and math.isnan(short["rep_3"]) and math.isnan(short["diversity"])
    foreign = score(" naïve café — 東京 🙂 naïve", str(tiny_lm_path))  # byte-level BPE: any text has tokens
    assert foreign["continuation_tokens"] > 0 and 0 < foreign["ttr"] < 1
    assert foreign["ttr_words"] == pytest.approx(5 / 6)  # naïve café — 東京 🙂 naïve


def test_words_are_nltk_wordpunct():
    assert words("Don't stop -- 3.5 km!") == ["Don", "'", "t", "stop", "--", "3", ".", "5", "km", "!"]


# --- aggregations ---------------------------------------------------------------------------------


def test_corpus_aggregations_hand_computed():
    texts = ["a b c", "a b d", ""]
    assert distinct_1(texts) == pytest.approx(4 / 6)
    assert distinct_2(texts) == pytest.approx(3 / 4)  # ab bc ab bd
    assert math.isnan(distinct_2([" ", "a"]))
    assert mean_segmental_ttr([[1.0, 0.5], [], [0.25]]) == pytest.approx((0.75 + 0.25) / 2)
    assert math.isnan(mean_segmental_ttr([[], []]))


def test_self_bleu_words_matches_nltk():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    texts = ["the cat sat on the mat today", "the dog sat on the mat", "a cat lay on a rug, quietly"]
    split = [words(text) for text in texts]
    expected = [
        sentence_bleu(split[:i] + split[i + 1 :], split[i], smoothing_function=SmoothingFunction().method1)
        for i in range(len(split))
    ]
    assert self_bleu_words(texts) == pytest.approx(sum(expected) / len(expected))
    with pytest.warns(UserWarning, match="at least 2 texts"):
        assert math.isnan(self_bleu_words(["one single continuation"]))


# --- CLI wrapper ----------------------------------------------------------------------------------


# (tests/test_lm_eval_cli.py: our task folder joined with the user's --include_path, and its errors)


def test_task_settings_are_checked_before_generation(tmp_path, word_tokenizer, english_text):
    data = write_jsonl(tmp_path / "texts.jsonl", [english_text[:500]])
    with pytest.raises(ValueError, match="cannot load tokenizer '/no/such/tokenizer'"):
        build_own_task(tmp_path / "a", data, {"metric_tokenizer": "/no/such/tokenizer", "prompt_tokenizer": None})
    with pytest.raises(
        ValueError, match="prompt tokenizer: cannot load tokenizer '/no/such/model'.*prompt_tokenizer\": null"
    ):
        build_own_task(tmp_path / "b", data, {"metric_tokenizer": word_tokenizer, "model": "/no/such/model"})
    with pytest.warns(UserWarning, match="stopped_early will be NaN"):  # e.g. an API model name, prompts cut by words
        task = build_own_task(
            tmp_path / "c",
            data,
            {"metric_tokenizer": word_tokenizer, "model": "/no/such/model", "prompt_tokenizer": None},
        )
    assert task.scoring_settings() == {
        "metric_tokenizer": word_tokenizer,
        "model_tokenizer": None,
        "max_gen_toks": 256,
        "mauve_featurizer": "minilm",
        "copy_k": 6,
        "training_reference": {"training_data": "", "tokenizer": ""},
    }
    task.set_config(key="generation_kwargs", value={"max_gen_toks": 96}, update=True)  # what --gen_kwargs does
    assert task.scoring_settings()["max_gen_toks"] == 96


# --- end to end -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def domain_files(tmp_path_factory, english_text) -> dict[str, Path]:
    """Small eval / heldout jsonl files standing in for the offline corpora."""
    folder = tmp_path_factory.mktemp("corpora")
    paragraphs = [p for p in english_text.split("\n\n") if len(p.split()) > 60]
    return {
        "eval": write_jsonl(folder / "eval.jsonl", paragraphs[:5]),
        "heldout": write_jsonl(folder / "heldout.jsonl", paragraphs[5:9]),
    }


@pytest.mark.slow
def test_both_groups_end_to_end(tiny_lm_path, domain_files, tmp_path, monkeypatch):
    import lm_eval
    from lm_eval.tasks import TaskManager

    import hyperfit_tasks.assets

    requested = []

    def fake_corpus_path(domain: str, split: str) -> Path:
        requested.append((domain, split))
        return domain_files[split]

    monkeypatch.setattr(hyperfit_tasks.assets, "corpus_path", fake_corpus_path)
    own = tmp_path / "own_tasks"
    own.mkdir()
    (own / "my_continuation.yaml").write_text(
        f"task: my_continuation\ninclude: {TEMPLATE}\ndataset_kwargs:\n  data_files: {domain_files['eval']}\n"
    )
    model = str(tiny_lm_path)
    manager = TaskManager(
        include_path=[task_configs_dir(), str(own)],
        # word-cut prompts: with 32-token prompts this random model emits one-word texts (distinct-2 undefined)
        metadata={"pretrained": model, "metric_tokenizer": model, "mauve_featurizer": model, "prompt_tokenizer": None},
    )
    output = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model}",
        tasks=["hyperfit_continuation", "hyperfit_perplexity", "hyperfit_next_word", "my_continuation"],
        task_manager=manager,
        gen_kwargs="max_gen_toks=40",
        limit=4,
        device="cpu",
        batch_size=4,
        log_samples=True,
        bootstrap_iters=0,
    )
    results = output["results"]
    assert sorted(set(requested)) == [
        ("austen", "eval"),
        ("austen", "heldout"),
        ("pydoc", "eval"),
        ("pydoc", "heldout"),
    ]
    for task in ("hyperfit_continuation_austen", "hyperfit_continuation_pydoc", "my_continuation"):
        for metric in CONTINUATION_METRICS:
            assert math.isfinite(results[task][f"{metric},none"]), (task, metric)
        assert output["n-samples"][task]["effective"] == 4
    for metric in ("ttr", "ttr_last96", "rep_4", "stopped_early"):
        assert math.isfinite(results["hyperfit_continuation"][f"{metric},none"])
    for task in ("hyperfit_perplexity", "hyperfit_perplexity_austen", "hyperfit_perplexity_pydoc"):
        for metric in PERPLEXITY_METRICS:
            assert math.isfinite(results[task][f"{metric},none"]) and results[task][f"{metric},none"] > 0
    for task in ("hyperfit_next_word", "hyperfit_next_word_austen", "hyperfit_next_word_pydoc"):
        assert 0 <= results[task]["greedy_agreement,none"] <= 1
    assert results["hyperfit_next_word_austen"]["next_word_perplexity,none"] > 1
    assert output["higher_is_better"]["hyperfit_continuation_austen"]["ttr"] is True
    assert output["higher_is_better"]["hyperfit_continuation_austen"]["self_bleu"] is False

    sample = output["samples"]["hyperfit_continuation_austen"][0]
    context, generation_kwargs = sample["arguments"][0]
    assert generation_kwargs["until"] == [] and generation_kwargs["max_gen_toks"] == 40
    assert len(context.split()) == 24 and context == split_by_words(context + sample["target"], 24)[0]
    assert isinstance(sample["ttr_by_position"], list) and len(sample["ttr_by_position"]) >= 1
    # stopped_early is recomputed from the logged continuation with the evaluated model's tokenizer
    assert (
        sample["stopped_early"]
        == score(sample["filtered_resps"][0], model, model_tokenizer=model, max_gen_toks=40)["stopped_early"]
    )
    config = output["configs"]["hyperfit_continuation_austen"]["metadata"]
    assert config["prompt_tokenizer"] is None and config["prompt_words"] == 24 and config["mauve_featurizer"] == model


@pytest.mark.slow
def test_top_p_baseline_samples_the_same_prompts_reproducibly(tiny_lm_path, domain_files, monkeypatch):
    import hyperfit_tasks.assets

    monkeypatch.setattr(hyperfit_tasks.assets, "corpus_path", lambda domain, split: domain_files[split])
    greedy, sampled = "hyperfit_continuation_austen", "hyperfit_continuation_top_p_austen"

    def run(tasks: list[str], seed: int) -> dict:
        return evaluate(
            "hf", f"pretrained={tiny_lm_path}", tasks, limit=3, gen_kwargs="max_gen_toks=16", torch_random_seed=seed
        )

    first, again, other_seed = run([greedy, sampled], 1234), run([sampled], 1234), run([sampled], 99)
    prompts = {task: [sample["arguments"][0][0] for sample in first["samples"][task]] for task in (greedy, sampled)}
    assert prompts[sampled] == prompts[greedy] and len(prompts[greedy]) == 3  # the same prompts
    generation_kwargs = first["samples"][sampled][0]["arguments"][0][1]
    assert generation_kwargs["do_sample"] is True and generation_kwargs["max_gen_toks"] == 16
    assert (generation_kwargs["top_p"], generation_kwargs["temperature"], generation_kwargs["top_k"]) == (0.9, 0.7, 50)
    # it samples: every continuation differs from greedy decoding of the same prompt
    assert all(a != b for a, b in zip(continuations(first, sampled), continuations(first, greedy)))
    # same seed: same text (greedy tasks in the run draw no random numbers)
    assert continuations(again, sampled) == continuations(first, sampled)
    assert continuations(other_seed, sampled) != continuations(first, sampled)
    assert math.isfinite(first["results"][sampled]["ttr,none"])


@pytest.mark.slow
def test_hyperfit_lm_eval_cli_from_outside_the_repo(tiny_lm_path, domain_files, tmp_path):
    """The console script, run from another directory, loads a user's task built on our template
    (every ``!function`` hook resolves by import in a fresh process) and generates; ``--predict_only``
    skips scoring, whose 100,000-draw bootstrap the CLI cannot turn off (scoring: test above)."""
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "mine.yaml").write_text(
        f"task: mine\ninclude: {TEMPLATE}\ndataset_kwargs:\n  data_files: {domain_files['eval']}\n"
    )
    command = [
        str(Path(sys.executable).parent / "hyperfit-lm-eval"), "--model", "hf", "--model_args",
        f"pretrained={tiny_lm_path}", "--device", "cpu", "--include_path", str(tmp_path / "tasks"), "--tasks", "mine",
        "--limit", "2", "--gen_kwargs", "max_gen_toks=8", "--output_path", str(tmp_path / "out"), "--predict_only",
        "--metadata", json.dumps({"metric_tokenizer": str(tiny_lm_path)}),
    ]  # fmt: skip
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    subprocess.run(command, cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    (samples_file,) = (tmp_path / "out").rglob("samples_mine_*.jsonl")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert len(samples) == 2
    for sample in samples:
        prompt = sample["doc"]["prompt"]  # the model's first 32 tokens: --model_args reach the task metadata
        assert prompt == split_by_tokens(prompt + sample["doc"]["reference"], 32, str(tiny_lm_path))[0]
        assert sample["arguments"]["gen_args_0"]["arg_0"] == prompt
        assert isinstance(sample["resps"][0][0], str)


@pytest.mark.slow
def test_never_nan_metrics_get_lm_evals_closed_form_stderr(tiny_lm_path, domain_files, monkeypatch):
    """``mean`` metrics: same value as ``nanmean`` would give, stderr = the sample standard error (no bootstrap)."""
    import numpy as np
    import scipy.stats

    import hyperfit_tasks.assets

    monkeypatch.setattr(hyperfit_tasks.assets, "corpus_path", lambda domain, split: domain_files[split])
    task = "hyperfit_continuation_austen"
    output = evaluate(
        "hf", f"pretrained={tiny_lm_path}", [task], limit=4, gen_kwargs="max_gen_toks=24", bootstrap_iters=10
    )
    aggregations = {entry["metric"]: entry["aggregation"] for entry in output["configs"][task]["metric_list"]}
    never_nan = ("longest_repeated_span", "continuation_tokens", "longest_training_span", "training_overlap_over_10")
    assert {aggregations[metric] for metric in never_nan} == {"mean"}
    assert (
        aggregations["ttr"] == aggregations["ttr_first_window"] == "nanmean"
    )  # these can be NaN (empty / short texts)
    for metric in ("longest_repeated_span", "continuation_tokens"):  # the copy metrics need training data
        items = [sample[metric] for sample in output["samples"][task]]
        assert output["results"][task][f"{metric},none"] == pytest.approx(np.nanmean(items))
        assert output["results"][task][f"{metric}_stderr,none"] == pytest.approx(scipy.stats.sem(items))
