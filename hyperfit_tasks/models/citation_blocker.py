"""Citation blocker: generation that may not reproduce any K-token span of the hyperfitting data.

At every step a candidate token is banned when it would complete a K-gram of the training data (the paper's rule,
K = 6 by default; optionally only at word starts); the rule and its cost: ``docs/controls.md``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from transformers import LogitsProcessor

DEFAULT_BLOCK_LEN = 6
_EMPTY = np.empty(0, dtype=np.int64)


class NGramIndex:
    """The distinct n-grams of some token sequences, looked up by their (n-1)-token prefix.

    Each n-gram is packed as n big-endian int32 values, so one byte-string sort orders them like
    tuples of ids and the packed prefix is the dict key (token ids must lie in [0, 2**31)).
    """

    def __init__(self, sequences: Iterable[Sequence[int] | np.ndarray], n: int):
        if int(n) != n or n < 2:
            raise ValueError(f"n-gram length must be an integer >= 2, got {n}")
        self.n = int(n)
        self._pack_prefix = struct.Struct(f">{self.n - 1}i").pack
        windows = [
            np.lib.stride_tricks.sliding_window_view(np.asarray(ids, dtype=np.int64), self.n)
            for ids in sequences
            if len(ids) >= self.n
        ]
        grams = np.concatenate(windows) if windows else np.empty((0, self.n), dtype=np.int64)
        if grams.size and (grams.min() < 0 or grams.max() >= 2**31):
            raise ValueError("token ids must lie in [0, 2**31)")
        packed = np.ascontiguousarray(grams, dtype=">i4").view(np.dtype((np.void, 4 * self.n))).ravel()
        grams = np.unique(packed).view(">i4").reshape(-1, self.n)  # distinct, sorted like id tuples
        prefixes = np.ascontiguousarray(grams[:, :-1]).view(np.dtype((np.void, 4 * (self.n - 1)))).ravel()
        starts = np.flatnonzero(
            np.concatenate((np.ones(min(len(prefixes), 1), dtype=bool), prefixes[1:] != prefixes[:-1]))
        )
        stops = np.append(starts[1:], len(grams))
        self._next = grams[:, -1].astype(np.int64)
        self._spans = dict(zip(prefixes[starts].tolist(), zip(starts.tolist(), stops.tolist())))

    def __len__(self) -> int:
        """Number of distinct n-grams."""
        return len(self._next)

    def next_tokens(self, prefix: Sequence[int]) -> np.ndarray:
        """Sorted tokens that follow ``prefix`` (n-1 ids) somewhere in the data; empty if none."""
        span = self._spans.get(self._pack_prefix(*prefix))
        return _EMPTY if span is None else self._next[span[0] : span[1]]

    def __contains__(self, ngram: Sequence[int]) -> bool:
        ngram = tuple(ngram)
        if len(ngram) != self.n:
            return False
        following = self.next_tokens(ngram[:-1])
        position = np.searchsorted(following, ngram[-1])
        return bool(position < len(following) and following[position] == ngram[-1])


def word_start_mask(tokenizer) -> np.ndarray:
    """Boolean array over token ids: True where the token starts a new word.

    A token starts a word when its decoded text does not begin with a letter or digit (a leading
    space, punctuation, a newline, a special token), or its SentencePiece piece begins with "▁".
    """
    size = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    texts = tokenizer.batch_decode([[token] for token in range(size)])
    return np.array(
        [piece is None or piece.startswith("▁") or not text[:1].isalnum() for piece, text in zip(pieces, texts)],
        dtype=bool,
    )


class CitationBlockerLogitsProcessor(LogitsProcessor):
    """Bans every next token that would complete a K-gram of the training data (K = ``index.n``).

    ``word_starts`` (from :func:`word_start_mask`) restricts bans to word-starting tokens.
    """

    def __init__(self, index: NGramIndex, word_starts: np.ndarray | None = None):
        self.index = index
        self.word_starts = None if word_starts is None else torch.as_tensor(word_starts, dtype=torch.bool)

    def banned_tokens(self, input_ids: torch.LongTensor) -> list[np.ndarray]:
        """For each row, the token ids this step bans (before the word-boundary filter)."""
        context = self.index.n - 1
        if input_ids.shape[-1] < context:
            return [_EMPTY] * input_ids.shape[0]
        return [self.index.next_tokens(prefix) for prefix in input_ids[:, -context:].tolist()]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        banned = self.banned_tokens(input_ids)
        if not any(tokens.size for tokens in banned):
            return scores
        rows = torch.from_numpy(np.repeat(np.arange(len(banned)), [tokens.size for tokens in banned]))
        columns = torch.from_numpy(np.concatenate(banned))
        if self.word_starts is not None:
            keep = self.word_starts[columns]
            rows, columns = rows[keep], columns[keep]
        scores = scores.clone()
        scores[rows.to(scores.device), columns.to(scores.device)] = -float("inf")
        return scores
