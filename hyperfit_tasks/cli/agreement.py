"""``hyperfit-agreement``: how often two models make the same top-1 next-token prediction, on held-out text.

The statistics are :mod:`hyperfit_tasks.analysis.agreement`'s; this command only reads the text and loads the models.

    hyperfit-agreement RUN_A RUN_B --data heldout.jsonl --block-size 256 --limit 64 --json agreement.json
"""

from __future__ import annotations

import argparse
import sys

from hyperfit_tasks.analysis.agreement import AgreementError, top1_statistics
from hyperfit_tasks.analysis.heldout_pair import add_pair_arguments, heldout_pair, report, run_pair_command
from hyperfit_tasks.common.errors import OneLineArgumentParser
from hyperfit_tasks.common.json_rows import json_safe

DEFAULT_LIMIT = 64


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="hyperfit-agreement",
        description="Top-1 agreement between two causal LMs that share a tokenizer, on held-out text.",
    )
    models = {
        "model_a": "first model: local folder (or hub id when online)",
        "model_b": "second model, same tokenizer as the first",
    }
    add_pair_arguments(parser, models, DEFAULT_LIMIT)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``hyperfit-agreement``, ``python -m hyperfit_tasks.cli.agreement``)."""
    return run_pair_command(make_parser(), run, argv)


def run(args: argparse.Namespace) -> None:
    """Measure, print and (with ``--json``) write the agreement of ``args.model_a`` and ``args.model_b``."""
    _, model_a, model_b, blocks = heldout_pair(args, args.model_a, args.model_b, AgreementError)
    results = top1_statistics(model_a, model_b, blocks, args.batch_size)
    results = {
        "model_a": args.model_a,
        "model_b": args.model_b,
        "data": str(args.data),
        "block_size": args.block_size,
        **results,
    }
    lines = [
        f"top-1 agreement {results['top1_agreement']:.4f} over {results['positions']} positions ({results['blocks']} "
        "blocks)"
    ]
    for label, key in (
        ("mean top-1 probability", "mean_top1_prob"),
        ("top-1 accuracy", "top1_accuracy"),
        ("top-1 prob when right", "top1_prob_correct"),
        ("top-1 prob when wrong", "top1_prob_wrong"),
        ("ECE (10 equal-mass bins)", "ece"),
    ):
        lines.append(f"{label + ':':25} A {results[key + '_a']:.4f}, B {results[key + '_b']:.4f}")
    report("\n".join(lines), json_safe(results), args.json_path)  # NaN (a model never right, or never wrong) as null


if __name__ == "__main__":
    sys.exit(main())
