"""``OpenCLArray``: an n-dimensional strided view of an OpenCL buffer.

An array is a buffer, a shape, strides and an offset (both in elements, so
negative strides and broadcast stride-0 views cost nothing), a NumPy dtype
and a device. Slicing, transposing, flipping and broadcasting make new views
of the same buffer; everything else runs a kernel (see ``kernels.py``).

Arrays never mix silently with NumPy arrays: an operator with an ``ndarray``
raises ``TypeError`` naming the fix, and ``numpy.asarray(x)`` refuses too.
Every device-to-host read goes through :func:`download`, which counts it, so
tests can assert that a computation made no round trip to the host.
"""

from __future__ import annotations

import builtins
import sys
from typing import Any

import numpy as np

from ...core.errors import DTypeError

__all__ = ["OpenCLArray", "host_transfers", "host_uploads", "reset_counters", "empty", "upload",
           "download", "c_strides", "is_contiguous", "check_dtype", "SUPPORTED"]

_COUNTS = {"d2h": 0, "h2d": 0}

SUPPORTED = tuple(np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                        np.uint16, np.uint32, np.uint64, np.float32, np.float64))
_SUPPORTED = frozenset(SUPPORTED)


def host_transfers() -> int:
    """How many device-to-host reads happened in this process (every ``to_host``, ``float(x)``, ...)."""
    return _COUNTS["d2h"]


def host_uploads() -> int:
    """How many host-to-device copies happened in this process."""
    return _COUNTS["h2d"]


def reset_counters() -> None:
    """Set the transfer counters (and the fallback counts, see ``namespace``) back to zero."""
    _COUNTS["d2h"] = _COUNTS["h2d"] = 0


def check_dtype(dtype: Any, dev: Any) -> np.dtype:
    """``dtype`` as a NumPy dtype this device can hold, or a :class:`DTypeError` saying why not."""
    dt = np.dtype(dtype)
    if dt not in _SUPPORTED:
        raise DTypeError(f"dtype {dt} is not supported by the OpenCL backend (supported: "
                         f"{', '.join(str(d) for d in SUPPORTED)})")
    if dt.kind == "f" and dt.itemsize == 8 and not dev.fp64:
        raise DTypeError(f"float64 is not available on {dev.name} ({dev.label}): the device reports no "
                         "double-precision support; use float32")
    return dt


def c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a C-contiguous array of ``shape``."""
    out = []
    s = 1
    for n in reversed(shape):
        out.append(s)
        s *= max(n, 1)
    return tuple(reversed(out))


def is_contiguous(a: "OpenCLArray") -> bool:
    """Whether ``a`` is C-contiguous (size-1 axes may have any stride)."""
    s = 1
    for n, st in zip(reversed(a._shape), reversed(a._strides)):
        if n != 1 and st != s:
            return False
        s *= n
    return True


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _ns() -> Any:
    return sys.modules["xpgrad.backends.opencl.namespace"]


class OpenCLArray:
    """An Array API array in an OpenCL device's memory.

    Made by the namespace (``xpgrad.backends.opencl.namespace``); the
    operators follow the Array API, Python scalars adopt the array's dtype.

    >>> from xpgrad.backends.opencl import namespace as cx        # doctest: +SKIP
    >>> x = cx.asarray([1.0, 2.0, 3.0], dtype=cx.float32)          # doctest: +SKIP
    >>> float(cx.sum(x * 2))                                       # doctest: +SKIP
    12.0
    """

    __slots__ = ("_buf", "_shape", "_strides", "_offset", "_dtype", "_dev", "_bufn", "_writeable",
                 "__weakref__")
    __array_ufunc__ = None  # NumPy defers its operators to ours, which refuse to mix

    def __init__(self, buf: Any, shape: tuple[int, ...], strides: tuple[int, ...], offset: int,
                 dtype: np.dtype, dev: Any, bufn: int, writeable: bool = True) -> None:
        self._buf = buf              # a pooled cl.Buffer shared by every view of it
        self._shape = shape
        self._strides = strides      # in elements
        self._offset = offset        # in elements
        self._dtype = dtype
        self._dev = dev
        self._bufn = bufn            # elements in the buffer: bounds every index of every view
        self._writeable = writeable  # False for broadcast views, where elements alias

    def _view(self, shape: tuple[int, ...], strides: tuple[int, ...], offset: int,
              writeable: bool | None = None) -> "OpenCLArray":
        return OpenCLArray(self._buf, shape, strides, offset, self._dtype, self._dev, self._bufn,
                           self._writeable if writeable is None else writeable)

    # -- Array API attributes ------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the elements (equal to ``xpgrad.float32`` and friends)."""
        return self._dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape, a tuple of ints."""
        return self._shape

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return len(self._shape)

    @property
    def size(self) -> int:
        """The number of elements."""
        return _prod(self._shape)

    @property
    def device(self) -> Any:
        """The :class:`~xpgrad.backends.opencl.device.Device` holding the array (equal to ``'opencl:N'``)."""
        return self._dev

    @property
    def strides(self) -> tuple[int, ...]:
        """Element strides (not bytes, unlike NumPy)."""
        return self._strides

    @property
    def T(self) -> "OpenCLArray":
        """The transpose of a 2-D array (a view)."""
        if self.ndim != 2:
            raise ValueError(f".T needs a 2-D array, got shape {self._shape}; use .mT or permute_dims")
        return _ns().permute_dims(self, (1, 0))

    @property
    def mT(self) -> "OpenCLArray":
        """The last two axes swapped (a view)."""
        return _ns().matrix_transpose(self)

    def __array_namespace__(self, *, api_version: str | None = None) -> Any:
        return _ns()

    def to_device(self, device: Any, /, *, stream: Any = None) -> "OpenCLArray":
        """This array on another OpenCL device (through the host, counted)."""
        from .device import get_device

        dev = get_device(device)
        if dev is self._dev:
            return self
        return upload(download(self), dev)

    # -- host interop ------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise TypeError(f"an OpenCL array ({self._shape} {self._dtype} on {self._dev}) is not converted to "
                        "NumPy implicitly; copy it to the host explicitly (xpgrad: tensor.numpy(); "
                        "backend: get_backend(device).to_host(x))")

    def __dlpack__(self, **kwargs: Any) -> Any:
        raise BufferError("OpenCL buffers cannot be shared through DLPack; copy to the host instead")

    def __dlpack_device__(self) -> tuple[int, int]:
        return (4, self._dev.index)  # kDLOpenCL

    def _scalar(self) -> Any:
        if self.size != 1:
            raise TypeError(f"only arrays with one element convert to Python scalars, got shape "
                            f"{self._shape}")
        return download(self).reshape(()).item()

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"the truth value of an array of shape {self._shape} is ambiguous; use "
                             "any() or all()")
        return builtins.bool(self._scalar())

    def __float__(self) -> float:
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def __complex__(self) -> complex:
        return complex(self._scalar())

    def __index__(self) -> int:
        if self._dtype.kind not in "iu":
            raise TypeError(f"only integer arrays can be used as an index, got {self._dtype}")
        return int(self._scalar())

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d array")
        return self._shape[0]

    def __iter__(self) -> Any:
        if not self._shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._shape[0]))

    def __repr__(self) -> str:
        body = np.array2string(download(self), separator=", ", threshold=50, prefix="OpenCLArray(")
        return f"OpenCLArray({body}, dtype={self._dtype}, device='{self._dev}')"

    __hash__ = None  # type: ignore[assignment]  # mutable, like NumPy arrays

    # -- indexing ----------------------------------------------------------------
    def __getitem__(self, key: Any) -> "OpenCLArray":
        from .indexing import getitem

        return getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        from .indexing import setitem

        setitem(self, key, value)


def _operand(self: OpenCLArray, other: Any) -> Any:
    """``other`` as an operator operand: an array of this device, a Python scalar, or NotImplemented."""
    if isinstance(other, OpenCLArray):
        if other._dev is not self._dev:
            raise ValueError(f"operands live on different devices ({self._dev} and {other._dev}); move one "
                             "with x.to_device(...)")
        return other
    if isinstance(other, (builtins.bool, int, float)):
        return other
    if isinstance(other, np.generic) and not isinstance(other, np.complexfloating):
        return other.item()  # a NumPy scalar counts as the Python scalar it holds
    if isinstance(other, np.ndarray):
        raise TypeError(f"cannot combine an OpenCL array ({self._shape} {self._dtype} on {self._dev}) with a "
                        f"NumPy array ({other.shape} {other.dtype}); move it to the device first with "
                        f"xpgrad.asarray(..., device='{self._dev}')")
    if isinstance(other, complex):
        raise DTypeError("complex scalars are not supported by the OpenCL backend")
    return NotImplemented


def _binary(name: str) -> tuple:
    def method(self: OpenCLArray, other: Any) -> Any:
        o = _operand(self, other)
        if o is NotImplemented:
            return o
        return _ns()._binop(name, self, o)

    def rmethod(self: OpenCLArray, other: Any) -> Any:
        o = _operand(self, other)
        if o is NotImplemented:
            return o
        return _ns()._binop(name, o, self)

    def imethod(self: OpenCLArray, other: Any) -> OpenCLArray:
        o = _operand(self, other)
        if o is NotImplemented:
            return o
        return _ns()._binop(name, self, o, out=self)
    return method, rmethod, imethod


_BINARY = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide",
           "floordiv": "floor_divide", "mod": "remainder", "pow": "pow", "and": "bitwise_and",
           "or": "bitwise_or", "xor": "bitwise_xor", "lshift": "bitwise_left_shift",
           "rshift": "bitwise_right_shift",
           "matmul": "matmul"}
_COMPARE = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
            "ge": "greater_equal"}
_UNARY = {"neg": "negative", "pos": "positive", "abs": "abs", "invert": "bitwise_invert"}

for _d, _f in _BINARY.items():
    _m, _r, _i = _binary(_f)
    setattr(OpenCLArray, f"__{_d}__", _m)
    setattr(OpenCLArray, f"__r{_d}__", _r)
    setattr(OpenCLArray, f"__i{_d}__", _i)
for _d, _f in _COMPARE.items():
    setattr(OpenCLArray, f"__{_d}__", _binary(_f)[0])
for _d, _f in _UNARY.items():
    setattr(OpenCLArray, f"__{_d}__", (lambda f: lambda self: getattr(_ns(), f)(self))(_f))


# ---------------------------------------------------------------- memory


def empty(shape: tuple[int, ...], dtype: np.dtype, dev: Any) -> OpenCLArray:
    """A new C-contiguous array (uninitialised)."""
    n = _prod(shape)
    return OpenCLArray(dev.alloc(n * dtype.itemsize), tuple(shape), c_strides(shape), 0, dtype, dev, n)


def upload(host: np.ndarray, dev: Any, dtype: Any = None) -> OpenCLArray:
    """A device copy of the host array ``host`` (in ``dtype`` if given)."""
    import pyopencl as cl

    dt = check_dtype(host.dtype if dtype is None else dtype, dev)
    h = np.asarray(host, dtype=dt, order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    out = empty(h.shape, dt, dev)
    if h.size:
        cl.enqueue_copy(dev.queue, out._buf, h, is_blocking=True)
        _COUNTS["h2d"] += 1
    return out


def download(a: OpenCLArray) -> np.ndarray:
    """The values of ``a`` as a new host array (one counted device-to-host read)."""
    import pyopencl as cl

    out = np.empty(a._shape, dtype=a._dtype)
    if out.size == 0:
        return out
    src = a if is_contiguous(a) else _ns()._copy(a)
    cl.enqueue_copy(a._dev.queue, out, src._buf, src_offset=src._offset * a._dtype.itemsize,
                    is_blocking=True)
    _COUNTS["d2h"] += 1
    return out
