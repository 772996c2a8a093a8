"""The Array API's operators and methods on :class:`Tensor`, as a table from dunder to op.

In-place operators and ``__setitem__`` write into the buffer when nothing is
being recorded (and bump the version counter, so a backward pass that needs
the old value raises). While gradients are recorded they are computed out of
place and the Tensor object is rebound to the recorded result, so no saved
value is ever overwritten.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import DTypeError, OpError, describe
from ..core.tape import apply, mark_written, rebind, recording, snapshot
from ..core.tensor import Tensor
from . import elementwise as E
from . import indexing as I
from . import linalg as L
from . import manipulation as M
from . import reduction as R

_EMPTY: dict = {}

_BINARY = {
    "add": E.add, "sub": E.subtract, "mul": E.multiply, "truediv": E.divide, "pow": E.pow,
    "matmul": L.matmul, "floordiv": E.floor_divide, "mod": E.remainder,
    "and": E.bitwise_and, "or": E.bitwise_or, "xor": E.bitwise_xor,
    "lshift": E.bitwise_left_shift, "rshift": E.bitwise_right_shift,
}
_COMPARE = {"eq": E.equal, "ne": E.not_equal, "lt": E.less, "le": E.less_equal,
            "gt": E.greater, "ge": E.greater_equal}
_UNARY = {"neg": E.negative, "pos": E.positive, "abs": E.abs, "invert": E.bitwise_invert}


def _binary(op: Any) -> tuple:
    def method(self: Tensor, other: Any) -> Any:
        return apply(op, (self, other), _EMPTY)

    def rmethod(self: Tensor, other: Any) -> Any:
        return apply(op, (other, self), _EMPTY)

    def imethod(self: Tensor, other: Any) -> Tensor:
        return _inplace(self, op, other)
    return method, rmethod, imethod


def _compare(op: Any) -> Any:
    def method(self: Tensor, other: Any) -> Any:
        return apply(op, (self, other), _EMPTY)
    return method


def _unary(op: Any) -> Any:
    def method(self: Tensor) -> Any:
        return apply(op, (self,), _EMPTY)
    return method


def _inplace(self: Tensor, op: Any, other: Any) -> Tensor:
    # The standard: ``x1 op= x2`` equals ``x1 = x1 op x2`` only when that result keeps x1's shape and
    # dtype; anything else (int += 1.5, float32 += float64 array, broadcasting x1 up) is refused.
    if recording(self, other):
        res = apply(op, (snapshot(self), other), _EMPTY)
        _check_inplace(self, op, other, res.shape, res.dtype)
        return rebind(self, res)
    if not self._b.mutable:
        res = apply(op, (self, other), _EMPTY)
        _check_inplace(self, op, other, res.shape, res.dtype)
        self.data = res.data
        mark_written(self)
        return self
    res = apply(op, (self, other), _EMPTY).data
    _check_inplace(self, op, other, tuple(res.shape), res.dtype)
    try:
        self.data[...] = res
    except Exception as exc:
        raise OpError(f"in-place '{op.name}' into {describe(self)}: {exc}") from exc
    mark_written(self)
    return self


def _check_inplace(self: Tensor, op: Any, other: Any, shape: tuple, dtype: Any) -> None:
    if tuple(shape) != self.shape:
        raise OpError(f"in-place '{op.name}' cannot broadcast {describe(other)} into "
                      f"{describe(self)}: the result would have shape {tuple(shape)}; in-place "
                      "results keep the left operand's shape")
    if dtype != self.dtype:  # e.g. int64 += 1.5: refuse rather than truncate silently
        raise DTypeError(f"in-place '{op.name}' of {describe(self)} with {describe(other)} would "
                         f"produce {dtype}; in-place results keep the left operand's dtype, so "
                         "write it out of place (x = x + y) or convert x first")


def _check_setitem_dtype(self: Tensor, key: Any, value: Any) -> None:
    """``x[key] = v`` must not change ``v``'s kind or precision into ``x``'s (the standard's rule).

    A Python scalar must be of a kind ``x`` holds (no float into an integer tensor, no complex
    into a real one); an array must promote with ``x`` to ``x``'s own dtype.
    """
    dt = self.dtype
    isdtype = self._b.xp.isdtype
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float, complex)):
        if isinstance(value, complex):
            allowed: Any = "complex floating"
        elif isinstance(value, float):
            allowed = ("real floating", "complex floating")
        else:
            allowed = ("integral", "real floating", "complex floating")
        if not isdtype(dt, allowed):
            raise DTypeError(f"setitem into {describe(self)} at {key!r}: a Python "
                             f"{type(value).__name__} ({value!r}) cannot be stored in dtype {dt} "
                             "without changing its value's kind; convert the tensor first")
        return
    vdt = getattr(value, "dtype", None)
    if vdt is None or vdt == dt:
        return
    from .. import result_type

    try:
        ok = result_type(dt, vdt) == dt
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DTypeError(f"setitem into {describe(self)} at {key!r} with {describe(value)}: a value of "
                         f"dtype {vdt} does not fit dtype {dt} (their promoted dtype is not {dt}); convert "
                         "the value with xpgrad.astype first")


def _getitem(self: Tensor, key: Any) -> Any:
    return I.getitem(self, key=key)


def _setitem(self: Tensor, key: Any, value: Any) -> None:
    _check_setitem_dtype(self, key, value)
    if recording(self, value):
        res = I.setitem(snapshot(self), value, key=key)
        rebind(self, res)
        return
    raw = value.data if isinstance(value, Tensor) else value
    try:
        if self._b.mutable:
            I._put(self._b.xp, self.data, key, raw)
        else:
            self.data = I.setitem(self, value, key=key).data
    except Exception as exc:
        raise OpError(f"setitem into {describe(self)} at {key!r} with {describe(value)}: {exc}") from exc
    mark_written(self)


def install() -> None:
    for name, op in _BINARY.items():
        m, r, i = _binary(op)
        setattr(Tensor, f"__{name}__", m)
        setattr(Tensor, f"__r{name}__", r)
        setattr(Tensor, f"__i{name}__", i)
    for name, op in _COMPARE.items():
        setattr(Tensor, f"__{name}__", _compare(op))
    for name, op in _UNARY.items():
        setattr(Tensor, f"__{name}__", _unary(op))
    Tensor.__getitem__ = _getitem
    Tensor.__setitem__ = _setitem
    Tensor.__hash__ = object.__hash__

    # Methods beyond the dunders, as PyTorch users expect them.
    Tensor.sum = lambda self, axis=None, keepdims=False: R.sum(self, axis=axis, keepdims=keepdims)
    Tensor.mean = lambda self, axis=None, keepdims=False: R.mean(self, axis=axis, keepdims=keepdims)
    Tensor.prod = lambda self, axis=None, keepdims=False: R.prod(self, axis=axis, keepdims=keepdims)
    Tensor.max = lambda self, axis=None, keepdims=False: R.max(self, axis=axis, keepdims=keepdims)
    Tensor.min = lambda self, axis=None, keepdims=False: R.min(self, axis=axis, keepdims=keepdims)
    Tensor.reshape = lambda self, *shape: M.reshape(
        self, tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape)
    Tensor.exp = lambda self: E.exp(self)
    Tensor.log = lambda self: E.log(self)
    Tensor.tanh = lambda self: E.tanh(self)
    Tensor.sigmoid = lambda self: E.sigmoid(self)
    Tensor.sqrt = lambda self: E.sqrt(self)
    Tensor.abs = lambda self: E.abs(self)
    Tensor.astype = _astype
    Tensor.clone = lambda self: E.positive(self) if recording(self) else \
        Tensor._make(self._b.xp.asarray(self.data, copy=True), self._b)
    Tensor.T = property(lambda self: M.matrix_transpose(self) if self.ndim == 2 else
                        _bad_T(self))
    Tensor.mT = property(lambda self: M.matrix_transpose(self))

    def backward(self: Tensor, grad: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad."""
        from ..core.tape import backward as _backward

        if inputs is not None:
            gs = _backward([self], [grad], inputs=list(inputs), retain_graph=retain_graph,
                           create_graph=create_graph)
            for t, g in zip(inputs, gs):
                if g is not None:
                    t.grad = g if t.grad is None else t.grad + g
            return
        _backward([self], [grad], retain_graph=retain_graph, create_graph=create_graph)
    Tensor.backward = backward


def _astype(self: Tensor, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Tensor:
    """``xpgrad.astype(self, dtype, copy=copy, device=device)`` as a method."""
    from .. import astype

    kw = {} if device is None else {"device": device}
    return astype(self, self._b.dtype(dtype), copy=copy, **kw)


def _bad_T(self: Tensor) -> Any:
    raise OpError(f".T is defined for 2-D tensors only (got shape {self.shape}); use .mT for "
                  "batches of matrices or xpgrad.permute_dims")
