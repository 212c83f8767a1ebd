"""hyperfit-reproduce end to end on the tiny in-process model: the wiring of its steps, the claims table and its
rules, and the re-use of every finished step (a second run runs none)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperfit_tasks.chains import steps
from hyperfit_tasks.cli import agreement, reproduce, temperature
from hyperfit_tasks.cli import compare as compare_cli
from hyperfit_tasks.cli import lm_eval as lm_eval_cli
from hyperfit_tasks.compare.data import paired_stat, read_table
from hyperfit_tasks.reproduce.claims import DIVERSITY, HEADLINE, REPORTED, VERDICTS, directional
from hyperfit_train import cli as train_cli

MAINS = {
    "hyperfit-train": train_cli.main,
    "hyperfit-lm-eval": lm_eval_cli.main,
    "hyperfit-temperature": temperature.main,
    "hyperfit-agreement": agreement.main,
    "hyperfit-compare": compare_cli.main,
}
# the demo recipe shrunk to the tiny model: 32-token blocks, 2 epochs, a large learning rate, small diagnostics
TINY_TRAINING = (
    "--max_length 32 --num_train_epochs 2 --per_device_train_batch_size 2 --learning_rate 1e-2 --logging_steps 1 "
    "--disable_tqdm true --diagnostic_blocks 2 --diagnostic_prompts 2 --diagnostic_prompt_tokens 8 "
    "--diagnostic_new_tokens 16"
)


def in_process(calls: list[list[str]]):
    """A run_step that runs each step's console script in this process (the same argv), and records it."""

    def run_step(title: str, argv: list[str]) -> None:
        calls.append(argv)
        assert MAINS[Path(argv[0]).name](argv[1:]) in (0, None), title

    return run_step


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.mark.slow
def test_reproduce_runs_the_chain_writes_the_claims_and_reuses_every_step(tiny_lm_path, tmp_path, monkeypatch, capsys):
    calls: list[list[str]] = []
    monkeypatch.setattr(steps, "run_step", in_process(calls))
    out = tmp_path / "reproduce"
    argv = [
        "--model", str(tiny_lm_path), "--output-dir", str(out), "--train-samples", "4", "--small-samples", "2",
        "--limit", "2", "--max-gen-toks", "16", "--batch-size", "2", "--train-options", TINY_TRAINING,
        "--compare-options", "--permutations 200 --mauve-permutations 2", "--judge", str(tiny_lm_path),
    ]  # fmt: skip

    assert reproduce.main(argv) == 0
    scripts = [Path(call[0]).name for call in calls]
    judge = [
        "hyperfit-lm-eval"
    ] * 3  # the tiny model judges the base's and the hyperfitted continuations, and the loop control
    scored = ["hyperfit-lm-eval"] * 9
    assert (
        scripts
        == ["hyperfit-train"] * 4
        + ["hyperfit-temperature"]
        + scored
        + ["hyperfit-agreement"]
        + judge
        + ["hyperfit-compare"] * 4
    )
    main_run, shuffled, pydoc, small = calls[:4]
    # the shuffled run: the same samples (--sample_seed), another order (--seed); pydoc: its training split; small: 2
    # blocks
    assert option(main_run, "--sample_seed") == option(shuffled, "--sample_seed") and option(
        main_run, "--seed"
    ) != option(shuffled, "--seed")
    assert option(pydoc, "--data").endswith("pydoc/train.jsonl") and option(small, "--num_samples") == "2"
    assert option(main_run, "--max_length") == "32"  # --train-options reach every run
    evaluations = {Path(option(call, "--output_path")).name: call for call in calls[5:14]}
    matched_t = json.loads((out / "temperature.json").read_text())["temperature"]
    assert (
        option(evaluations["base-matched-T"], "--gen_kwargs")
        == f"max_gen_toks=16,temperature={matched_t:.3f},top_p=1.0,top_k=0"
    )
    assert (
        option(evaluations["base-top-p"], "--tasks") == "hyperfit_continuation_top_p"
        and option(evaluations["base-top-p"], "--seed") == "1234"
    )
    blocked = evaluations["hyperfitted-blocked"]
    assert option(
        blocked, "--model"
    ) == "hf-citation-blocked" and f"blocked_data={out / 'hyperfitted'},block_len=6" in option(blocked, "--model_args")
    assert json.loads(option(evaluations["hyperfitted"], "--metadata")) == {"training_data": str(out / "hyperfitted")}
    assert option(evaluations["hyperfitted"], "--tasks") == "hyperfit_continuation,hyperfit_perplexity"
    assert option(evaluations["hyperfitted-shuffled"], "--tasks") == "hyperfit_continuation_austen"
    # the early-stopped model (the main run's lowest held-out epoch) is scored as any checkpoint, and is the control's
    # baseline
    assert option(evaluations["early-stopped"], "--model_args").startswith(
        f"pretrained={out / 'hyperfitted' / 'early_stopped'},"
    )
    assert option(evaluations["early-stopped"], "--tasks") == "hyperfit_continuation,hyperfit_perplexity"
    judged = {Path(option(call, "--output_path")).name: call for call in calls[15:18]}
    assert json.loads(option(judged["loop-control"], "--metadata")) == {
        "samples": str(out / "lm_eval" / "base"),
        "control": "loop",
    }
    assert (
        option(judged["hyperfitted"], "--tasks") == "hyperfit_judge_logprob"
        and "--apply_chat_template" not in judged["hyperfitted"]
    )
    control = calls[-2]
    assert option(control, "--baseline") == "early-stopped" and option(control, "--out") == str(
        out / "compare" / "control"
    )
    decoding = calls[-3]
    assert option(decoding, "--permutations") == "200" and option(decoding, "--out") == str(
        out / "compare" / "decoding"
    )
    assert (
        option(decoding, "--baseline") == "hyperfitted"
        and option(decoding, "--same-prompts") == "hyperfit_continuation_top_p=hyperfit_continuation"
    )

    report = out / "report"
    claims = json.loads((report / "claims.json").read_text())["claims"]
    assert [row["number"] for row in claims] == list(range(1, 12)) and all(
        row["verdict"] in VERDICTS for row in claims
    )
    # claim 10 reads the judge's comparison (the tiny random judge's verdicts, paired by the judged prompt) and its
    # loop control
    judge_table = read_table(out / "compare" / "judge" / "table.json")
    preference = paired_stat(judge_table, "hyperfit_judge_logprob", "judge_pref_or_equal", "hyperfitted")
    assert claims[9]["values"]["hyperfit_judge_logprob/judge_pref_or_equal"]["delta"] == preference.delta
    # the tiny model is the base model and the judge: the row names the self-preference
    assert claims[9]["ours"].startswith(
        f"LLM judge {tiny_lm_path} (hyperfit_judge_logprob); the judge is the base model itself (self-preference"
    )
    assert set(claims[9]["values"]["judge"]["loop-control"]) == {"judge_pref_or_equal", "judge_unparseable"}
    observations = json.loads((report / "claims.json").read_text())["observations"]
    assert [(row["number"], row["verdict"]) for row in observations] == [
        ("S1", REPORTED)
    ]  # Self-BLEU: reported, not decided
    table = (report / "claims.md").read_text().splitlines()
    assert table[0].startswith("| # | claim | the paper | ours") and [
        line.split(" | ")[0] for line in table[2:13]
    ] == [f"| {n}" for n in range(1, 12)]
    # claim 11 reads the control table: hyperfitted - early-stopped, and early-stopped - base as its negation
    kept = json.loads((out / "hyperfitted" / "hyperfit_run.json").read_text())["early_stopped"]
    beyond = paired_stat(
        read_table(out / "compare" / "control" / "table.json"),
        "hyperfit_continuation_austen",
        "ttr_last96",
        "hyperfitted",
    )
    assert (
        claims[10]["values"]["hyperfitted_minus_early"]["hyperfit_continuation_austen/ttr_last96"]["delta"]
        == beyond.delta
    )
    assert claims[10]["ours"].startswith(
        f"early-stopped = epoch {kept['epoch']:g} (lowest held-out loss {kept['heldout_loss']:.3f}"
    )
    # claim 1's verdict is its rule applied to hyperfit-compare's paired statistics (hyperfitted - base, both domains)
    main = read_table(out / "compare" / "main" / "table.json")
    stats = {
        f"{task}/{metric}": paired_stat(main, task, metric, "hyperfitted")
        for task in ("hyperfit_continuation_austen", "hyperfit_continuation_pydoc") for metric in HEADLINE
    }  # fmt: skip
    assert any(stat is not None for stat in stats.values())
    significant_all = all(
        stat is not None and stat.significant and stat.delta * DIVERSITY[key.split("/")[1]] > 0
        for key, stat in stats.items()
    )
    assert (claims[0]["verdict"] == "holds") == significant_all and claims[0]["verdict"] == directional(
        stats, DIVERSITY
    )[0]
    # the decoding table pairs the sampled base with the greedy hyperfitted model on the same prompts
    decoding_paired = json.loads((out / "compare" / "decoding" / "table.json").read_text())["paired"]
    assert "base-top-p" in decoding_paired["hyperfit_continuation_austen"]["ttr_last96"]
    page = (report / "index.html").read_text()
    assert (
        "../compare/main/index.html" in page
        and "../compare/decoding/index.html" in page
        and (out / "compare" / "main" / "index.html").is_file()
    )
    assert (report / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    calls.clear()
    capsys.readouterr()
    assert reproduce.main(argv) == 0
    assert calls == []  # every step re-used
    printed = capsys.readouterr().out
    assert printed.count("already done") == 22 and "| 10 | Humans prefer" in printed
