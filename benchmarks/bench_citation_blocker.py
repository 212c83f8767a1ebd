"""Benchmark the citation blocker: index build time and greedy-generation slow-down.

A seeded random "training set" (default 2,000 x 256 token ids over a 49,152-token vocabulary, the
paper's size and SmolLM2's vocabulary) is indexed for the blocker (K-gram dict) and for the copy
metrics (suffix array). A tiny in-process Llama (random weights, same vocabulary) then generates
greedily with and without the blocker, from random prompts (look-ups miss) and from prompts cut
out of the training set (look-ups hit and ban). A tiny model makes the blocker's share of the time
as large as it can be; a real model's forward pass is far slower, so its ratio is closer to 1.
For reference, transformers' own ``bad_words_ids`` (the same rule, every training K-gram listed)
is timed once on the training prompts, and its output compared with the blocker's. Prints the
numbers and writes them to a JSON file (atomically).

    python benchmarks/bench_citation_blocker.py            # about a minute on 2 CPU cores
    python benchmarks/bench_citation_blocker.py --quick    # smaller, seconds
    python benchmarks/bench_citation_blocker.py --new-tokens 64 --repeat 2 --threads 2 \
        --model "$(python -c 'from hyperfit_tasks.assets import default_model_path as p; print(p())')" \
        --output benchmarks/results/citation_blocker_smollm2.json   # the embedded SmolLM2-135M
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from record import RESULTS_DIR, record_head  # benchmarks/record.py
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, LogitsProcessorList

from hyperfit_tasks.common.atomic import write_json_atomic
from hyperfit_tasks.metrics.copy_rate import TrainingSpanIndex, copy_metrics
from hyperfit_tasks.models.citation_blocker import DEFAULT_BLOCK_LEN, CitationBlockerLogitsProcessor, NGramIndex


def timed(function, repeat: int):
    """(best wall seconds over ``repeat`` runs, result of the last run)."""
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def tiny_model(vocab: int, hidden: int, layers: int, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        eos_token_id=None,
        bos_token_id=None,
    )
    return LlamaForCausalLM(config).eval()


def generate(model, prompts, new_tokens, processors=(), **kwargs):
    """Greedy generation of exactly ``new_tokens`` tokens per prompt."""
    return model.generate(
        prompts,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=0,
        attention_mask=torch.ones_like(prompts),
        logits_processor=LogitsProcessorList(processors),
        **kwargs,
    )


def plain_and_blocked_seconds(model, prompts, new_tokens, processor, repeat):
    """Best seconds without and with the blocker, runs interleaved (fair under a shared, noisy CPU)."""
    plain, blocked, output = math.inf, math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        generate(model, prompts, new_tokens)
        plain = min(plain, time.perf_counter() - start)
        start = time.perf_counter()
        output = generate(model, prompts, new_tokens, [processor])
        blocked = min(blocked, time.perf_counter() - start)
    return plain, blocked, output


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 training blocks, 64 new tokens, 1 repeat")
    parser.add_argument("--blocks", type=int, help="training blocks (default 2000)")
    parser.add_argument("--block-tokens", type=int, default=256, help="tokens per training block")
    parser.add_argument("--vocab", type=int, default=49152, help="vocabulary size (SmolLM2's by default)")
    parser.add_argument("--block-len", type=int, default=DEFAULT_BLOCK_LEN, help="K of the blocker")
    parser.add_argument("--batch", type=int, default=8, help="prompts generated together")
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, help="generated tokens per prompt (default 256)")
    parser.add_argument(
        "--model",
        help="a saved model folder to time instead of the tiny random one (its vocabulary must cover --vocab)",
    )
    parser.add_argument("--hidden", type=int, default=64, help="tiny model width")
    parser.add_argument("--layers", type=int, default=2, help="tiny model depth")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: steadier timings on a shared machine)"
    )
    parser.add_argument("--repeat", type=int, help="runs per timing, best kept (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output", type=Path, help="JSON file (default results/citation_blocker.json, _quick with --quick)"
    )
    args = parser.parse_args(argv)
    args.blocks = args.blocks or (200 if args.quick else 2000)
    args.new_tokens = args.new_tokens or (64 if args.quick else 256)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.output = args.output or RESULTS_DIR / (
        "citation_blocker_quick.json" if args.quick else "citation_blocker.json"
    )
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    training = rng.integers(0, args.vocab, (args.blocks, args.block_tokens))
    print(f"training set {args.blocks} x {args.block_tokens} random ids (vocab {args.vocab}), K = {args.block_len}")

    index_s, index = timed(lambda: NGramIndex(training, args.block_len), args.repeat)
    span_s, spans = timed(lambda: TrainingSpanIndex(training), args.repeat)
    print(f"  blocker index build   {index_s:7.3f} s  ({len(index)} distinct {args.block_len}-grams)")
    print(f"  copy-metric index     {span_s:7.3f} s  (suffix array)")
    copied = training[1, : args.new_tokens]
    fresh = rng.integers(0, args.vocab, args.new_tokens)
    metrics_s, _ = timed(lambda: (copy_metrics(copied, spans), copy_metrics(fresh, spans)), args.repeat)
    print(f"  copy metrics          {metrics_s / 2 * 1000:7.2f} ms per {args.new_tokens}-token continuation")

    if args.model:
        model = AutoModelForCausalLM.from_pretrained(args.model).eval()
        print(f"  model {args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters)")
    else:
        model = tiny_model(args.vocab, args.hidden, args.layers, args.seed)
    processor = CitationBlockerLogitsProcessor(index)
    prompt_sets = {
        "random_prompts": torch.from_numpy(rng.integers(0, args.vocab, (args.batch, args.prompt_tokens))),
        "training_prompts": torch.from_numpy(training[: args.batch, : args.prompt_tokens].copy()),
    }
    generation = {}
    for name, prompts in prompt_sets.items():
        plain_s, blocked_s, output = plain_and_blocked_seconds(model, prompts, args.new_tokens, processor, args.repeat)
        sequences = output.tolist()
        copied_kgrams = sum(
            tuple(row[end - args.block_len + 1 : end + 1]) in index
            for row in sequences
            for end in range(args.prompt_tokens, len(row))
        )
        generation[name] = {
            "plain_s": round(plain_s, 4),
            "blocked_s": round(blocked_s, 4),
            "ratio": round(blocked_s / plain_s, 3),
            "training_kgrams_in_blocked_output": copied_kgrams,
        }
        print(
            f"  generate {name:16s} plain {plain_s:7.3f} s  blocked {blocked_s:7.3f} s  ratio "
            f"{blocked_s / plain_s:5.3f}"
        )

    # the blocker alone, per generation step of the batch (sequences of prompt + new-token length)
    length = min(
        args.prompt_tokens + args.new_tokens, args.block_tokens - 1
    )  # ends inside a block: every look-up hits
    window = torch.from_numpy(training[: args.batch, :length].copy())
    scores = torch.zeros(args.batch, args.vocab)
    steps = 200
    step_s, _ = timed(lambda: [processor(window, scores) for _ in range(steps)], args.repeat)
    per_step_us = step_s / steps * 1e6
    print(f"  blocker alone         {per_step_us:7.1f} us per step (batch {args.batch}, look-ups that hit)")

    # transformers' own implementation of the same rule: bad_words_ids = every training K-gram
    starts = range(args.block_tokens - args.block_len + 1)
    bad_words = [
        list(gram) for gram in {tuple(row[i : i + args.block_len]) for row in training.tolist() for i in starts}
    ]
    prompts = prompt_sets["training_prompts"]
    reference_s, reference = timed(lambda: generate(model, prompts, args.new_tokens, bad_words_ids=bad_words), 1)
    ours = generate(model, prompts, args.new_tokens, [processor])
    bad_words_result = {
        "bad_words_ids_s": round(reference_s, 4),
        "blocked_s": generation["training_prompts"]["blocked_s"],
        "times_slower": round(reference_s / generation["training_prompts"]["blocked_s"], 1),
        "same_output": bool(torch.equal(ours, reference)),
    }
    print(
        f"  transformers bad_words_ids (all {len(bad_words)} K-grams): {reference_s:.3f} s, "
        f"{bad_words_result['times_slower']}x the blocker's time; same output: {bad_words_result['same_output']}"
    )

    payload = {
        **record_head("citation_blocker", args, ("numpy", "torch", "transformers")),
        "index_build_s": round(index_s, 4),
        "distinct_kgrams": len(index),
        "copy_metric_index_build_s": round(span_s, 4),
        "copy_metrics_ms_per_continuation": round(metrics_s / 2 * 1000, 3),
        "generation": generation,
        "blocker_us_per_step": round(per_step_us, 2),
        "vs_transformers_bad_words_ids": bad_words_result,
    }
    write_json_atomic(args.output, payload)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
