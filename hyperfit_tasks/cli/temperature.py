"""``hyperfit-temperature``: the temperature at which the base model is as uncertain as the hyperfitted one.

Is hyperfitting more than a sharper distribution? This command measures both models' mean
next-token entropy on the held-out blocks ``hyperfit-agreement`` scores (same text, tokenization
and positions; the first ``--limit`` blocks), then finds by bisection the temperature T at which
the base model's mean entropy equals the hyperfitted model's (to ``--tolerance`` nats). The base
model runs once; its logits are kept and re-scaled for every T tried
(:mod:`hyperfit_tasks.analysis.temperature`). Sample the base model at that T with
``--tasks hyperfit_continuation_top_p --gen_kwargs temperature=T,top_p=1.0,top_k=0`` (docs/controls.md).

    hyperfit-temperature BASE RUN --data heldout.jsonl --limit 16 --json temperature.json
"""

from __future__ import annotations

import argparse
import sys

from hyperfit_tasks.analysis.heldout_pair import add_pair_arguments, heldout_pair, report, run_pair_command
from hyperfit_tasks.analysis.temperature import (
    TemperatureRangeError,
    block_entropies,
    entropy_at_temperature,
    entropy_slope,
    match_temperature,
    next_token_logits,
    temperature_interval,
)
from hyperfit_tasks.common.errors import HyperfitError, OneLineArgumentParser

DEFAULT_LIMIT = 16  # the base model's logits are kept: blocks x (block size - 1) x vocabulary floats


class TemperatureError(HyperfitError, ValueError):
    """Unusable input for the temperature command (one-line message with the fix)."""


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="hyperfit-temperature",
        description="Temperature at which the base model's mean next-token entropy equals the hyperfitted model's.",
    )
    models = {
        "base": "base model: local folder (or hub id when online)",
        "hyperfitted": "hyperfitted model, same tokenizer as the base",
    }
    add_pair_arguments(parser, models, DEFAULT_LIMIT, "; memory: blocks x block size x vocabulary x 4 bytes")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="nats between the two mean entropies at the answer (default: 0.01)",
    )
    parser.add_argument(
        "--min-temperature", type=float, default=0.05, help="lowest temperature searched (default: 0.05)"
    )
    parser.add_argument(
        "--max-temperature", type=float, default=4.0, help="highest temperature searched (default: 4.0)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``hyperfit-temperature``, ``python -m hyperfit_tasks.cli.temperature``)."""
    return run_pair_command(make_parser(), run, argv)


def run(args: argparse.Namespace) -> None:
    """Measure both entropies, search the matching temperature, print it and (with ``--json``) write it."""
    if not 0 < args.min_temperature < args.max_temperature:
        raise TemperatureError(
            f"the search range needs 0 < --min-temperature < --max-temperature, got {args.min_temperature} and "
            f"{args.max_temperature}"
        )
    if not args.tolerance > 0:
        raise TemperatureError(f"--tolerance must be > 0 nats, got {args.tolerance}")
    _, base, hyperfitted, blocks = heldout_pair(args, args.base, args.hyperfitted, TemperatureError)
    hyperfitted_entropy = block_entropies(hyperfitted, blocks, args.batch_size, "hyperfitted entropy")
    base_logits = next_token_logits(base, blocks, args.batch_size, "base logits")
    target = hyperfitted_entropy.mean().item()
    base_entropy = entropy_at_temperature(base_logits, 1.0).mean().item()
    try:
        temperature, matched, steps = match_temperature(
            base_logits, target, low=args.min_temperature, high=args.max_temperature, tolerance=args.tolerance
        )
    except TemperatureRangeError as error:
        fix = "lower --min-temperature" if error.side == "low" else "raise --max-temperature"
        raise TemperatureError(
            f"the hyperfitted model's mean entropy {target:.4f} nats needs T outside [{args.min_temperature:g}, "
            f"{args.max_temperature:g}] for the base (whose entropy is {base_entropy:.4f} at T=1): {fix}"
        ) from None
    interval = temperature_interval(
        entropy_at_temperature(base_logits, temperature).mean(-1),
        hyperfitted_entropy.mean(-1),
        entropy_slope(base_logits, temperature),
        temperature,
    )
    results = {
        "base": args.base,
        "hyperfitted": args.hyperfitted,
        "data": str(args.data),
        "block_size": args.block_size,
        "temperature": temperature,
        "temperature_ci95": interval,
        "base_entropy": base_entropy,
        "base_entropy_at_temperature": matched,
        "hyperfitted_entropy": target,
        "tolerance": args.tolerance,
        "search_range": [args.min_temperature, args.max_temperature],
        "entropy_evaluations": steps,
        "positions": hyperfitted_entropy.numel(),
        "blocks": len(blocks),
    }
    spread = f"95% interval {interval[0]:.3f}-{interval[1]:.3f} over blocks" if interval else "one block: no interval"
    report(
        f"entropy-matched temperature T = {temperature:.4f} ({spread})\n"
        f"mean next-token entropy (nats): base {base_entropy:.4f} at T=1, {matched:.4f} at T={temperature:.4f}; "
        f"hyperfitted {target:.4f} ({results['positions']} positions, {len(blocks)} blocks)",
        results,
        args.json_path,
    )


if __name__ == "__main__":
    sys.exit(main())
