"""Section 1. The device array.

Your chip's memory is not the host's, so its arrays are a type of their own:
:class:`FPGAArray`. Here the "device memory" behind one is a private NumPy
array (``_a``); on your board it is a handle to a buffer in the card's DRAM
(an XRT ``bo``, an OpenCL ``cl_mem``, a DMA descriptor...).

    VENDOR: replace ``_a`` with your buffer handle, and every place that reads
    ``._a`` (this file, ``namespace.py`` and ``systolic.py``) with a call into
    your runtime. Keep the type checks: they are the contract.

The contract an array type keeps:

* **It never mixes silently.** An operator or a namespace function that is
  given a NumPy array, an array of another library, or an FPGAArray of another
  device raises a ``TypeError`` naming both sides and how to move data. NumPy
  cannot convert one either: ``__array__`` refuses, ``__array_ufunc__ = None``
  makes NumPy's operators defer to us (and we refuse), ``__dlpack__`` raises
  ``BufferError``. The one way to the host is the backend's ``to_host``
  (section 2), which counts the transfer.
* **Keys of ``x[key]`` are host data**, as in PyTorch (a CUDA tensor accepts a
  CPU index tensor): ints, slices, ``None``, ``...``, lists and NumPy
  integer/boolean arrays are accepted and an index *array* from the host is
  counted as an upload; FPGAArray keys must live on the same device.
* **The full Array API surface**: attributes, every operator with its
  reflected and in-place form, ``__getitem__``/``__setitem__``, conversions of
  0-d arrays (counted as a read from the device), ``__array_namespace__``.

A :class:`FPGADevice` is the device object (``x.device``); it carries the
per-device state the other sections keep: the systolic-array configuration
(section 4), the transfer counters (section 2) and the kernel log.
"""

from __future__ import annotations

import operator
import os
from collections import deque
from typing import Any

import numpy as np

from ...core.tensor import Tensor

__all__ = ["FPGAArray", "FPGADevice", "get_device", "device_count", "mixing_error", "device_error"]

#: DLPack's device type for devices outside its list (``kDLExtDev``).
DLPACK_EXT_DEV = 12

_PY_SCALARS = (bool, int, float, complex)
_MOVE_HINT = ("Move data explicitly: xpgrad.asarray(x, device={dev!r}) or tensor.to_device({dev!r}) "
              "onto the device, tensor.to_device('cpu') back to the host (raw arrays: "
              "xpgrad.get_backend({dev!r}).from_host(a) / .to_host(x))")


# ---------------------------------------------------------------- the device object


class FPGADevice:
    """One card: ``fpga:0``. Compares equal to its name (``x.device == "fpga:0"``)."""

    __slots__ = ("index", "name", "config", "transfers", "reports", "cycles", "kernel_calls")

    def __init__(self, index: int) -> None:
        from .systolic import default_config

        self.index = index
        self.name = f"fpga:{index}"
        self.config = default_config()              # section 4: the systolic array of this card
        self.transfers = _zero_transfers()          # section 2: host <-> device traffic
        self.reports: deque = deque(maxlen=1000)    # section 4: one report per kernel call
        self.cycles = 0                             # total cycles since the last reset
        self.kernel_calls = 0

    def __repr__(self) -> str:
        return f"FPGADevice({self.name!r})"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FPGADevice):
            return other.index == self.index
        if isinstance(other, str):
            return other == self.name
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)


def _zero_transfers() -> dict[str, int]:
    return {"to_host": 0, "from_host": 0, "bytes_to_host": 0, "bytes_from_host": 0}


_DEVICES: dict[int, FPGADevice] = {}
ENV_DEVICES = "XPGRAD_FPGA_DEVICES"


def device_count() -> int:
    """How many cards this process has: ``$XPGRAD_FPGA_DEVICES`` (default 1).

    VENDOR: ask your driver how many cards are plugged in.
    """
    text = os.environ.get(ENV_DEVICES, "").strip() or "1"
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"${ENV_DEVICES}={text!r}: the number of FPGA devices must be an integer >= 1")
    return n


def get_device(index: int = 0) -> FPGADevice:
    """The device object of card ``index`` (one per process, created on first use)."""
    dev = _DEVICES.get(index)
    if dev is None:
        dev = _DEVICES[index] = FPGADevice(index)
    return dev


def count_to_host(dev: FPGADevice, nbytes: int) -> None:
    dev.transfers["to_host"] += 1
    dev.transfers["bytes_to_host"] += int(nbytes)


def count_from_host(dev: FPGADevice, nbytes: int) -> None:
    dev.transfers["from_host"] += 1
    dev.transfers["bytes_from_host"] += int(nbytes)


# ---------------------------------------------------------------- errors that name both sides


def _what(x: Any) -> str:
    if isinstance(x, FPGAArray):
        return f"an FPGAArray {x.shape} {x.dtype} on {x._dev.name}"
    if isinstance(x, Tensor):
        return f"an xpgrad Tensor {x.shape} {x.dtype} on {x.device}"
    if isinstance(x, np.ndarray):
        return f"a numpy.ndarray {x.shape} {x.dtype} in host memory"
    if isinstance(x, np.generic):
        return f"a NumPy scalar {type(x).__name__}({x!r}) in host memory"
    mod = type(x).__module__.split(".")[0]
    shape = getattr(x, "shape", None)
    return f"a {mod}.{type(x).__name__}" + (f" {tuple(shape)}" if shape is not None else "")


def mixing_error(where: str, ours: Any, other: Any) -> TypeError:
    """The TypeError for an FPGA array meeting a host array or another device's array."""
    dev = ours._dev.name if isinstance(ours, FPGAArray) else str(ours)
    first = _what(ours) if isinstance(ours, FPGAArray) else f"the fpga namespace ({dev})"
    return TypeError(f"{where}: cannot combine {first} with {_what(other)}; FPGA arrays are never "
                     f"converted implicitly. " + _MOVE_HINT.format(dev=dev))


def device_error(where: str, a: FPGAArray, b: FPGAArray) -> TypeError:
    return TypeError(f"{where}: cannot combine {_what(a)} with {_what(b)}: they live on different cards. "
                     f"Move one explicitly, e.g. tensor.to_device({a._dev.name!r})")


def is_foreign_array(x: Any) -> bool:
    """An array that is not ours: NumPy's (arrays and scalars), an xpgrad Tensor, any other library's."""
    if isinstance(x, (np.ndarray, np.generic)):
        return True
    if type(x) is FPGAArray or isinstance(x, type):  # a class (np.float64 as a dtype) is not an array
        return False
    return hasattr(x, "__array_namespace__") or hasattr(x, "__dlpack__") or hasattr(x, "__array__")


# ---------------------------------------------------------------- the array type


def _new(a: Any, dev: FPGADevice) -> "FPGAArray":
    """Wrap device memory ``a`` (a NumPy array; NumPy scalars become 0-d arrays)."""
    x = object.__new__(FPGAArray)
    x._a = a if type(a) is np.ndarray else np.asarray(a)
    x._dev = dev
    return x


class FPGAArray:
    """An array in the memory of one FPGA card (``fpga:0``).

    Made by the fpga namespace (``xp.asarray(host_data)``), or by xpgrad:
    ``xpgrad.asarray([1.0, 2.0], device="fpga:0").data`` is one.
    """

    __slots__ = ("_a", "_dev", "__weakref__")
    __array_ufunc__ = None  # NumPy's operators and ufuncs defer to our reflected methods, which refuse

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("FPGAArray objects are made by the fpga namespace: "
                        "xpgrad.backends.fpga.namespace.asarray(data, device='fpga:0'), or "
                        "xpgrad.asarray(data, device='fpga:0') for a Tensor")

    # -- attributes ---------------------------------------------------------
    @property
    def dtype(self) -> Any:
        return self._a.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self._a.shape

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def size(self) -> int:
        return self._a.size

    @property
    def device(self) -> FPGADevice:
        return self._dev

    @property
    def T(self) -> "FPGAArray":
        if self._a.ndim != 2:
            raise ValueError(f"x.T is defined for 2-D arrays only (got {self._a.ndim}-D); "
                             "use x.mT or permute_dims")
        return _new(self._a.T, self._dev)

    @property
    def mT(self) -> "FPGAArray":
        if self._a.ndim < 2:
            raise ValueError(f"x.mT needs at least 2 dimensions (got {self._a.ndim}-D)")
        return _new(np.swapaxes(self._a, -1, -2), self._dev)

    def __array_namespace__(self, *, api_version: str | None = None) -> Any:
        if api_version not in (None, "2021.12", "2022.12", "2023.12", "2024.12"):
            raise ValueError(f"the fpga namespace implements the Array API 2024.12, not {api_version!r}")
        from . import namespace

        return namespace

    def to_device(self, device: Any, /, *, stream: Any = None) -> Any:
        """This array on ``device``: itself, a copy on another card, or (``"cpu"``) a NumPy copy.

        Both moves are explicit, so they are allowed, and counted as transfers.
        """
        from .namespace import as_device

        if str(device) == "cpu":
            return host_copy(self)
        dev = as_device(device, "to_device")
        if dev is self._dev:
            return self
        return upload(host_copy(self), dev)

    # -- no implicit conversion -------------------------------------------------
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        raise TypeError(f"{_what(self)} lives in device memory and is never converted to NumPy "
                        "implicitly (np.asarray refuses it). " + _MOVE_HINT.format(dev=self._dev.name))

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None, dl_device: Any = None,
                   copy: bool | None = None) -> Any:
        raise BufferError(f"{_what(self)}: FPGA memory cannot be exported through DLPack. "
                          + _MOVE_HINT.format(dev=self._dev.name))

    def __dlpack_device__(self) -> tuple[int, int]:
        return (DLPACK_EXT_DEV, self._dev.index)

    def __reduce__(self) -> Any:
        raise TypeError(f"{_what(self)} cannot be pickled: copy it to the host first")

    def __copy__(self) -> "FPGAArray":
        return _new(self._a.copy(), self._dev)

    def __deepcopy__(self, memo: dict) -> "FPGAArray":
        return _new(self._a.copy(), self._dev)

    # -- 0-d conversions: a read of one element from the device ---------------------
    def _read(self) -> np.ndarray:
        count_to_host(self._dev, self._a.itemsize)
        return self._a

    def __bool__(self) -> bool:
        return bool(self._read())

    def __int__(self) -> int:
        return int(self._read())

    def __float__(self) -> float:
        return float(self._read())

    def __complex__(self) -> complex:
        return complex(self._read())

    def __index__(self) -> int:
        if not np.issubdtype(self._a.dtype, np.integer):
            raise TypeError(f"only integer arrays can be used as an index, got {self._a.dtype}")
        return operator.index(self._read())

    def __len__(self) -> int:
        if not self._a.ndim:
            raise TypeError("len() of a 0-d array")
        return self._a.shape[0]

    def __iter__(self) -> Any:
        if not self._a.ndim:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    def __repr__(self) -> str:  # a debugging peek at device memory, not counted as a transfer
        body = np.array2string(self._a, separator=", ", threshold=20, prefix="FPGAArray(")
        return f"FPGAArray({body}, dtype={self._a.dtype}, device={self._dev.name!r})"

    __str__ = __repr__

    # -- operands --------------------------------------------------------------
    def _operand(self, other: Any, where: str) -> Any:
        """``other``'s device memory, a Python scalar, or NotImplemented; refuses mixing."""
        if type(other) is FPGAArray:
            if other._dev is not self._dev:
                raise device_error(where, self, other)
            return other._a
        if isinstance(other, _PY_SCALARS) and not isinstance(other, np.generic):
            return other
        if isinstance(other, Tensor):
            return NotImplemented  # the Tensor's reflected operator runs, with its own device check
        if is_foreign_array(other):
            raise mixing_error(where, self, other)
        return NotImplemented

    # -- indexing ----------------------------------------------------------------
    def _key(self, key: Any) -> Any:
        if isinstance(key, tuple):
            return tuple(self._key1(k) for k in key)
        return self._key1(key)

    def _key1(self, k: Any) -> Any:
        if type(k) is FPGAArray:
            if k._dev is not self._dev:
                raise device_error("x[key]", self, k)
            return k._a
        if isinstance(k, Tensor):
            return self._key1(k.data)
        if isinstance(k, (np.ndarray, list)):  # an index array from the host: uploaded
            a = np.asarray(k)
            count_from_host(self._dev, a.nbytes)
            return a
        if k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer, np.bool_)):
            return k
        if is_foreign_array(k):
            raise mixing_error("x[key]", self, k)
        return k

    def __getitem__(self, key: Any) -> "FPGAArray":
        return _new(self._a[self._key(key)], self._dev)

    def __setitem__(self, key: Any, value: Any) -> None:
        v = self._operand(value, "x[key] = value")
        if v is NotImplemented:
            raise TypeError(f"x[key] = value: cannot store {_what(value)} into {_what(self)}")
        self._a[self._key(key)] = v

    # -- matmul: the systolic array (section 4) -----------------------------------
    def __matmul__(self, other: Any) -> "FPGAArray":
        o = self._operand(other, "x @ y")
        if o is NotImplemented:
            return NotImplemented
        from .systolic import run_matmul

        return run_matmul(self, other)

    def __rmatmul__(self, other: Any) -> "FPGAArray":
        o = self._operand(other, "x @ y")
        if o is NotImplemented:
            return NotImplemented
        raise TypeError(f"x @ y: matmul needs two arrays, got {_what(other)} @ {_what(self)}")

    def __imatmul__(self, other: Any) -> "FPGAArray":
        o = self._operand(other, "x @= y")
        if o is NotImplemented:
            return NotImplemented
        from .systolic import run_matmul

        r = run_matmul(self, other)
        if r.shape != self.shape:
            raise ValueError(f"x @= y: the result {r.shape} does not fit x {self.shape}")
        self._a[...] = r._a
        return self


# Operators from tables: name -> NumPy operator on device memory (the in-place one is i + name).
_BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
           "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
           "and": operator.and_, "or": operator.or_, "xor": operator.xor,
           "lshift": operator.lshift, "rshift": operator.rshift}
_INPLACE = {"add": operator.iadd, "sub": operator.isub, "mul": operator.imul, "truediv": operator.itruediv,
            "floordiv": operator.ifloordiv, "mod": operator.imod, "pow": operator.ipow,
            "and": operator.iand, "or": operator.ior, "xor": operator.ixor,
            "lshift": operator.ilshift, "rshift": operator.irshift}
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
           "and": "&", "or": "|", "xor": "^", "lshift": "<<", "rshift": ">>",
           "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
            "gt": operator.gt, "ge": operator.ge}
_UNARY = {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs, "invert": operator.invert}


def _binary(name: str) -> tuple:
    fn, ifn, sym = _BINARY[name], _INPLACE[name], _SYMBOL[name]

    def method(self: FPGAArray, other: Any) -> Any:
        o = self._operand(other, f"x {sym} y")
        return NotImplemented if o is NotImplemented else _new(fn(self._a, o), self._dev)

    def rmethod(self: FPGAArray, other: Any) -> Any:
        o = self._operand(other, f"x {sym} y")
        return NotImplemented if o is NotImplemented else _new(fn(o, self._a), self._dev)

    def imethod(self: FPGAArray, other: Any) -> Any:
        o = self._operand(other, f"x {sym}= y")
        if o is NotImplemented:
            return NotImplemented
        ifn(self._a, o)  # writes into device memory; NumPy refuses results of another shape
        return self
    return method, rmethod, imethod


def _compare(name: str) -> Any:
    fn, sym = _COMPARE[name], _SYMBOL[name]

    def method(self: FPGAArray, other: Any) -> Any:
        o = self._operand(other, f"x {sym} y")
        return NotImplemented if o is NotImplemented else _new(fn(self._a, o), self._dev)
    return method


def _unary(name: str) -> Any:
    fn = _UNARY[name]

    def method(self: FPGAArray) -> FPGAArray:
        return _new(fn(self._a), self._dev)
    return method


for _name in _BINARY:
    _m, _r, _i = _binary(_name)
    setattr(FPGAArray, f"__{_name}__", _m)
    setattr(FPGAArray, f"__r{_name}__", _r)
    setattr(FPGAArray, f"__i{_name}__", _i)
for _name in _COMPARE:
    setattr(FPGAArray, f"__{_name}__", _compare(_name))
for _name in _UNARY:
    setattr(FPGAArray, f"__{_name}__", _unary(_name))
FPGAArray.__hash__ = None  # like NumPy arrays: == is elementwise, so arrays are not hashable


# ---------------------------------------------------------------- the two transfers
# Section 2 (backend.py) builds on these; they are here because the array's own
# ``to_device`` needs them too.


def host_copy(x: FPGAArray) -> np.ndarray:
    """A NumPy copy of ``x`` in host memory: one device -> host transfer."""
    count_to_host(x._dev, x._a.nbytes)
    return x._a.copy()


def upload(a: Any, dev: FPGADevice) -> FPGAArray:
    """A copy of host data ``a`` in ``dev``'s memory: one host -> device transfer."""
    arr = np.array(a, copy=True)
    count_from_host(dev, arr.nbytes)
    return _new(arr, dev)
