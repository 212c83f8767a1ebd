"""The units continuations are scored in: words, and tokens of one fixed tokenizer (and the one cached tokenizer
loader).

lm-eval hands a task the generated *string*, so every count is made by re-cutting that string
with units that do not depend on the evaluated model, which keeps numbers comparable across
models with different vocabularies:

* words: ``nltk.tokenize.wordpunct_tokenize`` (runs of letters/digits, runs of punctuation;
  case kept). It needs no NLTK data download, unlike ``word_tokenize``.
* tokens: the token ids of one fixed tokenizer, by default ``"default"``: the tokenizer of
  SmolLM2-135M (a 49,152-entry byte-level BPE, Apache-2.0), shipped inside this package
  (``hyperfit_tasks/assets/metric_tokenizer/``) so that token metrics need no model, cache or hub. It
  is the tokenizer of hyperfit's offline default model, so its ids are the same. Any other
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
    """A Hugging Face tokenizer; ``"default"`` means the shipped SmolLM2 metric tokenizer."""
    from transformers import AutoTokenizer

    if name == DEFAULT_TOKENIZER:
        name = default_tokenizer_path()
    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"cannot load tokenizer {name!r} ({type(error).__name__}): pass an existing tokenizer "
            "folder or hub name, or 'default' for the shipped SmolLM2 tokenizer"
        ) from None


def default_tokenizer_path() -> str:
    """Folder of the SmolLM2 tokenizer shipped as package data (``tokenizer.json`` + a portable config)."""
    from importlib.resources import files

    return str(files("hyperfit_tasks.assets") / "metric_tokenizer")
