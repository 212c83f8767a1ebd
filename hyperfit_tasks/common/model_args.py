"""Which ``--model_args`` keys name the evaluated model (lm-eval merges them into every task's metadata)."""

from __future__ import annotations

from typing import Any, Mapping

# Keys that name the evaluated model's tokenizer, first found wins (lm-eval's RULER tasks use the same order).
TOKENIZER_KEYS = ("tokenizer", "pretrained", "model")
# Keys that name the evaluated model itself, in lm-eval's own order (its GeneralConfigTracker).
MODEL_PATH_KEYS = ("peft", "delta", "pretrained", "model", "path", "engine")


def parse_model_args(model_args: Any) -> dict[str, Any]:
    """lm-eval ``--model_args`` as a dict: a ``KEY=VALUE,...`` string parsed as lm-eval parses it, a dict as it is,
    anything else (or an unparsable string) {}."""
    if isinstance(model_args, str):
        from lm_eval.utils import simple_parse_args_string

        try:
            return simple_parse_args_string(model_args)
        except ValueError:
            return {}
    return model_args if isinstance(model_args, dict) else {}


def evaluated_model_name(metadata: Mapping[str, Any]) -> str | None:
    """The evaluated model's tokenizer name or path from task metadata (``None`` if absent)."""
    for key in TOKENIZER_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return None
