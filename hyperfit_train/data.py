"""Training and held-out blocks: tokenize texts, cut them into blocks, sample and hash them.

The texts are tokenized without special tokens, joined into one stream with the tokenizer's EOS
after every document, and cut into consecutive blocks of ``block_size`` tokens (the trailing
partial block is dropped), as in the Hugging Face ``run_clm`` examples and TRL's ``wrapped``
packing. Training blocks are then sampled with a seed; held-out blocks are spread evenly.
"""
from __future__ import annotations

import hashlib
import logging

import numpy as np

from hyperfit_tasks.common.errors import HyperfitError

logger = logging.getLogger("hyperfit_train")


def tokenize_to_blocks(dataset, tokenizer, block_size: int, role: str = "training data") -> np.ndarray:
    """Tokenize every text (EOS after each), concatenate, and cut into ``[n_blocks, block_size]`` int64 ids."""
    text_field = dataset.column_names[0]
    separator = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]

    def encode(batch: dict[str, list]) -> dict[str, list]:
        texts = [text for text in batch[text_field] if text and text.strip()]
        ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
        return {"input_ids": [list(token_ids) + separator for token_ids in ids if token_ids]}

    tokenized = dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc=f"Tokenizing {role}")
    chunks = tokenized.data.column("input_ids").chunks
    stream = np.concatenate([chunk.flatten().to_numpy(zero_copy_only=False) for chunk in chunks] or [np.zeros(0)])
    stream = stream.astype(np.int64, copy=False)
    if stream.size == 0:
        raise HyperfitError(f"{role} contains no text: give texts that are not empty")
    num_blocks = stream.size // block_size
    if num_blocks == 0:
        raise HyperfitError(
            f"{role} has {stream.size} tokens, fewer than one block of {block_size}: give more text or lower --max_length"
        )
    return stream[: num_blocks * block_size].reshape(num_blocks, block_size)


def sample_blocks(blocks: np.ndarray, num_samples: int, seed: int, role: str = "training data") -> np.ndarray:
    """``num_samples`` distinct blocks in a seeded random order; all of them (warning) if there are fewer."""
    if num_samples > len(blocks):
        logger.warning(
            "%s holds %d blocks, fewer than the %d requested: training on all %d", role, len(blocks), num_samples, len(blocks)
        )
    chosen = np.random.default_rng(seed).choice(len(blocks), size=min(num_samples, len(blocks)), replace=False)
    return blocks[chosen]


def evenly_spaced_blocks(blocks: np.ndarray, count: int) -> np.ndarray:
    """``count`` blocks spread evenly from the first to the last (all if there are fewer), in order."""
    count = min(count, len(blocks))
    return blocks[np.linspace(0, len(blocks) - 1, count).round().astype(np.int64)]


def blocks_sha256(blocks: np.ndarray) -> str:
    """SHA-256 hex digest of the blocks as a row-major little-endian int64 array (shape recorded separately)."""
    return hashlib.sha256(np.ascontiguousarray(blocks, dtype="<i8").tobytes()).hexdigest()
