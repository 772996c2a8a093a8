"""The NumPy backend's Array API namespace.

It is ``array_api_compat.numpy`` — NumPy seen through the standard — with a
few hot functions replaced by faster equivalents of the same semantics. On
tiny arrays NumPy's own ``broadcast_to`` and ``ones_like`` spend microseconds
in Python-level argument handling, which dominates a backward pass over small
tensors; the versions here allocate and fill instead (for small results only:
large broadcasts stay views, which cost no memory).

Two half-precision floats beyond the standard, for mixed precision
(``xpgrad.autocast``): ``float16`` (NumPy's own) and ``bfloat16`` (from
``ml_dtypes``, which registers it with NumPy). NumPy's ``isdtype`` and
``finfo`` do not know ``bfloat16``, so this namespace answers for it: it is a
"real floating" dtype with ml_dtypes' limits. NumPy has no BLAS for either
dtype: its own matmul loops are slow, though exact enough (float16 products
accumulate in float32).
"""

from __future__ import annotations

import builtins
from typing import Any

import array_api_compat.numpy as _compat
import ml_dtypes
import numpy as np
from array_api_compat.numpy import *  # noqa: F401,F403

bfloat16 = ml_dtypes.bfloat16   # the scalar type, as the namespace's float32 is numpy.float32
_BF16 = np.dtype(bfloat16)

_SMALL = 4096  # elements; below this, materialising beats np.broadcast_to's overhead


def broadcast_to(x: Any, /, shape: Any) -> Any:
    shape = tuple(shape)
    if type(x) is not np.ndarray:
        return _compat.broadcast_to(x, shape)
    if x.shape == shape:
        return x
    n = 1
    for s in shape:
        n *= s
    if n > _SMALL:
        return np.broadcast_to(x, shape)
    out = np.empty(shape, dtype=x.dtype)
    out[...] = x  # raises like np.broadcast_to when the shapes do not broadcast
    out.flags.writeable = False  # read-only like the view np.broadcast_to returns, whatever the size
    return out


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    if type(x) is not np.ndarray:
        return _compat.ones_like(x, dtype=dtype, device=device)
    out = np.empty(x.shape, dtype=x.dtype if dtype is None else dtype)
    out.fill(1)
    return out


def _is_bf16(d: Any) -> bool:
    """Whether ``d`` is the bfloat16 scalar type or dtype (anything else, arrays included, is not)."""
    return d is bfloat16 or (isinstance(d, np.dtype) and d == _BF16)


def isdtype(dtype: Any, kind: Any) -> bool:
    """The standard's ``isdtype``, knowing ``bfloat16`` (a "real floating" dtype, as float16 is).

    >>> isdtype(bfloat16, "real floating"), isdtype(bfloat16, ("integral", "numeric"))
    (True, True)
    """
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if _is_bf16(dtype):
        return builtins.any(k in ("real floating", "numeric") if isinstance(k, str) else _is_bf16(k)
                            for k in kinds)
    rest = tuple(k for k in kinds if not (not isinstance(k, str) and _is_bf16(k)))
    if not rest:
        return False
    return _compat.isdtype(dtype, rest if isinstance(kind, tuple) else rest[0])


def finfo(type: Any, /) -> Any:  # noqa: A002
    """The standard's ``finfo``; ``bfloat16`` (dtype or array) gets ``ml_dtypes.finfo``'s limits.

    >>> finfo(bfloat16).eps
    0.0078125
    """
    if _is_bf16(type) or _is_bf16(getattr(type, "dtype", None)):
        return ml_dtypes.finfo(bfloat16)
    return _compat.finfo(type)


def result_type(*arrays_and_dtypes: Any) -> Any:
    """The standard's ``result_type``; ``bfloat16`` with ``float16`` gives ``float32``, as NumPy's
    arithmetic on the two does (neither holds the other's values)."""
    try:
        return _compat.result_type(*arrays_and_dtypes)
    except TypeError:   # numpy.exceptions.DTypePromotionError
        dts = {np.dtype(a if isinstance(a, (np.dtype, type, str)) else a.dtype) for a in arrays_and_dtypes
               if not isinstance(a, (builtins.int, builtins.float))}
        if dts and dts <= {_BF16, np.dtype(np.float16), np.dtype(np.float32)}:
            return np.dtype(np.float32)
        raise


def __getattr__(name: str) -> Any:  # everything else: array_api_compat.numpy's
    return getattr(_compat, name)


# ---------------------------------------------------------------- half-precision products
#
# NumPy has no BLAS for float16 or bfloat16: its float16 matmul loop converts every element, multiplies
# in float32 and accumulates in float32 (about 200x slower than float32 BLAS), and ml_dtypes' bfloat16
# matmul returns float32 (and einsum refuses it). The functions below compute exactly that arithmetic
# with float32 BLAS: the conversion to float32 is exact, and so is every product (11 + 11 or 8 + 8
# significant bits fit float32's 24), the sums are float32 as in NumPy's loop, and the result is
# rounded once to the operands' dtype, as the Array API's type rules ask.

_HALF = frozenset({np.dtype(np.float16), _BF16})


def _half(*arrays: Any) -> Any:
    """The operands' common half-precision dtype, or ``None`` (other dtypes, or mixed ones)."""
    d = getattr(arrays[0], "dtype", None)
    if d is None or d.itemsize != 2 or d not in _HALF:
        return None
    for a in arrays[1:]:
        if getattr(a, "dtype", None) != d:
            return None
    return d


def _f32(a: Any) -> np.ndarray:
    return np.asarray(a).astype(np.float32)


def _rounded(out: Any, dt: np.dtype) -> np.ndarray:
    return np.asarray(out).astype(dt)


def matmul(x1: Any, x2: Any, /) -> Any:
    """The standard's ``matmul``; float16 and bfloat16 operands multiply with float32 BLAS (see above).

    >>> matmul(ones((2, 3), dtype=bfloat16), ones((3, 2), dtype=bfloat16)).dtype == bfloat16
    True
    """
    dt = _half(x1, x2)
    if dt is None:
        return _compat.matmul(x1, x2)
    return _rounded(np.matmul(_f32(x1), _f32(x2)), dt)


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> Any:
    """The standard's ``tensordot``, with half-precision operands contracted by float32 BLAS."""
    dt = _half(x1, x2)
    if dt is None:
        return _compat.tensordot(x1, x2, axes=axes)
    return _rounded(_compat.tensordot(_f32(x1), _f32(x2), axes=axes), dt)


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """The standard's ``vecdot``; half-precision operands give a result of their dtype, summed in float32."""
    dt = _half(x1, x2)
    if dt is None:
        return _compat.vecdot(x1, x2, axis=axis)
    return _rounded(_compat.vecdot(_f32(x1), _f32(x2), axis=axis), dt)


_OPS: dict[str, Any] = {}


def _op(name: str) -> Any:
    """An op of the table (ops are defined after this module loads)."""
    op = _OPS.get(name)
    if op is None:
        from ...core.registry import ops

        op = _OPS[name] = ops()[name]
    return op


def _matmul_kernel(xp: Any, x1: Any, x2: Any, /) -> Any:
    """The ``matmul`` op on cpu: float32 BLAS for half-precision operands, else the op's own forward."""
    dt = _half(x1, x2)
    if dt is None:
        return _op("matmul").forward(xp, x1, x2)
    return _rounded(np.matmul(_f32(x1), _f32(x2)), dt)


def _half_supported(signature: Any) -> Any:
    """Kernels for half-precision calls only: every array operand float16, or every one bfloat16."""
    names = {str(d) for d in signature.dtypes}
    if len(names) == 1 and names <= {"float16", "bfloat16"}:
        return True
    return "handles float16 or bfloat16 operands (all of one dtype) only"


def _einsum_kernel(xp: Any, *operands: Any, subscripts: str) -> Any:
    """``einsum`` of half-precision operands: ``np.einsum`` in float32, rounded to their dtype."""
    dt = operands[0].dtype
    out = np.einsum(subscripts, *(_f32(a) for a in operands), optimize=len(operands) > 2)
    return _rounded(out, dt)


def _conv2d_kernel(xp: Any, x: Any, w: Any, /, **params: Any) -> Any:
    """``conv2d`` of half-precision operands: the best float32 kernel on the exact float32 copies, rounded."""
    from ...ops._structure import call

    return _rounded(call(_op("conv2d"), xp, _f32(x), _f32(w), **params), x.dtype)


def register_half_kernels(b: Any) -> None:
    """float16/bfloat16 products on backend ``b`` through float32 BLAS (``backends/numpy/__init__``)."""
    from .. import register_kernel

    register_kernel("matmul", b, _matmul_kernel)
    register_kernel("einsum", b, _einsum_kernel, name="half", supports=_half_supported)
    register_kernel("conv2d", b, _conv2d_kernel, name="half", supports=_half_supported)
