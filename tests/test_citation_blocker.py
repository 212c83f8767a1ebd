"""Citation blocker: n-gram index, logits processor (vs transformers' bad_words_ids), lm-eval model."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

from hyperfit_tasks.common.errors import TrainingDataError
from hyperfit_tasks.common.run_files import write_train_blocks
from hyperfit_tasks.common.training_tokens import load_training_sequences
from hyperfit_tasks.metrics.copy_rate import TrainingSpanIndex, longest_training_span
from hyperfit_tasks.models.citation_blocker import (
    DEFAULT_BLOCK_LEN,
    CitationBlockerLogitsProcessor,
    NGramIndex,
    word_start_mask,
)

from helpers import TASK_NAME, continuations, evaluate, write_continuation_task


def kgrams(ids, k):
    return {tuple(ids[i : i + k]) for i in range(len(ids) - k + 1)}


def save_blocks(path, blocks):
    """Equal-length blocks in the trainer's own train_blocks.parquet format."""
    write_train_blocks(path, np.asarray(blocks), {"source": "test"})
    return path


@pytest.fixture(scope="module")
def tiny(tiny_lm_path):
    torch.manual_seed(0)
    return AutoTokenizer.from_pretrained(tiny_lm_path), AutoModelForCausalLM.from_pretrained(tiny_lm_path).eval()


def test_default_block_len_is_the_papers_rule():
    # "when the last 5 generated tokens occur in the data, continuing them is blocked": 5 + 1
    assert DEFAULT_BLOCK_LEN == 6


def test_index_known_answers():
    index = NGramIndex([[1, 2, 3, 1, 2, 4], [7, 1, 2, 3], [5]], n=3)
    assert index.next_tokens([1, 2]).tolist() == [3, 4]
    assert index.next_tokens([2, 3]).tolist() == [1]
    assert index.next_tokens([4, 7]).tolist() == []  # n-grams never cross sequence boundaries
    assert index.next_tokens([9, 9]).tolist() == []
    assert len(index) == 5  # 123, 231, 312, 124, 712 (123 twice)
    assert (7, 1, 2) in index and (2, 4, 7) not in index and (1, 2) not in index
    with pytest.raises(ValueError, match=">= 2"):
        NGramIndex([[1, 2]], n=1)


def test_index_equals_python_set_of_ngrams():
    rng = np.random.default_rng(0)
    sequences = [rng.integers(0, 6, rng.integers(0, 40)) for _ in range(30)]
    for n in (2, 3, 5):
        index = NGramIndex(sequences, n)
        expected = set().union(*(kgrams(ids.tolist(), n) for ids in sequences))
        assert len(index) == len(expected)
        for prefix in {gram[:-1] for gram in expected} | {(0,) * (n - 1), (5,) * (n - 1)}:
            assert index.next_tokens(prefix).tolist() == sorted(g[-1] for g in expected if g[:-1] == prefix)


def test_word_start_mask_on_byte_level_tokenizer(tiny):
    tokenizer, _ = tiny
    mask = word_start_mask(tokenizer)
    assert mask.shape == (len(tokenizer),)
    starts_word = {
        piece: bool(mask[tokenizer.convert_tokens_to_ids(piece)])
        for piece in ("Ġthe", "the", ",", "Ċ", "s", "<|endoftext|>")
    }
    assert starts_word == {"Ġthe": True, "the": False, ",": True, "Ċ": True, "s": False, "<|endoftext|>": True}


def test_processor_bans_exactly_the_completing_tokens():
    index = NGramIndex([[3, 4, 5], [3, 4, 6], [4, 6, 7]], n=3)
    word_starts = np.array([True] * 6 + [False, True])  # token 6 continues a word
    input_ids = torch.tensor([[0, 3, 4], [1, 4, 6], [3, 4, 0]])
    banned = CitationBlockerLogitsProcessor(index)(input_ids, torch.zeros(3, 8))
    assert torch.isinf(banned).nonzero().tolist() == [[0, 5], [0, 6], [1, 7]]
    only_word_starts = CitationBlockerLogitsProcessor(index, word_starts)(input_ids, torch.zeros(3, 8))
    assert torch.isinf(only_word_starts).nonzero().tolist() == [[0, 5], [1, 7]]
    short = torch.tensor([[4]])  # fewer than n-1 tokens: nothing to complete yet
    assert torch.equal(CitationBlockerLogitsProcessor(index)(short, torch.zeros(1, 8)), torch.zeros(1, 8))


def test_planted_training_sequence_is_blocked_where_the_kgram_completes(tiny, english_text, tmp_path):
    tokenizer, model = tiny
    k = 4
    prompt = tokenizer(english_text[:300], return_tensors="pt").input_ids[:, :12]
    greedy = model.generate(prompt, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.eos_token_id)[
        0, 12:
    ].tolist()
    rng = np.random.default_rng(0)
    training = [greedy] + [rng.integers(0, len(tokenizer), 24).tolist() for _ in range(40)]
    index = NGramIndex(load_training_sequences(save_blocks(tmp_path / "train_blocks.parquet", training)), k)
    processor = CitationBlockerLogitsProcessor(index)

    blocked = model.generate(
        prompt,
        max_new_tokens=24,
        do_sample=False,
        pad_token_id=tokenizer.eos_token_id,
        logits_processor=LogitsProcessorList([processor]),
    )[0, 12:].tolist()
    # identical until the first training k-gram would complete (windows may start in the prompt),
    # then the best token that is not banned
    unblocked = prompt[0].tolist() + greedy
    first = next(j for j in range(len(greedy)) if tuple(unblocked[12 + j - k + 1 : 12 + j + 1]) in index)
    assert blocked[:first] == greedy[:first] and blocked[first] != greedy[first]
    with torch.no_grad():
        logits = model(torch.tensor([unblocked[: 12 + first]])).logits[0, -1]
    logits[torch.from_numpy(index.next_tokens(unblocked[12 + first - k + 1 : 12 + first]))] = -float("inf")
    assert blocked[first] == int(logits.argmax())
    # no window of prompt + continuation that ends in a generated token is a training k-gram
    sequence = prompt[0].tolist() + blocked
    assert not any(tuple(sequence[i - k + 1 : i + 1]) in index for i in range(12, len(sequence)))
    assert longest_training_span(blocked, TrainingSpanIndex(training)) < k

    # the library reference: transformers' bad_words_ids over every training k-gram gives the same text
    all_kgrams = sorted(set().union(*(kgrams(ids, k) for ids in training)))
    reference = model.generate(
        prompt,
        max_new_tokens=24,
        do_sample=False,
        pad_token_id=tokenizer.eos_token_id,
        bad_words_ids=[list(g) for g in all_kgrams],
    )[0, 12:].tolist()
    assert blocked == reference


def test_bad_blocked_data_fails_with_one_line(tmp_path, tiny):
    tokenizer, _ = tiny
    for path, message in [
        (tmp_path / "missing.parquet", "training data not found"),
        (tmp_path, "no train_blocks.parquet in directory"),
    ]:
        with pytest.raises(TrainingDataError, match=message) as error:
            load_training_sequences(path, tokenizer)
        assert "\n" not in str(error.value)
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "wrong.parquet")
    with pytest.raises(TrainingDataError, match="no 'input_ids' column \\(columns: text\\)"):
        load_training_sequences(tmp_path / "wrong.parquet")
    pq.write_table(pa.table({"input_ids": [[1, 2, 3], [4]]}), tmp_path / "ragged.parquet")
    with pytest.raises(TrainingDataError, match="rows of unequal length"):
        load_training_sequences(tmp_path / "ragged.parquet")
    (tmp_path / "notes.txt").write_text("plain text")
    with pytest.raises(TrainingDataError, match="needs the evaluated model's tokenizer"):
        load_training_sequences(tmp_path / "notes.txt")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(TrainingDataError, match="line 2 has no string 'text'"):
        load_training_sequences(tmp_path / "bad.jsonl", tokenizer)


def test_trainer_directory_parquet_jsonl_and_text_sources(tmp_path, tiny):
    tokenizer, _ = tiny
    texts = ["It is a truth universally acknowledged", "that a single man in possession"]
    ids = [tokenizer(text, add_special_tokens=False).input_ids for text in texts]
    blocks = np.array(ids[0][:3] + ids[1][:3]).reshape(2, 3)
    save_blocks(tmp_path / "train_blocks.parquet", blocks)
    for source in (tmp_path, tmp_path / "train_blocks.parquet"):
        assert [s.tolist() for s in load_training_sequences(source)] == blocks.tolist()  # no tokenizer needed
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    (tmp_path / "train.txt").write_text(texts[0])
    assert [s.tolist() for s in load_training_sequences(tmp_path / "train.jsonl", tokenizer)] == ids
    assert [s.tolist() for s in load_training_sequences(tmp_path / "train.txt", tokenizer)] == ids[:1]


@pytest.mark.slow
def test_lm_eval_model_never_outputs_a_training_kgram(tiny_lm_path, english_text, tmp_path, tiny, monkeypatch):
    from lm_eval.models.huggingface import HFLM

    tokenizer, _ = tiny
    k = 4
    calls = []  # (context, generated) token ids of every generate call lm-eval makes, in request order
    original_generate = HFLM._model_generate

    def recording_generate(self, context, *args, **kwargs):
        output = original_generate(self, context, *args, **kwargs)
        calls.extend(zip(context.tolist(), output[:, context.shape[1] :].tolist()))
        return output

    monkeypatch.setattr(HFLM, "_model_generate", recording_generate)
    texts = [english_text[start : start + 600] for start in (0, 700, 1400, 2100)]
    include_path = write_continuation_task(tmp_path / "task", texts)

    def run(model, model_args):
        output = evaluate(model, model_args, [TASK_NAME], include_path, gen_kwargs="max_gen_toks=16")
        return output["results"][TASK_NAME], continuations(output, TASK_NAME)

    _, plain = run("hf", f"pretrained={tiny_lm_path}")
    # the unblocked model's own continuations (exact token ids) become the training data
    assert len({len(generated) for _, generated in calls}) == 1
    blocks = save_blocks(tmp_path / "train_blocks.parquet", [generated for _, generated in calls])
    index = NGramIndex(load_training_sequences(blocks), k)
    calls.clear()

    metrics, blocked = run("hf-citation-blocked", f"pretrained={tiny_lm_path},blocked_data={tmp_path},block_len={k}")
    assert all(after != before for before, after in zip(plain, blocked))
    assert len(calls) == len(texts)
    for context, generated in calls:
        if tokenizer.eos_token_id in generated:  # generation stopped; the rest is padding
            generated = generated[: generated.index(tokenizer.eos_token_id)]
        sequence = context + generated
        ends = range(len(context), len(sequence))
        assert not any(tuple(sequence[end - k + 1 : end + 1]) in index for end in ends)
    # the continuation task scored the blocked model against the data it blocks (model_args are
    # merged into the task metadata), with K = its block_len: no copied K-gram
    assert metrics["training_kgram_rate,none"] == 0.0

    with pytest.raises(TrainingDataError, match="needs blocked_data=PATH"):
        run("hf-citation-blocked", f"pretrained={tiny_lm_path}")
