"""What deterministic mode costs: nothing on the call path, and the atomic scatter-add's speed on OpenCL.

1. Per-call overhead (µs, medians of interleaved batches), cpu, 4-element arrays:
   an op with no flag, an op flagged ``deterministic={"cpu"}`` with the mode off
   (no guard: the same direct call), and a two-kernel op's cached decision with
   the mode off and on (the same dict lookup).
2. OpenCL scatter_add (getitem's VJP) with heavily repeated indices: the atomic
   kernel (chosen by default) against the deterministic bucketed sum (what
   ``use_deterministic(True)`` runs), median of repeats after warm-up.

    python benchmarks/determinism_overhead.py
"""

from __future__ import annotations

import statistics
import time

import _timing  # noqa: F401  (sets single-threaded BLAS before NumPy loads)
import numpy as np

import xpgrad as xg
from _timing import compare
from xpgrad.core import dispatch


def _op(name: str, **kw: object) -> object:
    @xg.defop(name, **kw)
    def op(xp, x, w, /):
        return x

    op.defvjp(lambda xp, g, out, x, w: g, None)
    return op


def overhead() -> None:
    def kernel(xp, x, w, /):
        return x

    plain, flagged, chosen = _op("det_plain"), _op("det_flagged", deterministic={"cpu"}), _op("det_chosen")
    dispatch.register(dispatch.Kernel(chosen.name, "cpu", kernel, name="atomic", cost=lambda s, p: 1.0,
                                      deterministic=False))
    dispatch.register(dispatch.Kernel(chosen.name, "cpu", kernel, name="sorted", cost=lambda s, p: 2.0))
    x, w = np.ones(4, dtype=np.float32), np.ones(3, dtype=np.float32)
    off = compare({"plain": lambda: plain(x, w), "flagged, mode off": lambda: flagged(x, w),
                   "dispatched, mode off": lambda: chosen(x, w)}, number=2000)
    with xg.use_deterministic():
        on = compare({"plain": lambda: plain(x, w), "dispatched, mode on": lambda: chosen(x, w)}, number=2000)
    for name, t in [*off.items(), *on.items()]:
        print(f"  {name:24s} {t * 1e6:7.3f} µs")
    print(f"  flagged/plain (mode off): {off['flagged, mode off'] / off['plain']:.3f}; "
          f"dispatched on/off: {on['dispatched, mode on'] / off['dispatched, mode off']:.3f}")


def scatter() -> None:
    try:
        b = xg.get_backend("opencl:0")
    except xg.DeviceError as exc:
        print(f"  no OpenCL device: {exc}")
        return
    from xpgrad.backends.opencl import namespace as cx
    from xpgrad.backends.opencl.indexing import scatter_add

    rng = np.random.default_rng(0)
    for nout, n in [(64, 20_000), (1000, 100_000), (10, 1_000_000), (100_000, 1_000_000)]:
        z = cx.asarray(np.zeros(nout, np.float32))
        key = cx.asarray(rng.integers(0, nout, n))
        g = cx.asarray(rng.standard_normal(n).astype(np.float32))
        fns = {"bucketed": lambda: scatter_add(z, key, g),
               "atomic": lambda: scatter_add(z, key, g, atomic=True)}
        times: dict[str, list[float]] = {k: [] for k in fns}
        for fn in fns.values():          # warm-up: compiles
            fn()
            b.synchronize()
        for _ in range(9):
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                b.synchronize()
                times[k].append(time.perf_counter() - t0)
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"  {n:>9,} contributions into {nout:>7,}: bucketed {m['bucketed'] * 1e3:8.3f} ms, "
              f"atomic {m['atomic'] * 1e3:8.3f} ms, atomic {m['bucketed'] / m['atomic']:.1f}x faster")


if __name__ == "__main__":
    print("per-call overhead:")
    overhead()
    print("OpenCL scatter_add:")
    scatter()
