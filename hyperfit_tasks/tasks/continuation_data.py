"""Documents for the hyperfit lm-eval tasks, built from held-out texts.

lm-eval calls :func:`continuation_docs` and :func:`perplexity_docs` as ``custom_dataset`` with
the task's ``metadata`` and ``dataset_kwargs`` as keyword arguments (``--model_args`` and
``--metadata`` are merged into the metadata). A text comes from exactly one source:

* ``corpus`` + ``corpus_split``: an offline corpus of ``hyperfit_tasks.assets`` (``austen``,
  ``pydoc``; splits ``eval``, ``heldout``);
* ``data_files``: a local ``.jsonl``/``.json``/``.csv``/``.parquet``/``.txt`` file (or list);
* ``dataset`` (+ ``dataset_config``, ``dataset_split``): a Hugging Face hub dataset.

``text_field`` names the column holding the text (default ``text``); ``detokenize: wikitext``
undoes WikiText's tokenisation with lm-eval's own wikitext detokenizer.

A continuation document is ``{"prompt", "reference"}``: the prompt is the text's first ``prompt_tokens`` (32) tokens of
``prompt_tokenizer`` (``model``: the evaluated model's), or with it unset its first ``prompt_words`` (24) words; the
reference is what follows, cut after ``reference_words`` (192) more words.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import datasets

from hyperfit_tasks.common.model_args import evaluated_model_name
from hyperfit_tasks.common.text_files import check_text_column, read_data_files
from hyperfit_tasks.metrics.text_units import load_tokenizer
from hyperfit_tasks.tasks import registered_metrics  # noqa: F401  (every hyperfit task loads this module: hyperfit_* metrics join lm-eval's registry)

PROMPT_WORDS = 24
PROMPT_TOKENS = 32
REFERENCE_WORDS = 192
_WORD = re.compile(r"\S+")


def continuation_docs(
    *,
    prompt_words: int = PROMPT_WORDS,
    prompt_tokens: int = PROMPT_TOKENS,
    prompt_tokenizer: str | None = None,
    reference_words: int = REFERENCE_WORDS,
    **kwargs: Any,
) -> datasets.DatasetDict:
    """``custom_dataset`` of the continuation tasks: a ``test`` split of prompt/reference pairs."""
    texts, source = load_texts(**kwargs)
    prompt_tokenizer = resolve_prompt_tokenizer(prompt_tokenizer, kwargs)
    docs = []
    for text in texts:
        doc = prompt_and_reference(text.strip(), prompt_words, prompt_tokens, prompt_tokenizer, reference_words)
        if doc is not None:
            docs.append(doc)
    unit = f"{prompt_tokens} tokens of {prompt_tokenizer}" if prompt_tokenizer else f"{prompt_words} words"
    report_skipped(len(texts) - len(docs), len(texts), source, f"no text after the first {unit}")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def resolve_prompt_tokenizer(prompt_tokenizer: str | None, metadata: dict[str, Any]) -> str | None:
    """The tokenizer that cuts prompts (``model``: the evaluated model's), checked to load; ``None`` cuts by words."""
    if prompt_tokenizer == "model":
        prompt_tokenizer = evaluated_model_name(metadata)
        if prompt_tokenizer is None:
            raise ValueError(
                "prompt_tokenizer: model needs the model in --model_args (pretrained=... or tokenizer=...), "
                "or cut prompts by words with --metadata '{\"prompt_tokenizer\": null}'"
            )
    if prompt_tokenizer:
        try:
            load_tokenizer(prompt_tokenizer)
        except ValueError as error:  # e.g. an API model: name a tokenizer, or cut by words
            raise ValueError(
                f"prompt tokenizer: {error}, or cut prompts by words with --metadata '{{\"prompt_tokenizer\": null}}'"
            ) from None
    return prompt_tokenizer


def prompt_and_reference(
    text: str, prompt_words: int, prompt_tokens: int, prompt_tokenizer: str | None, reference_words: int
) -> dict[str, str] | None:
    """One document ``{"prompt", "reference"}`` of ``text``, or ``None`` when nothing follows the prompt."""
    split = (
        split_by_tokens(text, prompt_tokens, prompt_tokenizer)
        if prompt_tokenizer
        else split_by_words(text, prompt_words)
    )
    if split is None:
        return None
    prompt, rest = split
    return {"prompt": prompt, "reference": (split_by_words(rest, reference_words) or (rest,))[0]}


def perplexity_docs(**kwargs: Any) -> datasets.DatasetDict:
    """``custom_dataset`` of the perplexity tasks: a ``test`` split of ``{"text"}`` documents."""
    texts, source = load_texts(**kwargs)
    kept = [text for text in texts if text.strip()]
    report_skipped(len(texts) - len(kept), len(texts), source, "empty text")
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict({"text": kept})})


def load_texts(
    corpus: str | None = None,
    corpus_split: str = "eval",
    data_files: str | list[str] | None = None,
    dataset: str | None = None,
    dataset_config: str | None = None,
    dataset_split: str = "test",
    text_field: str = "text",
    detokenize: str | None = None,
    **_metadata: Any,
) -> tuple[list[str], str]:
    """Texts of one source (see the module docstring) and a short description of that source."""
    chosen = [name for name, value in (("corpus", corpus), ("data_files", data_files), ("dataset", dataset)) if value]
    if len(chosen) != 1:
        raise ValueError(
            f"give exactly one text source (corpus, data_files or dataset), got {chosen or 'none'}: in the task's "
            "dataset_kwargs, or for hyperfit_continuation_custom / hyperfit_perplexity_custom in "
            '--metadata \'{"data_files": "my.jsonl", "text_field": "body"}\' (run those apart from other hyperfit '
            "tasks)"
        )
    if corpus:
        from hyperfit_tasks.assets import corpus_path

        source = f"corpus {corpus}/{corpus_split}"
        rows = read_data_files([str(corpus_path(corpus, corpus_split))])
    elif data_files:
        files = [data_files] if isinstance(data_files, str) else list(data_files)
        source = ", ".join(files)
        rows = read_data_files(files)
    else:
        source = f"hub dataset {dataset}" + (f"/{dataset_config}" if dataset_config else "") + f" [{dataset_split}]"
        rows = datasets.load_dataset(dataset, dataset_config, split=dataset_split)
    if text_field not in rows.column_names:
        raise ValueError(
            f"{source} has no column {text_field!r} (columns: {', '.join(rows.column_names)}): "
            "set text_field (in --metadata or dataset_kwargs)"
        )
    check_text_column(rows, text_field, source, "text_field (in --metadata or dataset_kwargs)")
    texts = [text or "" for text in rows[text_field]]
    if detokenize == "wikitext":
        from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer

        texts = [wikitext_detokenizer({"page": text}) for text in texts]
    elif detokenize is not None:
        raise ValueError(f"unknown detokenize={detokenize!r}: the only one is 'wikitext'")
    return texts, source


def split_by_words(text: str, n: int) -> tuple[str, str] | None:
    """(``text`` up to the end of its ``n``-th whitespace-separated word, the rest), or ``None``
    when nothing follows that word. Characters are kept as they are (spacing, line breaks).
    """
    ends = word_ends(text, n + 1)
    if len(ends) <= n:
        return None
    return text[: ends[n - 1]], text[ends[n - 1] :]


def word_ends(text: str, limit: int) -> list[int]:
    """Character offsets just after each of the first ``limit`` whitespace-separated words."""
    return [match.end() for _, match in zip(range(limit), _WORD.finditer(text))]


def split_by_tokens(text: str, n: int, tokenizer_name: str) -> tuple[str, str] | None:
    """(characters of the first ``n`` tokens of ``text``, the rest); ``None`` if nothing follows."""
    encoded = load_tokenizer(tokenizer_name)(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    if len(offsets) <= n:
        return None
    end = offsets[n - 1][1]
    return text[:end], text[end:]


def cut(text: str, tokens: int, tokenizer_name: str) -> str:
    """The characters of the first ``tokens`` (at least one) tokens of ``text``; all of it when it is not longer."""
    return (split_by_tokens(text, tokens, tokenizer_name) or (text,))[0]


def report_skipped(skipped: int, total: int, source: str, reason: str) -> None:
    """Warn about skipped texts; fail with a one-line error when nothing is left."""
    if skipped == total:
        raise ValueError(f"no usable text in {source} ({total} texts, {reason}): give longer texts")
    if skipped:
        warnings.warn(f"{source}: skipped {skipped} of {total} texts ({reason})", stacklevel=3)
