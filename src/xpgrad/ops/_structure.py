"""Helpers that name the structure of an op, so most rules are one line.

* :func:`unary` — ``f(x)`` elementwise with derivative ``f'(x)``: VJP ``g·f'``, JVP ``t·f'``.
* :func:`zero_derivative` — piecewise-constant results (floor, sign, comparisons):
  not differentiable; the output never requires grad.
* :func:`call` — apply another op inside a rule, in either mode.
* :func:`conj` / :func:`is_complex` — complex arguments: VJPs follow the conjugate-Wirtinger
  convention PyTorch documents. A JVP is the R-linear directional derivative (``f'(z)·t`` for a
  holomorphic ``f``); a VJP is its adjoint under ``Re Σ conj(a)·b``, so a holomorphic ``f``
  has VJP ``g·conj(f'(z))``. ``conj`` is the identity on real arrays and costs nothing there.

Sample-input specs used across the op files live here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.device import backend_of, is_array
from ..core.registry import Op, Sample
from ..core.tensor import Tensor

__all__ = ["unary", "call", "conj", "is_complex", "mH", "mm", "promoted", "S", "randn", "crandn", "pos",
           "uniform", "ints", "bools"]


def unary(op: Op, deriv: Callable[..., Any]) -> Op:
    """``deriv(xp, out, x)`` is f'(x) (holomorphic f for complex x); VJP ``g·conj(f')``, JVP ``t·f'``."""
    op.defvjp(lambda xp, g, out, x: g * conj(xp, deriv(xp, out, x)))
    op.defjvp(lambda xp, t, out, x: t * deriv(xp, out, x))
    return op


_COMPLEX: dict = {}


def is_complex(xp: Any, a: Any) -> bool:
    """Whether ``a`` (an array, Tensor or Python number) is complex; cached per dtype."""
    dt = getattr(a, "dtype", None)
    if dt is None:
        return isinstance(a, complex)
    key = (type(dt), dt)  # the type first: dtypes of two libraries are never compared with each other
    try:
        return _COMPLEX[key]
    except KeyError:
        out = _COMPLEX[key] = bool(xp.isdtype(dt, "complex floating"))
        return out
    except TypeError:  # an unhashable dtype object
        return bool(xp.isdtype(dt, "complex floating"))


def conj(xp: Any, a: Any) -> Any:
    """The complex conjugate of ``a``; ``a`` itself when it is real (no op is recorded)."""
    if not is_complex(xp, a):
        return a
    if getattr(a, "dtype", None) is None:
        return a.conjugate()
    return xp.conj(a)


def mH(xp: Any, a: Any) -> Any:
    """The conjugate transpose ``aᴴ`` of a stack of matrices (the transpose of a real one)."""
    return conj(xp, xp.matrix_transpose(a))


def promoted(xp: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """``a`` and ``b`` in their common dtype (``xp.result_type``); unchanged when the dtypes agree.

    The standard promotes real with complex operands of ``@``; some libraries (PyTorch) refuse to
    mix them, so rules that may meet both (a real matrix, a complex cotangent) convert first.
    """
    if a.dtype == b.dtype:
        return a, b
    t = xp.result_type(a, b)
    return xp.astype(a, t, copy=False), xp.astype(b, t, copy=False)


def mm(xp: Any, a: Any, b: Any) -> Any:
    """``a @ b`` with the standard's dtype promotion even where the library's ``@`` refuses mixed dtypes.

    The common case (equal dtypes) costs one comparison.
    """
    if a.dtype == b.dtype:
        return a @ b
    a, b = promoted(xp, a, b)
    return a @ b


def call(op: Op, xp: Any, *args: Any, **params: Any) -> Any:
    """``op`` applied inside a rule: recorded on Tensors (``xp = xpgrad``), else its backend's kernel."""
    for a in args:                  # a plain loop: this runs several times per layer and step
        if isinstance(a, Tensor):
            return op(*args, **params)
    a = args[0]
    if not hasattr(a, "__array_namespace__"):  # a scalar first, or an array without the attribute (torch)
        a = next(v for v in args if is_array(v))
    return op.kernels.get(backend_of(a), op.forward)(xp, *args, **params)


S = Sample


def randn(*shape: int) -> tuple:
    return ("randn", shape)


def crandn(*shape: int) -> tuple:
    """Complex standard normal draws (complex128 in float64 tests, complex64 in float32 ones)."""
    return ("crandn", shape)


def pos(*shape: int) -> tuple:
    return ("rand", shape, 0.5, 2.0)


def uniform(lo: float, hi: float, *shape: int) -> tuple:
    return ("rand", shape, lo, hi)


def ints(lo: int, hi: int, *shape: int) -> tuple:
    return ("int", shape, lo, hi)


def bools(*shape: int) -> tuple:
    return ("bool", shape)
