"""The model card (``README.md`` of a hyperfit-train run) on fixed run records: the rendered card equals the golden
card under ``tests/data/model_card/``, but for the metadata block.

The golden cards were written by the f-string renderer (commit 3beb3de) from the records built here; they cover each
branch of the card (hyperfitted, not hyperfitted, unknown; precision bf16, fp32 or not recorded (a line added since);
prefix and packed blocks; overrides or none; trained part with and without ``--train_layers``; held-out text of its
own, cut from the training data, or not described; the kept early-stopped model; a stopped, resumed or unfinished run)
and texts with Markdown, HTML and Jinja characters, which the card must show as they are. The card is now
``huggingface_hub.ModelCard.from_template`` (as TRL renders its cards): the text after the metadata block is byte for
byte the old one; the metadata block is written by ``ModelCardData`` (block YAML, keys sorted, quotes only where YAML
needs them, where the old card wrote ``tags: [...]`` and a JSON-quoted ``base_model``) and holds the same values, with
one intended addition: ``datasets``, the training data when it is a Hub dataset id (local files have none). Regenerate
the golden cards only for an intended change of the card:
``python tests/test_train_card_golden.py``.
"""

from __future__ import annotations

import copy
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

from hyperfit_train.report import model_card

GOLDEN = Path(__file__).parent / "data" / "model_card"

ARGUMENTS = {
    "hyperfit": {
        "num_samples": 2000,
        "data_order": "shuffled",
        "block_mode": "prefix",
        "train_layers": None,
        "target_loss": 0.1,
    },
    "training": {
        "max_length": 256,
        "num_train_epochs": 20.0,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "learning_rate": 1e-06,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "optim": "adamw_torch",
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "bf16": False,
        "fp16": False,
        "seed": 42,
    },
    "model": {"dtype": "float32", "use_peft": False},
}
UNCERTAIN = {
    "learning_rate": {"used": 1e-06, "note": "the paper says 1e-6 (Adam); some versions say 1e-5"},
    "weight_decay": {"used": 0.0, "note": "not stated; assumed none"},
}
ROW = {"train_loss": 3.2104, "heldout_loss": 3.4, "heldout_perplexity": 29.96, "entropy": 3.49, "top1_prob": 0.335,
       "ttr": 0.21, "ttr_last96": 0.145, "rep_4": 0.864}  # fmt: skip


def hyperfitted() -> dict:
    """Hyperfitted, prefix blocks, a local base model with Markdown/HTML/Jinja characters in its path, overrides, two
    of four layers trained, bf16 chosen by --precision auto, held-out text of its own, the early-stopped model kept,
    stopped early and resumed, over an hour."""
    base = "/models/a&b <tiny> {{ x }} | y"
    return {
        "base_model": base,
        "preset": "paper",
        "preset_summary": "The paper's recipe: 2,000 blocks of 256 tokens, 20 epochs, Adam lr 1e-6, no weight decay, "
        "batch 8, constant lr.",
        "uncertain_values": copy.deepcopy(UNCERTAIN),
        "overrides": {"learning_rate": {"preset": 1e-06, "used": 0.01}, "num_samples": {"preset": 2000, "used": 16}},
        "training_data": {
            "source": "/data/austen <train>.txt",
            "text_field": "text",
            "block_mode": "prefix",
            "blocks": 16,
            "block_size": 256,
            "sample_seed": 42,
            "available_blocks": 812,
            "dropped_texts": 37,
            "data_order": "shuffled",
            "file": "train_blocks.parquet",
            "sha256": "ab" * 32,
        },
        "heldout_data": {
            "source": "/data/austen_heldout.txt",
            "blocks": 8,
            "prompts": 4,
            "prompt_tokens": 32,
            "new_tokens": 96,
        },
        "training": {
            "global_step": 160,
            "epochs": 20.0,
            "final_train_loss": 0.0123456,
            "target_loss": 0.1,
            "hyperfitted": True,
            "trained_part": {
                "trainable_parameters": 1234567,
                "total_parameters": 9876543,
                "train_layers": "2-3",
                "blocks": [2, 3],
                "lm_head": True,
            },
            "stopped_early_at_step": 150,
            "resumed_from": "/runs/x/checkpoint-80",
            "training_seconds": 3725.4,
            "world_size": 2,
            "device": "cuda:0",
            "precision": "bf16",
            "precision_requested": "auto",
            "bf16_support": "cuda device with native bf16",
        },
        "early_stopped": {
            "path": "early_stopped",
            "epoch": 3.0,
            "step": 24,
            "heldout_loss": 3.1234,
            "train_loss": 2.5,
        },
        "initial_diagnostics": {"epoch": 0.0, **ROW, "train_loss": None},
        "final_diagnostics": {
            "epoch": 20.0,
            **ROW,
            "train_loss": 0.0123456,
            "heldout_loss": 6.8,
            "heldout_perplexity": 897.8,
            "entropy": 1.22,
            "top1_prob": 0.679,
            "rep_4": None,
        },
        "arguments": copy.deepcopy(ARGUMENTS),
    }


def not_hyperfitted() -> dict:
    """Missed the target, packed blocks, a Hub base model and a Hub dataset, no overrides, all layers trained, held-out
    blocks cut from the training data, no early-stopped model, under an hour, one process, fp32."""
    summary = hyperfitted()
    summary.update(base_model="HuggingFaceTB/SmolLM2-135M", overrides={}, early_stopped=None)
    summary["arguments"]["hyperfit"]["block_mode"] = "packed"
    summary["training_data"].update(source="Salesforce/wikitext", text_field="page", block_mode="packed")
    summary["heldout_data"] = {"source": "Salesforce/wikitext", "held_out_from": "data", "blocks": 8, "prompts": 4,
                               "prompt_tokens": 32, "new_tokens": 96}  # fmt: skip
    summary["training"].update(
        final_train_loss=1.98765,
        hyperfitted=False,
        stopped_early_at_step=None,
        resumed_from=None,
        training_seconds=75.4,
        world_size=1,
        device="cpu",
        precision="fp32",
        precision_requested="fp32",
        bf16_support="x86_64 CPU without AMX-BF16 or AVX512-BF16",
        trained_part={
            "trainable_parameters": 9876543,
            "total_parameters": 9876543,
            "train_layers": None,
            "blocks": None,
            "lm_head": True,
        },
    )
    summary["final_diagnostics"].update(train_loss=1.98765)
    return summary


def unknown() -> dict:
    """No epoch finished: no final loss, no diagnostics, no trained part recorded, no wall time; a record written
    before precision was recorded (the card has no precision line)."""
    summary = not_hyperfitted()
    for key in ("precision", "precision_requested", "bf16_support"):
        del summary["training"][key]
    summary["training"].update(
        final_train_loss=None, hyperfitted=None, trained_part=None, training_seconds=None, global_step=0, epochs=0
    )
    summary.update(initial_diagnostics=None, final_diagnostics=None, heldout_data=None, uncertain_values={})
    return summary


def diagnostics_without_heldout_description() -> dict:
    """Diagnostics rows but no held-out data record: the table without its sentence."""
    summary = not_hyperfitted()
    summary["heldout_data"] = None
    return summary


SUMMARIES = {
    "hyperfitted": hyperfitted,
    "not_hyperfitted": not_hyperfitted,
    "unknown": unknown,
    "diagnostics_without_heldout_description": diagnostics_without_heldout_description,
}


def split_card(card: str) -> tuple[dict, str]:
    """The metadata block (as the Hub parses it) and the text after it."""
    assert card.startswith("---\n")
    front, text = card[4:].split("\n---\n", 1)
    return yaml.safe_load(front), text


# The metadata the golden cards lack: ``datasets`` for a training set named by its Hub id.
ADDED = {"not_hyperfitted": {"datasets": ["Salesforce/wikitext"]}, "unknown": {"datasets": ["Salesforce/wikitext"]},
         "diagnostics_without_heldout_description": {"datasets": ["Salesforce/wikitext"]}}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_model_card_equals_the_golden_card_but_for_the_added_metadata(name):
    card = model_card(SUMMARIES[name]())
    metadata, text = split_card(card)
    golden_metadata, golden_text = split_card((GOLDEN / f"{name}.md").read_text(encoding="utf-8"))
    assert text == golden_text
    assert metadata == golden_metadata | ADDED.get(name, {})
    assert set(metadata) >= {"base_model", "library_name", "pipeline_tag", "tags"}
    assert ModelCard(card).data.to_dict() == metadata  # huggingface_hub reads the same metadata back
    assert str(ModelCard(card)) == card  # and writes the card unchanged


def test_the_card_template_is_package_data():
    """pyproject's package data covers the template (tests/test_packaging.py installs a wheel for the compare
    template)."""
    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "hyperfit_train"
    ]
    shipped = {path for pattern in patterns for path in (root / "hyperfit_train").glob(pattern)}
    assert root / "hyperfit_train" / "templates" / "model_card.md.j2" in shipped


if __name__ == "__main__":  # regenerate the golden cards (see the module docstring)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, summary in SUMMARIES.items():
        (GOLDEN / f"{name}.md").write_text(model_card(summary()), encoding="utf-8")
    sys.exit(0)
