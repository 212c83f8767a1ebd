"""What this machine can do at most, measured in the benchmark's own process: the fp32 and bf16 matmul peaks and
the memory bandwidth (shared by bench_trainer_overhead.py and bench_generation.py)."""

from __future__ import annotations

import time

DTYPES = ("float32", "bfloat16")  # torch dtype names, as lm-eval's dtype model argument takes them


def matmul_peak(size: int = 2048, repeat: int = 5, dtype: str = "float32") -> dict:
    """Best FLOP/s of ``torch.matmul`` on two ``size`` x ``size`` matrices of ``dtype`` (2 size^3 FLOP each).

    bfloat16 runs oneDNN's bf16 kernels, native on AMX-BF16 / AVX512-BF16 CPUs and emulated (slower) elsewhere.
    """
    import torch

    torch.manual_seed(0)
    a, b = torch.randn(size, size, dtype=getattr(torch, dtype)), torch.randn(size, size, dtype=getattr(torch, dtype))
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return {"flops_per_s": 2 * size**3 / best, "seconds": best, "dtype": dtype}


def matmul_peaks(size: int = 2048, repeat: int = 5) -> dict[str, float]:
    """FLOP/s of :func:`matmul_peak` in each of :data:`DTYPES`, measured one after the other:
    ``{dtype: flops_per_s}``."""
    return {dtype: matmul_peak(size, repeat, dtype)["flops_per_s"] for dtype in DTYPES}


def memory_bandwidth(mebibytes: int = 512, repeat: int = 5) -> dict:
    """Best bytes/s of copying an fp32 buffer of ``mebibytes`` MiB into another (each copy reads and
    writes the buffer once: 2 x its bytes moved), far larger than any CPU cache."""
    import torch

    source = torch.ones(mebibytes * 2**20 // 4)
    target = torch.empty_like(source)
    target.copy_(source)  # warm-up: pages touched
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - start)
    return {"bytes_per_s": 2 * source.numel() * source.element_size() / best, "seconds": best, "mebibytes": mebibytes}


def operator_shares(prof, steps: int, top: int = 6) -> list[dict]:
    """The ``top`` operators of a ``torch.profiler`` run by self CPU time: each one's share of the total and its calls
    per step (``steps``: the steps profiled)."""
    events = prof.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    ranked = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:top]
    return [
        {"op": event.key, "share": event.self_cpu_time_total / total, "calls_per_step": event.count / steps}
        for event in ranked
    ]
