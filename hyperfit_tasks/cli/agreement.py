"""``hyperfit-agreement``: how often two models make the same top-1 next-token prediction, on held-out text.

The statistics are :mod:`hyperfit_tasks.metrics.agreement`'s; this command only reads the text and loads the models.

    hyperfit-agreement RUN_A RUN_B --data heldout.jsonl --block-size 256 --limit 64 --json agreement.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyperfit_tasks.assets import corpus_path
from hyperfit_tasks.common.atomic import write_json_atomic
from hyperfit_tasks.common.errors import OneLineArgumentParser, first_line, run_command
from hyperfit_tasks.common.text_files import read_texts
from hyperfit_tasks.metrics.agreement import AgreementError, token_blocks, top1_statistics

DEFAULT_BLOCK_SIZE = 256
DEFAULT_LIMIT = 64


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="hyperfit-agreement",
        description="Top-1 agreement between two causal LMs that share a tokenizer, on held-out text.",
    )
    parser.add_argument("model_a", help="first model: local folder (or hub id when online)")
    parser.add_argument("model_b", help="second model, same tokenizer as the first")
    parser.add_argument(
        "--data",
        type=Path,
        help="held-out text: .jsonl with one {\"text\": ...} per line, or a plain text file "
        "(default: the Austen held-out split of hyperfit-assets)",
    )
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE, help=f"tokens per block (default: {DEFAULT_BLOCK_SIZE})")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many blocks (default: {DEFAULT_LIMIT}; 0 = all)")
    parser.add_argument("--batch-size", type=int, default=8, help="blocks per forward pass (default: 8)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--json", type=Path, dest="json_path", help="also write the results to this JSON file")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


def load_pair(model_a: str, model_b: str, device: str):
    """(tokenizer, model A, model B); errors when a model is missing or the vocabularies differ."""
    from transformers import AutoModelForCausalLM

    from hyperfit_tasks.metrics.text_units import load_tokenizer

    def load(name: str):
        if name.startswith(("/", ".", "~")) and not Path(name).expanduser().is_dir():
            raise AgreementError(f"model folder not found: {name}: give a saved model folder (config.json, weights, tokenizer)")
        try:
            return load_tokenizer(name), AutoModelForCausalLM.from_pretrained(name).to(device).eval()
        except (OSError, ValueError) as error:
            raise AgreementError(f"cannot load model {name!r} ({first_line(error)}): give a local model folder") from None

    tokenizer_a, model_a_loaded = load(model_a)
    tokenizer_b, model_b_loaded = (tokenizer_a, model_a_loaded) if model_b == model_a else load(model_b)
    if tokenizer_a.get_vocab() != tokenizer_b.get_vocab():
        raise AgreementError(
            f"the models do not share a tokenizer ({len(tokenizer_a)} vs {len(tokenizer_b)} tokens, or different ids): "
            "top-1 agreement needs the same vocabulary"
        )
    return tokenizer_a, model_a_loaded, model_b_loaded


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``hyperfit-agreement``, ``python -m hyperfit_tasks.cli.agreement``)."""
    args = make_parser().parse_args(argv)
    return run_command(
        "hyperfit-agreement", lambda: run(args), debug=args.debug,
        interrupted="interrupted: a --json file already there keeps its previous version",
    )


def run(args: argparse.Namespace) -> None:
    """Measure, print and (with ``--json``) write the agreement of ``args.model_a`` and ``args.model_b``."""
    if args.data is None:
        args.data = corpus_path("austen", "heldout")
    if not args.data.is_file():
        raise AgreementError(f"data file not found: {args.data}: give a .jsonl ({{\"text\": ...}} per line) or a text file")
    texts = read_texts(args.data)
    tokenizer, model_a, model_b = load_pair(args.model_a, args.model_b, args.device)
    blocks = token_blocks(texts, tokenizer, args.block_size, args.limit)
    results = top1_statistics(model_a, model_b, blocks, args.batch_size)
    results = {"model_a": args.model_a, "model_b": args.model_b, "data": str(args.data), "block_size": args.block_size, **results}
    print(
        f"top-1 agreement {results['top1_agreement']:.4f} over {results['positions']} positions ({results['blocks']} blocks)\n"
        f"mean top-1 probability: A {results['mean_top1_prob_a']:.4f}, B {results['mean_top1_prob_b']:.4f}\n"
        f"top-1 accuracy:         A {results['top1_accuracy_a']:.4f}, B {results['top1_accuracy_b']:.4f}"
    )
    if args.json_path:
        write_json_atomic(args.json_path, results)
        print(f"wrote {args.json_path}")


if __name__ == "__main__":
    sys.exit(main())
