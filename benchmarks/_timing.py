"""Timing helpers shared by the speed benchmarks (device-aware: CUDA work is synchronised)."""
from __future__ import annotations

import time

import torch


def sync(device) -> None:
    """Wait for queued CUDA work on ``device`` (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device="cpu", repeat: int = 1, clock=time.perf_counter) -> float:
    """Best of ``repeat`` timings of ``fn()`` in seconds."""
    best = float("inf")
    for _ in range(repeat):
        sync(device)
        start = clock()
        fn()
        sync(device)
        best = min(best, clock() - start)
    return best
