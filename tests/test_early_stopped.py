"""The early-stopped fine-tune: ``hyperfit-train`` keeps the model of the epoch with the lowest held-out loss, and
``hyperfit-lm-eval`` scores that folder like any checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from safetensors.torch import load_file

from hyperfit_tasks.cli import lm_eval as lm_eval_cli
from hyperfit_tasks.common.run_files import EARLY_STOPPED_DIR, EARLY_STOPPED_RECORD, read_early_stopped
from hyperfit_train import cli
from hyperfit_train.callbacks import KeepLowestHeldoutCallback

from helpers import tiny_argv


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_lm_path, corpus) -> Path:
    """Eight epochs of the tiny model, a checkpoint after each: its held-out loss falls, then rises (lowest at epoch
    3)."""
    output_dir = tmp_path_factory.mktemp("early") / "run"
    argv = tiny_argv(
        tiny_lm_path,
        *corpus,
        output_dir,
        "--save_strategy",
        "epoch",
        "--save_every_epochs",
        "1",
        "--save_total_limit",
        "20",
    )
    assert cli.main(argv) == 0
    return output_dir


def heldout_curve(run: Path) -> list[tuple[float, int, float]]:
    rows = [json.loads(line) for line in (run / "diagnostics.jsonl").read_text().splitlines()]
    return [(row["epoch"], row["step"], row["heldout_loss"]) for row in rows]


def test_the_lowest_heldout_epoch_is_kept(run):
    curve = heldout_curve(run)
    epoch, step, loss = min(curve[1:], key=lambda point: point[2])  # trained epochs only: epoch 0 is the base model
    assert (
        epoch == 3 and 0 < curve.index((epoch, step, loss)) < len(curve) - 1
    )  # an interior minimum: keeping the last would fail
    record = json.loads((run / "hyperfit_run.json").read_text())["early_stopped"]
    assert (record["path"], record["epoch"], record["step"], record["heldout_loss"]) == (
        EARLY_STOPPED_DIR,
        epoch,
        step,
        loss,
    )
    assert read_early_stopped(run) == {key: record[key] for key in ("path", "epoch", "step", "heldout_loss")}
    kept = load_file(run / EARLY_STOPPED_DIR / "model.safetensors")
    same_epoch = load_file(run / f"checkpoint-{step}" / "model.safetensors")
    later = load_file(run / f"checkpoint-{step + 4}" / "model.safetensors")
    assert kept.keys() == same_epoch.keys() and all((kept[name] == same_epoch[name]).all() for name in kept)
    assert any(not (kept[name] == later[name]).all() for name in kept)
    assert not (run / f"{EARLY_STOPPED_DIR}.partial").exists() and not (run / f"{EARLY_STOPPED_DIR}.old").exists()
    assert (
        f"The model of epoch {epoch:g}, the lowest held-out loss ({loss:.4g}), is kept in `early_stopped/`"
        in (run / "README.md").read_text()
    )


def test_the_kept_model_is_scored_like_any_checkpoint(run, tmp_path, monkeypatch, english_text, capsys):
    """``hyperfit-lm-eval --model_args pretrained=RUN/early_stopped`` scores exactly the kept epoch's model: its word
    perplexity equals that of the same epoch's Trainer checkpoint and differs from the final model's."""
    import hyperfit_tasks.assets

    heldout = tmp_path / "heldout.jsonl"
    paragraphs = [p for p in english_text.split("\n\n") if len(p.split()) > 60]
    heldout.write_text("".join(json.dumps({"text": text}) + "\n" for text in paragraphs[3:5]))
    monkeypatch.setattr(hyperfit_tasks.assets, "corpus_path", lambda domain, split: heldout)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    step = read_early_stopped(run)["step"]

    def word_perplexity(model: Path) -> float:
        out = tmp_path / model.name
        code = lm_eval_cli.main([
            "--model", "hf", "--model_args", f"pretrained={model}", "--device", "cpu",
            "--tasks", "hyperfit_perplexity_austen", "--limit", "2", "--output_path", str(out),
            "--bootstrap_iters", "0",
        ])  # fmt: skip
        assert code == 0, capsys.readouterr().err[-2000:]
        (results,) = out.rglob("results_*.json")
        return json.loads(results.read_text())["results"]["hyperfit_perplexity_austen"]["word_perplexity,none"]

    kept = word_perplexity(run / EARLY_STOPPED_DIR)
    assert kept == pytest.approx(word_perplexity(run / f"checkpoint-{step}"), rel=1e-9)
    assert kept != pytest.approx(word_perplexity(run), rel=1e-6)


def test_an_interrupted_save_is_cleaned_up_and_lost_work_forgotten(tmp_path):
    """Killed between the two renames: the previous model (``.old``) is put back; a partial save is removed; a model
    kept by epochs a resumed run will redo is not trusted as the lowest."""
    (tmp_path / f"{EARLY_STOPPED_DIR}.old").mkdir()
    record = {"path": EARLY_STOPPED_DIR, "epoch": 2, "step": 8, "heldout_loss": 1.5}
    (tmp_path / f"{EARLY_STOPPED_DIR}.old" / EARLY_STOPPED_RECORD).write_text(json.dumps(record))
    (tmp_path / f"{EARLY_STOPPED_DIR}.partial").mkdir()
    keeper = KeepLowestHeldoutCallback(tmp_path, diagnostics=None)
    keeper.trainer = SimpleNamespace(accelerator=SimpleNamespace(wait_for_everyone=lambda: None))
    keeper.on_train_begin(None, SimpleNamespace(global_step=8, is_world_process_zero=True), None)
    assert keeper.kept["step"] == 8 and (tmp_path / EARLY_STOPPED_DIR).is_dir()
    assert (
        not (tmp_path / f"{EARLY_STOPPED_DIR}.partial").exists()
        and not (tmp_path / f"{EARLY_STOPPED_DIR}.old").exists()
    )
    keeper.on_train_begin(
        None, SimpleNamespace(global_step=4, is_world_process_zero=True), None
    )  # resumed from step 4: step 8 is redone
    assert keeper.kept is None
