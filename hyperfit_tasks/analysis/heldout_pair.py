"""What ``hyperfit-agreement`` and ``hyperfit-temperature`` share: two models that share a tokenizer, on the same
held-out blocks."""

from __future__ import annotations

import argparse
from pathlib import Path

from hyperfit_tasks.analysis.agreement import AgreementError, token_blocks
from hyperfit_tasks.assets import corpus_path
from hyperfit_tasks.common.atomic import write_json_atomic
from hyperfit_tasks.common.errors import HyperfitError, first_line, run_command
from hyperfit_tasks.common.text_files import read_texts

DEFAULT_BLOCK_SIZE = 256


def add_pair_arguments(
    parser: argparse.ArgumentParser, models: dict[str, str], default_limit: int, limit_note: str = ""
) -> None:
    """The two model positionals (name -> help), the held-out text and its blocks, device, ``--json`` and
    ``--debug``."""
    for name, help_text in models.items():
        parser.add_argument(name, help=help_text)
    parser.add_argument(
        "--data",
        type=Path,
        help='held-out text: .jsonl with one {"text": ...} per line, or a plain text file '
        "(default: the Austen held-out split of hyperfit-assets)",
    )
    parser.add_argument(
        "--block-size", type=int, default=DEFAULT_BLOCK_SIZE, help=f"tokens per block (default: {DEFAULT_BLOCK_SIZE})"
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=default_limit,
        help=f"at most this many blocks (default: {default_limit}; 0 = all){limit_note}",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="blocks per forward pass (default: 8)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--json", type=Path, dest="json_path", help="also write the results to this JSON file")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def run_pair_command(parser: argparse.ArgumentParser, run, argv: list[str] | None) -> int:
    """Parse ``argv`` and run ``run(args)`` as a console script (one-line errors, Ctrl-C leaves a --json file
    whole)."""
    args = parser.parse_args(argv)
    return run_command(
        parser.prog,
        lambda: run(args),
        debug=args.debug,
        interrupted="interrupted: a --json file already there keeps its previous version",
    )


def report(text: str, results: dict, json_path: Path | None) -> None:
    """Print ``text`` and, with ``--json``, write ``results`` there atomically."""
    print(text)
    if json_path:
        write_json_atomic(json_path, results)
        print(f"wrote {json_path}")


def heldout_pair(args: argparse.Namespace, model_a: str, model_b: str, error: type[HyperfitError]):
    """(tokenizer, model A, model B, blocks) of ``args.data`` (default: held-out Austen); ``error`` names a missing
    file."""
    if args.data is None:
        args.data = corpus_path("austen", "heldout")
    if not args.data.is_file():
        raise error(f'data file not found: {args.data}: give a .jsonl ({{"text": ...}} per line) or a text file')
    texts = read_texts(args.data)
    tokenizer, loaded_a, loaded_b = load_pair(model_a, model_b, args.device)
    return tokenizer, loaded_a, loaded_b, token_blocks(texts, tokenizer, args.block_size, args.limit)


def load_pair(model_a: str, model_b: str, device: str):
    """(tokenizer, model A, model B); errors when a model is missing or the vocabularies differ."""
    from transformers import AutoModelForCausalLM

    from hyperfit_tasks.metrics.text_units import load_tokenizer

    def load(name: str):
        if name.startswith(("/", ".", "~")) and not Path(name).expanduser().is_dir():
            raise AgreementError(
                f"model folder not found: {name}: give a saved model folder (config.json, weights, tokenizer)"
            )
        try:
            return load_tokenizer(name), AutoModelForCausalLM.from_pretrained(name).to(device).eval()
        except (OSError, ValueError) as error:
            raise AgreementError(
                f"cannot load model {name!r} ({first_line(error)}): give a local model folder"
            ) from None

    tokenizer_a, model_a_loaded = load(model_a)
    tokenizer_b, model_b_loaded = (tokenizer_a, model_a_loaded) if model_b == model_a else load(model_b)
    if tokenizer_a.get_vocab() != tokenizer_b.get_vocab():
        raise AgreementError(
            f"the models do not share a tokenizer ({len(tokenizer_a)} vs {len(tokenizer_b)} tokens, or different "
            "ids): top-1 agreement needs the same vocabulary"
        )
    return tokenizer_a, model_a_loaded, model_b_loaded
