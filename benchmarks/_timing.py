"""Shared timing helpers: medians of repeats after warm-up, single-threaded BLAS.

Candidates are timed round-robin, batch by batch, so that all of them see the
same machine conditions (this matters on shared or virtualised machines,
where the speed drifts over seconds); ratios of their medians are what the
benchmarks report.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def compare(fns: dict[str, Callable[[], object]], *, number: int = 1000, repeats: int = 25,
            warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each function, measured in interleaved batches of ``number`` calls."""
    for fn in fns.values():
        for _ in range(warmup * number):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - t0) / number)
    return {k: statistics.median(v) for k, v in samples.items()}
