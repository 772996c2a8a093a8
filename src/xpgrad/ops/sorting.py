"""Searching, sorting and set functions: sort, argsort, searchsorted, nonzero, count_nonzero,
unique_all, unique_counts, unique_inverse, unique_values, isin.

Only ``sort`` is differentiable: its result is a permutation of its input, so
the JVP takes the tangent along the permutation (``ṫ[k] = t[p[k]]``) and the
VJP sends each cotangent back to the element it came from
(``x̄ = take_along_axis(ḡ, argsort(p))``, the inverse permutation). The
permutation ``p`` is recomputed from ``x`` with a *stable* ``argsort``, so

* **ties**: sorting is continuous but not differentiable where two elements
  are equal. The gradient is the one of the stable order — the k-th equal
  element (in input order) receives the cotangent of the k-th slot among the
  equal outputs — whatever ``stable=`` the forward asked for (both give the
  same values). ``descending=True`` keeps equal elements in input order too,
  as the standard requires of a stable descending sort.
* **NaN** sorts after every number (ascending) as the backends place it; its
  gradient follows it there.

Everything else returns indices, counts or booleans and is not
differentiable: the results never require grad. Complex inputs are refused by
``sort``, ``argsort`` and ``searchsorted`` (the standard orders real values
only; sort by ``real`` or ``abs`` explicitly).

Set functions follow the standard: NaN never equals NaN, so every NaN is a
unique value of its own (count 1) and ``isin`` never finds a NaN. Unique values
come out sorted. ``isin`` is in the 2025.12 standard for integers; it accepts
any real dtype here. Functions that return tuples or named tuples
(``UniqueAllResult``...) are thin wrappers listed in ``NAMESPACE`` around ops
that return plain tuples.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..core.errors import DTypeError, OpError, ShapeError, describe
from ..core.registry import defop
from ._structure import S, call, ints, is_complex, randn, uniform
from .indexing import take_along_axis

NAMESPACE: tuple[str, ...] = ("searchsorted", "unique_all", "unique_counts", "unique_inverse",
                              "UniqueAllResult", "UniqueCountsResult", "UniqueInverseResult")


def _axis(name: str, x: Any, axis: int) -> int:
    """``axis`` normalised for ``x``, or a ShapeError naming ``name`` and the shape."""
    nd = x.ndim
    if nd == 0:
        raise ShapeError(f"'{name}': the input {describe(x)} is 0-d; it needs at least one axis "
                         "(reshape it to (1,) first)")
    if not isinstance(axis, int) or not -nd <= axis < nd:
        raise ShapeError(f"'{name}': axis {axis!r} is out of range for an input of shape "
                         f"{tuple(x.shape)} (valid: {-nd} to {nd - 1})")
    return axis % nd


def _real_only(name: str, xp: Any, *xs: Any) -> None:
    for x in xs:
        if x is not None and is_complex(xp, x):
            raise DTypeError(f"'{name}': complex input {describe(x)}: the standard orders real values "
                             "only; order by real(x) or abs(x) explicitly")


def _scalar_as(name, xp, v, like):
    """A Python scalar operand as a 0-d array of ``like``'s dtype, refusing a float for an integer array
    (casting would truncate it: 2.5 would be looked up as 2)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise DTypeError(f"'{name}': a {type(v).__name__} operand ({v!r}) next to {describe(like)}; "
                         "use an int or float, or an array")
    if isinstance(v, float) and not xp.isdtype(like.dtype, "real floating"):
        raise DTypeError(f"'{name}': the float {v!r} next to the integer array {describe(like)}: "
                         "cast the array to a floating dtype first")
    return xp.asarray(v, dtype=like.dtype, device=like.device)


# ---------------------------------------------------------------- sort, argsort


@defop("sort")
def sort(xp, x, /, *, axis=-1, descending=False, stable=True):
    """``x`` sorted along ``axis``; differentiable (the gradient follows the stable order on ties).

    >>> import xpgrad as xg
    >>> x = xg.asarray([3.0, 1.0, 2.0], requires_grad=True)
    >>> y = xg.sort(x)
    >>> xg.sum(y * xg.asarray([1.0, 10.0, 100.0])).backward()
    >>> y.tolist(), x.grad.tolist()
    ([1.0, 2.0, 3.0], [100.0, 1.0, 10.0])
    """
    _axis("sort", x, axis)
    _real_only("sort", xp, x)
    return xp.sort(x, axis=axis, descending=descending, stable=stable)


@defop("argsort", differentiable=False)
def argsort(xp, x, /, *, axis=-1, descending=False, stable=True):
    """Indices that sort ``x`` along ``axis``; ``stable`` keeps equal elements in input order.

    >>> import xpgrad as xg
    >>> xg.argsort(xg.asarray([2.0, 1.0, 2.0]), descending=True).tolist()
    [0, 2, 1]
    """
    _axis("argsort", x, axis)
    _real_only("argsort", xp, x)
    return xp.argsort(x, axis=axis, descending=descending, stable=stable)


def _perm(xp, x, axis, descending):
    """The permutation the gradient follows: the stable one (ties in input order)."""
    return xp.argsort(x, axis=axis, descending=descending, stable=True)


def _sort_vjp(xp, g, out, x, axis=-1, descending=False, stable=True):
    # y[k] = x[p[k]]  ⇒  x̄[p[k]] = ȳ[k], i.e. x̄ = ȳ taken at the inverse permutation argsort(p)
    inv = xp.argsort(_perm(xp, x, axis, descending), axis=axis)
    return call(take_along_axis, xp, g, inv, axis=axis)


# take_along_axis is the indexing op (integer-array keys): it runs on every namespace without a host
# fallback, where the namespace's own function may not exist (OpenCL).
sort.defvjp(_sort_vjp)
sort.defjvp(lambda xp, t, out, x, axis=-1, descending=False, stable=True:
            call(take_along_axis, xp, t, _perm(xp, x, axis, descending), axis=axis))


# ---------------------------------------------------------------- searchsorted


@defop("searchsorted", differentiable=False)
def _searchsorted(xp, x1, x2, sorter, /, *, side="left"):
    if side not in ("left", "right"):
        raise OpError(f"'searchsorted': side must be 'left' or 'right', not {side!r}")
    if getattr(x1, "ndim", None) != 1:
        raise ShapeError(f"'searchsorted': x1 {describe(x1)} must be 1-D (the sorted sequence)")
    _real_only("searchsorted", xp, x1, x2)
    if sorter is not None:
        if not xp.isdtype(sorter.dtype, "integral"):
            raise DTypeError(f"'searchsorted': sorter {describe(sorter)} must have an integer dtype "
                             "(the indices that sort x1, e.g. from argsort)")
        if tuple(sorter.shape) != tuple(x1.shape):
            raise ShapeError(f"'searchsorted': sorter {describe(sorter)} must have x1's shape "
                             f"{tuple(x1.shape)}")
    if not hasattr(x2, "shape"):             # 2025.12: a Python scalar x2
        x2 = _scalar_as("searchsorted", xp, x2, x1)
    return xp.searchsorted(x1, x2, side=side, sorter=sorter)


def searchsorted(x1: Any, x2: Any, /, *, side: str = "left", sorter: Any = None) -> Any:
    """Insertion indices of ``x2`` into the sorted 1-D ``x1`` (or ``x1`` sorted by ``sorter``).

    ``side="left"`` gives the first suitable position (``x1[i-1] < v <= x1[i]``),
    ``"right"`` the last (``x1[i-1] <= v < x1[i]``). Not differentiable.

    >>> import xpgrad as xg
    >>> a = xg.asarray([1.0, 2.0, 2.0, 3.0])
    >>> xg.searchsorted(a, xg.asarray([2.0, 0.5])).tolist(), xg.searchsorted(a, 2.0, side="right").tolist()
    ([1, 0], 3)
    """
    return _searchsorted(x1, x2, sorter, side=side)


# ---------------------------------------------------------------- nonzero, count_nonzero


@defop("nonzero", differentiable=False)
def nonzero(xp, x, /):
    """The indices of the nonzero elements: a tuple with one int array per axis.

    >>> import xpgrad as xg
    >>> [a.tolist() for a in xg.nonzero(xg.asarray([[0.0, 1.0], [2.0, 0.0]]))]
    [[0, 1], [1, 0]]
    """
    if x.ndim == 0:
        raise ShapeError(f"'nonzero': the input {describe(x)} is 0-d; the standard refuses 0-d "
                         "arrays here (use x[None] for a 1-element array)")
    return tuple(xp.nonzero(x))


@defop("count_nonzero", differentiable=False)
def count_nonzero(xp, x, /, *, axis=None, keepdims=False):
    """How many elements are nonzero, over ``axis`` (an int, a tuple, or ``None``: all)."""
    return xp.count_nonzero(x, axis=axis, keepdims=keepdims)


# ---------------------------------------------------------------- unique_*


class UniqueAllResult(NamedTuple):
    """``unique_all``'s result: sorted unique values, first indices, inverse indices, counts."""
    values: Any
    indices: Any
    inverse_indices: Any
    counts: Any


class UniqueCountsResult(NamedTuple):
    """``unique_counts``'s result: sorted unique values and how often each occurs."""
    values: Any
    counts: Any


class UniqueInverseResult(NamedTuple):
    """``unique_inverse``'s result: sorted unique values, and indices rebuilding ``x`` from them."""
    values: Any
    inverse_indices: Any


def _check_set_input(name, xp, x):
    _real_only(name, xp, x)


@defop("unique_all", differentiable=False)
def _unique_all(xp, x, /):
    _check_set_input("unique_all", xp, x)
    r = xp.unique_all(x)
    return r.values, r.indices, xp.reshape(r.inverse_indices, x.shape), r.counts


@defop("unique_counts", differentiable=False)
def _unique_counts(xp, x, /):
    _check_set_input("unique_counts", xp, x)
    r = xp.unique_counts(x)
    return r.values, r.counts


@defop("unique_inverse", differentiable=False)
def _unique_inverse(xp, x, /):
    _check_set_input("unique_inverse", xp, x)
    r = xp.unique_inverse(x)
    return r.values, xp.reshape(r.inverse_indices, x.shape)


@defop("unique_values", differentiable=False)
def unique_values(xp, x, /):
    """The unique elements of ``x``, sorted, as a 1-D array; every NaN is a value of its own.

    >>> import xpgrad as xg
    >>> xg.unique_values(xg.asarray([[3.0, 1.0], [3.0, 2.0]])).tolist()
    [1.0, 2.0, 3.0]
    """
    _check_set_input("unique_values", xp, x)
    return xp.unique_values(x)


def unique_all(x: Any, /) -> UniqueAllResult:
    """Unique values of ``x`` with the index of each one's first occurrence, the inverse
    indices (shaped like ``x``: ``values[inverse_indices] == x``) and the counts.

    >>> import xpgrad as xg
    >>> r = xg.unique_all(xg.asarray([2.0, 1.0, 2.0]))
    >>> r.values.tolist(), r.indices.tolist(), r.inverse_indices.tolist(), r.counts.tolist()
    ([1.0, 2.0], [1, 0], [1, 0, 1], [1, 2])
    """
    return UniqueAllResult(*_unique_all(x))


def unique_counts(x: Any, /) -> UniqueCountsResult:
    """Unique values of ``x`` and how often each occurs (NaNs count once each).

    >>> import xpgrad as xg
    >>> r = xg.unique_counts(xg.asarray([2.0, 1.0, 2.0]))
    >>> r.values.tolist(), r.counts.tolist()
    ([1.0, 2.0], [1, 2])
    """
    return UniqueCountsResult(*_unique_counts(x))


def unique_inverse(x: Any, /) -> UniqueInverseResult:
    """Unique values of ``x`` and the indices (shaped like ``x``) that rebuild ``x`` from them.

    >>> import xpgrad as xg
    >>> r = xg.unique_inverse(xg.asarray([[2.0, 1.0], [1.0, 1.0]]))
    >>> r.values.tolist(), r.inverse_indices.tolist()
    ([1.0, 2.0], [[1, 0], [0, 0]])
    """
    return UniqueInverseResult(*_unique_inverse(x))


# ---------------------------------------------------------------- isin


@defop("isin", differentiable=False)
def isin(xp, x1, x2, /, *, invert=False):
    """Whether each element of ``x1`` occurs in ``x2`` (``invert=True``: does not); NaN never does.

    ``x1`` or ``x2`` may be a Python int (2025.12). The result has ``x1``'s shape.

    >>> import xpgrad as xg
    >>> xg.isin(xg.asarray([1, 2, 3]), xg.asarray([3, 1])).tolist()
    [True, False, True]
    """
    ref = x1 if hasattr(x1, "shape") else x2
    if not hasattr(ref, "shape"):
        raise DTypeError(f"'isin': at least one of x1 ({x1!r}) and x2 ({x2!r}) must be an array")
    if not hasattr(x1, "shape"):
        x1 = _scalar_as("isin", xp, x1, x2)
    if not hasattr(x2, "shape"):
        x2 = _scalar_as("isin", xp, x2, x1)
    _real_only("isin", xp, x1, x2)
    if hasattr(xp, "isin") and xp.isdtype(x1.dtype, "integral") and xp.isdtype(x2.dtype, "integral"):
        # the standard's isin is for integers (strict libraries refuse floats); ``invert`` is applied
        # here because not every library takes the keyword
        hit = xp.isin(x1, x2)
        return ~hit if invert else hit
    return _isin_by_sorting(xp, x1, x2, invert)   # floats, or a 2024.12 namespace without isin


def _isin_by_sorting(xp, x1, x2, invert):
    """``isin`` from standard functions: sort ``x2``, find each ``x1`` by binary search, compare.

    O((n + m) log m); NaN in either never matches (NaN == NaN is false).
    """
    dt = xp.result_type(x1, x2)
    s = xp.sort(xp.reshape(xp.astype(x2, dt), (-1,)))
    v = xp.reshape(xp.astype(x1, dt), (-1,))
    m = s.shape[0]
    if m == 0:
        hit = xp.zeros(v.shape, dtype=xp.bool, device=v.device)
    else:
        i = xp.searchsorted(s, v)
        inside = i < m                                   # past the end: greater than every element
        hit = (xp.take(s, xp.where(inside, i, xp.zeros_like(i))) == v) & inside
    hit = xp.reshape(hit, x1.shape)
    return ~hit if invert else hit


# ---------------------------------------------------------------- samples

_TIES = [[1.0, -0.5, 1.0, 2.0], [0.25, 0.25, 0.25, -1.0], [3.0, 1.0, 3.0, 1.0]]

sort.defsamples(S((randn(6),)), S((randn(3, 4),), {"axis": 0}),
                S((randn(2, 3, 4),), {"axis": 1, "descending": True}),
                S((randn(3, 5),), {"stable": False}),
                S((randn(2, 5),), {"axis": -1, "descending": True, "stable": False}),
                S((("values", _TIES),), {"axis": 1}, grad=False,
                  note="ties: not differentiable there; the stable-order convention is in test_sorting.py"),
                S((("values", [2.0, float("nan"), -1.0, float("nan")]),), {"descending": True}, grad=False,
                  note="NaN"))
argsort.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 0, "descending": True}),
                   S((("values", _TIES),), {"axis": 1}, note="ties keep input order"),
                   S((("values", _TIES),), {"axis": 1, "descending": True}, note="ties, descending"),
                   S((randn(2, 3, 4),), {"axis": 1, "stable": False}))
_searchsorted.defsamples(
    S((("values", [-1.5, -0.25, 0.5, 0.5, 2.0]), randn(3, 4), None)),
    S((("values", [-1.5, -0.25, 0.5, 0.5, 2.0]), ("values", [0.5, -3.0, 3.0, -0.25]), None),
      {"side": "right"}, note="exact hits and both ends"),
    S((("values", [-1.5, 0.5, 2.0]), 0.5, None), {"side": "left"}, note="Python scalar x2 (2025.12)"),
    S((("values", [0.75]), randn(4), ints(0, 1, 1)), note="sorter"))
nonzero.defsamples(S((("values", [[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]]),)),
                   S((("values", [0.0, 0.0, 3.0]),)), S((uniform(1.0, 2.0, 2, 2, 3),)))
count_nonzero.defsamples(S((("values", [[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]]),)),
                         S((("values", [[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]]),), {"axis": 1}),
                         S((("values", [[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]]),), {"axis": (0, 1),
                                                                              "keepdims": True}),
                         S((ints(-1, 2, 4, 5),), {"axis": 0}, note="integers, a third of them zero"))
_NAN = float("nan")
for _op in (_unique_all, _unique_counts, _unique_inverse, unique_values):
    _op.defsamples(S((("values", [[2.0, 1.0, 2.0], [-1.0, 1.0, 3.0]]),)),
                   S((ints(0, 4, 3, 5),), note="integers"),
                   S((("values", [1.0, _NAN, 0.5, _NAN, 1.0]),), note="every NaN is its own value"),
                   S((randn(0),), note="empty"))
isin.defsamples(S((ints(0, 6, 3, 4), ints(0, 6, 5))),
                S((ints(0, 6, 3, 4), ints(0, 6, 2)), {"invert": True}),
                S((("values", [1.0, _NAN, 2.5, -1.0]), ("values", [_NAN, 2.5, 7.0])), note="NaN never found"),
                S((ints(0, 6, 2, 3), 3), note="Python int x2 (2025.12)"),
                S((ints(0, 6, 4), ints(0, 6, 0)), note="empty x2"))
