"""NumPy kernels against the generic Array API forwards they replace.

For conv2d, max_pool2d, avg_pool2d, softmax, log_softmax and logsumexp, on a
small and a larger input each: the generic forward (``op.forward`` with
``array_api_compat.numpy``) and the NumPy kernel, on the same arrays, timed in
interleaved batches (median of repeats after warm-up), single-threaded BLAS.
Then a conv layer's forward and backward through xpgrad with the kernels
attached and detached: the VJPs are convolutions too, so the kernel serves them.

    python benchmarks/numpy_kernels.py [--quick]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import _timing  # noqa: F401  (sets single-threaded BLAS before NumPy loads)
import array_api_compat.numpy as cnp
import numpy as np

import xpgrad as xg
from _timing import compare
from xpgrad.backends.numpy import kernels

CPU = xg.get_backend("cpu")
# conv2d has four kernels (backends/numpy/conv.py): what runs is the dispatcher's choice
KERNELS = {"conv2d": xg.get_op("conv2d").kernels[CPU], **kernels.KERNELS}

CASES: list[tuple[str, str, tuple, dict]] = [   # (op, label, array shapes, params)
    ("conv2d", "x 1×3×8×8, w 4×3×3×3, pad 1", ((1, 3, 8, 8), (4, 3, 3, 3)), {"padding": 1}),
    ("conv2d", "x 32×16×32×32, w 32×16×3×3, pad 1", ((32, 16, 32, 32), (32, 16, 3, 3)), {"padding": 1}),
    ("conv2d", "x 16×3×64×64, w 16×3×5×5, stride 2, pad 2", ((16, 3, 64, 64), (16, 3, 5, 5)),
     {"stride": 2, "padding": 2}),
    ("conv2d", "x 8×32×32×32 depthwise 3×3, pad 1", ((8, 32, 32, 32), (32, 1, 3, 3)),
     {"padding": 1, "groups": 32}),
    ("max_pool2d", "x 1×3×8×8, k 2", ((1, 3, 8, 8),), {"kernel_size": 2}),
    ("max_pool2d", "x 32×16×32×32, k 2", ((32, 16, 32, 32),), {"kernel_size": 2}),
    ("max_pool2d", "x 32×16×32×32, k 3, stride 1, pad 1", ((32, 16, 32, 32),),
     {"kernel_size": 3, "stride": 1, "padding": 1}),
    ("avg_pool2d", "x 1×3×8×8, k 2", ((1, 3, 8, 8),), {"kernel_size": 2}),
    ("avg_pool2d", "x 32×16×32×32, k 3, stride 2, pad 1", ((32, 16, 32, 32),),
     {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("softmax", "x 8×10", ((8, 10),), {"axis": -1}),
    ("softmax", "x 256×1000", ((256, 1000),), {"axis": -1}),
    ("log_softmax", "x 8×10", ((8, 10),), {"axis": -1}),
    ("log_softmax", "x 256×1000", ((256, 1000),), {"axis": -1}),
    ("logsumexp", "x 8×10, axis 1", ((8, 10),), {"axis": 1}),
    ("logsumexp", "x 256×1000, axis 1", ((256, 1000),), {"axis": 1}),
]


def _number(fn: Callable[[], object], budget: float) -> int:
    """Calls per batch so that one batch takes about ``budget`` seconds."""
    t0 = time.perf_counter()
    fn()
    return max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))


def _row(label: str, t: dict[str, float], a: str, b: str) -> str:
    def fmt(s: float) -> str:
        return f"{s * 1e6:9.1f} µs" if s < 1e-3 else f"{s * 1e3:9.2f} ms"
    return f"  {label:<44} {fmt(t[a])} {fmt(t[b])}   {t[a] / t[b]:5.2f}x"


def kernels_vs_generic(dtype: type, repeats: int, budget: float) -> None:
    rng = np.random.default_rng(0)
    print(f"\n{np.dtype(dtype).name}: generic forward vs NumPy kernel "
          f"(median of {repeats} interleaved batches)")
    print(f"  {'op / input':<44} {'generic':>12} {'kernel':>12}   speed-up")
    last = None
    for name, label, shapes, params in CASES:
        op = xg.get_op(name)
        args = [rng.standard_normal(s).astype(dtype) for s in shapes]
        kernel = KERNELS[name]
        np.testing.assert_allclose(kernel(cnp, *args, **params), op.forward(cnp, *args, **params),
                                   rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)
        fns = {"generic": lambda op=op, a=args, p=params: op.forward(cnp, *a, **p),
               "kernel": lambda k=kernel, a=args, p=params: k(cnp, *a, **p)}
        n = _number(fns["generic"], budget)
        t = compare(fns, number=n, repeats=repeats, warmup=1)
        if name != last:
            print(f" {name}")
            last = name
        print(_row(label, t, "generic", "kernel"))


def conv_layer(repeats: int, budget: float) -> None:
    rng = np.random.default_rng(1)
    x = xg.asarray(rng.standard_normal((16, 16, 32, 32)), requires_grad=True)
    w = xg.asarray(rng.standard_normal((32, 16, 3, 3)) * 0.1, requires_grad=True)
    conv, pool = xg.get_op("conv2d"), xg.get_op("max_pool2d")

    def step() -> None:
        x.grad = w.grad = None
        y = pool(conv(x, w, padding=1), kernel_size=2)
        xg.sum(xg.logsumexp(xg.reshape(y, (16, -1)), axis=1)).backward()

    saved = {name: xg.get_op(name).kernels.pop(CPU) for name in KERNELS}
    step()
    generic_grads = (x.grad.numpy().copy(), w.grad.numpy().copy())

    def generic() -> None:
        for name in KERNELS:
            xg.get_op(name).kernels.pop(CPU, None)
        step()

    def with_kernels() -> None:
        for name, k in saved.items():
            xg.get_op(name).kernels[CPU] = k
        step()

    with_kernels()
    np.testing.assert_allclose(x.grad.numpy(), generic_grads[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), generic_grads[1], rtol=1e-9, atol=1e-12)
    t = compare({"generic": generic, "kernel": with_kernels}, number=_number(generic, budget),
                repeats=repeats, warmup=1)
    for name, k in saved.items():
        xg.get_op(name).kernels[CPU] = k
    print("\nfloat64: conv 16×16×32×32 * 32×16×3×3 (pad 1) → max_pool 2 → logsumexp, forward + backward")
    print(f"  {'':<44} {'generic':>12} {'kernels':>12}   speed-up")
    print(_row("xpgrad step (x.grad and w.grad)", t, "generic", "kernel"))


def main() -> None:
    quick = "--quick" in sys.argv
    repeats, budget = (5, 0.01) if quick else (15, 0.03)
    for dtype in (np.float64, np.float32):
        kernels_vs_generic(dtype, repeats, budget)
    conv_layer(repeats, budget)


if __name__ == "__main__":
    main()
