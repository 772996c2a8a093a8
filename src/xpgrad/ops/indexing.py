"""Indexing: getitem, setitem and scatter_add, for every key the Array API and NumPy allow.

Keys may hold ints, slices (any step), ``None``, ``Ellipsis``, integer index
arrays (Tensors, backend arrays or nested lists; repeated and broadcast
together, mixed with slices) and boolean masks. Keys are static parameters:
index arrays are never differentiated.

* getitem's VJP scatters the cotangent into zeros with ``scatter_add``, so
  repeated indices accumulate: ``x[[0, 0, 1]].sum()`` has gradient ``[2, 1, 0, ...]``.
* scatter_add is linear in both inputs; its VJP gathers (``g[key]``).
* setitem with repeated positions writes one of the values, as the backend
  chooses (NumPy: the last). The rules ask the backend which one won, so the
  gradient reaches exactly the values that were written; on a backend whose
  choice is not deterministic (GPUs) the forward value is not either.
"""

from __future__ import annotations

from ..core.errors import OpError, ShapeError, describe
from ..core.registry import defop
from ..core.tensor import Tensor, unwrap
from ._structure import S, call, randn


raw_key = unwrap  # the index with Tensors replaced by their backend arrays


def _is_basic(key):
    """Ints, slices, None and Ellipsis only: the selection is a view and never repeats an element."""
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, slice)
               or (isinstance(k, int) and not isinstance(k, bool)) for k in keys)


def _no_newaxis(xp, x, k, v):
    """Keys that write may hold no ``None`` (Array API): drop them, and the size-1 axes they add to ``v``."""
    keys = k if isinstance(k, tuple) else (k,)
    if not _is_basic(k) or all(i is not None for i in keys):
        return k, v
    kept = tuple(i for i in keys if i is not None)
    if hasattr(v, "shape"):
        v = xp.reshape(xp.broadcast_to(v, x[k].shape), x[kept].shape)
    return kept, v


def _put(xp, x, key, v):
    """``x[key] = v`` for any key (in place)."""
    k, v = _no_newaxis(xp, x, raw_key(key), v)
    x[k] = v
    return x


def _size(x):
    n = 1
    for s in x.shape:
        n *= s
    return n


def _diagnose(name, what):
    """Explain a failed write: a key that does not index the array, or a value of the wrong shape."""
    def diagnose(args, params):
        x, v = args
        key = params["key"]
        try:
            sel = tuple((x.data if isinstance(x, Tensor) else x)[raw_key(key)].shape)
        except Exception as exc:
            return OpError(f"'{name}': key {key!r} cannot index {describe(x)}: {exc}")
        return ShapeError(f"'{name}': {what} {describe(v)} does not broadcast to the selection "
                          f"{describe(x)}[{key!r}] of shape {sel}")
    return diagnose


# ---------------------------------------------------------------- getitem


@defop("getitem", view=lambda params: _is_basic(params["key"]))
def getitem(xp, x, /, *, key):
    return x[raw_key(key)]


getitem.defvjp(lambda xp, g, out, x, key: call(scatter_add, xp, xp.zeros_like(x), g, key=key))
getitem.deflinear()


# ---------------------------------------------------------------- scatter_add


@defop("scatter_add", broadcasting=True)
def scatter_add(xp, z, g, /, *, key):
    """``z`` with ``g`` added at ``z[key]``, out of place; repeated indices accumulate.

    This generic forward is pure Array API. Basic keys add into a copy. Other
    keys find the flat position of every selected element and accumulate with a
    one-hot contraction, O(m·n) time and memory for m selected of n elements:
    backends register faster kernels (NumPy: ``np.add.at``).
    """
    k = raw_key(key)
    if _is_basic(k):
        out = xp.asarray(z, copy=True)
        k, g = _no_newaxis(xp, out, k, g)
        out[k] = out[k] + g
        return out
    n = _size(z)
    pos = xp.reshape(xp.arange(n, device=z.device), z.shape)[k]
    idx = xp.reshape(pos, (-1,))
    g = xp.reshape(xp.broadcast_to(g, pos.shape), (-1,))
    hot = xp.astype(idx[:, None] == xp.arange(n, device=z.device)[None, :], g.dtype)
    return z + xp.astype(xp.reshape(g @ hot, z.shape), z.dtype)


scatter_add.diagnose = _diagnose("scatter_add", "the addend")
scatter_add.defvjp(lambda xp, g, out, z, a, key: g,
                   lambda xp, g, out, z, a, key: g[raw_key(key)])
scatter_add.defjvp(lambda xp, t, out, z, a, key: t,
                   lambda xp, t, out, z, a, key: call(scatter_add, xp, xp.zeros_like(z), t, key=key))


# ---------------------------------------------------------------- setitem


@defop("setitem", broadcasting=True)
def setitem(xp, x, value, /, *, key):
    """``x`` with ``x[key] = value``, out of place (what ``Tensor.__setitem__`` records)."""
    return _put(xp, xp.asarray(x, copy=True), key, value)


def _zero_at(xp, g, key):
    return _put(xp, xp.asarray(g, copy=True), key, 0)


def _only_at(xp, t, out, key):
    return _put(xp, xp.zeros_like(out), key, t)


def _written(xp, g, x, key):
    """``g[key]`` where the value was written, 0 where a repeated position was overwritten."""
    k = raw_key(key)
    sel = g[k]
    if _is_basic(k):
        return sel
    # Write each element's own number the way the forward wrote the values, and read back the winners.
    ids = xp.reshape(xp.arange(_size(sel), device=g.device), sel.shape)
    won = xp.full(x.shape, -1, dtype=ids.dtype, device=g.device)
    won[k] = ids
    return xp.where(won[k] == ids, sel, xp.zeros_like(sel))


setitem.diagnose = _diagnose("setitem", "the value")
setitem.defvjp(lambda xp, g, out, x, value, key: _zero_at(xp, g, key),
               lambda xp, g, out, x, value, key: _written(xp, g, x, key))
setitem.defjvp(lambda xp, t, out, x, value, key: _zero_at(xp, t, key),
               lambda xp, t, out, x, value, key: _only_at(xp, t, out, key))


# ---------------------------------------------------------------- samples
# Index arrays as Tensors or backend arrays are built when the samples are asked
# for (the default backend exists by then); lists in keys stay Python lists.


def _getitem_samples():
    return [S((randn(4, 5),), {"key": Tensor([[0, 3], [3, 3]])}, note="Tensor index, repeated"),
            S((randn(4, 5),), {"key": (slice(None), Tensor([4, 0, 4]).data)}, note="backend array"),
            S((randn(4, 5),), {"key": Tensor([[True, False, True, False, False]] * 2
                                             + [[False] * 5, [True] * 5])}, note="boolean mask"),
            S((randn(4, 5),), {"key": (Tensor([True, False, True, True]), slice(1, None))},
              note="mask on axis 0, slice on axis 1"),
            S((randn(2, 3, 4),), {"key": (Ellipsis, Tensor([[True, False, True, True]] * 3))},
              note="mask on trailing axes")]


def _setitem_samples():
    mask = Tensor([[True, False, False, False, True], [False] * 5, [False, True] + [False] * 3,
                   [False] * 5])
    return [S((randn(4, 5), randn(3)), {"key": mask}, note="boolean mask"),
            S((randn(4, 5), randn()), {"key": mask}, note="boolean mask, scalar value"),
            S((randn(4, 5), randn(2, 2)), {"key": (Tensor([2, 2]), slice(0, 2))},
              note="Tensor index, repeated")]


def _scatter_add_samples():
    return [S((randn(4, 5), randn(3)), {"key": Tensor([[True, False, False, False, True],
                                                       [False] * 5, [False, True] + [False] * 3,
                                                       [False] * 5])}, note="boolean mask"),
            S((randn(4, 5), randn(2, 2)), {"key": (Tensor([3, 3]), Tensor([[0], [0]]))},
              note="Tensor indices broadcast together, repeated")]


getitem.defsamples(
    S((randn(4, 5),), {"key": (slice(1, 3), 2)}),
    S((randn(4, 5),), {"key": (Ellipsis, slice(None, None, 2))}),
    S((randn(4, 5),), {"key": (slice(None, None, -1), slice(4, 0, -2))}, note="negative steps"),
    S((randn(4, 5),), {"key": (None, 1, Ellipsis, None)}, note="new axes"),
    S((randn(4, 5),), {"key": (2, -1)}, note="0-d result"),
    S((randn(4, 5),), {"key": (slice(2, 2),)}, note="empty selection"),
    S((randn(4, 5),), {"key": [0, 0, 3, 1]}, note="list index, repeated"),
    S((randn(4, 5),), {"key": ([[0, 1], [2, 2]], slice(1, 4))}, note="2-d index and a slice"),
    S((randn(4, 5),), {"key": ([0, 2, 2], [1, 1, 4])}, note="paired indices"),
    S((randn(3, 4, 5),), {"key": ([0, 1, 1], slice(None), [2, 2, 0])}, note="indices split by a slice"),
    S((randn(3, 4, 5),), {"key": (None, slice(1, None), [3, 3], Ellipsis)}, note="index after new axis"),
    _getitem_samples)
setitem.defsamples(
    S((randn(4, 5), randn(2, 5)), {"key": slice(1, 3)}),
    S((randn(4, 5), randn(5)), {"key": 0}),
    S((randn(4, 5), randn(5)), {"key": (slice(None, None, -2), Ellipsis)}, note="broadcast value"),
    S((randn(4, 5), randn(1, 5)), {"key": (None, 1)}, note="new axis"),
    S((randn(4, 5), randn(3, 5)), {"key": [0, 2, 0]}, note="repeated rows: the last value wins"),
    S((randn(4, 5), randn(2)), {"key": ([1, 3], [0, 4])}, note="paired indices"),
    S((randn(4, 5), randn()), {"key": ([0, 0],)}, note="repeated, broadcast scalar"),
    _setitem_samples)
scatter_add.defsamples(
    S((randn(4, 5), randn(2, 5)), {"key": slice(1, 3)}),
    S((randn(4, 5), randn(1, 4)), {"key": (None, Ellipsis, 2)}, note="new axis, Ellipsis"),
    S((randn(5), randn(4)), {"key": [0, 0, 3, 0]}, note="repeated"),
    S((randn(4, 5), randn(2, 2, 5)), {"key": ([[0, 0], [3, 0]], slice(None))}, note="2-d index"),
    S((randn(4, 5), randn(5)), {"key": [1, 1]}, note="broadcast addend"),
    _scatter_add_samples)
