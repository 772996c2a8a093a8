"""What a cached dispatch decision adds to an op call (issue #5's target: under 1 µs).

Two ops with the same forward, called through xpgrad on the same 4-element
arrays: one has a single unconditional kernel (no dispatcher: the engine calls
it directly), the other two kernels with cost models (the engine asks the
dispatcher, which finds the decision for these shapes, dtypes and params in its
cache). The difference of the medians is the dispatcher's cached path.

    python benchmarks/dispatch_overhead.py
"""

from __future__ import annotations

import _timing  # noqa: F401  (sets single-threaded BLAS before NumPy loads)
import numpy as np

import xpgrad as xg
from _timing import compare
from xpgrad.core import dispatch


def _op(name: str) -> object:
    @xg.defop(name)
    def op(xp, x, w, /, *, stride=1):
        return x

    op.defvjp(lambda xp, g, out, x, w, stride=1: g, None)
    return op


def main() -> None:
    def kernel(xp, x, w, /, *, stride=1):
        return x

    plain, chosen = _op("overhead_plain"), _op("overhead_dispatched")
    dispatch.register(dispatch.Kernel(plain.name, "cpu", kernel, name="only"))
    dispatch.register(dispatch.Kernel(chosen.name, "cpu", kernel, name="a", cost=lambda s, p: 1.0))
    dispatch.register(dispatch.Kernel(chosen.name, "cpu", kernel, name="b", cost=lambda s, p: 2.0))
    x, w = np.ones(4, dtype=np.float32), np.ones((3, 3), dtype=np.float32)
    t = compare({"one kernel": lambda: plain(x, w, stride=2),
                 "dispatched": lambda: chosen(x, w, stride=2)}, number=2000)
    added = t["dispatched"] - t["one kernel"]
    print(f"op call, one kernel (no dispatcher):   {t['one kernel'] * 1e6:7.3f} µs")
    print(f"op call, cached dispatch decision:     {t['dispatched'] * 1e6:7.3f} µs")
    print(f"added by the dispatcher's cached path: {added * 1e6:7.3f} µs  (target < 1 µs)")


if __name__ == "__main__":
    main()
