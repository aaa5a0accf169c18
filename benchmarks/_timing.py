"""Shared timing helper for the benchmark scripts."""

import time

import numpy as np


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls of ``fn`` and its last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out
