"""Reductions and scans: sum, mean, prod, max, min, var, std, logsumexp, cumulative_sum.

Every rule first puts the reduced axes back (``keepdims``) so the cotangent
broadcasts against the input.

Conventions users ask about:

* ``max``/``min``: the gradient is split **evenly among tied extrema** (three
  equal maxima get a third each), so the gradient is the average of the
  one-sided choices. JAX does the same; PyTorch's ``amax`` does too, while
  ``torch.max(x, dim)`` sends it all to one index.
* ``prod``: the gradient is the product of the *other* elements, computed by
  counting zeros (no division by a zero): with one zero only that entry gets a
  gradient, with two or more every entry's gradient is 0.
* ``std``: at zero variance the derivative is 0/0; we return 0 there (a
  subgradient), where JAX and PyTorch return nan.
* ``logsumexp`` shifts by the maximum, so inputs of ±1e4 neither overflow nor
  lose precision; its gradient is ``softmax``.
"""

from __future__ import annotations

from ..core.registry import defop
from ._structure import S, randn, uniform


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim if ndim else a for a in axis)


def _keep(xp, g, x, axis, keepdims):
    """``g`` with the reduced axes restored as size-1 axes."""
    if keepdims or x.ndim == 0 or (axis is None and g.ndim == 0):  # a 0-d g broadcasts as it is
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


def _spread(xp, g, x, axis, keepdims):
    """``g`` broadcast back to ``x``'s shape."""
    return xp.broadcast_to(_keep(xp, g, x, axis, keepdims), x.shape)


# ---------------------------------------------------------------- linear: sum, mean


@defop("sum")
def sum(xp, x, /, *, axis=None, dtype=None, keepdims=False):
    return xp.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)


sum.defvjp(lambda xp, g, out, x, axis=None, dtype=None, keepdims=False:
           _spread(xp, g, x, axis, keepdims))
sum.deflinear()


@defop("mean")
def mean(xp, x, /, *, axis=None, keepdims=False):
    return xp.mean(x, axis=axis, keepdims=keepdims)


mean.defvjp(lambda xp, g, out, x, axis=None, keepdims=False:
            _spread(xp, g, x, axis, keepdims) / _count(x, axis))
mean.deflinear()


# ---------------------------------------------------------------- prod


@defop("prod")
def prod(xp, x, /, *, axis=None, dtype=None, keepdims=False):
    return xp.prod(x, axis=axis, dtype=dtype, keepdims=keepdims)


def _others(xp, x, axis):
    """Π_{j≠i} x_j over the reduced axes, by counting zeros (never divides by a zero)."""
    zero = x == 0
    nz = xp.where(zero, xp.ones_like(x), x)
    p = xp.prod(nz, axis=axis, keepdims=True)             # product of the nonzero entries
    c = xp.sum(xp.astype(zero, x.dtype), axis=axis, keepdims=True)
    # no zero: p / x_i;  one zero: p at the zero, 0 elsewhere;  two or more: 0
    return xp.where(c == 0, p / nz, xp.where((c == 1) & zero, p, xp.zeros_like(x)))


prod.defvjp(lambda xp, g, out, x, axis=None, dtype=None, keepdims=False:
            _keep(xp, g, x, axis, keepdims) * _others(xp, x, axis))
prod.defjvp(lambda xp, t, out, x, axis=None, dtype=None, keepdims=False:
            xp.sum(t * _others(xp, x, axis), axis=axis, dtype=dtype, keepdims=keepdims))


# ---------------------------------------------------------------- max, min


@defop("max")
def max(xp, x, /, *, axis=None, keepdims=False):
    return xp.max(x, axis=axis, keepdims=keepdims)


@defop("min")
def min(xp, x, /, *, axis=None, keepdims=False):
    return xp.min(x, axis=axis, keepdims=keepdims)


def _winners(xp, out, x, axis, keepdims):
    """1/k on the k entries equal to the extremum, 0 elsewhere (ties share evenly)."""
    hit = xp.astype(x == _keep(xp, out, x, axis, keepdims), x.dtype)
    return hit / xp.sum(hit, axis=axis, keepdims=True)


for _op in (max, min):
    _op.defvjp(lambda xp, g, out, x, axis=None, keepdims=False:
               _keep(xp, g, x, axis, keepdims) * _winners(xp, out, x, axis, keepdims))
    _op.defjvp(lambda xp, t, out, x, axis=None, keepdims=False:
               xp.sum(t * _winners(xp, out, x, axis, keepdims), axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------- var, std


@defop("var")
def var(xp, x, /, *, axis=None, correction=0.0, keepdims=False):
    return xp.var(x, axis=axis, correction=correction, keepdims=keepdims)


@defop("std")
def std(xp, x, /, *, axis=None, correction=0.0, keepdims=False):
    return xp.std(x, axis=axis, correction=correction, keepdims=keepdims)


def _centered(xp, x, axis, correction):
    """(x − mean) / (N − correction): d var = 2 Σ t·(x − mean) / (N − correction)."""
    return (x - xp.mean(x, axis=axis, keepdims=True)) / (_count(x, axis) - correction)


def _safe(xp, s):
    return xp.where(s == 0, xp.ones_like(s), s)   # std = 0: the 0/0 of d std is taken as 0


var.defvjp(lambda xp, g, out, x, axis=None, correction=0.0, keepdims=False:
           2 * _keep(xp, g, x, axis, keepdims) * _centered(xp, x, axis, correction))
var.defjvp(lambda xp, t, out, x, axis=None, correction=0.0, keepdims=False:
           2 * xp.sum(t * _centered(xp, x, axis, correction), axis=axis, keepdims=keepdims))
# d std = d var / (2 std)
std.defvjp(lambda xp, g, out, x, axis=None, correction=0.0, keepdims=False:
           _keep(xp, g / _safe(xp, out), x, axis, keepdims) * _centered(xp, x, axis, correction))
std.defjvp(lambda xp, t, out, x, axis=None, correction=0.0, keepdims=False:
           xp.sum(t * _centered(xp, x, axis, correction), axis=axis, keepdims=keepdims) / _safe(xp, out))


# ---------------------------------------------------------------- logsumexp


@defop("logsumexp")
def logsumexp(xp, x, /, *, axis=None, keepdims=False):
    """``log Σ exp(x)`` over ``axis``, shifted by the maximum so that it never overflows."""
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))   # all -inf (or an inf): no shift
    s = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    # s = 0 only when every input is -inf: log 0 = -inf, without the warning
    out = xp.where(s == 0, -xp.inf * xp.ones_like(s), xp.log(xp.where(s == 0, xp.ones_like(s), s))) + m
    return out if keepdims else xp.reshape(out, tuple(d for i, d in enumerate(x.shape)
                                                      if i not in _axes(axis, x.ndim)))


def _softmax_of(xp, out, x, axis, keepdims):
    return xp.exp(x - _keep(xp, out, x, axis, keepdims))   # softmax = exp(x − logsumexp)


logsumexp.defvjp(lambda xp, g, out, x, axis=None, keepdims=False:
                 _keep(xp, g, x, axis, keepdims) * _softmax_of(xp, out, x, axis, keepdims))
logsumexp.defjvp(lambda xp, t, out, x, axis=None, keepdims=False:
                 xp.sum(t * _softmax_of(xp, out, x, axis, keepdims), axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------- cumulative_sum


@defop("cumulative_sum")
def cumulative_sum(xp, x, /, *, axis=None, dtype=None, include_initial=False):
    return xp.cumulative_sum(x, axis=axis, dtype=dtype, include_initial=include_initial)


def _cumsum_vjp(xp, g, out, x, axis=None, dtype=None, include_initial=False):
    # y_k = Σ_{j≤k} x_j  ⇒  x̄_i = Σ_{k≥i} ȳ_k: a reversed cumulative sum
    ax = 0 if axis is None else axis % x.ndim
    r = xp.flip(xp.cumulative_sum(xp.flip(g, axis=ax), axis=ax), axis=ax)
    return r[(slice(None),) * ax + (slice(1, None),)] if include_initial else r


cumulative_sum.defvjp(_cumsum_vjp)
cumulative_sum.deflinear()


# ---------------------------------------------------------------- searching (not differentiable)


@defop("argmax", differentiable=False)
def argmax(xp, x, /, *, axis=None, keepdims=False):
    """Index of the largest value (the first on ties), along ``axis`` or of the flattened array."""
    return xp.argmax(x, axis=axis, keepdims=keepdims)


@defop("argmin", differentiable=False)
def argmin(xp, x, /, *, axis=None, keepdims=False):
    """Index of the smallest value (the first on ties), along ``axis`` or of the flattened array."""
    return xp.argmin(x, axis=axis, keepdims=keepdims)


# ---------------------------------------------------------------- samples

sum.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 1}),
               S((randn(2, 3, 4),), {"axis": (0, 2), "keepdims": True}), S((randn(),)),
               S((randn(2, 3),), {"axis": -1, "keepdims": True}))
mean.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 0}),
                S((randn(2, 3, 4),), {"axis": (1, 2), "keepdims": True}), S((randn(),)))
prod.defsamples(S((uniform(0.5, 1.5, 3, 4),)), S((uniform(0.5, 1.5, 3, 4),), {"axis": 1}),
                S((uniform(-1.5, 1.5, 2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
                S((randn(),)),
                S((uniform(0.0, 0.0, 2, 3),), {"axis": 1}, grad=False,
                  note="all zeros; one and two zeros are checked by hand in tests/ops/test_reduction.py"))
for _op in (max, min):
    _op.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 0}),
                   S((randn(2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
                   S((randn(2, 3),), {"axis": -1}), S((randn(),)),
                   S((uniform(2.0, 2.0, 2, 3),), {"axis": 1}, grad=False,
                     note="all tied: the gradient is shared evenly (tests/ops/test_reduction.py)"))
for _op in (var, std):
    _op.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 1, "correction": 1.0}),
                   S((randn(2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
                   S((randn(5,),), {"axis": 0, "correction": 1}),
                   S((uniform(1.5, 1.5, 2, 3),), {"axis": 1}, grad=False, note="zero variance"))
logsumexp.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 1}),
                     S((randn(2, 3, 4),), {"axis": (0, 2), "keepdims": True}), S((randn(),)),
                     S((uniform(-1e4, 1e4, 2, 5),), {"axis": -1}, grad=False, note="no overflow"))
cumulative_sum.defsamples(S((randn(5,),)), S((randn(3, 4),), {"axis": 1}),
                          S((randn(3, 4),), {"axis": 0, "include_initial": True}),
                          S((randn(2, 3, 4),), {"axis": -1, "include_initial": True}))
for _op in (argmax, argmin):
    _op.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 1}),
                   S((randn(2, 3, 4),), {"axis": 0, "keepdims": True}))
