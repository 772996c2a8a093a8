"""Gradient checkpointing on a 32-layer MLP (width 1024, batch 256, float32): memory and step time.

Each layer is ``Linear(1024, 1024)`` then ``ReLU``. A step is forward, a sum
loss and backward. Strategies, all in one process:

* ``none``       plain recording (the baseline);
* ``every=4``    ``checkpoint_sequential(layers, every=4, input=x)``;
* ``auto``       ``segments="auto"``: the smallest modelled peak for at most one extra forward pass;
* ``budget``     ``memory_budget_mb=B``: the least recomputation that fits B MiB (B = 30 % of the
                 baseline's saved activations, unless ``--budget-mb`` says otherwise);
* ``selective``  ``every=4`` with ``policy="compute"`` (matmul outputs kept, ReLUs recomputed).

Figures per strategy:

* peak of saved activations — the bytes recorded graph nodes hold, each buffer once, parameters
  excluded (``xpgrad.profiler.track_memory``), over forward and backward;
* peak host memory — ``tracemalloc``'s peak of everything NumPy allocated during the step (saved
  tensors, gradients, temporaries) above what was allocated before it;
* step time — median of repeats after a warm-up, timed round-robin, and its ratio to ``none``.

It also checks that every strategy gives the baseline's gradients bit for bit.
Issue #8's target: ≥ 50 % lower peak of saved activations for ≤ 40 % more time.

    python benchmarks/checkpoint_memory.py [--repeats 5] [--layers 32] [--width 1024] [--batch 256]
"""

from __future__ import annotations

import _timing  # noqa: F401  (sets single-threaded BLAS before NumPy loads)
import argparse
import gc
import statistics
import time
import tracemalloc

import numpy as np

import xpgrad as xg
from xpgrad import nn
from xpgrad.checkpointing import checkpoint_sequential, last_plan


def build(layers: int, width: int) -> list[nn.Module]:
    xg.manual_seed(0)
    return [nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(layers)]


def strategies(budget_mb: float) -> dict:
    def plain(net, x):
        for f in net:
            x = f(x)
        return x
    return {
        "none": plain,
        "every=4": lambda net, x: checkpoint_sequential(net, every=4, input=x),
        "auto": lambda net, x: checkpoint_sequential(net, "auto", x),
        "budget": lambda net, x: checkpoint_sequential(net, memory_budget_mb=budget_mb, input=x),
        "selective": lambda net, x: checkpoint_sequential(net, every=4, input=x, policy="compute"),
    }


def step(net: list[nn.Module], x: xg.Tensor, run) -> None:
    for m in net:
        m.zero_grad()
    run(net, x).sum().backward()


def grads(net: list[nn.Module]) -> list[np.ndarray]:
    return [p.grad.numpy().copy() for m in net for p in m.parameters()]


def saved_peak(net, x, run) -> int:
    from xpgrad.profiler import track_memory

    with track_memory() as mem:
        step(net, x, run)
    return mem.peak


def host_peak(net, x, run) -> int:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    step(net, x, run)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--budget-mb", type=float, default=None)
    args = ap.parse_args()

    net = build(args.layers, args.width)
    x = xg.random.normal((args.batch, args.width), dtype=xg.float32)
    act_mb = args.layers * 2 * args.batch * args.width * 4 / 2**20   # Linear and ReLU outputs
    budget = args.budget_mb if args.budget_mb is not None else round(0.3 * act_mb, 1)
    runs = strategies(budget)

    step(net, x, runs["none"])
    ref = grads(net)
    exact = {}
    for name, run in runs.items():
        step(net, x, run)   # also the warm-up, and plans the cost-model strategies
        exact[name] = all(np.array_equal(a, b) for a, b in zip(grads(net), ref))
        if name in ("auto", "budget"):
            print(f"{name}: {last_plan()}\n")

    peaks = {name: saved_peak(net, x, run) for name, run in runs.items()}
    host = {name: host_peak(net, x, run) for name, run in runs.items()}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            step(net, x, run)
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}

    print(f"{args.layers}-layer MLP, width {args.width}, batch {args.batch}, float32, single-threaded BLAS; "
          f"median of {args.repeats} steps after a warm-up; budget {budget} MiB")
    print(f"{'strategy':<11} {'saved peak MiB':>15} {'vs none':>8} {'host peak MiB':>14} {'vs none':>8} "
          f"{'step s':>8} {'time ×':>7}  bitwise")
    for name in runs:
        print(f"{name:<11} {peaks[name] / 2**20:>15.1f} {100 * (peaks[name] / peaks['none'] - 1):>+7.0f}% "
              f"{host[name] / 2**20:>14.1f} {100 * (host[name] / host['none'] - 1):>+7.0f}% "
              f"{med[name]:>8.3f} {med[name] / med['none']:>7.2f}  {'yes' if exact[name] else 'NO'}")


if __name__ == "__main__":
    main()
