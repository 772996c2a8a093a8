"""The xpgrad plugin of xpgrad-gelu: one op and one NumPy kernel for it."""

from __future__ import annotations

import math
from typing import Any

from xpgrad import Sample, defop
from xpgrad.plugins import Kernel, hookimpl

_C = math.sqrt(2 / math.pi)
_A = 0.044715


# A private registry: nothing is registered until xpgrad has checked what xpgrad_ops returns.
@defop("gelu_fused", registry={})
def gelu_fused(xp: Any, x: Any, /) -> Any:
    """GELU, tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    return 0.5 * x * (1 + xp.tanh(_C * (x + _A * x * x * x)))


def _dgelu(xp: Any, x: Any) -> Any:
    # ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²),  t = tanh(√(2/π)(x + 0.044715x³))
    t = xp.tanh(_C * (x + _A * x * x * x))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _C * (1 + 3 * _A * x * x)


gelu_fused.defvjp(lambda xp, g, out, x: g * _dgelu(xp, x))
gelu_fused.defjvp(lambda xp, t, out, x: t * _dgelu(xp, x))
gelu_fused.defsamples(Sample((("randn", (3, 4)),)),
                      Sample((("values", [-4.0, -1.0, -0.5, 0.0, 0.5, 1.0, 4.0]),)),
                      Sample((("randn", ()),)))


def gelu_numpy(xp: Any, x: Any, /) -> Any:
    """The same forward in NumPy, in place in one buffer: one temporary instead of six."""
    import numpy as np

    if x.dtype.kind != "f":
        return gelu_fused.forward(xp, x)
    y = np.multiply(x, x, out=np.empty_like(x))   # stays an array when x is 0-d
    y *= _A
    y += 1
    y *= x
    y *= _C
    np.tanh(y, out=y)
    y += 1
    y *= x
    y *= 0.5
    return y


@hookimpl
def xpgrad_ops() -> list:
    return [gelu_fused]


@hookimpl
def xpgrad_kernels() -> list[Kernel]:
    return [Kernel("gelu_fused", "cpu", gelu_numpy, name="numpy-inplace")]
