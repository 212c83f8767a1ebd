"""MAUVE through hyperfit's wrapper: equal to ``mauve-text`` on the same features or texts,
the shipped MiniLM featurizer, and degenerate inputs."""

from __future__ import annotations

import math

import mauve
import numpy as np
import pytest

from hyperfit_tasks.metrics.mauve_features import featurize, last_token_features, minilm_path, sentence_embeddings
from hyperfit_tasks.metrics.mauve_score import mauve_aggregation, mauve_score


@pytest.fixture(scope="module")
def texts(english_text) -> tuple[list[str], list[str]]:
    """Two sets of 16 pieces of real English prose (model side P, human side Q)."""
    paragraphs = [p.strip()[:300] for p in english_text.split("\n\n") if len(p.split()) > 30]
    return paragraphs[:16], paragraphs[16:32]


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory, tiny_lm_path) -> str:
    """A tiny random GPT-2 in a folder whose name contains "gpt2", which ``mauve-text``'s own featurizer accepts."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    folder = tmp_path_factory.mktemp("models") / "tiny-gpt2"
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=1024, n_embd=32, n_layer=2, n_head=2)
    GPT2Model(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_last_token_features_equal_mauve_text_featurization(texts, tiny_gpt2):
    p_texts, q_texts = texts
    ours = mauve_score(p_texts, q_texts, featurizer=tiny_gpt2)
    reference = mauve.compute_mauve(
        p_text=p_texts, q_text=q_texts, featurize_model_name=tiny_gpt2, max_text_length=1024
    )
    assert ours == pytest.approx(reference.mauve, abs=1e-6)
    features = last_token_features(p_texts[:3], tiny_gpt2)
    from mauve.compute_mauve import get_features_from_input

    expected = get_features_from_input(None, None, p_texts[:3], tiny_gpt2, 1024, -1, name="p", batch_size=1)
    np.testing.assert_allclose(features, expected, atol=1e-5)


def test_wrapper_equals_compute_mauve_on_the_same_features(texts):
    p_texts, q_texts = texts
    expected = mauve.compute_mauve(p_features=featurize(p_texts), q_features=featurize(q_texts)).mauve
    items = [(p, q, "minilm") for p, q in zip(p_texts, q_texts)]
    assert mauve_aggregation(items) == expected
    # empty texts are dropped on both sides, as mauve-text drops empty texts
    assert mauve_score(p_texts + [""], q_texts + ["  \n"]) == expected


def test_minilm_features_are_sentence_transformers_mean_pooling(texts):
    import torch
    from transformers import AutoModel, AutoTokenizer

    batch = ["A short one.", texts[0][0]]  # different lengths: the short one is padded in a batch
    features = featurize(batch)
    assert features.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-6)
    folder = str(minilm_path())
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder)
    with torch.no_grad():  # one text at a time, no padding: plain mean over its tokens
        single = model(**tokenizer("A short one.", return_tensors="pt")).last_hidden_state[0].mean(0)
    np.testing.assert_allclose(features[0], (single / single.norm()).numpy(), atol=1e-5)
    np.testing.assert_allclose(sentence_embeddings(batch[1:], folder), features[1:], atol=1e-5)


def test_minilm_separates_unrelated_texts():
    cats, cats2, finance = featurize(
        ["The cat sleeps on the sofa.", "A kitten naps on the couch.", "Bond yields rose sharply."]
    )
    assert cats @ cats2 > cats @ finance + 0.3


def test_degenerate_inputs_give_nan_with_a_warning():
    with pytest.warns(UserWarning, match="at least 2 non-empty texts per side, got 1 model"):
        assert math.isnan(mauve_score(["only one", "", "   "], ["human a", "human b"]))
    with pytest.warns(UserWarning, match="got 0 model and 0 human"):
        assert math.isnan(mauve_aggregation([("", "", "minilm")]))


def test_bad_featurizer_settings_fail_with_one_line(texts):
    with pytest.raises(ValueError, match="one MAUVE featurizer per task"):
        mauve_aggregation([("a b", "c d", "minilm"), ("e f", "g h", "gpt2-large")])
    with pytest.raises(ValueError, match="cannot load MAUVE featurizer '/no/such/model'") as error:
        mauve_score(*texts, featurizer="/no/such/model")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="cannot featurize an empty text"):
        featurize(["fine", ""])
