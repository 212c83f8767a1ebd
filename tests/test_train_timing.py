"""Training time outside the optimizer steps: the per-part time split, checkpoints every few epochs, batched greedy
diagnostics."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from hyperfit_tasks.common.json_rows import read_rows
from hyperfit_train import callbacks, cli
from hyperfit_train.callbacks import PhaseTimer, time_split_line
from hyperfit_train.diagnostics import greedy_continuations

from helpers import tiny_argv


class FakeClock:
    """``time.perf_counter`` that returns the given readings in turn."""

    def __init__(self, *readings: float):
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0)


def test_time_split_counts_steps_and_phases_and_the_rest_as_other(monkeypatch):
    monkeypatch.setattr(callbacks.time, "perf_counter", FakeClock(0.0, 1.0, 3.0, 3.0, 10.0, 10.5, 11.0, 12.0))
    timer = PhaseTimer()  # t = 0
    with timer.timed("diagnostics"):  # 1 -> 3
        pass
    timer.on_step_begin(None, None, None)  # 3
    timer.on_step_end(None, None, None)  # 10
    with timer.timed("diagnostics"):  # 10.5 -> 11
        pass
    split = timer.split()  # 12
    assert split == {
        "diagnostics": 2.5,
        "optimizer_steps": 7.0,
        "other": 2.5,
        "total": 12.0,
        "outside_steps_share": round(5 / 12, 4),
    }
    assert time_split_line(split) == (
        "time: 12.0 s in this session (diagnostics 2.5 s, optimizer steps 7.0 s, other 2.5 s); 41.7% outside "
        "optimizer steps"
    )


def test_batched_greedy_continuations_equal_one_prompt_at_a_time(tiny_lm_path, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_lm_path).eval()
    ids = tokenizer(
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
        "of a wife. However little known the feelings or views of such a man may be"
    )["input_ids"]
    prompts = torch.tensor([ids[0:8], ids[8:16], ids[16:24]])
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    batched = greedy_continuations(model, prompts, 12, eos, pad)
    one_by_one = [greedy_continuations(model, prompt[None], 12, eos, pad)[0] for prompt in prompts]
    assert batched == one_by_one
    # and each equals the argmax chain computed by hand, without generate
    for prompt, continuation in zip(prompts, batched):
        sequence = prompt.tolist()
        for _ in range(len(continuation)):
            sequence.append(model(torch.tensor([sequence])).logits[0, -1].argmax().item())
        assert sequence[len(prompt) :] == continuation


@pytest.fixture(scope="module")
def every_third_epoch(tmp_path_factory, tiny_lm_path, corpus):
    """8 epochs of 4 steps with a checkpoint and greedy diagnostic continuations every 3 epochs (and the last), all
    checkpoints kept."""
    output_dir = tmp_path_factory.mktemp("runs") / "every3"
    argv = tiny_argv(
        tiny_lm_path,
        *corpus,
        output_dir,
        "--save_every_epochs",
        "3",
        "--save_total_limit",
        "10",
        "--diagnostic_generation_every",
        "3",
    )
    assert cli.main(argv) == 0
    return output_dir, argv


def test_checkpoints_every_few_epochs_and_the_last(every_third_epoch):
    output_dir, _ = every_third_epoch
    assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == [
        "checkpoint-12",
        "checkpoint-24",
        "checkpoint-32",
    ]
    rows = read_rows(output_dir / "diagnostics.jsonl")
    assert [row["epoch"] for row in rows] == list(range(9))  # the held-out curve keeps every epoch
    assert [row["epoch"] for row in rows if "ttr" in row] == [0, 3, 6, 8]  # continuations every 3 epochs and the last
    assert all("top1_prob" in row and "heldout_loss" in row for row in rows)


def test_run_record_holds_the_time_split(every_third_epoch):
    output_dir, _ = every_third_epoch
    training = json.loads((output_dir / "hyperfit_run.json").read_text())["training"]
    split = training["time_split"]
    parts = {name: value for name, value in split.items() if name not in ("total", "outside_steps_share")}
    assert set(parts) == {
        "start_up_inputs",
        "start_up_trainer",
        "optimizer_steps",
        "diagnostics",
        "checkpoints",
        "final_save",
        "other",
    }
    assert all(value > 0 for name, value in parts.items() if name != "other")
    assert sum(parts.values()) == pytest.approx(split["total"], abs=0.01)
    assert split["total"] <= training["session_seconds"]
    assert split["outside_steps_share"] == pytest.approx(1 - split["optimizer_steps"] / split["total"], abs=1e-3)


def test_resume_from_an_every_few_epochs_checkpoint_gives_the_same_weights(tmp_path, every_third_epoch):
    reference, argv = every_third_epoch
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    for name in ("hyperfit_recipe.json", "train_blocks.parquet", "diagnostics.jsonl"):
        shutil.copy(reference / name, resumed / name)
    shutil.copytree(reference / "checkpoint-12", resumed / "checkpoint-12")  # killed during epoch 4, 5 or 6
    output_index = argv.index("--output_dir") + 1
    assert cli.main([*argv[:output_index], str(resumed), *argv[output_index + 1 :], "--resume"]) == 0
    summary = json.loads((resumed / "hyperfit_run.json").read_text())
    assert summary["training"]["resumed_from"] == str(resumed / "checkpoint-12")
    first, second = load_file(reference / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert max((first[name] - second[name]).abs().max().item() for name in first) <= 1e-6
    without_time = [
        [
            {key: value for key, value in row.items() if key != "elapsed_s"}
            for row in read_rows(folder / "diagnostics.jsonl")
        ]
        for folder in (reference, resumed)
    ]
    assert without_time[0] == without_time[1]
