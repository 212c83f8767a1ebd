"""Layer-limited hyperfitting (``--train_layers last:K``): gradients for the last K transformer blocks only.

Li et al. (ICML 2026, arXiv 2605.22579) report that hyperfitting's change sits in the final
transformer block and that LoRA on the last 5 layers gives the full benefit; this module lets a run
test that. Without LoRA the last K blocks, the final norm and an untied LM head train and every other
parameter is frozen. A head tied to the input embeddings (SmolLM2, the tiny test model) is one
matrix with them, so training it would also change the model's input: it stays frozen.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from hyperfit_tasks.common.errors import HyperfitError

FINAL_NORM_NAMES = (
    "norm",
    "final_layernorm",
    "final_layer_norm",
    "ln_f",
    "norm_f",
)  # Llama/Qwen/Mistral, Phi, OPT, GPT-2, Falcon


def parse_train_layers(spec: str | None) -> int | None:
    """K of ``last:K`` (None for the whole model); a one-line error for anything else."""
    if spec is None:
        return None
    match = re.fullmatch(r"last:(\d+)", spec.strip())
    if match is None or int(match.group(1)) < 1:
        raise HyperfitError(f"--train_layers must be last:K with K >= 1 (e.g. last:5), got {spec!r}")
    return int(match.group(1))


def last_block_indices(count: int, num_blocks: int, model_id: str) -> list[int]:
    """Indices of the last ``count`` of ``num_blocks`` blocks; a one-line error if the model has fewer."""
    if count > num_blocks:
        raise HyperfitError(
            f"--train_layers last:{count} asks for more blocks than {model_id} has ({num_blocks}): give K <= "
            f"{num_blocks}"
        )
    return list(range(num_blocks - count, num_blocks))


def num_blocks_of(model_id: str, revision: str, trust_remote_code: bool) -> int:
    """Number of transformer blocks, from the model's config (``num_hidden_layers``)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
    return int(config.get_text_config().num_hidden_layers)


def freeze_all_but_last_blocks(model: torch.nn.Module, count: int, model_id: str) -> dict[str, Any]:
    """Freeze every parameter except those of the last ``count`` blocks, the final norm and an untied LM head.

    Returns what trains: the block indices and what happened to the LM head.
    """
    blocks, parent = _transformer_blocks(model, model_id)
    indices = last_block_indices(count, len(blocks), model_id)
    norm = next(
        (
            getattr(parent, name)
            for name in FINAL_NORM_NAMES
            if isinstance(getattr(parent, name, None), torch.nn.Module)
        ),
        None,
    )
    if norm is None:
        raise HyperfitError(
            f"cannot find the final norm of {model_id} (next to its blocks): --train_layers supports Llama-like models"
        )
    head, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
    tied = head is not None and embeddings is not None and head.weight is embeddings.weight
    modules = [blocks[index] for index in indices] + [norm] + ([head] if head is not None and not tied else [])
    trainable = {id(parameter) for module in modules for parameter in module.parameters()}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in trainable)
    return {
        "blocks": indices,
        "num_blocks": len(blocks),
        "lm_head": "frozen (tied to the input embeddings)" if tied else "trained",
    }


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Trainable and total parameter counts (a tied matrix counted once)."""
    parameters = list(model.parameters())  # .parameters() yields a shared (tied) parameter once
    return {
        "trainable_parameters": sum(parameter.numel() for parameter in parameters if parameter.requires_grad),
        "total_parameters": sum(parameter.numel() for parameter in parameters),
    }


def _transformer_blocks(model: torch.nn.Module, model_id: str) -> tuple[torch.nn.ModuleList, torch.nn.Module]:
    """The model's block list (the first ``ModuleList`` with ``num_hidden_layers`` entries) and the module holding
    it."""
    num_blocks = model.config.get_text_config().num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == num_blocks:
            return module, model.get_submodule(name.rpartition(".")[0])
    raise HyperfitError(
        f"cannot find the {num_blocks} transformer blocks of {model_id}: --train_layers supports Llama-like models"
    )
