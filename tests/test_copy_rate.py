"""Training-copy metrics: suffix array, K-gram rate, longest copied span, lm-eval metadata glue."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hyperfit_tasks.common.errors import TrainingDataError
from hyperfit_tasks.common.run_files import TRAIN_BLOCKS_FILE, write_train_blocks
from hyperfit_tasks.metrics.copy_rate import (
    TrainingSpanIndex,
    copy_metrics,
    copy_metrics_for_text,
    longest_training_span,
    suffix_array,
    training_kgram_rate,
    training_reference,
)

from helpers import TASK_NAME, build_own_task, continuations, evaluate, write_continuation_task


def naive_longest_span(ids, sequences):
    """Brute force: the longest span of ids found inside one of the sequences."""
    best = 0
    for start in range(len(ids)):
        for stop in range(start + 1, len(ids) + 1):
            span = list(ids[start:stop])
            if any(list(seq[i : i + len(span)]) == span for seq in sequences for i in range(len(seq) - len(span) + 1)):
                best = max(best, len(span))
    return best


def test_suffix_array_equals_sorting_the_suffixes():
    rng = np.random.default_rng(0)
    for _ in range(100):
        text = rng.integers(-1, 3, rng.integers(1, 40))
        assert suffix_array(text).tolist() == sorted(range(len(text)), key=lambda i: text[i:].tolist())


def test_counts_known_answers():
    index = TrainingSpanIndex([[1, 2, 3, 1, 2], [2, 3, 9]])
    assert len(index) == 8
    assert index.count([1, 2]) == 2 and index.count([2, 3]) == 2 and index.count([2, 3, 1]) == 1
    assert index.count([2, 3, 9]) == 1 and index.count([1, 2, 2]) == 0  # spans never cross documents
    assert index.count([]) == 0 and [3, 9] in index and [9, 1] not in index


def test_copied_continuation_scores_one_and_a_fresh_one_zero():
    rng = np.random.default_rng(1)
    training = [rng.integers(0, 1000, 256) for _ in range(50)]
    index = TrainingSpanIndex(training)
    copied = training[7][40:140]
    assert training_kgram_rate(copied, index, k=6) == 1.0
    assert longest_training_span(copied, index) == 100
    fresh = rng.integers(1000, 2000, 80)  # ids the training data never uses
    assert training_kgram_rate(fresh, index, k=6) == 0.0
    assert longest_training_span(fresh, index) == 0
    assert math.isnan(training_kgram_rate(copied[:5], index, k=6))  # no 6-gram at all


def test_longest_span_known_by_construction():
    rng = np.random.default_rng(2)
    training = [rng.integers(0, 1000, 256) for _ in range(50)]
    index = TrainingSpanIndex(training)
    # 3 new tokens, 20 copied from one block, 2 new, 12 copied from another, 5 new
    ids = np.concatenate([[1001, 1002, 1003], training[3][10:30], [1004, 1005], training[9][0:12], [1006] * 5])
    assert longest_training_span(ids, index) == 20
    # 6-grams: 15 inside the 20-token copy + 7 inside the 12-token copy, out of 42 - 6 + 1 = 37
    assert training_kgram_rate(ids, index, k=6) == pytest.approx(22 / 37)
    assert copy_metrics(ids, index, k=6) == {
        "training_kgram_rate": pytest.approx(22 / 37),
        "longest_training_span": 20.0,
        "training_overlap_over_10": 1.0,
    }


def test_longest_span_equals_brute_force_on_random_small_cases():
    rng = np.random.default_rng(3)
    for _ in range(150):
        training = [rng.integers(0, 3, rng.integers(0, 15)).tolist() for _ in range(rng.integers(0, 4))]
        ids = rng.integers(0, 4, rng.integers(0, 14)).tolist()
        index = TrainingSpanIndex(training)
        assert longest_training_span(ids, index) == naive_longest_span(ids, training)
        for k in (1, 2, 3):
            windows = [ids[i : i + k] for i in range(len(ids) - k + 1)]
            expected = (
                sum(naive_longest_span(w, training) == k for w in windows) / len(windows) if windows else math.nan
            )
            assert training_kgram_rate(ids, index, k) == pytest.approx(expected, nan_ok=True)


def test_metadata_glue(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"text": "a"}\n')
    assert training_reference({"version": 1.0}) == {"training_data": "", "tokenizer": ""}
    assert copy_metrics_for_text("any text", {"training_data": "", "tokenizer": ""}) == {}
    reference = {"training_data": str(tmp_path / "train.jsonl"), "tokenizer": "/models/m"}
    assert training_reference({"training_data": str(tmp_path / "train.jsonl"), "pretrained": "/models/m"}) == reference
    assert (
        training_reference(
            {"blocked_data": str(tmp_path / "train.jsonl"), "tokenizer": "/models/m", "pretrained": "/x"}
        )
        == reference
    )
    with pytest.raises(TrainingDataError, match='add "tokenizer": PATH to --metadata'):
        training_reference({"training_data": str(tmp_path / "train.jsonl")})
    # a trainer run directory: its train_blocks.parquet records the tokenizer it was made with
    write_train_blocks(tmp_path / "train_blocks.parquet", np.arange(8).reshape(2, 4), {"tokenizer": "/models/base"})
    assert training_reference({"training_data": str(tmp_path)}) == {
        "training_data": str(tmp_path),
        "tokenizer": "/models/base",
    }
    with pytest.raises(TrainingDataError, match="training data not found"):
        training_reference({"training_data": str(tmp_path / "missing.jsonl"), "pretrained": "/m"})


def test_continuation_task_takes_the_training_reference_as_a_run_setting(tmp_path, tiny_lm_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": " ".join(f"w{i}" for i in range(40))}) + "\n")
    write_train_blocks(tmp_path / TRAIN_BLOCKS_FILE, np.arange(8).reshape(2, 4), {"tokenizer": "/models/base"})
    settings = {"metric_tokenizer": str(tiny_lm_path), "prompt_tokenizer": None}
    with_data = build_own_task(tmp_path / "a", texts, settings | {"training_data": str(tmp_path)})
    assert with_data.scoring_settings()["training_reference"] == {
        "training_data": str(tmp_path),
        "tokenizer": "/models/base",
    }
    without = build_own_task(tmp_path / "b", texts, settings)
    assert without.scoring_settings()["training_reference"] == {"training_data": "", "tokenizer": ""}
    assert list(with_data.test_docs()) == list(without.test_docs())  # same documents: lm-eval's hashes match
    with pytest.raises(TrainingDataError, match="training data not found"):  # before any text is generated
        build_own_task(tmp_path / "c", texts, settings | {"training_data": str(tmp_path / "missing")})


@pytest.mark.slow
def test_continuation_task_scores_copying_only_with_training_data(tiny_lm_path, english_text, tmp_path):
    from transformers import AutoTokenizer

    texts = [english_text[start : start + 600] for start in (300, 1000, 1700)]
    include_path = write_continuation_task(tmp_path / "task", texts)

    def run(metadata=None):
        output = evaluate(
            "hf", f"pretrained={tiny_lm_path}", [TASK_NAME], include_path, metadata, gen_kwargs="max_gen_toks=12"
        )
        return output["results"][TASK_NAME], continuations(output, TASK_NAME)

    without, generated = run()
    assert "ttr,none" in without
    assert not any(key.startswith(("training_", "longest_training")) for key in without)  # omitted, not faked

    training = tmp_path / "train.jsonl"  # the model's own continuations: everything is copied
    training.write_text("".join(json.dumps({"text": text}) + "\n" for text in generated))
    with_data, again = run({"training_data": str(training)})
    assert again == generated
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    lengths = [len(tokenizer(text, add_special_tokens=False).input_ids) for text in generated]
    assert with_data["training_kgram_rate,none"] == 1.0
    assert with_data["longest_training_span,none"] == pytest.approx(np.mean(lengths))
    assert with_data["training_overlap_over_10,none"] == pytest.approx(np.mean([n > 10 for n in lengths]))

    # a trainer output folder (what the docs say to pass) whose blocks use only ids beyond the
    # vocabulary: no continuation shares a single token with it
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    vocabulary = len(tokenizer)
    write_train_blocks(
        run_dir / TRAIN_BLOCKS_FILE,
        np.arange(vocabulary, vocabulary + 64).reshape(4, 16),
        {"tokenizer": str(tiny_lm_path)},
    )
    fresh, _ = run({"training_data": str(run_dir)})
    assert fresh["training_kgram_rate,none"] == 0.0
    assert fresh["longest_training_span,none"] == 0.0 and fresh["training_overlap_over_10,none"] == 0.0


def test_controls_doc_examples_run():
    import doctest
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "controls.md"
    result = doctest.testfile(str(doc), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
