"""Shape manipulation: reshape, permute_dims, matrix_transpose, expand_dims, squeeze,
broadcast_to, concat, stack, flip.

All are linear: their JVP is the op applied to the tangent. Each VJP undoes the
op: the inverse permutation, the original shape, slices of the cotangent per
input (concat), indexing along the new axis (stack), flipping back.
"""

from __future__ import annotations

from ..core.errors import ShapeError
from ..core.registry import ZERO, Op, defop
from ..core.tape import unbroadcast
from ._structure import S, randn


def _deflinear_variadic(op: Op) -> Op:
    """A variadic op linear in every input: its JVP is the op on the tangents (zeros where absent)."""
    op.defjvp(lambda xp, ts, out, *xs, **p:
              op.forward(xp, *(xp.zeros_like(x) if t is ZERO else t for t, x in zip(ts, xs)), **p))
    return op


def _axis(op, axis, ndim, shape):
    if not -ndim <= axis < ndim:
        raise ShapeError(f"'{op}': axis {axis} is out of range for an input of shape {tuple(shape)} "
                         f"(valid: {-ndim} to {ndim - 1})")
    return axis % ndim


# ---------------------------------------------------------------- reshaping


@defop("reshape", view=True)
def reshape(xp, x, /, shape, *, copy=None):
    return xp.reshape(x, tuple(shape)) if copy is None else xp.reshape(x, tuple(shape), copy=copy)


@defop("expand_dims", view=True)
def expand_dims(xp, x, /, *, axis=0):
    """Insert size-1 axes at ``axis`` (an int, or a tuple of ints: positions in the result)."""
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
