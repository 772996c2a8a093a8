"""Neural-network ops: softmax, log_softmax.

Both shift by the maximum along ``axis`` first, so logits of ±1e4 neither
overflow nor lose precision; their rules are in closed form.
"""

from __future__ import annotations

from ..core.registry import defop
from ._structure import S, randn, uniform


def _shifted(xp, x, axis):
    m = xp.max(x, axis=axis, keepdims=True)
    return x - xp.where(xp.isfinite(m), m, xp.zeros_like(m))


@defop("softmax")
def softmax(xp, x, /, *, axis=-1):
    """``exp(x) / Σ exp(x)`` along ``axis``."""
    e = xp.exp(_shifted(xp, x, axis))
    return e / xp.sum(e, axis=axis, keepdims=True)


@defop("log_softmax")
def log_softmax(xp, x, /, *, axis=-1):
    """``x − logsumexp(x)`` along ``axis``."""
    z = _shifted(xp, x, axis)
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


# softmax: ḡ ↦ y·(g − Σ g·y);  log_softmax: ḡ ↦ g − softmax·Σ g
_sm = lambda xp, g, y, axis: y * (g - xp.sum(g * y, axis=axis, keepdims=True))
_lsm = lambda xp, g, out, axis: g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True)
softmax.defvjp(lambda xp, g, out, x, axis=-1: _sm(xp, g, out, axis))
softmax.defjvp(lambda xp, t, out, x, axis=-1: _sm(xp, t, out, axis))
log_softmax.defvjp(lambda xp, g, out, x, axis=-1: _lsm(xp, g, out, axis))
# the JVP is the transpose: t − Σ t·softmax
log_softmax.defjvp(lambda xp, t, out, x, axis=-1:
                   t - xp.sum(t * xp.exp(out), axis=axis, keepdims=True))

for _op in (softmax, log_softmax):
    _op.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 0}), S((randn(5,),)),
                   S((randn(2, 3, 4),), {"axis": 1}),
                   S((uniform(-1e4, 1e4, 2, 5),), grad=False, note="logits of ±1e4 stay finite"))
