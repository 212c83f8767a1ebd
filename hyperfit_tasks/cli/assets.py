"""``hyperfit-assets``: build the offline default model and corpora once, then show what was built."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.auto import tqdm

from hyperfit_tasks.assets import (
    DEFAULT_MODEL_NAME,
    DOMAIN_SPLITS,
    corpus_manifest,
    corpus_path,
    default_model_path,
    prepare_corpora,
)
from hyperfit_tasks.assets.cache import cache_root
from hyperfit_tasks.common.errors import OneLineArgumentParser, run_command


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="hyperfit-assets",
        description="Build (once) the embedded default base model and the default text corpora in the cache "
        f"({cache_root()}; set HYPERFIT_CACHE to move it). Safe to interrupt and re-run.",
    )
    parser.add_argument(
        "--austen-deb", type=Path, help="a local r-cran-janeaustenr .deb instead of `apt-get download`"
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="convert the default model from its GGUF file again, even if the cache holds one (e.g. one written by "
        "another transformers version)",
    )
    parser.add_argument(
        "--sample", action="store_true", help="print the base model's greedy continuation of one evaluation prompt"
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    return parser


def greedy_sample(model_dir: Path, prompt_tokens: int = 32, new_tokens: int = 64) -> tuple[str, str]:
    """Greedy continuation by the model of the first ``prompt_tokens`` tokens of the first Austen eval passage."""
    import json

    import torch
    from transformers import AutoModelForCausalLM

    from hyperfit_tasks.metrics.text_units import load_tokenizer

    text = json.loads(corpus_path("austen", "eval").read_text(encoding="utf-8").splitlines()[0])["text"]
    tokenizer = load_tokenizer(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompt_ids = tokenizer(text, return_tensors="pt").input_ids[:, :prompt_tokens]
    with torch.no_grad():
        output = model.generate(
            prompt_ids, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id
        )
    return tokenizer.decode(prompt_ids[0]), tokenizer.decode(
        output[0, prompt_ids.shape[1] :], skip_special_tokens=True
    )


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    args = make_parser().parse_args(argv)
    return run_command(
        "hyperfit-assets",
        lambda: build_and_report(args),
        debug=args.debug,
        interrupted="interrupted: a half-built asset is never taken as complete; run the same command again",
    )


def build_and_report(args: argparse.Namespace) -> None:
    """Build (or find) both assets, print where they are, and with ``--sample`` a greedy continuation."""
    with tqdm(total=2, desc="hyperfit assets", unit="asset") as bar:
        bar.set_postfix_str("corpora")
        prepare_corpora(args.austen_deb, progress=bar.write)
        bar.update()
        bar.set_postfix_str("default model")
        model_dir = default_model_path(rebuild=args.rebuild)
        bar.update()
    print(f"default model: {DEFAULT_MODEL_NAME}\n  {model_dir}")
    manifest = corpus_manifest()
    for name in (f"{domain}/{split}" for domain, splits in DOMAIN_SPLITS.items() for split in splits):
        entry = manifest[name]
        print(f"corpus {name}: {entry['documents']} passages, {entry['words']} words, sha256 {entry['sha256'][:12]}")
    if args.sample:
        prompt, continuation = greedy_sample(model_dir)
        print(f"\nprompt (32 tokens of austen/eval): {prompt!r}\ngreedy continuation: {continuation!r}")


if __name__ == "__main__":
    sys.exit(main())
