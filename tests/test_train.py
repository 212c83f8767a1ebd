"""hyperfit-train in-process: presets and parsing, data blocks, the tiny recipe end to end, diagnostics, outputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from hyperfit_tasks.common.json_rows import read_rows
from hyperfit_tasks.common.run_files import read_train_blocks
from hyperfit_tasks.common.text_files import load_text_dataset
from hyperfit_train import cli
from hyperfit_train.config import PRESETS, parse_args, preset_overrides
from hyperfit_train.data import blocks_sha256, evenly_spaced_blocks, sample_blocks, tokenize_to_blocks
from hyperfit_train.diagnostics import heldout_metrics

from helpers import BLOCK, tiny_argv


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory, tiny_lm_path, corpus):
    """The paper preset on the tiny model, 40 epochs (the loss must approach zero)."""
    output_dir = tmp_path_factory.mktemp("runs") / "paper"
    code = cli.main(tiny_argv(tiny_lm_path, *corpus, output_dir, "--num_train_epochs", "40"))
    assert code == 0
    return output_dir


# ---------------------------------------------------------------- configuration


def test_paper_preset_sets_the_recipe_over_sftconfig_defaults():
    script_args, training_args, model_args = parse_args([])
    assert script_args.preset == "paper" and script_args.num_samples == 2000
    assert training_args.max_length == 256 and training_args.num_train_epochs == 20
    assert training_args.learning_rate == 1e-6 and training_args.weight_decay == 0.0
    assert training_args.per_device_train_batch_size == 8
    assert training_args.lr_scheduler_type.value == "constant" and training_args.optim.value == "adamw_torch"
    assert training_args.bf16 is False and training_args.gradient_checkpointing is False
    assert training_args.save_strategy.value == "epoch" and training_args.train_sampling_strategy == "random"
    assert model_args.dtype == "float32" and training_args.trust_remote_code is False
    assert set(PRESETS["paper"].uncertain) >= {"learning_rate", "optim", "lr_scheduler_type"}


def test_config_file_overrides_preset_and_command_line_overrides_file(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("preset: demo\nlearning_rate: 5.0e-4\nnum_train_epochs: 4\ndata_order: fixed\n")
    script_args, training_args, _ = parse_args(["--config", str(config), "--num_train_epochs", "6", "--model", "m"])
    assert script_args.preset == "demo" and script_args.num_samples == PRESETS["demo"].values["num_samples"]
    assert training_args.learning_rate == 5e-4  # file over preset
    assert training_args.num_train_epochs == 6  # command line over file
    assert training_args.train_sampling_strategy == "sequential"  # data_order fixed
    resolved = {**vars(script_args), **training_args.to_dict()}
    changed = preset_overrides("demo", resolved)
    assert changed["learning_rate"] == {"preset": 3e-4, "used": 5e-4} and "max_length" not in changed


def test_every_preset_value_is_a_known_option():
    parser = cli_parser_dests()
    for preset in PRESETS.values():
        assert set(preset.values) <= parser, preset.name
        assert set(preset.uncertain) <= parser, preset.name


def test_docs_preset_table_matches_the_registry():
    from pathlib import Path

    docs = (Path(__file__).parents[1] / "docs" / "training.md").read_text()
    rows = {}
    for line in docs.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in PRESETS["paper"].values:
            rows[cells[0]] = cells[1:]
    assert rows == {
        key: [str(PRESETS[name].values[key]) for name in ("paper", "demo")] for key in PRESETS["paper"].values
    }


def cli_parser_dests() -> set[str]:
    from hyperfit_train.config import make_parser

    return {action.dest for action in make_parser()._actions}


def test_bare_debug_flag_is_taken_but_transformers_debug_option_passes():
    assert cli.take_debug_flag(["--debug", "--model", "x"]) == (["--model", "x"], True)
    assert cli.take_debug_flag(["--debug", "underflow_overflow"]) == (["--debug", "underflow_overflow"], False)


# ---------------------------------------------------------------- data


def test_blocks_are_the_eos_joined_token_stream_cut_in_order(corpus, tokenizer):
    train, _ = corpus
    texts = [json.loads(line)["text"] for line in train.read_text().splitlines()]
    stream = []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    blocks = tokenize_to_blocks(load_text_dataset(str(train)), tokenizer, BLOCK)
    assert blocks.shape == (len(stream) // BLOCK, BLOCK)
    assert blocks.reshape(-1).tolist() == stream[: blocks.size]


def test_sampling_is_seeded_distinct_and_hash_is_sha256_of_int64_bytes():
    import hashlib

    blocks = np.arange(40 * 4, dtype=np.int64).reshape(40, 4)
    first, again, other = sample_blocks(blocks, 10, 7), sample_blocks(blocks, 10, 7), sample_blocks(blocks, 10, 8)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert len({row[0] for row in first.tolist()}) == 10
    assert blocks_sha256(first) == hashlib.sha256(first.astype("<i8").tobytes()).hexdigest()
    # rows linspace(0, 39, 3) = 0, 19.5, 39 -> rounded 0, 20, 39 -> first ids 0, 80, 156
    assert evenly_spaced_blocks(blocks, 3)[:, 0].tolist() == [0, 80, 156]


def test_txt_is_one_document_and_other_formats_read_the_text_field(tmp_path, english_text):
    (tmp_path / "a.txt").write_text(english_text[:500])
    assert load_text_dataset(str(tmp_path / "a.txt"))["text"] == [english_text[:500]]
    (tmp_path / "b.csv").write_text('body,n\n"hello there",1\n"general kenobi",2\n')
    assert load_text_dataset(str(tmp_path / "b.csv"), text_field="body")["body"] == ["hello there", "general kenobi"]


# ---------------------------------------------------------------- the recipe end to end


def test_tiny_recipe_drives_training_loss_below_0_1_and_sharpens(paper_run):
    rows = read_rows(paper_run / "diagnostics.jsonl")
    assert [row["epoch"] for row in rows] == [float(epoch) for epoch in range(41)]
    assert rows[0]["train_loss"] is None and rows[-1]["train_loss"] < 0.1
    assert rows[1]["train_loss"] > 5.0  # random init: about ln(vocab) = 6.2
    vocab = 512
    for row in rows:
        assert 0.0 <= row["entropy"] <= math.log(vocab) + 1e-6
        assert 0.0 <= row["top1_prob"] <= row["top3_prob"] <= row["top5_prob"] <= 1.0
        assert 0.0 < row["ttr"] <= 1.0 and row["heldout_perplexity"] == pytest.approx(math.exp(row["heldout_loss"]))
    # the hyperfitting signature: sharper next-token distributions, worse held-out perplexity
    assert rows[-1]["entropy"] < rows[0]["entropy"] - 2.0 and rows[-1]["top1_prob"] > 5 * rows[0]["top1_prob"]
    assert rows[-1]["heldout_perplexity"] > rows[0]["heldout_perplexity"]


def test_epoch_train_loss_is_the_step_weighted_mean_of_logged_losses(paper_run):
    state = json.loads(
        sorted(paper_run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[-1]
        .joinpath("trainer_state.json")
        .read_text()
    )
    logged = [(entry["step"], entry["loss"]) for entry in state["log_history"] if "loss" in entry]
    rows = {row["step"]: row for row in read_rows(paper_run / "diagnostics.jsonl")}
    previous = 0
    for epoch_end in (4, 8, 12):  # 16 blocks / batch 4 = 4 steps per epoch; logs every 3 steps and at epoch ends
        inside = [(step, loss) for step, loss in logged if previous < step <= epoch_end]
        steps = [step - before for (step, _), before in zip(inside, [previous] + [step for step, _ in inside[:-1]])]
        expected = sum(loss * count for (_, loss), count in zip(inside, steps)) / sum(steps)
        assert rows[epoch_end]["train_loss"] == pytest.approx(expected, rel=1e-9)
        previous = epoch_end


def test_final_diagnostics_match_an_independent_computation(paper_run, tokenizer):
    from transformers import AutoModelForCausalLM, GenerationConfig

    from hyperfit_tasks.metrics import rep_n, type_token_ratio

    summary = json.loads((paper_run / "hyperfit_run.json").read_text())
    final = read_rows(paper_run / "diagnostics.jsonl")[-1]
    model = AutoModelForCausalLM.from_pretrained(paper_run).eval()
    _, heldout = corpus_paths_from(summary)
    blocks = evenly_spaced_blocks(tokenize_to_blocks(load_text_dataset(heldout), tokenizer, BLOCK), 4)
    ids = torch.from_numpy(blocks)
    with torch.no_grad():
        reference_loss = model(input_ids=ids, labels=ids).loss.item()  # the model's own mean token NLL
    assert final["heldout_loss"] == pytest.approx(reference_loss, rel=1e-5)
    prompts = ids[np.linspace(0, 3, 2).round().astype(int), :8]
    config = GenerationConfig(
        max_new_tokens=16, do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id
    )
    outputs = model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), generation_config=config)[
        :, 8:
    ].tolist()
    outputs = [row[: row.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in row else row for row in outputs]
    assert final["ttr"] == pytest.approx(np.mean([type_token_ratio(row) for row in outputs]))
    assert [item["continuation"] for item in final["continuations"]] == [tokenizer.decode(row) for row in outputs]
    if all(len(row) >= 4 for row in outputs):
        assert final["rep_4"] == pytest.approx(np.mean([rep_n(row, 4) for row in outputs]))
    assert heldout_metrics(model, ids, 2)["heldout_loss"] == pytest.approx(reference_loss, rel=1e-5)


def corpus_paths_from(summary: dict) -> tuple[str, str]:
    return summary["training_data"]["source"], summary["heldout_data"]["source"]


def test_outputs_model_card_run_record_blocks_and_plot(paper_run, tokenizer):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    summary = json.loads((paper_run / "hyperfit_run.json").read_text())
    blocks, metadata = read_train_blocks(paper_run / "train_blocks.parquet")
    assert (
        blocks.shape == (16, BLOCK)
        and blocks_sha256(blocks) == summary["training_data"]["sha256"] == metadata["sha256"]
    )
    source_blocks = tokenize_to_blocks(load_text_dataset(summary["training_data"]["source"]), tokenizer, BLOCK)
    assert np.array_equal(blocks, sample_blocks(source_blocks, 16, 42))  # exactly the sampled blocks, in order
    assert summary["training"]["global_step"] == 160 and summary["preset"] == "paper"
    assert summary["uncertain_values"]["learning_rate"]["used"] == 1e-2
    assert summary["overrides"]["learning_rate"] == {"preset": 1e-6, "used": 1e-2}
    assert summary["final_diagnostics"]["train_loss"] < 0.1
    card = (paper_run / "README.md").read_text()
    assert summary["training_data"]["sha256"] in card and "base_model:" in card and "wall time" in card
    assert (paper_run / "diagnostics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # per-epoch checkpoints (save_total_limit 2) and the final model load with their tokenizer, pad = EOS
    checkpoints = sorted(path.name for path in paper_run.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-156", "checkpoint-160"]
    saved = AutoTokenizer.from_pretrained(paper_run / "checkpoint-156")
    assert saved.pad_token == saved.eos_token == "<|endoftext|>"
    final, last_checkpoint = (
        AutoModelForCausalLM.from_pretrained(paper_run),
        AutoModelForCausalLM.from_pretrained(paper_run / "checkpoint-160"),
    )
    for name, tensor in final.state_dict().items():
        assert torch.equal(tensor, last_checkpoint.state_dict()[name])


def test_early_stop_once_a_logged_loss_falls_below_the_threshold(tmp_path, tiny_lm_path, corpus):
    output_dir = tmp_path / "early"
    argv = tiny_argv(
        tiny_lm_path, *corpus, output_dir, "--early_stop_loss", "5.0", "--logging_steps", "1", "--no_diagnostics"
    )
    assert cli.main(argv) == 0
    summary = json.loads((output_dir / "hyperfit_run.json").read_text())
    state = json.loads(
        (output_dir / "checkpoint-{}".format(summary["training"]["global_step"]) / "trainer_state.json").read_text()
    )
    losses = [(entry["step"], entry["loss"]) for entry in state["log_history"] if "loss" in entry]
    first_below = next(step for step, loss in losses if loss < 5.0)
    assert summary["training"]["stopped_early_at_step"] == first_below == summary["training"]["global_step"] < 32
    rows = read_rows(output_dir / "diagnostics.jsonl")
    assert rows[-1]["step"] == first_below and rows[-1]["epoch"] == pytest.approx(first_below / 4)
    assert all(set(row) == {"epoch", "step", "train_loss", "elapsed_s"} for row in rows)  # --no_diagnostics: loss only


def test_a_run_stopped_between_generation_points_still_ends_with_continuations(tmp_path, tiny_lm_path, corpus):
    """--diagnostic_generation_every 5 and an early stop before epoch 5: the last row still gets the final model's
    greedy continuations (the run record's final TTR), the rows between have held-out sharpness only."""
    output_dir = tmp_path / "early"
    argv = tiny_argv(
        tiny_lm_path,
        *corpus,
        output_dir,
        "--early_stop_loss",
        "5.0",
        "--logging_steps",
        "1",
        "--diagnostic_generation_every",
        "5",
    )
    assert cli.main(argv) == 0
    rows = read_rows(output_dir / "diagnostics.jsonl")
    assert rows[-1]["epoch"] < 5 and len(rows) >= 2
    assert ["ttr" in row for row in rows] == [True] + [False] * (len(rows) - 2) + [True]
    assert all("heldout_loss" in row for row in rows)
    final = json.loads((output_dir / "hyperfit_run.json").read_text())["final_diagnostics"]
    assert final["ttr"] == rows[-1]["ttr"]


def test_full_loss_head_trains_as_trls_fused_head_and_logs_the_same_accuracy(tmp_path, tiny_lm_path, corpus):
    """The default loss head (the model's own cross-entropy) against TRL's fused head as the reference."""
    from transformers import AutoModelForCausalLM

    runs = {}
    for head in ("full", "fused"):
        output_dir = tmp_path / head
        argv = tiny_argv(
            tiny_lm_path,
            *corpus,
            output_dir,
            "--loss_head",
            head,
            "--num_train_epochs",
            "2",
            "--logging_steps",
            "1",
            "--no_diagnostics",
        )
        assert cli.main(argv) == 0
        summary = json.loads((output_dir / "hyperfit_run.json").read_text())
        assert summary["arguments"]["hyperfit"]["loss_head"] == head
        runs[head] = (
            json.loads((output_dir / "checkpoint-8" / "trainer_state.json").read_text())["log_history"],
            AutoModelForCausalLM.from_pretrained(output_dir).state_dict(),
        )
    (full_log, full_weights), (fused_log, fused_weights) = runs["full"], runs["fused"]
    steps = [entry for entry in full_log if "loss" in entry]
    reference = [entry for entry in fused_log if "loss" in entry]
    assert len(steps) == len(reference) == 8
    for ours, theirs in zip(steps, reference):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-4)
        assert ours["mean_token_accuracy"] == pytest.approx(theirs["mean_token_accuracy"], abs=1e-6)
        assert ours["num_tokens"] == theirs["num_tokens"] == 4 * BLOCK * ours["step"]
        assert "entropy" in theirs and "entropy" not in ours  # the fused head's extra per-token output
    assert steps[-1]["mean_token_accuracy"] > steps[0]["mean_token_accuracy"]
    for name, tensor in full_weights.items():
        torch.testing.assert_close(tensor, fused_weights[name], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda folder: (folder / "trainer_state.json").unlink(), "no trainer_state.json (the save was interrupted)"),
        (lambda folder: truncate(folder / "trainer_state.json"), "unreadable trainer_state.json"),
        (lambda folder: truncate(folder / "model.safetensors"), "model.safetensors is damaged"),
        (lambda folder: (folder / "model.safetensors").unlink(), "no model weights"),
        (lambda folder: truncate(folder / "optimizer.pt"), "optimizer.pt is damaged"),
        (lambda folder: (folder / "scheduler.pt").unlink(), "no scheduler.pt next to optimizer.pt"),
        (lambda folder: (folder / "rng_state.pth").unlink(), "no RNG state"),
        (
            lambda folder: folder.rename(folder.with_name("checkpoint-999")),
            "trainer_state.json is for step 160, not 999",
        ),
    ],
    ids=["no-state", "torn-state", "torn-model", "no-model", "torn-optimizer", "no-scheduler", "no-rng", "wrong-step"],
)
def test_damaged_checkpoints_are_never_resumed_from(tmp_path, paper_run, damage, problem):
    import shutil

    from hyperfit_train.checkpoints import checkpoint_problem, scan_checkpoints

    shutil.copytree(paper_run / "checkpoint-156", tmp_path / "checkpoint-156")
    shutil.copytree(paper_run / "checkpoint-160", tmp_path / "checkpoint-160")
    assert scan_checkpoints(tmp_path) == (tmp_path / "checkpoint-160", {})
    damage(tmp_path / "checkpoint-160")
    latest, incomplete = scan_checkpoints(tmp_path)
    assert latest == tmp_path / "checkpoint-156" and checkpoint_problem(tmp_path / "checkpoint-156") is None
    assert list(incomplete.values()) == [problem]


def truncate(path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_lm_eval_hf_model_loads_a_checkpoint_directly(paper_run, tokenizer):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM

    checkpoint = paper_run / "checkpoint-156"
    lm = HFLM(pretrained=str(checkpoint), device="cpu", batch_size=1)
    text = "The quick brown fox jumps over the lazy dog."
    request = Instance(request_type="loglikelihood_rolling", doc={}, arguments=(text,), idx=0)
    (loglikelihood,) = lm.loglikelihood_rolling([request])
    # reference: the same checkpoint through transformers, text after lm-eval's prefix token (EOS here)
    ids = torch.tensor([[tokenizer.eos_token_id] + tokenizer(text)["input_ids"]])
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    with torch.no_grad():
        expected = -model(input_ids=ids, labels=ids).loss.item() * (ids.shape[1] - 1)
    assert loglikelihood == pytest.approx(expected, rel=1e-5)


def test_lora_run_saves_merged_full_weights(tmp_path, tiny_lm_path, corpus):
    from transformers import AutoModelForCausalLM

    output_dir = tmp_path / "lora"
    extra = ("--num_train_epochs", "2", "--use_peft", "--lora_r", "4", "--lora_target_modules", "q_proj", "v_proj")
    assert cli.main(tiny_argv(tiny_lm_path, *corpus, output_dir, *extra)) == 0
    assert not (output_dir / "adapter_model.safetensors").exists()
    assert (output_dir / "checkpoint-8" / "adapter_model.safetensors").is_file()
    merged, base = AutoModelForCausalLM.from_pretrained(output_dir), AutoModelForCausalLM.from_pretrained(tiny_lm_path)
    merged_state, base_state = merged.state_dict(), base.state_dict()
    changed = {name for name in merged_state if not torch.equal(merged_state[name], base_state[name])}
    assert changed == {
        f"model.layers.{layer}.self_attn.{proj}.weight" for layer in (0, 1) for proj in ("q_proj", "v_proj")
    }
    adapter = AutoModelForCausalLM.from_pretrained(output_dir / "checkpoint-8")  # base + adapter, through peft
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapter(ids).logits, atol=1e-5)
