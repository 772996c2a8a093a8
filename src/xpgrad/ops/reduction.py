"""Reductions and scans: sum, mean, prod, max, min, var, std, logsumexp, cumulative_sum.

Every rule first puts the reduced axes back (``keepdims``) so the cotangent
broadcasts against the input.
"""

from __future__ import annotations

from ..core.registry import defop
from ._structure import S, randn


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim if ndim else a for a in axis)


def _keep(xp, g, x, axis, keepdims):
    """``g`` with the reduced axes restored as size-1 axes."""
    if keepdims or x.ndim == 0:
        return g
    shape = list(x.shape)
    for a in _axes(axis, x.ndim):
        shape[a] = 1
    return xp.reshape(g, tuple(shape))


def _count(x, axis):
    n = 1
    for a in _axes(axis, x.ndim):
        n *= x.shape[a]
    return n


@defop("sum")
def sum(xp, x, /, *, axis=None, dtype=None, keepdims=False):
    return xp.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)


sum.defvjp(lambda xp, g, out, x, axis=None, dtype=None, keepdims=False:
           xp.broadcast_to(_keep(xp, g, x, axis, keepdims), x.shape))
sum.deflinear()


@defop("mean")
def mean(xp, x, /, *, axis=None, keepdims=False):
    return xp.mean(x, axis=axis, keepdims=keepdims)


mean.defvjp(lambda xp, g, out, x, axis=None, keepdims=False:
            xp.broadcast_to(_keep(xp, g, x, axis, keepdims), x.shape) / _count(x, axis))
mean.deflinear()

sum.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 1}),
               S((randn(2, 3, 4),), {"axis": (0, 2), "keepdims": True}), S((randn(),)))
mean.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 0}),
                S((randn(2, 3, 4),), {"axis": (1, 2), "keepdims": True}))
