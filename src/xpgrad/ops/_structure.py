"""Helpers that name the structure of an op, so most rules are one line.

* :func:`unary` — ``f(x)`` elementwise with derivative ``f'(x)``: VJP ``g·f'``, JVP ``t·f'``.
* :func:`zero_derivative` — piecewise-constant results (floor, sign, comparisons):
  not differentiable; the output never requires grad.

Sample-input specs used across the op files live here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.registry import Op, Sample

__all__ = ["unary", "S", "randn", "pos", "uniform", "ints", "bools"]


def unary(op: Op, deriv: Callable[..., Any]) -> Op:
    """``deriv(xp, out, x)`` is f'(x); the rules multiply it by the cotangent/tangent."""
    op.defvjp(lambda xp, g, out, x: g * deriv(xp, out, x))
    op.defjvp(lambda xp, t, out, x: t * deriv(xp, out, x))
    return op


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
