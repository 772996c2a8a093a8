"""What profiling costs: one MLP training step with and without ``xpgrad.profiler``, in the same process.

The step is ``benchmarks/mlp_step.py``'s (MLP 784-512-512-10, batch 128,
float32, cross-entropy, backward, SGD; single-threaded BLAS). Each variant
runs the step inside its own block, so the cost of entering and leaving the
block is included:

* ``no profiler``                 the plain step;
* ``profile(memory=False)``       timing only (per-call events, kernel names, bytes);
* ``profile()``                   timing and the saved-tensor memory tracker (the default);
* ``profile(record_shapes=True, with_stack=True)``  everything;
* ``track_memory()``              the memory tracker alone.

Medians of interleaved rounds after warm-up (``_timing.compare``); ratios are
against the plain step. The MLP step makes few, large calls, so its ratio is
what profiling a real step costs; the per-call cost is read from a second
measurement, a chain of 50 ``sin`` on 10 floats and its backward (101 calls,
each a few microseconds), where the profiler's bookkeeping dominates. The cost of having no observer installed
(one list read per op) is not measurable against a build without the
observer hook, which is not in this tree, so it is not reported.

    python benchmarks/profiler_overhead.py [--repeats 15] [--number 10]
"""

from __future__ import annotations

import _timing  # noqa: F401  (sets single-threaded BLAS before NumPy loads)
import argparse

import numpy as np

import xpgrad as xg
from _timing import compare
from mlp_step import C, D, H, N, xpgrad_step_fn
from xpgrad import nn


MAKERS = {
    "no profiler": None,
    "profile(memory=False)": lambda: xg.profiler.profile(memory=False),
    "profile()": lambda: xg.profiler.profile(),
    "profile(shapes, stack)": lambda: xg.profiler.profile(record_shapes=True, with_stack=True),
    "track_memory()": lambda: xg.profiler.track_memory(),
}


def under_fn(make, fn):
    """``fn`` run inside a fresh block of the context manager ``make()`` makes."""
    def run() -> None:
        with make():
            fn()
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed rounds (median reported)")
    ap.add_argument("--number", type=int, default=10, help="steps per round")
    args = ap.parse_args()

    xg.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, C))
    rng = np.random.default_rng(0)
    x = xg.asarray(rng.standard_normal((N, D)).astype(np.float32))
    y = xg.asarray(rng.integers(0, C, N))
    step = xpgrad_step_fn(model, x, y)

    fns = {name: (step if make is None else under_fn(make, step)) for name, make in MAKERS.items()}
    with xg.profiler.profile() as prof:
        step()
    calls = len(prof.events)
    t = compare(fns, number=args.number, repeats=args.repeats, warmup=2)
    report(f"MLP {D}-{H}-{H}-{C}, batch {N}, float32, one SGD step, single-threaded BLAS "
           f"(median of {args.repeats} rounds of {args.number} steps); {calls} profiled calls per step",
           t, calls)

    v = xg.asarray(np.linspace(0.0, 1.0, 10), requires_grad=True)

    def chain() -> None:
        h = v
        for _ in range(50):
            h = xg.sin(h)
        h.sum().backward()
    small = {name: (chain if name == "no profiler" else under_fn(make, chain))
             for name, make in MAKERS.items()}
    with xg.profiler.profile() as prof:
        chain()
    calls = len(prof.events)
    t = compare(small, number=args.number * 5, repeats=args.repeats, warmup=2)
    report(f"\nchain of 50 sin on 10 float64 and its backward: {calls} profiled calls", t, calls)


def report(title: str, t: dict, calls: int) -> None:
    base = t["no profiler"]
    print(title)
    for name, v in t.items():
        extra = "" if name == "no profiler" else f"   {(v - base) / calls * 1e6:+6.2f} µs per call"
        print(f"  {name:24s} {v * 1e3:8.3f} ms   {v / base:6.3f} ×{extra}")


if __name__ == "__main__":
    main()
