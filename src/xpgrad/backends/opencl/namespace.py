"""The OpenCL backend's Array API namespace: every function runs as OpenCL kernels on the device.

Elementwise functions are rows of one table (``_EW``): an OpenCL C expression
per dtype category, compiled through one template (``kernels.elementwise``).
Reductions, scans, matmul and indexing have kernels of their own; shape
functions make views wherever the Array API allows.

A function this namespace does not implement (sorting, set functions, most
of ``linalg``...) still works: ``__getattr__`` hands out a wrapper that copies
the arrays to the host, calls ``array_api_compat.numpy``'s function and copies
the results back, warning once per function. :func:`fallback_counts` and
:func:`~xpgrad.backends.opencl.array.host_transfers` let tests assert that a
computation needed neither.

>>> from xpgrad.backends.opencl import namespace as cx                  # doctest: +SKIP
>>> x = cx.asarray([[1.0, 2.0], [3.0, 4.0]], dtype=cx.float32)           # doctest: +SKIP
>>> cx.sum(x @ x, axis=0)                                                 # doctest: +SKIP
OpenCLArray([22., 32.], dtype=float32, device='opencl:0')
"""

from __future__ import annotations

import builtins
import math
import types
import warnings
from typing import Any

import array_api_compat.numpy as _compat
import numpy as np

from ...core.errors import DTypeError
from . import indexing as _ix
from . import kernels as K
from .array import OpenCLArray, c_strides, check_dtype, download, host_transfers, upload
from .array import empty as _alloc
from .array import reset_counters as _reset_transfers
from .device import Device, default_device, get_device

__array_api_version__ = "2024.12"

# ---------------------------------------------------------------- dtypes and constants
# The same objects as array_api_compat.numpy's, so that dtypes compare equal across backends.
bool = np.bool_  # noqa: A001
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint16, uint32, uint64 = np.uint8, np.uint16, np.uint32, np.uint64
float32, float64 = np.float32, np.float64
complex64, complex128 = np.complex64, np.complex128   # listed for completeness; arrays refuse them
e, pi, inf, nan = math.e, math.pi, math.inf, math.nan
newaxis = None

_B = np.dtype(np.bool_)
_I64 = np.dtype(np.int64)
_U64 = np.dtype(np.uint64)

# ---------------------------------------------------------------- counters

_FALLBACKS: dict[str, int] = {}
_WARNED: set[str] = set()


class HostFallbackWarning(UserWarning):
    """A namespace function ran on the host because the OpenCL backend has no kernel for it."""


def fallback_counts() -> dict[str, int]:
    """How many times each function fell back to the host in this process (empty: none did)."""
    return dict(_FALLBACKS)


def reset_counters() -> None:
    """Zero the fallback counts and the host transfer counters."""
    _FALLBACKS.clear()
    _reset_transfers()


__all__ = ["fallback_counts", "host_transfers", "reset_counters", "HostFallbackWarning"]


# ---------------------------------------------------------------- helpers


def _cat(dt: np.dtype) -> str:
    """Dtype category: 'f' floating, 'i' signed, 'u' unsigned, 'b' bool."""
    return dt.kind


def _dev_of(*args: Any) -> Device:
    dev = None
    for a in args:
        if isinstance(a, OpenCLArray):
            if dev is None:
                dev = a._dev
            elif a._dev is not dev:
                raise ValueError(f"arrays on different devices ({dev} and {a._dev}); move one with "
                                 "x.to_device(...)")
    return dev if dev is not None else default_device()


def _scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (builtins.bool, int, float)):
        return v
    if isinstance(v, np.ndarray):
        raise TypeError(f"cannot combine a NumPy array ({v.shape} {v.dtype}) with OpenCL arrays; move it "
                        "to the device first with xpgrad.asarray(..., device='opencl:N')")
    if isinstance(v, complex):
        raise DTypeError("complex scalars are not supported by the OpenCL backend")
    raise TypeError(f"expected an OpenCL array or a Python scalar, got {type(v).__name__}")


def _arg(a: Any) -> Any:
    return a if isinstance(a, OpenCLArray) else _scalar(a)


def _result_type(*args: Any) -> np.dtype:
    """Array API promotion; Python scalars are weak (they adopt the array's kind and width)."""
    return np.result_type(*(a._dtype if isinstance(a, OpenCLArray) else a for a in args))


def _default_float(dev: Device) -> np.dtype:
    return dev.default_float


def _copy(x: OpenCLArray) -> OpenCLArray:
    """A C-contiguous copy of ``x`` on its device."""
    return K.elementwise(x._dev, "a0", [x], [x._dtype], x._dtype)


def _norm_axis(axis: int, ndim: int, what: str = "axis") -> int:
    if not -ndim <= axis < builtins.max(ndim, 1):
        raise ValueError(f"{what} {axis} is out of range for an array of {ndim} dimension(s)")
    return axis % ndim if ndim else 0


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = sorted({_norm_axis(int(a), ndim) for a in axes})
    if len(out) != len(axes):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(out)


# ---------------------------------------------------------------- elementwise table
# name: (kind, {category: expression}); {T} is the compute type in OpenCL C.
#   arith    result = promoted dtype           float   result promoted, then floating
#   compare  output bool                       same    unary, output = input dtype
#   fn       unary, floating (ints promote)    pred    unary predicate, output bool
#   logical  inputs as truth values, bool out

_FLOAT_FN = ("exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "sin", "cos", "tan", "asin", "acos",
             "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh")
_NUM = ("f", "i", "u")

_EW: dict[str, tuple[str, dict[str, str]]] = {
    "add": ("arith", {"f": "a0 + a1", "i": "a0 + a1", "u": "a0 + a1", "b": "a0 | a1"}),
    "subtract": ("arith", {"f": "a0 - a1", "i": "a0 - a1", "u": "a0 - a1"}),
    "multiply": ("arith", {"f": "a0 * a1", "i": "a0 * a1", "u": "a0 * a1", "b": "a0 & a1"}),
    "divide": ("float", {"f": "a0 / a1"}),
    "floor_divide": ("arith", {c: "xp_floordiv_{T}(a0, a1)" for c in _NUM}),
    "remainder": ("arith", {c: "xp_mod_{T}(a0, a1)" for c in _NUM}),
    "pow": ("arith", {c: "xp_pow_{T}(a0, a1)" for c in _NUM}),
    "maximum": ("arith", {c: "xp_max_{T}(a0, a1)" for c in (*_NUM, "b")}),
    "minimum": ("arith", {c: "xp_min_{T}(a0, a1)" for c in (*_NUM, "b")}),
    "atan2": ("float", {"f": "atan2(a0, a1)"}),
    "hypot": ("float", {"f": "hypot(a0, a1)"}),
    "copysign": ("float", {"f": "copysign(a0, a1)"}),
    "nextafter": ("float", {"f": "nextafter(a0, a1)"}),
    "logaddexp": ("float", {"f": "xp_logaddexp_{T}(a0, a1)"}),
    "equal": ("compare", {c: "a0 == a1" for c in (*_NUM, "b")}),
    "not_equal": ("compare", {c: "a0 != a1" for c in (*_NUM, "b")}),
    "less": ("compare", {c: "a0 < a1" for c in (*_NUM, "b")}),
    "less_equal": ("compare", {c: "a0 <= a1" for c in (*_NUM, "b")}),
    "greater": ("compare", {c: "a0 > a1" for c in (*_NUM, "b")}),
    "greater_equal": ("compare", {c: "a0 >= a1" for c in (*_NUM, "b")}),
    "logical_and": ("logical", {"b": "(a0 != 0) && (a1 != 0)"}),
    "logical_or": ("logical", {"b": "(a0 != 0) || (a1 != 0)"}),
    "logical_xor": ("logical", {"b": "(a0 != 0) != (a1 != 0)"}),
    "logical_not": ("logical", {"b": "a0 == 0"}),
    "bitwise_and": ("arith", {"i": "a0 & a1", "u": "a0 & a1", "b": "a0 & a1"}),
    "bitwise_or": ("arith", {"i": "a0 | a1", "u": "a0 | a1", "b": "a0 | a1"}),
    "bitwise_xor": ("arith", {"i": "a0 ^ a1", "u": "a0 ^ a1", "b": "a0 ^ a1"}),
    "bitwise_left_shift": ("arith", {"i": "xp_shl_{T}(a0, a1)", "u": "xp_shl_{T}(a0, a1)"}),
    "bitwise_right_shift": ("arith", {"i": "xp_shr_{T}(a0, a1)", "u": "xp_shr_{T}(a0, a1)"}),
    "bitwise_invert": ("same", {"i": "~a0", "u": "~a0", "b": "!a0"}),
    "negative": ("same", {"f": "-a0", "i": "-a0", "u": "-a0"}),
    "positive": ("same", {"f": "a0", "i": "a0", "u": "a0"}),
    "abs": ("same", {"f": "fabs(a0)", "i": "(a0 < 0 ? -a0 : a0)", "u": "a0", "b": "a0"}),
    "square": ("same", {"f": "a0 * a0", "i": "a0 * a0", "u": "a0 * a0"}),
    "sign": ("same", {"f": "xp_sign_{T}(a0)", "i": "xp_sign_{T}(a0)", "u": "xp_sign_{T}(a0)"}),
    "floor": ("same", {"f": "floor(a0)", "i": "a0", "u": "a0", "b": "a0"}),
    "ceil": ("same", {"f": "ceil(a0)", "i": "a0", "u": "a0", "b": "a0"}),
    "trunc": ("same", {"f": "trunc(a0)", "i": "a0", "u": "a0", "b": "a0"}),
    "round": ("same", {"f": "rint(a0)", "i": "a0", "u": "a0"}),   # rint: halves to even, as NumPy
    "conj": ("same", {"f": "a0", "i": "a0", "u": "a0", "b": "a0"}),
    "real": ("same", {"f": "a0", "i": "a0", "u": "a0", "b": "a0"}),
    "imag": ("same", {"f": "({T})0", "i": "({T})0", "u": "({T})0", "b": "({T})0"}),
    "reciprocal": ("fn", {"f": "({T})1 / a0"}),
    "isnan": ("pred", {"f": "isnan(a0)", "i": "0", "u": "0", "b": "0"}),
    "isinf": ("pred", {"f": "isinf(a0)", "i": "0", "u": "0", "b": "0"}),
    "isfinite": ("pred", {"f": "isfinite(a0)", "i": "1", "u": "1", "b": "1"}),
    "signbit": ("pred", {"f": "signbit(a0)", "i": "a0 < 0", "u": "0", "b": "0"}),
    **{f: ("fn", {"f": f"{f}(a0)"}) for f in _FLOAT_FN},   # OpenCL C has every one under its name
}


def _ew(name: str, *args: Any, out: OpenCLArray | None = None) -> OpenCLArray:
    kind, exprs = _EW[name]
    args = tuple(_arg(a) for a in args)
    arrays = [a for a in args if isinstance(a, OpenCLArray)]
    if not arrays:  # Python scalars only (a rule applied to a scalar operand): a 0-d array, as NumPy
        args = (asarray(args[0]),) + args[1:]
        arrays = [args[0]]
    dev = _dev_of(*arrays)
    if kind in ("same", "fn", "pred"):
        (x,) = args
        ct = x._dtype
        if kind == "fn" and ct.kind != "f":
            ct = _default_float(dev)
        res = _B if kind == "pred" else ct
    elif kind == "logical":
        ct, res = None, _B
    else:
        ct = _result_type(*args)
        if kind == "float" and ct.kind != "f":
            ct = _default_float(dev)
        if kind == "compare" and ct.kind in "iu":
            ct = _compare_type(ct, args)
        res = _B if kind == "compare" else ct
    if kind == "logical":
        compute = [a._dtype if isinstance(a, OpenCLArray) else _B for a in args]
        expr = exprs["b"]
    else:
        ct = check_dtype(ct, dev)
        expr = exprs.get(_cat(ct))
        if expr is None:
            ops = ", ".join(str(a.dtype) if isinstance(a, OpenCLArray) else repr(a) for a in args)
            raise DTypeError(f"{name} is not defined for dtype {ct} (operands: {ops})")
        expr = expr.replace("{T}", K.ctype(ct))
        compute = [ct] * len(args)
    if out is not None:
        if K.broadcast_shapes(out.shape, *(a.shape for a in arrays)) != out.shape:
            raise ValueError(f"in-place {name}: operands of shapes {[a.shape for a in arrays]} do not "
                             f"broadcast to the destination's shape {out.shape}")
        if builtins.any(a._buf is out._buf and (a._strides != out._strides or a._offset != out._offset)
               for a in arrays):  # partial overlap: compute out of place, then write
            r = _ew(name, *args)
            K.elementwise(dev, "a0", [r], [out._dtype], out._dtype, out=out)
            return out
        return K.elementwise(dev, expr, list(args), compute, out._dtype, out=out)
    return K.elementwise(dev, expr, list(args), compute, res)


def _compare_type(ct: np.dtype, args: tuple) -> np.dtype:
    """An integer type wide enough to compare with every Python int in ``args`` (``u8 < -3`` is False)."""
    for a in args:
        if isinstance(a, int) and not isinstance(a, builtins.bool):
            info = np.iinfo(ct)
            if not info.min <= a <= info.max:
                wide = ct.kind == "i" or ct.itemsize < 8
                return np.dtype(np.int64) if wide and -2 ** 63 <= a < 2 ** 63 else np.dtype(np.float64)
    return ct


def _binop(name: str, x1: Any, x2: Any, out: OpenCLArray | None = None) -> OpenCLArray:
    """The operator ``x1 <op> x2`` (``out=x1`` for the in-place form)."""
    if name == "matmul":
        r = matmul(x1, x2)
        if out is not None:
            K.elementwise(out._dev, "a0", [r], [out._dtype], out._dtype, out=out)
            return out
        return r
    return _ew(name, x1, x2, out=out)


def _make_ew(name: str) -> Any:
    nin = 1 if _EW[name][0] in ("same", "fn", "pred") or name == "logical_not" else 2
    if nin == 1:
        def f(x: Any, /) -> OpenCLArray:
            return _ew(name, x)
    else:
        def f(x1: Any, x2: Any, /) -> OpenCLArray:  # type: ignore[misc]
            return _ew(name, x1, x2)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``{name}`` elementwise on the device (Array API)."
    return f


for _name in _EW:
    globals()[_name] = _make_ew(_name)
__all__ += list(_EW)


def where(condition: Any, x1: Any, x2: Any, /) -> OpenCLArray:
    """``x1`` where ``condition`` else ``x2``; the arrays broadcast together."""
    c, a, b = _arg(condition), _arg(x1), _arg(x2)
    dev = _dev_of(c, a, b)
    if isinstance(a, OpenCLArray) or isinstance(b, OpenCLArray):
        ct = check_dtype(_result_type(a, b), dev)
    else:  # two Python scalars: the default dtype of their kind
        ct = builtins.max(_fill_dtype(a, dev), _fill_dtype(b, dev), key=lambda d: "bif".index(d.kind))
    cc = c._dtype if isinstance(c, OpenCLArray) else _B
    return K.elementwise(dev, "(a0 != 0) ? a1 : a2", [c, a, b], [cc, ct, ct], ct,
                         shape=None if builtins.any(isinstance(v, OpenCLArray) for v in (c, a, b)) else ())


def clip(x: OpenCLArray, /, min: Any = None, max: Any = None) -> OpenCLArray:  # noqa: A002
    """``x`` clamped to ``[min, max]`` (either may be None, a scalar or an array); keeps ``x``'s dtype."""
    dev = _dev_of(x, min, max)
    T = x._dtype
    ct = K.ctype(T)
    expr, ops = "a0", [x]
    if min is not None:
        ops.append(_arg(min))
        expr = f"xp_max_{ct}({expr}, a{len(ops) - 1})"
    if max is not None:
        ops.append(_arg(max))
        expr = f"xp_min_{ct}({expr}, a{len(ops) - 1})"
    return K.elementwise(dev, expr, ops, [T] * len(ops), T)


def astype(x: OpenCLArray, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> OpenCLArray:
    """``x`` converted to ``dtype`` (a copy unless ``copy=False`` and nothing changes)."""
    if device is not None and get_device(device) is not x._dev:
        x = x.to_device(device)
    dt = check_dtype(dtype, x._dev)
    if dt == x._dtype and not copy:
        return x
    return K.elementwise(x._dev, "a0", [x], [x._dtype], dt)


# ---------------------------------------------------------------- creation


def _shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    out = tuple(int(s) for s in shape)
    if builtins.any(s < 0 for s in out):
        raise ValueError(f"negative dimensions are not allowed: {out}")
    return out


def _fill_dtype(value: Any, dev: Device) -> np.dtype:
    if isinstance(value, OpenCLArray):
        return value._dtype
    if isinstance(value, (builtins.bool, np.bool_)):
        return _B
    if isinstance(value, (int, np.integer)):
        return _I64
    return _default_float(dev)


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: builtins.bool | None = None
            ) -> OpenCLArray:
    """An array on ``device`` (default ``opencl:0``) from host data or another OpenCL array.

    Python floats become the device's default float (float64 where the device
    has doubles, float32 otherwise); a NumPy array keeps its dtype.
    """
    if isinstance(obj, OpenCLArray):
        dev = obj._dev if device is None else get_device(device)
        x = obj if dev is obj._dev else obj.to_device(dev)
        dt = x._dtype if dtype is None else check_dtype(dtype, dev)
        if dt != x._dtype:
            if copy is False:
                raise ValueError(f"asarray(copy=False) cannot convert {x._dtype} to {dt} without a copy")
            return astype(x, dt)
        if copy and x is obj:
            return _copy(x)
        return x
    dev = get_device(device)
    if copy is False:
        raise ValueError("asarray(copy=False): host data must be copied to reach an OpenCL device")
    if isinstance(obj, (builtins.bool, int, float)) and dtype is None:
        dt = _fill_dtype(obj, dev)
        return K.elementwise(dev, "a0", [dt.type(obj)], [dt], dt, shape=())
    host = np.asarray(obj)
    if dtype is not None:
        dt = check_dtype(dtype, dev)
    elif host.dtype.kind == "f" and not hasattr(obj, "dtype"):
        dt = _default_float(dev)          # Python floats: the device's default floating dtype
    else:
        dt = host.dtype                   # an array of any library keeps its dtype
    return upload(host, dev, dt)


def _creation_dtype(dtype: Any, dev: Device) -> np.dtype:
    return check_dtype(_default_float(dev) if dtype is None else dtype, dev)


def empty(shape: Any, *, dtype: Any = None, device: Any = None) -> OpenCLArray:
    """An uninitialised array of ``shape`` (default dtype: the device's default float)."""
    dev = get_device(device)
    return _alloc(_shape(shape), _creation_dtype(dtype, dev), dev)


def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> OpenCLArray:
    """An array of ``shape`` filled with ``fill_value`` (a scalar, or a 0-d array of the device)."""
    dev = get_device(device) if device is not None or not isinstance(fill_value, OpenCLArray) \
        else fill_value._dev
    dt = check_dtype(_fill_dtype(fill_value, dev) if dtype is None else dtype, dev)
    v = fill_value if isinstance(fill_value, OpenCLArray) else dt.type(_scalar(fill_value))
    return K.elementwise(dev, "a0", [v], [dt], dt, shape=_shape(shape))


def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> OpenCLArray:
    """An array of ``shape`` filled with 0."""
    dev = get_device(device)
    dt = _creation_dtype(dtype, dev)
    return K.elementwise(dev, "a0", [dt.type(0)], [dt], dt, shape=_shape(shape))


def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> OpenCLArray:
    """An array of ``shape`` filled with 1."""
    dev = get_device(device)
    dt = _creation_dtype(dtype, dev)
    return K.elementwise(dev, "a0", [dt.type(1)], [dt], dt, shape=_shape(shape))


def _like_dev(x: OpenCLArray, device: Any) -> Device:
    return x._dev if device is None else get_device(device)


def _like(x: Any) -> OpenCLArray:
    """``x``, or a Python scalar as a 0-d array (rules may hand one to ``zeros_like`` and friends)."""
    return x if isinstance(x, OpenCLArray) else asarray(_scalar(x))


def empty_like(x: OpenCLArray, /, *, dtype: Any = None, device: Any = None) -> OpenCLArray:
    """An uninitialised array shaped like ``x``."""
    x = _like(x)
    return empty(x.shape, dtype=x.dtype if dtype is None else dtype, device=_like_dev(x, device))


def zeros_like(x: OpenCLArray, /, *, dtype: Any = None, device: Any = None) -> OpenCLArray:
    """Zeros shaped like ``x`` (its dtype and device unless given)."""
    x = _like(x)
    return zeros(x.shape, dtype=x.dtype if dtype is None else dtype, device=_like_dev(x, device))


def ones_like(x: OpenCLArray, /, *, dtype: Any = None, device: Any = None) -> OpenCLArray:
    """Ones shaped like ``x`` (its dtype and device unless given)."""
    x = _like(x)
    return ones(x.shape, dtype=x.dtype if dtype is None else dtype, device=_like_dev(x, device))


def full_like(x: OpenCLArray, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> OpenCLArray:
    """``fill_value`` everywhere, shaped like ``x``."""
    x = _like(x)
    return full(x.shape, fill_value, dtype=x.dtype if dtype is None else dtype, device=_like_dev(x, device))


def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None,
           device: Any = None) -> OpenCLArray:
    """``start, start + step, ...`` below ``stop``, computed on the device."""
    dev = get_device(device)
    if stop is None:
        start, stop = 0, start
    start, stop, step = _scalar(start), _scalar(stop), _scalar(step)
    if step == 0:
        raise ValueError("arange: step must not be zero")
    ints = builtins.all(isinstance(v, int) for v in (start, stop, step))
    n = len(range(start, stop, step)) if ints else builtins.max(0, math.ceil((stop - start) / step))
    dt = check_dtype(dtype if dtype is not None else (_I64 if ints else _default_float(dev)), dev)
    ct = _I64 if ints and dt.kind in "iu" else (np.dtype(np.float64) if dev.fp64 else np.dtype(np.float32))
    return K.elementwise(dev, f"a0 + ({K.ctype(ct)})i * a1", [ct.type(start), ct.type(step)], [ct, ct], dt,
                         shape=(n,))


def linspace(start: Any, stop: Any, /, num: int, *, dtype: Any = None, device: Any = None,
             endpoint: builtins.bool = True) -> OpenCLArray:
    """``num`` evenly spaced values from ``start`` to ``stop`` (NumPy's arithmetic)."""
    dev = get_device(device)
    dt = _creation_dtype(dtype, dev)
    ct = np.dtype(np.float64) if dev.fp64 else np.dtype(np.float32)
    div = (num - 1) if endpoint else num
    step = (stop - start) / div if div > 0 else 0.0
    last = num - 1 if endpoint and num > 1 else -1
    T = K.ctype(ct)
    return K.elementwise(dev, f"(i == a3) ? a1 : a0 + ({T})i * a2",
                         [ct.type(start), ct.type(stop), ct.type(step), np.int64(last)], [ct, ct, ct, _I64],
                         dt, shape=(int(num),))


def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: Any = None,
        device: Any = None) -> OpenCLArray:
    """Ones on diagonal ``k`` of an ``n_rows`` x ``n_cols`` matrix, zeros elsewhere."""
    dev = get_device(device)
    dt = _creation_dtype(dtype, dev)
    m = n_rows if n_cols is None else n_cols
    return K.elementwise(dev, "((i % a0) - (i / a0)) == a1", [np.int64(builtins.max(m, 1)), np.int64(k)],
                         [_I64, _I64], dt, shape=(int(n_rows), int(m)))


def _tri(x: OpenCLArray, k: int, upper: builtins.bool) -> OpenCLArray:
    if x.ndim < 2:
        raise ValueError("tril/triu need an array of at least 2 dimensions")
    M, N = x.shape[-2:]
    cmp = ">=" if upper else "<="
    T = K.ctype(x._dtype)
    return K.elementwise(x._dev, f"((i % a1) - ((i / a1) % a2) {cmp} a3) ? a0 : ({T})0",
                         [x, np.int64(builtins.max(N, 1)), np.int64(builtins.max(M, 1)), np.int64(k)],
                         [x._dtype, _I64, _I64, _I64], x._dtype)


def tril(x: OpenCLArray, /, *, k: int = 0) -> OpenCLArray:
    """``x`` with the elements above diagonal ``k`` of its last two axes set to 0."""
    return _tri(x, k, False)


def triu(x: OpenCLArray, /, *, k: int = 0) -> OpenCLArray:
    """``x`` with the elements below diagonal ``k`` of its last two axes set to 0."""
    return _tri(x, k, True)


def meshgrid(*arrays: OpenCLArray, indexing: str = "xy") -> list[OpenCLArray]:
    """Coordinate arrays from 1-D arrays (``indexing='xy'`` swaps the first two axes)."""
    n = len(arrays)
    shape = [a.size for a in arrays]
    if indexing == "xy" and n >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, a in enumerate(arrays):
        pos = i
        if indexing == "xy" and n >= 2 and i < 2:
            pos = 1 - i
        s = [1] * n
        s[pos] = a.size
        out.append(_copy(broadcast_to(reshape(a, tuple(s)), tuple(shape))))
    return out


# ---------------------------------------------------------------- dtype functions


def isdtype(dtype: Any, kind: Any) -> builtins.bool:
    """Whether ``dtype`` is of ``kind`` (Array API kinds, e.g. ``'real floating'``)."""
    return _compat.isdtype(dtype, kind)


def result_type(*arrays_and_dtypes: Any) -> np.dtype:
    """The dtype the Array API promotion rules give these arrays, dtypes and scalars."""
    return np.result_type(*(a._dtype if isinstance(a, OpenCLArray) else a for a in arrays_and_dtypes))


def can_cast(from_: Any, to: Any, /) -> builtins.bool:
    """Whether ``from_`` (a dtype or array) casts to ``to`` safely."""
    return _compat.can_cast(from_._dtype if isinstance(from_, OpenCLArray) else from_, to)


def finfo(type: Any, /) -> Any:  # noqa: A002
    """Machine limits of a floating dtype (or an array's)."""
    return _compat.finfo(type._dtype if isinstance(type, OpenCLArray) else type)


def iinfo(type: Any, /) -> Any:  # noqa: A002
    """Machine limits of an integer dtype (or an array's)."""
    return _compat.iinfo(type._dtype if isinstance(type, OpenCLArray) else type)


class _Info:
    """``__array_namespace_info__()``: the devices and dtypes of this namespace."""

    def capabilities(self) -> dict:
        """What this namespace supports (boolean indexing, data-dependent shapes)."""
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": None}

    def default_device(self) -> Device:
        """The device arrays go to when none is named: ``opencl:0``."""
        return default_device()

    def devices(self) -> list[Device]:
        """Every usable OpenCL device."""
        from .device import devices

        return list(devices())

    def default_dtypes(self, *, device: Any = None) -> dict:
        """Default dtypes on ``device``: float64 where it has doubles, else float32."""
        dev = get_device(device)
        return {"real floating": dev.default_float, "complex floating": None, "integral": _I64,
                "indexing": _I64}

    def dtypes(self, *, device: Any = None, kind: Any = None) -> dict:
        """The dtypes ``device`` supports, optionally of one ``kind``."""
        dev = get_device(device)
        from .array import SUPPORTED

        out = {}
        for dt in SUPPORTED:
            if dt == np.float64 and not dev.fp64:
                continue
            if kind is None or _compat.isdtype(dt, kind):
                out[dt.name] = dt
        return out


def __array_namespace_info__() -> _Info:
    return _Info()


# ---------------------------------------------------------------- shapes and views


def _nocopy_strides(x: OpenCLArray, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """Strides that view ``x`` with ``shape`` without copying, or None (NumPy's attempt_nocopy_reshape)."""
    od = [n for n in x._shape if n != 1]
    os_ = [s for n, s in zip(x._shape, x._strides) if n != 1]
    nd = list(shape)
    ns = [0] * len(nd)
    oi, oj, ni, nj = 0, 1, 0, 1
    while ni < len(nd) and oi < len(od):
        np_, op = nd[ni], od[oi]
        while np_ != op:
            if np_ < op:
                np_ *= nd[nj]
                nj += 1
            else:
                op *= od[oj]
                oj += 1
        for ok in range(oi, oj - 1):   # the old axes merged here must be contiguous with each other
            if os_[ok] != od[ok + 1] * os_[ok + 1]:
                return None
        ns[nj - 1] = os_[oj - 1]
        for nk in range(nj - 1, ni, -1):
            ns[nk - 1] = ns[nk] * nd[nk]
        ni, nj, oi, oj = nj, nj + 1, oj, oj + 1
    last = ns[ni - 1] if ni >= 1 else 1
    for nk in range(ni, len(nd)):
        ns[nk] = last
    return tuple(ns)


def reshape(x: OpenCLArray, /, shape: Any, *, copy: builtins.bool | None = None) -> OpenCLArray:
    """``x`` with a new shape: a view when the strides allow it, a copy otherwise."""
    shape = tuple(int(s) for s in ((shape,) if isinstance(shape, (int, np.integer)) else shape))
    if shape.count(-1) > 1:
        raise ValueError("reshape: only one dimension can be -1")
    n = x.size
    if -1 in shape:
        rest = 1
        for s in shape:
            if s != -1:
                rest *= s
        if rest == 0 or n % rest:
            raise ValueError(f"cannot reshape an array of size {n} into shape {shape}")
        shape = tuple(n // rest if s == -1 else s for s in shape)
    total = 1
    for s in shape:
        total *= s
    if total != n:
        raise ValueError(f"cannot reshape an array of size {n} (shape {x.shape}) into shape {shape}")
    if copy:
        x = _copy(x)
    if shape == x._shape:
        return x
    st = c_strides(shape) if n == 0 else _nocopy_strides(x, shape)
    if st is None:
        if copy is False:
            raise ValueError(f"reshape(copy=False): an array of shape {x.shape} and strides {x.strides} "
                             f"cannot be viewed as shape {shape}")
        x = _copy(x)
        st = c_strides(shape)
    return x._view(shape, st, x._offset)


def permute_dims(x: OpenCLArray, /, axes: Any) -> OpenCLArray:
    """A view of ``x`` with its axes reordered as ``axes``."""
    axes = tuple(_norm_axis(int(a), x.ndim) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute_dims: {axes} is not a permutation of the axes of an array of shape "
                         f"{x.shape}")
    return x._view(tuple(x._shape[a] for a in axes), tuple(x._strides[a] for a in axes), x._offset)


def matrix_transpose(x: OpenCLArray, /) -> OpenCLArray:
    """A view of ``x`` with its last two axes swapped."""
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose needs at least 2 dimensions, got shape {x.shape}")
    ax = list(range(x.ndim))
    ax[-1], ax[-2] = ax[-2], ax[-1]
    return permute_dims(x, ax)


def expand_dims(x: OpenCLArray, /, *, axis: Any = 0) -> OpenCLArray:
    """A view of ``x`` with size-1 axes inserted at ``axis`` (positions in the result)."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    nd = x.ndim + len(axes)
    pos = sorted(_norm_axis(int(a), nd) for a in axes)
    shape, strides = list(x._shape), list(x._strides)
    for p in pos:
        shape.insert(p, 1)
        strides.insert(p, 0)
    return x._view(tuple(shape), tuple(strides), x._offset)


def squeeze(x: OpenCLArray, /, axis: Any) -> OpenCLArray:
    """A view of ``x`` without the size-1 axes ``axis``."""
    axes = _axes(axis, x.ndim)
    for a in axes:
        if x._shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of shape {x.shape} has size {x._shape[a]}, not 1")
    keep = [d for d in range(x.ndim) if d not in axes]
    return x._view(tuple(x._shape[d] for d in keep), tuple(x._strides[d] for d in keep), x._offset)


def broadcast_to(x: OpenCLArray, /, shape: Any) -> OpenCLArray:
    """A read-only stride-0 view of ``x`` with ``shape``."""
    shape = _shape(shape)
    if K.broadcast_shapes(x._shape, shape) != shape:
        raise ValueError(f"cannot broadcast an array of shape {x.shape} to shape {shape}")
    if shape == x._shape:
        return x
    st = K.broadcast_strides(x._shape, x._strides, shape)
    return x._view(shape, tuple(st), x._offset, writeable=False)


def broadcast_arrays(*arrays: OpenCLArray) -> list[OpenCLArray]:
    """Stride-0 views of ``arrays`` broadcast to their common shape."""
    shape = K.broadcast_shapes(*(a.shape for a in arrays))
    return [broadcast_to(a, shape) for a in arrays]


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape ``shapes`` broadcast to (Array API rules)."""
    return K.broadcast_shapes(*shapes)


def flip(x: OpenCLArray, /, *, axis: Any = None) -> OpenCLArray:
    """A view of ``x`` with the order along ``axis`` reversed (negative strides)."""
    axes = _axes(axis, x.ndim)
    strides, off = list(x._strides), x._offset
    for a in axes:
        if x._shape[a] > 0:
            off += (x._shape[a] - 1) * strides[a]
        strides[a] = -strides[a]
    return x._view(x._shape, tuple(strides), off)


def moveaxis(x: OpenCLArray, source: Any, destination: Any, /) -> OpenCLArray:
    """A view of ``x`` with axes ``source`` moved to ``destination``."""
    src = [_norm_axis(int(a), x.ndim) for a in ((source,) if isinstance(source, int) else source)]
    dst = [_norm_axis(int(a), x.ndim)
           for a in ((destination,) if isinstance(destination, int) else destination)]
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute_dims(x, order)


def concat(arrays: Any, /, *, axis: int | None = 0) -> OpenCLArray:
    """Join ``arrays`` along ``axis`` (``None``: flattened) into a new array."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("concat needs at least one array")
    dev = _dev_of(*arrays)
    if axis is None:
        arrays = [reshape(a, (-1,)) for a in arrays]
        axis = 0
    nd = arrays[0].ndim
    if builtins.any(a.ndim != nd for a in arrays):
        raise ValueError(f"concat: arrays must have the same number of dimensions, got "
                         f"{[a.shape for a in arrays]}")
    ax = _norm_axis(axis, nd)
    rest = {a.shape[:ax] + a.shape[ax + 1:] for a in arrays}
    if len(rest) > 1:
        raise ValueError(f"concat along axis {axis}: shapes {[a.shape for a in arrays]} differ off that axis")
    dt = check_dtype(result_type(*arrays), dev)
    shape = list(arrays[0].shape)
    shape[ax] = builtins.sum(a.shape[ax] for a in arrays)
    out = _alloc(tuple(shape), dt, dev)
    lo = 0
    for a in arrays:
        n = a.shape[ax]
        if n:
            key = (slice(None),) * ax + (slice(lo, lo + n),)
            K.elementwise(dev, "a0", [a], [a._dtype], dt, out=out[key])
        lo += n
    return out


def stack(arrays: Any, /, *, axis: int = 0) -> OpenCLArray:
    """Join same-shaped ``arrays`` along a new axis ``axis``."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("stack needs at least one array")
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"stack needs arrays of one shape, got {[a.shape for a in arrays]}")
    ax = _norm_axis(axis, arrays[0].ndim + 1)
    return concat([expand_dims(a, axis=ax) for a in arrays], axis=ax)


def unstack(x: OpenCLArray, /, *, axis: int = 0) -> tuple[OpenCLArray, ...]:
    """Views of ``x``'s slices along ``axis``."""
    ax = _norm_axis(axis, x.ndim)
    return tuple(x[(slice(None),) * ax + (i,)] for i in range(x.shape[ax]))


def roll(x: OpenCLArray, /, shift: Any, *, axis: Any = None) -> OpenCLArray:
    """``x`` shifted by ``shift`` along ``axis`` (flattened when None), wrapping around."""
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, axis=0), x.shape)
    shifts = (shift,) if isinstance(shift, int) else tuple(shift)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    out = x
    for s, a in zip(shifts, axes):
        a = _norm_axis(a, x.ndim)
        n = x.shape[a]
        if n == 0:
            continue
        s %= n
        if s:
            pre = (slice(None),) * a
            out = concat([out[pre + (slice(n - s, None),)], out[pre + (slice(0, n - s),)]], axis=a)
    return out if out is not x else _copy(x)


def repeat(x: OpenCLArray, repeats: Any, /, *, axis: int | None = None) -> OpenCLArray:
    """Each element of ``x`` repeated ``repeats`` times along ``axis`` (count arrays run on the host)."""
    if not isinstance(repeats, (int, np.integer)):
        return _fallback_fn("repeat")(x, repeats, axis=axis)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    ax = _norm_axis(axis, x.ndim)
    e_ = expand_dims(x, axis=ax + 1)
    shape = list(e_.shape)
    shape[ax + 1] = int(repeats)
    b = broadcast_to(e_, tuple(shape))
    final = list(x.shape)
    final[ax] *= int(repeats)
    return reshape(_copy(b), tuple(final))


def tile(x: OpenCLArray, repetitions: Any, /) -> OpenCLArray:
    """``x`` repeated ``repetitions`` times along each axis."""
    reps = tuple(int(r) for r in repetitions)
    nd = builtins.max(len(reps), x.ndim)
    reps = (1,) * (nd - len(reps)) + reps
    xs = (1,) * (nd - x.ndim) + x.shape
    inter = []
    for n in xs:
        inter += [1, n]
    v = reshape(x, tuple(inter))
    target = []
    for r, n in zip(reps, xs):
        target += [r, n]
    return reshape(_copy(broadcast_to(v, tuple(target))), tuple(r * n for r, n in zip(reps, xs)))


# ---------------------------------------------------------------- reductions


def _reduce(x: OpenCLArray, axis: Any, keepdims: builtins.bool, kind: str, out_dt: np.dtype,
            acc_dt: np.dtype, final: str = "", stage: str | None = None) -> OpenCLArray:
    axes = _axes(axis, x.ndim)
    r = K.reduce(x._dev, x, axes, kind, out_dt, acc_dt, final=final, stage=stage)
    if keepdims:
        shape = tuple(1 if d in axes else n for d, n in enumerate(x.shape))
        r = r._view(shape, c_strides(shape), r._offset)
    return r


def _sum_dtype(x: OpenCLArray, dtype: Any) -> np.dtype:
    if dtype is not None:
        return check_dtype(dtype, x._dev)
    if x._dtype.kind in "bi":
        return _I64
    if x._dtype.kind == "u":
        return _U64
    return x._dtype


def sum(x: OpenCLArray, /, *, axis: Any = None, dtype: Any = None,  # noqa: A001
        keepdims: builtins.bool = False) -> OpenCLArray:
    """Sum over ``axis`` (ints in int64, unsigned in uint64, floats in their dtype)."""
    dt = _sum_dtype(x, dtype)
    return _reduce(x, axis, keepdims, "sum", dt, dt)


def prod(x: OpenCLArray, /, *, axis: Any = None, dtype: Any = None, keepdims: builtins.bool = False
         ) -> OpenCLArray:
    """Product over ``axis`` (dtypes as in :func:`sum`)."""
    dt = _sum_dtype(x, dtype)
    return _reduce(x, axis, keepdims, "prod", dt, dt)


def _nonempty(x: OpenCLArray, axis: Any, name: str) -> None:
    for a in _axes(axis, x.ndim):
        if x.shape[a] == 0:
            raise ValueError(f"{name}: zero-size reduction over axis {a} of shape {x.shape} has no identity")
    if x.ndim == 0 and x.size == 0:
        raise ValueError(f"{name} of an empty array")


def max(x: OpenCLArray, /, *, axis: Any = None, keepdims: builtins.bool = False) -> OpenCLArray:  # noqa: A001
    """Maximum over ``axis``; NaN wins, as in NumPy."""
    _nonempty(x, axis, "max")
    return _reduce(x, axis, keepdims, "max", x._dtype, x._dtype)


def min(x: OpenCLArray, /, *, axis: Any = None, keepdims: builtins.bool = False) -> OpenCLArray:  # noqa: A001
    """Minimum over ``axis``; NaN wins, as in NumPy."""
    _nonempty(x, axis, "min")
    return _reduce(x, axis, keepdims, "min", x._dtype, x._dtype)


def _float_of(x: OpenCLArray) -> np.dtype:
    return x._dtype if x._dtype.kind == "f" else _default_float(x._dev)


def mean(x: OpenCLArray, /, *, axis: Any = None, keepdims: builtins.bool = False) -> OpenCLArray:
    """Mean over ``axis`` (integers give the default float)."""
    dt = _float_of(x)
    return _reduce(x, axis, keepdims, "sum", dt, dt, final="acc / cnt")


def _var(x: OpenCLArray, axis: Any, correction: float, keepdims: builtins.bool, sqrt: builtins.bool
         ) -> OpenCLArray:
    dt = _float_of(x)
    m = mean(x, axis=axis, keepdims=True)
    d2 = K.elementwise(x._dev, "(a0 - a1) * (a0 - a1)", [x, m], [dt, dt], dt)
    T = K.ctype(dt)
    f = f"acc / (cnt - ({T}){float(correction)!r})"
    return _reduce(d2, axis, keepdims, "sum", dt, dt, final=f"sqrt({f})" if sqrt else f)


def var(x: OpenCLArray, /, *, axis: Any = None, correction: float = 0.0, keepdims: builtins.bool = False
        ) -> OpenCLArray:
    """Variance over ``axis``, divided by N - ``correction``."""
    return _var(x, axis, correction, keepdims, False)


def std(x: OpenCLArray, /, *, axis: Any = None, correction: float = 0.0, keepdims: builtins.bool = False
        ) -> OpenCLArray:
    """Standard deviation over ``axis``, from the variance divided by N - ``correction``."""
    return _var(x, axis, correction, keepdims, True)


def all(x: OpenCLArray, /, *, axis: Any = None, keepdims: builtins.bool = False) -> OpenCLArray:  # noqa: A001
    """Whether every element over ``axis`` is nonzero."""
    return _reduce(x, axis, keepdims, "all", _B, _B)


def any(x: OpenCLArray, /, *, axis: Any = None, keepdims: builtins.bool = False) -> OpenCLArray:  # noqa: A001
    """Whether some element over ``axis`` is nonzero."""
    return _reduce(x, axis, keepdims, "any", _B, _B)


def count_nonzero(x: OpenCLArray, /, *, axis: Any = None, keepdims: builtins.bool = False) -> OpenCLArray:
    """Number of nonzero elements over ``axis``."""
    return sum(_ew("not_equal", x, 0), axis=axis, keepdims=keepdims)


def _arg_reduce(x: OpenCLArray, axis: Any, keepdims: builtins.bool, kind: str) -> OpenCLArray:
    if x.size == 0:
        n = x.size if axis is None else x.shape[_norm_axis(int(axis), x.ndim)]
        if n == 0:   # nothing to choose from, as NumPy says
            raise ValueError(f"{kind} of an empty sequence along axis {axis}")
        ax = _norm_axis(int(axis), x.ndim)   # other axes are empty: an empty result
        shape = tuple(1 if i == ax else d for i, d in enumerate(x.shape)) if keepdims else \
            tuple(d for i, d in enumerate(x.shape) if i != ax)
        return zeros(shape, dtype=_I64, device=x.device)
    if axis is None:
        r = K.reduce(x._dev, x, tuple(range(x.ndim)), kind, _I64, x._dtype)
        return r._view((1,) * x.ndim, (0,) * x.ndim, r._offset) if keepdims else r
    return _reduce(x, int(axis), keepdims, kind, _I64, x._dtype)


def argmax(x: OpenCLArray, /, *, axis: int | None = None, keepdims: builtins.bool = False) -> OpenCLArray:
    """Index of the first maximum over ``axis`` (flat index when None)."""
    return _arg_reduce(x, axis, keepdims, "argmax")


def argmin(x: OpenCLArray, /, *, axis: int | None = None, keepdims: builtins.bool = False) -> OpenCLArray:
    """Index of the first minimum over ``axis`` (flat index when None)."""
    return _arg_reduce(x, axis, keepdims, "argmin")


def _cumulative(x: OpenCLArray, axis: Any, dtype: Any, include_initial: builtins.bool, op: str
                ) -> OpenCLArray:
    if axis is None:
        if x.ndim > 1:
            raise ValueError(f"cumulative_{op}: axis is required for arrays of more than one dimension")
        x = reshape(x, (-1,))
        axis = 0
    ax = _norm_axis(int(axis), x.ndim)
    return K.scan(x._dev, x, ax, _sum_dtype(x, dtype), include_initial, op)


def cumulative_sum(x: OpenCLArray, /, *, axis: int | None = None, dtype: Any = None,
                   include_initial: builtins.bool = False) -> OpenCLArray:
    """Running sum along ``axis``; ``include_initial`` prepends a 0."""
    return _cumulative(x, axis, dtype, include_initial, "sum")


def cumulative_prod(x: OpenCLArray, /, *, axis: int | None = None, dtype: Any = None,
                    include_initial: builtins.bool = False) -> OpenCLArray:
    """Running product along ``axis``; ``include_initial`` prepends a 1."""
    return _cumulative(x, axis, dtype, include_initial, "prod")


def diff(x: OpenCLArray, /, *, axis: int = -1, n: int = 1, prepend: Any = None, append: Any = None
         ) -> OpenCLArray:
    """``n``-th differences along ``axis``, with ``prepend``/``append`` joined first."""
    ax = _norm_axis(axis, x.ndim)
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        edge = x.shape[:ax] + (1,) + x.shape[ax + 1:]
        x = concat([p if isinstance(p, OpenCLArray) else
                    broadcast_to(asarray(p, dtype=x.dtype, device=x.device), edge) for p in parts], axis=ax)
    pre = (slice(None),) * ax
    for _ in range(n):
        x = _ew("subtract", x[pre + (slice(1, None),)], x[pre + (slice(None, -1),)])
    return x


# ---------------------------------------------------------------- searching


def take(x: OpenCLArray, indices: Any, /, *, axis: int | None = None) -> OpenCLArray:
    """Elements of ``x`` at ``indices`` along ``axis`` (a gather; ``x`` flattened when ``axis`` is None)."""
    if axis is None:
        if x.ndim > 1:
            raise ValueError("take: axis is required for arrays of more than one dimension")
        x, axis = reshape(x, (-1,)), 0
    ax = _norm_axis(int(axis), x.ndim)
    return x[(slice(None),) * ax + (indices,)]


def nonzero(x: OpenCLArray, /) -> tuple[OpenCLArray, ...]:
    """Indices of the nonzero elements, one int64 array per axis (reads their count: one transfer)."""
    if x.ndim == 0:
        raise ValueError("nonzero of a 0-d array; use x[None] first")
    return tuple(_ix.nonzero(x))


# ---------------------------------------------------------------- linear algebra


def matmul(x1: OpenCLArray, x2: OpenCLArray, /) -> OpenCLArray:
    """Matrix product (Array API): 1-D operands become a row (left) or a column (right)."""
    return _matmul(x1, x2)


def _matmul(x1: OpenCLArray, x2: OpenCLArray, algorithm: str | None = None) -> OpenCLArray:
    """:func:`matmul` by ``kernels.matmul``'s ``algorithm`` (tiled, naive, host; ``None``: its heuristic)."""
    if not isinstance(x1, OpenCLArray) or not isinstance(x2, OpenCLArray):
        raise TypeError("matmul needs two OpenCL arrays")
    dev = _dev_of(x1, x2)
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(f"matmul: {x1.shape} @ {x2.shape}: operands must have at least one dimension")
    dt = check_dtype(_result_type(x1, x2), dev)
    if dt == np.bool_:
        raise DTypeError("matmul of boolean arrays is not supported; cast them to an integer dtype")
    a = x1 if x1._dtype == dt else astype(x1, dt)
    b = x2 if x2._dtype == dt else astype(x2, dt)
    a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
    b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
    r = K.matmul(dev, a2, b2, dt, algorithm=algorithm)
    if x1.ndim == 1 and x2.ndim == 1:
        return reshape(r, ())
    if x1.ndim == 1:
        return reshape(r, r.shape[:-2] + r.shape[-1:])
    if x2.ndim == 1:
        return reshape(r, r.shape[:-1])
    return r


def tensordot(x1: OpenCLArray, x2: OpenCLArray, /, *, axes: Any = 2) -> OpenCLArray:
    """Sum of products over ``axes``, as one matmul of the two operands flattened to matrices."""
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        a1, a2 = list(range(x1.ndim - n, x1.ndim)), list(range(n))
    else:
        a1 = [_norm_axis(int(a), x1.ndim) for a in axes[0]]
        a2 = [_norm_axis(int(a), x2.ndim) for a in axes[1]]
    for i, j in zip(a1, a2):
        if x1.shape[i] != x2.shape[j]:
            raise ValueError(f"tensordot: axis {i} of {x1.shape} and axis {j} of {x2.shape} differ in size")
    f1 = [d for d in range(x1.ndim) if d not in a1]
    f2 = [d for d in range(x2.ndim) if d not in a2]
    k = math.prod(x1.shape[d] for d in a1)
    m = math.prod(x1.shape[d] for d in f1)
    n = math.prod(x2.shape[d] for d in f2)
    A = reshape(permute_dims(x1, f1 + a1), (m, k))
    B_ = reshape(permute_dims(x2, a2 + f2), (k, n))
    return reshape(matmul(A, B_), tuple(x1.shape[d] for d in f1) + tuple(x2.shape[d] for d in f2))


def vecdot(x1: OpenCLArray, x2: OpenCLArray, /, *, axis: int = -1) -> OpenCLArray:
    """Dot products of ``x1`` and ``x2`` along ``axis`` (broadcast together)."""
    a, b = broadcast_arrays(x1, x2)
    return sum(_ew("multiply", a, b), axis=axis)


# ---------------------------------------------------------------- host fallback


def _to_host(tree: Any) -> Any:
    if isinstance(tree, OpenCLArray):
        return download(tree)
    if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
        return type(tree)(_to_host(t) for t in tree)
    return tree


def _to_dev(tree: Any, dev: Device) -> Any:
    if isinstance(tree, np.ndarray):
        return upload(tree, dev)
    if isinstance(tree, np.generic):
        return upload(np.asarray(tree), dev)
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # a namedtuple (unique_all, ...)
        return type(tree)(*(_to_dev(t, dev) for t in tree))
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_dev(t, dev) for t in tree)
    return tree


def _find_dev(tree: Any) -> Device | None:
    if isinstance(tree, OpenCLArray):
        return tree._dev
    if isinstance(tree, (list, tuple)):
        for t in tree:
            d = _find_dev(t)
            if d is not None:
                return d
    return None


def _fallback_fn(name: str, target: Any = None, qual: str | None = None) -> Any:
    target = target if target is not None else getattr(_compat, name)
    qual = qual or name

    def fallback(*args: Any, **kwargs: Any) -> Any:
        _FALLBACKS[qual] = _FALLBACKS.get(qual, 0) + 1
        if qual not in _WARNED:
            _WARNED.add(qual)
            warnings.warn(f"xpgrad OpenCL backend: {qual} has no OpenCL kernel yet and runs on the host "
                          "(its arrays are copied there and back)", HostFallbackWarning, stacklevel=2)
        dev = kwargs.pop("device", None)
        dev = get_device(dev) if dev is not None else (_find_dev(args) or _find_dev(list(kwargs.values()))
                                                       or default_device())
        out = target(*_to_host(args), **{k: _to_host(v) for k, v in kwargs.items()})
        return _to_dev(out, dev)
    fallback.__name__ = fallback.__qualname__ = name
    fallback.__doc__ = f"``{qual}`` through the host (array_api_compat.numpy), counted by fallback_counts()."
    return fallback


class _FallbackModule(types.ModuleType):
    """An extension namespace (``linalg``, ``fft``) whose functions run on the host unless listed."""

    def __init__(self, name: str, target: Any, native: dict[str, Any]) -> None:
        super().__init__(name)
        self._target = target
        self.__dict__.update(native)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        t = getattr(self._target, attr)
        if not callable(t) or isinstance(t, type):
            return t
        fn = _fallback_fn(attr, t, f"{self.__name__}.{attr}")
        setattr(self, attr, fn)
        return fn


linalg = _FallbackModule("linalg", _compat.linalg,
                         {"matmul": matmul, "matrix_transpose": matrix_transpose, "tensordot": tensordot,
                          "vecdot": vecdot})
fft = _FallbackModule("fft", _compat.fft, {})


def __getattr__(name: str) -> Any:
    """Functions without an OpenCL kernel: the host fallback, counted and warned about once."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        target = getattr(_compat, name)
    except AttributeError:
        raise AttributeError(f"the OpenCL namespace has no attribute {name!r}") from None
    if not callable(target) or isinstance(target, type):
        return target
    fn = _fallback_fn(name, target)
    globals()[name] = fn
    return fn

