"""Benchmark the cost of scoring ``hyperfit_continuation`` against the cost of generating its continuations.

The tasks are built by lm-eval's own ``TaskManager`` from ``task_configs/`` (as ``hyperfit-lm-eval``
does), so scoring runs the tasks' own ``process_results`` (every per-text metric) and
``aggregation()`` functions (distinct-n, Self-BLEU, MSTTR and MAUVE, its MiniLM featurisation
included; the training-copy metrics need ``--metadata training_data`` and are not run here).
Generation is greedy, batched and left-padded, as lm-eval's ``hf`` model does it, on the default
model (SmolLM2-135M) and the first ``--prompts`` documents of each task of the group.

Scoring is timed twice: "cold" (the first pass in the process, which loads the MiniLM featurizer,
as a real lm-eval run does; the metric tokenizer is loaded when the task is built) and "warm" (a
second pass). Generation excludes loading the model.
Target: cold scoring under 10% of generation.

    python benchmarks/bench_scoring_cost.py                  # 16 prompts x the tasks' 256 tokens, ~2 min on 2 cores
    python benchmarks/bench_scoring_cost.py --prompts 50     # closer to a real run
"""

from __future__ import annotations

import argparse
import time

import torch
from record import add_model_arguments, record_head, resolve_model  # benchmarks/record.py

from hyperfit_tasks.common.atomic import write_json_atomic

GROUP_TASKS = ("hyperfit_continuation_austen", "hyperfit_continuation_pydoc")


def load_tasks(names, model_path: str) -> dict:
    """The lm-eval task objects, built as ``hyperfit-lm-eval --model_args pretrained=<model_path>`` builds them."""
    from lm_eval.tasks import TaskManager, get_task_dict

    from hyperfit_tasks.cli.tasks_path import task_configs_dir

    manager = TaskManager(include_path=task_configs_dir(), metadata={"pretrained": model_path})
    return get_task_dict(list(names), manager)


def generate(model, tokenizer, prompts: list[str], new_tokens: int, batch_size: int) -> list[str]:
    """Greedy continuations (left-padded batches, no stop string), decoded without special tokens."""
    outputs = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True)
        with torch.no_grad():
            ids = model.generate(
                **batch, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        outputs += tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return outputs


def score(tasks: dict, docs: dict, continuations: dict) -> tuple[dict, dict]:
    """Run every task's ``process_results`` and aggregations; returns (metric values, seconds per stage)."""
    seconds = {"process_results": 0.0}
    values = {}
    for name, task in tasks.items():
        start = time.perf_counter()
        items: dict[str, list] = {}
        for doc, text in zip(docs[name], continuations[name]):
            for metric, item in task.process_results(doc, [text]).items():
                items.setdefault(metric, []).append(item)
        seconds["process_results"] += time.perf_counter() - start
        aggregations = task.aggregation()
        for metric, collected in items.items():  # as lm-eval: the metrics process_results returned
            start = time.perf_counter()
            values[f"{name}/{metric}"] = float(aggregations[metric](collected))
            key = f"aggregate_{metric}" if metric in ("mauve", "self_bleu") else "aggregate_other"
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    return values, seconds


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--prompts", type=int, default=8, help="documents per task (2 tasks; default 8 -> 16 continuations)"
    )
    parser.add_argument(
        "--new-tokens", type=int, help="tokens generated per continuation (default: the tasks' max_gen_toks, 256)"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="generation batch size (default 8)")
    add_model_arguments(parser, "scoring_cost.json")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    resolve_model(args)
    tasks = load_tasks(GROUP_TASKS, args.model)
    docs = {name: list(task.test_docs())[: args.prompts] for name, task in tasks.items()}
    if args.new_tokens is None:
        args.new_tokens = max(task.config.generation_kwargs["max_gen_toks"] for task in tasks.values())
    tokenizer = AutoTokenizer.from_pretrained(args.model, padding_side="left")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    count = sum(len(found) for found in docs.values())
    print(
        f"{count} prompts ({', '.join(docs)}), {args.new_tokens} new tokens, {torch.get_num_threads()} threads, model "
        f"{args.model}"
    )

    start = time.perf_counter()
    continuations = {
        name: generate(
            model, tokenizer, [tasks[name].doc_to_text(doc) for doc in found], args.new_tokens, args.batch_size
        )
        for name, found in docs.items()
    }
    generation_s = time.perf_counter() - start
    print(f"  generation      {generation_s:8.2f} s")
    values, cold = score(tasks, docs, continuations)
    _, warm = score(tasks, docs, continuations)
    for label, seconds in (("cold", cold), ("warm", warm)):
        stages = ", ".join(f"{key} {value:.2f}" for key, value in seconds.items() if key != "total")
        print(
            f"  scoring {label:6s}  {seconds['total']:8.2f} s  = {100 * seconds['total'] / generation_s:5.1f}% of "
            f"generation ({stages})"
        )

    payload = {
        **record_head("scoring_cost", args, ("torch", "transformers", "lm_eval")),
        "task_versions": {name: (task.config.metadata or {}).get("version") for name, task in tasks.items()},
        "continuations": count,
        "generation_s": round(generation_s, 3),
        "scoring_cold_s": {key: round(value, 3) for key, value in cold.items()},
        "scoring_warm_s": {key: round(value, 3) for key, value in warm.items()},
        "ratio_cold": round(cold["total"] / generation_s, 4),
        "ratio_warm": round(warm["total"] / generation_s, 4),
        "metrics": values,
    }
    write_json_atomic(args.output, payload)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
