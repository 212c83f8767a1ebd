"""The authors' recipe in hyperfit-train: prefix vs packed blocks, layer-limited training, the near-zero loss check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hyperfit_tasks.common.errors import HyperfitError
from hyperfit_tasks.common.run_files import read_train_blocks
from hyperfit_tasks.common.text_files import load_text_dataset
from hyperfit_train import cli
from hyperfit_train.config import PRESETS, parse_args
from hyperfit_train.data import blocks_sha256, sample_blocks, tokenize_to_blocks, tokenize_to_prefixes
from hyperfit_train.run_dir import RECIPE_FILE
from hyperfit_train.trainer import _training_blocks

from helpers import BLOCK, run_cli, snapshot, tiny_argv

# Computed at commit 4b786f3 (before --block_mode existed) with that commit's tokenize_to_blocks and sample_blocks:
# the conftest corpus' train.jsonl (first 150 pydoc paragraphs) and the tiny_lm_path tokenizer, blocks of 32 tokens.
PACKED_ALL_BLOCKS = ((321, 32), "d2b06c7fa6fc3fdcb8a935dd3f40f380bf230dc05096c8d3e5863960bc87a31e")  # every block
PACKED_SAMPLED_16_SEED_42 = (
    "7148ba0e4271e20d02382fc3f0e16eba259bb54c597ec6a71c7a357edf5315a2"  # sample_blocks(all, 16, 42)
)


@pytest.fixture(scope="module")
def tokenizer(tiny_lm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm_path)


def train_texts(path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def write_jsonl(path, texts) -> None:
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))


# ---------------------------------------------------------------- block modes


def test_both_presets_use_prefix_blocks_and_a_near_zero_loss_target():
    for name in ("paper", "demo"):
        script_args, _, _ = parse_args(["--preset", name])
        assert (
            script_args.block_mode == "prefix"
            and script_args.target_loss == PRESETS[name].values["target_loss"] == 0.1
        )
        assert script_args.train_layers is None


def test_block_mode_from_a_config_file_must_be_one_of_the_choices(tmp_path):
    (tmp_path / "recipe.yaml").write_text("block_mode: packed\n")
    assert parse_args(["--config", str(tmp_path / "recipe.yaml")])[0].block_mode == "packed"
    (tmp_path / "recipe.yaml").write_text("block_mode: prefx\n")
    with pytest.raises(HyperfitError, match=r"^--block_mode must be one of prefix, packed, got 'prefx'$"):
        parse_args(["--config", str(tmp_path / "recipe.yaml")])


def test_packed_blocks_are_unchanged_bit_for_bit(tiny_lm_path, corpus, tokenizer, tmp_path):
    train, heldout = corpus
    blocks = tokenize_to_blocks(load_text_dataset(str(train)), tokenizer, BLOCK)
    assert (blocks.shape, blocks_sha256(blocks)) == PACKED_ALL_BLOCKS
    # through the command line's options: --block_mode packed samples today's blocks
    script_args, training_args, _ = parse_args(
        tiny_argv(tiny_lm_path, train, heldout, tmp_path / "out", "--block_mode", "packed")
    )
    sampled, data, _ = _training_blocks(
        script_args, training_args, tokenizer
    )  # no held-out tail: --eval_data is given
    assert data["sha256"] == blocks_sha256(sampled) == PACKED_SAMPLED_16_SEED_42 and data["block_mode"] == "packed"


def test_prefix_blocks_are_the_first_tokens_of_each_long_enough_text_without_eos(
    tiny_lm_path, corpus, tokenizer, tmp_path, caplog
):
    train, heldout = corpus
    texts = train_texts(train)
    # the authors' call: tokenizer(text, truncation=True, max_length=L), kept when it is exactly L tokens long
    authors = [tokenizer(text, truncation=True, max_length=BLOCK)["input_ids"] for text in texts]
    expected = np.array([ids for ids in authors if len(ids) == BLOCK], dtype=np.int64)
    short = sum(len(tokenizer(text)["input_ids"]) < BLOCK for text in texts)
    assert 16 < len(expected) < len(texts) and short == len(texts) - len(
        expected
    )  # the corpus has texts of both kinds
    with caplog.at_level("INFO", logger="hyperfit_train"):
        blocks, dropped = tokenize_to_prefixes(load_text_dataset(str(train)), tokenizer, BLOCK)
    assert np.array_equal(blocks, expected) and dropped == short
    assert tokenizer.eos_token_id not in blocks
    assert (
        f"{len(expected)} of {len(texts)} texts have at least {BLOCK} tokens" in caplog.text
        and f"{short} shorter texts dropped" in caplog.text
    )
    script_args, training_args, _ = parse_args(
        tiny_argv(tiny_lm_path, train, heldout, tmp_path / "out", "--block_mode", "prefix")
    )
    sampled, data, _ = _training_blocks(
        script_args, training_args, tokenizer
    )  # no held-out tail: --eval_data is given
    assert np.array_equal(sampled, sample_blocks(expected, 16, 42))  # seeded sampling as for packed blocks
    assert (data["block_mode"], data["available_blocks"], data["dropped_texts"]) == ("prefix", len(expected), short)


def test_prefix_blocks_keep_a_leading_bos_and_never_take_an_appended_eos(tiny_lm_path, corpus):
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    tokenizer.add_special_tokens({"bos_token": "<s>"})
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A <|endoftext|>", special_tokens=[("<s>", bos), ("<|endoftext|>", eos)]
    )
    texts = train_texts(corpus[0])
    assert tokenizer(texts[0])["input_ids"][-1] == eos  # this tokenizer appends EOS: prefix blocks must not
    plain = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    expected = np.array([[bos] + ids[: BLOCK - 1] for ids in plain if len(ids) + 1 >= BLOCK], dtype=np.int64)
    blocks, dropped = tokenize_to_prefixes(load_text_dataset(str(corpus[0])), tokenizer, BLOCK)
    assert np.array_equal(blocks, expected) and dropped == len(texts) - len(expected)
    assert (blocks[:, 0] == bos).all() and eos not in blocks


def test_data_too_short_for_one_prefix_block_names_the_longest_max_length(
    capsys, tmp_path, tiny_lm_path, corpus, tokenizer
):
    texts = ["Too short.", "A slightly longer text, still short.", ""]
    write_jsonl(tmp_path / "short.jsonl", texts)
    longest = max(len(tokenizer(text)["input_ids"]) for text in texts)
    assert 2 <= longest < BLOCK
    code, line = run_cli(
        capsys,
        tiny_argv(tiny_lm_path, tmp_path / "short.jsonl", corpus[1], tmp_path / "out", "--block_mode", "prefix"),
    )
    assert code == 1 and f"no text of {BLOCK} tokens for --block_mode prefix (the longest has {longest})" in line
    assert f"lower --max_length to {longest} or below" in line
    assert not (tmp_path / "out").exists()
    # and that --max_length is enough for one block
    blocks, dropped = tokenize_to_prefixes(load_text_dataset(str(tmp_path / "short.jsonl")), tokenizer, longest)
    assert blocks.shape == (1, longest) and dropped == 2


@pytest.fixture(scope="module")
def few_long_texts_run(tmp_path_factory, tiny_lm_path, corpus, tokenizer):
    """A prefix run on 3 texts of at least 32 tokens and 5 shorter ones, asking for 16 samples (1 epoch: not
    hyperfitted)."""
    texts = train_texts(corpus[0])
    lengths = [len(tokenizer(text)["input_ids"]) for text in texts]
    chosen = [text for text, n in zip(texts, lengths) if n >= BLOCK][:3] + [
        text for text, n in zip(texts, lengths) if n < BLOCK
    ][:5]
    folder = tmp_path_factory.mktemp("few")
    write_jsonl(folder / "few.jsonl", chosen)
    output_dir = folder / "out"
    argv = tiny_argv(
        tiny_lm_path,
        folder / "few.jsonl",
        corpus[1],
        output_dir,
        "--block_mode",
        "prefix",
        "--num_train_epochs",
        "1",
        "--no_diagnostics",
    )
    return folder / "few.jsonl", output_dir, argv


def test_fewer_long_texts_than_samples_warns_trains_on_all_and_says_it_did_not_hyperfit(capsys, few_long_texts_run):
    data_file, output_dir, argv = few_long_texts_run
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert (
        "3 of 8 texts have at least 32 tokens and give one block each (their first 32 tokens); 5 shorter texts dropped"
        in err
    )
    assert "holds 3 blocks, fewer than the 16 requested: training on all 3" in err
    assert "--block_mode prefix takes one block per text of at least 32 tokens (a .txt file is one text)" in err
    summary = json.loads((output_dir / "hyperfit_run.json").read_text())
    data, training = summary["training_data"], summary["training"]
    assert (data["block_mode"], data["blocks"], data["available_blocks"], data["dropped_texts"]) == ("prefix", 3, 3, 5)
    assert read_train_blocks(output_dir / "train_blocks.parquet")[0].shape == (3, BLOCK)
    assert json.loads((output_dir / RECIPE_FILE).read_text())["fingerprint"]["block_mode"] == "prefix"
    # one epoch at random init ends far above the near-zero target: recorded, and a one-line warning with the fix
    assert training["final_train_loss"] > 1.0 and training["target_loss"] == 0.1 and training["hyperfitted"] is False
    warning = (
        f"hyperfit-train: WARNING: not hyperfitted: final training loss {training['final_train_loss']:.4g} is above "
        "the near-zero target 0.1 (--target_loss): train longer (--num_train_epochs) or raise --learning_rate, or use "
        "--preset demo"
    )
    assert warning in err.splitlines()
    card = (output_dir / "README.md").read_text()
    assert (
        "block mode `prefix`" in card
        and "5 shorter texts dropped" in card
        and "not reached: this model is not hyperfitted" in card
    )


def test_resume_with_the_other_block_mode_is_refused_in_one_line(capsys, few_long_texts_run):
    _, output_dir, argv = few_long_texts_run
    if not (output_dir / "hyperfit_run.json").is_file():
        assert cli.main(argv) == 0
    before = snapshot(output_dir)
    code, line = run_cli(capsys, argv + ["--block_mode", "packed", "--resume"])
    assert code == 1 and "holds a different run (block_mode: prefix -> packed;" in line and "--overwrite" in line
    assert snapshot(output_dir) == before


def test_a_run_recorded_before_block_mode_existed_counts_as_packed():
    from hyperfit_train.run_dir import fingerprint_differences

    assert fingerprint_differences({"seed": 1}, {"seed": 1, "block_mode": "packed"}) == []
    assert fingerprint_differences({"seed": 1}, {"seed": 1, "block_mode": "prefix"}) == [
        "block_mode: packed -> prefix"
    ]


# ---------------------------------------------------------------- layer-limited training


def block_parameters(config) -> int:
    """Parameters of one Llama block, by hand: q, k, v, o projections (no bias), gate/up/down MLP, two RMSNorms."""
    head_dim = config.hidden_size // config.num_attention_heads
    attention = config.hidden_size * head_dim * (2 * config.num_attention_heads + 2 * config.num_key_value_heads)
    mlp = 3 * config.hidden_size * config.intermediate_size
    return attention + mlp + 2 * config.hidden_size


def test_last_block_training_leaves_every_frozen_weight_bit_identical(capsys, tmp_path, tiny_lm_path, corpus):
    from transformers import AutoConfig, AutoModelForCausalLM

    output_dir = tmp_path / "last1"
    argv = tiny_argv(
        tiny_lm_path,
        *corpus,
        output_dir,
        "--train_layers",
        "last:1",
        "--num_train_epochs",
        "2",
        "--no_diagnostics",
        "--target_loss",
        "100",
    )
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    config = AutoConfig.from_pretrained(tiny_lm_path)
    assert config.tie_word_embeddings and config.num_hidden_layers == 2
    # the last block and the final norm train; the LM head is the (frozen) input embedding matrix
    expected_trainable = block_parameters(config) + config.hidden_size
    expected_total = (
        config.vocab_size * config.hidden_size
        + config.num_hidden_layers * block_parameters(config)
        + config.hidden_size
    )
    assert expected_trainable == 4 * 32 * 32 + 3 * 32 * 64 + 2 * 32 + 32 == 10336
    assert (
        f"trainable parameters: {expected_trainable} of {expected_total} (blocks [1] and the final norm; "
        "LM head frozen (tied to the input embeddings))" in err
    )
    summary = json.loads((output_dir / "hyperfit_run.json").read_text())
    assert summary["training"]["trained_part"] == {
        "train_layers": "last:1",
        "blocks": [1],
        "num_blocks": 2,
        "lm_head": "frozen (tied to the input embeddings)",
        "trainable_parameters": expected_trainable,
        "total_parameters": expected_total,
    }
    assert (
        summary["training"]["hyperfitted"] is True and "hyperfit-train: INFO: hyperfitted: final training loss" in err
    )
    assert json.loads((output_dir / RECIPE_FILE).read_text())["fingerprint"]["train_layers"] == "last:1"
    card = (output_dir / "README.md").read_text()
    assert (
        f"Trainable parameters: {expected_trainable:,} of {expected_total:,} (`--train_layers last:1`: blocks [1]"
        in card
    )
    assert "| `train_layers` | `last:1` |" in card and "against the near-zero target 100: reached." in card
    trained = AutoModelForCausalLM.from_pretrained(output_dir).state_dict()
    base = AutoModelForCausalLM.from_pretrained(tiny_lm_path).state_dict()
    changed = {name for name in base if not torch.equal(trained[name], base[name])}
    frozen = {name for name in base if not (name.startswith("model.layers.1.") or name == "model.norm.weight")}
    assert not changed & frozen  # embeddings (= tied head) and block 0: bit-identical
    assert changed == set(base) - frozen  # every weight of block 1 and the final norm moved


def test_lora_with_train_layers_puts_adapters_into_the_last_blocks_only(capsys, tmp_path, tiny_lm_path, corpus):
    from transformers import AutoModelForCausalLM

    output_dir = tmp_path / "lora-last1"
    extra = (
        "--train_layers",
        "last:1",
        "--num_train_epochs",
        "2",
        "--no_diagnostics",
        "--use_peft",
        "--lora_r",
        "4",
        "--lora_target_modules",
        "q_proj",
        "v_proj",
    )
    assert cli.main(tiny_argv(tiny_lm_path, *corpus, output_dir, *extra)) == 0
    err = capsys.readouterr().err
    adapters = 2 * (4 * 32 + 32 * 4)  # q_proj and v_proj of one block: A (r x in) + B (out x r), r = 4, 32 x 32
    assert f"trainable parameters: {adapters} of " in err and "(LoRA adapters in blocks [1])" in err
    part = json.loads((output_dir / "hyperfit_run.json").read_text())["training"]["trained_part"]
    assert part["trainable_parameters"] == adapters and part["blocks"] == [1]
    merged, base = (
        AutoModelForCausalLM.from_pretrained(output_dir).state_dict(),
        AutoModelForCausalLM.from_pretrained(tiny_lm_path).state_dict(),
    )
    changed = {name for name in base if not torch.equal(merged[name], base[name])}
    assert changed == {"model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight"}


def test_train_layers_errors_are_one_line_and_write_nothing(capsys, tmp_path, tiny_lm_path, corpus):
    with pytest.raises(
        HyperfitError, match=r"--train_layers must be last:K with K >= 1 \(e.g. last:5\), got 'first:2'"
    ):
        parse_args(["--train_layers", "first:2"])
    code, line = run_cli(capsys, tiny_argv(tiny_lm_path, *corpus, tmp_path / "out", "--train_layers", "last:5"))
    assert code == 1 and "--train_layers last:5 asks for more blocks than" in line and "has (2): give K <= 2" in line
    assert not (tmp_path / "out").exists()
