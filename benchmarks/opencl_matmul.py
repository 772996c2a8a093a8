"""OpenCL matmul against NumPy's, float32, square matrices of 64 to 2048.

For each size: GFLOP/s of NumPy (its BLAS, with the threads it uses by
default) and of ``opencl:0``, timed in this one process, median of repeats
after warm-up. The OpenCL timing is device work only: inputs already on the
device, ``queue.finish()`` after each product, the result left there. A third
column adds the transfers (upload both inputs, download the product) for
comparison.

On a CPU device both libraries run on the same cores, and each keeps its
worker threads spinning for a while after a call: the two are therefore timed
in separate phases with a pause between them, alternating over a few rounds,
never call by call. The machine's load average is printed, since other
processes on the cores distort every figure.

    .venv/bin/python benchmarks/opencl_matmul.py [--sizes 64,128,...] [--dtype float32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np


def _times(fn, repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    time.sleep(0.3)  # let this library's spinning worker threads go to sleep before the other runs
    return ts


def _median_rounds(fns: list, repeats: int, rounds: int = 3) -> list[float]:
    """Median time of each function, phases alternating over ``rounds``."""
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for s, fn in zip(samples, fns):
            s += _times(fn, repeats)
    return [statistics.median(s) for s in samples]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64,128,256,512,1024,2048")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--device", default="opencl:0")
    args = p.parse_args(argv)

    import xpgrad
    from xpgrad.backends.opencl import namespace as cx

    try:
        backend = xpgrad.get_backend(args.device)
    except xpgrad.DeviceError as exc:
        print(f"no OpenCL device: {exc}")
        return 1
    dev = backend.cl_device
    queue = dev.queue
    dt = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    try:
        import threadpoolctl

        blas = "; ".join(f"{i['internal_api']} {i['num_threads']} threads"
                         for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
    except ImportError:
        blas = "threads: library default"
    print(f"OpenCL device {args.device}: {dev.label} ({dev.compute_units} compute units)")
    print(f"NumPy {np.__version__} ({blas}); dtype {dt}; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'n':>6} {'numpy GFLOP/s':>14} {'opencl GFLOP/s':>15} {'ratio':>7} {'+transfers':>11}")
    for n in (int(s) for s in args.sizes.split(",")):
        a = rng.standard_normal((n, n)).astype(dt)
        b = rng.standard_normal((n, n)).astype(dt)
        da, db = cx.asarray(a, device=dev), cx.asarray(b, device=dev)
        flops = 2.0 * n ** 3
        repeats = max(3, min(30, int(5e9 / flops)))

        def device_only():
            cx.matmul(da, db)
            queue.finish()

        def with_transfers():
            backend.to_host(cx.matmul(cx.asarray(a, device=dev), cx.asarray(b, device=dev)))

        t_np, t_cl, t_tr = _median_rounds([lambda: a @ b, device_only, with_transfers], repeats)
        err = np.abs(backend.to_host(cx.matmul(da, db)) - a @ b).max() / np.sqrt(n)
        assert err < (1e-3 if dt == np.float32 else 1e-10), f"wrong result at n={n}: {err}"
        g_np, g_cl, g_tr = flops / t_np / 1e9, flops / t_cl / 1e9, flops / t_tr / 1e9
        print(f"{n:>6} {g_np:>14.1f} {g_cl:>15.1f} {g_cl / g_np:>7.2f} {g_tr:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
