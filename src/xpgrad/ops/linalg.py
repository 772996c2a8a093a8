"""Linear algebra: matmul, tensordot, einsum."""

from __future__ import annotations

from ..core.registry import defop
from ._structure import S, randn


@defop("matmul")
def matmul(xp, x, y, /):
    return x @ y


matmul.defvjp(lambda xp, g, out, x, y: g @ xp.matrix_transpose(y),
              lambda xp, g, out, x, y: xp.matrix_transpose(x) @ g)
matmul.defjvp(lambda xp, t, out, x, y: t @ y,
              lambda xp, t, out, x, y: x @ t)
matmul.defsamples(S((randn(3, 4), randn(4, 2))))
