"""Reductions and scans: sum, mean, prod, max, min, var, std, logsumexp, cumulative_sum,
cumulative_prod, diff (and the non-differentiable argmax, argmin).

Every rule first puts the reduced axes back (``keepdims``) so the cotangent
broadcasts against the input.

Conventions users ask about:

* ``max``/``min``: the gradient is split **evenly among tied extrema** (three
  equal maxima get a third each), so the gradient is the average of the
  one-sided choices; the JVP is the mean of the tied tangents (its adjoint).
  JAX does the same; PyTorch's ``amax`` does too, while ``torch.max(x, dim)``
  sends it all to one index. A NaN maximum gives NaN gradients.
* ``prod``: the gradient of each element is the product of the *others*,
  computed as (product of those before it) × (product of those after it) with
  two exclusive running products: no division, so it is exact with any number
  of zeros (one zero: only that entry has a nonzero gradient; two or more:
  every gradient is 0), and a product that underflows to 0 still has its
  gradient (``[1e-200, 1e-200, 1e200]``: 1 for each of the first two).
* ``cumulative_prod``: ∂y_k/∂x_i = (Π_{j<i} x_j)(Π_{i<j≤k} x_j) for i ≤ k,
  again without division. The JVP is the linear recurrence
  ``ẏ_k = x_k ẏ_{k−1} + t_k Π_{j<k} x_j`` and the VJP the reversed one
  ``r_i = ȳ_i + x_{i+1} r_{i+1}``, ``x̄_i = r_i Π_{j<i} x_j``; both run as a
  parallel prefix scan (``⌈log₂ n⌉`` steps of shifted multiply-adds, pure
  Array API), so zeros anywhere are handled exactly.
* ``std``: at zero variance the derivative is 0/0; we return 0 there (a
  subgradient), where JAX and PyTorch return nan.
* ``logsumexp`` shifts by the maximum, so inputs of ±1e4 neither overflow nor
  lose precision; its gradient is ``softmax``.
* ``diff`` is linear in ``x``, ``prepend`` and ``append``: its VJP applies the
  adjoint of one forward difference (``ā_i = ḡ_{i−1} − ḡ_i``) ``n`` times and
  splits the result between the three inputs. ``n = 0`` returns the joined
  array (the standard joins ``prepend``/``append`` before differencing).

Complex inputs (``sum``, ``mean``, ``prod``, ``cumulative_sum``,
``cumulative_prod``, ``var``, ``std``, ``diff``) follow the conjugate-Wirtinger
convention: linear ones need nothing, ``prod`` and ``cumulative_prod`` are
holomorphic (VJP ``ḡ · conj(∂y/∂x)``). ``var`` and ``std`` of a complex input
are real, ``var = Σ |x − mean|² / (N − correction)`` (NumPy's and PyTorch's
definition; the standard itself only asks for real inputs): their gradient is
``2 ḡ (x − mean)/(N − correction)`` (the gradient of ``|z|²`` is ``2z``) and
their JVP ``2 Re Σ conj(x − mean)·t / (N − correction)``.
"""

from __future__ import annotations

import builtins

from ..core.errors import OpError, ShapeError, describe
from ..core.registry import defop
from ._structure import S, call, conj, crandn, is_complex, randn, uniform

NAMESPACE: tuple[str, ...] = ("diff",)


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


def _sl(ax, sl):
    """An index key applying the slice ``sl`` on axis ``ax`` (every axis before it whole).

    The trailing ``...`` is required: leaving the axes after ``ax`` implicit is NumPy's
    behaviour, not the standard's (array-api-strict refuses it).
    """
    return (slice(None),) * ax + (sl, Ellipsis)


def _others(xp, x, axis):
    """Π_{j≠i} x_j over the reduced axes: (Π before i)·(Π after i), two exclusive running products.

    The reduced axes are moved last and flattened into one of length n, so this
    is two ``cumulative_prod`` calls; no division, exact with zeros.
    """
    axes = _axes(axis, x.ndim)
    if x.ndim == 0 or not axes:
        return xp.ones_like(x)
    keep = [i for i in range(x.ndim) if i not in axes]
    order = keep + sorted(axes)
    y = x if order == list(range(x.ndim)) else xp.permute_dims(x, tuple(order))
    lead = tuple(y.shape[:len(keep)])
    n = _count(x, axes)
    k = len(keep)
    y = xp.reshape(y, lead + (n,))
    before = xp.cumulative_prod(y, axis=k, include_initial=True)[_sl(k, slice(0, n))]
    after = xp.flip(xp.cumulative_prod(xp.flip(y, axis=k), axis=k, include_initial=True)[_sl(k, slice(0, n))],
                    axis=k)
    o = xp.reshape(before * after, tuple(x.shape[i] for i in order))
    if order == list(range(x.ndim)):
        return o
    inv = [0] * x.ndim
    for pos, a in enumerate(order):
        inv[a] = pos
    return xp.permute_dims(o, tuple(inv))


prod.defvjp(lambda xp, g, out, x, axis=None, dtype=None, keepdims=False:
            _keep(xp, g, x, axis, keepdims) * conj(xp, _others(xp, x, axis)))
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
    """Variance over ``axis``: ``Σ |x − mean|² / (N − correction)``, real also for a complex ``x``."""
    if is_complex(xp, x):
        return _complex_var(xp, x, axis, correction, keepdims)
    return xp.var(x, axis=axis, correction=correction, keepdims=keepdims)


@defop("std")
def std(xp, x, /, *, axis=None, correction=0.0, keepdims=False):
    """Standard deviation over ``axis``: the square root of :func:`var` (real also for a complex ``x``)."""
    if is_complex(xp, x):
        return xp.sqrt(_complex_var(xp, x, axis, correction, keepdims))
    return xp.std(x, axis=axis, correction=correction, keepdims=keepdims)


def _complex_var(xp, x, axis, correction, keepdims):
    d = x - xp.mean(x, axis=axis, keepdims=True)
    s = xp.sum(xp.real(d) ** 2 + xp.imag(d) ** 2, axis=axis, keepdims=keepdims)   # Σ |x − mean|²
    return s / (_count(x, axis) - correction)


def _centered(xp, x, axis, correction):
    """(x − mean) / (N − correction): d var = 2 Σ t·(x − mean) / (N − correction)."""
    return (x - xp.mean(x, axis=axis, keepdims=True)) / (_count(x, axis) - correction)


def _re_dot(xp, t, c):
    """Re(conj(c)·t), elementwise: the real directional derivative of |·|² terms (t·c when real)."""
    if is_complex(xp, c) or is_complex(xp, t):
        return xp.real(conj(xp, c) * t)
    return t * c


def _safe(xp, s):
    return xp.where(s == 0, xp.ones_like(s), s)   # std = 0: the 0/0 of d std is taken as 0


var.defvjp(lambda xp, g, out, x, axis=None, correction=0.0, keepdims=False:
           2 * _keep(xp, g, x, axis, keepdims) * _centered(xp, x, axis, correction))
var.defjvp(lambda xp, t, out, x, axis=None, correction=0.0, keepdims=False:
           2 * xp.sum(_re_dot(xp, t, _centered(xp, x, axis, correction)), axis=axis, keepdims=keepdims))
# d std = d var / (2 std)
std.defvjp(lambda xp, g, out, x, axis=None, correction=0.0, keepdims=False:
           _keep(xp, g / _safe(xp, out), x, axis, keepdims) * _centered(xp, x, axis, correction))
std.defjvp(lambda xp, t, out, x, axis=None, correction=0.0, keepdims=False:
           xp.sum(_re_dot(xp, t, _centered(xp, x, axis, correction)), axis=axis, keepdims=keepdims)
           / _safe(xp, out))


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


# ---------------------------------------------------------------- cumulative_sum, cumulative_prod


def _scan_axis(name, x, axis):
    """The scanned axis, checked: ``None`` is allowed for 1-D (and 0-d, read as 1-D) inputs only."""
    nd = builtins.max(x.ndim, 1)
    if axis is None:
        if x.ndim > 1:
            raise ShapeError(f"'{name}': axis is required for an input of shape {tuple(x.shape)} "
                             "(more than one dimension)")
        return 0
    if not isinstance(axis, int) or not -nd <= axis < nd:
        raise ShapeError(f"'{name}': axis {axis!r} is out of range for an input of shape "
                         f"{tuple(x.shape)} (valid: {-nd} to {nd - 1})")
    return axis % nd


def _as_1d(xp, x):
    """A 0-d input read as a 1-element 1-D one (scans need an axis; all backends then agree)."""
    return xp.reshape(x, (1,)) if x.ndim == 0 else x


@defop("cumulative_sum")
def cumulative_sum(xp, x, /, *, axis=None, dtype=None, include_initial=False):
    """Running sums along ``axis`` (needed unless ``x`` is 1-D); ``include_initial`` prepends a 0.

    >>> import xpgrad as xg
    >>> xg.cumulative_sum(xg.asarray([1.0, 2.0, 3.0]), include_initial=True).tolist()
    [0.0, 1.0, 3.0, 6.0]
    """
    ax = _scan_axis("cumulative_sum", x, axis)
    return xp.cumulative_sum(_as_1d(xp, x), axis=ax, dtype=dtype, include_initial=include_initial)


def _cumsum_vjp(xp, g, out, x, axis=None, dtype=None, include_initial=False):
    # y_k = Σ_{j≤k} x_j  ⇒  x̄_i = Σ_{k≥i} ȳ_k: a reversed cumulative sum
    ax = _scan_axis("cumulative_sum", x, axis)
    r = xp.flip(xp.cumulative_sum(xp.flip(g, axis=ax), axis=ax), axis=ax)
    r = r[_sl(ax, slice(1, None))] if include_initial else r
    return xp.reshape(r, x.shape) if x.ndim == 0 else r


cumulative_sum.defvjp(_cumsum_vjp)
cumulative_sum.deflinear()


@defop("cumulative_prod")
def cumulative_prod(xp, x, /, *, axis=None, dtype=None, include_initial=False):
    """Running products along ``axis`` (needed unless ``x`` is 1-D); ``include_initial`` prepends a 1.

    Differentiable, exactly also where ``x`` has zeros (no division):

    >>> import xpgrad as xg
    >>> x = xg.asarray([2.0, 0.0, 3.0], requires_grad=True)
    >>> y = xg.cumulative_prod(x)
    >>> xg.sum(y).backward()
    >>> y.tolist(), x.grad.tolist()
    ([2.0, 0.0, 0.0], [1.0, 8.0, 0.0])
    """
    ax = _scan_axis("cumulative_prod", x, axis)
    return xp.cumulative_prod(_as_1d(xp, x), axis=ax, dtype=dtype, include_initial=include_initial)


def _shift(xp, z, d, ax):
    """``z`` moved ``d`` places along ``ax`` with zeros shifted in: ``out[k] = z[k − d]`` (0 for k < d)."""
    n = z.shape[ax]
    if d >= n:
        return xp.zeros_like(z)
    return xp.concat([xp.zeros_like(z[_sl(ax, slice(0, d))]), z[_sl(ax, slice(0, n - d))]], axis=ax)


def _scan(xp, a, b, ax):
    """``r`` with ``r_k = b_k + a_k r_{k−1}`` along ``ax`` (``r_{−1} = 0``), by recursive doubling.

    After the step of offset d, ``b_k = Σ_{k−2d<j≤k} (Π_{j<i≤k} a_i) b_j`` and
    ``a_k = Π_{k−2d<i≤k} a_i`` (terms before the start are zero), so after
    ⌈log₂ n⌉ steps ``b = r``. Only multiplies, adds and shifts: exact with zeros
    in ``a``, and differentiable again (higher-order derivatives).
    """
    n = b.shape[ax]
    d = 1
    while d < n:
        b = b + a * _shift(xp, b, d, ax)
        if 2 * d < n:
            a = a * _shift(xp, a, d, ax)
        d *= 2
    return b


def _exclusive(xp, x1, ax):
    """``Π_{j<i} x_j`` along ``ax``: the running product shifted by one (1 at the start)."""
    n = x1.shape[ax]
    return xp.cumulative_prod(x1, axis=ax, include_initial=True)[_sl(ax, slice(0, n))]


def _cumprod_vjp(xp, g, out, x, axis=None, dtype=None, include_initial=False):
    ax = _scan_axis("cumulative_prod", x, axis)
    x1 = _as_1d(xp, x)
    if include_initial:
        g = g[_sl(ax, slice(1, None))]          # the leading 1 is a constant
    # x̄_i = conj(Π_{j<i} x_j) · r_i,  r_i = ȳ_i + conj(x_{i+1}) r_{i+1}: the recurrence run backwards
    a = _shift(xp, xp.flip(conj(xp, x1), axis=ax), 1, ax)
    r = xp.flip(_scan(xp, a, xp.flip(g, axis=ax), ax), axis=ax)
    xbar = conj(xp, _exclusive(xp, x1, ax)) * r
    return xp.reshape(xbar, x.shape) if x.ndim == 0 else xbar


def _cumprod_jvp(xp, t, out, x, axis=None, dtype=None, include_initial=False):
    ax = _scan_axis("cumulative_prod", x, axis)
    x1, t1 = _as_1d(xp, x), _as_1d(xp, t)
    # ẏ_k = x_k ẏ_{k−1} + t_k Π_{j<k} x_j
    r = _scan(xp, x1, t1 * _exclusive(xp, x1, ax), ax)
    if include_initial:
        r = xp.concat([xp.zeros_like(r[_sl(ax, slice(0, 1))]), r], axis=ax) if r.shape[ax] else \
            xp.zeros(out.shape, dtype=r.dtype, device=r.device)
    return r if r.dtype == out.dtype else xp.astype(r, out.dtype)


cumulative_prod.defvjp(_cumprod_vjp)
cumulative_prod.defjvp(_cumprod_jvp)


# ---------------------------------------------------------------- diff


def _diff_check(x, prepend, append, axis, n):
    nd = getattr(x, "ndim", 0)
    if nd == 0:
        raise ShapeError(f"'diff': the input {describe(x)} is 0-d; it needs at least one axis")
    if not isinstance(axis, int) or not -nd <= axis < nd:
        raise ShapeError(f"'diff': axis {axis!r} is out of range for an input of shape {tuple(x.shape)} "
                         f"(valid: {-nd} to {nd - 1})")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise OpError(f"'diff': n must be a non-negative int, not {n!r}")
    ax = axis % nd
    for name, p in (("prepend", prepend), ("append", append)):
        if p is None:
            continue
        ps = tuple(getattr(p, "shape", ()))
        if len(ps) != nd or any(a != b for i, (a, b) in enumerate(zip(ps, x.shape)) if i != ax):
            raise ShapeError(f"'diff': {name} {describe(p)} must have the shape of x {tuple(x.shape)} "
                             f"except along axis {axis} (any size there)")
    return ax


def _diff_lengths(x, prepend, append, ax, n):
    """The length along ``ax`` before each of the ``n`` differencing steps (an empty axis stays empty)."""
    m = x.shape[ax] + builtins.sum(p.shape[ax] for p in (prepend, append) if p is not None)
    out = []
    for _ in range(n):
        out.append(m)
        m = builtins.max(m - 1, 0)
    return out


@defop("diff")
def _diff(xp, x, prepend, append, /, *, axis=-1, n=1):
    ax = _diff_check(x, prepend, append, axis, n)
    parts = [p for p in (prepend, x, append) if p is not None]
    a = xp.concat(parts, axis=ax) if len(parts) > 1 else x
    for m in _diff_lengths(x, prepend, append, ax, n):
        if m == 0:
            break
        a = a[_sl(ax, slice(1, None))] - a[_sl(ax, slice(0, m - 1))]
    return a


def _diff_vjp(xp, g, out, x, prepend, append, axis=-1, n=1):
    ax = axis % x.ndim
    for m in reversed(_diff_lengths(x, prepend, append, ax, n)):
        if m == 0:
            continue
        # adjoint of a_i ↦ a_{i+1} − a_i (length m → m − 1): ā_i = ḡ_{i−1} − ḡ_i, ḡ_{−1} = ḡ_{m−1} = 0
        shape = tuple(1 if i == ax else s for i, s in enumerate(g.shape))
        z = xp.zeros(shape, dtype=g.dtype, device=g.device)
        g = xp.concat([z, g], axis=ax) - xp.concat([g, z], axis=ax)
    p = 0 if prepend is None else prepend.shape[ax]
    k = x.shape[ax]
    return (g[_sl(ax, slice(p, p + k))],                                    # x, prepend, append
            None if prepend is None else g[_sl(ax, slice(0, p))],
            None if append is None else g[_sl(ax, slice(p + k, None))])


def _zeros_or_none(xp, a):
    return None if a is None else xp.zeros_like(a)


_diff.defvjp(_diff_vjp)
_diff.defjvp(lambda xp, t, out, x, prepend, append, axis=-1, n=1:
             call(_diff, xp, t, _zeros_or_none(xp, prepend), _zeros_or_none(xp, append), axis=axis, n=n),
             lambda xp, t, out, x, prepend, append, axis=-1, n=1:
             call(_diff, xp, xp.zeros_like(x), t, _zeros_or_none(xp, append), axis=axis, n=n),
             lambda xp, t, out, x, prepend, append, axis=-1, n=1:
             call(_diff, xp, xp.zeros_like(x), _zeros_or_none(xp, prepend), t, axis=axis, n=n))


def diff(x, /, *, axis=-1, n=1, prepend=None, append=None):
    """The ``n``-th forward difference along ``axis``, ``out[i] = a[i+1] − a[i]`` applied ``n`` times
    to ``a = concat([prepend, x, append])``; differentiable (linear) in all three.

    ``prepend``/``append`` must have ``x``'s shape except along ``axis``.

    >>> import xpgrad as xg
    >>> xg.diff(xg.asarray([1.0, 2.0, 4.0, 7.0])).tolist()
    [1.0, 2.0, 3.0]
    >>> xg.diff(xg.asarray([1.0, 2.0, 4.0]), n=2, prepend=xg.asarray([0.0])).tolist()
    [0.0, 1.0]
    """
    return _diff(x, prepend, append, axis=axis, n=n)


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

sum.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 1}), S((crandn(3, 4),), {"axis": 0}),
               S((randn(2, 3, 4),), {"axis": (0, 2), "keepdims": True}), S((randn(),)),
               S((randn(2, 3),), {"axis": -1, "keepdims": True}))
mean.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 0}), S((crandn(2, 3),), {"axis": 1}),
                S((randn(2, 3, 4),), {"axis": (1, 2), "keepdims": True}), S((randn(),)))
prod.defsamples(S((uniform(0.5, 1.5, 3, 4),)), S((uniform(0.5, 1.5, 3, 4),), {"axis": 1}),
                S((uniform(-1.5, 1.5, 2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
                S((randn(),)), S((crandn(2, 3),), {"axis": 1}), S((crandn(4,),)),
                S((("values", [[2.0, 0.0, 3.0, -1.5], [0.0, 1.5, 0.0, 2.0], [0.0, 0.0, 0.0, 1.0]]),),
                  {"axis": 1}, note="one, two and three zeros per row: exact, no division"),
                S((("values", [[0.5, 0.0], [-2.0, 1.5]]),), note="a zero, all axes"),
                S((uniform(0.0, 0.0, 2, 3),), {"axis": 1}, note="all zeros"))
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
                   S((crandn(3, 4),), {"axis": 1}), S((crandn(5,),), {"correction": 1.0}),
                   S((uniform(1.5, 1.5, 2, 3),), {"axis": 1}, grad=False, note="zero variance"))
logsumexp.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 1}),
                     S((randn(2, 3, 4),), {"axis": (0, 2), "keepdims": True}), S((randn(),)),
                     S((uniform(-1e4, 1e4, 2, 5),), {"axis": -1}, grad=False, note="no overflow"))
cumulative_sum.defsamples(S((randn(5,),)), S((randn(3, 4),), {"axis": 1}),
                          S((randn(3, 4),), {"axis": 0, "include_initial": True}),
                          S((randn(2, 3, 4),), {"axis": -1, "include_initial": True}),
                          S((crandn(2, 3),), {"axis": 1}), S((randn(),), note="0-d: read as (1,)"))
cumulative_prod.defsamples(
    S((randn(5,),)), S((uniform(-1.5, 1.5, 3, 4),), {"axis": 1}),
    S((randn(3, 4),), {"axis": 0, "include_initial": True}),
    S((randn(2, 3, 6),), {"axis": -1}),
    S((("values", [[2.0, 0.0, 3.0, -1.5, 0.5], [0.0, 1.5, 0.0, 2.0, -1.0], [1.0, -2.0, 0.5, 1.5, 0.0]]),),
      {"axis": 1}, note="zeros: one, two, and last; exact without division"),
    S((("values", [0.0, 0.0, 2.0]),), {"include_initial": True}, note="leading zeros"),
    S((crandn(2, 5),), {"axis": 1}), S((crandn(4,),), {"include_initial": True}),
    S((randn(),), note="0-d: read as (1,)"), S((randn(3, 0),), {"axis": 1}, note="empty axis"))
_diff.defsamples(
    S((randn(6,), None, None)), S((randn(3, 5), None, None), {"axis": 0}),
    S((randn(3, 5), None, None), {"n": 2}),
    S((randn(2, 4), randn(2, 1), randn(2, 3)), {"axis": 1}),
    S((randn(4, 3), randn(2, 3), None), {"axis": 0, "n": 3}),
    S((randn(3, 2), None, randn(1, 2)), {"axis": -2, "n": 0}, note="n = 0: the joined array"),
    S((randn(3,), None, None), {"n": 5}, note="n beyond the length: empty"),
    S((crandn(2, 4), None, crandn(2, 2)), {"n": 2}))
for _op in (argmax, argmin):
    _op.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"axis": 1}),
                   S((randn(2, 3, 4),), {"axis": 0, "keepdims": True}))
