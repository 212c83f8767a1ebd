"""Scoring of the judge tasks: the judge's answers in both orders, as the run's outcomes against the human
continuation.

Each prompt is judged twice (:data:`ORDERS`): the run's continuation first (as A), then the human one first. An
answer is ``A``, ``B``, ``equal`` or unparseable (generation: :func:`parse_answer`; log-probabilities: the answer of
the highest log-probability). Un-swapped, each order gives the run a :data:`WIN`, :data:`EQUAL`, :data:`LOSS` or
:data:`UNPARSEABLE`, and :func:`judge_items` turns the two outcomes into the four ``judge_*`` metrics of the catalogue.
Unparseable answers are counted (``judge_unparseable``), never dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

ANSWERS = ("A", "B", "equal")  # the loglikelihood variant's three candidate answers, in its request order
ORDERS = ("run_first", "human_first")  # request order: the run's continuation as A, then the human one as A
WIN, EQUAL, LOSS, UNPARSEABLE = "win", "equal", "loss", "unparseable"
_SCORE = {WIN: 1.0, EQUAL: 0.5, LOSS: 0.0}
# an optional lead-in ("Answer:", "The final answer is", "Continuation"), the answer, then the end, a space or
# punctuation
_ANSWER = re.compile(
    r"^(?:(?:the\s+)?(?:final\s+)?(?:answer|verdict)(?:\s+is)?\s*:?\s*|(?:continuation|option)\s+)?"
    r"\(?(a|b|equal)\)?(?:$|[\s.,;:!])",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"[*_`#\"']")


def parse_answer(text: str) -> str | None:
    """The judge's answer in a generated text (``A``, ``B`` or ``equal``), None when it is none of them.

    Case, surrounding space, Markdown emphasis and quotes, a lead-in such as ``Answer:`` and trailing
    punctuation or explanation are tolerated: ``"**A**"``, ``"A."``, ``"Answer: B"``, ``"Equal"``,
    ``"A\\n\\nBecause"``.
    """
    match = _ANSWER.match(_MARKUP.sub("", text).strip())
    if match is None:
        return None
    answer = match.group(1)
    return "equal" if answer.lower() == "equal" else answer.upper()


def logprob_answer(loglikelihoods: Sequence[float]) -> str:
    """The answer of :data:`ANSWERS` with the highest log-likelihood (the first of them on a tie)."""
    best = max(range(len(ANSWERS)), key=lambda i: (loglikelihoods[i], -i))
    return ANSWERS[best]


def answers(results: Sequence[Any]) -> list[str | None]:
    """The judge's answer in each order, from lm-eval's results of one document (or a logged sample's
    ``filtered_resps``).

    Two generated texts (``hyperfit_judge``), or six ``(loglikelihood, is_greedy)`` pairs, the three answers
    after each order's context (``hyperfit_judge_logprob``).
    """
    if all(isinstance(result, str) for result in results):
        return [parse_answer(result) for result in results]
    loglikelihoods = [float(result[0]) for result in results]
    return [logprob_answer(loglikelihoods[i : i + len(ANSWERS)]) for i in range(0, len(loglikelihoods), len(ANSWERS))]


def outcome(answer: str | None, order: int) -> str:
    """The run's outcome of one answer: order 0 showed the run's continuation as A, order 1 as B."""
    if answer is None:
        return UNPARSEABLE
    if answer == "equal":
        return EQUAL
    return WIN if answer == ("A", "B")[order] else LOSS


def outcomes(results: Sequence[Any]) -> list[str]:
    """The run's outcome in each order (:data:`ORDERS`) for one document's results or a logged sample's
    ``filtered_resps``."""
    found = answers(results)
    if len(found) != len(ORDERS):
        raise ValueError(
            f"a judge document has {len(ORDERS)} orders, got answers for {len(found)}: pass one document's results"
        )
    return [outcome(answer, order) for order, answer in enumerate(found)]


def judge_items(per_order: Sequence[str]) -> dict[str, float]:
    """The four per-prompt items of the two orders' outcomes (NaN where no parseable answer defines one)."""
    parseable = [result for result in per_order if result != UNPARSEABLE]
    both = len(parseable) == len(per_order)
    return {
        "judge_pref_or_equal": sum(result != LOSS for result in parseable) / len(parseable) if parseable else math.nan,
        "judge_win_rate": sum(_SCORE[result] for result in parseable) / len(parseable) if parseable else math.nan,
        "judge_position_consistency": float(len(set(parseable)) == 1) if both else math.nan,
        "judge_unparseable": 1 - len(parseable) / len(per_order),
    }


def process_results(doc: dict, results: Sequence[Any]) -> dict[str, float]:
    """lm-eval ``process_results`` of the judge tasks: the items of one prompt's two orders."""
    return judge_items(outcomes(results))


def sample_outcomes(record: dict[str, Any]) -> dict[str, str]:
    """``{order: outcome}`` of one logged judge sample (``samples_hyperfit_judge*_<time>.jsonl``), from its
    ``filtered_resps``."""
    return dict(zip(ORDERS, outcomes(record["filtered_resps"]), strict=True))
