"""The TRL internals that --loss_head full relies on are checked when the trainer is built: one line, nothing
written."""

from __future__ import annotations

import trl
from trl import SFTTrainer

from hyperfit_train import cli
from hyperfit_train.trainer import TRL_INTERNALS

from helpers import tiny_argv


def test_a_trl_without_the_internals_is_one_line_before_anything_is_written(
    tmp_path, tiny_lm_path, corpus, monkeypatch, capsys
):
    built = SFTTrainer.__init__

    def without_tp_size(self, *args, **kwargs):  # a TRL release that renamed one internal attribute
        built(self, *args, **kwargs)
        del self._tp_size

    monkeypatch.setattr(SFTTrainer, "__init__", without_tp_size)
    output_dir = tmp_path / "out"
    assert cli.main(tiny_argv(tiny_lm_path, *corpus, output_dir, "--num_train_epochs", "1")) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"hyperfit-train: error: --loss_head full reads SFTTrainer internals of TRL 1.16 (_tp_size) that TRL "
        f"{trl.__version__} does not have: install trl==1.16.* or pass --loss_head fused"
    )
    assert not any(
        path.is_file() for path in output_dir.rglob("*")
    )  # (the Trainer itself may create the empty folder)


def test_this_trl_has_every_internal_the_full_head_reads(tiny_lm_path):
    from datasets import Dataset

    from hyperfit_train.trainer import HyperfitTrainer

    trainer = HyperfitTrainer(
        model=str(tiny_lm_path),
        args=trl.SFTConfig(output_dir="unused", use_cpu=True, report_to=[], max_length=8),
        train_dataset=Dataset.from_dict({"input_ids": [[1, 2, 3, 4, 5, 6, 7, 8]]}),
    )
    assert all(hasattr(trainer, name) for name in TRL_INTERNALS)


def test_a_transformers_without_trainer_end_still_finishes(tmp_path, tiny_lm_path, corpus, monkeypatch):
    """``Trainer.end`` exists from transformers 5.18 on (TRL's own sft script checks the version too)."""
    from transformers import Trainer

    monkeypatch.delattr(Trainer, "end")
    output_dir = tmp_path / "out"
    assert cli.main(tiny_argv(tiny_lm_path, *corpus, output_dir, "--num_train_epochs", "1")) == 0
    assert (output_dir / "model.safetensors").is_file() and (output_dir / "hyperfit_run.json").is_file()
