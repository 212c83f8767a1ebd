"""Benchmark hyperfit-train's trainer against a plain PyTorch loop, in fp32 and bf16, each against the machine's matmul
peak.

Six measurements, each in its own subprocess (so that each peak RSS is its own) and with the
same number of torch threads:

* ``trainer``: ``hyperfit_train.trainer.train`` (the code path of the ``hyperfit-train`` CLI) with
  the demo preset and its default loss head (``--loss_head full``), blocks of ``--seq-len`` tokens,
  batch ``--batch``, one epoch of ``--steps`` steps, diagnostics and checkpoints off (they run once
  per epoch, not per step);
* ``trainer_fused_head``: the same with ``--loss_head fused`` (TRL's tiled LM head, which also
  computes each token's entropy and top-1 hit for its step metrics);
* ``trainer_bf16``: ``trainer`` with ``--precision bf16`` (bf16 mixed precision, float32 master
  weights); left out, with a line saying why, where the CPU has no native bf16 (``hyperfit-train``
  refuses it there);
* ``plain``: the same model, the same training blocks (read from the trainer's
  ``train_blocks.parquet``), batch, sequence length and optimizer (``torch.optim.AdamW``, the
  preset's learning rate and betas, no weight decay, no clipping, as the preset) in a bare loop;
* ``matmul`` and ``matmul_bf16``: the best of a few fp32 (bf16) ``torch.matmul`` of two
  ``--matmul-size`` square matrices: the bound of each precision.

The sides run ``--rounds`` times, alternating, and each side's fastest run is kept (the machine is
shared: the best run is the least disturbed one; every run's figure is in the JSON).

Samples per second count the steps after the first ``--warmup`` (from the end of step ``warmup``
to the end of the last step). Achieved FLOP/s = 6 x parameters x tokens per second (the usual
estimate of forward + backward, attention not counted), reported as a share of the matmul peak of
the precision that ran (fp32 sides: the fp32 peak; ``trainer_bf16``: the bf16 peak).

    python benchmarks/bench_trainer_overhead.py                         # 8 steps of 4 x 128 tokens, 2 rounds, ~5 min
    python benchmarks/bench_trainer_overhead.py --steps 12 --rounds 3   # longer, steadier (docs/benchmarks.md)
    python benchmarks/bench_trainer_overhead.py --profile bf16         # what the bf16 trainer's time goes to

``--profile PRECISION`` runs only the trainer in that precision, its steps after the warm-up under
``torch.profiler``, and prints the operators that take the most self CPU time (``trainer_profile_<precision>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_bounds import matmul_peak, operator_shares  # benchmarks/machine_bounds.py
from record import RESULTS_DIR, record_head  # benchmarks/record.py

RESULT_PREFIX = "RESULT "


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def samples_per_second(step_ends: list[float], batch: int, warmup: int) -> float:
    """Samples per second over the steps after the first ``warmup`` (``step_ends``: time at the end of each step)."""
    return (len(step_ends) - warmup) * batch / (step_ends[-1] - step_ends[warmup - 1])


def run_trainer(args, loss_head: str = "full", precision: str = "fp32", profile: bool = False) -> dict:
    """Train with hyperfit-train's own ``train()``, ``--loss_head`` and ``--precision``; time every optimizer step with
    a callback (``profile``: the steps after the warm-up also run under ``torch.profiler``)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler
    from transformers import TrainerCallback

    from hyperfit_train.config import parse_args as parse_train_args
    from hyperfit_train.trainer import train

    class StepClock(TrainerCallback):
        def __init__(self):
            self.ends = []

        def on_step_end(self, *_, **__):
            self.ends.append(time.perf_counter())

    class Profile(TrainerCallback):
        """torch.profiler from the end of the warm-up to the end of the last step."""

        def __init__(self):
            self.profiler = profiler(activities=[ProfilerActivity.CPU])

        def on_step_begin(self, _args, state, *_, **__):
            if state.global_step == args.warmup:
                self.profiler.__enter__()

        def on_step_end(self, _args, state, *_, **__):
            if state.global_step == args.steps:
                self.profiler.__exit__(None, None, None)

    clock, profiled = StepClock(), Profile() if profile else None
    argv = [
        "--preset",
        "demo",
        "--model",
        args.model,
        "--output_dir",
        str(args.workdir / "run"),
        "--use_cpu",
        "--max_length",
        str(args.seq_len),
        "--per_device_train_batch_size",
        str(args.batch),
        "--num_samples",
        str(args.batch * args.steps),
        "--num_train_epochs",
        "1",
        "--diagnostics",
        "false",
        "--save_strategy",
        "no",
        "--report_to",
        "none",
        "--disable_tqdm",
        "true",
        "--overwrite",
        "--loss_head",
        loss_head,
        "--precision",
        precision,
    ]
    script_args, training_args, model_args = parse_train_args(argv)
    train(script_args, training_args, model_args, callbacks=(clock, profiled) if profiled else (clock,))
    assert len(clock.ends) == args.steps, (len(clock.ends), args.steps)
    shares = {"operators": operator_shares(profiled.profiler, args.steps - args.warmup, top=12)} if profiled else {}
    return shares | {
        "samples_per_s": samples_per_second(clock.ends, args.batch, args.warmup),
        "learning_rate": training_args.learning_rate,
        "betas": [training_args.adam_beta1, training_args.adam_beta2],
        "eps": training_args.adam_epsilon,
        "weight_decay": training_args.weight_decay,
        "max_grad_norm": training_args.max_grad_norm,
    }


def run_plain(args) -> dict:
    """A bare loop: forward with labels, backward, AdamW step, zero grads; same blocks and settings as the trainer."""
    import torch
    from transformers import AutoModelForCausalLM

    from hyperfit_tasks.common.run_files import read_train_blocks

    recipe = json.loads((args.workdir / "trainer.json").read_text())
    blocks, _ = read_train_blocks(args.workdir / "run" / "train_blocks.parquet")
    blocks = torch.from_numpy(blocks).long()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=recipe["learning_rate"],
        betas=tuple(recipe["betas"]),
        eps=recipe["eps"],
        weight_decay=0.0,
    )
    ends = []
    for step in range(args.steps):
        batch = blocks[step * args.batch : (step + 1) * args.batch]
        loss = model(input_ids=batch, attention_mask=torch.ones_like(batch), labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ends.append(time.perf_counter())
    return {
        "samples_per_s": samples_per_second(ends, args.batch, args.warmup),
        "parameters": model.num_parameters(),
    }


SIDES = {
    "trainer": run_trainer,
    "trainer_fused_head": lambda args: run_trainer(args, loss_head="fused"),
    "trainer_bf16": lambda args: run_trainer(args, precision="bf16"),
    "plain": run_plain,
    "matmul": lambda args: matmul_peak(args.matmul_size, args.matmul_repeat, "float32"),
    "matmul_bf16": lambda args: matmul_peak(args.matmul_size, args.matmul_repeat, "bfloat16"),
    "profile_fp32": lambda args: run_trainer(args, profile=True),
    "profile_bf16": lambda args: run_trainer(args, precision="bf16", profile=True),
}
TIMED_SIDES = ("trainer", "trainer_fused_head", "trainer_bf16", "plain", "matmul", "matmul_bf16")


def run_side(side: str, args) -> dict:
    """Run one side in a fresh interpreter; its result (with its peak RSS) comes back as one JSON line."""
    argv = [sys.executable, __file__, "--side", side, "--workdir", str(args.workdir), "--model", args.model]
    for option in ("steps", "batch", "seq_len", "warmup", "threads", "matmul_size", "matmul_repeat", "rounds"):
        argv += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{side} failed:\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith(RESULT_PREFIX))
    return json.loads(line[len(RESULT_PREFIX) :])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per side (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the timing (default 2)")
    parser.add_argument("--batch", type=int, default=4, help="blocks per step (default 4)")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per block (default 128)")
    parser.add_argument("--model", help="model folder (default: hyperfit's default model, SmolLM2-135M)")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="torch threads of every side (default: all cores)"
    )
    parser.add_argument("--matmul-size", type=int, default=2048, help="side of the square matrices (default 2048)")
    parser.add_argument("--matmul-repeat", type=int, default=5, help="timed matmuls, best kept (default 5)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="runs of each side, alternating; the fastest is kept (default 2)"
    )
    parser.add_argument(
        "--profile",
        choices=("fp32", "bf16"),
        help="instead of the timing: the trainer in this precision under torch.profiler (the operators' shares)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON file (default: results/trainer_overhead.json, or "
        "results/trainer_profile_<precision>.json with --profile)",
    )
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.warmup < args.steps:
        parser.error("--warmup must be >= 1 and below --steps")
    name = f"trainer_profile_{args.profile}.json" if args.profile else "trainer_overhead.json"
    args.output = args.output or RESULTS_DIR / name
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.side:  # child process
        import torch

        torch.set_num_threads(args.threads)
        result = SIDES[args.side](args)
        if args.side == "trainer":
            (args.workdir / "trainer.json").write_text(json.dumps(result))
        print(RESULT_PREFIX + json.dumps({**result, "peak_rss_mib": peak_rss_mib()}), flush=True)
        return

    from hyperfit_tasks.common.atomic import write_json_atomic
    from hyperfit_tasks.common.precision import bf16_support

    if args.model is None:
        from hyperfit_tasks.assets import default_model_path

        args.model = str(default_model_path())
    print(
        f"{args.steps} steps of {args.batch} x {args.seq_len} tokens ({args.warmup} warm-up), {args.threads} threads, "
        f"model {args.model}"
    )
    support = bf16_support("cpu")
    if args.profile:
        profile(args, support)
        return
    runs = {side: [] for side in TIMED_SIDES if support.supported or side != "trainer_bf16"}
    if not support.supported:
        print(f"  trainer in bf16: not measured ({support.found}: hyperfit-train refuses --precision bf16 here)")
    with tempfile.TemporaryDirectory() as workdir:
        args.workdir = Path(workdir)
        for _ in range(args.rounds):  # alternate, so that a busy moment of the shared machine hits every side alike
            for side, found in runs.items():
                found.append(run_side(side, args))
    speed = {side: "flops_per_s" if side.startswith("matmul") else "samples_per_s" for side in runs}
    sides = {
        side: {**max(found, key=lambda run: run[speed[side]]), "all_runs": [run[speed[side]] for run in found]}
        for side, found in runs.items()
    }
    trainer, fused, plain = sides["trainer"], sides["trainer_fused_head"], sides["plain"]
    bf16 = sides.get("trainer_bf16")
    parameters = plain["parameters"]
    peak, bf16_peak = sides["matmul"]["flops_per_s"], sides["matmul_bf16"]["flops_per_s"]
    shown = [
        ("hyperfit-train", trainer, "fp32"),
        ("  --loss_head fused", fused, "fp32"),
        ("plain loop", plain, "fp32"),
    ]
    shown += [("  --precision bf16", bf16, "bf16")] if bf16 else []
    for name, side, precision in shown:
        side["tokens_per_s"] = side["samples_per_s"] * args.seq_len
        side["flops_per_s"] = 6 * parameters * side["tokens_per_s"]
        side["share_of_matmul_peak"] = side["flops_per_s"] / (bf16_peak if precision == "bf16" else peak)
        print(
            f"  {name:20s} {side['samples_per_s']:7.3f} samples/s  {side['flops_per_s'] / 1e9:7.1f} GFLOP/s "
            f"({100 * side['share_of_matmul_peak']:4.1f}% of the {precision} peak)  peak RSS "
            f"{side['peak_rss_mib']:7.0f} MiB"
        )
    ratio = trainer["samples_per_s"] / plain["samples_per_s"]
    fused_ratio = fused["samples_per_s"] / plain["samples_per_s"]
    bf16_ratio = bf16["samples_per_s"] / trainer["samples_per_s"] if bf16 else None
    print(
        f"  matmul peak          {peak / 1e9:7.1f} GFLOP/s fp32, {bf16_peak / 1e9:.1f} GFLOP/s bf16 "
        f"({args.matmul_size}^2; bf16 / fp32 {bf16_peak / peak:.2f}; {support.found})"
    )
    print(f"  trainer / plain samples/s: {ratio:.3f} (target >= 0.9); with --loss_head fused: {fused_ratio:.3f}")
    if bf16:
        print(f"  trainer bf16 / fp32 samples/s: {bf16_ratio:.3f} (target >= 2)")

    payload = {
        **record_head("trainer_overhead", args, ("torch", "transformers", "trl"), skip=("output", "side", "workdir")),
        "parameters": parameters,
        "trainer": trainer,
        "trainer_fused_head": fused,
        "plain": plain,
        "trainer_bf16": bf16,
        "bf16_support": support.found,
        "trainer_over_plain": round(ratio, 4),
        "trainer_fused_head_over_plain": round(fused_ratio, 4),
        "trainer_bf16_over_fp32": None if bf16_ratio is None else round(bf16_ratio, 4),
        "matmul_peak_flops_per_s": peak,
        "matmul_peak_bf16_flops_per_s": bf16_peak,
        "trainer_share_of_matmul_peak": round(trainer["share_of_matmul_peak"], 4),
    }
    write_json_atomic(args.output, payload)
    print(f"wrote {args.output}")


def profile(args, support) -> None:
    """``--profile``: one trainer run in that precision under torch.profiler; print and record the top operators."""
    from hyperfit_tasks.common.atomic import write_json_atomic

    if args.profile == "bf16" and not support.supported:
        raise SystemExit(f"--profile bf16: {support.found}: hyperfit-train refuses --precision bf16 here")
    with tempfile.TemporaryDirectory() as workdir:
        args.workdir = Path(workdir)
        result = run_side(f"profile_{args.profile}", args)
    print(
        f"  hyperfit-train {args.profile}: {result['samples_per_s']:.3f} samples/s under the profiler; self CPU time "
        f"of the {args.steps - args.warmup} steps after the warm-up:"
    )
    for entry in result["operators"]:
        print(f"    {entry['op']:<40} {100 * entry['share']:5.1f}%  ({entry['calls_per_step']:.0f} calls per step)")
    payload = {
        **record_head("trainer_profile", args, ("torch", "transformers", "trl"), skip=("output", "side", "workdir")),
        "bf16_support": support.found,
        "trainer": result,
    }
    write_json_atomic(args.output, payload)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
