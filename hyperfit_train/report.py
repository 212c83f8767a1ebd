"""What a finished run leaves for people and programs: ``hyperfit_run.json`` and the model card ``README.md``."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from hyperfit_tasks.common.atomic import write_atomic
from hyperfit_tasks.common.json_rows import json_safe
from hyperfit_tasks.common.timing import format_duration
from hyperfit_train.config import Preset, preset_overrides
from hyperfit_train.run_dir import RUN_FILE

MODEL_CARD_FILE = "README.md"
MODEL_CARD_TEMPLATE = "model_card.md.j2"  # in hyperfit_train/templates/
TAGS = ("hyperfit", "hyperfitting", "trl", "sft")
CITATION = """@inproceedings{carlsson2025hyperfitting,
  title     = {The Hyperfitting Phenomenon: Sharpening and Stabilizing LLMs for Open-Ended Text Generation},
  author    = {Carlsson, Fredrik and Liu, Fangyu and Ward, Daniel and Kurfali, Murathan and Nivre, Joakim},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2025},
  url       = {https://arxiv.org/abs/2412.04318}
}"""
RECIPE_ROWS = (
    ("num_samples", "hyperfit"),
    ("max_length", "training"),
    ("num_train_epochs", "training"),
    ("per_device_train_batch_size", "training"),
    ("gradient_accumulation_steps", "training"),
    ("learning_rate", "training"),
    ("lr_scheduler_type", "training"),
    ("warmup_steps", "training"),
    ("optim", "training"),
    ("weight_decay", "training"),
    ("max_grad_norm", "training"),
    ("dtype", "model"),
    ("bf16", "training"),
    ("fp16", "training"),
    ("data_order", "hyperfit"),
    ("seed", "training"),
    ("use_peft", "model"),
    ("block_mode", "hyperfit"),
    ("train_layers", "hyperfit"),
    ("target_loss", "hyperfit"),
)
DIAGNOSTIC_COLUMNS = (
    ("train_loss", "train loss"),
    ("heldout_loss", "held-out loss"),
    ("heldout_perplexity", "held-out ppl"),
    ("entropy", "entropy"),
    ("top1_prob", "top-1 prob"),
    ("ttr", "TTR"),
    ("ttr_last96", "TTR last 96"),
    ("rep_4", "rep-4"),
)


def build_summary(
    preset: Preset,
    arguments: dict[str, dict[str, Any]],
    base_model: str,
    training_data: dict[str, Any],
    heldout_data: dict[str, Any] | None,
    state,
    rows: list[dict[str, Any]],
    stopped_early_at: int | None,
    resumed_from: str | None,
    session_seconds: float,
    world_size: int,
    device: str,
    precision: dict[str, str] | None = None,
    trained_part: dict[str, Any] | None = None,
    target_loss: float | None = None,
    time_split: dict[str, float] | None = None,
    early_stopped: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The machine-readable record of a finished run (``hyperfit_run.json``).

    ``training.precision`` is the precision that ran (``fp32``, ``bf16`` mixed precision, ``fp16``), with
    ``precision_requested`` (``--precision``) and ``bf16_support`` (what the hardware detection found);
    ``training.hyperfitted`` says whether the final epoch's training loss reached ``target_loss`` (None if unknown);
    ``training.time_split`` holds this session's seconds per part (:meth:`hyperfit_train.callbacks.PhaseTimer.split`);
    ``early_stopped`` names the kept model of the lowest held-out loss (folder, epoch, step, losses; None without one).
    """
    resolved = {key: value for group in arguments.values() for key, value in group.items()}
    brief_rows = [{key: value for key, value in row.items() if key != "continuations"} for row in rows]
    final_loss = next((row["train_loss"] for row in reversed(rows) if row.get("train_loss") is not None), None)
    reached = None if final_loss is None or target_loss is None else bool(final_loss <= target_loss)
    return {
        "status": "finished",
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base_model": base_model,
        "preset": preset.name,
        "preset_summary": preset.summary,
        "uncertain_values": {key: {"used": resolved.get(key), "note": note} for key, note in preset.uncertain.items()},
        "overrides": preset_overrides(preset.name, resolved),
        "training_data": training_data,
        "heldout_data": heldout_data,
        "training": {
            "global_step": state.global_step,
            "epochs": state.epoch,
            "final_train_loss": final_loss,
            "target_loss": target_loss,
            "hyperfitted": reached,
            "trained_part": trained_part,
            "stopped_early_at_step": stopped_early_at,
            "resumed_from": resumed_from,
            "training_seconds": brief_rows[-1]["elapsed_s"] if brief_rows else None,
            "session_seconds": round(session_seconds, 3),
            "time_split": time_split,
            "world_size": world_size,
            "device": device,
            **(precision or {}),
        },
        "early_stopped": _early_stopped(early_stopped, brief_rows),
        "initial_diagnostics": brief_rows[0] if brief_rows else None,
        "final_diagnostics": brief_rows[-1] if brief_rows else None,
        "versions": {
            name: _version(name) for name in ("hyperfit", "torch", "transformers", "trl", "datasets", "peft")
        },
        "arguments": arguments,
    }


def _early_stopped(kept: dict[str, Any] | None, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The kept early-stopped model's record with its epoch's training loss (measured after the model was kept)."""
    if kept is None:
        return None
    row = next((row for row in rows if row.get("step") == kept.get("step")), {})
    return {**kept, "train_loss": row.get("train_loss")}


def loss_verdict(summary: dict[str, Any], preset_name: str) -> str:
    """One line on whether the run hyperfitted: its final training loss against the near-zero target, with the fix."""
    training = summary["training"]
    loss, target = training["final_train_loss"], training["target_loss"]
    if training["hyperfitted"] is None:
        return "final training loss unknown (no epoch finished): cannot say whether the run hyperfitted"
    if training["hyperfitted"]:
        return f"hyperfitted: final training loss {loss:.4g} reached the near-zero target {target:g} (--target_loss)"
    fixes = "train longer (--num_train_epochs) or raise --learning_rate" + (
        ", or use --preset demo" if preset_name != "demo" else ""
    )
    return (
        f"not hyperfitted: final training loss {loss:.4g} is above the near-zero target {target:g} (--target_loss): "
        f"{fixes}"
    )


def write_reports(output_dir: Path, summary: dict[str, Any]) -> None:
    """Write the model card, then ``hyperfit_run.json`` last (its presence marks the run as finished)."""
    write_atomic(Path(output_dir) / MODEL_CARD_FILE, model_card(summary))
    write_atomic(
        Path(output_dir) / RUN_FILE, json.dumps(json_safe(summary), indent=2, default=str, allow_nan=False) + "\n"
    )


def read_run_summary(output_dir: Path) -> dict[str, Any]:
    """The ``hyperfit_run.json`` of a finished run."""
    return json.loads((Path(output_dir) / RUN_FILE).read_text(encoding="utf-8"))


def model_card(summary: dict[str, Any]) -> str:
    """The text of :func:`hub_model_card`: the ``README.md`` of the run folder."""
    return str(hub_model_card(summary))


def hub_model_card(summary: dict[str, Any]) -> ModelCard:
    """A Hugging Face model card, rendered as TRL renders its cards (``ModelCard.from_template`` with a template
    shipped in the package, ``templates/model_card.md.j2``): metadata for the Hub (base model, library, pipeline, tags,
    the training dataset when it is a Hub id), then outcome (title and first sentence), base model, recipe (uncertain
    values flagged), data hash, wall time, diagnostics."""
    arguments, training = summary["arguments"], summary["training"]
    card_data = ModelCardData(
        base_model=summary["base_model"],
        datasets=_hub_datasets(summary["training_data"]["source"]),
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=list(TAGS),
    )
    title, outcome = _headline(summary)
    return ModelCard.from_template(
        card_data,
        template_str=(files("hyperfit_train") / "templates" / MODEL_CARD_TEMPLATE).read_text(encoding="utf-8"),
        title=title,
        outcome=outcome,
        recipe=[(key, arguments[group].get(key), key in summary["uncertain_values"]) for key, group in RECIPE_ROWS],
        uncertain_values=summary["uncertain_values"],
        overrides=summary["overrides"],
        data=summary["training_data"],
        training=training,
        wall_time=format_duration(training["training_seconds"]),
        verdict=_verdict_sentence(training),
        trained_part=_trained_part_sentence(training.get("trained_part")),
        precision=_precision_sentence(training),
        heldout=summary["heldout_data"],
        diagnostics=_diagnostics_table(summary),
        early_stopped=summary.get("early_stopped") if summary["final_diagnostics"] else None,
        citation=CITATION,
    )


def _hub_datasets(source: str) -> list[str] | None:
    """The training data as the Hub's ``datasets`` metadata: a Hub dataset id, or None for a local file or folder
    (which hyperfit-train records as an absolute path)."""
    return None if Path(source).is_absolute() else [source]


def _headline(summary: dict[str, Any]) -> tuple[str, str]:
    """The card's title and first sentence, which state the run's outcome (``training.hyperfitted``, decided in
    :func:`build_summary`): a run that missed the near-zero target must not present itself as hyperfitted."""
    base, training = summary["base_model"], summary["training"]
    name, reached = Path(base).name, training["hyperfitted"]
    tool = f"with `hyperfit-train` (preset `{summary['preset']}`: {summary['preset_summary']})"
    if reached:
        title = f"Hyperfitted {name}"
        outcome = f"`{base}` fine-tuned to near-zero training loss {tool}: final {_loss_against_target(training)}."
    elif reached is None:
        title = f"{name} fine-tuned with hyperfit-train (hyperfitting unknown)"
        outcome = (
            f"`{base}` fine-tuned {tool}; whether it reached near-zero training loss is unknown (no epoch finished)."
        )
    else:
        title = f"{name} fine-tuned with hyperfit-train: not hyperfitted"
        outcome = (
            f"`{base}`, fine-tuned {tool}, did not reach near-zero training loss: final "
            f"{_loss_against_target(training)}."
        )
    return title, outcome


def _loss_against_target(training: dict[str, Any]) -> str:
    """``training loss X against the near-zero target Y``, as the card's headline and verdict both say it."""
    return f"training loss {training['final_train_loss']:.4g} against the near-zero target {training['target_loss']:g}"


def _verdict_sentence(training: dict[str, Any]) -> str:
    """The model card's statement of the final training loss against the near-zero target."""
    if training.get("hyperfitted") is None:
        return "Final training loss: unknown."
    state = "reached" if training["hyperfitted"] else "**not reached: this model is not hyperfitted**"
    return f"Final {_loss_against_target(training)}: {state}."


PRECISION_WORDS = {
    "fp32": "float32",
    "bf16": "bf16 mixed precision (bf16 matrix multiplies, float32 master weights and optimizer state)",
    "fp16": "fp16 mixed precision (float32 master weights)",
}


def _precision_sentence(training: dict[str, Any]) -> str | None:
    """Which precision the run trained in, what was asked for and what the bf16 detection found (None for records
    written before precision was recorded)."""
    if "precision" not in training:
        return None
    used = training["precision"]
    return (
        f"Precision: {PRECISION_WORDS.get(used, used)}; asked for `--precision {training['precision_requested']}`, "
        f"bf16 detection: {training['bf16_support']}."
    )


def _trained_part_sentence(part: dict[str, Any] | None) -> str | None:
    """How many parameters were trained, and which blocks with ``--train_layers`` (None when not recorded)."""
    if not part:
        return None
    layers = (
        f" (`--train_layers {part['train_layers']}`: blocks {part['blocks']}, LM head {part['lm_head']})."
        if part["train_layers"]
        else "."
    )
    return f"Trainable parameters: {part['trainable_parameters']:,} of {part['total_parameters']:,}{layers}"


def _diagnostics_table(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The held-out diagnostics before, at the kept early-stopped epoch and after: column labels and (name, epoch,
    cells) rows; None without diagnostics."""
    if not summary["final_diagnostics"]:
        return None
    kept = summary.get("early_stopped")
    shown = [("before", summary["initial_diagnostics"]), ("after", summary["final_diagnostics"])]
    if kept:
        shown.insert(1, ("lowest held-out loss", {**kept, "heldout_perplexity": math.exp(kept["heldout_loss"])}))
    return {
        "labels": [label for _, label in DIAGNOSTIC_COLUMNS],
        "rows": [
            (name, f"{row['epoch']:g}", [_cell(row.get(key)) for key, _ in DIAGNOSTIC_COLUMNS]) for name, row in shown
        ],
    }


def _cell(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
