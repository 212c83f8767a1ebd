"""Each claim's rule on constructed evidence: a case that holds, one that does not, one that is not measurable here."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest

from hyperfit_tasks.reproduce import claims
from hyperfit_tasks.reproduce.claims import DOES_NOT_HOLD, HOLDS, NOT_MEASURABLE, Evidence
from hyperfit_tasks.reproduce.evidence import copy_counts
from hyperfit_tasks.reproduce.report import render_markdown

AUSTEN, PYDOC = "hyperfit_continuation_austen", "hyperfit_continuation_pydoc"


def stat(delta, low, high, p=0.001):
    """One entry of ``table.json``'s ``paired``, as hyperfit-compare writes it (12 pairs, all of them differing)."""
    return {
        "delta": delta, "ci_low": low, "ci_high": high, "p_value": p, "p_holm": p, "permutations": 1000,
        "documents": 12, "informative": 12, "base_value": 0.5, "run_value": 0.5 + delta, "interval": "test inversion",
    }  # fmt: skip


def table(entries: dict) -> dict:
    """A ``table.json`` with ``paired``: {(task, metric, run): stat}."""
    paired: dict = {}
    for (task, metric, run), value in entries.items():
        paired.setdefault(task, {}).setdefault(metric, {})[run] = value
    return {"paired": paired}


# the paper's direction, clearly significant, for every diversity metric
GOOD = {
    "ttr_last96": stat(0.4, 0.3, 0.5),
    "rep_4": stat(-0.7, -0.8, -0.6),
    "distinct_4": stat(0.6, 0.5, 0.7),
    "self_bleu": stat(-0.1, -0.15, -0.05),
}


def gains(run: str, domains=(AUSTEN, PYDOC), **changes) -> dict:
    return {(task, metric, run): changes.get(metric, value) for task in domains for metric, value in GOOD.items()}


def test_claim_1_holds_only_when_ttr_and_repetition_go_the_papers_way_significantly():
    assert claims.claim_1_diversity(Evidence(main=table(gains("hyperfitted")))).verdict == HOLDS
    # Self-BLEU rising is reported in its own row, and does not decide claim 1 (the paper's direction is unverified)
    evidence = Evidence(main=table(gains("hyperfitted", self_bleu=stat(0.18, 0.13, 0.23))))
    assert (
        claims.claim_1_diversity(evidence).verdict == HOLDS
        and "Self-BLEU" not in claims.claim_1_diversity(evidence).ours
    )
    (observed,) = claims.observe(evidence)
    assert observed.verdict == claims.REPORTED and "austen Self-BLEU +0.18 [+0.13, +0.23]*" in observed.ours
    against = claims.claim_1_diversity(Evidence(main=table(gains("hyperfitted", ttr_last96=stat(-0.2, -0.3, -0.1)))))
    assert against.verdict == DOES_NOT_HOLD and against.basis == f"against: {AUSTEN}/ttr_last96, {PYDOC}/ttr_last96"
    weak = claims.claim_1_diversity(Evidence(main=table(gains("hyperfitted", rep_4=stat(-0.1, -0.3, 0.1, p=0.4)))))
    assert weak.verdict == DOES_NOT_HOLD and weak.basis.startswith("not shown (not significant)")
    assert claims.claim_1_diversity(Evidence()).verdict == NOT_MEASURABLE
    assert (
        "austen TTR-96 +0.4 [+0.3, +0.5]*" in claims.claim_1_diversity(Evidence(main=table(gains("hyperfitted")))).ours
    )


def test_claims_2_and_3_negate_the_decoding_table_whose_baseline_is_the_hyperfitted_model():
    # base sampled - hyperfitted: TTR-96 lower and rep-4 higher, so hyperfitted - sampled goes the paper's way
    sampled_below = {
        (task, m, claims.TOP_P): s
        for task in (AUSTEN, PYDOC)
        for m, s in (("ttr_last96", stat(-0.3, -0.4, -0.2)), ("rep_4", stat(0.5, 0.4, 0.6)))
    }
    row = claims.claim_2_top_p(Evidence(decoding=table(sampled_below)))
    assert (
        row.verdict == HOLDS
        and "austen TTR-96 +0.3 [+0.2, +0.4]*" in row.ours
        and "rep-4 -0.5 [-0.6, -0.4]*" in row.ours
    )
    sampled_above = {
        (task, m, claims.MATCHED): s
        for task in (AUSTEN, PYDOC)
        for m, s in (("ttr_last96", stat(0.2, 0.1, 0.3)), ("rep_4", stat(0.5, 0.4, 0.6)))
    }
    row = claims.claim_3_temperature(Evidence(decoding=table(sampled_above), temperature={"temperature": 0.513}))
    assert (
        row.verdict == DOES_NOT_HOLD
        and row.basis == f"against: {AUSTEN}/ttr_last96, {PYDOC}/ttr_last96"
        and "T = 0.513" in row.rule
    )
    assert (
        claims.claim_3_temperature(Evidence(decoding=table(sampled_below))).verdict == NOT_MEASURABLE
    )  # no base-matched-T run


def diagnostics(losses):
    return [{"epoch": float(epoch), "heldout_loss": loss} for epoch, loss in enumerate(losses)]


def test_claim_4_sharpening_perplexity_and_no_grokking():
    record = {
        "initial_diagnostics": {"top1_prob": 0.32, "entropy": 3.6},
        "final_diagnostics": {"top1_prob": 0.67, "entropy": 1.3},
    }
    ppl = {
        (f"hyperfit_perplexity_{d}", "word_perplexity", "hyperfitted"): stat(3000.0, 2500.0, 4200.0)
        for d in ("austen", "pydoc")
    }
    rising = Evidence(main=table(ppl), run_record=record, diagnostics=diagnostics([4.1, 4.3, 5.0, 6.2]))
    row = claims.claim_4_sharpening(rising)
    assert row.verdict == HOLDS and "lowest at epoch 0 (4.100), final 6.200" in row.ours
    # grokking-like: the loss rises to 6.0 then comes back to 4.5, under half-way (5.05) between its low and its high
    back_down = Evidence(main=table(ppl), run_record=record, diagnostics=diagnostics([4.1, 6.0, 5.0, 4.5]))
    assert (
        claims.claim_4_sharpening(back_down).verdict == DOES_NOT_HOLD
        and "came back down" in claims.claim_4_sharpening(back_down).basis
    )
    lowest_last = Evidence(main=table(ppl), run_record=record, diagnostics=diagnostics([4.1, 4.0, 3.9]))
    assert "lowest at the last epoch (2)" in claims.claim_4_sharpening(lowest_last).basis
    flat = {
        "initial_diagnostics": {"top1_prob": 0.32, "entropy": 3.6},
        "final_diagnostics": {"top1_prob": 0.30, "entropy": 3.7},
    }
    row = claims.claim_4_sharpening(Evidence(main=table(ppl), run_record=flat, diagnostics=diagnostics([4.1, 4.3])))
    assert row.verdict == DOES_NOT_HOLD and row.basis == "top-1 probability did not rise; entropy did not fall"
    assert claims.claim_4_sharpening(Evidence(main=table(ppl))).verdict == NOT_MEASURABLE  # no training diagnostics
    # the right/wrong split and the calibration error are shown beside the rule (older records without them: not shown)
    split = {
        "initial_diagnostics": {
            "top1_prob": 0.32,
            "entropy": 3.6,
            "top1_prob_correct": 0.55,
            "top1_prob_wrong": 0.21,
            "ece": 0.03,
        },
        "final_diagnostics": {
            "top1_prob": 0.67,
            "entropy": 1.3,
            "top1_prob_correct": 0.81,
            "top1_prob_wrong": 0.62,
            "ece": 0.41,
        },
    }
    row = claims.claim_4_sharpening(
        Evidence(main=table(ppl), run_record=split, diagnostics=diagnostics([4.1, 4.3, 5.0, 6.2]))
    )
    split_text = (
        "top-1 0.320 -> 0.670 (where the top-1 token is right 0.550 -> 0.810, wrong 0.210 -> 0.620; ECE 0.030 -> "
        "0.410)"
    )
    assert row.verdict == HOLDS and split_text in row.ours
    assert "right" not in claims.claim_4_sharpening(rising).ours


def test_claim_5_uses_the_wilson_interval_of_the_copy_share():
    many = claims.claim_5_copies(Evidence(copies={"austen": (9, 16, 18.5), "pydoc": (0, 16, 4.3)}))
    low = binomtest(9, 16).proportion_ci(method="wilson").low
    assert (
        many.verdict == DOES_NOT_HOLD
        and many.basis == "against"
        and f"[{low:.1%}," in many.ours
        and "longest copied span 18.5" in many.ours
    )
    # 0 of 16 is not enough to show "under 2%" (Wilson upper bound 19.4%); 0 of 400 is (upper bound 0.95%)
    few = claims.claim_5_copies(Evidence(copies={"austen": (0, 16, 3.0), "pydoc": (0, 16, 2.0)}))
    assert few.verdict == DOES_NOT_HOLD and few.basis.startswith("not shown") and "[0.0%, 19.4%]" in few.ours
    assert claims.claim_5_copies(Evidence(copies={"austen": (0, 400, 3.0), "pydoc": (1, 400, 2.0)})).verdict == HOLDS
    assert claims.claim_5_copies(Evidence(copies={"austen": (0, 400, 3.0)})).verdict == NOT_MEASURABLE


def test_claims_6_and_7_are_equivalence_within_half_the_main_gain():
    main = table(gains("hyperfitted"))  # gains: TTR-96 +0.4, rep-4 -0.7 -> margins 0.2 and 0.35
    inside = {
        (AUSTEN, "ttr_last96", claims.BLOCKED): stat(-0.05, -0.15, 0.05, 0.5),
        (AUSTEN, "rep_4", claims.BLOCKED): stat(0.1, -0.1, 0.3, 0.4),
    }
    row = claims.claim_6_blocker(Evidence(main=main, decoding=table(inside)))
    assert row.verdict == HOLDS and "margins TTR-96 ±0.2, rep-4 ±0.35" in row.ours
    wide = dict(inside) | {(AUSTEN, "rep_4", claims.BLOCKED): stat(0.1, -0.1, 0.4, 0.4)}
    assert (
        claims.claim_6_blocker(Evidence(main=main, decoding=table(wide))).basis
        == f"not shown (interval reaches beyond the margin): {AUSTEN}/rep_4"
    )
    beyond = dict(inside) | {(AUSTEN, "ttr_last96", claims.BLOCKED): stat(-0.3, -0.35, -0.25)}
    assert claims.claim_6_blocker(Evidence(main=main, decoding=table(beyond))).basis.startswith("against")
    assert (
        claims.claim_6_blocker(Evidence(decoding=table(inside))).verdict == NOT_MEASURABLE
    )  # no main gain: no margin
    shuffled = {(task, metric, claims.SHUFFLED): value for (task, metric, _), value in inside.items()}
    row = claims.claim_7_order(
        Evidence(main=main, decoding=table(shuffled), agreement_order={"top1_agreement": 0.72, "positions": 1000})
    )
    assert (
        row.verdict == HOLDS
        and row.ours.startswith("top-1 differs on 28.0% of 1000 held-out positions")
        and row.values["top1_disagreement"] == pytest.approx(0.28)
    )


def test_claim_8_needs_a_significant_gain_from_the_other_domain_and_shows_the_in_domain_one_and_claim_9_too():
    main = gains("hyperfitted", (AUSTEN,))
    smaller = gains(claims.OTHER_DOMAIN, (AUSTEN,), ttr_last96=stat(0.1, 0.05, 0.15))
    row = claims.claim_8_domain(Evidence(main=table(main | smaller)))
    # a smaller gain than the in-domain run's still holds (the paper: other domains help, no clear in-domain trend)
    assert row.verdict == HOLDS and "in-domain (Austen-trained) run austen TTR-96 +0.4 [+0.3, +0.5]*" in row.ours
    none = gains(claims.OTHER_DOMAIN, (AUSTEN,), ttr_last96=stat(0.02, -0.05, 0.09, 0.6))
    row = claims.claim_8_domain(Evidence(main=table(main | none)))
    assert row.verdict == DOES_NOT_HOLD and row.basis == f"not shown (not significant): {AUSTEN}/ttr_last96"
    assert claims.claim_8_domain(Evidence(main=table(main))).verdict == NOT_MEASURABLE
    assert claims.claim_9_small(Evidence(main=table(gains(claims.SMALL, (AUSTEN,))))).verdict == HOLDS
    none = gains(claims.SMALL, (AUSTEN,), ttr_last96=stat(0.02, -0.05, 0.09, 0.6))
    assert claims.claim_9_small(Evidence(main=table(none), small_samples=8)).verdict == DOES_NOT_HOLD
    assert (
        "(8 blocks)" in claims.claim_9_small(Evidence(small_samples=8)).claim
        and claims.claim_9_small(Evidence()).verdict == NOT_MEASURABLE
    )


JUDGE_TASK = "hyperfit_judge_logprob"
MAUVE = {(task, "mauve", "hyperfitted"): stat(0.55, 0.07, 1.0, 0.2) for task in (AUSTEN, PYDOC)}


def judge_table(difference: dict, base: dict, hyperfitted: dict, model: str = "/models/judge") -> dict:
    """compare/judge/table.json: each run's judge metrics (cells) and hyperfitted - base preferred-or-equal
    (paired)."""
    cells = {run: {f"{JUDGE_TASK}/{metric}": {"value": value} for metric, value in found.items()} for run, found in
             (("base", base), ("hyperfitted", hyperfitted))}  # fmt: skip
    runs = [{"name": "base", "model": model}, {"name": "hyperfitted", "model": model}]
    return table({(JUDGE_TASK, "judge_pref_or_equal", "hyperfitted"): difference}) | {"cells": cells, "runs": runs}


# a trustworthy judge: consistent in both orders, every answer readable, a degenerate loop almost never preferred
BASE_JUDGED = {"judge_pref_or_equal": 0.125, "judge_position_consistency": 0.75, "judge_unparseable": 0.0}
HYPERFITTED_JUDGED = {"judge_pref_or_equal": 0.5, "judge_position_consistency": 0.7, "judge_unparseable": 0.05}
LOOP = {"judge_pref_or_equal": 0.05, "judge_unparseable": 0.0}


SIGNIFICANT = stat(0.375, 0.2, 0.55)  # hyperfitted - base preferred or equal: +37.5 points, Holm p < 0.05


def judged(difference=SIGNIFICANT, base=BASE_JUDGED, hyperfitted=HYPERFITTED_JUDGED, loop=LOOP, main=None) -> Evidence:
    judge = judge_table(difference, base, hyperfitted)
    return Evidence(main=main or table(MAUVE), judge=judge, judge_control=loop, judge_task=JUDGE_TASK)


def test_claim_10_holds_when_a_trustworthy_judge_prefers_the_hyperfitted_text_significantly():
    row = claims.claim_10_preference(judged())
    assert row.verdict == HOLDS and row.basis == "shown"
    assert row.ours == (
        "LLM judge /models/judge (hyperfit_judge_logprob): preferred or equal to the human text base 12.5%, "
        "hyperfitted 50.0%; hyperfitted - base +0.375 [+0.2, +0.55]*; position consistency 0.75 / 0.70; unparseable "
        "0.0% / 5.0%; sanity check: a degenerate loop preferred or equal in 5.0%; MAUVE (automatic proxy, not a "
        "preference): austen MAUVE +0.55 [+0.07, +1]; pydoc MAUVE +0.55 [+0.07, +1]"
    )
    assert "4.9% -> 34.3%" in row.paper and row.values["judge"]["loop-control"]["judge_pref_or_equal"] == 0.05
    # the default judge is the default base model: the row says it may favour its own text
    main = table(MAUVE) | {"runs": [{"name": "base", "model": "/models/judge"}]}
    assert "the judge is the base model itself (self-preference" in claims.claim_10_preference(judged(main=main)).ours


def test_claim_10_does_not_hold_when_the_trustworthy_judge_shows_no_significant_preference():
    row = claims.claim_10_preference(judged(difference=stat(0.06, -0.05, 0.17, p=0.3)))
    assert (
        row.verdict == DOES_NOT_HOLD and row.basis == f"not shown (not significant): {JUDGE_TASK}/judge_pref_or_equal"
    )
    row = claims.claim_10_preference(judged(difference=stat(-0.3, -0.45, -0.15)))
    assert row.verdict == DOES_NOT_HOLD and row.basis == f"against: {JUDGE_TASK}/judge_pref_or_equal"


def test_claim_10_is_not_measurable_with_a_judge_that_answers_by_position():
    # consistency 0.5 on the base run: half of its verdicts flip when the two texts swap places
    row = claims.claim_10_preference(judged(base=BASE_JUDGED | {"judge_position_consistency": 0.5}))
    assert (
        row.verdict == NOT_MEASURABLE
        and row.basis == "the judge is not trustworthy here: position consistency 0.50 < 0.6 on the base run"
    )
    assert "position consistency 0.50 / 0.70" in row.ours  # the judge's numbers are shown
    row = claims.claim_10_preference(judged(hyperfitted=HYPERFITTED_JUDGED | {"judge_unparseable": 0.25}))
    assert row.verdict == NOT_MEASURABLE and row.basis.endswith(
        "unparseable answers 25.0% > 20% on the hyperfitted run"
    )


def test_claim_10_is_not_measurable_with_a_judge_that_fails_the_sanity_check():
    # the degenerate loop preferred or equal to the human text in 25% of judgments (the limit is 20%)
    row = claims.claim_10_preference(judged(loop={"judge_pref_or_equal": 0.25, "judge_unparseable": 0.0}))
    assert row.verdict == NOT_MEASURABLE
    assert (
        row.basis
        == "the judge is not trustworthy here: a degenerate loop preferred or equal to the human text in 25.0% > 20% "
        "of judgments"
    )
    row = claims.claim_10_preference(judged(loop=None))  # no sanity control run: the judge is not vouched for
    assert row.verdict == NOT_MEASURABLE and "no preferred or equal of the loop-control run" in row.basis


def test_claim_10_without_a_judge_is_not_measurable_and_shows_mauve_as_the_proxy():
    row = claims.claim_10_preference(Evidence(main=table(MAUVE)))
    assert row.verdict == NOT_MEASURABLE and row.basis.startswith("no judge run (--judge none")
    assert (
        row.ours
        == "MAUVE (automatic proxy, not a preference): austen MAUVE +0.55 [+0.07, +1]; pydoc MAUVE +0.55 [+0.07, +1]"
    )
    # a judge that ran, on too few shared prompts for a paired statistic: its numbers are shown, nothing is decided
    evidence = judged()
    evidence.judge["paired"] = {}
    row = claims.claim_10_preference(evidence)
    assert (
        row.verdict == NOT_MEASURABLE
        and row.basis.startswith("no paired statistic")
        and "hyperfitted - base n/a;" in row.ours
    )


def test_copy_counts_read_the_share_and_the_document_count(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(
        json.dumps(
            {"n-samples": {AUSTEN: {"original": 40, "effective": 16}, PYDOC: {"original": 40, "effective": 16}}}
        )
    )
    cells = {f"{AUSTEN}/training_overlap_over_10": {"value": 0.5625},
             f"{AUSTEN}/longest_training_span": {"value": 18.5},
             f"{PYDOC}/training_overlap_over_10": {"value": 0.0}}  # fmt: skip
    found = copy_counts(
        {"runs": [{"name": "hyperfitted", "results_file": str(results)}], "cells": {"hyperfitted": cells}}
    )
    assert found == {"austen": (9, 16, 18.5), "pydoc": (0, 16, None)}


def test_without_any_step_output_every_claim_is_not_measurable():
    rows = claims.decide(Evidence())
    lines = render_markdown(rows).splitlines()
    assert len(rows) == 11 and [line.split(" | ")[-1] for line in lines[2:13]] == ["**not measurable here** |"] * 11


def control(beyond: dict, base_minus_early: dict) -> dict:
    """The control table (baseline: the early-stopped model): hyperfitted - early and base - early, both domains."""
    entries = {(task, m, "hyperfitted"): value for task in (AUSTEN, PYDOC) for m, value in beyond.items()}
    return table(
        entries | {(task, m, "base"): value for task in (AUSTEN, PYDOC) for m, value in base_minus_early.items()}
    )


def test_claim_11_needs_hyperfitting_beyond_the_early_stopped_model_and_a_small_early_gain():
    record = {"early_stopped": {"epoch": 1, "step": 6, "heldout_loss": 3.665, "train_loss": 2.71}}
    beyond = {"ttr_last96": stat(0.3, 0.2, 0.4), "rep_4": stat(-0.6, -0.7, -0.5)}
    # early-stopped - base = +0.05 TTR-96 and -0.1 rep-4: under half of the whole gain (0.35, -0.7)
    small_gain = {"ttr_last96": stat(-0.05, -0.1, 0.0, p=0.2), "rep_4": stat(0.1, 0.0, 0.2, p=0.2)}
    row = claims.claim_11_early_stop(Evidence(control=control(beyond, small_gain), run_record=record))
    assert row.verdict == HOLDS and row.basis == "shown"
    assert row.ours.startswith(
        "early-stopped = epoch 1 (lowest held-out loss 3.665, training loss 2.710); hyperfitted - early-stopped: "
        "austen TTR-96 +0.3 [+0.2, +0.4]*"
    )
    assert "early-stopped - base: austen TTR-96 +0.05 [-0, +0.1]" in row.ours
    # early-stopped - base = +0.3 TTR-96: as large as what hyperfitting adds beyond it (half of 0.6): not shown
    big_gain = {"ttr_last96": stat(-0.3, -0.4, -0.2), "rep_4": stat(0.1, 0.0, 0.2, p=0.2)}
    row = claims.claim_11_early_stop(Evidence(control=control(beyond, big_gain), run_record=record))
    assert row.verdict == DOES_NOT_HOLD
    assert (
        row.basis == f"not shown (the early-stopped gain is half the hyperfitted one or more): {AUSTEN}/ttr_last96, "
        f"{PYDOC}/ttr_last96"
    )
    # the early-stopped model worse than the base: its gain is negative, well under half
    worse = {"ttr_last96": stat(0.1, 0.05, 0.15), "rep_4": stat(-0.2, -0.3, -0.1)}
    assert claims.claim_11_early_stop(Evidence(control=control(beyond, worse))).verdict == HOLDS
    # hyperfitting beyond the early-stopped model not significant: not shown
    weak = {"ttr_last96": stat(0.05, -0.05, 0.15, p=0.3), "rep_4": stat(-0.6, -0.7, -0.5)}
    row = claims.claim_11_early_stop(Evidence(control=control(weak, small_gain)))
    assert row.verdict == DOES_NOT_HOLD and row.basis.startswith("not shown (not significant)")
    row = claims.claim_11_early_stop(Evidence(run_record=record))
    assert row.verdict == NOT_MEASURABLE and "--overwrite" in row.basis


def test_every_rule_in_docs_reproduce_md_is_the_codes():
    """docs/reproduce.md's rules table quotes each rule as the code states it (on no evidence: no run-specific
    values)."""
    from pathlib import Path

    docs = (Path(__file__).parents[1] / "docs" / "reproduce.md").read_text(encoding="utf-8")
    lines = (
        docs.split("| # | claim | rule (the code's words, `claims.py`) | notes |\n")[1]
        .split("\n\n")[0]
        .splitlines()[1:]
    )
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    rows = claims.decide(Evidence()) + claims.observe(Evidence())
    assert [row[0] for row in cells] == [str(row.number) for row in rows]
    assert [row[2] for row in cells] == [row.rule for row in rows]
