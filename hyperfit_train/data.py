"""Training and held-out blocks: tokenize texts, cut them into blocks, sample and hash them.

Two block shapes (``--block_mode``). ``packed``: the texts are tokenized without special tokens,
joined into one stream with the tokenizer's EOS after every document, and cut into consecutive
blocks of ``block_size`` tokens (the trailing partial block is dropped), as in the Hugging Face
``run_clm`` examples and TRL's ``wrapped`` packing. ``prefix`` (the authors' code): one block per
text, its first ``block_size`` tokens with the tokenizer's leading special tokens and no EOS;
shorter texts are dropped. Training blocks are then sampled with a seed; held-out blocks (always
packed) are spread evenly.
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
            f"{role} has {stream.size} tokens, fewer than one block of {block_size}: give more text or lower "
            "--max_length"
        )
    return stream[: num_blocks * block_size].reshape(num_blocks, block_size)


def tokenize_to_prefixes(dataset, tokenizer, block_size: int, role: str = "training data") -> tuple[np.ndarray, int]:
    """The first ``block_size`` tokens of every text that has that many, as ``[n_texts, block_size]`` int64 ids, and
    the number of shorter texts dropped.

    A block is what the authors' ``tokenizer(text, truncation=True, max_length=block_size)`` gives for a text at
    least that long: the tokenizer's leading special tokens (Llama: BOS; GPT-2, SmolLM2: none), then the text's
    tokens, never an EOS (a tokenizer that appends one gets none here).
    """
    import pyarrow as pa

    text_field = dataset.column_names[0]
    head = leading_special_tokens(tokenizer)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        texts = [text if text and text.strip() else "" for text in batch[text_field]]
        ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        full = [head + list(token_ids) if token_ids else [] for token_ids in ids]
        return {
            "prefix": [tokens[:block_size] if len(tokens) >= block_size else [] for tokens in full],
            "length": [len(tokens) for tokens in full],
        }

    tokenized = dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc=f"Tokenizing {role}")
    lengths = np.asarray(tokenized["length"], dtype=np.int64)
    if lengths.size == 0 or lengths.max() == 0:
        raise HyperfitError(f"{role} contains no text: give texts that are not empty")
    long_enough = lengths >= block_size
    if not long_enough.any():
        longest = int(lengths.max())
        raise HyperfitError(
            f"{role} has no text of {block_size} tokens for --block_mode prefix (the longest has {longest}): "
            f"lower --max_length to {longest} or below, give longer texts, or use --block_mode packed"
        )
    kept = tokenized.data.column("prefix").combine_chunks().filter(pa.array(long_enough))
    blocks = kept.flatten().to_numpy(zero_copy_only=False).astype(np.int64, copy=False).reshape(-1, block_size)
    dropped = int((~long_enough).sum())
    logger.info(
        "%s: %d of %d texts have at least %d tokens and give one block each (their first %d tokens); %d shorter texts "
        "dropped",
        role,
        len(blocks),
        lengths.size,
        block_size,
        block_size,
        dropped,
    )
    return blocks, dropped


def leading_special_tokens(tokenizer) -> list[int]:
    """The special tokens the tokenizer puts before a text by default (Llama: ``[BOS]``; GPT-2: ``[]``)."""
    special = set(tokenizer.all_special_ids)
    head = []
    for token in tokenizer("hyperfit")["input_ids"]:
        if token not in special:
            break
        head.append(token)
    return head


def sample_blocks(blocks: np.ndarray, num_samples: int, seed: int, role: str = "training data") -> np.ndarray:
    """``num_samples`` distinct blocks in a seeded random order; all of them (warning) if there are fewer."""
    if num_samples > len(blocks):
        logger.warning(
            "%s holds %d blocks, fewer than the %d requested: training on all %d",
            role,
            len(blocks),
            num_samples,
            len(blocks),
        )
    chosen = np.random.default_rng(seed).choice(len(blocks), size=min(num_samples, len(blocks)), replace=False)
    return blocks[chosen]


HELD_OUT_SHARE = 10  # without --eval_data, at most one block in this many of the user's text is held out


def hold_out_tail(blocks: np.ndarray, count: int, role: str = "training data") -> tuple[np.ndarray, np.ndarray]:
    """(blocks to sample training blocks from, held-out blocks): the last ``count`` blocks, at most a tenth, are held
    out.

    A contiguous tail keeps the held-out text apart from every training block (neighbouring blocks of one
    document would share its wording); it is cut before any training block is sampled.
    """
    held = min(count, len(blocks) // HELD_OUT_SHARE)
    if held < 1:
        raise HyperfitError(
            f"{role} has {len(blocks)} blocks, too few to hold out a tenth for the diagnostics: give held-out text "
            "with --eval_data, or more text, or pass --diagnostics false"
        )
    return blocks[:-held], blocks[-held:]


def evenly_spaced_blocks(blocks: np.ndarray, count: int) -> np.ndarray:
    """``count`` blocks spread evenly from the first to the last (all if there are fewer), in order."""
    count = min(count, len(blocks))
    return blocks[np.linspace(0, len(blocks) - 1, count).round().astype(np.int64)]


def blocks_sha256(blocks: np.ndarray) -> str:
    """SHA-256 hex digest of the blocks as a row-major little-endian int64 array (shape recorded separately)."""
    return hashlib.sha256(np.ascontiguousarray(blocks, dtype="<i8").tobytes()).hexdigest()
