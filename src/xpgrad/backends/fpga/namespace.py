"""Section 3. The namespace.

A backend *is* an Array API namespace: every rule of every op is written
against ``xp``, so this module must have every function those rules call —
and, to be a namespace third-party Array API code can use, the whole main
namespace of the standard (2024.12) plus its ``linalg`` and ``fft`` extensions.

None of it is written function by function. The standard's function list
below (:data:`FUNCTIONS`, :data:`LINALG`, :data:`FFT`) is lifted from
``array_api_compat.numpy``: each generated function

1. unwraps its FPGAArray arguments to device memory (also inside lists and
   tuples: ``concat``, ``stack``), refusing host arrays and other cards'
   arrays with a TypeError (the "no mixing" check lives at this boundary);
2. runs NumPy's implementation of the standard on device memory;
3. wraps every array in the result (tuples and named tuples too) on the
   operands' device, or on ``device=`` for creation functions.

Only the functions that cross the host boundary or run on the systolic array
are written by hand: ``asarray`` and ``from_dlpack`` (uploads, counted),
``matmul`` and ``tensordot`` (section 4), ``__array_namespace_info__``.

    VENDOR: a chip with no Python library starts exactly like this — the
    generic path computes on the host on behalf of the card. Replace functions
    one by one with calls into your runtime (add the name to the hand-written
    ones at the bottom); everything not yet replaced keeps working.
"""

from __future__ import annotations

import builtins
import math
import types
from collections.abc import Callable
from typing import Any

import array_api_compat.numpy as _np_xp
import numpy as np

from ...core.errors import DeviceError
from . import systolic as _systolic
from .array import (_DEVICES, _PY_SCALARS, FPGAArray, FPGADevice, _new, count_from_host, count_to_host,
                    device_count, device_error, get_device, host_copy, is_foreign_array, mixing_error, upload)

__array_api_version__ = "2024.12"

# ---------------------------------------------------------------- the standard's function list

CREATION = ("arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like",
            "linspace", "meshgrid", "ones", "ones_like", "tril", "triu", "zeros", "zeros_like")
DATA_TYPE = ("astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type")
ELEMENTWISE = ("abs", "acos", "acosh", "add", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_and",
               "bitwise_left_shift", "bitwise_invert", "bitwise_or", "bitwise_right_shift", "bitwise_xor",
               "ceil", "clip", "conj", "copysign", "cos", "cosh", "divide", "equal", "exp", "expm1", "floor",
               "floor_divide", "greater", "greater_equal", "hypot", "imag", "isfinite", "isinf", "isnan",
               "less", "less_equal", "log", "log1p", "log2", "log10", "logaddexp", "logical_and",
               "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "multiply", "negative",
               "nextafter", "not_equal", "positive", "pow", "real", "reciprocal", "remainder", "round",
               "sign", "signbit", "sin", "sinh", "square", "sqrt", "subtract", "tan", "tanh", "trunc")
INDEXING = ("take", "take_along_axis")
LINEAR_ALGEBRA = ("matmul", "matrix_transpose", "tensordot", "vecdot")
MANIPULATION = ("broadcast_arrays", "broadcast_shapes", "broadcast_to", "concat", "expand_dims", "flip",
                "moveaxis", "permute_dims", "repeat", "reshape", "roll", "squeeze", "stack", "tile",
                "unstack")
SEARCHING = ("argmax", "argmin", "count_nonzero", "nonzero", "searchsorted", "where")
SET = ("isin", "unique_all", "unique_counts", "unique_inverse", "unique_values")
SORTING = ("argsort", "sort")
STATISTICAL = ("cumulative_prod", "cumulative_sum", "max", "mean", "min", "prod", "std", "sum", "var")
UTILITY = ("all", "any", "diff")
FUNCTIONS = (CREATION + DATA_TYPE + ELEMENTWISE + INDEXING + LINEAR_ALGEBRA + MANIPULATION + SEARCHING
             + SET + SORTING + STATISTICAL + UTILITY)
LINALG = ("cholesky", "cross", "det", "diagonal", "eig", "eigvals", "eigh", "eigvalsh", "inv", "matmul",
          "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet",
          "solve", "svd", "svdvals", "tensordot", "trace", "vecdot", "vector_norm")
FFT = ("fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft", "fftfreq",
       "rfftfreq", "fftshift", "ifftshift")
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128")   # float16: for autocast
CONSTANTS = ("e", "inf", "nan", "newaxis", "pi")

# Functions that copy their input's data: a different ``device=`` moves it (counted both ways).
_COPIES = {"astype"}

for _name in DTYPES + CONSTANTS:
    globals()[_name] = getattr(_np_xp, _name)


# ---------------------------------------------------------------- devices


def default_device() -> FPGADevice:
    return get_device(0)


def as_device(device: Any, where: str = "fpga") -> FPGADevice:
    """The card a ``device=`` argument names: an :class:`FPGADevice`, ``"fpga:1"``, or an fpga Backend."""
    if isinstance(device, FPGADevice):
        return device
    device = getattr(device, "native_device", device)  # a Backend
    if isinstance(device, FPGADevice):
        return device
    name = str(device)
    head, _, idx = name.partition(":")
    if head == "fpga" and idx.isdigit() and (int(idx) < device_count() or int(idx) in _DEVICES):
        return get_device(int(idx))
    have = ", ".join(f"fpga:{i}" for i in range(device_count()))
    raise DeviceError(f"{where}: {device!r} is not a device of the fpga namespace (devices: {have}); "
                      "arrays for other devices are made with their own namespace, e.g. "
                      f"xpgrad.asarray(x, device={name!r})")


# ---------------------------------------------------------------- the boundary


class _Seen:
    """What unwrapping the arguments of one call found: their card, and any foreign array."""

    __slots__ = ("where", "first", "foreign")

    def __init__(self, where: str) -> None:
        self.where = where
        self.first: FPGAArray | None = None
        self.foreign: Any = None


def _unwrap(obj: Any, seen: _Seen) -> Any:
    t = type(obj)
    if t is FPGAArray:
        if seen.first is None:
            seen.first = obj
        elif obj._dev is not seen.first._dev:
            raise device_error(seen.where, seen.first, obj)
        return obj._a
    if t is tuple or t is list:
        return t(_unwrap(o, seen) for o in obj)
    if t is dict:
        return {k: _unwrap(v, seen) for k, v in obj.items()}
    if obj is None or t in _PY_SCALARS or t is str or t is slice:
        return obj
    if seen.foreign is None and is_foreign_array(obj):
        seen.foreign = obj
    return obj


def _wrap(out: Any, dev: FPGADevice) -> Any:
    if type(out) is np.ndarray or isinstance(out, np.generic):
        return _new(out, dev)
    if isinstance(out, tuple):
        items = [_wrap(o, dev) for o in out]
        return type(out)(*items) if hasattr(out, "_fields") else tuple(items)
    if isinstance(out, list):
        return [_wrap(o, dev) for o in out]
    return out


def _lift(name: str, fn: Callable, where: str) -> Callable:
    """The fpga version of NumPy's ``fn``: unwrap (refusing mixing), run, wrap on the device."""
    copies = name in _COPIES

    def f(*args: Any, **kwargs: Any) -> Any:
        seen = _Seen(f"{where}{name}")
        device = kwargs.pop("device", None)
        args = _unwrap(args, seen)
        if kwargs:
            kwargs = _unwrap(kwargs, seen)
        if seen.foreign is not None:
            raise mixing_error(seen.where, seen.first if seen.first is not None else default_device(),
                               seen.foreign)
        dev = seen.first._dev if seen.first is not None else None
        if device is not None:
            target = as_device(device, seen.where)
            if copies and dev is not None and target is not dev:  # data moves from card to card
                count_to_host(dev, seen.first._a.nbytes)
                count_from_host(target, seen.first._a.nbytes)
            dev = target
        return _wrap(fn(*args, **kwargs), dev if dev is not None else default_device())
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Array API ``{where}{name}`` on FPGA arrays (emulated by NumPy on the card's memory)."
    f.__wrapped__ = fn
    return f


for _name in FUNCTIONS:
    globals()[_name] = _lift(_name, getattr(_np_xp, _name), "")


def _submodule(name: str, names: tuple, source: Any) -> types.ModuleType:
    mod = types.ModuleType(f"{__name__}.{name}", f"The Array API ``{name}`` extension on FPGA arrays.")
    for n in names:
        setattr(mod, n, _lift(n, getattr(source, n), f"{name}."))
    mod.__all__ = list(names)
    return mod


linalg = _submodule("linalg", LINALG, _np_xp.linalg)
fft = _submodule("fft", FFT, _np_xp.fft)


# ---------------------------------------------------------------- written by hand: crossing the host boundary
# (From here on ``min``, ``max``, ``any``, ``all``, ``sum``, ``abs``, ``round`` and
# ``pow`` are the namespace's functions: Python's are spelt ``builtins.min``.)


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: bool | None = None) -> FPGAArray:
    """An array on the card from host data (an upload, counted) or from an FPGAArray.

    Python scalars are kernel immediates, not transfers. ``copy=False`` cannot be
    honoured for host data (it has to cross the link) and raises ``ValueError``.
    """
    target = as_device(device, "asarray") if device is not None else None
    if type(obj) is FPGAArray:
        if target is not None and target is not obj._dev:
            if copy is False:
                raise ValueError(f"asarray(copy=False): moving {obj._dev.name} -> {target.name} copies")
            return upload(np.asarray(host_copy(obj), dtype=dtype), target)
        a = np.asarray(obj._a, dtype=dtype, copy=copy)
        return obj if a is obj._a else _new(a, obj._dev)
    dev = target or default_device()
    if type(obj) in _PY_SCALARS:
        return _new(np.asarray(obj, dtype=dtype), dev)
    if copy is False:
        raise ValueError(f"asarray(copy=False): host data must be copied into {dev.name}'s memory")
    return upload(np.asarray(obj, dtype=dtype), dev)


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> FPGAArray:
    """An array on the card from any DLPack producer (through the host: an upload, counted)."""
    if type(x) is FPGAArray:
        return asarray(x, device=device, copy=copy)
    dev = as_device(device, "from_dlpack") if device is not None else default_device()
    if copy is False:
        raise ValueError(f"from_dlpack(copy=False): host data must be copied into {dev.name}'s memory")
    return upload(np.from_dlpack(x), dev)


# ---------------------------------------------------------------- written by hand: the systolic array


def matmul(x1: FPGAArray, x2: FPGAArray, /) -> FPGAArray:
    """``x1 @ x2`` on the systolic array (section 4), in its configured arithmetic."""
    return _systolic.run_matmul(x1, x2)


def tensordot(x1: FPGAArray, x2: FPGAArray, /, *, axes: Any = 2) -> FPGAArray:
    """``tensordot`` as one matmul on the systolic array: free axes × contracted axes."""
    dev = _systolic._operands("tensordot", x1, x2)
    a, b = x1._a, x2._a
    if isinstance(axes, (int, np.integer)):
        if axes < 0 or axes > builtins.min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={axes} for operands of {a.ndim} and {b.ndim} dimensions")
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = ([i] if isinstance(i, (int, np.integer)) else list(i) for i in axes)
        ax_a = [int(i) % a.ndim for i in ax_a] if a.ndim else list(ax_a)
        ax_b = [int(i) % b.ndim for i in ax_b] if b.ndim else list(ax_b)
    if len(ax_a) != len(ax_b) or builtins.any(a.shape[i] != b.shape[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError(f"tensordot: axes {ax_a} of {a.shape} and {ax_b} of {b.shape} do not match")
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [i for i in range(b.ndim) if i not in ax_b]
    k = math.prod(a.shape[i] for i in ax_a)
    am = a.transpose(free_a + ax_a).reshape(math.prod(a.shape[i] for i in free_a), k)
    bm = b.transpose(ax_b + free_b).reshape(k, math.prod(b.shape[i] for i in free_b))
    out = _systolic._matmul_raw(am, bm, dev, op="tensordot")
    return _new(out.reshape(tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)), dev)


linalg.matmul = matmul
linalg.tensordot = tensordot


# ---------------------------------------------------------------- the inspection API


class _Info:
    """``__array_namespace_info__()``: the cards, their default dtypes and capabilities."""

    _numpy = _np_xp.__array_namespace_info__()

    def capabilities(self) -> dict[str, Any]:
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": 64}

    def default_device(self) -> FPGADevice:
        return default_device()

    def devices(self) -> list[FPGADevice]:
        return [get_device(i) for i in range(device_count())]

    def default_dtypes(self, *, device: Any = None) -> dict[str, Any]:
        if device is not None:
            as_device(device, "default_dtypes")
        return self._numpy.default_dtypes()

    def dtypes(self, *, device: Any = None, kind: Any = None) -> dict[str, Any]:
        if device is not None:
            as_device(device, "dtypes")
        return self._numpy.dtypes(kind=kind)


def __array_namespace_info__() -> _Info:
    return _Info()


__all__ = ["__array_api_version__", "__array_namespace_info__", "linalg", "fft",
           *FUNCTIONS, *DTYPES, *CONSTANTS]
