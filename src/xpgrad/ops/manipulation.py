"""Shape manipulation: reshape, permute_dims, matrix_transpose, expand_dims, squeeze,
broadcast_to, broadcast_arrays, concat, stack, unstack, flip, moveaxis, roll, repeat, tile,
meshgrid, tril and triu (the last three are creation functions in the standard; they live here
because, like the others, they only move, copy or mask elements).

All are linear: their JVP is the op applied to the tangent. Each VJP is the adjoint of the op
(which, being real-linear and made of copies and masks, is also its conjugate transpose, so
the rules hold unchanged for complex inputs): the inverse permutation, the original shape,
slices of the cotangent per input (concat), indexing along the new axis (stack), flipping and
rolling back, summing the copies that broadcasting, ``repeat``, ``tile`` and ``meshgrid``
made, the same triangular mask (tril, triu).
"""

from __future__ import annotations

import operator
from numbers import Integral

from ..core.errors import DTypeError, OpError, ShapeError
from ..core.registry import ZERO, Op, defop
from ..core.tape import unbroadcast
from ._structure import S, call, crandn, ints, randn

NAMESPACE = ("broadcast_shapes",)  # exported at top level, not an op (pure shape arithmetic)


def _deflinear_variadic(op: Op) -> Op:
    """A variadic op linear in every input: its JVP is the op on the tangents (zeros where absent)."""
    op.defjvp(lambda xp, ts, out, *xs, **p:
              op.forward(xp, *(xp.zeros_like(x) if t is ZERO else t for t, x in zip(ts, xs)), **p))
    return op


def _axis(op, axis, ndim, shape, what="axis"):
    axis = _int(op, what, axis)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"'{op}': {what} {axis} is out of range for an input of shape {tuple(shape)} "
                         f"(valid: {-ndim} to {ndim - 1})")
    return axis % ndim


def _int(op, what, v):
    """``v`` as a Python int (an ``operator.index``-able value that is not a bool), else DTypeError."""
    if isinstance(v, bool):
        raise DTypeError(f"'{op}': {what} must be an int, got the bool {v!r}")
    try:
        return operator.index(v)
    except TypeError:
        raise DTypeError(f"'{op}': {what} must be an int or a tuple of ints, got "
                         f"{type(v).__name__} {v!r}") from None


def _ints(op, what, v):
    """An int or a sequence of ints as a tuple of Python ints."""
    if isinstance(v, (tuple, list)):
        return tuple(_int(op, what, a) for a in v)
    return (_int(op, what, v),)


def _axes(op, axis, ndim, shape, what="axis"):
    """``axis`` (an int or a tuple of ints) normalised to non-negative axes, each named once."""
    axes = tuple(_axis(op, a, ndim, shape, what) for a in _ints(op, what, axis))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"'{op}': repeated axis in {what} {axis!r} (input shape {tuple(shape)})")
    return axes


def _as_outputs(v):
    """A multi-output op's cotangents or outputs as a tuple. The engine hands an op that returned
    a 1-tuple its single cotangent (and output) bare, so rules see both forms."""
    return v if type(v) is tuple else (v,)


def _like_outputs(out, parts):
    """Tangents in the form the engine gave the outputs: a tuple, or the single one bare."""
    return tuple(parts) if type(out) is tuple else parts[0]


# ---------------------------------------------------------------- reshaping


@defop("reshape", view=True)
def reshape(xp, x, /, shape, *, copy=None):
    return xp.reshape(x, tuple(shape)) if copy is None else xp.reshape(x, tuple(shape), copy=copy)


@defop("expand_dims", view=True)
def expand_dims(xp, x, /, axis=0):
    """Insert size-1 axes at ``axis`` (an int, or a tuple of ints: positions in the result).

    ``axis`` may be passed by position (2025.12) or keyword, and defaults to 0 (2024.12).
    """
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    n = x.ndim + len(axes)
    pos = {_axis("expand_dims", a, n, x.shape) for a in axes}
    if len(pos) != len(axes):
        raise ShapeError(f"'expand_dims': repeated axis in {axis!r} (input shape {tuple(x.shape)})")
    rest = iter(x.shape)
    return xp.reshape(x, tuple(1 if i in pos else next(rest) for i in range(n)))


@defop("squeeze", view=True)
def squeeze(xp, x, /, axis):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if x.shape[_axis("squeeze", a, x.ndim, x.shape)] != 1:
            raise ShapeError(f"'squeeze': axis {a} of an input of shape {tuple(x.shape)} has size "
                             f"{x.shape[a]}, not 1; only size-1 axes can be removed")
    return xp.squeeze(x, axis=axis)


reshape.defvjp(lambda xp, g, out, x, shape, copy=None: xp.reshape(g, x.shape)).deflinear()
expand_dims.defvjp(lambda xp, g, out, x, axis=0: xp.reshape(g, x.shape)).deflinear()
squeeze.defvjp(lambda xp, g, out, x, axis: xp.reshape(g, x.shape)).deflinear()


# ---------------------------------------------------------------- axis order


@defop("permute_dims", view=True)
def permute_dims(xp, x, /, axes):
    if sorted(a % x.ndim if x.ndim else a for a in axes) != list(range(x.ndim)):
        raise ShapeError(f"'permute_dims': axes {tuple(axes)} is not a permutation of the "
                         f"{x.ndim} axes of an input of shape {tuple(x.shape)}")
    return xp.permute_dims(x, tuple(axes))


def _inverse(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a % len(axes)] = i
    return tuple(inv)


@defop("matrix_transpose", view=True)
def matrix_transpose(xp, x, /):
    return xp.matrix_transpose(x)


@defop("flip", view=True)
def flip(xp, x, /, *, axis=None):
    return xp.flip(x, axis=axis)


permute_dims.defvjp(lambda xp, g, out, x, axes: xp.permute_dims(g, _inverse(axes))).deflinear()
matrix_transpose.defvjp(lambda xp, g, out, x: xp.matrix_transpose(g)).deflinear()
flip.defvjp(lambda xp, g, out, x, axis=None: xp.flip(g, axis=axis)).deflinear()


# ---------------------------------------------------------------- broadcasting


@defop("broadcast_to", view=True)
def broadcast_to(xp, x, /, shape):
    return xp.broadcast_to(x, tuple(shape))


broadcast_to.defvjp(lambda xp, g, out, x, shape: unbroadcast(xp, g, x.shape)).deflinear()


# ---------------------------------------------------------------- joining


@defop("concat")
def concat(xp, *arrays, axis=0):
    """Join ``arrays`` along ``axis``; ``axis=None`` flattens each first (Array API)."""
    if not arrays:
        raise ShapeError("'concat' needs at least one array")
    if axis is None:
        return xp.concat([xp.reshape(a, (-1,)) for a in arrays], axis=0)
    return xp.concat(list(arrays), axis=axis)


@defop("stack")
def stack(xp, *arrays, axis=0):
    """Join same-shaped ``arrays`` along a new axis ``axis``."""
    if not arrays:
        raise ShapeError("'stack' needs at least one array")
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) > 1:
        got = ", ".join(str(tuple(a.shape)) for a in arrays)
        raise ShapeError(f"'stack' needs arrays of one shape, got {got}")
    return xp.stack(list(arrays), axis=axis)


def _size(a):
    n = 1
    for s in a.shape:
        n *= s
    return n


def _concat_vjp(xp, g, out, *arrays, axis=0):
    """The cotangent cut back into one slice per input."""
    if axis is None:
        cuts, lens = _offsets([_size(a) for a in arrays])
        return tuple(xp.reshape(g[lo:lo + n], a.shape) for a, lo, n in zip(arrays, cuts, lens))
    ax = axis % out.ndim
    cuts, lens = _offsets([a.shape[ax] for a in arrays])
    pre = (slice(None),) * ax
    return tuple(g[pre + (slice(lo, lo + n), ...)] for lo, n in zip(cuts, lens))


def _offsets(lens):
    cuts, lo = [], 0
    for n in lens:
        cuts.append(lo)
        lo += n
    return cuts, lens


def _stack_vjp(xp, g, out, *arrays, axis=0):
    pre = (slice(None),) * (axis % out.ndim)
    return tuple(g[pre + (i, ...)] for i in range(len(arrays)))


_deflinear_variadic(concat.defvjp(_concat_vjp))
_deflinear_variadic(stack.defvjp(_stack_vjp))


# ---------------------------------------------------------------- broadcasting several arrays


def _broadcast_shape(op, shapes):
    """The common shape of ``shapes`` under the Array API broadcasting rules, else a ShapeError.

    A size of ``None`` (unknown, allowed by the standard for lazy arrays) stays unknown unless
    another shape has a size other than 1 on that axis, which it must then be.
    """
    shapes = [tuple(s) for s in shapes]
    n = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(n, 0, -1):
        dims = [s[len(s) - k] for s in shapes if len(s) >= k]
        sizes = {d for d in dims if d is not None and d != 1}
        if len(sizes) > 1:
            raise ShapeError(f"'{op}': shapes {', '.join(map(str, shapes))} cannot be broadcast "
                             f"together: axis -{k} has sizes {sorted(sizes)}; sizes must match or be 1")
        out.append(sizes.pop() if sizes else (None if None in dims else 1))
    return tuple(out)


def broadcast_shapes(*shapes):
    """The shape arrays of the given ``shapes`` broadcast to (Array API rules; no arrays are made).

    >>> broadcast_shapes((3, 1), (4,), ())
    (3, 4)
    """
    return _broadcast_shape("broadcast_shapes", shapes)


@defop("broadcast_arrays")
def broadcast_arrays(xp, *arrays):
    """``arrays`` broadcast against each other: a tuple of arrays of one shape (read-only views)."""
    shape = _broadcast_shape("broadcast_arrays", [a.shape for a in arrays])
    return tuple(xp.broadcast_to(a, shape) for a in arrays)


# Each output is one input broadcast: its cotangent is summed back over the broadcast axes.
broadcast_arrays.defvjp(lambda xp, g, out, *xs: tuple(
    None if gi is None else unbroadcast(xp, gi, tuple(x.shape)) for gi, x in zip(_as_outputs(g), xs)))
broadcast_arrays.defjvp(lambda xp, ts, out, *xs: _like_outputs(out, [
    None if t is ZERO else xp.broadcast_to(t, tuple(o.shape)) for t, o in zip(ts, _as_outputs(out))]))


# ---------------------------------------------------------------- moving, rolling, repeating


def _moveaxis_perm(x, source, destination):
    src = _axes("moveaxis", source, x.ndim, x.shape, "source")
    dst = _axes("moveaxis", destination, x.ndim, x.shape, "destination")
    if len(src) != len(dst):
        raise ShapeError(f"'moveaxis': source {source!r} and destination {destination!r} name different "
                         f"numbers of axes (input shape {tuple(x.shape)})")
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return tuple(order)


@defop("moveaxis", view=True)
def moveaxis(xp, x, /, source, destination):
    """``x`` with axes ``source`` moved to positions ``destination`` (ints or tuples of ints); a view.

    >>> import xpgrad as xg
    >>> xg.moveaxis(xg.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    return xp.permute_dims(x, _moveaxis_perm(x, source, destination))


moveaxis.defvjp(lambda xp, g, out, x, source, destination:
                xp.permute_dims(g, _inverse(_moveaxis_perm(x, source, destination)))).deflinear()


def _roll_args(x, shift, axis):
    """``(shifts, axes)`` as tuples of ints of one length; ``axes`` None for the flattened roll."""
    if axis is None:
        if isinstance(shift, (tuple, list)):
            raise ShapeError(f"'roll': a tuple shift {tuple(shift)!r} needs a tuple axis of the same "
                             f"length (axis=None rolls the flattened input of shape {tuple(x.shape)})")
        return (_int("roll", "shift", shift),), None
    axes = tuple(_axis("roll", a, x.ndim, x.shape) for a in _ints("roll", "axis", axis))
    shifts = _ints("roll", "shift", shift)
    if isinstance(shift, (tuple, list)) and not isinstance(axis, (tuple, list)):
        raise ShapeError(f"'roll': a tuple shift {tuple(shift)!r} needs a tuple axis of the same length, "
                         f"got axis={axis!r}")
    if len(shifts) == 1 and len(axes) != 1:
        shifts = shifts * len(axes)    # one shift for every axis named
    if len(shifts) != len(axes):
        raise ShapeError(f"'roll': shift {shift!r} and axis {axis!r} have different lengths")
    return shifts, axes


@defop("roll")
def roll(xp, x, /, shift, *, axis=None):
    """``x`` shifted by ``shift`` places along ``axis`` (the flattened array when None), wrapping round.

    >>> import xpgrad as xg
    >>> xg.roll(xg.asarray([1.0, 2.0, 3.0]), 1).tolist()
    [3.0, 1.0, 2.0]
    """
    shifts, axes = _roll_args(x, shift, axis)
    if axes is None:
        return xp.reshape(xp.roll(xp.reshape(x, (-1,)), shifts[0], axis=0), x.shape)
    return xp.roll(x, shifts, axis=axes)


def _roll_vjp(xp, g, out, x, shift, axis=None):
    """Rolling permutes the elements: its adjoint is the inverse permutation, the roll back."""
    shifts, axes = _roll_args(x, shift, axis)
    back = tuple(-s for s in shifts)
    return call(roll, xp, g, back[0] if axes is None else back, axis=axes)


roll.defvjp(_roll_vjp).deflinear()


def _repeat_axis(xp, x, repeats, axis):
    """Check ``repeat``'s arguments; the axis repeated (of the flattened input when ``axis`` is None)."""
    if axis is None:
        n, ax = _size(x), 0
    else:
        if x.ndim == 0:
            raise ShapeError(f"'repeat': a 0-d input has no axis {axis}; use axis=None")
        ax = _axis("repeat", axis, x.ndim, x.shape)
        n = x.shape[ax]
    if isinstance(repeats, Integral) and not isinstance(repeats, bool):
        if repeats < 0:
            raise ShapeError(f"'repeat': repeats must be non-negative, got {repeats}")
        return ax
    dt = getattr(repeats, "dtype", None)
    if dt is None or isinstance(repeats, bool):
        raise DTypeError(f"'repeat': repeats must be an int or an integer array, got "
                         f"{type(repeats).__name__} {repeats!r}")
    if not xp.isdtype(dt, "integral"):
        raise DTypeError(f"'repeat': repeats must have an integer dtype, got {dt}")
    if repeats.ndim > 1 or (repeats.ndim == 1 and repeats.shape[0] not in (1, n)):
        raise ShapeError(f"'repeat': repeats of shape {tuple(repeats.shape)} does not broadcast to the "
                         f"{n} elements along the axis (input shape {tuple(x.shape)}, axis={axis})")
    return ax


@defop("repeat")
def repeat(xp, x, repeats, /, *, axis=None):
    """Each element of ``x`` repeated ``repeats`` times along ``axis`` (flattened first when None).

    ``repeats`` is an int, or an integer array with one count per element along the axis:
    then the result's length depends on the counts (data-dependent), and ``repeats`` is
    never differentiated.

    >>> import xpgrad as xg
    >>> xg.repeat(xg.asarray([1.0, 2.0]), 2).tolist()
    [1.0, 1.0, 2.0, 2.0]
    """
    ax = _repeat_axis(xp, x, repeats, axis)
    if axis is None:
        x = xp.reshape(x, (-1,))
    return xp.repeat(x, repeats, axis=ax)


def _repeat_vjp(xp, g, out, x, repeats, axis=None):
    """Each element's cotangent is the sum of its copies' cotangents."""
    ax = _repeat_axis(xp, x, repeats, axis)
    shape = (_size(x),) if axis is None else tuple(x.shape)
    if isinstance(repeats, Integral):   # copies are contiguous runs of equal length: a reshape and a sum
        runs = xp.reshape(g, shape[:ax] + (shape[ax], int(repeats)) + shape[ax + 1:])
        return xp.reshape(xp.sum(runs, axis=ax + 1), tuple(x.shape))
    # Counts per element: copy j came from element src[j], and the cotangents scatter-add back.
    from .indexing import scatter_along_axis

    src = xp.repeat(xp.arange(shape[ax], device=x.device), repeats)
    src = xp.reshape(src, (1,) * ax + (src.shape[0],) + (1,) * (len(shape) - ax - 1))
    z = xp.zeros(shape, dtype=g.dtype, device=x.device)
    return xp.reshape(scatter_along_axis(xp, z, g, src, ax), tuple(x.shape))


repeat.defvjp(_repeat_vjp, None)
repeat.defjvp(lambda xp, t, out, x, repeats, axis=None: call(repeat, xp, t, repeats, axis=axis), None)


def _tile_shapes(x, repetitions):
    reps = _ints("tile", "repetitions", repetitions)
    if any(r < 0 for r in reps):
        raise ShapeError(f"'tile': repetitions must be non-negative, got {tuple(repetitions)}")
    nd = max(len(reps), x.ndim)
    return (1,) * (nd - len(reps)) + reps, (1,) * (nd - x.ndim) + tuple(x.shape)


@defop("tile")
def tile(xp, x, /, repetitions):
    """``x`` repeated ``repetitions[i]`` times along axis ``i`` (shapes aligned on the right).

    >>> import xpgrad as xg
    >>> xg.tile(xg.asarray([[1.0, 2.0]]), (2, 2)).tolist()
    [[1.0, 2.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0]]
    """
    reps, _ = _tile_shapes(x, repetitions)
    return xp.tile(x, reps)


def _tile_vjp(xp, g, out, x, repetitions):
    """The result, seen with shape (r0, n0, r1, n1, ...), holds copies of x: sum over the r axes."""
    reps, shape = _tile_shapes(x, repetitions)
    inter = tuple(d for r, n in zip(reps, shape) for d in (r, n))
    total = xp.sum(xp.reshape(g, inter), axis=tuple(range(0, len(inter), 2)))
    return xp.reshape(total, tuple(x.shape))


tile.defvjp(_tile_vjp).deflinear()


# ---------------------------------------------------------------- splitting


@defop("unstack")
def unstack(xp, x, /, *, axis=0):
    """The slices of ``x`` along ``axis``, as a tuple of arrays (the inverse of ``stack``).

    >>> import xpgrad as xg
    >>> [a.tolist() for a in xg.unstack(xg.asarray([[1.0, 2.0], [3.0, 4.0]]), axis=1)]
    [[1.0, 3.0], [2.0, 4.0]]
    """
    if x.ndim == 0:
        raise ShapeError("'unstack' needs an input of at least one dimension, got a 0-d array")
    ax = _axis("unstack", axis, x.ndim, x.shape)
    pre = (slice(None),) * ax
    # Copies, not views: a multi-output op's results do not share the input's version counter, so an
    # in-place write into a view would change x behind the back of the graphs that saved it.
    return tuple(xp.asarray(x[pre + (i, ...)], copy=True) for i in range(x.shape[ax]))


def _unstack_vjp(xp, g, out, x, axis=0):
    """The cotangents stacked back, zeros for slices that got none."""
    gs = _as_outputs(g)
    ref = next(gi for gi in gs if gi is not None)
    return xp.stack([xp.zeros_like(ref) if gi is None else gi for gi in gs], axis=axis)


unstack.defvjp(_unstack_vjp)
unstack.defjvp(lambda xp, t, out, x, axis=0: _like_outputs(out, unstack.forward(xp, t, axis=axis)))


# ---------------------------------------------------------------- grids and triangles
# meshgrid, tril and triu are creation functions in the standard; like the functions above
# they copy or mask their input, so their rules are the same kind.


def _grid(arrays, indexing):
    """The grid's shape and, per input, the axis it runs along."""
    if indexing not in ("xy", "ij"):
        raise OpError(f"'meshgrid': indexing must be 'xy' or 'ij', got {indexing!r}")
    for i, a in enumerate(arrays):
        if a.ndim != 1:
            raise ShapeError(f"'meshgrid': every input must be 1-D, input {i} has shape {tuple(a.shape)}")
    pos = list(range(len(arrays)))
    if indexing == "xy" and len(arrays) > 1:   # Cartesian: the first input runs along columns
        pos[0], pos[1] = 1, 0
    shape = [0] * len(arrays)
    for a, p in zip(arrays, pos):
        shape[p] = a.shape[0]
    return tuple(shape), pos


@defop("meshgrid")
def meshgrid(xp, *arrays, indexing="xy"):
    """Coordinate grids from 1-D ``arrays``: a tuple of arrays of one shape.

    ``indexing="xy"`` (Cartesian) gives shape ``(len(y), len(x), ...)``; ``"ij"`` (matrix)
    gives ``(len(x), len(y), ...)``.

    >>> import xpgrad as xg
    >>> gx, gy = xg.meshgrid(xg.asarray([1.0, 2.0, 3.0]), xg.asarray([4.0, 5.0]))
    >>> gx.shape, gy.tolist()
    ((2, 3), [[4.0, 4.0, 4.0], [5.0, 5.0, 5.0]])
    """
    _grid(arrays, indexing)
    return tuple(xp.meshgrid(*arrays, indexing=indexing))


def _along(p, n, nd):
    """The shape of a 1-D array of length ``n`` laid along axis ``p`` of ``nd``."""
    return (1,) * p + (n,) + (1,) * (nd - p - 1)


def _meshgrid_vjp(xp, g, out, *arrays, indexing="xy"):
    """Output i is input i broadcast along the other axes: sum its cotangent over them."""
    shape, pos = _grid(arrays, indexing)
    cts = []
    for gi, p, a in zip(_as_outputs(g), pos, arrays):
        other = tuple(d for d in range(len(shape)) if d != p)
        cts.append(None if gi is None else xp.reshape(xp.sum(gi, axis=other) if other else gi, a.shape))
    return tuple(cts)


meshgrid.defvjp(_meshgrid_vjp)
meshgrid.defjvp(lambda xp, ts, out, *arrays, indexing="xy": _like_outputs(out, [
    None if t is ZERO else xp.broadcast_to(xp.reshape(t, _along(p, a.shape[0], len(arrays))),
                                           tuple(o.shape))
    for t, a, p, o in zip(ts, arrays, _grid(arrays, indexing)[1], _as_outputs(out))]))


def _matrices(op, x):
    if x.ndim < 2:
        raise ShapeError(f"'{op}' needs a stack of matrices (at least 2-D), got shape {tuple(x.shape)}")


@defop("tril")
def tril(xp, x, /, *, k=0):
    """``x`` with the elements above diagonal ``k`` of its last two axes zeroed."""
    _matrices("tril", x)
    return xp.tril(x, k=_int("tril", "k", k))


@defop("triu")
def triu(xp, x, /, *, k=0):
    """``x`` with the elements below diagonal ``k`` of its last two axes zeroed."""
    _matrices("triu", x)
    return xp.triu(x, k=_int("triu", "k", k))


# A mask is self-adjoint: the cotangent is masked the same way.
tril.defvjp(lambda xp, g, out, x, k=0: call(tril, xp, g, k=k)).deflinear()
triu.defvjp(lambda xp, g, out, x, k=0: call(triu, xp, g, k=k)).deflinear()


# ---------------------------------------------------------------- samples

reshape.defsamples(S((randn(3, 4),), {"shape": (4, 3)}), S((randn(2, 3, 2),), {"shape": (-1,)}),
                   S((randn(),), {"shape": (1, 1)}))
expand_dims.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": -1}),
                       S((randn(3, 4),), {"axis": 1}), S((randn(),), {"axis": 0}),
                       S((randn(3, 4),), {"axis": (0, 3)}))
squeeze.defsamples(S((randn(3, 1, 4),), {"axis": 1}), S((randn(1, 3, 1),), {"axis": (0, -1)}),
                   S((randn(1),), {"axis": 0}))
permute_dims.defsamples(S((randn(2, 3, 4),), {"axes": (2, 0, 1)}), S((randn(3, 4),), {"axes": (1, 0)}),
                        S((randn(2, 3, 4),), {"axes": (-1, 1, 0)}), S((randn(),), {"axes": ()}))
matrix_transpose.defsamples(S((randn(3, 4),)), S((randn(2, 3, 4),)))
flip.defsamples(S((randn(5),)), S((randn(3, 4),), {"axis": 0}), S((randn(2, 3, 4),), {"axis": (0, -1)}),
                S((randn(3, 4),)))
broadcast_to.defsamples(S((randn(3, 1),), {"shape": (2, 3, 4)}), S((randn(),), {"shape": (2,)}))
concat.defsamples(S((randn(2, 3), randn(4, 3))), S((randn(2, 3), randn(2, 1), randn(2, 2)), {"axis": -1}),
                  S((randn(2, 3), randn(4)), {"axis": None}), S((randn(3),)))
stack.defsamples(S((randn(2, 3), randn(2, 3))), S((randn(2, 3), randn(2, 3), randn(2, 3)), {"axis": -1}),
                 S((randn(), randn()),), S((randn(4),), {"axis": 1}))
broadcast_arrays.defsamples(S((randn(3, 1), randn(4))), S((randn(), randn(2, 1), randn(1, 3))),
                            S((randn(2, 3), randn(2, 3))), S((randn(2, 3),), note="one input: a 1-tuple"),
                            S((crandn(2, 1), randn(3)), note="complex and real"))
moveaxis.defsamples(S((randn(2, 3, 4),), {"source": 0, "destination": -1}),
                    S((randn(2, 3, 4),), {"source": (0, 1), "destination": (2, 0)}),
                    S((randn(2, 3, 4),), {"source": -1, "destination": 1}),
                    S((randn(3),), {"source": 0, "destination": 0}))
repeat.defsamples(S((randn(3, 4), 2), {"axis": 1}), S((randn(2, 3), 3), note="axis=None flattens"),
                  S((randn(3, 4), ints(0, 3, 4)), {"axis": 1}, note="counts per element (data-dependent)"),
                  S((randn(3, 2), ints(1, 3, 1)), {"axis": 0}, note="one count broadcast"),
                  S((randn(), 3), note="0-d input"), S((randn(2, 3), 0), {"axis": -2}, note="empty result"),
                  S((crandn(2, 3), 2), {"axis": 0}))
roll.defsamples(S((randn(5),), {"shift": 2}), S((randn(3, 4),), {"shift": -1, "axis": 0}),
                S((randn(3, 4),), {"shift": (1, 5), "axis": (0, -1)}), S((randn(2, 3),), {"shift": 7}),
                S((randn(3, 4),), {"shift": 2, "axis": (0, 1)}, note="one shift for every axis"),
                S((crandn(3, 4),), {"shift": 1, "axis": 1}))
tile.defsamples(S((randn(2, 3),), {"repetitions": (2, 1)}),
                S((randn(3),), {"repetitions": (2, 2)}, note="more repetitions than axes"),
                S((randn(2, 3),), {"repetitions": (3,)}, note="fewer repetitions than axes"),
                S((randn(),), {"repetitions": (3,)}), S((randn(2, 2),), {"repetitions": (0, 2)}))
unstack.defsamples(S((randn(3, 4),)), S((randn(2, 3, 4),), {"axis": -1}),
                   S((randn(1, 3),), note="one slice: a 1-tuple"), S((crandn(2, 3),), {"axis": 1}))
meshgrid.defsamples(S((randn(3), randn(4))), S((randn(3), randn(4), randn(2)), {"indexing": "ij"}),
                    S((randn(3), randn(2), randn(2)), {"indexing": "xy"}), S((randn(3),)))
tril.defsamples(S((randn(4, 4),)), S((randn(3, 5),), {"k": 1}), S((randn(2, 4, 3),), {"k": -1}),
                S((crandn(3, 3),)))
triu.defsamples(S((randn(4, 4),)), S((randn(5, 3),), {"k": -2}), S((randn(2, 3, 4),), {"k": 2}))
