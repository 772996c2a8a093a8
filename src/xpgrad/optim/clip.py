"""Gradient clipping: by the total norm of all gradients, or elementwise by value.

Both work on the gradients' raw arrays on their device and read nothing
back to the host (unless ``error_if_nonfinite=True``, which must look at the
norm): the scale factor ``min(1, max_norm / (‖g‖ + 1e-6))`` is applied even
when it is 1, so that no comparison needs the norm's value on the host.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from ..core.errors import OpError
from ..core.tape import mark_written
from ..core.tensor import Tensor
from .optimizer import as_params

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _norm_order(norm_type: Any) -> float:
    try:
        p = float(norm_type)
    except (TypeError, ValueError):
        p = math.nan
    if not (p > 0):
        raise OpError(f"clip_grad_norm_: norm_type={norm_type!r} is not a norm order; use a number > 0 or "
                      "float('inf')")
    return p


def _power_sum(xp: Any, g: Any, p: float) -> Any:
    """Σ|g|ᵖ over one gradient (max |g| for p = ∞), with the namespace's elementwise ops and reductions."""
    if p == math.inf:
        return xp.max(xp.abs(g))
    if p == 2:
        return xp.sum(g * g)
    if p == 1:
        return xp.sum(xp.abs(g))
    return xp.sum(xp.abs(g) ** p)


def _check_limit(fn: str, name: str, value: Any) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0:
        raise OpError(f"{fn}: {name}={value!r} must be a number >= 0")
    return float(value)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their total norm is at most ``max_norm``; return that norm.

    The total norm is the ``norm_type``-norm of the vector of every gradient's
    norm (as if all gradients were one vector); parameters without a gradient
    are skipped. The result is a 0-d Tensor on the first gradient's device.

    >>> import xpgrad as xg
    >>> w = xg.asarray([0.0, 0.0], requires_grad=True)
    >>> w.grad = xg.asarray([3.0, 4.0])
    >>> float(xg.optim.clip_grad_norm_([w], max_norm=1.0))
    5.0
    >>> [round(v, 5) for v in w.grad.tolist()]
    [0.6, 0.8]
    """
    p = _norm_order(norm_type)
    max_norm = _check_limit("clip_grad_norm_", "max_norm", max_norm)
    grads = [t.grad for t in as_params(parameters) if t.grad is not None]
    if not grads:
        from .. import asarray

        return asarray(0.0, dtype="float32")
    b = grads[0]._b
    xp = b.xp
    # ‖(‖g₁‖, ‖g₂‖, …)‖ₚ = (Σᵢ Σ|gᵢ|ᵖ)^(1/p), or max |g| for p = ∞: one partial per gradient
    parts = []
    for g in grads:
        if g.size == 0:
            continue
        part = g._b.wrap(_power_sum(g._b.xp, g.data, p))
        if g._b is not b:  # a gradient on another device: only its partial sum travels
            part = b.from_host(g._b.to_host(part))
        parts.append(part)
    if not parts:
        return Tensor._make(xp.zeros((), dtype=grads[0].dtype), b)
    dtype = xp.result_type(*parts)
    total = xp.astype(parts[0], dtype)
    for part in parts[1:]:
        part = xp.astype(part, dtype)
        total = xp.maximum(total, part) if p == math.inf else total + part
    if p == 2:
        total = xp.sqrt(total)
    elif p not in (1, math.inf):
        total = total ** (1 / p)
    total = b.wrap(total)
    if error_if_nonfinite:
        value = float(b.to_host(total))
        if not math.isfinite(value):
            raise OpError(f"clip_grad_norm_: the total norm of order {p} of {len(grads)} gradient(s) is "
                          f"{value}, so they cannot be scaled to max_norm={max_norm}; look for the "
                          "parameter whose gradient is not finite, or pass error_if_nonfinite=False")
    scale = b.wrap(xp.clip(max_norm / (total + 1e-6), max=1.0))  # min(1, max_norm/(‖g‖ + 1e-6))
    for g in grads:
        s = scale if g._b is b else g._b.from_host(b.to_host(scale))
        gb = g._b
        if s.dtype != g.dtype:
            s = gb.xp.astype(s, g.dtype)
        d = g.data
        d *= s
        g.data = d
        mark_written(g)
    return Tensor._make(total, b)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient elementwise into ``[-clip_value, clip_value]``, in place.

    >>> import xpgrad as xg
    >>> w = xg.asarray([0.0, 0.0, 0.0], requires_grad=True)
    >>> w.grad = xg.asarray([-3.0, 0.5, 4.0])
    >>> xg.optim.clip_grad_value_([w], 1.0)
    >>> w.grad.tolist()
    [-1.0, 0.5, 1.0]
    """
    c = _check_limit("clip_grad_value_", "clip_value", clip_value)
    for t in as_params(parameters):
        g = t.grad
        if g is None:
            continue
        d = g.data
        clipped = g._b.xp.clip(d, min=-c, max=c)
        try:
            d[...] = clipped
        except (TypeError, ValueError):  # an immutable or read-only buffer
            d = clipped
        g.data = d
        mark_written(g)
