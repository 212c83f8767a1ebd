"""Benchmark ``hyperfit_continuation`` generation through lm-eval's ``hf`` backend against the machine's bound.

For each ``--dtype`` (lm-eval's ``dtype`` model argument: ``float32``, ``bfloat16``, the weights and
arithmetic of generation) and each ``--batch-sizes`` value, lm-eval's ``HFLM`` (``--device``) runs ``generate_until``
on the group's requests (``hyperfit_continuation_austen`` and ``_pydoc``, built by lm-eval's
``TaskManager`` from ``task_configs/``, as ``hyperfit-lm-eval`` builds them): ``max(batch,
--min-prompts)`` prompts taken alternately from the two tasks, so every batch size fills at least
one batch. Tokens/s count the generated text re-encoded with the model's tokenizer (a batch keeps
decoding until its longest continuation ends, so ``slot_tokens_per_s``, prompts x max_gen_toks per
second, is also given).

The bound is measured in the same run (benchmarks/machine_bounds.py) and is the lower of:

* memory traffic: each decoding step of a batch of ``b`` reads every weight once plus the batch's
  KV cache (at the mean context, prompt + max_gen_toks / 2), at the measured copy bandwidth:
  ``b x bandwidth / (weight bytes + KV bytes)`` tokens/s;
* compute: ``2 x parameters + 4 x layers x hidden x context`` FLOP per token (matmuls and
  attention) at the measured matmul peak of that dtype (fp32 and bf16 peaks, both measured).

Weight and KV-cache bytes are those of the dtype (2 per value in bf16). Each row's ratio measured /
bound (its own dtype's bound) is printed and written to the JSON record, and per batch size the
bf16 / fp32 tokens/s.

To say what stops lm-eval's path short of the bound, each batch size is also run as a **bare
decoding loop**: the same model and batch, a prompt of the mean prompt length, greedy decoding by
calling the model with its KV cache and taking the argmax, nothing else (no ``generate``, no
lm-eval). lm-eval / bare is the cost of lm-eval's HF path (``generate``, padding, stop checks);
bare / bound is what the model's own kernels reach on this CPU. For the fastest row,
``torch.profiler`` over a few bare decoding steps gives the share of time per operator.

    python benchmarks/bench_generation.py                                    # default model, fp32 and bf16, batch 1..128
    python benchmarks/bench_generation.py --dtype float32 --batch-sizes 32 --max-gen-toks 64
    python benchmarks/bench_generation.py --model TINY --batch-sizes 1,2 --min-prompts 2 --max-gen-toks 8
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from machine_bounds import DTYPES, matmul_peaks, memory_bandwidth  # benchmarks/machine_bounds.py
from record import RESULTS_DIR, record_head  # benchmarks/record.py

GROUP_TASKS = ("hyperfit_continuation_austen", "hyperfit_continuation_pydoc")


def build_requests(model: str, max_gen_toks: int, count: int) -> list:
    """lm-eval ``generate_until`` Instances of the group's first documents, alternating tasks, ``count`` in all."""
    from lm_eval.tasks import TaskManager, get_task_dict

    from hyperfit_tasks.cli.tasks_path import task_configs_dir

    manager = TaskManager(include_path=task_configs_dir(), metadata={"pretrained": model})
    tasks = get_task_dict(list(GROUP_TASKS), manager)
    per_task = []
    for task in tasks.values():
        task.set_config(key="generation_kwargs", value={"max_gen_toks": max_gen_toks}, update=True)  # as --gen_kwargs
        task.build_all_requests(limit=(count + 1) // 2, rank=0, world_size=1)
        per_task.append(list(task.instances))
    interleaved = [instance for pair in zip(*per_task) for instance in pair]
    if len(interleaved) < count:
        raise SystemExit(f"bench_generation: the tasks hold {len(interleaved)} prompts, {count} needed: lower --min-prompts or the batch sizes")
    return interleaved[:count]


def model_shape(model) -> dict:
    """Parameter count, weight bytes (tied tensors once) and the KV-cache bytes per token of context."""
    config = model.config
    unique = {parameter.data_ptr(): parameter for parameter in model.parameters()}.values()
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    element = next(iter(unique)).element_size()
    return {
        "parameters": sum(parameter.numel() for parameter in unique),
        "weight_bytes": sum(parameter.numel() * parameter.element_size() for parameter in unique),
        "kv_bytes_per_token": 2 * config.num_hidden_layers * kv_heads * head_dim * element,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
    }


def bounds(shape: dict, batch: int, context: float, bandwidth: float, peak: float) -> dict:
    """Tokens/s at most for one decoding step of ``batch`` sequences at ``context`` tokens (see the module doc)."""
    step_bytes = shape["weight_bytes"] + shape["kv_bytes_per_token"] * context * batch
    token_flops = 2 * shape["parameters"] + 4 * shape["layers"] * shape["hidden"] * context
    memory, compute = batch * bandwidth / step_bytes, peak / token_flops
    return {"memory_bound_tokens_per_s": memory, "compute_bound_tokens_per_s": compute,
            "bound_tokens_per_s": min(memory, compute), "limited_by": "memory" if memory < compute else "compute"}  # fmt: skip


def measure(args, batch: int, dtype: str) -> dict:
    """One batch size in one dtype: lm-eval's HFLM generating ``max(batch, --min-prompts)`` continuations."""
    from lm_eval.models.huggingface import HFLM

    count = max(batch, args.min_prompts)
    requests = build_requests(args.model, args.max_gen_toks, count)
    start = time.perf_counter()
    lm = HFLM(pretrained=args.model, batch_size=batch, device=args.device, dtype=dtype)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    texts = lm.generate_until(requests, disable_tqdm=True)
    seconds = time.perf_counter() - start
    tokens = sum(len(lm.tok_encode(text)) for text in texts)
    prompt_tokens = sum(len(lm.tok_encode(request.args[0])) for request in requests) / count
    bare = bare_decoding(lm.model, min(batch, count), round(prompt_tokens), args.max_gen_toks)
    return bare | {"lm_eval_over_bare": (tokens / seconds) / bare["bare_tokens_per_s"], "lm": lm} | {
        "dtype": dtype, "batch_size": batch, "prompts": count, "generation_s": seconds, "model_load_s": load_s,
        "generated_tokens": tokens, "tokens_per_s": tokens / seconds,
        "slot_tokens_per_s": count * args.max_gen_toks / seconds, "mean_prompt_tokens": prompt_tokens,
        "shape": model_shape(lm.model),
    }  # fmt: skip


def bare_decoding(model, batch: int, prompt_tokens: int, new_tokens: int) -> dict:
    """Greedy decoding of ``batch`` copies of a ``prompt_tokens`` prompt by the model alone (KV cache, argmax): tokens/s."""
    import torch

    ids = torch.randint(100, model.config.vocab_size - 1, (1, prompt_tokens), generator=torch.Generator().manual_seed(0)).repeat(batch, 1)

    def decode(steps: int):
        with torch.inference_mode():
            out = model(input_ids=ids, use_cache=True)
            for _ in range(steps):
                token = out.logits[:, -1].argmax(-1, keepdim=True)
                out = model(input_ids=token, past_key_values=out.past_key_values, use_cache=True)
        return out

    start = time.perf_counter()
    decode(new_tokens)
    seconds = time.perf_counter() - start
    return {"bare_tokens_per_s": batch * new_tokens / seconds, "bare_s": seconds}


def profile_decoding(model, batch: int, prompt_tokens: int, steps: int = 16, top: int = 6) -> list[dict]:
    """Share of self CPU time per operator over ``steps`` bare decoding steps (torch.profiler), the ``top`` largest."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    ids = torch.randint(100, model.config.vocab_size - 1, (batch, prompt_tokens), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True)
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                out = model(input_ids=token, past_key_values=out.past_key_values, use_cache=True)
                token = out.logits[:, -1].argmax(-1, keepdim=True)
    events = prof.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    ranked = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:top]
    return [{"op": event.key, "share": event.self_cpu_time_total / total, "calls_per_step": event.count / steps} for event in ranked]


def bf16_over_fp32(rows: list[dict]) -> dict[int, float]:
    """bfloat16 / float32 lm-eval tokens/s of every batch size measured in both dtypes."""
    speed = {(row["dtype"], row["batch_size"]): row["tokens_per_s"] for row in rows}
    both = [batch for dtype, batch in speed if dtype == "float32" and ("bfloat16", batch) in speed]
    return {batch: speed["bfloat16", batch] / speed["float32", batch] for batch in both}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder (default: hyperfit's default model, SmolLM2-135M)")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32,64,128", help="comma-separated lm-eval batch sizes (default 1,2,4,8,16,32,64,128)")
    parser.add_argument("--dtype", default=",".join(DTYPES), help=f"comma-separated lm-eval dtypes, each of {', '.join(DTYPES)} (default both)")
    parser.add_argument("--min-prompts", type=int, default=8, help="prompts per batch size at least (default 8; a batch size b uses max(b, this))")
    parser.add_argument("--max-gen-toks", type=int, default=256, help="tokens generated per continuation (default 256, the tasks' own)")
    parser.add_argument("--device", default="cpu", help="lm-eval device (default cpu)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--matmul-size", type=int, default=2048, help="side of the square matrices of the matmul peak (default 2048)")
    parser.add_argument("--bandwidth-mib", type=int, default=512, help="buffer copied to measure memory bandwidth, MiB (default 512)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "generation.json", help="JSON file")
    args = parser.parse_args(argv)
    try:
        args.batch_sizes = [int(size) for size in args.batch_sizes.split(",") if size.strip()]
    except ValueError:
        parser.error(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        parser.error("--batch-sizes needs at least one size, each >= 1")
    args.dtype = [dtype.strip() for dtype in args.dtype.split(",") if dtype.strip()]
    if not args.dtype or set(args.dtype) - set(DTYPES):
        parser.error(f"--dtype must be comma-separated names out of {', '.join(DTYPES)}, got {','.join(args.dtype)!r}")
    return args


def main(argv=None) -> None:
    import torch

    from hyperfit_tasks.common.atomic import write_json_atomic
    from hyperfit_tasks.common.precision import bf16_support

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.model is None:
        from hyperfit_tasks.assets import default_model_path

        args.model = str(default_model_path())
    support = bf16_support(args.device)
    print(f"dtypes {args.dtype}, batch sizes {args.batch_sizes}, {args.max_gen_toks} new tokens, {args.threads} threads, model {args.model}; "
          f"bf16 detection: {support.found}")  # fmt: skip
    # the bounds are measured before and after the batch sizes and the higher figures kept: a moment of load on a
    # shared machine lowers one measurement, and a low bound would flatter every ratio
    peaks = matmul_peaks(args.matmul_size)
    bandwidth = memory_bandwidth(args.bandwidth_mib)["bytes_per_s"]
    rows, best, best_lm = [], None, None
    for dtype in args.dtype:
        for batch in args.batch_sizes:
            row = measure(args, batch, dtype)
            lm = row.pop("lm")
            if best is None or row["tokens_per_s"] > best["tokens_per_s"]:
                best, best_lm = row, lm  # only the fastest row's model is kept, for the profile
            rows.append(row)
            print(f"  {dtype} batch {batch:3d}: measured ({row['tokens_per_s']:.1f} tokens/s)", flush=True)
            del lm  # the next batch size's model loads without this one beside it
    after = matmul_peaks(args.matmul_size)
    peaks = {dtype: max(flops, after[dtype]) for dtype, flops in peaks.items()}
    bandwidth = max(bandwidth, memory_bandwidth(args.bandwidth_mib)["bytes_per_s"])
    print(
        f"  machine: matmul peak {peaks['float32'] / 1e9:.1f} GFLOP/s float32, {peaks['bfloat16'] / 1e9:.1f} GFLOP/s bfloat16 "
        f"({peaks['bfloat16'] / peaks['float32']:.2f}x), copy bandwidth {bandwidth / 1e9:.2f} GB/s (best before/after)"
    )
    for row in rows:
        batch = row["batch_size"]
        context = row["mean_prompt_tokens"] + args.max_gen_toks / 2
        row |= bounds(row["shape"], min(batch, row["prompts"]), context, bandwidth, peaks[row["dtype"]])
        row["ratio_to_bound"] = row["tokens_per_s"] / row["bound_tokens_per_s"]
        row["bare_ratio_to_bound"] = row["bare_tokens_per_s"] / row["bound_tokens_per_s"]
        print(
            f"  {row['dtype']:8s} batch {batch:3d}: {row['tokens_per_s']:8.1f} tokens/s ({row['prompts']} prompts, {row['generation_s']:.1f} s); "
            f"bound {row['bound_tokens_per_s']:9.1f} ({row['limited_by']}); ratio {row['ratio_to_bound']:.3f}; "
            f"bare loop {row['bare_tokens_per_s']:.1f} ({row['bare_ratio_to_bound']:.3f} of bound; lm-eval/bare {row['lm_eval_over_bare']:.2f})"
        )
    speed_ups = bf16_over_fp32(rows)
    for batch, ratio in speed_ups.items():
        print(f"  batch {batch:3d}: bfloat16 / float32 tokens/s {ratio:.2f}")
    print(
        f"  fastest: {best['dtype']} batch {best['batch_size']} at {best['tokens_per_s']:.1f} tokens/s, "
        f"{100 * best['ratio_to_bound']:.1f}% of its bound"
    )
    profile = profile_decoding(best_lm.model, best["batch_size"], round(best["mean_prompt_tokens"]))
    print(f"  where a bare decoding step of {best['dtype']} batch {best['batch_size']} spends its time (torch.profiler, self CPU time):")
    for entry in profile:
        print(f"    {entry['op']:<28} {100 * entry['share']:5.1f}%  ({entry['calls_per_step']:.0f} calls per step)")
    payload = {
        **record_head("generation", args, ("torch", "transformers", "lm_eval")),
        "bf16_support": support.found,
        "matmul_peak_flops_per_s": peaks,
        "memory_bandwidth_bytes_per_s": bandwidth,
        "rows": rows,
        "bf16_over_fp32_tokens_per_s": speed_ups,
        "fastest": {"dtype": best["dtype"], "batch_size": best["batch_size"]},
        "profile_of_fastest": profile,
    }
    write_json_atomic(args.output, payload)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
