"""Loading a Hugging Face tokenizer by name or folder, once per process, with a one-line error."""
from __future__ import annotations

from functools import lru_cache

DEFAULT_TOKENIZER = "default"


@lru_cache(maxsize=8)
def load_tokenizer(name: str):
    """A Hugging Face tokenizer; ``"default"`` means the tokenizer of hyperfit's default model."""
    from transformers import AutoTokenizer

    if name == DEFAULT_TOKENIZER:
        from hyperfit_tasks.assets import default_model_path

        name = str(default_model_path())
    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"cannot load tokenizer {name!r} ({type(error).__name__}): pass an existing tokenizer "
            "folder or hub name, or 'default' for hyperfit's default model"
        ) from None
