"""Fused forwards of ``softmax``, ``log_softmax`` and ``logsumexp`` on the ``cuda`` family.

One kernel launch per call instead of the five or six of the generic Array API
forward (max, subtract, exp, sum, divide or log). The kernels reduce along
the last axis of float32 / float64 arrays; any other case (another axis,
another dtype, an empty array) runs the op's generic forward, so a kernel is
always correct to call. CuPy is imported on first call, not at import.
"""

from __future__ import annotations

from typing import Any

from .kernels import SOURCE, entry

__all__ = ["softmax", "log_softmax", "logsumexp", "plan"]

_MODULE: list[Any] = []   # the cupy.RawModule compiled from SOURCE, once per process


def _function(name: str) -> Any:
    if not _MODULE:
        import cupy

        _MODULE.append(cupy.RawModule(code=SOURCE))
    return _MODULE[0].get_function(name)


def _last(axis: Any, ndim: int) -> bool:
    if isinstance(axis, tuple):
        if len(axis) != 1:
            return False
        axis = axis[0]
    return isinstance(axis, int) and ndim > 0 and axis in (-1, ndim - 1)


def plan(x: Any, axis: Any, *, whole: bool = False) -> tuple[int, int] | None:
    """``(rows, n)`` when a fused kernel handles ``x`` along ``axis``, else None.

    ``whole=True`` (``logsumexp``) also accepts ``axis=None``: the whole array is one row.
    """
    if getattr(x.dtype, "name", None) not in ("float32", "float64") or x.size == 0:
        return None
    if whole and axis is None:
        return 1, x.size
    if not _last(axis, x.ndim):
        return None
    n = x.shape[-1]
    return x.size // n, n


def _launch(op: str, x: Any, rows: int, n: int, out_shape: tuple[int, ...]) -> Any:
    import cupy
    import numpy

    with x.device:
        x = cupy.ascontiguousarray(x)
        out = cupy.empty(out_shape, dtype=x.dtype)
        threads = min(512, max(32, 1 << (n - 1).bit_length()))  # a power of two >= n, at most 512
        _function(entry(op, x.dtype.name))((rows,), (threads,), (x, out, numpy.int64(n)))
    return out


def _generic(op: str) -> Any:
    from ...core.registry import get_op

    return get_op(op).forward


def softmax(xp: Any, x: Any, /, *, axis: int = -1) -> Any:
    """``softmax`` in one kernel launch along the last axis."""
    p = plan(x, axis)
    if p is None:
        return _generic("softmax")(xp, x, axis=axis)
    return _launch("softmax", x, *p, x.shape)


def log_softmax(xp: Any, x: Any, /, *, axis: int = -1) -> Any:
    """``log_softmax`` in one kernel launch along the last axis."""
    p = plan(x, axis)
    if p is None:
        return _generic("log_softmax")(xp, x, axis=axis)
    return _launch("log_softmax", x, *p, x.shape)


def logsumexp(xp: Any, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
    """``logsumexp`` in one kernel launch along the last axis (or over the whole array)."""
    p = plan(x, axis, whole=True)
    if p is None:
        return _generic("logsumexp")(xp, x, axis=axis, keepdims=keepdims)
    if axis is None:
        shape = (1,) * x.ndim if keepdims else ()
    else:
        shape = x.shape[:-1] + ((1,) if keepdims else ())
    return _launch("logsumexp", x, *p, shape)
