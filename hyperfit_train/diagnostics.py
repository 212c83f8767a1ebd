"""The sharpening the paper reports, measured on held-out text: loss, perplexity, entropy, top-k mass,
top-1 confidence when right and when wrong, greedy TTR.

Pure measurements (a model and token ids in, numbers out), the ``diagnostics.jsonl`` rows they
become, and the plot drawn from those rows. Sharpness comes from
:func:`hyperfit_tasks.metrics.next_token_sharpness` and :func:`hyperfit_tasks.metrics.top1_calibration`;
TTR and rep-n from the same metrics package that scores lm-eval runs, so training-time and evaluation
numbers agree.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyperfit_tasks.common.atomic import atomic_target
from hyperfit_tasks.common.json_rows import json_safe
from hyperfit_tasks.metrics import catalogue, next_token_sharpness, rep_n, type_token_ratio, windowed_ttr
from hyperfit_tasks.metrics.catalogue import LAST_WINDOW
from hyperfit_tasks.metrics.sharpness import Top1Calibration, top1


@torch.no_grad()
def heldout_metrics(model, blocks: torch.Tensor, batch_size: int) -> dict[str, float]:
    """Mean next-token loss (nats), perplexity and sharpness over all positions of ``blocks``.

    Sharpness: entropy, top-1/3/5 mass, and the top-1 split of :func:`hyperfit_tasks.metrics.top1_calibration`
    (``top1_prob_correct``, ``top1_prob_wrong``, ``top1_accuracy``, ``ece`` over 10 equal-mass bins), which
    shows whether the sharpening makes wrong predictions as confident as right ones.
    """
    device = _device(model)
    total_loss, total_positions = 0.0, 0
    sharpness_sums: dict[str, float] = {}
    calibration = Top1Calibration()
    for batch in blocks.split(batch_size):
        batch = batch.to(device)
        logits = model(input_ids=batch, use_cache=False).logits[:, :-1].float()
        targets = batch[:, 1:]
        positions = targets.numel()
        total_loss += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
        ).item()
        for name, value in next_token_sharpness(logits).items():
            sharpness_sums[name] = sharpness_sums.get(name, 0.0) + value * positions
        probability, top_id = top1(logits)
        calibration.add(probability, top_id == targets)
        total_positions += positions
    loss = total_loss / total_positions
    return {
        "heldout_loss": loss,
        "heldout_perplexity": math.exp(loss) if loss < 700 else math.inf,
        **{name: value / total_positions for name, value in sharpness_sums.items()},
        **calibration.result(),
    }


@torch.no_grad()
def greedy_continuations(
    model, prompts: torch.Tensor, new_tokens: int, eos_token_id: int | None, pad_token_id: int
) -> list[list[int]]:
    """Greedy continuations (token ids, up to ``new_tokens``, cut before the first EOS) of equal-length ``prompts``."""
    from transformers import GenerationConfig

    config = GenerationConfig(
        max_new_tokens=new_tokens, do_sample=False, num_beams=1, eos_token_id=eos_token_id, pad_token_id=pad_token_id
    )
    prompts = prompts.to(_device(model))
    output = model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), generation_config=config)
    continuations = []
    for row in output[:, prompts.shape[1] :].tolist():
        if eos_token_id is not None and eos_token_id in row:
            row = row[: row.index(eos_token_id)]
        continuations.append(row)
    return continuations


def continuation_metrics(continuations: list[list[int]]) -> dict[str, float]:
    """Mean TTR, last-96-token TTR (the authors' ``ttr_last96``), rep-4 and length of the continuations."""

    def mean(values) -> float:
        values = [value for value in values if not math.isnan(value)]
        return float(np.mean(values)) if values else math.nan

    return {
        "ttr": mean(type_token_ratio(tokens) for tokens in continuations),
        "ttr_last96": mean(windowed_ttr(tokens, LAST_WINDOW) for tokens in continuations),
        "rep_4": mean(rep_n(tokens, 4) for tokens in continuations),
        "continuation_length": mean(len(tokens) for tokens in continuations),
    }


def measure(
    model, tokenizer, heldout: torch.Tensor, prompts: torch.Tensor | None, new_tokens: int, batch_size: int
) -> dict[str, Any]:
    """All held-out diagnostics of ``model`` at one point of training (the model is left in its previous mode)."""
    with eval_mode(model):
        row = heldout_metrics(model, heldout, batch_size)
        if prompts is not None and len(prompts):
            row.update(continuation_row(model, tokenizer, prompts, new_tokens))
    return row


@contextmanager
def eval_mode(model):
    """``model`` in eval mode inside the block, back in its previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def continuation_row(model, tokenizer, prompts: torch.Tensor, new_tokens: int) -> dict[str, Any]:
    """The greedy-continuation part of a diagnostics row: TTR, rep-4, length and the decoded texts."""
    continuations = greedy_continuations(model, prompts, new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id)
    return continuation_metrics(continuations) | {
        "continuations": [
            {"prompt": tokenizer.decode(prompt), "continuation": tokenizer.decode(tokens)}
            for prompt, tokens in zip(prompts.tolist(), continuations)
        ]
    }


def row_to_json(row: dict[str, Any]) -> str:
    """One ``diagnostics.jsonl`` line (standard JSON: NaN becomes null)."""
    return json.dumps(json_safe(row), ensure_ascii=False)


def summary_line(row: dict[str, Any]) -> str:
    """A one-line human summary of a row, for the progress output."""
    parts = [f"epoch {row['epoch']:g}"]
    for key, label, spec in (
        ("train_loss", "train loss", ".4g"),
        ("heldout_loss", "held-out loss", ".4g"),
        ("heldout_perplexity", "ppl", ".4g"),
        ("top1_prob", "top-1", ".3f"),
        ("entropy", "entropy", ".3f"),
        ("ece", "ECE", ".3f"),
        *((name, catalogue.label(name), ".3f") for name in ("ttr", "ttr_last96", "rep_4")),
    ):
        if row.get(key) is not None:
            parts.append(f"{label} {row[key]:{spec}}")
    return "diagnostics: " + " | ".join(parts)


PLOT_PANELS = (
    ("training loss", ("train_loss",), True),
    ("held-out perplexity", ("heldout_perplexity",), True),
    ("top-1 probability", ("top1_prob", "top1_prob_correct", "top1_prob_wrong"), False),
    ("entropy (nats)", ("entropy",), False),
    ("TTR of greedy continuations", ("ttr", "ttr_last96"), False),
    ("rep-4 of greedy continuations", ("rep_4",), False),
)


def plot_rows(rows: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Draw every diagnostic against epoch (2 x 3 panels) into a PNG, written atomically. Drawn on a pyplot-free
    ``Figure``, so the caller's matplotlib backend (a notebook's that calls ``train()``, say) is left alone."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 7), layout="constrained")
    axes = figure.subplots(2, 3)
    for axis, (label, keys, log_scale) in zip(axes.flat, PLOT_PANELS):
        for key in keys:
            points = [(row["epoch"], row[key]) for row in rows if isinstance(row.get(key), (int, float))]
            if points:
                axis.plot(*zip(*points), marker="o", markersize=3, label=key)
        if log_scale and axis.lines and all(y > 0 for line in axis.lines for y in line.get_ydata()):
            axis.set_yscale("log")
        if len(keys) > 1 and axis.lines:
            axis.legend(fontsize=8)
        axis.set_title(label, fontsize=10)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=11)
    with atomic_target(path) as temporary:
        figure.savefig(temporary, dpi=100)


def _device(model) -> torch.device:
    return next(model.parameters()).device
