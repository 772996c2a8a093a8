"""Nested tuples, lists and dicts of arrays ("pytrees"), flattened and rebuilt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["flatten", "unflatten", "tree_map"]


def flatten(tree: Any) -> tuple[list, Any]:
    """Leaves in order, and a description of the structure to rebuild it with :func:`unflatten`."""
    leaves: list = []

    def go(t: Any) -> Any:
        if isinstance(t, (tuple, list)):
            return (type(t), [go(x) for x in t])
        if isinstance(t, dict):
            keys = list(t)
            return (dict, keys, [go(t[k]) for k in keys])
        if t is None:
            return None
        leaves.append(t)
        return "*"
    return leaves, go(tree)


def unflatten(treedef: Any, leaves: list) -> Any:
    it = iter(leaves)

    def go(d: Any) -> Any:
        if d == "*":
            return next(it)
        if d is None:
            return None
        if d[0] is dict:
            return {k: go(s) for k, s in zip(d[1], d[2])}
        kind, subs = d
        vals = [go(s) for s in subs]
        return kind(vals) if kind in (tuple, list) else kind(*vals)
    return go(treedef)


def tree_map(fn: Callable, tree: Any, *rest: Any) -> Any:
    leaves, td = flatten(tree)
    others = [flatten(r)[0] for r in rest]
    return unflatten(td, [fn(x, *ys) for x, *ys in zip(leaves, *others)])
