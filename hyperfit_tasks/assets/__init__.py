"""Offline assets: the embedded default base model and the default text corpora.

Everything is built once into the user's cache (``hyperfit-assets``) and reused.
"""

from .cache import cache_root
from .corpora import DOMAIN_SPLITS, corpus_manifest, corpus_path, prepare_corpora
from .default_model import DEFAULT_MODEL_NAME, AssetError, default_model_path

__all__ = [
    "AssetError",
    "DEFAULT_MODEL_NAME",
    "DOMAIN_SPLITS",
    "cache_root",
    "corpus_manifest",
    "corpus_path",
    "default_model_path",
    "prepare_corpora",
]
