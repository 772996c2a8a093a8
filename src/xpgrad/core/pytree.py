"""Nested tuples, lists and dicts of arrays ("pytrees"), flattened and rebuilt.

The helpers are module-level functions taking their accumulator as an
argument: a nested closure would form a reference cycle (function -> cell ->
function) that keeps every leaf — and every graph hanging off it — alive until
the cyclic garbage collector runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["flatten", "unflatten", "tree_map"]


def _flatten(t: Any, leaves: list) -> Any:
    if isinstance(t, (tuple, list)):
        return (type(t), [_flatten(x, leaves) for x in t])
    if isinstance(t, dict):
        keys = list(t)
        return (dict, keys, [_flatten(t[k], leaves) for k in keys])
    if t is None:
        return None
    leaves.append(t)
    return "*"


def _unflatten(d: Any, it: Iterator) -> Any:
    if d == "*":
        return next(it)
    if d is None:
        return None
    if d[0] is dict:
        return {k: _unflatten(s, it) for k, s in zip(d[1], d[2])}
    kind, subs = d
    vals = [_unflatten(s, it) for s in subs]
    return kind(vals) if kind in (tuple, list) else kind(*vals)


def flatten(tree: Any) -> tuple[list, Any]:
    """Leaves in order, and a description of the structure to rebuild it with :func:`unflatten`."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def unflatten(treedef: Any, leaves: list) -> Any:
    """The tree described by ``treedef`` with ``leaves`` in place of its leaves."""
    return _unflatten(treedef, iter(leaves))


def tree_map(fn: Callable, tree: Any, *rest: Any) -> Any:
    """``fn`` applied leaf by leaf to ``tree`` (and matching leaves of ``rest``)."""
    leaves, td = flatten(tree)
    others = [flatten(r)[0] for r in rest]
    return unflatten(td, [fn(x, *ys) for x, *ys in zip(leaves, *others)])
