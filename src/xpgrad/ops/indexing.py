"""Indexing: getitem (basic slicing, integer arrays, boolean masks) and setitem.

The VJP of getitem scatters the cotangent into zeros, adding where an integer
index repeats (scatter-add).
"""

from __future__ import annotations

from ..core.registry import defop
from ..core.tensor import Tensor
from ._structure import S, randn


def raw_key(key):
    """The index with Tensors replaced by their backend arrays."""
    if isinstance(key, Tensor):
        return key.data
    if isinstance(key, tuple):
        return tuple(k.data if isinstance(k, Tensor) else k for k in key)
    return key


def _scatter_add(xp, g, x, key):
    z = xp.zeros(x.shape, dtype=g.dtype)
    if _is_basic(key):
        z[key] = g
        return z
    # Integer-array indices may repeat: accumulate (np.add.at equivalent, pure Array API).
    import array_api_compat

    if array_api_compat.is_numpy_namespace(xp):
        import numpy as np

        np.add.at(z, key, g)
        return z
    raise NotImplementedError("scatter-add for this namespace")


def _is_basic(key):
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in keys)


@defop("getitem", view=True)
def getitem(xp, x, /, *, key):
    return x[raw_key(key)]


getitem.defvjp(lambda xp, g, out, x, key: _scatter_add(xp, g, x, raw_key(key)))
getitem.deflinear()


@defop("setitem", broadcasting=True)
def setitem(xp, x, value, /, *, key):
    """``x`` with ``x[key] = value``, out of place (what ``Tensor.__setitem__`` records)."""
    out = xp.asarray(x, copy=True)
    out[raw_key(key)] = value
    return out


def _zero_at(xp, g, key):
    z = xp.asarray(g, copy=True)
    z[raw_key(key)] = 0
    return z


def _only_at(xp, t, out, key):
    z = xp.zeros_like(out)
    z[raw_key(key)] = t
    return z


setitem.defvjp(lambda xp, g, out, x, value, key: _zero_at(xp, g, key),
               lambda xp, g, out, x, value, key: g[raw_key(key)])
setitem.defjvp(lambda xp, t, out, x, value, key: _zero_at(xp, t, key),
               lambda xp, t, out, x, value, key: _only_at(xp, t, out, key))
setitem.defsamples(S((randn(4, 5), randn(2, 5)), {"key": slice(1, 3)}),
                   S((randn(4, 5), randn(5)), {"key": 0}))


getitem.defsamples(S((randn(4, 5),), {"key": (slice(1, 3), 2)}),
                   S((randn(4, 5),), {"key": (Ellipsis, slice(None, None, 2))}))
