"""hyperfit-demo's wiring: the step commands, their order, re-use of finished steps, the sharpening table."""
from __future__ import annotations

import json
from pathlib import Path

from hyperfit_tasks.cli import demo

DIAGNOSTICS_BEFORE = {"heldout_perplexity": 60.294, "top1_prob": 0.31794, "entropy": 3.5977, "ttr_last96": 0.2526}
DIAGNOSTICS_AFTER = {"heldout_perplexity": 75.5, "top1_prob": 0.52, "entropy": 2.25, "ttr_last96": None}


def fake_step(calls: list[list[str]]):
    """A run_step that records each command and leaves the output the real command would leave."""

    def run_step(title: str, argv: list[str]) -> None:
        calls.append(argv)
        if "--output_dir" in argv:  # hyperfit-train
            run_dir = Path(argv[argv.index("--output_dir") + 1])
            run_dir.mkdir(parents=True)
            record = {"initial_diagnostics": DIAGNOSTICS_BEFORE, "final_diagnostics": DIAGNOSTICS_AFTER}
            (run_dir / "hyperfit_run.json").write_text(json.dumps(record))
        elif "--output_path" in argv:  # lm-eval
            folder = Path(argv[argv.index("--output_path") + 1]) / "model"
            folder.mkdir(parents=True)
            (folder / "results_2026-01-01T00-00-00.json").write_text("{}")

    return run_step


def test_demo_runs_each_step_once_then_reuses_it(tmp_path, monkeypatch, capsys):
    calls: list[list[str]] = []
    monkeypatch.setattr(demo, "run_step", fake_step(calls))
    argv = ["--model", "/models/base", "--train-samples", "8,16", "--output-dir", str(tmp_path), "--limit", "3"]

    assert demo.main(argv) == 0
    scripts = [Path(call[0]).name for call in calls]
    assert scripts == ["hyperfit-train"] * 2 + ["hyperfit-lm-eval"] * 3 + ["hyperfit-compare"]
    train_8 = calls[0]
    assert train_8[train_8.index("--num_samples") + 1] == "8" and train_8[train_8.index("--model") + 1] == "/models/base"
    evaluate_16 = calls[4]
    assert evaluate_16[evaluate_16.index("--model_args") + 1] == f"pretrained={tmp_path / 'hyperfitted-n16'},dtype=float32"
    assert evaluate_16[evaluate_16.index("--tasks") + 1] == demo.TASKS and evaluate_16[evaluate_16.index("--limit") + 1] == "3"
    assert json.loads(evaluate_16[evaluate_16.index("--metadata") + 1]) == {"training_data": str(tmp_path / "hyperfitted-n16")}
    assert "--metadata" not in calls[2]  # the base model has no training data of its own
    compare = calls[5]
    assert compare[1:4] == [f"{tmp_path / 'lm_eval' / name}={name}" for name in ("base", "hyperfitted-n8", "hyperfitted-n16")]
    assert compare[compare.index("--baseline") + 1] == "base"
    caches = [Path(call[call.index("--use_cache") + 1]) for call in calls[2:5]]  # one request cache per model
    assert len(set(caches)) == 3 and {cache.parent for cache in caches} == {tmp_path / "lm_eval_cache"}

    calls.clear()
    assert demo.main(argv) == 0
    assert [Path(call[0]).name for call in calls] == ["hyperfit-compare"]
    assert "already done" in capsys.readouterr().out


def test_sharpening_table_shows_before_and_after_each_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "hyperfit_run.json").write_text(
        json.dumps({"initial_diagnostics": DIAGNOSTICS_BEFORE, "final_diagnostics": DIAGNOSTICS_AFTER})
    )
    lines = demo.sharpening_table({"hyperfitted-n8": run_dir}).splitlines()
    assert lines[0] == "| model | held-out ppl | top-1 prob | entropy (nats) | greedy TTR last 96 |"
    assert lines[2] == "| before (base) | 60.29 | 0.318 | 3.598 | 0.253 |"
    assert lines[3] == "| hyperfitted-n8 | 75.50 | 0.520 | 2.250 |  |"  # a missing value is an empty cell
