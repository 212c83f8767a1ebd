"""Top-1 confidence when right and when wrong, top-1 accuracy and equal-mass ECE: hand-computed values, diagnostics,
agreement."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from hyperfit_tasks.analysis.agreement import top1_statistics
from hyperfit_tasks.metrics import Top1Calibration, top1_calibration
from hyperfit_tasks.metrics.sharpness import top1
from hyperfit_train.diagnostics import heldout_metrics

# Six positions over 3 tokens, logits = log p so that softmax gives p back. Top-1 probability and whether the
# top-1 token is the next one: 0.9 right, 0.6 wrong, 0.7 right, 0.8 wrong, 0.5 right, 0.4 wrong.
PROBABILITIES = [
    [0.9, 0.05, 0.05],
    [0.6, 0.3, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.1, 0.8],
    [0.5, 0.25, 0.25],
    [0.4, 0.3, 0.3],
]
TARGETS = [0, 1, 1, 0, 0, 2]


def hand_made() -> dict[str, float]:
    probability, top_id = top1(torch.tensor(PROBABILITIES).log())
    return top1_calibration(probability, top_id == torch.tensor(TARGETS))


def test_hand_made_split_accuracy_and_ece():
    result = hand_made()
    assert list(result) == ["top1_prob_correct", "top1_prob_wrong", "top1_accuracy", "ece"]
    assert result["top1_prob_correct"] == pytest.approx((0.9 + 0.7 + 0.5) / 3)  # 0.7
    assert result["top1_prob_wrong"] == pytest.approx((0.6 + 0.8 + 0.4) / 3)  # 0.6
    assert result["top1_accuracy"] == pytest.approx(3 / 6)
    # 10 equal-mass bins of 6 positions: 6 bins of one position (4 empty), so ECE = mean |right - confidence|
    assert result["ece"] == pytest.approx((0.1 + 0.6 + 0.3 + 0.8 + 0.5 + 0.4) / 6)  # 0.45


def test_equal_mass_bins_by_confidence():
    confidences = [0.9, 0.6, 0.7, 0.8, 0.5, 0.4]
    correct = [True, False, True, False, True, False]
    # sorted: 0.4 w, 0.5 r | 0.6 w, 0.7 r | 0.8 w, 0.9 r: each bin accuracy 0.5, confidence 0.45, 0.65, 0.85
    assert top1_calibration(confidences, correct, bins=3)["ece"] == pytest.approx(2 / 6 * (0.05 + 0.15 + 0.35))
    # numpy.array_split of 6 into 4: sizes 2, 2, 1, 1 -> bins {0.4 w, 0.5 r}, {0.6 w, 0.7 r}, {0.8 w}, {0.9 r}
    assert top1_calibration(confidences, correct, bins=4)["ece"] == pytest.approx(
        (2 * 0.05 + 2 * 0.15 + 0.8 + 0.1) / 6
    )
    # one bin: |overall accuracy - overall confidence|
    assert top1_calibration(confidences, correct, bins=1)["ece"] == pytest.approx(abs(0.5 - 0.65))


def test_split_recombines_to_the_mean_top1_probability():
    result = hand_made()
    overall = sum(max(row) for row in PROBABILITIES) / len(PROBABILITIES)  # 0.65
    accuracy = result["top1_accuracy"]
    assert result["top1_prob_correct"] * accuracy + result["top1_prob_wrong"] * (1 - accuracy) == pytest.approx(
        overall
    )


def test_empty_groups_are_nan_and_batches_add_up():
    always_right = top1_calibration([0.8, 0.6], [True, True])
    assert always_right["top1_prob_correct"] == pytest.approx(0.7) and math.isnan(always_right["top1_prob_wrong"])
    assert always_right["top1_accuracy"] == 1.0 and always_right["ece"] == pytest.approx((0.2 + 0.4) / 2)
    assert all(math.isnan(value) for value in top1_calibration([], []).values())
    assert all(math.isnan(value) for value in Top1Calibration().result().values())
    tally = Top1Calibration()
    probability, top_id = top1(torch.tensor(PROBABILITIES).log())
    hits = top_id == torch.tensor(TARGETS)
    tally.add(probability[:4], hits[:4])
    tally.add(probability[4:], hits[4:])
    assert tally.result() == pytest.approx(hand_made())
    with pytest.raises(ValueError, match="one of each per position"):
        top1_calibration([0.5, 0.5], [True])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=12, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def blocks():
    return torch.randint(0, 12, (5, 33), generator=torch.Generator().manual_seed(1))


def test_heldout_metrics_match_a_direct_computation(model, blocks):
    row = heldout_metrics(model, blocks, batch_size=2)  # three batches: 2, 2, 1 blocks
    with torch.no_grad():
        probs = model(input_ids=blocks).logits[:, :-1].float().softmax(-1).reshape(-1, 12)
    confidence, prediction = probs.max(-1)
    right = (prediction == blocks[:, 1:].reshape(-1)).tolist()
    confidence = confidence.tolist()
    assert 0 < sum(right) < len(right)  # both groups exist
    ordered = sorted(zip(confidence, right), key=lambda pair: pair[0])
    sizes = [len(ordered) // 10 + (1 if b < len(ordered) % 10 else 0) for b in range(10)]  # 160 positions: 16 per bin
    ece, start = 0.0, 0
    for size in sizes:
        chunk = ordered[start : start + size]
        start += size
        ece += size / len(ordered) * abs(sum(r for _, r in chunk) / size - sum(c for c, _ in chunk) / size)
    assert row["top1_prob_correct"] == pytest.approx(
        sum(c for c, r in zip(confidence, right) if r) / sum(right), rel=1e-5
    )
    assert row["top1_prob_wrong"] == pytest.approx(
        sum(c for c, r in zip(confidence, right) if not r) / (len(right) - sum(right)), rel=1e-5
    )
    assert row["top1_accuracy"] == pytest.approx(sum(right) / len(right))
    assert row["ece"] == pytest.approx(ece, rel=1e-5)
    accuracy = row["top1_accuracy"]
    assert row["top1_prob_correct"] * accuracy + row["top1_prob_wrong"] * (1 - accuracy) == pytest.approx(
        row["top1_prob"], rel=1e-5
    )


def test_agreement_of_a_model_with_itself_splits_the_same_for_both(model, blocks):
    result = top1_statistics(model, model, blocks, batch_size=2, progress=False)
    row = heldout_metrics(model, blocks, batch_size=2)
    for key in ("top1_prob_correct", "top1_prob_wrong", "top1_accuracy", "ece"):
        assert result[f"{key}_a"] == result[f"{key}_b"] == pytest.approx(row[key], rel=1e-6)
    assert result["top1_agreement"] == 1.0
