"""Per-op overhead of the tape on a tiny graph.

Times ``y = (x * 2 + 1).sum(); y.backward()`` on a 4-element float32 tensor,
beside the same forward plus a hand-written backward in plain NumPy, in the
same process, single-threaded. The ratio is the overhead of xpgrad's Python
tape. Issue #2's target: at most 5x the NumPy figure.

    python benchmarks/op_overhead.py
"""

from __future__ import annotations

import _timing  # noqa: F401  (sets single-threaded BLAS before NumPy loads)
import numpy as np

import xpgrad as xg
from _timing import compare


def main() -> None:
    x_np = np.arange(4, dtype=np.float32)

    def numpy_step() -> np.ndarray:
        a = x_np * 2
        b = a + 1
        b.sum()
        gb = np.ones_like(b)          # dy/db
        return gb * 2                 # dy/dx = dy/db * db/da * da/dx

    x = xg.asarray(x_np, requires_grad=True)

    def xpgrad_step() -> None:
        x.grad = None
        y = (x * 2 + 1).sum()
        y.backward()

    xpgrad_step()
    assert np.allclose(x.grad.numpy(), numpy_step()), "gradients disagree"

    def forward_only() -> None:
        (x * 2 + 1).sum()

    def forward_no_grad() -> None:
        with xg.no_grad():
            (x * 2 + 1).sum()

    t = compare({"numpy": numpy_step, "xpgrad": xpgrad_step, "fwd": forward_only,
                 "no_grad": forward_no_grad}, number=2000)
    t_np, t_xg, t_fwd, t_ng = t["numpy"], t["xpgrad"], t["fwd"], t["no_grad"]

    print("y = (x * 2 + 1).sum(); y.backward()   x: 4 float32, single thread")
    print("median of 25 interleaved batches of 2000 calls each")
    print(f"  hand-written NumPy forward+backward  {t_np * 1e6:8.2f} us")
    print(f"  xpgrad forward+backward              {t_xg * 1e6:8.2f} us   ratio {t_xg / t_np:5.2f}x"
          f"   (target <= 5x)")
    print(f"  xpgrad forward, recorded             {t_fwd * 1e6:8.2f} us")
    print(f"  xpgrad forward, no_grad              {t_ng * 1e6:8.2f} us")


if __name__ == "__main__":
    main()
