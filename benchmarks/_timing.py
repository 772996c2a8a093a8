"""Shared timing helper: median of repeats after warm-up, single-threaded BLAS."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def median_time(fn: Callable[[], object], *, number: int = 1000, repeats: int = 15,
                warmup: int = 3) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` batches of ``number`` calls."""
    for _ in range(warmup):
        for _ in range(number):
            fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)
