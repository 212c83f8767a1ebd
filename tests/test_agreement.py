"""hyperfit-agreement: top-1 agreement of two models, on constructed models with known answers."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import AutoTokenizer

from hyperfit_tasks.analysis.agreement import token_blocks
from hyperfit_tasks.cli.agreement import main

from conftest import build_tiny_lm
from helpers import save_constructed_llama

HIDDEN = 32
EPS = 1e-6


def save_input_token_model(folder, tokenizer, head_rows):
    """A Llama whose next-token logits depend only on the current token's parity.

    Attention and MLP outputs are zeroed, so the final hidden state is RMSNorm(embedding): even
    tokens embed as e0, odd ones as e1, and RMSNorm scales e_j to s * e_j, s = 1/sqrt(1/HIDDEN + EPS).
    ``head_rows`` maps an output token id to its lm_head row; all other rows are zero.
    """

    def embed(weight):
        weight[0::2, 0] = 1.0
        weight[1::2, 1] = 1.0

    def head(weight):
        for token, row in head_rows.items():
            weight[token, : len(row)] = torch.tensor(row)

    return save_constructed_llama(folder, tokenizer, embed, head, hidden=HIDDEN, eps=EPS)


@pytest.fixture(scope="module")
def heldout(tmp_path_factory, english_text):
    path = tmp_path_factory.mktemp("heldout") / "heldout.jsonl"
    path.write_text(
        "".join(json.dumps({"text": part}) + "\n" for part in english_text[:6000].split("\n\n") if part.strip())
    )
    return path


def run(tmp_path, capsys, *argv):
    output = tmp_path / "agreement.json"
    assert main([*map(str, argv), "--json", str(output)]) == 0
    out = capsys.readouterr().out
    assert "top-1 agreement" in out and "top-1 prob when right:" in out and "top-1 prob when wrong:" in out
    assert "ECE (10 equal-mass bins):" in out
    return json.loads(output.read_text())


def test_blocks_are_the_documents_joined_by_eos(tiny_lm_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    texts = ["The first document.", "A second one, a little longer than the first."]
    joined = sum(
        (tokenizer(text, add_special_tokens=False).input_ids + [tokenizer.eos_token_id] for text in texts), []
    )
    blocks = token_blocks(texts, tokenizer, block_size=4, limit=0)
    assert blocks.shape == (len(joined) // 4, 4)
    assert blocks.flatten().tolist() == joined[: blocks.numel()]
    assert token_blocks(texts, tokenizer, block_size=4, limit=2).shape == (2, 4)


def test_model_against_itself_agrees_everywhere(tiny_lm_path, heldout, tmp_path, capsys):
    result = run(tmp_path, capsys, tiny_lm_path, tiny_lm_path, "--data", heldout, "--block-size", 32, "--limit", 3)
    assert result["top1_agreement"] == 1.0
    assert result["positions"] == 3 * 31 and result["blocks"] == 3
    assert result["mean_top1_prob_a"] == result["mean_top1_prob_b"] and 0 < result["mean_top1_prob_a"] < 1
    for key in ("top1_prob_correct", "top1_prob_wrong", "top1_accuracy", "ece"):
        assert result[f"{key}_a"] == result[f"{key}_b"]


def test_constructed_pair_known_agreement_and_probabilities(tiny_lm_path, heldout, tmp_path, capsys):
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    always_zero = save_input_token_model(tmp_path / "a", tokenizer, {0: [1.0, 1.0]})  # top-1 = token 0 everywhere
    parity = save_input_token_model(tmp_path / "b", tokenizer, {0: [1.0, 0.0], 1: [0.0, 1.0]})  # even -> 0, odd -> 1
    result = run(tmp_path, capsys, always_zero, parity, "--data", heldout, "--block-size", 16, "--limit", 5)

    texts = [json.loads(line)["text"] for line in heldout.read_text().splitlines()]
    blocks = token_blocks(texts, tokenizer, block_size=16, limit=5)
    inputs, targets = blocks[:, :-1].flatten().tolist(), blocks[:, 1:].flatten().tolist()
    even = [token % 2 == 0 for token in inputs]
    assert 0 < sum(even) < len(even)
    assert result["positions"] == len(inputs) == 5 * 15
    # both models agree exactly where the current token is even (B predicts 0 there, as A always does)
    assert result["top1_agreement"] == pytest.approx(sum(even) / len(even))
    # each model's top-1 logit is s, every other logit 0
    s = 1 / math.sqrt(1 / HIDDEN + EPS)
    top1_prob = math.exp(s) / (math.exp(s) + len(tokenizer) - 1)
    assert result["mean_top1_prob_a"] == pytest.approx(top1_prob, rel=1e-5)
    assert result["mean_top1_prob_b"] == pytest.approx(top1_prob, rel=1e-5)
    assert result["top1_accuracy_a"] == pytest.approx(sum(t == 0 for t in targets) / len(targets))
    assert result["top1_accuracy_b"] == pytest.approx(
        sum(t == (0 if e else 1) for t, e in zip(targets, even)) / len(targets)
    )
    # every top-1 probability is the same, so right and wrong predictions are equally confident, and the ECE is at
    # least |accuracy - confidence| (the bins' gaps, weighted, sum to at least the gap of their mean)
    for side in "ab":
        assert result[f"top1_prob_correct_{side}"] == pytest.approx(top1_prob, rel=1e-5)
        assert result[f"top1_prob_wrong_{side}"] == pytest.approx(top1_prob, rel=1e-5)
        assert result[f"ece_{side}"] >= abs(result[f"top1_accuracy_{side}"] - top1_prob) - 1e-9


def test_one_line_errors(tiny_lm_path, heldout, tmp_path, capsys):
    other_vocab = build_tiny_lm(tmp_path / "other", vocab_size=300)
    cases = [
        ([tiny_lm_path, other_vocab, "--data", heldout], "do not share a tokenizer"),
        ([tiny_lm_path, tmp_path / "nowhere", "--data", heldout], "model folder not found"),
        ([tiny_lm_path, tiny_lm_path, "--data", tmp_path / "missing.jsonl"], "data file not found"),
        ([tiny_lm_path, tiny_lm_path, "--data", heldout, "--block-size", 100000], "fewer than one block"),
    ]
    for argv, message in cases:
        assert main(list(map(str, argv))) == 1
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("hyperfit-agreement: error: ") and message in error
