"""Benchmark hyperfit's Self-BLEU against nltk (the definition) and fast-bleu (a C++ library).

Texts are seeded synthetic "continuations": token ids drawn from a Zipf-like distribution over
``--vocab`` ids, with occasional copies of earlier spans of the same text (greedy decoding loops).
Prints seconds, speed-ups, the largest absolute difference to nltk / fast-bleu and the growth
exponent (slope of log time against log N); writes the numbers to a JSON file (atomically).

    python benchmarks/bench_self_bleu.py            # full run (a few minutes; nltk is slow)
    python benchmarks/bench_self_bleu.py --quick    # small sizes, seconds
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from fast_bleu import SelfBLEU
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from record import RESULTS_DIR, record_head  # benchmarks/record.py

from hyperfit_tasks.common.atomic import write_json_atomic
from hyperfit_tasks.metrics import self_bleu_per_doc


def make_continuations(num_docs: int, length: int, vocab: int, seed: int) -> list[list[int]]:
    """Zipf-like token ids; at each step a 5% chance to copy a 4-16 token span from earlier in the text."""
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, vocab + 1)
    probs /= probs.sum()
    docs = []
    for _ in range(num_docs):
        fresh = rng.choice(vocab, size=length, p=probs).tolist()
        doc: list[int] = []
        while len(doc) < length:
            if len(doc) > 16 and rng.random() < 0.05:
                start = int(rng.integers(0, len(doc) - 4))
                doc.extend(doc[start : start + int(rng.integers(4, 17))])
            else:
                doc.append(fresh[len(doc)])
        docs.append(doc[:length])
    return docs


def nltk_per_doc(docs: list[list[int]], max_n: int) -> list[float]:
    smoothing = SmoothingFunction().method1
    weights = (1 / max_n,) * max_n
    return [
        sentence_bleu(docs[:i] + docs[i + 1 :], doc, weights=weights, smoothing_function=smoothing)
        for i, doc in enumerate(docs)
    ]


def fast_bleu_per_doc(docs: list[list[int]], max_n: int) -> list[float]:
    return SelfBLEU(docs, {max_n: (1 / max_n,) * max_n}).get_score()[max_n]


def timed(function, docs, max_n, repeat):
    """(best wall seconds over ``repeat`` runs, result of the last run)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(docs, max_n)
        best = min(best, time.perf_counter() - start)
    return best, result


def growth_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(N): 1 = linear, 2 = quadratic."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0]) if len(sizes) >= 2 else math.nan


def compare(name, reference, sizes, args):
    rows = []
    for num_docs in sizes:
        docs = make_continuations(num_docs, args.length, args.vocab, args.seed)
        ours_s, ours = timed(self_bleu_per_doc, docs, args.max_n, args.repeat)
        ref_s, ref = timed(reference, docs, args.max_n, 1)
        row = {
            "num_docs": num_docs,
            "ours_s": round(ours_s, 4),
            f"{name}_s": round(ref_s, 4),
            "speedup": round(ref_s / ours_s, 1),
            "max_abs_diff": float(np.max(np.abs(np.asarray(ours) - np.asarray(ref)))),
            "self_bleu": float(np.mean(ours)),
        }
        rows.append(row)
        print(
            f"  N={num_docs:>5}  ours {ours_s:8.3f} s  {name} {ref_s:8.3f} s  x{ref_s / ours_s:7.1f}"
            f"  max|diff| {row['max_abs_diff']:.1e}  self-BLEU {row['self_bleu']:.4f}",
            flush=True,
        )
    exponents = {
        "ours": growth_exponent(sizes, [row["ours_s"] for row in rows]),
        name: growth_exponent(sizes, [row[f"{name}_s"] for row in rows]),
    }
    print(f"  growth exponent (log time / log N): ours {exponents['ours']:.2f}, {name} {exponents[name]:.2f}")
    return {"rows": rows, "growth_exponent": exponents}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (nltk N=20,50; fast-bleu N=100,300,1000)")
    parser.add_argument("--nltk-sizes", type=int, nargs="+", help="N for the nltk comparison (default 100 200 500)")
    parser.add_argument(
        "--fast-bleu-sizes", type=int, nargs="+", help="N for fast-bleu (default 100 500 1000 2000 5000)"
    )
    parser.add_argument("--length", type=int, default=256, help="tokens per continuation")
    parser.add_argument("--vocab", type=int, default=5000, help="number of distinct token ids")
    parser.add_argument("--max-n", type=int, default=4, help="BLEU order")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours per size (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="JSON file (default results/self_bleu.json, _quick with --quick)")
    args = parser.parse_args(argv)
    args.nltk_sizes = args.nltk_sizes or ([20, 50] if args.quick else [100, 200, 500])
    args.fast_bleu_sizes = args.fast_bleu_sizes or ([100, 300, 1000] if args.quick else [100, 500, 1000, 2000, 5000])
    args.output = args.output or RESULTS_DIR / ("self_bleu_quick.json" if args.quick else "self_bleu.json")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    print(f"Self-BLEU-{args.max_n}, {args.length}-token continuations, vocab {args.vocab}, seed {args.seed}")
    print("vs nltk sentence_bleu loop (the definition):", flush=True)
    vs_nltk = compare("nltk", nltk_per_doc, args.nltk_sizes, args)
    print("vs fast_bleu.SelfBLEU:", flush=True)
    vs_fast_bleu = compare("fast_bleu", fast_bleu_per_doc, args.fast_bleu_sizes, args)
    payload = {
        **record_head("self_bleu", args, ("numpy", "nltk", "fast-bleu")),
        "vs_nltk": vs_nltk,
        "vs_fast_bleu": vs_fast_bleu,
    }
    write_json_atomic(args.output, payload)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
