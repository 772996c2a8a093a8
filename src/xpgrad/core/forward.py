"""Forward mode: tangents carried beside primals, one level per ``jvp`` transform.

A Tensor's ``_tan`` maps a level to that level's tangent (itself a Tensor).
Each running forward-mode transform owns a level; inner transforms get higher
levels. As with nested dual numbers, the tangent at level ``L`` is computed
from values that carry only levels below ``L`` (and the tangent inherits those
levels), so

* transforms nest in any order (forward-over-forward, forward-over-reverse,
  reverse-over-forward), and
* tangents of different levels never mix (no perturbation confusion).

JVP rules always run on Tensors with ``xp = xpgrad``: they are recorded on the
tape when reverse mode watches, and carry lower-level tangents when outer
forward transforms do.
"""

from __future__ import annotations

from typing import Any

from .registry import ZERO
from .tape import rule_for, state
from .tensor import Tensor, namespace

__all__ = ["new_level", "release_level", "attach", "tangent_of", "strip", "propagate"]


def new_level() -> int:
    lvl = state.next_level
    state.next_level = lvl + 1
    return lvl


def release_level(level: int) -> None:
    if state.next_level == level + 1:
        state.next_level = level


def attach(x: Tensor, level: int, tangent: Tensor) -> Tensor:
    """A new Tensor object: ``x`` (same data and graph edge) carrying ``tangent`` at ``level``."""
    tans = dict(x._tan) if x._tan else {}
    tans[level] = tangent
    return x._alias(x._edge, tans)


def tangent_of(x: Any, level: int) -> Tensor | None:
    if isinstance(x, Tensor) and x._tan:
        return x._tan.get(level)
    return None


def strip(x: Any, level: int) -> Any:
    """``x`` without the tangents at ``level`` and above."""
    if not isinstance(x, Tensor) or not x._tan:
        return x
    tans = x._tan
    if all(k < level for k in tans):
        return x
    kept = {k: v for k, v in tans.items() if k < level}
    return x._alias(x._edge, kept or None)


def _fit(t: Any, out: Tensor, op: Any, xp: Any) -> Any:
    """Match a tangent to its output: broadcast it (elementwise ops) and fix its dtype."""
    if t is None or t is ZERO:
        return None
    if not isinstance(t, Tensor):
        t = xp.asarray(t, dtype=out.dtype, device=out.device)
    if t.shape != out.shape:
        t = xp.broadcast_to(t, out.shape)
    if t.dtype != out.dtype:
        if xp.isdtype(t.dtype, "complex floating") and not xp.isdtype(out.dtype, "complex floating"):
            t = xp.real(t)  # a real output's tangent is real (a rule that kept a zero imaginary part)
        if t.dtype != out.dtype:
            t = xp.astype(t, out.dtype)
    return t


def _add(a: Any, b: Any) -> Any:
    if a is None or a is ZERO:
        return b
    if b is None or b is ZERO:
        return a
    return a + b


def propagate(op: Any, args: tuple, params: dict, results: tuple, node: Any) -> None:
    """Compute the results' tangents at every level present in ``args`` (lowest first)."""
    xp = namespace()
    levels = sorted({k for a in args if isinstance(a, Tensor) and a._tan for k in a._tan})
    n_out = len(results)
    for level in levels:
        tans = [tangent_of(a, level) for a in args]
        if all(t is None for t in tans):
            continue
        prims = [strip(a, level) for a in args]
        out = results[0] if n_out == 1 else results
        if op.jvps is not None:
            total: Any = None
            for i, t in enumerate(tans):
                if t is None:
                    continue
                rule = rule_for(op.jvps, i)
                if rule is None:
                    continue
                contrib = rule(xp, t, out, *prims, **params)
                if type(out) is tuple:
                    total = contrib if total is None else tuple(_add(a, b) for a, b in zip(total, contrib))
                else:
                    total = _add(total, contrib)
        else:
            ts = [ZERO if t is None else t for t in tans]
            if op.variadic:
                total = op.jvp(xp, tuple(ts), out, *prims, **params)
            else:
                total = op.jvp(xp, *ts, out, *prims, **params)
        if type(out) is tuple:
            total = total if total is not None else (None,) * n_out
            for r, t in zip(results, total):
                t = _fit(t, r, op, xp)
                if t is not None and r._b.is_floating(r.dtype):
                    r._tan = {**(r._tan or {}), level: t}
        else:
            r = results[0]
            t = _fit(total, r, op, xp)
            if t is not None:
                r._tan = {**(r._tan or {}), level: t}
    if node is not None:
        node.out_tan = results[0]._tan if n_out == 1 and node.n_out == 1 else \
            tuple(r._tan for r in results)
