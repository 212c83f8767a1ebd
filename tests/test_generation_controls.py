"""Generation controls of the continuation tasks, end to end through lm-eval on tiny models: the
top-p group re-set to plain sampling at a temperature by --gen_kwargs (the entropy-matched
baseline), and fixed-length generation (metadata min_gen_toks)."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer
from transformers.generation.utils import GenerationMixin

from hyperfit_tasks.tasks.continuation_task import forbid_early_eos

from helpers import TASK_NAME, continuations, evaluate, save_constructed_llama, write_continuation_task


@pytest.fixture
def generate_calls(monkeypatch):
    """Every call of transformers' ``generate`` lm-eval makes: (its keyword arguments, new tokens per sequence)."""
    calls = []
    original = GenerationMixin.generate

    def recording_generate(self, *args, **kwargs):
        output = original(self, *args, **kwargs)
        calls.append((kwargs, output.shape[1] - kwargs["input_ids"].shape[1]))
        return output

    monkeypatch.setattr(GenerationMixin, "generate", recording_generate)
    return calls


@pytest.fixture(scope="module")
def paragraphs(english_text) -> list[str]:
    return [p for p in english_text.split("\n\n") if len(p.split()) > 60]


@pytest.mark.slow
def test_gen_kwargs_turn_the_top_p_group_into_sampling_at_a_temperature(
    tiny_lm_path, paragraphs, tmp_path, monkeypatch, generate_calls
):
    import hyperfit_tasks.assets

    data = {"eval": tmp_path / "eval.jsonl"}
    data["eval"].write_text("".join(json.dumps({"text": text}) + "\n" for text in paragraphs[:3]))
    monkeypatch.setattr(hyperfit_tasks.assets, "corpus_path", lambda domain, split: data[split])
    greedy, sampled = "hyperfit_continuation_austen", "hyperfit_continuation_top_p_austen"

    def run(tasks: list[str], temperature: float, seed: int = 1234) -> dict:
        gen_kwargs = f"temperature={temperature},top_p=1.0,top_k=0,max_gen_toks=16"
        return evaluate(
            "hf", f"pretrained={tiny_lm_path}", tasks, limit=3, gen_kwargs=gen_kwargs, torch_random_seed=seed
        )

    first = run([sampled], 0.5)
    # the YAML's top-p 0.9 / temperature 0.7 / top-k 50 are replaced, sampling stays on
    logged = first["samples"][sampled][0]["arguments"][0][1]
    assert (logged["do_sample"], logged["temperature"], logged["top_p"], logged["top_k"], logged["max_gen_toks"]) == (
        True,
        0.5,
        1.0,
        0,
        16,
    )
    kwargs, new_tokens = generate_calls[0]
    assert (kwargs["do_sample"], kwargs["temperature"], kwargs["top_p"], kwargs["top_k"]) == (True, 0.5, 1.0, 0)
    again, hotter = run([sampled], 0.5), run([sampled], 2.0)
    greedy_run = evaluate("hf", f"pretrained={tiny_lm_path}", [greedy], limit=3, gen_kwargs="max_gen_toks=16")
    prompts = [sample["arguments"][0][0] for sample in sorted(first["samples"][sampled], key=lambda s: s["doc_id"])]
    assert prompts == [
        sample["arguments"][0][0] for sample in sorted(greedy_run["samples"][greedy], key=lambda s: s["doc_id"])
    ]
    assert all(a != b for a, b in zip(continuations(first, sampled), continuations(greedy_run, greedy)))
    assert continuations(again, sampled) == continuations(first, sampled)  # same seed, same text
    assert continuations(hotter, sampled) != continuations(first, sampled)  # the temperature is used


def save_eos_loving_model(folder, tokenizer, second: int) -> str:
    """A Llama that puts EOS first and token ``second`` next at every position.

    Attention and MLP outputs are zeroed and every token embeds as e0, so the final hidden state
    is RMSNorm(e0) = s e0 (s = sqrt(32), about 5.7) everywhere: logits 2s for EOS, s for ``second``, 0 for the rest.
    """

    def embed(weight):
        weight[:, 0] = 1.0

    def head(weight):
        weight[tokenizer.eos_token_id, 0] = 2.0
        weight[second, 0] = 1.0

    return save_constructed_llama(folder, tokenizer, embed, head)


@pytest.mark.slow
def test_min_gen_toks_generates_exactly_max_gen_toks_from_a_model_that_wants_to_stop(
    tiny_lm_path, paragraphs, tmp_path, generate_calls
):
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    the = tokenizer(" the", add_special_tokens=False).input_ids
    assert len(the) == 1
    model = save_eos_loving_model(tmp_path / "eos", tokenizer, the[0])
    tasks = write_continuation_task(tmp_path / "tasks", paragraphs[:3])

    def run(metadata: dict) -> dict:
        return evaluate(
            "hf",
            f"pretrained={model}",
            [TASK_NAME],
            include_path=tasks,
            metadata=metadata,
            limit=3,
            gen_kwargs="max_gen_toks=24",
        )

    free = run({})
    assert [new for _, new in generate_calls] == [1, 1]  # two batches of 2 and 1: EOS at once
    assert continuations(free, TASK_NAME) == ["", "", ""]
    assert free["results"][TASK_NAME]["stopped_early,none"] == 1.0

    generate_calls.clear()
    fixed = run({"min_gen_toks": 24})
    assert [new for _, new in generate_calls] == [24, 24] and generate_calls[0][0]["min_new_tokens"] == 24
    assert continuations(fixed, TASK_NAME) == [" the" * 24] * 3  # EOS banned: the next-best token, 24 times
    assert fixed["results"][TASK_NAME]["stopped_early,none"] == 0.0
    assert fixed["results"][TASK_NAME]["continuation_tokens,none"] == 24
    assert fixed["configs"][TASK_NAME]["generation_kwargs"]["min_new_tokens"] == 24


def test_min_gen_toks_is_a_whole_number():
    assert forbid_early_eos({"max_gen_toks": 8, "until": []}, 8) == {
        "max_gen_toks": 8,
        "until": [],
        "min_new_tokens": 8,
    }
    for bad in ("256", 2.5, -1, True):
        with pytest.raises(ValueError, match="min_gen_toks must be a whole number of tokens >= 0"):
            forbid_early_eos({}, bad)
