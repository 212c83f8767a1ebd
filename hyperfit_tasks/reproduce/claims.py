"""The paper's ten claims and the reviewers' control (claim 11), each decided by one small rule on the outputs of
``hyperfit-reproduce``'s steps.

Every rule returns a :class:`ClaimRow`: the claim as the paper makes it, the paper's figure, ours (a difference with
its 95% interval from ``hyperfit-compare``'s ``table.json``, ``*`` = significant there) and one verdict of
:data:`VERDICTS`. A claim *holds* when the evidence shows it at 95%; it *does not hold* when the evidence goes
against it or does not show it (``basis`` says which); it is *not measurable here* when the inputs lack what the rule
needs. A rule decides only on what the paper claims; what we measure beyond that (:data:`OBSERVATIONS`) is reported
in rows of its own, never decided. docs/reproduce.md states each rule in words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hyperfit_tasks.compare.data import paired_stat
from hyperfit_tasks.compare.paired import PairedStat
from hyperfit_tasks.metrics.catalogue import label

HOLDS, DOES_NOT_HOLD, NOT_MEASURABLE = "holds", "does not hold", "not measurable here"
REPORTED = "reported, not a claim of the paper"
VERDICTS = (HOLDS, DOES_NOT_HOLD, NOT_MEASURABLE)

# run names in the two comparisons (hyperfit-reproduce names its lm-eval output folders so)
BASE, HYPERFITTED, SMALL, OTHER_DOMAIN = "base", "hyperfitted", "hyperfitted-small", "hyperfitted-pydoc"
TOP_P, MATCHED, BLOCKED, SHUFFLED = "base-top-p", "base-matched-T", "hyperfitted-blocked", "hyperfitted-shuffled"
EARLY_STOPPED = "early-stopped"  # the main run's model of its lowest held-out loss (hyperfit-train's early_stopped/)
JUDGE_CONTROL = "loop-control"  # the judge run on a degenerate loop in place of the base's continuations
DOMAINS = ("austen", "pydoc")
CONTINUATION, PERPLEXITY = "hyperfit_continuation", "hyperfit_perplexity"
# the paper's direction of each diversity metric (+1: higher is more diverse)
DIVERSITY = {"ttr_last96": +1, "rep_4": -1, "distinct_4": +1, "self_bleu": -1}
HEADLINE = ("ttr_last96", "rep_4")  # the metrics of the decoding, equivalence and gain rules
EQUIVALENCE_SHARE = (
    0.5  # "barely changes": the whole interval within half the main run's gain; "similar gain": at least half
)
COPY_LIMIT = 0.02  # the paper: under 2% of continuations reproduce more than 10 training tokens
PAPER_DISAGREEMENT = 0.30
# when an LLM judge's verdicts count (claim 10); below these it is not measuring the texts
JUDGE_MIN_CONSISTENCY = (
    0.6  # a judge whose verdict follows the texts' order (not the texts) in over 40% of prompts is judging position
)
JUDGE_MAX_UNPARSEABLE = 0.2  # with over a fifth of its answers unreadable, the verdicts left are a selected minority
# sanity check: a judge that finds a degenerate loop as good as the human text in over 20% of judgments cannot tell
JUDGE_MAX_LOOP = 0.2
PREFERENCE, CONSISTENCY, UNPARSEABLE = "judge_pref_or_equal", "judge_position_consistency", "judge_unparseable"


def stat_text(stat: PairedStat) -> str:
    """``+0.4 [+0.3, +0.5]*``: a difference, its 95% interval, and ``*`` where hyperfit-compare marks it
    significant."""
    return f"{stat.delta:+.3g} [{stat.ci_low:+.3g}, {stat.ci_high:+.3g}]" + ("*" if stat.significant else "")


@dataclass(frozen=True)
class ClaimRow:
    """One row of the claims table."""

    number: int | str  # a claim's number; an observation's label (S1, ...)
    claim: str
    paper: str
    ours: str
    verdict: str
    rule: str
    basis: str = ""  # why: "shown", "against", "not shown", or what is missing
    values: dict[str, Any] = field(default_factory=dict)  # the numbers behind ``ours``, for claims.json

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evidence:
    """What the steps wrote, as plain data: the two ``table.json`` files and the training, agreement and copy records.

    ``main``: compare against the greedy base (hyperfitted, small, other-domain runs); ``decoding``: compare against
    the greedy hyperfitted model (sampled base runs paired by ``--same-prompts``, blocked and shuffled runs);
    ``control``: compare against the early-stopped model (base and hyperfitted runs).
    ``diagnostics``: ``diagnostics.jsonl`` rows of the main run; ``run_record``: its ``hyperfit_run.json``;
    ``agreement_order``: ``hyperfit-agreement`` of the main against the shuffled run; ``copies``: per domain the
    hyperfitted model's ``(continuations over 10 copied tokens, continuations, mean longest copied span)``.
    ``judge``: compare of the LLM judge's runs on the base's and the hyperfitted model's continuations (task
    ``judge_task``), ``judge_control``: the judge metrics of its run on a degenerate loop (metric -> value).
    """

    main: dict[str, Any] | None = None
    decoding: dict[str, Any] | None = None
    control: dict[str, Any] | None = None
    run_record: dict[str, Any] | None = None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    agreement_order: dict[str, Any] | None = None
    temperature: dict[str, Any] | None = None
    copies: dict[str, tuple[int, int, float | None]] = field(default_factory=dict)
    small_samples: int | None = None
    judge: dict[str, Any] | None = None
    judge_control: dict[str, float | None] | None = None
    judge_task: str | None = None

    def cell(self, table: str, task: str, metric: str, run: str) -> float | None:
        """The value of ``run`` in ``task``/``metric`` of a ``table.json`` (a group's pooled value too), None without
        one."""
        value = (
            (((getattr(self, table) or {}).get("cells") or {}).get(run) or {}).get(f"{task}/{metric}", {}).get("value")
        )
        return value if isinstance(value, (int, float)) else None

    def stat(self, table: str, task: str, metric: str, run: str) -> PairedStat | None:
        """The paired statistic of ``run`` in ``task``/``metric`` of the ``main``, ``decoding`` or ``control`` table
        (None without one, or without a finite interval: too few pairs to bound it)."""
        stat = paired_stat(getattr(self, table), task, metric, run)
        return stat if stat is not None and math.isfinite(stat.ci_low) and math.isfinite(stat.ci_high) else None


def directional(stats: dict[str, PairedStat | None], directions: dict[str, int]) -> tuple[str, str]:
    """(verdict, basis) of "each named difference goes the paper's way": holds when every one is significant (Holm) in
    the paper's direction; not measurable when none has a statistic; otherwise does not hold (against, or not
    shown)."""
    found = {key: stat for key, stat in stats.items() if stat is not None}
    if not found:
        return NOT_MEASURABLE, "no paired statistic (a step's output is missing)"
    missing = sorted(set(stats) - set(found))
    against = sorted(
        key
        for key, stat in found.items()
        if stat.significant and math.copysign(1, stat.delta) != directions[key.split("/")[-1]]
    )
    weak = sorted(key for key, stat in found.items() if not stat.significant or stat.delta == 0)
    if against:
        return DOES_NOT_HOLD, "against: " + ", ".join(against)
    if weak:
        return DOES_NOT_HOLD, "not shown (not significant): " + ", ".join(weak)
    return (HOLDS, "shown") if not missing else (DOES_NOT_HOLD, "not shown: no statistic for " + ", ".join(missing))


def within_margin(stats: dict[str, PairedStat | None], margins: dict[str, float | None]) -> tuple[str, str]:
    """(verdict, basis) of "barely changes": every interval lies inside ±margin (its margin: half the main gain)."""
    usable = {key: stat for key, stat in stats.items() if stat is not None and margins.get(key) is not None}
    if len(usable) < len(stats):
        return NOT_MEASURABLE, "no statistic or no margin for " + ", ".join(sorted(set(stats) - set(usable)))
    outside = sorted(key for key, stat in usable.items() if stat.ci_low > margins[key] or stat.ci_high < -margins[key])
    wide = sorted(key for key, stat in usable.items() if stat.ci_low < -margins[key] or stat.ci_high > margins[key])
    if outside:
        return DOES_NOT_HOLD, "against (the whole interval beyond the margin): " + ", ".join(outside)
    if wide:
        return DOES_NOT_HOLD, "not shown (interval reaches beyond the margin): " + ", ".join(wide)
    return HOLDS, "shown"


def _stats_text(stats: dict[str, PairedStat | None]) -> str:
    parts = []
    for key, stat in stats.items():
        task, metric = key.rsplit("/", 1)
        domain = task.rsplit("_", 1)[-1]
        parts.append(f"{domain} {label(metric)} {stat_text(stat) if stat else 'n/a'}")
    return "; ".join(parts)


def _values(stats: dict[str, PairedStat | None]) -> dict[str, Any]:
    """The numbers of each statistic that claims.json reports (``marked``: hyperfit-compare's significance mark)."""
    return {
        key: {
            "delta": s.delta,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "p_holm": s.p_holm,
            "documents": s.documents,
            "marked": s.significant,
        }
        if s
        else None
        for key, s in stats.items()
    }


def _gains(
    evidence: Evidence, run: str, domains: Sequence[str], metrics: Sequence[str]
) -> dict[str, PairedStat | None]:
    return {
        f"{CONTINUATION}_{d}/{m}": evidence.stat("main", f"{CONTINUATION}_{d}", m, run)
        for d in domains
        for m in metrics
    }


def claim_1_diversity(evidence: Evidence) -> ClaimRow:
    """Greedy hyperfitted against greedy base: the paper's TTR and repetition, both domains."""
    stats = _gains(evidence, HYPERFITTED, DOMAINS, HEADLINE)
    verdict, basis = directional(stats, DIVERSITY)
    return ClaimRow(
        1,
        "Greedy continuations of the hyperfitted model are less repetitive than the base model's (higher TTR)",
        "mean TTR (last 96 tokens) above 0.60 hyperfitted against 0.17-0.57 for the base models; repetition drops",
        _stats_text(stats),
        verdict,
        "holds: TTR-96 up and rep-4 down, each Holm p < 0.05, in both domains (hyperfitted - base)",
        basis,
        _values(stats),
    )


def observation_self_bleu(evidence: Evidence) -> ClaimRow:
    """Self-BLEU and distinct-4 (diversity across texts), reported: the paper's Self-BLEU direction could not be
    verified."""
    stats = _gains(evidence, HYPERFITTED, DOMAINS, ("self_bleu", "distinct_4"))
    return ClaimRow(
        "S1",
        "Diversity across texts: Self-BLEU (lower = the continuations resemble each other less) and distinct-4",
        "the paper reports Self-BLEU; its values and direction could not be verified, so no claim is made from it",
        _stats_text(stats),
        REPORTED,
        "reported, not decided (hyperfitted - base)",
        "",
        _values(stats),
    )


def _decoding_claim(evidence: Evidence, number: int, run: str, claim: str, paper: str, what: str) -> ClaimRow:
    """Greedy hyperfitted against the base sampled as ``run`` on the same prompts (the decoding table, negated)."""
    raw = {
        f"{CONTINUATION}_{d}/{m}": evidence.stat("decoding", f"{CONTINUATION}_{d}", m, run)
        for d in DOMAINS
        for m in HEADLINE
    }
    stats = {key: stat.negated() if stat else None for key, stat in raw.items()}
    verdict, basis = directional(stats, DIVERSITY)
    return ClaimRow(
        number,
        claim,
        paper,
        _stats_text(stats),
        verdict,
        f"holds: hyperfitted (greedy) - base ({what}, same prompts) has TTR-96 up and rep-4 down, Holm p < 0.05, in "
        "both domains",
        basis,
        _values(stats),
    )


def claim_2_top_p(evidence: Evidence) -> ClaimRow:
    return _decoding_claim(
        evidence,
        2,
        TOP_P,
        "Greedy hyperfitted beats the base model's top-p sampling on diversity",
        "raters prefer hyperfitted greedy text to the base sampled with top-p 0.9, T 0.7, top-k 50 (secondary "
        "source): one untuned sampling setting, and no sampling baseline for Llama 3.1 70B",
        "top-p 0.9, T 0.7, top-k 50",
    )


def claim_3_temperature(evidence: Evidence) -> ClaimRow:
    t = (evidence.temperature or {}).get("temperature")
    what = (
        f"sampled at the entropy-matched T = {t:.3f}"
        if isinstance(t, (int, float))
        else "sampled at the entropy-matched T"
    )
    return _decoding_claim(
        evidence,
        3,
        MATCHED,
        "The gain is not temperature: the base at the entropy-matched temperature stays below",
        "Li et al. 2026: TinyLlama TTR 0.400 base, 0.397 at the entropy-matched T = 0.59, 0.684 hyperfitted "
        "(secondary source)",
        what,
    )


def lowest_epoch(rows: Sequence[dict[str, Any]]) -> tuple[float, float, float, float] | None:
    """(epoch of the lowest held-out loss, that loss, the highest loss after it, the final loss); None without two
    epochs."""
    points = [(row["epoch"], row["heldout_loss"]) for row in rows if isinstance(row.get("heldout_loss"), (int, float))]
    if len(points) < 2:
        return None
    best = min(range(len(points)), key=lambda i: points[i][1])
    after = max(loss for _, loss in points[best:])
    return points[best][0], points[best][1], after, points[-1][1]


def claim_4_sharpening(evidence: Evidence) -> ClaimRow:
    """Sharper next-token distribution, worse held-out perplexity, held-out loss never comes back down; the top-1
    probability where the top-1 token is right and where it is wrong, and the calibration error, are shown, not
    decided."""
    record = evidence.run_record or {}
    before, after = record.get("initial_diagnostics") or {}, record.get("final_diagnostics") or {}
    ppl = {
        f"{PERPLEXITY}_{d}/word_perplexity": evidence.stat("main", f"{PERPLEXITY}_{d}", "word_perplexity", HYPERFITTED)
        for d in DOMAINS
    }
    lowest = lowest_epoch(evidence.diagnostics)
    numbers = {key: (before.get(key), after.get(key)) for key in ("top1_prob", "entropy")}
    rule = (
        "holds: held-out top-1 probability up and entropy down (hyperfit-train diagnostics, before -> after), word "
        "perplexity up with Holm p < 0.05 in both domains, and the final held-out loss keeps at least half of its "
        "rise after its lowest epoch"
    )
    values = {"sharpening": numbers, "lowest_epoch": lowest, **_values(ppl)}
    if any(not isinstance(v, (int, float)) for pair in numbers.values() for v in pair) or lowest is None:
        return ClaimRow(
            4,
            CLAIM_4,
            PAPER_4,
            _stats_text(ppl),
            NOT_MEASURABLE,
            rule,
            "no training diagnostics (before/after, per epoch)",
            values,
        )
    epoch, low, high, final = lowest
    split = {key: (before.get(key), after.get(key)) for key in ("top1_prob_correct", "top1_prob_wrong", "ece")}
    values["confidence_split"] = split
    split_text = (
        f" (where the top-1 token is right {split['top1_prob_correct'][0]:.3f} -> "
        f"{split['top1_prob_correct'][1]:.3f}, wrong {split['top1_prob_wrong'][0]:.3f} -> "
        f"{split['top1_prob_wrong'][1]:.3f}; ECE {split['ece'][0]:.3f} -> {split['ece'][1]:.3f})"
        if all(isinstance(v, (int, float)) for pair in split.values() for v in pair)
        else ""
    )
    ours = (
        f"top-1 {numbers['top1_prob'][0]:.3f} -> {numbers['top1_prob'][1]:.3f}{split_text}, entropy "
        f"{numbers['entropy'][0]:.2f} -> {numbers['entropy'][1]:.2f} nats; {_stats_text(ppl)}; held-out loss lowest "
        f"at epoch {epoch:g} ({low:.3f}), final {final:.3f}"
    )
    failed = []
    if not numbers["top1_prob"][1] > numbers["top1_prob"][0]:
        failed.append("top-1 probability did not rise")
    if not numbers["entropy"][1] < numbers["entropy"][0]:
        failed.append("entropy did not fall")
    verdict, basis = directional(ppl, {"word_perplexity": +1})
    if verdict == NOT_MEASURABLE:
        return ClaimRow(4, CLAIM_4, PAPER_4, ours, NOT_MEASURABLE, rule, "no held-out perplexity statistic", values)
    if verdict != HOLDS:
        failed.append(f"perplexity {basis}")
    if high > low and final < low + EQUIVALENCE_SHARE * (high - low):
        failed.append(f"held-out loss came back down (to {final:.3f} from {high:.3f})")
    elif high == low:
        failed.append(f"held-out loss was lowest at the last epoch ({epoch:g})")
    return ClaimRow(
        4, CLAIM_4, PAPER_4, ours, DOES_NOT_HOLD if failed else HOLDS, rule, "; ".join(failed) or "shown", values
    )


CLAIM_4 = (
    "Next-token distribution sharpens on held-out text while held-out perplexity gets worse; held-out loss never "
    "comes back down"
)
PAPER_4 = (
    "Llama 3.1 8B: entropy 3.47 -> 1.46 nats, top-1 48.4% -> 74.4%; held-out perplexity 255-545; no delayed "
    "validation drop; the sharpening holds for right and wrong predictions alike (confidently wrong)"
)


def claim_5_copies(evidence: Evidence) -> ClaimRow:
    """Share of continuations that reproduce more than 10 training tokens, with a Wilson 95% interval, against 2%."""
    from scipy.stats import binomtest

    rule = (
        "holds: the Wilson 95% upper bound of the share of continuations copying > 10 training tokens is under 2% in "
        "both domains"
    )
    parts, values, verdicts = [], {}, []
    for domain in DOMAINS:
        if domain not in evidence.copies:
            continue
        copied, total, span = evidence.copies[domain]
        interval = binomtest(copied, total).proportion_ci(confidence_level=0.95, method="wilson")
        values[domain] = {
            "copied": copied,
            "continuations": total,
            "ci": [interval.low, interval.high],
            "longest_span": span,
        }
        span_text = f", longest copied span {span:.1f} tokens" if isinstance(span, (int, float)) else ""
        parts.append(
            f"{domain} {copied}/{total} = {copied / total:.1%} [{interval.low:.1%}, {interval.high:.1%}]{span_text}"
        )
        verdicts.append(
            "against" if interval.low > COPY_LIMIT else "shown" if interval.high < COPY_LIMIT else "not shown"
        )
    if len(verdicts) < len(DOMAINS):
        return ClaimRow(
            5,
            CLAIM_5,
            "under 2% of continuations",
            "; ".join(parts),
            NOT_MEASURABLE,
            rule,
            "no copy metrics for a domain",
            values,
        )
    verdict = HOLDS if set(verdicts) == {"shown"} else DOES_NOT_HOLD
    basis = (
        "shown"
        if verdict == HOLDS
        else ("against" if "against" in verdicts else "not shown (interval spans 2%: more texts, --scale)")
    )
    return ClaimRow(5, CLAIM_5, "under 2% of continuations", "; ".join(parts), verdict, rule, basis, values)


CLAIM_5 = "The hyperfitted model rarely copies its training data (continuations reproducing > 10 training tokens)"


def _margins(evidence: Evidence, domains: Sequence[str]) -> dict[str, float | None]:
    gains = _gains(evidence, HYPERFITTED, domains, HEADLINE)
    return {key: EQUIVALENCE_SHARE * abs(stat.delta) if stat else None for key, stat in gains.items()}


def _equivalence_claim(evidence: Evidence, number: int, run: str, claim: str, paper: str, extra: str = "") -> ClaimRow:
    stats = {
        f"{CONTINUATION}_austen/{m}": evidence.stat("decoding", f"{CONTINUATION}_austen", m, run) for m in HEADLINE
    }
    margins = _margins(evidence, ("austen",))
    verdict, basis = within_margin(stats, margins)
    margin_text = ", ".join(
        f"{label(key.split('/')[-1])} ±{value:.3g}" for key, value in margins.items() if value is not None
    )
    rule = (
        f"holds: on Austen, the 95% interval of ({run} - hyperfitted) lies within ± half the main run's gain over the "
        f"base (TTR-96, rep-4){extra}"
    )
    ours = _stats_text(stats) + (f" (margins {margin_text})" if margin_text else "")
    return ClaimRow(number, claim, paper, ours, verdict, rule, basis, {**_values(stats), "margins": margins})


def claim_6_blocker(evidence: Evidence) -> ClaimRow:
    return _equivalence_claim(
        evidence,
        6,
        BLOCKED,
        "Blocking every training 5-gram (the citation blocker) barely changes diversity",
        "quality barely drops with the citation blocker (no continuation of a training 5-gram)",
    )


def claim_7_order(evidence: Evidence) -> ClaimRow:
    row = _equivalence_claim(
        evidence,
        7,
        SHUFFLED,
        "Training order barely matters: same samples in another order give similar diversity, other top-1 picks",
        f"similar diversity; about {PAPER_DISAGREEMENT:.0%} of top-1 predictions differ",
        "; the top-1 disagreement is reported, not decided",
    )
    agreement = (evidence.agreement_order or {}).get("top1_agreement")
    if not isinstance(agreement, (int, float)):
        return row
    positions = (evidence.agreement_order or {}).get("positions")
    share = (
        f"top-1 differs on {1 - agreement:.1%} of {positions} held-out positions; "
        if positions
        else f"top-1 differs on {1 - agreement:.1%}; "
    )
    values = {**row.values, "top1_disagreement": 1 - agreement}
    return ClaimRow(row.number, row.claim, row.paper, share + row.ours, row.verdict, row.rule, row.basis, values)


def _gain_claim(
    evidence: Evidence, number: int, run: str, claim: str, paper: str, half: bool, show_main: bool = False
) -> ClaimRow:
    stats = _gains(evidence, run, ("austen",), HEADLINE)
    verdict, basis = directional(stats, DIVERSITY)
    rule = f"holds: on Austen, {run} - base has TTR-96 up and rep-4 down with Holm p < 0.05"
    main = _gains(evidence, HYPERFITTED, ("austen",), HEADLINE)
    if half:
        rule += ", each at least half the main run's gain"
        if verdict == HOLDS:
            short = [
                key
                for key, stat in stats.items()
                if main[key] is None or abs(stat.delta) < EQUIVALENCE_SHARE * abs(main[key].delta)
            ]
            if short:
                verdict, basis = DOES_NOT_HOLD, "not shown (under half the main gain): " + ", ".join(short)
    elif show_main:
        rule += "; the in-domain run's gain is shown beside it, not decided"
    main_text = "; in-domain (Austen-trained) run " + _stats_text(main) if half or show_main else ""
    return ClaimRow(number, claim, paper, _stats_text(stats) + main_text, verdict, rule, basis, _values(stats))


def claim_8_domain(evidence: Evidence) -> ClaimRow:
    return _gain_claim(
        evidence,
        8,
        OTHER_DOMAIN,
        "Hyperfitting on another domain helps too (pydoc text, on Austen prompts), with no clear in-domain advantage",
        "all three training domains help; preference averaged over the evaluation domains: fiction-trained 40.7, "
        'Wikipedia-trained 50.9, news-trained 66.4 (original 24.2; secondary source); "no clear trend" of an '
        "in-domain advantage",
        half=False,
        show_main=True,
    )


def claim_9_small(evidence: Evidence) -> ClaimRow:
    size = f"{evidence.small_samples} blocks" if evidence.small_samples else "a very small set"
    return _gain_claim(
        evidence,
        9,
        SMALL,
        f"Very small training sets still help ({size})",
        "as few as 8 training samples still helped",
        half=False,
    )


def _share(value: float | None, spec: str = ".1%") -> str:
    return "n/a" if value is None else format(value, spec)


def _judge_trust(evidence: Evidence, task: str) -> tuple[dict[str, Any], list[str]]:
    """The judge's numbers (per run: preferred-or-equal share, position consistency, unparseable share; the loop's
    preferred-or-equal share) and every trust threshold they miss."""
    control = evidence.judge_control or {}
    runs = (BASE, HYPERFITTED)
    numbers = {
        run: {metric: evidence.cell("judge", task, metric, run) for metric in (PREFERENCE, CONSISTENCY, UNPARSEABLE)}
        for run in runs
    }
    numbers[JUDGE_CONTROL] = {metric: control.get(metric) for metric in (PREFERENCE, UNPARSEABLE)}
    required = (
        [(run, CONSISTENCY) for run in runs] + [(run, UNPARSEABLE) for run in numbers] + [(JUDGE_CONTROL, PREFERENCE)]
    )
    missed = [f"no {label(metric)} of the {run} run" for run, metric in required if numbers[run][metric] is None]
    for run in runs:
        consistency = numbers[run][CONSISTENCY]
        if consistency is not None and consistency < JUDGE_MIN_CONSISTENCY:
            missed.append(f"position consistency {consistency:.2f} < {JUDGE_MIN_CONSISTENCY} on the {run} run")
    for run, found in numbers.items():
        if found[UNPARSEABLE] is not None and found[UNPARSEABLE] > JUDGE_MAX_UNPARSEABLE:
            missed.append(
                f"unparseable answers {found[UNPARSEABLE]:.1%} > {JUDGE_MAX_UNPARSEABLE:.0%} on the {run} run"
            )
    loop = numbers[JUDGE_CONTROL][PREFERENCE]
    if loop is not None and loop > JUDGE_MAX_LOOP:
        missed.append(
            f"a degenerate loop preferred or equal to the human text in {loop:.1%} > {JUDGE_MAX_LOOP:.0%} of judgments"
        )
    return numbers, missed


def claim_10_preference(evidence: Evidence) -> ClaimRow:
    """Preference for the hyperfitted model's continuations over the human text, by an LLM judge standing in for the
    human raters, decided only when the judge passes its trust checks; MAUVE is shown beside it as the automatic
    proxy."""
    mauve = _gains(evidence, HYPERFITTED, DOMAINS, ("mauve",))
    mauve_text = "MAUVE (automatic proxy, not a preference): " + _stats_text(mauve)
    rule = (
        "holds: hyperfitted - base share of judgments preferred or equal to the human text (LLM judge, "
        "judge_pref_or_equal) > 0 with Holm p < 0.05, the judge trustworthy: mean position consistency >= "
        f"{JUDGE_MIN_CONSISTENCY} on both runs, unparseable share <= {JUDGE_MAX_UNPARSEABLE} on every judge run, and "
        f"a degenerate loop in place of the base's continuations preferred or equal in <= {JUDGE_MAX_LOOP:.0%} of "
        "judgments; an untrustworthy judge, or none: not measurable here"
    )
    task = evidence.judge_task or ""
    paired = (evidence.judge or {}).get("paired") or {}
    judged = [name for name in paired if name == task or name.startswith(f"{task}_")] or [
        task
    ]  # the task, or its subtasks
    stats = {f"{name}/{PREFERENCE}": evidence.stat("judge", name, PREFERENCE, HYPERFITTED) for name in judged}
    values: dict[str, Any] = {"mauve": _values(mauve)}
    if not task or evidence.judge is None:
        basis = (
            "no judge run (--judge none, or its step's output is missing): MAUVE is shown instead, and is not a "
            "preference"
        )
        return ClaimRow(10, CLAIM_10, PAPER_10, mauve_text, NOT_MEASURABLE, rule, basis, values)
    numbers, missed = _judge_trust(evidence, task)
    values |= {"judge": numbers, **_values(stats)}
    judge_model = next((run.get("model") for run in evidence.judge.get("runs") or [] if run.get("model")), None)
    base_model = next(
        (run.get("model") for run in (evidence.main or {}).get("runs") or [] if run.get("name") == BASE), None
    )
    same = judge_model is not None and judge_model == base_model
    caveat = "; the judge is the base model itself (self-preference: it may favour the base's text)" if same else ""
    base, hyperfitted, loop = numbers[BASE], numbers[HYPERFITTED], numbers[JUDGE_CONTROL]
    # one difference per judged task (named by its subtask's suffix when the judge task is a group)
    differences = "; ".join(
        f"{key.split('/')[0].removeprefix(task).lstrip('_')} {stat_text(s) if s else 'n/a'}".lstrip()
        for key, s in stats.items()
    )
    ours = (
        f"LLM judge {judge_model or 'n/a'} ({task}){caveat}: preferred or equal to the human text base "
        f"{_share(base[PREFERENCE])}, hyperfitted {_share(hyperfitted[PREFERENCE])}; hyperfitted - base "
        f"{differences}; position consistency {_share(base[CONSISTENCY], '.2f')} / "
        f"{_share(hyperfitted[CONSISTENCY], '.2f')}; unparseable {_share(base[UNPARSEABLE])} / "
        f"{_share(hyperfitted[UNPARSEABLE])}; sanity check: a degenerate loop preferred or equal in "
        f"{_share(loop[PREFERENCE])}; {mauve_text}"
    )
    if missed:
        return ClaimRow(
            10,
            CLAIM_10,
            PAPER_10,
            ours,
            NOT_MEASURABLE,
            rule,
            "the judge is not trustworthy here: " + "; ".join(missed),
            values,
        )
    verdict, basis = directional(stats, {PREFERENCE: +1})
    return ClaimRow(10, CLAIM_10, PAPER_10, ours, verdict, rule, basis, values)


CLAIM_10 = (
    "Humans prefer the hyperfitted model's greedy continuations (here an LLM judge stands in for the human raters)"
)
PAPER_10 = (
    "human raters, each continuation against the original human continuation: TinyLlama 1.1B preferred or judged "
    "equal in 4.9% -> 34.3% of judgments (base -> hyperfitted), on par with the original Llama 3.1 70B (34.4%)"
)


def claim_11_early_stop(evidence: Evidence) -> ClaimRow:
    """Hyperfitted against the early-stopped fine-tune of the same run (the control table, whose baseline it is)."""
    keys = [f"{CONTINUATION}_{d}/{m}" for d in DOMAINS for m in HEADLINE]
    beyond = {key: evidence.stat("control", *key.split("/"), HYPERFITTED) for key in keys}
    base_gap = {key: evidence.stat("control", *key.split("/"), BASE) for key in keys}
    early_gain = {key: stat.negated() if stat else None for key, stat in base_gap.items()}  # early-stopped - base
    rule = (
        "holds: hyperfitted - early-stopped has TTR-96 up and rep-4 down, Holm p < 0.05, in both domains, and the "
        "early-stopped model's gain over the base (early-stopped - base) is under half the hyperfitted model's "
        "(hyperfitted - base = the sum of the two), each point estimate"
    )
    kept = (evidence.run_record or {}).get("early_stopped") or {}
    where = (
        f"early-stopped = epoch {kept['epoch']:g} (lowest held-out loss {kept['heldout_loss']:.3f}, training loss "
        f"{kept['train_loss']:.3f}); "
        if all(isinstance(kept.get(key), (int, float)) for key in ("heldout_loss", "train_loss"))
        else ""
    )
    values = {
        "hyperfitted_minus_early": _values(beyond),
        "early_minus_base": _values(early_gain),
        "early_stopped": kept or None,
    }
    ours = (
        f"{where}hyperfitted - early-stopped: {_stats_text(beyond)}; early-stopped - base: {_stats_text(early_gain)}"
    )
    verdict, basis = directional(beyond, DIVERSITY)
    if verdict == NOT_MEASURABLE:
        basis = (
            "no early-stopped model scored (a run from before hyperfit-train kept one: train it again with "
            "--overwrite)"
        )
        return ClaimRow(11, CLAIM_11, PAPER_11, ours, verdict, rule, basis, values)
    if verdict == HOLDS:
        large = []
        for key in keys:
            early, more = early_gain[key], beyond[key]
            if early is None:
                large.append(f"{key} (no early-stopped - base statistic)")
            elif (sign := DIVERSITY[key.split("/")[-1]]) * early.delta >= EQUIVALENCE_SHARE * sign * (
                early.delta + more.delta
            ):
                large.append(key)
        if large:
            verdict, basis = (
                DOES_NOT_HOLD,
                "not shown (the early-stopped gain is half the hyperfitted one or more): " + ", ".join(large),
            )
    return ClaimRow(11, CLAIM_11, PAPER_11, ours, verdict, rule, basis, values)


CLAIM_11 = "The gain needs near-zero training loss: the early-stopped fine-tune (lowest held-out loss) gives much less"
PAPER_11 = (
    "not tested in the paper: it has no early-stopped fine-tuning baseline, which every review asks for; its training "
    "curves show TTR rising while the training loss falls towards zero"
)


CLAIMS: tuple[Callable[[Evidence], ClaimRow], ...] = (
    claim_1_diversity, claim_2_top_p, claim_3_temperature, claim_4_sharpening, claim_5_copies,
    claim_6_blocker, claim_7_order, claim_8_domain, claim_9_small, claim_10_preference, claim_11_early_stop,
)  # fmt: skip


OBSERVATIONS: tuple[Callable[[Evidence], ClaimRow], ...] = (observation_self_bleu,)


def decide(evidence: Evidence) -> list[ClaimRow]:
    """Every claim's row, in the issue's order."""
    return [rule(evidence) for rule in CLAIMS]


def observe(evidence: Evidence) -> list[ClaimRow]:
    """The rows reported beside the claims, never decided."""
    return [report(evidence) for report in OBSERVATIONS]
