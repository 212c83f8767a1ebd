"""The judge tasks (``hyperfit_judge``, ``hyperfit_judge_logprob``): their documents from a run's samples, the parsing
of answers, the per-prompt items of the two orders, and both variants end to end through lm-eval with a tiny judge."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hyperfit_tasks.tasks.judge_data import judge_docs
from hyperfit_tasks.tasks.judge_scores import judge_items, outcomes, parse_answer, sample_outcomes
from hyperfit_tasks.tasks.judge_task import load_template, render

from helpers import evaluate

STAMP, LATER = "2025-01-02T03-04-05.000006", "2025-02-02T03-04-05.000006"
NAN = math.nan
CONTINUATION = " the same words again and again and again and again and again and again and again and again and again"
HUMAN = (" a new sentence begins here, and the story goes on with other words, the people in it walk to the town and"
         " talk about the weather for a long time before anyone says anything about the letter")  # fmt: skip


def record(doc_id: int, continuation: str, reference: str | None = HUMAN, prompt: str = "Once upon a time") -> dict:
    """One logged sample of a continuation task, as lm-eval writes it (``reference`` None: a task without one)."""
    doc = {"prompt": prompt} | ({"reference": reference} if reference is not None else {"text": "x"})
    return {"doc_id": doc_id, "doc": doc, "filtered_resps": [continuation], "resps": [[continuation]],
            "filter": "none", "doc_hash": f"doc{doc_id}", "prompt_hash": f"prompt{doc_id}"}  # fmt: skip


def write_samples(folder: Path, task: str, records: list[dict], stamp: str = STAMP) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples_{task}_{stamp}.jsonl"
    path.write_text("".join(json.dumps(one) + "\n" for one in records))
    return path


# the shipped metric tokenizer (SmolLM2's) cuts these texts into one token per word or comma
CUT_HUMAN = (
    "a new sentence begins here, and the story goes on with other words, the people in it walk"  # its first 20 tokens
)


def test_documents_cut_both_continuations_to_the_shorter_length_and_keep_the_judged_hashes(tmp_path):
    run = tmp_path / "out" / "model"
    write_samples(run, "cont_a", [record(1, CONTINUATION), record(0, " the end")])
    write_samples(
        run,
        "next_words",
        [{"doc_id": 0, "doc": {"context": "a", "next_word": " b"}, "filtered_resps": [[-1.0, True]]}],
    )
    docs = judge_docs(samples=str(tmp_path / "out"))["test"]
    # the continuation task only (the next-word task has no human continuation), in doc_id order; the run's
    # continuations (2 and 20 tokens) are shorter than the human one (39): kept whole, the human one cut to their
    # length
    assert docs.to_list() == [
        {"task": "cont_a", "prompt": "Once upon a time", "continuation": "the end", "human": "a new", "tokens": 2,
         "judged_doc_hash": "doc0", "judged_prompt_hash": "prompt0"},
        {"task": "cont_a", "prompt": "Once upon a time", "continuation": CONTINUATION.strip(), "human": CUT_HUMAN,
         "tokens": 20, "judged_doc_hash": "doc1", "judged_prompt_hash": "prompt1"},
    ]  # fmt: skip
    # a human text shorter than the run's: the run's continuation is cut to its length instead; the latest file wins
    write_samples(run, "cont_a", [record(0, CONTINUATION, reference=" a new day")], stamp=LATER)
    (doc,) = judge_docs(samples=str(run), tasks="cont_a")["test"]
    assert (doc["human"], doc["continuation"], doc["tokens"]) == ("a new day", "the same words", 3)


def test_loop_control_repeats_the_first_16_tokens_to_the_same_length(tmp_path):
    path = write_samples(tmp_path, "cont_a", [record(0, CONTINUATION)])
    (doc,) = judge_docs(samples=str(path), control="loop")["test"]
    # tokens 1-16 ("the" ... "again"), then tokens 1-4 again: 20 tokens, the human text cut to 20 as without the
    # control
    head = "the same words again and again and again and again and again and again and again"
    assert (doc["continuation"], doc["human"], doc["tokens"]) == (head + "the same words again", CUT_HUMAN, 20)


def test_bad_input_is_one_line_naming_the_fix(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"^no samples_\*\.jsonl under .*: score the run with lm_eval --log_samples, then give --metadata",
    ):
        judge_docs(samples=str(tmp_path))
    with pytest.raises(
        ValueError, match=r"^the judge tasks read a scored run's samples: give --metadata '\{\"samples\""
    ):
        judge_docs()
    with pytest.raises(
        ValueError, match=r"^unknown control 'loops': the only one is 'loop' \(or leave control out\)$"
    ):
        judge_docs(samples=str(tmp_path), control="loops")
    no_reference = write_samples(tmp_path / "ppl", "perplexity_a", [record(0, "x", reference=None)])
    for samples, tasks in ((no_reference, None), (no_reference.parent, "perplexity_a")):
        with pytest.raises(
            ValueError, match=r"holds no human continuations \(documents without 'prompt' and 'reference'\): judge a"
        ):
            judge_docs(samples=str(samples), tasks=tasks)
    with pytest.raises(
        ValueError, match=r"^no continuation task's samples under .*ppl \(documents with 'prompt' and 'reference'\)"
    ):
        judge_docs(samples=str(no_reference.parent))
    write_samples(tmp_path / "out" / "m1", "cont_a", [record(0, CONTINUATION)])
    write_samples(tmp_path / "out" / "m2", "cont_a", [record(0, CONTINUATION)])
    with pytest.raises(
        ValueError, match=r"^samples of cont_a from several runs under .*out \(.*m1, .*m2\): name one model folder$"
    ):
        judge_docs(samples=str(tmp_path / "out"))
    with pytest.raises(ValueError, match=r"^no samples of cont_b under .*m1 \(found: cont_a\): fix metadata tasks$"):
        judge_docs(samples=str(tmp_path / "out" / "m1"), tasks=["cont_b"])
    results = tmp_path / "out" / "m1" / f"results_{STAMP}.json"
    results.write_text("{}")
    with pytest.raises(
        ValueError,
        match=r"^.*results_.*\.json is not an lm-eval samples_\*\.jsonl file: give one, its model folder or the run's",
    ):
        judge_docs(samples=str(results))
    empty = write_samples(tmp_path / "empty", "cont_a", [record(0, "  ")])
    with pytest.raises(
        ValueError, match=r"^no usable text in samples .* \(1 texts, empty continuation\): give longer texts$"
    ):
        judge_docs(samples=str(empty))


def test_templates_need_every_placeholder_and_render_in_one_pass(tmp_path):
    assert {"{prompt}", "{first}", "{second}"} <= set(load_template("pairwise_v1").split())
    own = tmp_path / "mine.txt"
    own.write_text("Text: {prompt}\n1) {first}\n2) {second}\nBetter:\n")
    doc = {"prompt": "P {first}", "continuation": "run", "human": "people"}
    assert render(load_template(str(own)), doc, 0) == "Text: P {first}\n1) run\n2) people\nBetter:"
    assert render(load_template(str(own)), doc, 1) == "Text: P {first}\n1) people\n2) run\nBetter:"
    own.write_text("Which is better, {first} or {second}?")
    with pytest.raises(
        ValueError,
        match=r"^judge_template '.*mine.txt' lacks \{prompt\}: give a shipped name \(pairwise_v1\) or a file",
    ):
        load_template(str(own))
    with pytest.raises(
        ValueError, match=r"^judge_template 'pairwise_v9' cannot be read \(FileNotFoundError\): give a shipped name"
    ):
        load_template("pairwise_v9")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("A", "A"), (" b ", "B"), ("**A**", "A"), ("A.", "A"), ("Answer: B", "B"), ("answer:A", "A"),
        ("Equal", "equal"), ("EQUAL.", "equal"), ("(B)", "B"), ("`A`", "A"),
        ("A\n\nContinuation A is more coherent.", "A"), ("B is better", "B"), ("The final answer is B.", "B"),
        ("Verdict: equal", "equal"), ("Continuation A", "A"), ("'equal'", "equal"), ("", None), ("::::::::", None),
        ("Both are equal", None), ("Equally good", None), ("AB", None), ("Aaron", None), ("C", None),
        ("I think A", None), ("tie", None),
    ],
)  # fmt: skip
def test_parse_answer(text, answer):
    assert parse_answer(text) == answer


@pytest.mark.parametrize(
    ("answers", "expected_outcomes", "items"),
    [
        # (answer with the run's continuation as A, answer with the human one as A): the run's outcome in each order;
        # items: preferred or equal, win rate, position consistency, unparseable share
        (("A", "B"), ["win", "win"], (1.0, 1.0, 1.0, 0.0)),
        (("B", "A"), ["loss", "loss"], (0.0, 0.0, 1.0, 0.0)),
        (("equal", "equal"), ["equal", "equal"], (1.0, 0.5, 1.0, 0.0)),
        (("A", "A"), ["win", "loss"], (0.5, 0.5, 0.0, 0.0)),  # always "A": position bias
        (("B", "B"), ["loss", "win"], (0.5, 0.5, 0.0, 0.0)),
        (("equal", "A"), ["equal", "loss"], (0.5, 0.25, 0.0, 0.0)),
        (("equal", "B"), ["equal", "win"], (1.0, 0.75, 0.0, 0.0)),
        (("A", "no idea"), ["win", "unparseable"], (1.0, 1.0, NAN, 0.5)),
        (("??", "A"), ["unparseable", "loss"], (0.0, 0.0, NAN, 0.5)),
        (("??", "equal"), ["unparseable", "equal"], (1.0, 0.5, NAN, 0.5)),
        (("??", "!!"), ["unparseable", "unparseable"], (NAN, NAN, NAN, 1.0)),
    ],
)
def test_items_of_each_outcome_combination(answers, expected_outcomes, items):
    found = outcomes(list(answers))
    assert found == expected_outcomes
    expected = dict(
        zip(("judge_pref_or_equal", "judge_win_rate", "judge_position_consistency", "judge_unparseable"), items)
    )
    assert judge_items(found).keys() == expected.keys()
    assert all(
        value == expected[name] or (math.isnan(value) and math.isnan(expected[name]))
        for name, value in judge_items(found).items()
    )


def test_logprob_results_pick_the_most_likely_answer_per_order():
    # after the run-first context "equal" is likeliest (an equal); after the human-first context "B" (the run wins)
    results = [(-3.0, False), (-2.5, False), (-1.0, True), (-4.0, False), (-0.5, True), (-2.0, False)]
    assert outcomes(results) == ["equal", "win"]
    assert outcomes([(-1.0, False)] * 6) == ["win", "loss"]  # a tie goes to the first answer, A
    assert sample_outcomes({"filtered_resps": [list(pair) for pair in results]}) == {
        "run_first": "equal",
        "human_first": "win",
    }
    with pytest.raises(
        ValueError, match=r"^a judge document has 2 orders, got answers for 1: pass one document's results$"
    ):
        outcomes(["A"])


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory):
    """A continuation run's samples folder: two prompts, one task."""
    run = tmp_path_factory.mktemp("run") / "model"
    write_samples(run, "cont_a", [record(0, CONTINUATION), record(1, " the end", prompt="It was a dark night")])
    return run.parent


def direct_loglikelihood(model, tokenizer, context: str, answer: str) -> float:
    """log P(answer | context) of the model, summed over the answer's tokens (context and answer encoded apart)."""
    import torch

    context_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([context_ids + answer_ids])).logits[0].log_softmax(-1)
    return sum(float(logits[len(context_ids) + i - 1, token]) for i, token in enumerate(answer_ids))


def test_logprob_variant_end_to_end_matches_the_judges_own_logits(tiny_lm_path, judged_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hyperfit_tasks.tasks.judge_scores import ANSWERS, logprob_answer

    model_path = str(tiny_lm_path)
    output = evaluate(
        "hf", f"pretrained={model_path}", ["hyperfit_judge_logprob"], metadata={"samples": str(judged_run)}
    )
    samples = sorted(output["samples"]["hyperfit_judge_logprob"], key=lambda sample: sample["doc_id"])
    model, tokenizer = (
        AutoModelForCausalLM.from_pretrained(model_path).eval(),
        AutoTokenizer.from_pretrained(model_path),
    )
    template, items = load_template("pairwise_v1"), []
    for sample in samples:
        doc = sample["doc"]
        contexts = [render(template, doc, order) for order in (0, 1)]
        assert [tuple(argument) for argument in sample["arguments"]] == [
            (ctx, f" {answer}") for ctx in contexts for answer in ANSWERS
        ]
        direct = [direct_loglikelihood(model, tokenizer, ctx, f" {answer}") for ctx in contexts for answer in ANSWERS]
        assert [pair[0] for pair in sample["filtered_resps"]] == pytest.approx(direct, abs=1e-4)
        verdicts = [logprob_answer(direct[:3]), logprob_answer(direct[3:])]
        expected = [
            {"A": "win", "B": "loss"}.get(verdicts[0], "equal"),
            {"A": "loss", "B": "win"}.get(verdicts[1], "equal"),
        ]
        assert list(sample_outcomes(sample).values()) == expected
        assert {name: sample[name] for name in judge_items(expected)} == judge_items(expected)
        items.append(judge_items(expected))
    results = output["results"]["hyperfit_judge_logprob"]
    assert results["judge_unparseable,none"] == 0.0
    assert results["judge_win_rate,none"] == pytest.approx(sum(item["judge_win_rate"] for item in items) / len(items))
    assert output["configs"]["hyperfit_judge_logprob"]["metadata"]["judge_template"] == "pairwise_v1"


def test_generation_variant_counts_a_random_judges_answers_as_unparseable(tiny_lm_path, judged_run):
    output = evaluate("hf", f"pretrained={tiny_lm_path}", ["hyperfit_judge"], metadata={"samples": str(judged_run)})
    samples = output["samples"]["hyperfit_judge"]
    assert len(samples) == 2 and all(len(sample["arguments"]) == 2 for sample in samples)
    assert [parse_answer(answer) for sample in samples for answer in sample["filtered_resps"]] == [None] * 4
    results = output["results"]["hyperfit_judge"]
    assert results["judge_unparseable,none"] == 1.0
    assert all(
        math.isnan(results[f"{name},none"])
        for name in ("judge_pref_or_equal", "judge_win_rate", "judge_position_consistency")
    )


CHAT = (
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% "
    "endif %}"
)


def test_chat_template_and_system_instruction_wrap_both_orders_and_answers_start_the_assistant_turn(
    tmp_path, tiny_lm_path, judged_run
):
    import shutil

    from transformers import AutoTokenizer

    chat_model = tmp_path / "chat_model"
    shutil.copytree(tiny_lm_path, chat_model)
    tokenizer = AutoTokenizer.from_pretrained(chat_model)
    tokenizer.chat_template = CHAT
    tokenizer.save_pretrained(chat_model)
    output = evaluate("hf", f"pretrained={chat_model}", ["hyperfit_judge_logprob"],
                      metadata={"samples": str(judged_run)}, apply_chat_template=True, system_instruction="Be fair.",
                      limit=1)  # fmt: skip
    (sample,) = output["samples"]["hyperfit_judge_logprob"]
    template = load_template("pairwise_v1")
    contexts = [f"<system>Be fair.\n<user>{render(template, sample['doc'], order)}\n<assistant>" for order in (0, 1)]
    assert [tuple(argument) for argument in sample["arguments"]] == [
        (ctx, answer) for ctx in contexts for answer in ("A", "B", "equal")
    ]


def test_logprob_variant_un_swaps_the_orders_of_a_judge_with_known_answers(tmp_path, tiny_lm_path):
    """A constructed judge whose next token depends only on the last one: after the human text's last token it says
    " B", after the run's " equal". The template ends with {second}, so with the run first (order 0) the judge sees
    the human text last and answers B (a loss); with the human first it sees the run's last and answers equal."""
    from transformers import AutoTokenizer

    from helpers import save_constructed_llama

    run = write_samples(
        tmp_path / "run",
        "cont_a",
        [record(0, " and then a big old brown dog", reference=" and the cat sat on the mat")],
    )
    template = tmp_path / "last_second.txt"
    template.write_text("{prompt}\n{first}\n{second}")
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    ids = {
        text: tokenizer(text, add_special_tokens=False)["input_ids"] for text in (" mat", " dog", " B", " equal", " A")
    }
    human_last, run_last = ids[" mat"][-1], ids[" dog"][-1]
    # chains of one-hot embeddings: each token of a chain predicts the next one with probability ~1
    chains = [[human_last, *ids[" B"]], [run_last, *ids[" equal"]]]
    assert len({token for chain in chains for token in chain[:-1]}) == sum(
        len(chain) - 1 for chain in chains
    )  # no token in two links
    links = [(token, following) for chain in chains for token, following in zip(chain, chain[1:])]

    def embed(weight):
        for k, (token, _) in enumerate(links):
            weight[token, k] = 1.0

    def head(weight):
        for k, (_, following) in enumerate(links):
            weight[following, k] = 3.0

    judge = save_constructed_llama(tmp_path / "judge", tokenizer, embed, head)
    metadata = {"samples": str(run), "judge_template": str(template), "metric_tokenizer": "default"}
    output = evaluate("hf", f"pretrained={judge}", ["hyperfit_judge_logprob"], metadata=metadata)
    (sample,) = output["samples"]["hyperfit_judge_logprob"]
    assert (
        sample["arguments"][0][0] == "Once upon a time\nand then a big old brown dog\nand the cat sat on the mat"
    )  # 7 tokens each
    assert sample_outcomes(sample) == {"run_first": "loss", "human_first": "equal"}
    results = output["results"]["hyperfit_judge_logprob"]
    assert [results[f"{name},none"] for name in (
        "judge_pref_or_equal", "judge_win_rate", "judge_position_consistency", "judge_unparseable"
    )] == [0.5, 0.25, 0.0, 0.0]  # fmt: skip
