"""The public Array API namespace: dtypes, creation functions and every op.

Ops are exported as the registered op objects themselves (calling one applies
it). Functions whose Array API signature takes a sequence of arrays or
optional arrays (``concat``, ``stack``, ``clip``, ``einsum``) get a thin
wrapper that unpacks them into the op's array inputs.
"""

from __future__ import annotations

from typing import Any

from .core.device import backend_of, get_backend
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
complex64, complex128 = _default.complex64, _default.complex128
e, pi, inf, nan = _default.e, _default.pi, _default.inf, _default.nan
newaxis = None


def _creation(fn: Any) -> Any:
    """Reword a library's own error in a creation function as an xpgrad error naming the call."""
    import functools

    from .core.errors import DTypeError, OpError, XpgradError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except XpgradError:
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


# -- creation --------------------------------------------------------------
@_creation
def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: bool | None = None,
            requires_grad: bool = False) -> Tensor:
    """A Tensor from nested sequences, scalars, or arrays of any Array API library.

    >>> asarray([1.0, 2.0], requires_grad=True).requires_grad
    True
    """
    if isinstance(obj, Tensor):
        if (device is None or str(device) == obj.device) and dtype is None and not copy:
            if requires_grad and not obj.requires_grad:
                obj.requires_grad = True
            return obj
        from .ops.creation import to_device

        t = obj if device is None or str(device) == obj.device else to_device(obj, device)
        if dtype is not None:
            t = _E.astype(t, dtype=t._b.dtype(dtype))
        elif copy:
            t = t.clone()
        if requires_grad:
            t.requires_grad = True
        return t
    return Tensor(obj, device=device, dtype=dtype, requires_grad=requires_grad) if copy is None \
        else _make(_backend(device).asarray(obj, dtype=dtype, copy=copy), _backend(device),
                   requires_grad)


@_creation
def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """PyTorch's spelling of :func:`asarray` (always copies)."""
    return asarray(data, dtype=dtype, device=device, copy=True, requires_grad=requires_grad)


@_creation
def zeros(shape: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros((2, 3), dtype=xpgrad.float32, device="cpu")``."""
    b = _backend(device)
    return _make(b.xp.zeros(shape, dtype=_dt(b, dtype), **_dev(b)), b, requires_grad)


@_creation
def ones(shape: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ``ones((2, 3), dtype=xpgrad.float32, device="cpu")``."""
    b = _backend(device)
    return _make(b.xp.ones(shape, dtype=_dt(b, dtype), **_dev(b)), b, requires_grad)


@_creation
def empty(shape: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of the given shape."""
    b = _backend(device)
    return _make(b.xp.empty(shape, dtype=_dt(b, dtype), **_dev(b)), b, requires_grad)


@_creation
def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``: ``full((2,), 3.0)``."""
    b = _backend(device)
    return _make(b.xp.full(shape, _raw(fill_value), dtype=_dt(b, dtype), **_dev(b)), b, requires_grad)


def _like(name: str) -> Any:
    def fn(x: Any, /, *args: Any, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
        b = _backend(device, x) if isinstance(x, Tensor) or device is not None else backend_of(x)
        raw = getattr(b.xp, name)(_raw(x), *map(_raw, args), dtype=_dt(b, dtype))
        return _make(raw, b, requires_grad)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``{name}``: a new tensor shaped like ``x`` (not connected to ``x``'s graph)."
    return fn


_like_base = _like
_like = lambda name: _creation(_like_base(name))  # noqa: E731
zeros_like = _like("zeros_like")
ones_like = _like("ones_like")
empty_like = _like("empty_like")
full_like = _like("full_like")


@_creation
def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None,
           device: Any = None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``: ``arange(5)``, ``arange(0.0, 1.0, 0.25)``."""
    b = _backend(device)
    return _make(b.xp.arange(start, stop, step, dtype=_dt(b, dtype), **_dev(b)), b, False)


@_creation
def linspace(start: Any, stop: Any, /, num: int, *, dtype: Any = None, device: Any = None,
             endpoint: bool = True) -> Tensor:
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


# -- data type functions -----------------------------------------------------
def _xp_of(*xs: Any) -> Any:
    for x in xs:
        if isinstance(x, Tensor):
            return x._b.xp
    return _default


_DTYPE_NAMESPACES: dict[type, Any] = {}


def isdtype(dtype: Any, kind: Any) -> bool:
    """Whether ``dtype`` (of any Array API library) is of ``kind`` ("real floating", ...)."""
    xp = _DTYPE_NAMESPACES.get(type(dtype))
    if xp is None:
        xp = _DTYPE_NAMESPACES[type(dtype)] = _namespace_of_dtype(dtype)
    return xp.isdtype(dtype, kind)


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
    raise TypeError(f"{dtype!r} is not a dtype of any Array API library in use")


def result_type(*arrays_and_dtypes: Any) -> Any:
    """The dtype the Array API promotion rules give for these arrays and dtypes."""
    return _xp_of(*arrays_and_dtypes).result_type(*map(_raw, arrays_and_dtypes))


def can_cast(from_: Any, to: Any, /) -> bool:
    """Whether ``from_`` casts to ``to`` under the Array API casting rules."""
    return _xp_of(from_).can_cast(_raw(from_), to)


def finfo(type: Any, /) -> Any:  # noqa: A002
    """Machine limits of a floating-point dtype."""
    return _xp_of(type).finfo(_raw(type))


def iinfo(type: Any, /) -> Any:  # noqa: A002
    """Machine limits of an integer dtype."""
    return _xp_of(type).iinfo(_raw(type))


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
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "complex64", "complex128", "e", "pi", "inf", "nan", "newaxis",
    "asarray", "tensor", "zeros", "ones", "empty", "full", "zeros_like", "ones_like",
    "empty_like", "full_like", "arange", "linspace", "eye", "isdtype", "result_type",
    "can_cast", "finfo", "iinfo", "all", "any", "clip", "concat", "stack", "einsum", *_op_names,
]
