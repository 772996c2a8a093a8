"""The public Array API namespace: dtypes, creation functions, data type functions and every op.

Ops are exported as the registered op objects themselves (calling one applies
it). Functions whose Array API signature takes a sequence of arrays or
optional arrays (``concat``, ``stack``, ``clip``, ``einsum``) get a thin
wrapper that unpacks them into the op's array inputs.

The parts of the standard that are not ops live here too: creation functions
with ``device=`` and ``copy=`` as the 2024.12 standard gives them,
``from_dlpack``, the inspection API ``__array_namespace_info__()`` (which asks
each device's own backend what it supports: OpenCL has no complex dtypes, and
float64 only where the device has doubles), and the data type functions
``isdtype``, ``result_type`` (Python scalars included, per the standard's rules
for mixing arrays with scalars), ``can_cast``, ``finfo`` and ``iinfo``.
"""

from __future__ import annotations

import builtins
import dataclasses
from typing import Any

from .core.device import ForeignBackend, backend_of, default_backend, get_backend, is_array
from .core.device import devices as _devices
from .core.errors import DeviceError, DTypeError
from .core.tensor import Tensor
from .ops import elementwise as _E
from .ops import indexing as _I
from .ops import linalg as _L
from .ops import manipulation as _M
from .ops import nn as _N
from .ops import reduction as _R
from .ops import sorting as _S

_default = get_backend(None).xp

# -- data types ------------------------------------------------------------
bool = _default.bool  # noqa: A001
int8, int16, int32, int64 = _default.int8, _default.int16, _default.int32, _default.int64
uint8, uint16, uint32, uint64 = _default.uint8, _default.uint16, _default.uint32, _default.uint64
float32, float64 = _default.float32, _default.float64
float16 = _default.float16   # beyond the standard, for mixed precision (bfloat16 is xpgrad.amp.bfloat16)
complex64, complex128 = _default.complex64, _default.complex128
e, pi, inf, nan = _default.e, _default.pi, _default.inf, _default.nan
newaxis = None

_SCALARS = (builtins.bool, int, float, complex)


def _creation(fn: Any) -> Any:
    """Reword a library's own error in a creation function as an xpgrad error naming the call.

    ``ValueError`` stays a ``ValueError`` (``copy=False`` that would need a copy raises one, as
    the standard says) and ``BufferError`` stays itself (``from_dlpack``).
    """
    import functools

    from .core.errors import OpError, XpgradError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (XpgradError, BufferError):
            raise
        except Exception as exc:
            call = ", ".join([*(_short(a) for a in args), *(f"{k}={_short(v)}" for k, v in kwargs.items())])
            cls = DTypeError if isinstance(exc, TypeError) else OpError
            raise cls(f"{fn.__name__}({call}): {exc}") from exc
    return wrapper


def _short(v: Any) -> str:
    r = repr(v) if not isinstance(v, Tensor) else f"<tensor {v.shape} {v.dtype} on {v.device}>"
    return r if len(r) <= 60 else r[:57] + "..."


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _backend(device: Any, like: Any = None) -> Any:
    if device is None and isinstance(like, Tensor):
        return like._b
    return get_backend(device)


def _make(raw: Any, b: Any, requires_grad: bool) -> Tensor:
    t = Tensor._make(b.wrap(raw), b)
    if requires_grad:
        t.requires_grad = True
    return t


def _dt(b: Any, dtype: Any) -> Any:
    return None if dtype is None else b.dtype(dtype)


def _dev(b: Any) -> dict:
    return {} if b.native_device is None else {"device": b.native_device}


def _same_device(device: Any, t: Tensor) -> builtins.bool:
    return device is None or get_backend(device) is t._b


# -- creation --------------------------------------------------------------
@_creation
def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: builtins.bool | None = None,
            requires_grad: builtins.bool = False) -> Tensor:
    """A Tensor from nested sequences, scalars, or arrays of any Array API library.

    ``copy=None`` reuses ``obj``'s memory where it can, ``copy=True`` always copies and
    ``copy=False`` never does: it raises ``ValueError`` when a copy would be needed (another
    dtype, another device, or data that is not an array yet).

    >>> asarray([1.0, 2.0], requires_grad=True).requires_grad
    True
    >>> x = asarray([1.0, 2.0])
    >>> asarray(x, copy=False) is x
    True
    """
    if isinstance(obj, Tensor):
        same_dtype = dtype is None or obj._b.dtype(dtype) == obj.dtype
        if _same_device(device, obj) and same_dtype and not copy:
            if requires_grad and not obj.requires_grad:
                obj.requires_grad = True
            return obj
        if copy is False:
            why = "another device" if not _same_device(device, obj) else f"dtype {dtype}"
            raise ValueError(f"asarray(<tensor {obj.shape} {obj.dtype} on {obj.device}>, copy=False): "
                             f"converting to {why} needs a copy; pass copy=None to allow one")
        from .ops.creation import to_device

        t = obj if _same_device(device, obj) else to_device(obj, device)
        if not same_dtype:
            t = _E.astype(t, t._b.dtype(dtype))
        elif copy and t is obj:
            t = t.clone()
        if requires_grad:
            t.requires_grad = True
        return t
    if copy is None:
        return Tensor(obj, device=device, dtype=dtype, requires_grad=requires_grad)
    if device is None and not isinstance(obj, _SCALARS) and is_array(obj):
        b = backend_of(obj)  # an array of a foreign library stays in that library
    else:
        b = _backend(device)
    return _make(b.asarray(obj, dtype=dtype, copy=copy), b, requires_grad)


@_creation
def tensor(data: Any, *, dtype: Any = None, device: Any = None,
           requires_grad: builtins.bool = False) -> Tensor:
    """PyTorch's spelling of :func:`asarray` (always copies)."""
    return asarray(data, dtype=dtype, device=device, copy=True, requires_grad=requires_grad)


@_creation
def zeros(shape: Any, *, dtype: Any = None, device: Any = None,
          requires_grad: builtins.bool = False) -> Tensor:
    """A tensor of zeros: ``zeros((2, 3), dtype=xpgrad.float32, device="cpu")``."""
    b = _backend(device)
    return _make(b.xp.zeros(shape, dtype=_dt(b, dtype), **_dev(b)), b, requires_grad)


@_creation
def ones(shape: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: builtins.bool = False) -> Tensor:
    """A tensor of ones: ``ones((2, 3), dtype=xpgrad.float32, device="cpu")``."""
    b = _backend(device)
    return _make(b.xp.ones(shape, dtype=_dt(b, dtype), **_dev(b)), b, requires_grad)


@_creation
def empty(shape: Any, *, dtype: Any = None, device: Any = None,
          requires_grad: builtins.bool = False) -> Tensor:
    """An uninitialised tensor of the given shape."""
    b = _backend(device)
    return _make(b.xp.empty(shape, dtype=_dt(b, dtype), **_dev(b)), b, requires_grad)


@_creation
def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: builtins.bool = False) -> Tensor:
    """A tensor filled with ``fill_value``: ``full((2,), 3.0)``."""
    b = _backend(device)
    return _make(b.xp.full(shape, _scalar(fill_value), dtype=_dt(b, dtype), **_dev(b)), b, requires_grad)


def _scalar(v: Any) -> Any:
    """A fill value as a Python scalar (a 0-d tensor of any device is read back)."""
    if isinstance(v, Tensor):
        if v.ndim != 0:
            raise DTypeError(f"a fill value must be a Python scalar or a 0-d tensor, got shape {v.shape}")
        return v.item()
    return v


def _like_args(x: Any, dtype: Any, device: Any) -> tuple:
    """The backend, shape and dtype of a ``*_like`` result: ``x``'s unless ``dtype``/``device`` say."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise DTypeError(f"expected an array, got {type(x).__name__}")
    b = get_backend(device) if device is not None else (x._b if isinstance(x, Tensor) else backend_of(x))
    return b, tuple(x.shape), b.dtype(x.dtype if dtype is None else dtype)


@_creation
def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None,
               requires_grad: builtins.bool = False) -> Tensor:
    """Zeros shaped like ``x``, of ``x``'s dtype and on its device unless told otherwise.

    The result is a new tensor, not connected to ``x``'s graph.

    >>> zeros_like(asarray([[1, 2]]), dtype=float32).dtype == float32
    True
    """
    b, shape, dt = _like_args(x, dtype, device)
    return _make(b.xp.zeros(shape, dtype=dt, **_dev(b)), b, requires_grad)


@_creation
def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None,
              requires_grad: builtins.bool = False) -> Tensor:
    """Ones shaped like ``x`` (its dtype and device unless told otherwise); not connected to ``x``."""
    b, shape, dt = _like_args(x, dtype, device)
    return _make(b.xp.ones(shape, dtype=dt, **_dev(b)), b, requires_grad)


@_creation
def empty_like(x: Any, /, *, dtype: Any = None, device: Any = None,
               requires_grad: builtins.bool = False) -> Tensor:
    """An uninitialised tensor shaped like ``x`` (its dtype and device unless told otherwise)."""
    b, shape, dt = _like_args(x, dtype, device)
    return _make(b.xp.empty(shape, dtype=dt, **_dev(b)), b, requires_grad)


@_creation
def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None,
              requires_grad: builtins.bool = False) -> Tensor:
    """``fill_value`` everywhere, shaped like ``x`` (its dtype and device unless told otherwise).

    >>> full_like(asarray([1.0, 2.0]), 7).tolist()
    [7.0, 7.0]
    """
    b, shape, dt = _like_args(x, dtype, device)
    return _make(b.xp.full(shape, _scalar(fill_value), dtype=dt, **_dev(b)), b, requires_grad)


@_creation
def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None,
           device: Any = None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``: ``arange(5)``, ``arange(0.0, 1.0, 0.25)``."""
    b = _backend(device)
    return _make(b.xp.arange(start, stop, step, dtype=_dt(b, dtype), **_dev(b)), b, False)


@_creation
def linspace(start: Any, stop: Any, /, num: int, *, dtype: Any = None, device: Any = None,
             endpoint: builtins.bool = True) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop``."""
    b = _backend(device)
    return _make(b.xp.linspace(start, stop, num, dtype=_dt(b, dtype), endpoint=endpoint, **_dev(b)),
                 b, False)


@_creation
def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: Any = None,
        device: Any = None) -> Tensor:
    """A 2-D tensor with ones on diagonal ``k``."""
    b = _backend(device)
    return _make(b.xp.eye(n_rows, n_cols, k=k, dtype=_dt(b, dtype), **_dev(b)), b, False)


_KDLCPU = 1
# DLPack device types of the device families xpgrad knows (dlpack.h: kDLCUDA 2, kDLOpenCL 4, kDLROCM 10).
_DLPACK_FAMILY = {2: "cuda", 4: "opencl", 10: "rocm"}


@_creation
def from_dlpack(x: Any, /, *, device: Any = None, copy: builtins.bool | None = None) -> Tensor:
    """A Tensor holding the data of any DLPack producer (NumPy, PyTorch, array-api-strict, ...).

    ``device=None`` keeps the data on the producer's device: host memory becomes a ``cpu``
    tensor that shares it (``copy=None``/``False``). ``device="opencl:0"`` (or any xpgrad
    device) places the result there; ``copy=True`` always copies, and ``copy=False`` raises
    ``BufferError`` when the data would have to move, as the standard says. The result is a
    new leaf: DLPack carries data, not autodiff graphs.

    >>> import numpy as np
    >>> a = np.arange(3.0)
    >>> t = from_dlpack(a)
    >>> t.tolist(), t.device
    ([0.0, 1.0, 2.0], 'cpu')
    """
    if isinstance(x, Tensor):
        if _same_device(device, x):
            return x.clone().detach() if copy else x.detach()
        if copy is False:
            raise BufferError(f"from_dlpack(copy=False): a tensor on {x.device} cannot reach {device} "
                              "without a copy")
        return asarray(x.detach(), device=device)
    if not hasattr(x, "__dlpack__") or not hasattr(x, "__dlpack_device__"):
        raise DTypeError(f"from_dlpack: {type(x).__name__} does not implement the DLPack protocol "
                         "(__dlpack__ and __dlpack_device__)")
    kind, _index = x.__dlpack_device__()
    kind = int(kind)
    target = None if device is None else get_backend(device)
    if kind == _KDLCPU:
        host = default_backend()
        if target is None or target is host:
            return _make(host.xp.from_dlpack(x, copy=copy), host, False)
        if copy is False:
            raise BufferError(f"from_dlpack(copy=False): host data cannot reach {target.device} without "
                              "a copy")
        return _make(target.from_host(host.xp.from_dlpack(x)), target, False)
    if target is None:  # device memory: the registered device of that family and index, if any
        family = _DLPACK_FAMILY.get(kind)
        name = f"{family}:{_index}" if family else None
        if name is None or name not in _devices():
            raise BufferError(f"from_dlpack: data on DLPack device {(kind, _index)} has no xpgrad device "
                              f"here (devices: {', '.join(_devices())}); pass device='cpu' to copy it to "
                              "the host")
        target = get_backend(name)
    imp = getattr(target.xp, "from_dlpack", None)
    if imp is not None:
        try:
            return _make(imp(x, copy=copy, **_dev(target)), target, False)
        except (BufferError, TypeError, ValueError, NotImplementedError):
            if copy is False:
                raise
    if copy is False:
        raise BufferError(f"from_dlpack(copy=False): data on DLPack device {(kind, _index)} cannot be "
                          f"imported onto {target.device} without a copy")
    host = default_backend().xp.from_dlpack(x, device="cpu", copy=True)
    return _make(target.from_host(host), target, False)


# -- inspection ----------------------------------------------------------------
class _Info:
    """The standard's inspection API: devices, default dtypes and supported dtypes per device.

    Devices are xpgrad's device strings (``"cpu"``, ``"opencl:0"``); dtype questions are
    answered by each device's own backend namespace, so a device without complex numbers
    or without float64 says so.
    """

    __slots__ = ()

    def capabilities(self) -> dict:
        """``{"boolean indexing", "data-dependent shapes", "max dimensions"}`` (of the default device)."""
        caps = dict(_backend_info(default_backend()).capabilities())
        out = {"boolean indexing": True, "data-dependent shapes": True,
               "max dimensions": caps.get("max dimensions")}
        return out

    def default_device(self) -> str:
        """The device arrays are created on when none is named."""
        return default_backend().device

    def devices(self) -> list[str]:
        """Every device usable here (each device family is loaded to find out)."""
        return list(_devices())

    def default_dtypes(self, *, device: Any = None) -> dict:
        """``{"real floating", "complex floating", "integral", "indexing"}`` on ``device``.

        A device without complex dtypes gives ``None`` for "complex floating".
        """
        b = _info_backend(device, "default_dtypes")
        got = _backend_info(b).default_dtypes(**_dev(b))
        return {k: got.get(k) for k in ("real floating", "complex floating", "integral", "indexing")}

    def dtypes(self, *, device: Any = None, kind: Any = None) -> dict:
        """The dtypes ``device`` supports by name, optionally only those of ``kind``.

        >>> sorted(__array_namespace_info__().dtypes(kind="real floating"))
        ['float32', 'float64']
        """
        b = _info_backend(device, "dtypes")
        _check_kind(kind, "dtypes")
        return dict(_backend_info(b).dtypes(kind=kind, **_dev(b)))

    def __repr__(self) -> str:
        return "<xpgrad __array_namespace_info__>"


def _backend_info(b: Any) -> Any:
    return b.xp.__array_namespace_info__()


def _info_backend(device: Any, fn: str) -> Any:
    try:
        return default_backend() if device is None else get_backend(device)
    except DeviceError as exc:
        raise DeviceError(f"__array_namespace_info__().{fn}(device={device!r}): {exc}") from None


_KINDS = ("bool", "signed integer", "unsigned integer", "integral", "real floating", "complex floating",
          "numeric")


def _check_kind(kind: Any, fn: str) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is not None and not (isinstance(k, str) and k in _KINDS):
            raise ValueError(f"{fn}: unknown dtype kind {k!r}; kinds are {', '.join(map(repr, _KINDS))}")


def __array_namespace_info__() -> _Info:
    """The inspection API of the standard: ``capabilities()``, ``devices()``, ``dtypes(...)``...

    >>> info = __array_namespace_info__()
    >>> info.default_device()
    'cpu'
    >>> info.capabilities()["boolean indexing"]
    True
    """
    return _Info()


# -- data type functions -----------------------------------------------------
def _xp_of(*xs: Any) -> Any:
    b = _backend_among(xs)
    return _default if b is None else b.xp


def _backend_among(xs: Any) -> Any:
    """The backend of the first Tensor among ``xs``, else of the first raw array; None if neither."""
    for x in xs:
        if isinstance(x, Tensor):
            return x._b
    for x in xs:
        if not isinstance(x, (type, str, *_SCALARS)) and hasattr(x, "shape") and is_array(x):
            return backend_of(x)
    return None


def _dtype_xp(dtype: Any) -> Any:
    """The namespace that dtype object ``dtype`` belongs to (cached per dtype type)."""
    xp = _DTYPE_NAMESPACES.get(type(dtype))
    if xp is None:
        xp = _DTYPE_NAMESPACES[type(dtype)] = _namespace_of_dtype(dtype)
    return xp


def _dtype_of(x: Any, fn: str) -> Any:
    """The dtype of an array, Tensor or dtype ``x``; a clear error for anything else."""
    if isinstance(x, Tensor):
        return x.dtype
    if not isinstance(x, type) and hasattr(x, "shape") and is_array(x):
        return x.dtype
    if isinstance(x, (str, *_SCALARS)) or x is None:
        raise DTypeError(f"{fn}: {x!r} is not a dtype or an array")
    try:
        isdtype(x, "numeric")
    except (TypeError, ValueError):
        raise DTypeError(f"{fn}: {x!r} is not a dtype or an array") from None
    return x


_DTYPE_NAMESPACES: dict[type, Any] = {}


def isdtype(dtype: Any, kind: Any) -> builtins.bool:
    """Whether ``dtype`` (of any Array API library) is of ``kind``.

    ``kind`` is a dtype, one of the standard's kind names ("bool", "signed integer",
    "unsigned integer", "integral", "real floating", "complex floating", "numeric"), or a
    tuple of those.

    >>> isdtype(float32, ("integral", "real floating"))
    True
    """
    _check_kind(tuple(k for k in (kind if isinstance(kind, tuple) else (kind,)) if isinstance(k, str)),
                "isdtype")
    return builtins.bool(_dtype_xp(dtype).isdtype(dtype, kind))


def _namespace_of_dtype(dtype: Any) -> Any:
    """The namespace a dtype object belongs to: NumPy's, a registered backend's, or its library's."""
    import importlib
    import sys
    import warnings

    candidates = [_default]
    from .core.device import _BY_DEVICE, _FOREIGN_BY_DEVICE

    candidates += [b.xp for b in (*_BY_DEVICE.values(), *_FOREIGN_BY_DEVICE.values())]
    root = type(dtype).__module__.split(".")[0]
    for name in (root, f"array_api_compat.{root}"):
        mod = sys.modules.get(name)
        if mod is None and name.startswith("array_api_compat."):
            try:
                mod = importlib.import_module(name)
            except ImportError:
                mod = None
        if mod is not None and hasattr(mod, "isdtype"):
            candidates.append(mod)
    for xp in candidates:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                xp.isdtype(dtype, "numeric")
            return xp
        except (TypeError, ValueError):
            continue
    raise DTypeError(f"isdtype: {dtype!r} is not a dtype of any Array API library in use")


def result_type(*arrays_and_dtypes: Any) -> Any:
    """The dtype the Array API promotion rules give for these arrays, dtypes and Python scalars.

    Python scalars follow the standard's rules for mixing arrays with scalars: they take the
    kind of the arrays/dtypes they meet (``int`` with ``float32`` is ``float32``; ``complex``
    with ``float32`` is ``complex64``). At least one array or dtype is needed. Combinations
    the standard leaves open (mixed kinds, ``int64`` with ``uint64``, ``float`` with an
    integer dtype) follow NumPy's rules, the same the operators use.

    >>> result_type(float32, 1j) == complex64
    True
    """
    if not arrays_and_dtypes:
        raise DTypeError("result_type() needs at least one array or dtype")
    typed = [a for a in arrays_and_dtypes if not isinstance(a, _SCALARS)]
    if not typed:
        raise DTypeError(f"result_type{arrays_and_dtypes!r}: Python scalars alone have no dtype; give at "
                         "least one array or dtype")
    dts = [_dtype_of(a, "result_type") for a in typed]
    scalars = [a for a in arrays_and_dtypes if isinstance(a, _SCALARS)]
    b = _backend_among(typed)
    if isinstance(b, ForeignBackend):
        # xpgrad's dtype constants are NumPy's: next to another library's arrays, use its dtypes
        dts = [b.dtype(d) for d in dts]
    xp = _default if b is None else b.xp
    try:
        return xp.result_type(*dts, *scalars)
    except Exception as exc:
        raise DTypeError(f"result_type({', '.join(map(str, (*dts, *scalars)))}): {exc}") from exc


# The standard promotes within three families only: bool, integers (signed with unsigned), and
# floating-point (real with complex); it defines no cast across them.
_FAMILIES = ("bool", "integral", ("real floating", "complex floating"))


def _family(dt: Any) -> int:
    for i, k in enumerate(_FAMILIES):
        if isdtype(dt, k):
            return i
    raise DTypeError(f"{dt!r} is not a dtype of the standard")


def can_cast(from_: Any, to: Any, /) -> builtins.bool:
    """Whether ``from_`` (a dtype or an array) casts to ``to`` under the standard's promotion rules.

    True when promoting the two gives ``to``: never across the bool / integer / floating
    families (the standard defines no such promotion), nor to a narrower dtype of one family.

    >>> can_cast(int8, int16), can_cast(float32, complex64), can_cast(float64, float32)
    (True, True, False)
    >>> can_cast(bool, int8), can_cast(int8, float32)
    (False, False)
    """
    f = _dtype_of(from_, "can_cast")
    t = _dtype_of(to, "can_cast")
    if isinstance(to, Tensor) or (hasattr(to, "shape") and not isinstance(to, type)):
        raise DTypeError(f"can_cast: 'to' must be a dtype, got an array of dtype {t}")
    if f == t:
        return True
    if _family(f) != _family(t):
        return False
    try:  # int64 with uint64 has no promotion in the standard; NumPy's float64 is never ``to``
        return builtins.bool(_xp_of(from_).result_type(f, t) == t)
    except (TypeError, ValueError):
        return False


@dataclasses.dataclass(frozen=True)
class finfo_object:  # noqa: N801  (the standard's name for it)
    """Machine limits of a floating-point dtype, as Python numbers (the standard's fields)."""

    bits: int
    eps: float
    max: float
    min: float
    smallest_normal: float
    dtype: Any


@dataclasses.dataclass(frozen=True)
class iinfo_object:  # noqa: N801
    """Machine limits of an integer dtype, as Python ints (the standard's fields)."""

    bits: int
    max: int
    min: int
    dtype: Any


def _info_xp(x: Any, dt: Any) -> Any:
    """The namespace to ask for limits: the array's library, or the one dtype ``dt`` belongs to."""
    b = _backend_among((x,))
    return _dtype_xp(dt) if b is None else b.xp


def finfo(type: Any, /) -> finfo_object:  # noqa: A002
    """Machine limits of a floating-point dtype (or of an array's dtype).

    For a complex dtype the limits are those of its real and imaginary parts, and ``dtype`` is
    that real dtype, as the standard says.

    >>> f = finfo(float32)
    >>> f.bits, f.eps == 2.0 ** -23, f.dtype == float32
    (32, True, True)
    """
    dt = _dtype_of(type, "finfo")
    if not isdtype(dt, ("real floating", "complex floating")):
        raise DTypeError(f"finfo({dt}): not a floating-point dtype; use iinfo for integers")
    f = _info_xp(type, dt).finfo(dt)
    return finfo_object(int(f.bits), float(f.eps), float(f.max), float(f.min), float(f.smallest_normal),
                        f.dtype)


def iinfo(type: Any, /) -> iinfo_object:  # noqa: A002
    """Machine limits of an integer dtype (or of an array's dtype).

    >>> iinfo(int8).min, iinfo(uint8).max
    (-128, 255)
    """
    dt = _dtype_of(type, "iinfo")
    if not isdtype(dt, "integral"):
        raise DTypeError(f"iinfo({dt}): not an integer dtype; use finfo for floating-point dtypes")
    i = _info_xp(type, dt).iinfo(dt)
    return iinfo_object(int(i.bits), int(i.max), int(i.min), i.dtype)


# -- utility (not differentiable) -------------------------------------------
def all(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether every element is true (along ``axis``); not differentiable."""
    b = x._b if isinstance(x, Tensor) else backend_of(x)
    return _make(b.xp.all(_raw(x), axis=axis, keepdims=keepdims), b, False)


def any(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether some element is true (along ``axis``); not differentiable."""
    b = x._b if isinstance(x, Tensor) else backend_of(x)
    return _make(b.xp.any(_raw(x), axis=axis, keepdims=keepdims), b, False)


# -- ops --------------------------------------------------------------------
def _export(module: Any) -> list[str]:
    """The ops a module defines (under their own names), and the functions it lists in ``NAMESPACE``."""
    from .core.registry import Op

    names = []
    for name, value in vars(module).items():
        if isinstance(value, Op) and not name.startswith("_") and value.name == name:
            globals()[name] = value
            names.append(name)
    for name in getattr(module, "NAMESPACE", ()):
        globals()[name] = getattr(module, name)
        names.append(name)
    return names


_op_names: list[str] = []
for _m in (_E, _R, _M, _I, _L, _N, _S):
    _op_names += _export(_m)
_op_names = [n for n in _op_names
             if n not in ("getitem", "setitem", "scatter_add", "clip", "concat", "stack",
                           "einsum")]


def clip(x: Any, /, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clamp ``x`` to ``[min, max]``; the bounds may be scalars, tensors or ``None``."""
    return _E.clip(x, min, max)


def einsum(subscripts: str, /, *operands: Any) -> Tensor:
    """Einstein summation over ``operands``; differentiable in each of them.

    >>> einsum("ij,j->i", asarray([[1.0, 2.0], [3.0, 4.0]]), asarray([1.0, 1.0])).tolist()
    [3.0, 7.0]
    """
    return _L.einsum(*operands, subscripts=subscripts)


def concat(arrays: Any, /, *, axis: int | None = 0) -> Tensor:
    """Join a sequence of arrays along ``axis`` (``None``: flatten each first).

    >>> concat([asarray([1.0, 2.0]), asarray([3.0])]).tolist()
    [1.0, 2.0, 3.0]
    """
    return _M.concat(*arrays, axis=axis)


def stack(arrays: Any, /, *, axis: int = 0) -> Tensor:
    """Join a sequence of same-shaped arrays along a new axis ``axis``.

    >>> stack([asarray([1.0, 2.0]), asarray([3.0, 4.0])], axis=1).shape
    (2, 2)
    """
    return _M.stack(*arrays, axis=axis)


__all__ = [
    "__array_namespace_info__", "from_dlpack",
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128", "e", "pi", "inf", "nan", "newaxis",
    "asarray", "tensor", "zeros", "ones", "empty", "full", "zeros_like", "ones_like",
    "empty_like", "full_like", "arange", "linspace", "eye", "isdtype", "result_type",
    "can_cast", "finfo", "iinfo", "all", "any", "clip", "concat", "stack", "einsum", *_op_names,
]
