"""Shape manipulation: reshape, permute_dims, matrix_transpose, expand_dims, squeeze,
broadcast_to, concat, stack, flip. All are linear: their JVP is the op itself."""

from __future__ import annotations

from ..core.registry import defop
from ._structure import S, randn


@defop("reshape", view=True)
def reshape(xp, x, /, shape, *, copy=None):
    return xp.reshape(x, tuple(shape)) if copy is None else xp.reshape(x, tuple(shape), copy=copy)


reshape.defvjp(lambda xp, g, out, x, shape, copy=None: xp.reshape(g, x.shape))
reshape.deflinear()


@defop("broadcast_to", view=True)
def broadcast_to(xp, x, /, shape):
    return xp.broadcast_to(x, tuple(shape))


def _unbroadcast(xp, g, shape):
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, s in enumerate(shape)
                                       if s == 1 and g.shape[i + extra] != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    return xp.reshape(g, tuple(shape))


broadcast_to.defvjp(lambda xp, g, out, x, shape: _unbroadcast(xp, g, x.shape))
broadcast_to.deflinear()


@defop("matrix_transpose", view=True)
def matrix_transpose(xp, x, /):
    return xp.matrix_transpose(x)


matrix_transpose.defvjp(lambda xp, g, out, x: xp.matrix_transpose(g))
matrix_transpose.deflinear()

reshape.defsamples(S((randn(3, 4),), {"shape": (4, 3)}), S((randn(2, 3, 2),), {"shape": (-1,)}),
                   S((randn(),), {"shape": (1, 1)}))
broadcast_to.defsamples(S((randn(3, 1),), {"shape": (2, 3, 4)}), S((randn(),), {"shape": (2,)}))
matrix_transpose.defsamples(S((randn(3, 4),)), S((randn(2, 3, 4),)))
