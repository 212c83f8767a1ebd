"""Shared fixtures: tiny causal LMs built in-process (no hub, no download)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The same precision on every machine: --precision auto resolves to fp32 in every test and every command a test starts,
# whatever the CPU; the tests of bf16 set HYPERFIT_BF16=1 themselves (tests/test_precision.py, tests/test_demo.py).
os.environ.setdefault("HYPERFIT_BF16", "0")


def english_sample_text(max_chars: int = 60_000) -> str:
    """Real English prose that ships with CPython (pydoc topics), for tokenizers and corpora."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key] for key in sorted(topics))
    return text[:max_chars]


def build_tiny_lm(
    out_dir: Path, vocab_size: int = 512, hidden_size: int = 32, num_layers: int = 2, seed: int = 0
) -> Path:
    """Save a randomly initialised tiny Llama and a byte-level BPE tokenizer trained on pydoc prose."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        english_sample_text().split("\n\n"),
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>"
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_lm_path(tmp_path_factory) -> Path:
    """Folder with a tiny random Llama + tokenizer, loadable by ``from_pretrained`` and lm-eval's ``hf`` model."""
    return build_tiny_lm(tmp_path_factory.mktemp("tiny_lm"))


@pytest.fixture(scope="session")
def english_text() -> str:
    """About 60k characters of real English prose (CPython's pydoc topics)."""
    return english_sample_text()


def write_corpus(folder, text: str) -> tuple:
    """train.jsonl (first 150 paragraphs) and heldout.jsonl (the next 50) of ``text``."""
    paragraphs = [paragraph for paragraph in text.split("\n\n") if paragraph.strip()]
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, chunk in (("train.jsonl", paragraphs[:150]), ("heldout.jsonl", paragraphs[150:200])):
        (folder / name).write_text("".join(json.dumps({"text": paragraph}) + "\n" for paragraph in chunk))
        files.append(folder / name)
    return tuple(files)


def write_small_corpora(cache: Path, text: str) -> Path:
    """A hyperfit cache (``HYPERFIT_CACHE``) whose offline corpora are four paragraphs of ``text`` per domain and
    split, recorded as current (else the cache would rebuild them from the real sources)."""
    from hyperfit_tasks.assets.corpora import CORPORA_VERSION

    paragraphs = [p for p in text.split("\n\n") if len(p.split()) > 60]
    for domain in ("austen", "pydoc"):
        (cache / "corpora" / domain).mkdir(parents=True)
        for split, texts in (("eval", paragraphs[:4]), ("heldout", paragraphs[4:8])):
            (cache / "corpora" / domain / f"{split}.jsonl").write_text(
                "".join(json.dumps({"text": t}) + "\n" for t in texts)
            )
    (cache / "corpora" / "manifest.json").write_text(json.dumps({"version": CORPORA_VERSION}))
    (cache / "corpora" / ".complete").write_text("ok\n")
    return cache


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, english_text) -> tuple:
    """(train.jsonl, heldout.jsonl) paths for the trainer tests (see :func:`write_corpus`)."""
    return write_corpus(tmp_path_factory.mktemp("corpus"), english_text)


@pytest.fixture(scope="session")
def tokenizer(tiny_lm_path):
    """The tiny model's tokenizer."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm_path)


# The longest modules, longest first (measured, 2 cores). scripts/test.sh runs two xdist workers that take whole
# modules in collection order (--no-loadscope-reorder), so these start at once instead of leaving one worker alone at
# the end.
LONGEST_FIRST = (
    "test_wheel_install.py", "test_reproduce.py", "test_eval_resume.py", "test_train_resume_ddp.py",
    "test_parallel_eval.py", "test_tasks.py", "test_generation_controls.py", "test_faults.py", "test_copy_rate.py",
    "test_assets.py",
)  # fmt: skip


def pytest_collection_modifyitems(config, items):
    """Put the modules of :data:`LONGEST_FIRST` first, in that order; every other module keeps its place after them."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
