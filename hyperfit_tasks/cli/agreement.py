"""``hyperfit-agreement``: how often two models make the same top-1 next-token prediction.

The paper reports that hyperfitting on a shuffled order of the same data changed about 30% of the
top-1 predictions. This command reads held-out text, tokenizes it once (both models must share a
tokenizer), concatenates the documents separated by EOS and cuts fixed-length blocks. At every
position that has a next token in its block, it compares the two models' argmax tokens, and reports:

- ``top1_agreement``: share of positions where the two top-1 tokens are equal (1.0 for a model
  against itself);
- ``mean_top1_prob_a`` / ``_b``: mean probability each model gives to its own top-1 token
  (sharpening raises it);
- ``top1_accuracy_a`` / ``_b``: share of positions where the top-1 token is the actual next token.

    hyperfit-agreement RUN_A RUN_B --data heldout.jsonl --block-size 256 --limit 64 --json agreement.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyperfit_tasks.common.training_tokens import read_texts
from hyperfit_tasks.assets import corpus_path
from hyperfit_tasks.common.atomic import write_json_atomic
from hyperfit_tasks.common.errors import HyperfitError, OneLineArgumentParser, run_command

DEFAULT_BLOCK_SIZE = 256
DEFAULT_LIMIT = 64


class AgreementError(HyperfitError, ValueError):
    """Unusable input for the agreement command (one-line message with the fix)."""


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


def token_blocks(texts: list[str], tokenizer, block_size: int, limit: int):
    """LongTensor (blocks, block_size): the texts tokenized, joined by EOS, cut into full blocks."""
    import torch

    if block_size < 2:
        raise AgreementError(f"--block-size must be >= 2 (a position needs a next token), got {block_size}")
    ids: list[int] = []
    separator = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    for encoded in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]:
        ids += encoded + separator
    count = len(ids) // block_size
    if limit:
        count = min(count, limit)
    if count == 0:
        raise AgreementError(f"the data has {len(ids)} tokens, fewer than one block of {block_size}: lower --block-size or give more text")
    return torch.tensor(ids[: count * block_size]).view(count, block_size)


def load_pair(model_a: str, model_b: str, device: str):
    """(tokenizer, model A, model B); errors when a model is missing or the vocabularies differ."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def load(name: str):
        if name.startswith(("/", ".", "~")) and not Path(name).expanduser().is_dir():
            raise AgreementError(f"model folder not found: {name}: give a saved model folder (config.json, weights, tokenizer)")
        try:
            return AutoTokenizer.from_pretrained(name), AutoModelForCausalLM.from_pretrained(name).to(device).eval()
        except (OSError, ValueError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise AgreementError(f"cannot load model {name!r} ({first_line}): give a local model folder") from None

    tokenizer_a, model_a_loaded = load(model_a)
    tokenizer_b, model_b_loaded = (tokenizer_a, model_a_loaded) if model_b == model_a else load(model_b)
    if tokenizer_a.get_vocab() != tokenizer_b.get_vocab():
        raise AgreementError(
            f"the models do not share a tokenizer ({len(tokenizer_a)} vs {len(tokenizer_b)} tokens, or different ids): "
            "top-1 agreement needs the same vocabulary"
        )
    return tokenizer_a, model_a_loaded, model_b_loaded


def top1_statistics(model_a, model_b, blocks, batch_size: int = 8, progress: bool = True) -> dict:
    """Agreement, mean top-1 probabilities and top-1 accuracies over all next-token positions."""
    import torch
    from tqdm.auto import tqdm

    sums = dict.fromkeys(("agree", "prob_a", "prob_b", "correct_a", "correct_b"), 0.0)
    positions = 0
    with torch.inference_mode(), tqdm(total=len(blocks), desc="top-1 agreement", unit="block", disable=not progress) as bar:
        for batch in blocks.split(batch_size):
            batch = batch.to(model_a.device)
            logits_a = model_a(batch).logits[:, :-1].float()
            logits_b = model_b(batch.to(model_b.device)).logits[:, :-1].float().to(logits_a.device)
            if logits_a.shape != logits_b.shape:
                raise AgreementError(f"the models' output sizes differ ({logits_a.shape[-1]} vs {logits_b.shape[-1]} logits)")
            prob_a, top_a = top1(logits_a)
            prob_b, top_b = top1(logits_b)
            targets = batch[:, 1:]
            sums["agree"] += (top_a == top_b).sum().item()
            sums["prob_a"] += prob_a.sum().item()
            sums["prob_b"] += prob_b.sum().item()
            sums["correct_a"] += (top_a == targets).sum().item()
            sums["correct_b"] += (top_b == targets).sum().item()
            positions += targets.numel()
            bar.update(len(batch))
    return {
        "top1_agreement": sums["agree"] / positions,
        "mean_top1_prob_a": sums["prob_a"] / positions,
        "mean_top1_prob_b": sums["prob_b"] / positions,
        "top1_accuracy_a": sums["correct_a"] / positions,
        "top1_accuracy_b": sums["correct_b"] / positions,
        "positions": positions,
        "blocks": len(blocks),
    }


def top1(logits):
    """(probability, id) of the most likely token at every position, without a full softmax copy."""
    top_logit, top_id = logits.max(-1)
    return (top_logit - logits.logsumexp(-1)).exp(), top_id



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
