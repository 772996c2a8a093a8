"""The xpgrad plugin of xpgrad-pointwise-conv: one more algorithm for the built-in ``conv2d``.

A 1×1 convolution is a matrix product per image: ``out[n] = W @ x[n]`` with
``W`` of shape (O, C) and ``x[n]`` of shape (C, H·W). This kernel runs exactly
that, one batched GEMM on the input as it lies in memory, with no im2col copy.
It declares what it supports (1×1 kernels, no padding, one group, real floating
dtypes) and what a call costs on the device profile, and xpgrad's dispatcher
weighs it against its own direct, im2col, FFT and Winograd kernels on every
call: nothing in xpgrad names this plugin.

    python -c "import xpgrad as xg; print(xg.dispatch.explain('conv2d', xg.ones((8, 64, 32, 32)),
               xg.ones((64, 64, 1, 1))))"
"""

from __future__ import annotations

from typing import Any

from xpgrad.core.dispatch import gemm_time, launch_time, memory_time
from xpgrad.plugins import Kernel, hookimpl

_FLOATS = ("float32", "float64")


def _pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def supports(signature: Any) -> bool | str:
    """1×1 kernels, zero padding, one group, float32/float64 — a reason otherwise."""
    if len(signature.shapes) != 2 or len(signature.shapes[0]) != 4 or len(signature.shapes[1]) != 4:
        return "needs x (N, C, H, W) and w (O, C, 1, 1)"
    (n, c, h, w), (o, cw, kh, kw) = signature.shapes
    p = signature.params
    if (kh, kw) != (1, 1):
        return f"only 1×1 kernels, not {kh}×{kw}"
    if cw != c or p.get("groups", 1) != 1:
        return "only one group, with w.shape[1] == C"
    if _pair(p.get("padding", 0)) != (0, 0):
        return "no padding"
    if any(d not in _FLOATS for d in signature.dtypes) or len(set(signature.dtypes)) != 1:
        return "float32 or float64 operands of one dtype"
    return True


def cost(signature: Any, profile: Any) -> float:
    """One batched GEMM (O×C)·(C×H'W') per image, plus the strided gather when the stride is > 1."""
    (n, c, h, w), (o, _, _, _) = signature.shapes
    sh, sw = _pair(signature.params.get("stride", 1))
    ho, wo = -(-h // sh), -(-w // sw)
    size = signature.itemsize
    strided = (sh, sw) != (1, 1)
    gather = memory_time(profile, 2 * size * n * c * ho * wo) + launch_time(profile) if strided else 0.0
    return gemm_time(profile, o, c, ho * wo, batch=n, itemsize=size) + gather + launch_time(profile, 2)


def pointwise_conv2d(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                     groups: int = 1) -> Any:
    """``conv2d`` for 1×1 kernels as ``W @ x[n]`` per image (NumPy arrays on ``cpu``)."""
    import numpy as np

    sh, sw = _pair(stride)
    if (sh, sw) != (1, 1):
        x = x[:, :, ::sh, ::sw]
    n, c, h, wd = x.shape
    o = w.shape[0]
    out = np.matmul(w.reshape(o, c), x.reshape(n, c, h * wd))   # a view when x is contiguous
    return out.reshape(n, o, h, wd)


@hookimpl
def xpgrad_kernels() -> list[Kernel]:
    return [Kernel("conv2d", "cpu", pointwise_conv2d, name="pointwise-gemm", supports=supports, cost=cost)]
