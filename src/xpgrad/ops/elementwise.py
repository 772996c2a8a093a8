"""Elementwise ops: arithmetic, transcendental functions, complex parts, comparisons, selection.

Broadcasting is undone by the engine (``broadcasting=True``), so rules are
written as if every operand had the output's shape.

Complex arguments follow the conjugate-Wirtinger convention (see ``_structure``):
a JVP is the R-linear directional derivative — ``t·f'(z)`` for a holomorphic
``f``, written out in full for ``conj``, ``real``, ``imag`` and ``abs`` — and a
VJP is its adjoint under ``Re Σ conj(a)·b``, so holomorphic functions have VJP
``g·conj(f'(z))``. For a real loss ``L`` of ``z = x + iy`` the gradient is
``∂L/∂x + i·∂L/∂y``: the gradient of ``|z|²`` is ``2z``.

Functions the standard defines for real-valued dtypes only (comparisons other
than ``==``/``!=``, ``maximum``, ``atan2``, ``hypot``, ``logaddexp``,
``copysign``, ``floor``...) refuse complex operands with a :class:`DTypeError`
rather than return NumPy's lexicographic or real-part answers.

Conventions where the derivative does not exist (documented in docs/design.md):

* ``abs``: 0 at 0 (real and complex); ``copysign(x1, x2)``: ``sign(x1)·sign(out)``
  wrt ``x1`` (0 at ``x1 = 0``, as for ``abs``) and 0 wrt ``x2``;
* ``maximum``/``minimum``: ties split the gradient evenly;
* ``hypot`` and ``atan2`` at the origin (0, 0): gradient 0, and every higher
  derivative 0 too (the rules mask the origin, so no 0/0 is ever formed);
* ``logaddexp`` where both operands are the same infinity: ½ to each (the limit
  along the diagonal), with no ``inf − inf`` evaluated;
* ``pow(x, y)``: ∂/∂y taken as 0 where ``x = 0``, ∂/∂x as 0 where ``y = 0``.
"""

from __future__ import annotations

import cmath
import math

from ..core.device import get_backend
from ..core.errors import DTypeError, describe
from ..core.registry import defop
from ..core.tensor import Tensor
from .creation import to_device
from ._structure import S, bools, call, crandn, ints, is_complex, pos, randn, unary, uniform
from ._structure import conj as _cj


def _real_only(name, xp, *args):
    """Refuse complex operands of ``name``, which the standard defines for real-valued dtypes only."""
    for a in args:
        if is_complex(xp, a):
            ins = ", ".join(describe(v) for v in args)
            raise DTypeError(f"'{name}' is defined for real-valued dtypes only, got ({ins}); take "
                             "real(), imag() or abs() of the complex operand first")


# ---------------------------------------------------------------- arithmetic


@defop("add", broadcasting=True)
def add(xp, x, y, /):
    return x + y


@defop("subtract", broadcasting=True)
def subtract(xp, x, y, /):
    return x - y


@defop("multiply", broadcasting=True)
def multiply(xp, x, y, /):
    return x * y


@defop("divide", broadcasting=True)
def divide(xp, x, y, /):
    return x / y


@defop("pow", broadcasting=True)
def pow(xp, x, y, /):
    return x ** y


@defop("negative")
def negative(xp, x, /):
    return -x


@defop("positive")
def positive(xp, x, /):
    return +x


@defop("square")
def square(xp, x, /):
    return x * x


@defop("reciprocal")
def reciprocal(xp, x, /):
    return 1.0 / x


add.defvjp(lambda xp, g, out, x, y: g,
           lambda xp, g, out, x, y: g)
add.defjvp(lambda xp, t, out, x, y: t,
           lambda xp, t, out, x, y: t)
subtract.defvjp(lambda xp, g, out, x, y: g,
                lambda xp, g, out, x, y: -g)
subtract.defjvp(lambda xp, t, out, x, y: t,
                lambda xp, t, out, x, y: -t)
# Complex: holomorphic in each operand, so the VJPs multiply by the conjugated partials.
multiply.defvjp(lambda xp, g, out, x, y: g * _cj(xp, y),
                lambda xp, g, out, x, y: g * _cj(xp, x))
multiply.defjvp(lambda xp, t, out, x, y: t * y,
                lambda xp, t, out, x, y: x * t)
divide.defvjp(lambda xp, g, out, x, y: g / _cj(xp, y),
              lambda xp, g, out, x, y: -g * _cj(xp, out / y))
divide.defjvp(lambda xp, t, out, x, y: t / y,
              lambda xp, t, out, x, y: -t * out / y)
# d/dx x^y = y x^(y-1);  d/dy x^y = x^y log x  (taken as 0 where x == 0)
pow.defvjp(lambda xp, g, out, x, y: g * _cj(xp, _dpow(xp, x, y)),
           lambda xp, g, out, x, y: g * _cj(xp, _xlogy(xp, out, x)))
pow.defjvp(lambda xp, t, out, x, y: t * _dpow(xp, x, y),
           lambda xp, t, out, x, y: t * _xlogy(xp, out, x))


def _dpow(xp, x, y):
    """y·x^(y-1), taken as 0 where y = 0 (x^0 is constant, even at x = 0 where x^(y-1) is infinite).

    The exponent is made harmless where y = 0 rather than the result masked, so
    higher derivatives (d²/dx² x¹ at 0) never meet 0·inf either.
    """
    if isinstance(y, (int, float, complex)):
        return y * x ** (y - 1) if y != 0 else 0 * x
    return y * x ** xp.where(y == 0, xp.ones_like(y), y - 1)
negative.defvjp(lambda xp, g, out, x: -g).deflinear()
positive.defvjp(lambda xp, g, out, x: g).deflinear()
unary(square, lambda xp, out, x: 2 * x)
unary(reciprocal, lambda xp, out, x: -out * out)


def _xlogy(xp, out, x):
    """x^y·log x, the partial of x^y in y, taken as 0 where x = 0 (complex: the principal log)."""
    if isinstance(x, complex) or (isinstance(x, (int, float)) and is_complex(xp, out)):
        return out * (cmath.log(x) if x != 0 else 0.0)
    if isinstance(x, (int, float)):  # a Python-number base: its log is a number, no array needed
        return out * (math.log(x) if x > 0 else (0.0 if x == 0 else math.nan))
    if is_complex(xp, out) and not is_complex(xp, x):
        x = xp.astype(x, out.dtype)  # a real base under a complex exponent: log of a negative base
    safe = xp.where(x == 0, xp.ones_like(x), x)
    return xp.where(x == 0, xp.zeros_like(out * safe), out * xp.log(safe))


# ---------------------------------------------------------------- transcendental

@defop("exp")
def exp(xp, x, /):
    return xp.exp(x)


@defop("expm1")
def expm1(xp, x, /):
    return xp.expm1(x)


@defop("log")
def log(xp, x, /):
    return xp.log(x)


@defop("log1p")
def log1p(xp, x, /):
    return xp.log1p(x)


@defop("sqrt")
def sqrt(xp, x, /):
    return xp.sqrt(x)


@defop("sin")
def sin(xp, x, /):
    return xp.sin(x)


@defop("cos")
def cos(xp, x, /):
    return xp.cos(x)


@defop("tan")
def tan(xp, x, /):
    return xp.tan(x)


@defop("sinh")
def sinh(xp, x, /):
    return xp.sinh(x)


@defop("cosh")
def cosh(xp, x, /):
    return xp.cosh(x)


@defop("tanh")
def tanh(xp, x, /):
    return xp.tanh(x)


@defop("asin")
def asin(xp, x, /):
    return xp.asin(x)


@defop("acos")
def acos(xp, x, /):
    return xp.acos(x)


@defop("atan")
def atan(xp, x, /):
    return xp.atan(x)


@defop("asinh")
def asinh(xp, x, /):
    return xp.asinh(x)


@defop("acosh")
def acosh(xp, x, /):
    return xp.acosh(x)


@defop("atanh")
def atanh(xp, x, /):
    return xp.atanh(x)


@defop("log2")
def log2(xp, x, /):
    return xp.log2(x)


@defop("log10")
def log10(xp, x, /):
    return xp.log10(x)


@defop("sigmoid")
def sigmoid(xp, x, /):
    # 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) below: never overflows.
    _real_only("sigmoid", xp, x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


@defop("abs")
def abs(xp, x, /):
    return xp.abs(x)


_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _dasinh(xp, out, x):
    """1/√(1+x²): as 1/hypot(1, x) for real x (no overflow of x² beyond 1e154)."""
    if is_complex(xp, x):
        return 1 / xp.sqrt(1 + x * x)
    return 1 / xp.hypot(xp.ones_like(x), x)


unary(exp,     lambda xp, out, x: out)
unary(expm1,   lambda xp, out, x: out + 1)
unary(log,     lambda xp, out, x: 1 / x)
unary(log1p,   lambda xp, out, x: 1 / (1 + x))
unary(log2,    lambda xp, out, x: 1 / (x * _LN2))
unary(log10,   lambda xp, out, x: 1 / (x * _LN10))
unary(sqrt,    lambda xp, out, x: 0.5 / out)
unary(sin,     lambda xp, out, x: xp.cos(x))
unary(cos,     lambda xp, out, x: -xp.sin(x))
unary(tan,     lambda xp, out, x: 1 + out * out)
unary(sinh,    lambda xp, out, x: xp.cosh(x))
unary(cosh,    lambda xp, out, x: xp.sinh(x))
unary(tanh,    lambda xp, out, x: 1 - out * out)
# The inverse functions' derivatives, written so that for complex z they are the derivatives of the
# principal branches (their square roots have the same branch cuts as the functions themselves).
unary(asin,    lambda xp, out, x: 1 / xp.sqrt(1 - x * x))
unary(acos,    lambda xp, out, x: -1 / xp.sqrt(1 - x * x))
unary(atan,    lambda xp, out, x: 1 / (1 + x * x))
unary(asinh,   _dasinh)
unary(acosh,   lambda xp, out, x: 1 / (xp.sqrt(x - 1) * xp.sqrt(x + 1)))   # never forms x² (overflow)
unary(atanh,   lambda xp, out, x: 1 / (1 - x * x))
unary(sigmoid, lambda xp, out, x: out * (1 - out))


def _safe(xp, r):
    """``r`` with its zeros replaced by ones: a denominator that is used only where ``r != 0``."""
    return xp.where(r == 0, xp.ones_like(r), r)


# |z|: for real x the derivative is sign(x), 0 at x = 0 (like PyTorch and JAX). For complex z,
# d|z| = Re(conj(z)·dz)/|z| (the JVP), whose adjoint is g·z/|z| (the VJP; 0 at z = 0): the
# gradient of |z| is z/|z|, the direction of steepest ascent.
def _abs_vjp(xp, g, out, x):
    if not is_complex(xp, x):
        return g * xp.sign(x)
    return g * (x / _safe(xp, out))


def _abs_jvp(xp, t, out, x):
    if not is_complex(xp, x):
        return t * xp.sign(x)
    return xp.real(_cj(xp, x) * t) / _safe(xp, out)


abs.defvjp(_abs_vjp)
abs.defjvp(_abs_jvp)


# ---------------------------------------------------------------- two-argument real functions


@defop("atan2", broadcasting=True)
def atan2(xp, x1, x2, /):
    """The angle of the point ``(x2, x1)``: ``atan2(y, x)``, in ``[-π, π]``."""
    _real_only("atan2", xp, x1, x2)
    return xp.atan2(x1, x2)


@defop("hypot", broadcasting=True)
def hypot(xp, x1, x2, /):
    """``√(x1² + x2²)`` without overflow or underflow in the squares."""
    _real_only("hypot", xp, x1, x2)
    return xp.hypot(x1, x2)


@defop("logaddexp", broadcasting=True)
def logaddexp(xp, x1, x2, /):
    """``log(exp(x1) + exp(x2))`` without overflow: ``logaddexp(1000, 1000) = 1000 + log 2``."""
    _real_only("logaddexp", xp, x1, x2)
    return xp.logaddexp(x1, x2)


@defop("copysign", broadcasting=True)
def copysign(xp, x1, x2, /):
    """``|x1|`` with the sign bit of ``x2``."""
    _real_only("copysign", xp, x1, x2)
    return xp.copysign(x1, x2)


def _over(xp, a, r, power=1):
    """``a / r**power``, and 0 where ``r = 0``: the origin of hypot and atan2.

    The origin is masked with ``where`` rather than given a safe denominator
    alone, so every derivative of the rule is 0 there too and no 0/0 is formed.
    """
    zero = r == 0
    s = _safe(xp, r)
    q = a / s if power == 1 else (a / s) / s    # (a/r)/r: never squares r (over/underflow)
    return xp.where(zero, xp.zeros_like(q), q)


# hypot: ∂/∂x1 = x1/h, ∂/∂x2 = x2/h with h = hypot(x1, x2); at (0, 0) the subgradient 0.
hypot.defvjp(lambda xp, g, out, x1, x2: g * _over(xp, x1, out),
             lambda xp, g, out, x1, x2: g * _over(xp, x2, out))
hypot.defjvp(lambda xp, t, out, x1, x2: t * _over(xp, x1, out),
             lambda xp, t, out, x1, x2: t * _over(xp, x2, out))
# atan2(y, x): ∂/∂y = x/(x² + y²), ∂/∂x = −y/(x² + y²), as (x/h)/h with h = hypot(x, y); 0 at (0, 0).
atan2.defvjp(lambda xp, g, out, x1, x2: g * _over(xp, x2, xp.hypot(x1, x2), 2),
             lambda xp, g, out, x1, x2: -g * _over(xp, x1, xp.hypot(x1, x2), 2))
atan2.defjvp(lambda xp, t, out, x1, x2: t * _over(xp, x2, xp.hypot(x1, x2), 2),
             lambda xp, t, out, x1, x2: -t * _over(xp, x1, xp.hypot(x1, x2), 2))


def _softweight(xp, a, b):
    """∂/∂a logaddexp(a, b) = e^a/(e^a + e^b) = sigmoid(a − b).

    Where ``a`` and ``b`` are the same infinity, ``a − b`` is undefined; the weight
    there is ½ (the limit along a = b), and ``inf − inf`` is never evaluated. The
    sigmoid is the op, so higher derivatives are sigmoid's own rules (exact at ties).
    """
    if not hasattr(b, "shape"):
        b = xp.full_like(a, b)
    both = (a == b) & xp.isinf(a)
    zero = xp.zeros_like(a)
    return call(sigmoid, xp, xp.where(both, zero, a) - xp.where(both, zero, b))


logaddexp.defvjp(lambda xp, g, out, x1, x2: g * _softweight(xp, x1, x2),
                 lambda xp, g, out, x1, x2: g * _softweight(xp, x2, x1))
logaddexp.defjvp(lambda xp, t, out, x1, x2: t * _softweight(xp, x1, x2),
                 lambda xp, t, out, x1, x2: t * _softweight(xp, x2, x1))

# copysign(x1, x2) = ±|x1|: ∂/∂x1 = sign(x1)·sign(out) — 0 at x1 = 0, the convention of abs — and
# ∂/∂x2 = 0 (the result depends on x2 only through its sign bit: piecewise constant).
copysign.defvjp(lambda xp, g, out, x1, x2: g * (xp.sign(x1) * xp.sign(out)),
                lambda xp, g, out, x1, x2: xp.zeros_like(g))
copysign.defjvp(lambda xp, t, out, x1, x2: t * (xp.sign(x1) * xp.sign(out)),
                None)


# ---------------------------------------------------------------- complex parts


def _numeric(name, xp, x):
    if getattr(x, "dtype", None) is not None and xp.isdtype(x.dtype, "bool"):
        raise DTypeError(f"'{name}' needs a numeric input, got {describe(x)}")


@defop("conj")
def conj(xp, x, /):
    """The complex conjugate; a copy of a real-valued input (as the 2024.12 standard allows).

    >>> import xpgrad as xg
    >>> xg.conj(xg.asarray([1 + 2j])).tolist()
    [(1-2j)]
    """
    if is_complex(xp, x):
        return xp.conj(x)
    _numeric("conj", xp, x)
    return +x


@defop("real")
def real(xp, x, /):
    """The real part, in the real dtype of the same precision; a copy of a real-valued input.

    >>> import xpgrad as xg
    >>> xg.real(xg.asarray([1 + 2j], dtype=xg.complex64)).dtype == xg.float32
    True
    """
    if is_complex(xp, x):
        return xp.real(x)
    _numeric("real", xp, x)
    return +x


@defop("imag")
def imag(xp, x, /):
    """The imaginary part, in the real dtype of the same precision; zeros for a real-valued input.

    (The standard asks for a complex input; zeros for real ones is an extension, as in NumPy.)

    >>> import xpgrad as xg
    >>> xg.imag(xg.asarray([1 + 2j])).tolist()
    [2.0]
    """
    if is_complex(xp, x):
        return xp.imag(x)
    _numeric("imag", xp, x)
    return xp.zeros_like(x)


def _re(xp, a):
    return xp.real(a) if is_complex(xp, a) else a


# conj is R-linear: JVP conj(t); its adjoint under Re Σ conj(a)·b is conj again (Re(ḡ·t̄) = Re(g·t)).
conj.defvjp(lambda xp, g, out, x: _cj(xp, g))
conj.defjvp(lambda xp, t, out, x: _cj(xp, t))
# real: JVP Re t; adjoint: the real cotangent g itself, taken as the complex number g + 0i (the
# engine casts it to the input's dtype) — so a real loss's gradient wrt z = x + iy has ∂L/∂x real.
real.defvjp(lambda xp, g, out, x: g)
real.defjvp(lambda xp, t, out, x: _re(xp, t))


# imag: JVP Im t; adjoint: i·g, since Re Σ conj(i·g)·t = Σ g·Im t. On a real input imag is the
# constant 0.
def _imag_vjp(xp, g, out, x):
    if not is_complex(xp, x):
        return xp.zeros_like(g)
    return xp.astype(g, x.dtype) * 1j


def _imag_jvp(xp, t, out, x):
    if not is_complex(xp, x):
        return xp.zeros_like(out)
    return xp.imag(t)


imag.defvjp(_imag_vjp)
imag.defjvp(_imag_jvp)



# ---------------------------------------------------------------- selection


@defop("maximum", broadcasting=True)
def maximum(xp, x, y, /):
    _real_only("maximum", xp, x, y)
    return xp.maximum(x, y)


@defop("minimum", broadcasting=True)
def minimum(xp, x, y, /):
    _real_only("minimum", xp, x, y)
    return xp.minimum(x, y)


def _share(xp, g, mine, other, pick):
    """Gradient share of one operand of max/min: all of it where it wins, half at ties."""
    w = xp.where(pick(mine, other), xp.ones_like(g), xp.zeros_like(g))
    return g * xp.where(mine == other, 0.5 * xp.ones_like(g), w)


_gt = lambda a, b: a > b  # noqa: E731
_lt = lambda a, b: a < b  # noqa: E731
maximum.defvjp(lambda xp, g, out, x, y: _share(xp, g, x, y, _gt),
               lambda xp, g, out, x, y: _share(xp, g, y, x, _gt))
maximum.defjvp(lambda xp, t, out, x, y: _share(xp, t, x, y, _gt),
               lambda xp, t, out, x, y: _share(xp, t, y, x, _gt))
minimum.defvjp(lambda xp, g, out, x, y: _share(xp, g, x, y, _lt),
               lambda xp, g, out, x, y: _share(xp, g, y, x, _lt))
minimum.defjvp(lambda xp, t, out, x, y: _share(xp, t, x, y, _lt),
               lambda xp, t, out, x, y: _share(xp, t, y, x, _lt))


@defop("where", broadcasting=True)
def where(xp, condition, x, y, /):
    return xp.where(condition, x, y)


where.defvjp(None,
             lambda xp, g, out, c, x, y: xp.where(c, g, xp.zeros_like(g)),
             lambda xp, g, out, c, x, y: xp.where(c, xp.zeros_like(g), g))
where.defjvp(None,
             lambda xp, t, out, c, x, y: xp.where(c, t, xp.zeros_like(out)),
             lambda xp, t, out, c, x, y: xp.where(c, xp.zeros_like(out), t))


@defop("clip", broadcasting=True)
def clip(xp, x, lo, hi, /):
    """``clip(x, min, max)``; either bound may be ``None``, a scalar or an array."""
    _real_only("clip", xp, x, lo, hi)
    return xp.clip(x, lo, hi)


def _inside(xp, g, x, lo, hi):
    keep = xp.ones_like(g) > 0
    if lo is not None:
        keep = keep & (x >= lo)
    if hi is not None:
        keep = keep & (x <= hi)
    return keep


clip.defvjp(lambda xp, g, out, x, lo, hi: xp.where(_inside(xp, g, x, lo, hi), g, xp.zeros_like(g)),
            lambda xp, g, out, x, lo, hi: xp.where(x < lo, g, xp.zeros_like(g)),
            lambda xp, g, out, x, lo, hi: xp.where(x > hi, g, xp.zeros_like(g)))
clip.defjvp(lambda xp, t, out, x, lo, hi: xp.where(_inside(xp, out, x, lo, hi), t, xp.zeros_like(out)),
            lambda xp, t, out, x, lo, hi: xp.where(x < lo, t, xp.zeros_like(out)),
            lambda xp, t, out, x, lo, hi: xp.where(x > hi, t, xp.zeros_like(out)))


# ---------------------------------------------------------------- not differentiable

def _nondiff(name, fn, nin=1, *, real=False):
    """A piecewise-constant or boolean-valued op; ``real``: the standard allows no complex operand."""
    if nin == 1:
        if real:
            def fwd(xp, x, /):
                _real_only(name, xp, x)
                return fn(xp, x)
        else:
            def fwd(xp, x, /):
                return fn(xp, x)
    else:
        if real:
            def fwd(xp, x, y, /):
                _real_only(name, xp, x, y)
                return fn(xp, x, y)
        else:
            def fwd(xp, x, y, /):
                return fn(xp, x, y)
    fwd.__doc__ = f"``{name}``: piecewise constant or boolean-valued; its result never requires grad."
    return defop(name, broadcasting=nin == 2, differentiable=False)(fwd)


sign = _nondiff("sign", lambda xp, x: xp.sign(x))
floor = _nondiff("floor", lambda xp, x: xp.floor(x), real=True)
ceil = _nondiff("ceil", lambda xp, x: xp.ceil(x), real=True)
trunc = _nondiff("trunc", lambda xp, x: xp.trunc(x), real=True)
round = _nondiff("round", lambda xp, x: xp.round(x))
isfinite = _nondiff("isfinite", lambda xp, x: xp.isfinite(x))
isinf = _nondiff("isinf", lambda xp, x: xp.isinf(x))
isnan = _nondiff("isnan", lambda xp, x: xp.isnan(x))
logical_not = _nondiff("logical_not", lambda xp, x: xp.logical_not(x))
bitwise_invert = _nondiff("bitwise_invert", lambda xp, x: ~x)
equal = _nondiff("equal", lambda xp, x, y: x == y, 2)
not_equal = _nondiff("not_equal", lambda xp, x, y: x != y, 2)
less = _nondiff("less", lambda xp, x, y: x < y, 2, real=True)
less_equal = _nondiff("less_equal", lambda xp, x, y: x <= y, 2, real=True)
greater = _nondiff("greater", lambda xp, x, y: x > y, 2, real=True)
greater_equal = _nondiff("greater_equal", lambda xp, x, y: x >= y, 2, real=True)
logical_and = _nondiff("logical_and", lambda xp, x, y: xp.logical_and(x, y), 2)
logical_or = _nondiff("logical_or", lambda xp, x, y: xp.logical_or(x, y), 2)
logical_xor = _nondiff("logical_xor", lambda xp, x, y: xp.logical_xor(x, y), 2)
bitwise_and = _nondiff("bitwise_and", lambda xp, x, y: x & y, 2)
bitwise_or = _nondiff("bitwise_or", lambda xp, x, y: x | y, 2)
bitwise_xor = _nondiff("bitwise_xor", lambda xp, x, y: x ^ y, 2)
bitwise_left_shift = _nondiff("bitwise_left_shift", lambda xp, x, y: x << y, 2)
bitwise_right_shift = _nondiff("bitwise_right_shift", lambda xp, x, y: x >> y, 2)
floor_divide = _nondiff("floor_divide", lambda xp, x, y: x // y, 2, real=True)
signbit = _nondiff("signbit", lambda xp, x: xp.signbit(x), real=True)
# nextafter moves x1 by one unit in the last place: a rounding-level op, declared not differentiable.
nextafter = _nondiff("nextafter", lambda xp, x, y: xp.nextafter(x, y), 2, real=True)


@defop("remainder", broadcasting=True)
def remainder(xp, x, y, /):
    _real_only("remainder", xp, x, y)
    return x % y


# x mod y = x - y·floor(x/y): ∂/∂x = 1, ∂/∂y = -floor(x/y)  (a.e.)
remainder.defvjp(lambda xp, g, out, x, y: g,
                 lambda xp, g, out, x, y: -g * xp.floor(x / y))
remainder.defjvp(lambda xp, t, out, x, y: t,
                 lambda xp, t, out, x, y: -t * xp.floor(x / y))


@defop("astype")
def _astype(xp, x, /, dtype, *, copy=True):
    """``x`` converted to ``dtype``. Complex to real-valued casts are refused, as the standard asks:
    say which part is wanted with ``real``, ``imag`` or ``abs``."""
    dtype = _dtype_in(xp, dtype)
    if is_complex(xp, x):
        if not xp.isdtype(dtype, ("complex floating", "bool")):
            raise DTypeError(f"astype: cannot cast complex {describe(x)} to {dtype}; take real(x), imag(x) "
                             "or abs(x) first")
    return xp.astype(x, dtype, copy=copy)


def _dtype_in(xp, dtype):
    """``dtype`` as namespace ``xp`` spells it: a name (``"float64"``) or a NumPy dtype (xpgrad's own
    constants) is looked up by name, since only NumPy accepts those; ``xp``'s own dtypes pass through."""
    if isinstance(dtype, str):
        name = dtype
    elif isinstance(dtype, type):   # NumPy's scalar types: xpgrad.float64 is numpy.float64
        name = "bool" if dtype.__name__ == "bool_" else dtype.__name__
    else:                           # a numpy.dtype instance has a name; PyTorch's dtypes do not
        name = getattr(dtype, "name", None)
    if not isinstance(name, str):  # a dtype object without a name (PyTorch's, array-api-strict's): xp's own
        return dtype
    try:
        return getattr(xp, name)
    except AttributeError:
        raise DTypeError(f"astype: {getattr(xp, '__name__', xp)} has no dtype {name!r}") from None


# Casting between floating dtypes is linear; gradients go back in the input's dtype (engine). Real to
# complex embeds x as x + 0i: its adjoint is the real part of the cotangent, which the engine takes.
_astype.defvjp(lambda xp, g, out, x, dtype, copy=True: g)
_astype.defjvp(lambda xp, t, out, x, dtype, copy=True: xp.astype(t, out.dtype))


def astype(x, /, dtype, *, copy=True, device=None):
    """``x`` converted to ``dtype`` and, with ``device``, moved there (the Array API's ``astype``).

    Differentiable between floating dtypes (real to complex included: the gradient that comes
    back is the real part); complex to real-valued casts are refused — use ``real``, ``imag`` or
    ``abs``.

    >>> import xpgrad as xg
    >>> xg.astype(xg.asarray([1.5, -2.0]), xg.complex64).dtype == xg.complex64
    True
    """
    if not isinstance(x, Tensor):
        if device is None:
            return _astype(x, dtype=dtype, copy=copy)
        x = Tensor(x)
    if device is not None and get_backend(device) is not x._b:
        x = to_device(x, device)
        copy = False            # the move made a new array already
    return _astype(x, dtype=x._b.dtype(dtype), copy=copy)


NAMESPACE = ("astype",)


# ---------------------------------------------------------------- samples

_UNARY = {"square": randn, "reciprocal": pos, "negative": randn, "positive": randn,
          "exp": randn, "expm1": randn, "log": pos, "log1p": pos, "sqrt": pos,
          "sin": randn, "cos": randn, "tan": lambda *s: uniform(-1.2, 1.2, *s),
          "sinh": randn, "cosh": randn, "tanh": randn,
          "asin": lambda *s: uniform(-0.9, 0.9, *s), "acos": lambda *s: uniform(-0.9, 0.9, *s),
          "atan": randn, "sigmoid": randn, "abs": lambda *s: ("away", s, 0.1),
          "asinh": randn, "acosh": lambda *s: uniform(1.2, 3.0, *s),
          "atanh": lambda *s: uniform(-0.9, 0.9, *s), "log2": pos, "log10": pos}
for _name, _gen in _UNARY.items():
    globals()[_name].defsamples(S((_gen(3, 4),)), S((_gen(),)), S((_gen(2, 1, 3),)))
# Complex inputs (every function above the standard allows on complex dtypes): the op-table checks then
# cover the conjugate-Wirtinger convention. Draws land off the branch cuts and poles almost surely.
for _name in _UNARY:
    if _name != "sigmoid":
        globals()[_name].defsamples(S((crandn(3, 4),), note="complex"))

for _op in (add, subtract, multiply, divide, maximum, minimum):
    second = pos if _op is divide else randn
    _op.defsamples(S((randn(3, 4), second(3, 4))), S((randn(3, 1), second(1, 4))),
                   S((randn(2, 3), second(3,))), S((randn(), second(2, 2))),
                   S((randn(2, 3), 2.5)), S((1.5, second(2, 3))))
maximum.defsamples(S((randn(4,), randn(4,)), note="ties are avoided by random draws"))
for _op in (add, subtract, multiply, divide):
    _op.defsamples(S((crandn(3, 4), crandn(3, 4))),
                   S((randn(3, 1), crandn(1, 4)), note="a real and a complex operand: the real one's "
                     "gradient is real"),
                   S((crandn(2, 3), 0.5 - 2j), note="a Python complex scalar"))
pow.defsamples(S((pos(3, 4), randn(3, 4))), S((pos(2, 3), 3.0)), S((pos(3, 1), randn(1, 2))),
               S((2.0, randn(3,))),
               S((crandn(3, 4), crandn(3, 4))), S((crandn(2, 3), 3.0)), S((pos(2, 3), crandn(2, 3))))
for _op in (atan2, hypot, logaddexp):
    _op.defsamples(S((randn(3, 4), randn(3, 4))), S((randn(3, 1), randn(1, 4))),
                   S((randn(2, 3), 1.5)), S((-0.5, randn(2, 3))))
hypot.defsamples(S((("values", [0.0, 3.0, 1e-3]), ("values", [0.0, -4.0, 0.0])), grad=False,
                   note="the origin, where the gradient is the subgradient 0"))
logaddexp.defsamples(S((("values", [1000.0, -1000.0, 2.0]), ("values", [1000.0, 0.0, 2.0])), grad=False,
                       note="extremes and a tie"))
copysign.defsamples(S((("away", (3, 4), 0.1), randn(3, 4))), S((("away", (3, 1), 0.1), randn(1, 4))),
                    S((("away", (2, 3), 0.1), -1.0)))
nextafter.defsamples(S((randn(3, 4), randn(3, 4))), S((randn(2, 3), 0.0)))
signbit.defsamples(S((randn(3, 4),)), S((("values", [0.0, -0.0, -1.5, 2.0]),), note="signed zeros"))
for _op in (conj, real, imag):
    _op.defsamples(S((crandn(3, 4),)), S((randn(3, 4),), note="real input"), S((crandn(2, 1, 3),)))
remainder.defsamples(S((uniform(1.1, 2.9, 3, 4), uniform(0.55, 0.95, 3, 4))))
where.defsamples(S((bools(3, 4), randn(3, 4), randn(3, 4))),
                 S((bools(3, 1), randn(1, 4), randn(3, 4))))
clip.defsamples(S((uniform(-2, 2, 3, 4), -0.93, 1.07)), S((uniform(-2, 2, 3, 4), None, 0.47)),
                S((uniform(-2, 2, 3, 4), uniform(-1, -0.2, 3, 1), uniform(0.2, 1, 1, 4))))
where.defsamples(S((bools(3, 4), crandn(3, 4), crandn(3, 1))))
_astype.defsamples(S((randn(3, 2),), {"dtype": "float64"}), S((crandn(3, 2),), {"dtype": "complex128"}))
for _op in (sign, floor, ceil, trunc, round):
    _op.defsamples(S((randn(3, 4),)))
for _op in (equal, not_equal, less, less_equal, greater, greater_equal):
    _op.defsamples(S((randn(3, 4), randn(3, 4))))
for _op in (isfinite, isinf, isnan):
    _op.defsamples(S((randn(3, 4),)))
for _op in (sign, round, isfinite, isinf, isnan):
    _op.defsamples(S((crandn(3, 4),), note="complex"))
for _op in (equal, not_equal):
    _op.defsamples(S((crandn(3, 4), crandn(3, 4)), note="complex"))
for _op in (logical_and, logical_or, logical_xor):
    _op.defsamples(S((bools(3, 4), bools(3, 4))))
logical_not.defsamples(S((bools(3, 4),)))
bitwise_invert.defsamples(S((ints(-5, 5, 3, 4),)))
for _op in (bitwise_and, bitwise_or, bitwise_xor):
    _op.defsamples(S((ints(-5, 5, 3, 4), ints(-5, 5, 3, 4))))
for _op in (bitwise_left_shift, bitwise_right_shift):
    _op.defsamples(S((ints(0, 9, 3, 4), ints(0, 3, 3, 4))))
floor_divide.defsamples(S((randn(3, 4), pos(3, 4))))
