"""Paired tests over prompts: the difference of every metric to the baseline, its 95% interval and p-value.

Two runs' ``--log_samples`` records are matched by lm-eval's per-document hashes (``doc_hash``
and ``prompt_hash``; a judge task's records by the hashes of the prompt they judge, :func:`document_key`).
Every metric is recomputed with the aggregation the task itself records (lm-eval's registry, or
hyperfit's own aggregation functions) on the shared documents.

* **p-value**: a paired permutation test (approximate randomization, as sacrebleu ships beside its
  bootstrap): under "no difference" the two runs' outputs of one prompt are exchangeable, so each
  permutation swaps them at random within each prompt and recomputes the difference. Exact (every
  swap pattern) when there are few pairs, else ``(c + 1) / (B + 1)`` over B random patterns.
  Per-text and corpus-level metrics alike: the test never scores a corpus with a repeated text.
* **interval**, 95%: per-text means: the values of the shift that the same sign-flip test does not
  reject (test inversion), so interval and p-value always agree; corpus-level metrics: a jackknife
  over prompts with a t critical value (no text is repeated); MAUVE: the centred percentile
  bootstrap (a k-means fit per resample). Every interval is clipped to the metric's feasible range.
* **significant** = Holm-adjusted p < 0.05 over the testable (run, metric) cells of one task's
  table, and the interval excludes 0. Pairs that differ are "informative"; below
  :data:`MIN_INFORMATIVE_PAIRS` no exact test can reach p < 0.05, and the cell is "not tested"
  (Tarone's rule: such cells also leave the Holm family).

Pairs with a NaN on either side are dropped together, and the values reported beside a
difference are computed on the same pairs. docs/compare.md gives the reasons and the
simulations (tests/test_compare_calibration.py) that check size and coverage.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hyperfit_tasks.compare.results import UNIT_PREFIXES, CompareError
from hyperfit_tasks.compare.samples import document_key, judges_prompts, read_samples
from hyperfit_tasks.metrics import catalogue

DEFAULT_PERMUTATIONS = 1000
DEFAULT_MAUVE_PERMUTATIONS = 100
DEFAULT_SEED = 12345  # sacrebleu's SACREBLEU_SEED default
MAUVE_KMEANS_SEEDS = (25, 26, 27, 28, 29)  # 25: mauve-text's default, the seed of lm-eval's own value
MAUVE_ADVISED_TEXTS = 100
ALPHA = 0.05
CONFIDENCE = 95.0
MIN_INFORMATIVE_PAIRS = 6  # 2 / 2**6 = 0.031: with 5 differing pairs an exact two-sided test stops at 2 / 32 = 0.0625
EXACT_MEAN_PAIRS = 16  # per-text means: every one of the 2**n sign patterns up to this many pairs (65,536 rows)
TOLERANCE = 1e-9  # relative: a permuted difference equal to the observed one in floating point counts as "as extreme"

PERPLEXITY_METRIC = "perplexity"  # lm-eval's own perplexity metric (not in hyperfit's catalogue)


def value_range(metric: str) -> tuple[float, float]:
    """The values ``metric`` can take: its catalogue range (docs/metrics.md), ``(-inf, inf)`` when unknown.

    An interval of a difference is clipped to what the run's value allows, given the baseline's.
    """
    row = catalogue.find(metric)
    if row is not None:
        return row.bounds
    if metric.startswith(UNIT_PREFIXES):
        return 0.0, 1.0
    if metric == PERPLEXITY_METRIC:
        return 1.0, math.inf
    return -math.inf, math.inf


class Board(Protocol):
    """What the paired statistics read of a leaderboard (:class:`hyperfit_tasks.compare.leaderboard.Leaderboard`):
    named here so that the leaderboard imports this module's types one way, and this module imports nothing of it."""

    runs: Sequence[Any]  # RunResult, baseline first or not
    baseline: str

    @property
    def tasks(self) -> list[str]: ...

    def columns_of(self, task: str) -> list[Any]: ...  # its Column objects


@dataclass(frozen=True)
class PairedStat:
    """One run's difference to the baseline in one metric, over ``documents`` paired prompts.

    ``base_value`` and ``run_value`` are the metric on those same pairs (NaN pairs dropped: ``dropped``);
    ``informative`` pairs differ between the runs; ``permutations`` swap patterns gave ``p_value`` (all of
    them when ``exact``); ``interval`` names how ``ci_low``/``ci_high`` were made.
    """

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float | None
    permutations: int
    documents: int
    informative: int
    base_value: float
    run_value: float
    interval: str
    exact: bool = False
    dropped: int = 0

    def negated(self) -> PairedStat:
        """The same test read from the baseline's side (baseline - run), for a table whose baseline is the model in
        question."""
        return dataclasses.replace(
            self,
            delta=-self.delta,
            ci_low=-self.ci_high,
            ci_high=-self.ci_low,
            base_value=self.run_value,
            run_value=self.base_value,
        )

    @property
    def testable(self) -> bool:
        """Enough informative pairs that an exact test could reach p < :data:`ALPHA`."""
        return self.informative >= MIN_INFORMATIVE_PAIRS

    @property
    def excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def agrees(self) -> bool:
        """The interval excludes 0 exactly when the unadjusted p-value is below :data:`ALPHA`."""
        return self.excludes_zero == (self.p_value < ALPHA)

    @property
    def significant(self) -> bool:
        """Testable, Holm-adjusted p below :data:`ALPHA`, and the interval excludes 0."""
        return self.testable and self.p_holm is not None and self.p_holm < ALPHA and self.excludes_zero

    @property
    def untested_reason(self) -> str | None:
        """Why no verdict is given on these pairs (None when one is)."""
        if self.testable:
            return None
        if self.informative == 0:
            return f"the two runs' items are the same on all {self.documents} pairs: nothing to test"
        return (
            f"only {self.informative} of {self.documents} pairs differ: no test on fewer than {MIN_INFORMATIVE_PAIRS} "
            f"can reach p < {ALPHA} (exact smallest p {2 / 2**self.informative:.3g})"
        )


@dataclass
class PairedResult:
    """Statistics of every tested (run, column key), why the others were not tested, the settings, notes."""

    stats: dict[tuple[str, str], PairedStat] = field(default_factory=dict)
    untested: dict[tuple[str, str], str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    permutations: int = DEFAULT_PERMUTATIONS
    mauve_permutations: int = DEFAULT_MAUVE_PERMUTATIONS
    seed: int = DEFAULT_SEED
    families: dict[str, int] = field(default_factory=dict)  # task -> tests in its Holm family

    def describe(self) -> str:
        """One sentence saying how the p-values and intervals were made and what a mark means."""
        sizes = ", ".join(f"{task} {size}" for task, size in self.families.items())
        return (
            "paired permutation test over prompts (the two runs' outputs swapped at random within each prompt; "
            f"{self.permutations} permutations, MAUVE {self.mauve_permutations}; exact enumeration for per-text means "
            f"up to {EXACT_MEAN_PAIRS} pairs and for corpus metrics up to {int(math.log2(max(self.permutations, 1)))} "
            f"differing pairs), seed {self.seed}; 95% intervals: per-text means by inverting the same test, corpus "
            "metrics by a jackknife over prompts, MAUVE by a centred bootstrap (k-means seeds "
            f"{MAUVE_KMEANS_SEEDS[0]}-{MAUVE_KMEANS_SEEDS[-1]}), clipped to the metric's range; * = Holm-adjusted p < "
            f"{ALPHA} within each task's table (tests per table: {sizes or 'none'}) and the interval excludes 0; not "
            f"tested = fewer than {MIN_INFORMATIVE_PAIRS} differing pairs or no paired samples (reason given)"
        )


# ---------------------------------------------------------------- aggregation of one side


def resolve_aggregation(recorded: Any, metric: str) -> Callable | None:
    """The aggregation function of ``metric`` as a results file records it.

    A metric of hyperfit's catalogue (by its name or its registered ``hyperfit_*`` name) gets the catalogue's
    aggregation, whether the file names it by its registry name, by none (lm-eval's default for a registered metric)
    or, as results written before the registry names did, by the function's source text; any other metric gets the
    lm-eval aggregation the file names.
    """
    row = catalogue.find(metric)
    if row is not None and (
        recorded is None or recorded == row.registered_name or (isinstance(recorded, str) and "def " in recorded)
    ):
        recorded = row.aggregation  # a function, or the lm-eval name of a per-text mean
    if callable(recorded):
        return recorded
    if not isinstance(recorded, str) or not recorded or "def " in recorded:
        return None
    from lm_eval.api.registry import get_aggregation

    try:
        return get_aggregation(recorded)
    except Exception:  # lm-eval raises or logs for unknown names
        return None


def is_mean(aggregation: Callable) -> bool:
    """lm-eval's ``mean`` or ``nanmean``: a per-text metric, tested by sign flips of the paired differences."""
    return getattr(aggregation, "__name__", "") in ("mean", "nanmean")


class Pooled:
    """A corpus aggregate on any rows of pooled items (the baseline's n items, then the run's n)."""

    def __init__(self, aggregation: Callable, items: Sequence[Any]):
        self.aggregation, self.items = aggregation, list(items)
        # Self-BLEU, distinct-n: texts cut into words once, then any selection of them scored exactly
        self.of_rows = aggregation.resampler(self.items) if hasattr(aggregation, "resampler") else None

    def full(self) -> float:
        """The task's own aggregate of all items (what lm-eval reports for the same documents)."""
        return self.score(np.arange(len(self.items)))

    def score(self, rows: np.ndarray, seed: int | None = None) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. Self-BLEU of < 2 texts: NaN
            if self.of_rows is not None:
                return _finite_or_nan(self.of_rows(rows))
            return _finite_or_nan(self.aggregation([self.items[j] for j in rows]))


class MauveSide:
    """MAUVE of continuations against their references, on features computed once per text."""

    def __init__(self, items: Sequence[Sequence[str]], features: FeatureCache):
        featurizers = {item[2] for item in items}
        if len(featurizers) != 1:
            raise ValueError(f"one MAUVE featurizer per task expected, got {sorted(featurizers)}")
        featurizer = featurizers.pop()
        self.model = features.rows([item[0] for item in items], featurizer)
        self.human = features.rows([item[1] for item in items], featurizer)

    def score(self, rows: Sequence[int], seed: int | None = None) -> float:
        """``mauve.compute_mauve`` on the features of ``rows`` (empty texts dropped, as ``mauve_score`` does)."""
        import mauve

        model = [self.model[j] for j in rows if self.model[j] is not None]
        human = [self.human[j] for j in rows if self.human[j] is not None]
        if min(len(model), len(human)) < 2:
            return math.nan
        seed = MAUVE_KMEANS_SEEDS[0] if seed is None else seed
        with single_threaded():
            return float(mauve.compute_mauve(p_features=np.stack(model), q_features=np.stack(human), seed=seed).mauve)

    def full(self) -> float:
        return self.score(range(len(self.model)))


@contextmanager
def single_threaded():
    """One BLAS/OpenMP thread and faiss's C++ warnings muted, for the many small k-means fits of MAUVE resamples.

    faiss's threads spin on a loaded machine (measured: 3.8 s instead of 0.17 s per MAUVE of 300
    texts on 2 shared cores; same value), and it prints a line per fit with < 39 points per cluster.
    """
    import faiss
    from threadpoolctl import threadpool_limits

    threads = faiss.omp_get_max_threads()
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null, threadpool_limits(limits=1):
            os.dup2(null.fileno(), 2)
            faiss.omp_set_num_threads(1)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        faiss.omp_set_num_threads(threads)


class FeatureCache:
    """MAUVE features of each distinct (featurizer, text), computed once for all runs and resamples."""

    def __init__(self):
        self._features: dict[tuple[str, str], np.ndarray] = {}

    def rows(self, texts: Sequence[str], featurizer: str) -> list[np.ndarray | None]:
        """One feature row per text (None for an empty text, which MAUVE drops)."""
        from hyperfit_tasks.metrics.mauve_features import featurize

        missing = list(
            dict.fromkeys(text for text in texts if text.strip() and (featurizer, text) not in self._features)
        )
        if missing:
            for text, row in zip(missing, featurize(missing, featurizer)):
                self._features[(featurizer, text)] = row
        return [self._features[(featurizer, text)] if text.strip() else None for text in texts]


# ---------------------------------------------------------------- the tests


def swap_patterns(
    pairs: int, permutations: int, rng: np.random.Generator, exact_limit: int
) -> tuple[np.ndarray, bool]:
    """Rows of which pairs swap, the identity first: all ``2**pairs`` patterns when that is at most ``exact_limit``
    (an exact test), else the identity and ``permutations`` random patterns (p = (c + 1) / (B + 1))."""
    if 2**pairs <= exact_limit:
        codes = np.arange(2**pairs, dtype=np.int64)[:, None]
        return ((codes >> np.arange(pairs, dtype=np.int64)) & 1).astype(bool), True
    return np.vstack([np.zeros((1, pairs), dtype=bool), rng.random((permutations, pairs)) < 0.5]), False


def mean_test(base: Sequence[float], run: Sequence[float], permutations: int, seed: int) -> PairedStat | None:
    """Sign-flip permutation test of the mean paired difference, and its inversion as the interval.

    For each sign pattern s the permuted statistic at shift t is ``mean(s * (d - t))``; the shifts t at which
    ``|mean(s * (d - t))| >= |mean(d) - t|`` form an interval around ``mean(d)`` (a quadratic inequality), so the
    p-value at t = 0 and the set of unrejected shifts come from the same intervals and always agree.
    """
    base, run = np.asarray(base, dtype=float), np.asarray(run, dtype=float)
    kept = np.isfinite(base) & np.isfinite(run)
    if not kept.any():
        return None
    d = run[kept] - base[kept]
    n, m = d.size, float(d.mean())
    swaps, exact = swap_patterns(n, permutations, np.random.default_rng(seed), 2**EXACT_MEAN_PAIRS)
    signs = 1.0 - 2.0 * swaps
    a, c = signs @ d / n, signs.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.stack([(m - a) / (1 - c), (a + m) / (1 + c)])
    everywhere = np.isclose(np.abs(c), 1.0)  # all signs equal: |T_s(t)| = |T(t)| for every shift
    low = np.where(everywhere, -math.inf, np.nanmin(roots, axis=0))
    high = np.where(everywhere, math.inf, np.nanmax(roots, axis=0))
    # a pattern as extreme as the observed one up to rounding (e.g. one that flips only tied pairs) counts
    tolerance = TOLERANCE * (abs(m) + float(np.abs(d).max()))
    p_value = float(np.mean((low <= tolerance) & (high >= -tolerance)))
    need = math.ceil(ALPHA * len(signs) - 1e-9)  # unrejected: at least this many patterns as extreme
    ci_low, ci_high = float(np.sort(low)[need - 1]), float(np.sort(high)[::-1][need - 1])
    if p_value >= ALPHA:  # 0 unrejected, though within rounding of an end: the interval holds it too
        ci_low, ci_high = min(ci_low, 0.0), max(ci_high, 0.0)
    base_value, run_value = float(base[kept].mean()), float(run[kept].mean())
    return PairedStat(
        m,
        ci_low,
        ci_high,
        p_value,
        None,
        len(signs) - (not exact),
        n,
        int(np.count_nonzero(d)),
        base_value,
        run_value,
        "test inversion",
        exact,
        int(base.size - n),
    )


def swap_test(
    score: Callable, base_items: Sequence[Any], run_items: Sequence[Any], permutations: int, seed: int
) -> tuple[np.ndarray, int, bool]:
    """Permuted differences of a corpus metric, the observed one first; the informative pairs; exact or not.

    ``score(rows, seed)`` scores rows of the pooled items (baseline's 0..n-1, run's n..2n-1); only pairs whose
    items differ are swapped (swapping equal items changes nothing).
    """
    n = len(base_items)
    informative = np.array([i for i in range(n) if not _same_item(base_items[i], run_items[i])], dtype=np.int64)
    swaps, exact = swap_patterns(informative.size, permutations, np.random.default_rng(seed), permutations)
    index, swapped = np.arange(n), np.zeros(n, dtype=bool)
    differences = []
    for b, row in enumerate(swaps):
        swapped[:] = False
        swapped[informative] = row
        kmeans_seed = MAUVE_KMEANS_SEEDS[b % len(MAUVE_KMEANS_SEEDS)]
        differences.append(
            score(np.where(swapped, index, index + n), kmeans_seed)
            - score(np.where(swapped, index + n, index), kmeans_seed)
        )
    return np.asarray(differences, dtype=float), int(informative.size), exact


def permutation_p(differences: np.ndarray) -> float:
    """Share of patterns (identity first) whose difference is at least as far from 0 as the observed one."""
    finite = differences[np.isfinite(differences)]
    observed = abs(differences[0])
    return float(np.mean(np.abs(finite) >= observed - TOLERANCE * (observed + 1e-300)))


def jackknife_interval(score: Callable, n: int, delta: float) -> tuple[float, float]:
    """``delta`` ± t(0.975, n - 1) x the leave-one-prompt-out jackknife standard error (no text is repeated)."""
    from scipy.stats import t

    index = np.arange(n)
    leave_one_out = np.array([score(np.delete(index, i) + n) - score(np.delete(index, i)) for i in range(n)])
    leave_one_out = leave_one_out[np.isfinite(leave_one_out)]
    if leave_one_out.size < 2:
        return math.nan, math.nan
    k = leave_one_out.size
    error = math.sqrt((k - 1) / k * float(np.sum((leave_one_out - leave_one_out.mean()) ** 2)))
    half = float(t.ppf(1 - (100 - CONFIDENCE) / 200, k - 1)) * error
    return delta - half, delta + half


def bootstrap_interval(score: Callable, n: int, delta: float, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile interval of resampled differences, centred on ``delta`` (MAUVE: a k-means fit per resample)."""
    rows = np.random.default_rng(seed).integers(0, n, (resamples, n))
    seeds = [MAUVE_KMEANS_SEEDS[b % len(MAUVE_KMEANS_SEEDS)] for b in range(resamples)]
    differences = np.array([score(row + n, seed) - score(row, seed) for row, seed in zip(rows, seeds)])
    differences = differences[np.isfinite(differences)]
    if differences.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(differences, [(100 - CONFIDENCE) / 2, 100 - (100 - CONFIDENCE) / 2])
    shift = delta - float(differences.mean())
    return float(low + shift), float(high + shift)


def corpus_test(
    scorer: Pooled | MauveSide,
    base_items: Sequence[Any],
    run_items: Sequence[Any],
    permutations: int,
    seed: int,
    mauve: bool = False,
) -> PairedStat | None:
    """Swap test and interval of a corpus-level metric (jackknife; MAUVE: centred bootstrap) on the pooled scorer."""
    n = len(base_items)
    base_value, run_value = scorer.score(np.arange(n)), scorer.score(np.arange(n) + n)
    delta = run_value - base_value
    if not math.isfinite(delta):
        return None
    differences, informative, exact = swap_test(scorer.score, base_items, run_items, permutations, seed)
    if mauve:
        low, high = bootstrap_interval(scorer.score, n, delta, permutations, seed)
    else:
        low, high = jackknife_interval(scorer.score, n, delta)
    if not (math.isfinite(low) and math.isfinite(high)):  # e.g. Self-BLEU of 2 texts: no leave-one-out value
        low, high = -math.inf, math.inf
    return PairedStat(
        delta,
        low,
        high,
        permutation_p(differences),
        None,
        len(differences) - (not exact),
        n,
        informative,
        base_value,
        run_value,
        "bootstrap" if mauve else "jackknife",
        exact,
    )


def clipped(stat: PairedStat, metric: str) -> PairedStat:
    """``stat`` with its interval inside what the run's value can be, given the baseline's value."""
    low, high = value_range(metric)
    # + 0.0: a clipped -0.0 prints as "-0.0"
    return _replace(
        stat,
        ci_low=max(stat.ci_low, low - stat.base_value) + 0.0,
        ci_high=min(stat.ci_high, high - stat.base_value) + 0.0,
    )


def holm(p_values: dict[Any, float]) -> dict[Any, float]:
    """Holm's step-down adjusted p-values (each at least the one before it, capped at 1)."""
    ordered = sorted(p_values, key=lambda key: p_values[key])
    adjusted, running = {}, 0.0
    for rank, key in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p_values[key]))
        adjusted[key] = running
    return adjusted


def align(base: Sequence[dict], other: Sequence[dict]) -> tuple[list[int], list[int], int] | None:
    """Positions in ``base`` and ``other`` of the shared documents (baseline's order), and how many records repeat a
    document already seen (the first record of a document is used); None without hashes."""
    keys = [[document_key(record) for record in records] for records in (base, other)]
    if any(key is None for side in keys for key in side):
        return None
    positions = [{} for _ in keys]
    for side, found in zip(keys, positions):
        for i, key in enumerate(side):
            found.setdefault(key, i)
    repeated = sum(len(side) - len(found) for side, found in zip(keys, positions))
    pairs = [(i, positions[1][key]) for key, i in positions[0].items() if key in positions[1]]
    return [i for i, _ in pairs], [j for _, j in pairs], repeated


def compare_task(
    task: str,
    base_records: Sequence[dict],
    run_records: Sequence[dict],
    aggregations: dict[str, Callable],
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
    mauve_permutations: int = DEFAULT_MAUVE_PERMUTATIONS,
    features: FeatureCache | None = None,
    names: tuple[str, str] = ("baseline", "run"),
) -> tuple[dict[str, PairedStat], list[str], dict[str, str]]:
    """Unadjusted paired statistics of every metric of ``aggregations`` found in both runs' records, notes, and the
    reason each metric left untested was not tested."""
    notes: list[str] = []
    untested: dict[str, str] = {}
    aligned = align(base_records, run_records)
    if aligned is None:
        reason = "samples lack lm-eval's doc_hash/prompt_hash, so documents cannot be paired"
        return {}, [f"{task}: {reason}: not tested"], dict.fromkeys(aggregations, reason)
    base_rows, run_rows, repeated = aligned
    shared = len(base_rows)
    if shared == 0 and judges_prompts(base_records):
        raise CompareError(
            f"{names[1]} and {names[0]} share no judged prompt in {task} (the continuation runs they judge, their "
            "--metadata samples, have different prompts or documents; models with different tokenizers cut different "
            "32-token prompts unless both pass the same --metadata prompt_tokenizer): compare runs that judge "
            "continuation runs of the same task settings"
        )
    if shared == 0:
        raise CompareError(
            f"{names[1]} and {names[0]} share no prompt in {task} (different prompts or documents; models with "
            "different tokenizers cut different 32-token prompts unless both runs pass the same --metadata "
            "prompt_tokenizer): compare runs of the same task settings"
        )
    if repeated:
        notes.append(
            f"{task}: {repeated} samples records repeat a document already logged: the first record of each is used"
        )
    if shared < max(len(base_records), len(run_records)) - repeated:
        notes.append(
            f"{task}: {names[1]} and {names[0]} share {shared} of {len(run_records)} and {len(base_records)} "
            f"documents: its differences, intervals and values are over the {shared} shared ones (the baseline's row "
            "shows all of its own)"
        )
    out: dict[str, PairedStat] = {}
    for metric, aggregation in aggregations.items():
        if not all(metric in base_records[i] for i in base_rows) or not all(
            metric in run_records[j] for j in run_rows
        ):
            untested[metric] = "the samples do not hold this metric"
            continue
        base_items = [base_records[i][metric] for i in base_rows]
        run_items = [run_records[j][metric] for j in run_rows]
        is_mauve = getattr(aggregation, "__name__", "") == "mauve_aggregation"
        if is_mauve and shared < MAUVE_ADVISED_TEXTS:
            notes.append(
                f"{task}: MAUVE of {shared} texts per side (its authors advise thousands, at least "
                f"{MAUVE_ADVISED_TEXTS}): its value is biased and its interval wide"
            )
        try:
            if is_mean(aggregation):
                stat = mean_test(base_items, run_items, permutations, seed)
            elif is_mauve:
                scorer = MauveSide(base_items + run_items, features if features is not None else FeatureCache())
                stat = corpus_test(scorer, base_items, run_items, mauve_permutations, seed, mauve=True)
            else:
                stat = corpus_test(
                    Pooled(aggregation, base_items + run_items), base_items, run_items, permutations, seed
                )
        except (TypeError, ValueError, KeyError, IndexError) as error:
            untested[metric] = f"its samples items cannot be aggregated ({error})"
            notes.append(f"{task}/{metric}: samples items cannot be aggregated ({error}): not tested")
            continue
        if stat is None:
            untested[metric] = (
                f"not a number on the shared documents for {names[0]} or {names[1]} (NaN in its samples, or undefined)"
            )
            notes.append(f"{task}/{metric}: {untested[metric]}: not tested")
            continue
        if stat.dropped:
            notes.append(
                f"{task}/{metric}: {stat.dropped} of {shared} pairs dropped ({names[0]} or {names[1]} has NaN there): "
                f"compared on {stat.documents} pairs, on which {names[0]} has {stat.base_value:.4g} and {names[1]} "
                f"{stat.run_value:.4g}"
            )
        out[metric] = clipped(stat, metric)
    return out, notes, untested


# ---------------------------------------------------------------- a whole leaderboard


def enough_permutations(tests: int) -> int:
    """Permutations for a table of ``tests`` Holm-corrected p-values: at least :data:`DEFAULT_PERMUTATIONS`, and
    enough (in thousands) that the smallest p-value, 1 / (N + 1), times ``tests`` is at most half of :data:`ALPHA`.

    With fewer, Holm's correction is limited by the test's resolution rather than by the data: 1,000 permutations
    and 60 tests can mark nothing significant, however large the difference.
    """
    return max(DEFAULT_PERMUTATIONS, math.ceil(2 * tests / ALPHA / 1000) * 1000)


def planned_tests(board: Board, task: str) -> int:
    """The most (run, metric) p-values that one task's Holm family can hold: the runs with samples, times its
    metrics."""
    runs = sum(1 for run in board.runs if run.name != board.baseline and task in run.samples)
    return runs * sum(1 for column in board.columns_of(task) if column.filter == "none")


def resolution_notes(
    task: str, stats: dict[tuple[str, str], PairedStat], permutations: int, mauve_permutations: int
) -> list[str]:
    """Say when the test's smallest p-value, not the data, keeps a task's differences from significance."""
    tests = len(stats)
    notes = []
    if (
        any(not stat.exact and not key.endswith("/mauve") for (_, key), stat in stats.items())
        and tests / (permutations + 1) >= ALPHA / 2
    ):
        notes.append(
            f"{task}: {permutations} permutations give p-values of at least {1 / (permutations + 1):.2g}, too coarse "
            f"for Holm over {tests} tests: a difference not marked may only lack permutations (--permutations "
            f"{enough_permutations(tests)} or more)"
        )
    exact = [stat for stat in stats.values() if stat.exact]
    if exact:
        floor = min(2 / 2**stat.informative for stat in exact)
        if tests * floor >= ALPHA / 2:
            notes.append(
                f"{task}: with {max(stat.informative for stat in exact)} differing pairs an exact test's p is at "
                f"least {floor:.2g}, and Holm over {tests} tests multiplies it by up to {tests}: only differences "
                "where nearly every prompt moves the same way can be marked (more texts: lm-eval --limit, "
                "hyperfit-reproduce --scale)"
            )
    if any(key.endswith("/mauve") for _, key in stats) and tests / (mauve_permutations + 1) >= ALPHA:
        notes.append(
            f"{task}: MAUVE's p-values come from {mauve_permutations} permutations (at least "
            f"{1 / (mauve_permutations + 1):.2g}): a MAUVE difference not marked may only lack permutations; its "
            "interval shows its size (--mauve-permutations, two k-means fits each)"
        )
    return notes


def board_statistics(
    board: Board,
    permutations: int | None = None,
    seed: int = DEFAULT_SEED,
    mauve_permutations: int = DEFAULT_MAUVE_PERMUTATIONS,
) -> PairedResult:
    """Paired statistics of every run against the baseline in every column that samples allow, Holm-adjusted per task.

    ``permutations`` None: :func:`enough_permutations` for the largest task table.
    """
    if permutations is None:
        permutations = enough_permutations(max((planned_tests(board, task) for task in board.tasks), default=0))
    if permutations < 1 or mauve_permutations < 1:
        raise CompareError(
            f"--permutations and --mauve-permutations must be >= 1, got {permutations} and {mauve_permutations}"
        )
    result = PairedResult(
        permutations=permutations, mauve_permutations=min(mauve_permutations, permutations), seed=seed
    )
    others = [run for run in board.runs if run.name != board.baseline]
    if not others:
        result.notes.append("one run only: no differences, intervals or best marks (pass a second run to compare)")
        return result
    base = next(run for run in board.runs if run.name == board.baseline)
    features, refused = FeatureCache(), {}

    def skip(task: str, runs: Sequence, reason: str) -> None:
        for run in runs:
            for column in board.columns_of(task):
                result.untested.setdefault((run.name, column.key), reason)

    for task in board.tasks:
        metrics = [column.metric for column in board.columns_of(task) if column.filter == "none"]
        if task not in base.samples:
            if base.output_type(task) is not None:  # a leaf task (a group's rows have no samples of their own)
                if any(task in run.samples for run in others):
                    result.notes.append(
                        f"{task}: the baseline {base.name} has no samples file (lm_eval --log_samples): not tested"
                    )
                skip(task, others, f"the baseline {base.name} has no samples file for it (lm_eval --log_samples)")
            continue
        base_records = read_samples(base.samples[task])
        base_aggregations = _aggregations(base, task, metrics)
        task_stats = {}
        for run in others:
            if task not in run.metrics:
                continue
            if task not in run.samples:
                result.notes.append(f"{task}: {run.name} has no samples file (lm_eval --log_samples): not tested")
                skip(task, [run], f"{run.name} has no samples file for it (lm_eval --log_samples)")
                continue
            run_aggregations = _aggregations(run, task, metrics)
            agreed = {
                metric: fn for metric, fn in base_aggregations.items() if _same(fn, run_aggregations.get(metric))
            }
            for metric in set(metrics) - set(agreed):
                result.untested[(run.name, f"{task}/{metric}")] = (
                    "the two runs record different (or unknown) aggregations for it"
                )
            try:
                stats, notes, untested = compare_task(
                    task,
                    base_records,
                    read_samples(run.samples[task]),
                    agreed,
                    permutations,
                    seed,
                    result.mauve_permutations,
                    features,
                    (base.name, run.name),
                )
            except CompareError as error:
                refused.setdefault(run.name, []).append(str(error))
                skip(task, [run], str(error).split(": compare runs")[0])
                continue
            result.notes += notes
            result.untested.update({(run.name, f"{task}/{metric}"): reason for metric, reason in untested.items()})
            task_stats.update({(run.name, f"{task}/{metric}"): stat for metric, stat in stats.items()})
        family = {key: stat.p_value for key, stat in task_stats.items() if stat.testable}
        adjusted = holm(family)
        result.stats.update({key: _replace(stat, p_holm=adjusted.get(key)) for key, stat in task_stats.items()})
        if task_stats:
            result.families[task] = len(family)
            result.notes += resolution_notes(
                task, {key: task_stats[key] for key in family}, permutations, result.mauve_permutations
            )
            few: dict[tuple[str, str], list[str]] = {}
            for (name, key), stat in task_stats.items():
                if not stat.testable:
                    few.setdefault((name, stat.untested_reason), []).append(key.split("/", 1)[1])
            result.notes += [
                f"{task}: {name}: {', '.join(metrics)} not tested: {reason}" for (name, reason), metrics in few.items()
            ]
            result.notes += [
                f"{task}/{key.split('/', 1)[1]}: {name}: the interval "
                f"{'excludes' if stat.excludes_zero else 'includes'} 0 while p = {stat.p_value:.3g}: interval "
                f"({stat.interval}) and test disagree, so it is not marked significant"
                for (name, key), stat in task_stats.items()
                if stat.testable and not stat.agrees
            ]
    if not result.stats and not any(run.samples for run in board.runs):
        result.notes.append(
            "no intervals or p-values: they need the per-document samples (re-run lm_eval with --log_samples); every "
            "difference is not tested and no best is marked"
        )
    tested = {name for name, _ in result.stats}
    for name, errors in refused.items():
        if name not in tested:
            raise CompareError(errors[0])
        result.notes += [f"{line}; that task is not tested" for line in errors]
    return result


def _replace(stat: PairedStat, **changes: Any) -> PairedStat:
    return dataclasses.replace(stat, **changes)


def _same_item(first: Any, second: Any) -> bool:
    """Two samples items are the same output (so swapping them changes nothing)."""
    try:
        return bool(first == second)
    except (TypeError, ValueError):
        return False


def _same(first: Callable, second: Callable | None) -> bool:
    """The same aggregation; lm-eval's ``mean`` and ``nanmean`` count as one (task versions moved metrics
    that are never NaN from one to the other; on such items they agree)."""
    means = {"mean", "nanmean"}
    return first is second or (
        second is not None and {getattr(first, "__name__", ""), getattr(second, "__name__", "")} <= means
    )


def _aggregations(run, task: str, metrics: Sequence[str]) -> dict[str, Callable]:
    """``{metric: aggregation function}`` of the task as the run recorded it (unresolvable ones left out)."""
    entries = ((run.data.get("configs") or {}).get(task) or {}).get("metric_list") or []
    found = {}
    for entry in entries:
        if isinstance(entry, dict) and entry.get("metric") in metrics:
            function = resolve_aggregation(entry.get("aggregation"), entry["metric"])
            if function is not None:
                found[entry["metric"]] = function
    return found


def _finite_or_nan(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan
