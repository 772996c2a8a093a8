"""Indexing: getitem, setitem, scatter_add, take and take_along_axis.

getitem and setitem take every key the Array API and NumPy allow.

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
* take and take_along_axis gather; their VJPs scatter-add the cotangent back
  (:func:`scatter_along_axis`), so repeated indices accumulate.

The standard has no scatter, and some namespaces (array-api-strict) refuse
``x[integer arrays] = v``. Where no backend kernel does it, scatter_add and such
writes run on what the standard has: the flat positions of the selection are
sorted (stably, so equal positions keep their order), runs of equal positions are
summed by a segmented scan (log2 m passes of shifted adds) and each element
finds its run by a binary search: O((m + n) log m) time and O(m + n) memory for m
selected elements of an array of n, and the writes keep the last of repeated
positions, as NumPy does.
"""

from __future__ import annotations

from ..core.errors import DTypeError, OpError, ShapeError, describe
from ..core.registry import defop
from ..core.tensor import Tensor, unwrap
from ._structure import S, call, crandn, ints, randn
from .manipulation import _axis


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
    """``x[key] = v`` for any key (in place).

    A namespace that refuses integer-array writes (the standard does not require them) gets
    them from :func:`_put_generic`.
    """
    k, v = _no_newaxis(xp, x, raw_key(key), v)
    try:
        x[k] = v
    except Exception:
        if _is_basic(k) or _has_mask(xp, k):
            raise
        _put_generic(xp, x, k, v)
    return x


def _has_mask(xp, k):
    keys = k if isinstance(k, tuple) else (k,)
    return any(getattr(i, "dtype", None) is not None and xp.isdtype(i.dtype, "bool") for i in keys)


def _runs(xp, pos, n):
    """Sort the flat positions ``pos`` (1-D) of a selection into runs of equal positions.

    Returns the stable sort order, the sorted positions, and for each element ``i`` of the
    array (``range(n)``) the index of the last entry of its run (clamped to 0) and whether it
    has one. A stable sort keeps repeated positions in selection order.
    """
    order = xp.argsort(pos, stable=True)
    sp = xp.take(pos, order)
    every = xp.arange(n, dtype=sp.dtype, device=pos.device)
    last = xp.searchsorted(sp, every, side="right") - 1
    last = xp.where(last < 0, xp.zeros_like(last), last)
    hit = xp.take(sp, last) == every if pos.shape[0] else xp.zeros(n, dtype=xp.bool, device=pos.device)
    return order, sp, last, hit


def _flat_selection(xp, z, k, v):
    """The flat positions (1-D) that ``z[k]`` selects, and ``v`` broadcast to the selection, flat."""
    pos = xp.reshape(xp.arange(_size(z), device=z.device), z.shape)[k]
    if not hasattr(v, "shape"):
        v = xp.asarray(v, dtype=z.dtype, device=z.device)
    return xp.reshape(pos, (-1,)), xp.reshape(xp.broadcast_to(v, pos.shape), (-1,))


def _put_generic(xp, x, k, v):
    """``x[k] = v`` by sorting (module docstring): the last value written to a position wins."""
    pos, vals = _flat_selection(xp, x, k, v)
    if not pos.shape[0]:
        return
    order, _, last, hit = _runs(xp, pos, _size(x))
    new = xp.take(xp.astype(xp.take(vals, order), x.dtype), last)
    x[...] = xp.where(xp.reshape(hit, x.shape), xp.reshape(new, x.shape), x)


def _segment_sums(xp, z, k, g):
    """Σ of the entries of ``g`` (broadcast to ``z[k]``) landing on each element of ``z``, shaped like z.

    A segmented inclusive scan over the sorted runs (Hillis-Steele: in pass p, entry j adds
    entry j - 2^p when both lie in one run), so the last entry of each run holds its total,
    summed as a balanced tree. No one-hot matrix: memory stays O(m + n).
    """
    pos, vals = _flat_selection(xp, z, k, g)
    n = _size(z)
    if not pos.shape[0]:
        return xp.zeros(z.shape, dtype=vals.dtype, device=z.device)
    order, sp, last, hit = _runs(xp, pos, n)
    s = xp.take(vals, order)
    m, d = pos.shape[0], 1
    while d < m:
        same = sp[d:] == sp[:-d]
        s = xp.concat([s[:d], s[d:] + xp.where(same, s[:-d], xp.zeros_like(s[:-d]))])
        d *= 2
    out = xp.where(hit, xp.take(s, last), xp.zeros((n,), dtype=s.dtype, device=z.device))
    return xp.reshape(out, z.shape)


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
    keys sum the entries per position by sorting (module docstring), in
    O((m + n) log m) time and O(m + n) memory for m selected of n elements;
    backends register faster kernels (NumPy: ``np.add.at``; OpenCL).
    """
    k = raw_key(key)
    if _is_basic(k):
        out = xp.asarray(z, copy=True)
        k, g = _no_newaxis(xp, out, k, g)
        out[k] = out[k] + g
        return out
    return z + xp.astype(_segment_sums(xp, z, k, g), z.dtype)


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
    _put(xp, won, k, ids)
    return xp.where(won[k] == ids, sel, xp.zeros_like(sel))


setitem.diagnose = _diagnose("setitem", "the value")
setitem.defvjp(lambda xp, g, out, x, value, key: _zero_at(xp, g, key),
               lambda xp, g, out, x, value, key: _written(xp, g, x, key))
setitem.defjvp(lambda xp, t, out, x, value, key: _zero_at(xp, t, key),
               lambda xp, t, out, x, value, key: _only_at(xp, t, out, key))


# ---------------------------------------------------------------- take, take_along_axis


def _check_indices(op, xp, x, indices):
    dt = getattr(indices, "dtype", None)
    if dt is None or not hasattr(indices, "shape"):
        raise DTypeError(f"'{op}': indices must be an integer array, got {type(indices).__name__} "
                         f"{indices!r}; wrap them with xpgrad.asarray")
    if not xp.isdtype(dt, "integral"):
        raise DTypeError(f"'{op}': indices must have an integer dtype, got {describe(indices)}")
    if x.ndim == 0:
        raise ShapeError(f"'{op}' needs an input of at least one dimension, got a 0-d array")


def _along_key(xp, shape, indices, ax):
    """The all-integer-array key that picks ``indices`` along axis ``ax`` of an array of ``shape``.

    Every other axis d gets ``arange(shape[d])`` laid along d, so the key broadcasts to the
    selection (and a size-1 axis of the array broadcasts against a longer one of ``indices``).
    Integer arrays only, so it is a key the standard's integer-array indexing covers.
    """
    nd = len(shape)
    key = []
    for d in range(nd):
        if d == ax:
            key.append(indices)
        else:
            r = xp.arange(shape[d], device=indices.device)
            key.append(xp.reshape(r, (1,) * d + (shape[d],) + (1,) * (nd - d - 1)))
    return tuple(key)


def scatter_along_axis(xp, z, g, indices, axis):
    """``z`` with ``g`` added at ``take_along_axis``'s positions (``indices`` along ``axis``).

    The adjoint of ``take_along_axis(·, indices, axis=axis)`` applied to ``g``, added to ``z``:
    repeated indices accumulate. Runs ``scatter_add`` (backend kernels where they exist).
    """
    return call(scatter_add, xp, z, g, key=_along_key(xp, tuple(z.shape), indices, axis))


@defop("take")
def take(xp, x, indices, /, *, axis=None):
    """Elements of ``x`` at ``indices`` along ``axis`` (optional for 1-D ``x``); negative indices count
    from the end. ``indices`` of any rank replace the axis (as NumPy; the standard asks for 1-D).

    >>> import xpgrad as xg
    >>> xg.take(xg.asarray([[1.0, 2.0], [3.0, 4.0]]), xg.asarray([1, 1, 0]), axis=1).tolist()
    [[2.0, 2.0, 1.0], [4.0, 4.0, 3.0]]
    """
    ax = _take_axis(xp, x, indices, axis)
    if indices.ndim == 1:
        return xp.take(x, indices, axis=ax)
    out = xp.take(x, xp.reshape(indices, (-1,)), axis=ax)
    return xp.reshape(out, tuple(x.shape[:ax]) + tuple(indices.shape) + tuple(x.shape[ax + 1:]))


def _take_axis(xp, x, indices, axis):
    _check_indices("take", xp, x, indices)
    if axis is None:
        if x.ndim != 1:
            raise ShapeError(f"'take': axis is required for an input of more than one dimension "
                             f"(shape {tuple(x.shape)})")
        return 0
    return _axis("take", axis, x.ndim, x.shape)


def _take_vjp(xp, g, out, x, indices, axis=None):
    """Scatter-add the cotangent back to the positions taken (repeats accumulate)."""
    ax = _take_axis(xp, x, indices, axis)
    m = _size(indices)
    shape = tuple(x.shape)
    g = xp.reshape(g, shape[:ax] + (m,) + shape[ax + 1:])
    along = xp.reshape(indices, (1,) * ax + (m,) + (1,) * (len(shape) - ax - 1))
    return scatter_along_axis(xp, xp.zeros(shape, dtype=g.dtype, device=x.device), g, along, ax)


take.defvjp(_take_vjp, None)
take.defjvp(lambda xp, t, out, x, indices, axis=None: call(take, xp, t, indices, axis=axis), None)


def _along_axis(xp, x, indices, axis):
    _check_indices("take_along_axis", xp, x, indices)
    ax = _axis("take_along_axis", axis, x.ndim, x.shape)
    if indices.ndim != x.ndim:
        raise ShapeError(f"'take_along_axis': indices {describe(indices)} must have as many axes as the "
                         f"input {describe(x)}")
    for d, (a, b) in enumerate(zip(x.shape, indices.shape)):
        if d != ax and a != b and 1 not in (a, b):
            raise ShapeError(f"'take_along_axis': indices of shape {tuple(indices.shape)} do not broadcast "
                             f"with the input's shape {tuple(x.shape)} off axis {ax} (axis {d}: {b} vs {a})")
    return ax


@defop("take_along_axis")
def take_along_axis(xp, x, indices, /, *, axis=-1):
    """``x``'s elements at ``indices`` along ``axis``; the other axes pair up (broadcasting).

    ``out[i, j] = x[indices[i, j], j]`` for 2-D arrays and ``axis=0``: what ``argsort`` and
    ``argmax(keepdims=True)`` results index. Negative indices count from the end.

    >>> import xpgrad as xg
    >>> x = xg.asarray([[10.0, 30.0, 20.0], [60.0, 40.0, 50.0]])
    >>> xg.take_along_axis(x, xg.asarray([[2, 0], [1, 1]]), axis=1).tolist()
    [[20.0, 10.0], [40.0, 40.0]]
    """
    ax = _along_axis(xp, x, indices, axis)
    return x[_along_key(xp, tuple(x.shape), indices, ax)]


def _take_along_vjp(xp, g, out, x, indices, axis=-1):
    """A scatter-add of the cotangent to the positions read: memory O(size of the output)."""
    ax = _along_axis(xp, x, indices, axis)
    return scatter_along_axis(xp, xp.zeros(tuple(x.shape), dtype=g.dtype, device=x.device), g, indices, ax)


take_along_axis.defvjp(_take_along_vjp, None)
take_along_axis.defjvp(lambda xp, t, out, x, indices, axis=-1:
                       call(take_along_axis, xp, t, indices, axis=axis), None)


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
take.defsamples(S((randn(5), ints(0, 5, 7)), note="1-D, no axis; repeated indices"),
                S((randn(3, 4), ints(-4, 4, 6)), {"axis": 1}, note="negative indices"),
                S((randn(3, 4), ints(0, 3, 2, 2)), {"axis": 0}, note="2-D indices"),
                S((randn(2, 3, 4), ints(0, 3, 3)), {"axis": -2}),
                S((crandn(4, 3), ints(0, 4, 5)), {"axis": 0}))
take_along_axis.defsamples(
    S((randn(3, 4), ints(0, 4, 3, 6)), {"axis": 1}, note="repeated indices"),
    S((randn(3, 4), ints(-3, 3, 5, 4)), {"axis": 0}, note="negative indices"),
    S((randn(2, 3, 4), ints(0, 3, 2, 5, 4)), {"axis": 1}),
    S((randn(3, 1), ints(0, 3, 2, 4)), {"axis": 0}, note="the input broadcasts off the axis"),
    S((randn(6), ints(0, 6, 6))),
    S((crandn(3, 4), ints(0, 4, 3, 4)), {"axis": -1}))
