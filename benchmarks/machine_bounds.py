"""What this machine can do at most, measured in the benchmark's own process: the fp32 matmul peak and
the memory bandwidth (shared by bench_trainer_overhead.py and bench_generation.py)."""
from __future__ import annotations

import time


def matmul_peak(size: int = 2048, repeat: int = 5) -> dict:
    """Best fp32 FLOP/s of ``torch.matmul`` on two ``size`` x ``size`` matrices (2 size^3 FLOP each)."""
    import torch

    torch.manual_seed(0)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return {"flops_per_s": 2 * size**3 / best, "seconds": best}


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
