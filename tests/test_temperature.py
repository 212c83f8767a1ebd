"""Entropy-matched temperature: the math on logits with closed-form entropies, and hyperfit-temperature end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch
from scipy.optimize import brentq
from transformers import AutoModelForCausalLM, AutoTokenizer

from hyperfit_tasks.analysis.temperature import (
    TemperatureRangeError,
    entropy_at_temperature,
    entropy_slope,
    match_temperature,
    mean_entropy_at_temperature,
    temperature_interval,
)
from hyperfit_tasks.cli.temperature import main


def two_token_entropy(a: float, t: float) -> float:
    """Logits [0, a] at temperature t: p = sigmoid(x), x = a / t, entropy p log(1 + e^-x) + (1 - p) log(1 + e^x)."""
    x = a / t
    p = 1 / (1 + math.exp(-x))
    return p * math.log1p(math.exp(-x)) + (1 - p) * math.log1p(math.exp(x))


def gap_entropy(k: int, vocab: int, gap: float, t: float) -> float:
    """k tokens with logit ``gap``, vocab - k with 0: each of the k has q = e^(g/t) / (k e^(g/t) + vocab - k)."""
    w = math.exp(gap / t)
    q, r = w / (k * w + vocab - k), 1 / (k * w + vocab - k)
    return -k * q * math.log(q) - (vocab - k) * r * math.log(r)


def mixed_logits(vocab: int = 8) -> torch.Tensor:
    """Two positions: logits [0, 3] padded with -inf-like -1e4, and 2-of-8 tokens 2.5 above the rest."""
    two = torch.full((vocab,), -1e4)
    two[0], two[1] = 0.0, 3.0
    gap = torch.zeros(vocab)
    gap[:2] = 2.5
    return torch.stack([two, gap])


def mixed_entropy(t: float) -> float:
    return (two_token_entropy(3.0, t) + gap_entropy(2, 8, 2.5, t)) / 2


def test_entropy_at_temperature_is_the_closed_form():
    logits = mixed_logits()
    for t in (0.1, 0.5, 1.0, 1.7, 4.0):
        per_position = entropy_at_temperature(logits, t)
        assert per_position[0].item() == pytest.approx(two_token_entropy(3.0, t), abs=1e-6)
        assert per_position[1].item() == pytest.approx(gap_entropy(2, 8, 2.5, t), abs=1e-6)
        assert mean_entropy_at_temperature(logits, t) == pytest.approx(mixed_entropy(t), abs=1e-6)
    # the derivative formula Var_p(logits) / T^3 against a finite difference of the closed form
    for t in (0.3, 1.0, 2.5):
        numeric = (mixed_entropy(t * 1.0001) - mixed_entropy(t * 0.9999)) / (t * 0.0002)
        assert entropy_slope(logits, t) == pytest.approx(numeric, rel=1e-3)


@pytest.mark.parametrize("true_t", [0.3, 0.63, 1.0, 2.4])
def test_bisection_finds_the_known_temperature(true_t):
    logits = mixed_logits()
    target = mixed_entropy(true_t)
    t, entropy, steps = match_temperature(logits, target)
    assert abs(mixed_entropy(t) - target) <= 0.01 and entropy == pytest.approx(mixed_entropy(t), abs=1e-6)
    # T lies where the closed form is within the tolerance of the target (found by scipy on the closed form)
    below, above = (lambda x: mixed_entropy(x) - (target - 0.01)), (lambda x: mixed_entropy(x) - (target + 0.01))
    lowest = brentq(below, 0.05, 10) if below(0.05) < 0 else 0.05  # the search starts at 0.05
    highest = brentq(above, 0.05, 10)
    assert lowest <= t <= highest and steps < 40
    tight, _, _ = match_temperature(logits, target, tolerance=1e-5)  # float32 entropies: about 1e-7 apart at best
    assert tight == pytest.approx(true_t, rel=1e-3)


def test_two_token_logits_over_many_positions():
    # positions [0, a_i] for several a: mean entropy closed form, T recovered
    gaps = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0])
    logits = torch.stack([torch.zeros_like(gaps), gaps], dim=-1).view(1, 5, 2)
    closed = lambda t: sum(two_token_entropy(a, t) for a in gaps.tolist()) / 5  # noqa: E731
    t, _, _ = match_temperature(logits, closed(0.45), tolerance=1e-6)
    assert t == pytest.approx(0.45, rel=1e-3)


def test_targets_outside_the_range_name_the_side():
    logits = mixed_logits()
    with pytest.raises(TemperatureRangeError, match="above the entropy at the highest temperature 4") as error:
        match_temperature(logits, mixed_entropy(6.0), high=4.0)
    assert error.value.side == "high"
    with pytest.raises(TemperatureRangeError, match="below the entropy at the lowest temperature 0.5") as error:
        match_temperature(logits, mixed_entropy(0.2), low=0.5)
    assert error.value.side == "low"
    # constant logits: the entropy is log(vocab) at every T, and no other entropy is reachable
    flat = torch.zeros(3, 5)
    assert match_temperature(flat, math.log(5))[1] == pytest.approx(math.log(5))
    with pytest.raises(TemperatureRangeError):
        match_temperature(flat, 1.0)


def test_a_flat_entropy_still_gives_the_crossing_not_any_temperature_within_the_tolerance():
    # [0, a] with small a: the entropy changes by under 0.01 nats between T = 1 and T = 4
    logits = torch.tensor([[0.0, 0.2]])
    assert two_token_entropy(0.2, 4.0) - two_token_entropy(0.2, 1.0) < 0.01
    t, entropy, _ = match_temperature(logits, two_token_entropy(0.2, 1.0))
    assert t == pytest.approx(1.0, rel=2e-3) and entropy == pytest.approx(two_token_entropy(0.2, 1.0), abs=1e-6)


# --- the command, on tiny models ------------------------------------------------------------------


@pytest.fixture(scope="module")
def heldout(tmp_path_factory, english_text):
    path = tmp_path_factory.mktemp("heldout") / "heldout.jsonl"
    path.write_text(
        "".join(json.dumps({"text": part}) + "\n" for part in english_text[:6000].split("\n\n") if part.strip())
    )
    return path


def scaled_copy(source, folder, factor: float) -> str:
    """The model at ``source`` with its final norm weight times ``factor``: every logit is ``factor`` times the
    original, so its entropy equals the original's at temperature ``1 / factor``."""
    model = AutoModelForCausalLM.from_pretrained(source)
    with torch.no_grad():
        model.model.norm.weight.mul_(factor)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def sharpened(tiny_lm_path, tmp_path_factory):
    """Base logits x 4: the tiny model's logits are small, so sharpen it a lot."""
    return scaled_copy(tiny_lm_path, tmp_path_factory.mktemp("sharp"), 4.0)


def run(tmp_path, capsys, *argv):
    output = tmp_path / "temperature.json"
    assert main([*map(str, argv), "--json", str(output)]) == 0
    assert "entropy-matched temperature T = " in capsys.readouterr().out
    return json.loads(output.read_text())


def test_command_finds_the_scale_of_a_sharpened_copy(tiny_lm_path, sharpened, heldout, tmp_path, capsys):
    common = ["--data", heldout, "--block-size", 32, "--limit", 3, "--tolerance", 1e-5]
    result = run(tmp_path, capsys, tiny_lm_path, sharpened, *common)
    assert result["temperature"] == pytest.approx(0.25, rel=1e-3)
    assert result["positions"] == 3 * 31 and result["blocks"] == 3
    assert result["hyperfitted_entropy"] < result["base_entropy"]
    assert abs(result["base_entropy_at_temperature"] - result["hyperfitted_entropy"]) <= 1e-5
    low, high = result["temperature_ci95"]
    assert low <= result["temperature"] <= high and high - low < 0.01  # every block matches at the same T
    # the other way round: the base is the sharp one, T > 1
    reverse = run(tmp_path, capsys, sharpened, tiny_lm_path, *common, "--max-temperature", 5)
    assert reverse["temperature"] == pytest.approx(4.0, rel=1e-3) and reverse["search_range"] == [0.05, 5.0]
    assert reverse["hyperfitted_entropy"] == pytest.approx(result["base_entropy"], abs=1e-5)
    # a model against itself: T = 1
    assert run(tmp_path, capsys, tiny_lm_path, tiny_lm_path, *common)["temperature"] == pytest.approx(1.0, rel=1e-3)


def test_command_one_line_errors(tiny_lm_path, sharpened, heldout, tmp_path, capsys):
    output = tmp_path / "kept.json"
    output.write_text("{}")
    cases = [
        ([sharpened, tiny_lm_path, "--max-temperature", 2], "needs T outside [0.05, 2]", "raise --max-temperature"),
        ([tiny_lm_path, sharpened, "--min-temperature", 0.5], "needs T outside [0.5, 4]", "lower --min-temperature"),
        (
            [tiny_lm_path, sharpened, "--min-temperature", 2, "--max-temperature", 1],
            "search range needs",
            "0 < --min-temperature",
        ),
        ([tiny_lm_path, tmp_path / "nowhere"], "model folder not found", ""),
    ]
    for argv, message, fix in cases:
        options = [
            "--data",
            str(heldout),
            "--block-size",
            "32",
            "--limit",
            "2",
            "--tolerance",
            "1e-5",
            "--json",
            str(output),
        ]
        assert main([*map(str, argv), *options]) == 1
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("hyperfit-temperature: error: ") and message in error and fix in error
    assert output.read_text() == "{}"


def test_temperature_interval_is_the_delta_method_over_blocks():
    base, hyperfitted = torch.tensor([2.1, 1.9, 2.3, 2.1]), torch.tensor([2.0, 2.0, 2.0, 2.0])
    # differences 0.1, -0.1, 0.3, 0.1: sample sd sqrt(0.08 / 3), standard error of the mean sd / 2
    half_width = 1.96 * math.sqrt(0.08 / 3) / 2 / 0.5
    low, high = temperature_interval(base, hyperfitted, slope=0.5, temperature=1.0)
    assert low == pytest.approx(1 - half_width) and high == pytest.approx(1 + half_width)
    assert temperature_interval(base[:1], hyperfitted[:1], slope=0.5, temperature=1.0) is None
