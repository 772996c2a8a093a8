"""Helpers that name the structure of an op, so most rules are one line.

* :func:`unary` — ``f(x)`` elementwise with derivative ``f'(x)``: VJP ``g·f'``, JVP ``t·f'``.
* :func:`zero_derivative` — piecewise-constant results (floor, sign, comparisons):
  not differentiable; the output never requires grad.
* :func:`call` — apply another op inside a rule, in either mode.

Sample-input specs used across the op files live here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.device import backend_of
from ..core.registry import Op, Sample
from ..core.tensor import Tensor

__all__ = ["unary", "call", "S", "randn", "pos", "uniform", "ints", "bools"]


def unary(op: Op, deriv: Callable[..., Any]) -> Op:
    """``deriv(xp, out, x)`` is f'(x); the rules multiply it by the cotangent/tangent."""
    op.defvjp(lambda xp, g, out, x: g * deriv(xp, out, x))
    op.defjvp(lambda xp, t, out, x: t * deriv(xp, out, x))
    return op


def call(op: Op, xp: Any, *args: Any, **params: Any) -> Any:
    """``op`` applied inside a rule: recorded on Tensors (``xp = xpgrad``), else its backend's kernel."""
    for a in args:                  # a plain loop: this runs several times per layer and step
        if isinstance(a, Tensor):
            return op(*args, **params)
    a = args[0]
    if not hasattr(a, "__array_namespace__"):
        a = next(a for a in args if hasattr(a, "__array_namespace__"))
    return op.kernels.get(backend_of(a), op.forward)(xp, *args, **params)


S = Sample


def randn(*shape: int) -> tuple:
    return ("randn", shape)


def pos(*shape: int) -> tuple:
    return ("rand", shape, 0.5, 2.0)


def uniform(lo: float, hi: float, *shape: int) -> tuple:
    return ("rand", shape, lo, hi)


def ints(lo: int, hi: int, *shape: int) -> tuple:
    return ("int", shape, lo, hi)


def bools(*shape: int) -> tuple:
    return ("bool", shape)
