"""The units continuations are scored in: words, and tokens of one fixed tokenizer (and the one cached tokenizer loader).

lm-eval hands a task the generated *string*, so every count is made by re-cutting that string
with units that do not depend on the evaluated model, which keeps numbers comparable across
models with different vocabularies:

* words: ``nltk.tokenize.wordpunct_tokenize`` (runs of letters/digits, runs of punctuation;
  case kept). It needs no NLTK data download, unlike ``word_tokenize``.
* tokens: the token ids of one fixed tokenizer, by default the tokenizer of hyperfit's offline
  default model (SmolLM2-135M, a 49,152-entry byte-level BPE, ``"default"``). Any other
  tokenizer folder or hub name can be chosen per run (task metadata ``metric_tokenizer``).
"""
from __future__ import annotations

from functools import lru_cache

DEFAULT_TOKENIZER = "default"


def words(text: str) -> list[str]:
    """Split ``text`` into words and punctuation runs (``nltk`` ``wordpunct_tokenize``)."""
    from nltk.tokenize import wordpunct_tokenize

    return wordpunct_tokenize(text)


def token_ids(text: str, tokenizer_name: str) -> list[int]:
    """Token ids of ``text`` under the named tokenizer, without special tokens."""
    return load_tokenizer(tokenizer_name)(text, add_special_tokens=False)["input_ids"]


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
