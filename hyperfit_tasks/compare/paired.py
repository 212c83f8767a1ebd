"""Paired bootstrap over prompts: the difference of every metric to the baseline, its 95% interval and p-value.

Two runs' ``--log_samples`` records are matched by lm-eval's per-document hashes (``doc_hash``
and ``prompt_hash``). Each resample draws prompt indices with replacement and recomputes the
metric for both runs on that same resample, with the aggregation the task itself uses (read from
the results file's ``metric_list``: lm-eval's registry, or hyperfit's own aggregation functions).
Per resample b the difference d_b = run - baseline; the interval is the 2.5 and 97.5 percentiles
of d_b (for corpus-level metrics moved by delta - mean(d), see :func:`paired_stat`); the two-sided
p-value counts resamples whose centred difference |d_b - mean(d)| is at
least the observed |delta|, as ``(c + 1) / (B + 1)`` (sacrebleu's paired bootstrap convention,
with ``>=`` so that identical runs get p = 1). Holm's correction runs over every (run, metric)
p-value of one task's table.

MAUVE: each text is featurised once, resamples pick rows of the feature matrices, the k-means
seed cycles through :data:`MAUVE_KMEANS_SEEDS`, and fewer resamples are drawn (``mauve_resamples``).
"""

from __future__ import annotations

import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperfit_tasks.compare.errors import CompareError

if TYPE_CHECKING:
    from hyperfit_tasks.compare.leaderboard import Leaderboard

DEFAULT_RESAMPLES = 1000
DEFAULT_MAUVE_RESAMPLES = 100
DEFAULT_SEED = 12345  # sacrebleu's SACREBLEU_SEED default
MAUVE_KMEANS_SEEDS = (25, 26, 27, 28, 29)  # 25: mauve-text's default, the seed of lm-eval's own value
MAUVE_ADVISED_TEXTS = 100
ALPHA = 0.05
CONFIDENCE = 95.0


@dataclass(frozen=True)
class PairedStat:
    """One run's difference to the baseline in one metric, over ``documents`` shared prompts."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float | None
    resamples: int
    documents: int

    @property
    def significant(self) -> bool:
        """Holm-adjusted p below :data:`ALPHA`."""
        return self.p_holm is not None and self.p_holm < ALPHA


@dataclass
class PairedResult:
    """Statistics of every tested (run, column key), the settings used and notes on what was not tested."""

    stats: dict[tuple[str, str], PairedStat] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    resamples: int = DEFAULT_RESAMPLES
    mauve_resamples: int = DEFAULT_MAUVE_RESAMPLES
    seed: int = DEFAULT_SEED

    def describe(self) -> str:
        """One sentence saying how the intervals were made."""
        return (
            f"paired bootstrap over prompts, {self.resamples} resamples (MAUVE: {self.mauve_resamples}, k-means seeds "
            f"{MAUVE_KMEANS_SEEDS[0]}-{MAUVE_KMEANS_SEEDS[-1]}), seed {self.seed}; 95% percentile intervals (corpus "
            "metrics: centred on the observed difference); "
            f"* = Holm-adjusted p < {ALPHA} across the metrics and runs of each task's table"
        )


# ---------------------------------------------------------------- aggregation of one side


def resolve_aggregation(recorded: Any, metric: str) -> Callable | None:
    """The aggregation function a results file records for ``metric`` (a registry name or a function's source)."""
    if not isinstance(recorded, str) or not recorded:
        return None
    if "def " not in recorded:
        from lm_eval.api.registry import get_aggregation

        try:
            return get_aggregation(recorded)
        except Exception:  # lm-eval raises or logs for unknown names
            return None
    from hyperfit_tasks.metrics import mauve_score
    from hyperfit_tasks.tasks import continuation_scores

    known = {
        "mean_segmental_ttr": continuation_scores.mean_segmental_ttr,
        "mauve_aggregation": mauve_score.mauve_aggregation,
        **continuation_scores.WORD_AGGREGATIONS,
    }
    match = re.search(r"def (\w+)\(", recorded)
    return known.get(match.group(1) if match else "") or known.get(metric)


class Side:
    """The items of one run in one metric, scored on any resample of its documents."""

    def __init__(self, aggregation: Callable, items: Sequence[Any]):
        self.aggregation, self.items = aggregation, list(items)
        self.kind = "mean" if getattr(aggregation, "__name__", "") in ("mean", "nanmean") else "generic"
        if hasattr(aggregation, "resampler"):  # Self-BLEU, distinct-n: texts cut into words once
            self.kind, self.of_rows = "rows", aggregation.resampler(self.items)

    def full(self) -> float:
        """The task's own aggregate of all items (what lm-eval reports for the same documents)."""
        return _finite_or_nan(self.aggregation(self.items))

    def resampled(self, indices: np.ndarray) -> np.ndarray:
        """The aggregate on each row of ``indices`` (resamples x documents)."""
        if self.kind == "mean":
            values = np.asarray(self.items, dtype=float)[indices]
            if self.aggregation.__name__ == "mean":
                return values.mean(axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN resample is NaN, as lm-eval's nanmean
                return np.nanmean(values, axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. Self-BLEU of a resample with < 2 texts: NaN
            if self.kind == "rows":
                return np.array([_finite_or_nan(self.of_rows(row)) for row in indices])
            return np.array([_finite_or_nan(self.aggregation([self.items[j] for j in row])) for row in indices])


class MauveSide:
    """MAUVE of one run's continuations against the references, on features computed once per text."""

    def __init__(self, items: Sequence[Sequence[str]], features: FeatureCache):
        featurizers = {item[2] for item in items}
        if len(featurizers) != 1:
            raise ValueError(f"one MAUVE featurizer per task expected, got {sorted(featurizers)}")
        featurizer = featurizers.pop()
        self.model = features.rows([item[0] for item in items], featurizer)
        self.human = features.rows([item[1] for item in items], featurizer)

    def score(self, rows: Sequence[int], seed: int) -> float:
        """``mauve.compute_mauve`` on the features of ``rows`` (empty texts dropped, as ``mauve_score`` does)."""
        import mauve

        model = [self.model[j] for j in rows if self.model[j] is not None]
        human = [self.human[j] for j in rows if self.human[j] is not None]
        if min(len(model), len(human)) < 2:
            return math.nan
        with single_threaded():
            return float(mauve.compute_mauve(p_features=np.stack(model), q_features=np.stack(human), seed=seed).mauve)

    def full(self) -> float:
        return self.score(range(len(self.model)), MAUVE_KMEANS_SEEDS[0])

    def resampled(self, indices: np.ndarray) -> np.ndarray:
        return np.array([self.score(row, MAUVE_KMEANS_SEEDS[b % len(MAUVE_KMEANS_SEEDS)]) for b, row in enumerate(indices)])


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

        missing = list(dict.fromkeys(text for text in texts if text.strip() and (featurizer, text) not in self._features))
        if missing:
            for text, row in zip(missing, featurize(missing, featurizer)):
                self._features[(featurizer, text)] = row
        return [self._features[(featurizer, text)] if text.strip() else None for text in texts]


# ---------------------------------------------------------------- the test


def bootstrap_indices(documents: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` x ``documents`` prompt indices drawn with replacement (as ``scipy.stats.bootstrap`` draws them)."""
    return np.random.default_rng(seed).integers(0, documents, (resamples, documents))


def paired_stat(
    base_full: float, run_full: float, base_resampled: np.ndarray, run_resampled: np.ndarray, documents: int, centred: bool = False
) -> PairedStat | None:
    """Delta, percentile interval and two-sided p-value from the full-sample and resampled scores of both sides.

    ``centred``: the interval is the percentile interval of the differences moved by ``delta - mean(d)``,
    for corpus metrics whose resamples are biased (a repeated text matches itself: Self-BLEU rises,
    distinct-n falls in every resample), so that it is centred on the observed difference.
    """
    delta = run_full - base_full
    differences = np.asarray(run_resampled, dtype=float) - np.asarray(base_resampled, dtype=float)
    differences = differences[np.isfinite(differences)]
    if not math.isfinite(delta) or differences.size == 0:
        return None
    low, high = np.percentile(differences, [(100 - CONFIDENCE) / 2, 100 - (100 - CONFIDENCE) / 2])
    if centred:
        low, high = low + delta - differences.mean(), high + delta - differences.mean()
    extreme = int(np.sum(np.abs(differences - differences.mean()) >= abs(delta)))
    p_value = min(1.0, (extreme + 1) / (differences.size + 1))
    return PairedStat(float(delta), float(low), float(high), p_value, None, int(differences.size), documents)


def holm(p_values: dict[Any, float]) -> dict[Any, float]:
    """Holm's step-down adjusted p-values (each at least the one before it, capped at 1)."""
    ordered = sorted(p_values, key=lambda key: p_values[key])
    adjusted, running = {}, 0.0
    for rank, key in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p_values[key]))
        adjusted[key] = running
    return adjusted


def document_key(record: dict[str, Any]) -> tuple[str, str] | None:
    """lm-eval's (``doc_hash``, ``prompt_hash``) of a samples record; None when it was not logged."""
    doc_hash, prompt_hash = record.get("doc_hash"), record.get("prompt_hash")
    return (doc_hash, prompt_hash) if isinstance(doc_hash, str) and isinstance(prompt_hash, str) else None


def align(base: Sequence[dict], other: Sequence[dict]) -> tuple[list[int], list[int]] | None:
    """Positions in ``base`` and ``other`` of the shared documents, in the baseline's order; None without hashes."""
    keys = [[document_key(record) for record in records] for records in (base, other)]
    if any(key is None for side in keys for key in side):
        return None
    position = {key: i for i, key in enumerate(keys[1])}
    pairs = [(i, position[key]) for i, key in enumerate(keys[0]) if key in position]
    return [i for i, _ in pairs], [j for _, j in pairs]


def compare_task(
    task: str,
    base_records: Sequence[dict],
    run_records: Sequence[dict],
    aggregations: dict[str, Callable],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    mauve_resamples: int = DEFAULT_MAUVE_RESAMPLES,
    features: FeatureCache | None = None,
    names: tuple[str, str] = ("baseline", "run"),
    memo: dict | None = None,
) -> tuple[dict[str, PairedStat], list[str]]:
    """Unadjusted paired statistics of every metric of ``aggregations`` found in both runs' records, and notes.

    ``memo`` keeps the baseline's scores between calls for several runs against one baseline.
    """
    notes: list[str] = []
    memo = {} if memo is None else memo
    aligned = align(base_records, run_records)
    if aligned is None:
        return {}, [f"{task}: samples lack lm-eval's doc_hash/prompt_hash, so documents cannot be paired: no intervals"]
    base_rows, run_rows = aligned
    shared = len(base_rows)
    if shared == 0:
        raise CompareError(
            f"{names[1]} and {names[0]} share no prompt in {task} (different prompts or documents): compare runs of the same task settings"
        )
    if shared < max(len(base_records), len(run_records)):
        notes.append(
            f"{task}: {names[1]} and {names[0]} share {shared} of {len(run_records)} and {len(base_records)} documents: "
            f"its differences and intervals are over the {shared} shared ones"
        )
    indices = bootstrap_indices(shared, resamples, seed)
    mauve_indices = indices[:mauve_resamples]
    out: dict[str, PairedStat] = {}
    for metric, aggregation in aggregations.items():
        if not all(metric in base_records[i] for i in base_rows) or not all(metric in run_records[j] for j in run_rows):
            continue
        base_items = [base_records[i][metric] for i in base_rows]
        run_items = [run_records[j][metric] for j in run_rows]
        is_mauve = getattr(aggregation, "__name__", "") == "mauve_aggregation"
        if is_mauve and shared < MAUVE_ADVISED_TEXTS:
            notes.append(
                f"{task}: MAUVE of {shared} texts per side (its authors advise thousands, at least {MAUVE_ADVISED_TEXTS}): "
                "its value is biased and its interval wide"
            )
        rows = mauve_indices if is_mauve else indices
        memo_key = (task, metric, tuple(base_rows), len(rows))
        try:
            if is_mauve:
                cache = features if features is not None else FeatureCache()
                base_side, run_side = MauveSide(base_items, cache), MauveSide(run_items, cache)
            else:
                base_side, run_side = Side(aggregation, base_items), Side(aggregation, run_items)
            if memo_key not in memo:
                memo[memo_key] = base_side.full(), base_side.resampled(rows)
            (base_full, base_resampled), run_full = memo[memo_key], run_side.full()
            bad = [name for name, value in zip(names, (base_full, run_full)) if not math.isfinite(value)]
            run_resampled = None if bad else run_side.resampled(rows)
        except (TypeError, ValueError, KeyError, IndexError) as error:
            notes.append(f"{task}/{metric}: samples items cannot be aggregated ({error}): no interval")
            continue
        if bad:
            notes.append(
                f"{task}/{metric}: not a number on the shared documents for {', '.join(bad)} (NaN in its samples, or undefined on them): no interval"
            )
            continue
        centred = not (isinstance(base_side, Side) and base_side.kind == "mean")
        stat = paired_stat(base_full, run_full, base_resampled, run_resampled, shared, centred)
        if stat is None:
            notes.append(f"{task}/{metric}: no resample gave a number for both runs: no interval")
        else:
            out[metric] = stat
    return out, notes


# ---------------------------------------------------------------- a whole leaderboard


def enough_resamples(tests: int) -> int:
    """Resamples for a table of ``tests`` Holm-corrected p-values: at least :data:`DEFAULT_RESAMPLES`, and enough (in
    thousands) that the smallest p-value, 1 / (N + 1), times ``tests`` is at most half of :data:`ALPHA`.

    With fewer, Holm's correction is limited by the bootstrap's resolution rather than by the data: 1,000 resamples
    and 60 tests can mark nothing significant, however large the difference.
    """
    return max(DEFAULT_RESAMPLES, math.ceil(2 * tests / ALPHA / 1000) * 1000)


def planned_tests(board: Leaderboard, task: str) -> int:
    """The most (run, metric) p-values that one task's Holm family can hold: the runs with samples, times its metrics."""
    runs = sum(1 for run in board.runs if run.name != board.baseline and task in run.samples)
    return runs * sum(1 for column in board.columns_of(task) if column.filter == "none")


def resolution_notes(task: str, tests: int, resamples: int, mauve_resamples: int, has_mauve: bool) -> list[str]:
    """Say when the bootstrap's smallest p-value, not the data, keeps a task's differences from significance."""
    notes = []
    if tests / (resamples + 1) >= ALPHA / 2:
        notes.append(
            f"{task}: {resamples} resamples give p-values of at least {1 / (resamples + 1):.2g}, too coarse for Holm over "
            f"{tests} tests: a difference not marked may only lack resamples (--resamples {enough_resamples(tests)} or more)"
        )
    if has_mauve and tests / (mauve_resamples + 1) >= ALPHA:
        notes.append(
            f"{task}: MAUVE's p-values come from {mauve_resamples} resamples (at least {1 / (mauve_resamples + 1):.2g}): "
            "a MAUVE difference not marked may only lack resamples; its interval shows its size (--mauve-resamples, a "
            "k-means fit each)"
        )
    return notes


def board_statistics(
    board: Leaderboard,
    resamples: int | None = None,
    seed: int = DEFAULT_SEED,
    mauve_resamples: int = DEFAULT_MAUVE_RESAMPLES,
) -> PairedResult:
    """Paired statistics of every run against the baseline in every column that samples allow, Holm-adjusted per task.

    ``resamples`` None: :func:`enough_resamples` for the largest task table.
    """
    from hyperfit_tasks.compare.samples import read_samples

    if resamples is None:
        resamples = enough_resamples(max((planned_tests(board, task) for task in board.tasks), default=0))
    if resamples < 1 or mauve_resamples < 1:
        raise CompareError(f"--resamples and --mauve-resamples must be >= 1, got {resamples} and {mauve_resamples}")
    result = PairedResult(resamples=resamples, mauve_resamples=min(mauve_resamples, resamples), seed=seed)
    if len(board.runs) < 2:
        result.notes.append("one run only: no differences, intervals or best marks (pass a second run to compare)")
        return result
    if not any(run.samples for run in board.runs):
        result.notes.append(
            "no intervals or p-values: they need the per-document samples (re-run lm_eval with --log_samples); bold = largest value, untested"
        )
        return result
    base = next(run for run in board.runs if run.name == board.baseline)
    features, refused, memo = FeatureCache(), {}, {}
    for task in board.tasks:
        metrics = [column.metric for column in board.columns_of(task) if column.filter == "none"]
        if task not in base.samples:
            if base.output_type(task) is not None and any(task in run.samples for run in board.runs):
                result.notes.append(f"{task}: the baseline {base.name} has no samples file: no intervals")
            continue
        base_records = read_samples(base.samples[task])
        base_aggregations = _aggregations(base, task, metrics)
        p_values = {}
        for run in board.runs:
            if run is base or task not in run.metrics:
                continue
            if task not in run.samples:
                result.notes.append(f"{task}: {run.name} has no samples file (lm_eval --log_samples): no intervals")
                continue
            run_aggregations = _aggregations(run, task, metrics)
            agreed = {metric: fn for metric, fn in base_aggregations.items() if _same(fn, run_aggregations.get(metric))}
            try:
                stats, notes = compare_task(
                    task,
                    base_records,
                    read_samples(run.samples[task]),
                    agreed,
                    resamples,
                    seed,
                    result.mauve_resamples,
                    features,
                    (base.name, run.name),
                    memo,
                )
            except CompareError as error:
                refused.setdefault(run.name, []).append(str(error))
                continue
            result.notes += notes
            for metric, stat in stats.items():
                result.stats[(run.name, f"{task}/{metric}")] = stat
                p_values[(run.name, f"{task}/{metric}")] = stat.p_value
        for key, adjusted in holm(p_values).items():
            stat = result.stats[key]
            result.stats[key] = PairedStat(stat.delta, stat.ci_low, stat.ci_high, stat.p_value, adjusted, stat.resamples, stat.documents)
        if p_values:
            has_mauve = any(key.rsplit("/", 1)[-1] == "mauve" for _, key in p_values)
            result.notes += resolution_notes(task, len(p_values), resamples, result.mauve_resamples, has_mauve)
    tested = {name for name, _ in result.stats}
    for name, errors in refused.items():
        if name not in tested:
            raise CompareError(errors[0])
        result.notes += [f"{line}; that task has no intervals" for line in errors]
    return result


def _same(first: Callable, second: Callable | None) -> bool:
    """The same aggregation; lm-eval's ``mean`` and ``nanmean`` count as one (task versions moved metrics
    that are never NaN from one to the other; on such items they agree)."""
    means = {"mean", "nanmean"}
    return first is second or (second is not None and {getattr(first, "__name__", ""), getattr(second, "__name__", "")} <= means)


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
