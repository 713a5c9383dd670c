"""Timing helpers for the book's speed comparisons and the benchmarks."""

import statistics
import time

import torch


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn, *args, repeat: int = 5, warmup: int = 1, device="cpu") -> float:
    """Median wall-clock seconds of ``fn(*args)`` over ``repeat`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        fn(*args)
    _sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
