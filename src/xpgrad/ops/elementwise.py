"""Elementwise ops: arithmetic, transcendental functions, comparisons, selection.

Broadcasting is undone by the engine (``broadcasting=True``), so rules are
written as if every operand had the output's shape. ``maximum``/``minimum``
split the gradient evenly between tied operands.
"""

from __future__ import annotations

import math

from ..core.registry import defop
from ._structure import S, bools, ints, pos, randn, unary, uniform

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
multiply.defvjp(lambda xp, g, out, x, y: g * y,
                lambda xp, g, out, x, y: g * x)
multiply.defjvp(lambda xp, t, out, x, y: t * y,
                lambda xp, t, out, x, y: x * t)
divide.defvjp(lambda xp, g, out, x, y: g / y,
              lambda xp, g, out, x, y: -g * out / y)
divide.defjvp(lambda xp, t, out, x, y: t / y,
              lambda xp, t, out, x, y: -t * out / y)
# d/dx x^y = y x^(y-1);  d/dy x^y = x^y log x  (taken as 0 where x == 0)
pow.defvjp(lambda xp, g, out, x, y: g * _dpow(xp, x, y),
           lambda xp, g, out, x, y: g * _xlogy(xp, out, x))
pow.defjvp(lambda xp, t, out, x, y: t * _dpow(xp, x, y),
           lambda xp, t, out, x, y: t * _xlogy(xp, out, x))


def _dpow(xp, x, y):
    """y·x^(y-1), taken as 0 where y = 0 (x^0 is constant, even at x = 0 where x^(y-1) is infinite).

    The exponent is made harmless where y = 0 rather than the result masked, so
    higher derivatives (d²/dx² x¹ at 0) never meet 0·inf either.
    """
    if isinstance(y, (int, float)):
        return y * x ** (y - 1) if y != 0 else 0 * x
    return y * x ** xp.where(y == 0, xp.ones_like(y), y - 1)
negative.defvjp(lambda xp, g, out, x: -g).deflinear()
positive.defvjp(lambda xp, g, out, x: g).deflinear()
unary(square, lambda xp, out, x: 2 * x)
unary(reciprocal, lambda xp, out, x: -out * out)


def _xlogy(xp, out, x):
    if isinstance(x, (int, float)):  # a Python-number base: its log is a number, no array needed
        return out * (math.log(x) if x > 0 else (0.0 if x == 0 else math.nan))
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


@defop("sigmoid")
def sigmoid(xp, x, /):
    # 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) below: never overflows.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


@defop("abs")
def abs(xp, x, /):
    return xp.abs(x)


unary(exp,     lambda xp, out, x: out)
unary(expm1,   lambda xp, out, x: out + 1)
unary(log,     lambda xp, out, x: 1 / x)
unary(log1p,   lambda xp, out, x: 1 / (1 + x))
unary(sqrt,    lambda xp, out, x: 0.5 / out)
unary(sin,     lambda xp, out, x: xp.cos(x))
unary(cos,     lambda xp, out, x: -xp.sin(x))
unary(tan,     lambda xp, out, x: 1 + out * out)
unary(sinh,    lambda xp, out, x: xp.cosh(x))
unary(cosh,    lambda xp, out, x: xp.sinh(x))
unary(tanh,    lambda xp, out, x: 1 - out * out)
unary(asin,    lambda xp, out, x: 1 / xp.sqrt(1 - x * x))
unary(acos,    lambda xp, out, x: -1 / xp.sqrt(1 - x * x))
unary(atan,    lambda xp, out, x: 1 / (1 + x * x))
unary(sigmoid, lambda xp, out, x: out * (1 - out))
unary(abs,     lambda xp, out, x: xp.sign(x))   # 0 at x = 0, like PyTorch and JAX


# ---------------------------------------------------------------- selection


@defop("maximum", broadcasting=True)
def maximum(xp, x, y, /):
    return xp.maximum(x, y)


@defop("minimum", broadcasting=True)
def minimum(xp, x, y, /):
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

def _nondiff(name, fn, nin=1):
    if nin == 1:
        def fwd(xp, x, /):
            return fn(xp, x)
    else:
        def fwd(xp, x, y, /):
            return fn(xp, x, y)
    fwd.__doc__ = f"``{name}``: piecewise constant or boolean-valued; its result never requires grad."
    return defop(name, broadcasting=nin == 2, differentiable=False)(fwd)


sign = _nondiff("sign", lambda xp, x: xp.sign(x))
floor = _nondiff("floor", lambda xp, x: xp.floor(x))
ceil = _nondiff("ceil", lambda xp, x: xp.ceil(x))
trunc = _nondiff("trunc", lambda xp, x: xp.trunc(x))
round = _nondiff("round", lambda xp, x: xp.round(x))
isfinite = _nondiff("isfinite", lambda xp, x: xp.isfinite(x))
isinf = _nondiff("isinf", lambda xp, x: xp.isinf(x))
isnan = _nondiff("isnan", lambda xp, x: xp.isnan(x))
logical_not = _nondiff("logical_not", lambda xp, x: xp.logical_not(x))
bitwise_invert = _nondiff("bitwise_invert", lambda xp, x: ~x)
equal = _nondiff("equal", lambda xp, x, y: x == y, 2)
not_equal = _nondiff("not_equal", lambda xp, x, y: x != y, 2)
less = _nondiff("less", lambda xp, x, y: x < y, 2)
less_equal = _nondiff("less_equal", lambda xp, x, y: x <= y, 2)
greater = _nondiff("greater", lambda xp, x, y: x > y, 2)
greater_equal = _nondiff("greater_equal", lambda xp, x, y: x >= y, 2)
logical_and = _nondiff("logical_and", lambda xp, x, y: xp.logical_and(x, y), 2)
logical_or = _nondiff("logical_or", lambda xp, x, y: xp.logical_or(x, y), 2)
logical_xor = _nondiff("logical_xor", lambda xp, x, y: xp.logical_xor(x, y), 2)
bitwise_and = _nondiff("bitwise_and", lambda xp, x, y: x & y, 2)
bitwise_or = _nondiff("bitwise_or", lambda xp, x, y: x | y, 2)
bitwise_xor = _nondiff("bitwise_xor", lambda xp, x, y: x ^ y, 2)
bitwise_left_shift = _nondiff("bitwise_left_shift", lambda xp, x, y: x << y, 2)
bitwise_right_shift = _nondiff("bitwise_right_shift", lambda xp, x, y: x >> y, 2)
floor_divide = _nondiff("floor_divide", lambda xp, x, y: x // y, 2)


@defop("remainder", broadcasting=True)
def remainder(xp, x, y, /):
    return x % y


# x mod y = x - y·floor(x/y): ∂/∂x = 1, ∂/∂y = -floor(x/y)  (a.e.)
remainder.defvjp(lambda xp, g, out, x, y: g,
                 lambda xp, g, out, x, y: -g * xp.floor(x / y))
remainder.defjvp(lambda xp, t, out, x, y: t,
                 lambda xp, t, out, x, y: -t * xp.floor(x / y))


@defop("astype")
def astype(xp, x, /, dtype, *, copy=True):
    return xp.astype(x, dtype, copy=copy)


# Casting between floating dtypes is linear; gradients go back in the input's dtype (engine).
astype.defvjp(lambda xp, g, out, x, dtype, copy=True: g)
astype.defjvp(lambda xp, t, out, x, dtype, copy=True: xp.astype(t, out.dtype))


# ---------------------------------------------------------------- samples

_UNARY = {"square": randn, "reciprocal": pos, "negative": randn, "positive": randn,
          "exp": randn, "expm1": randn, "log": pos, "log1p": pos, "sqrt": pos,
          "sin": randn, "cos": randn, "tan": lambda *s: uniform(-1.2, 1.2, *s),
          "sinh": randn, "cosh": randn, "tanh": randn,
          "asin": lambda *s: uniform(-0.9, 0.9, *s), "acos": lambda *s: uniform(-0.9, 0.9, *s),
          "atan": randn, "sigmoid": randn, "abs": lambda *s: ("away", s, 0.1)}
for _name, _gen in _UNARY.items():
    globals()[_name].defsamples(S((_gen(3, 4),)), S((_gen(),)), S((_gen(2, 1, 3),)))

for _op in (add, subtract, multiply, divide, maximum, minimum):
    second = pos if _op is divide else randn
    _op.defsamples(S((randn(3, 4), second(3, 4))), S((randn(3, 1), second(1, 4))),
                   S((randn(2, 3), second(3,))), S((randn(), second(2, 2))),
                   S((randn(2, 3), 2.5)), S((1.5, second(2, 3))))
maximum.defsamples(S((randn(4,), randn(4,)), note="ties are avoided by random draws"))
pow.defsamples(S((pos(3, 4), randn(3, 4))), S((pos(2, 3), 3.0)), S((pos(3, 1), randn(1, 2))),
               S((2.0, randn(3,))))
remainder.defsamples(S((uniform(1.1, 2.9, 3, 4), uniform(0.55, 0.95, 3, 4))))
where.defsamples(S((bools(3, 4), randn(3, 4), randn(3, 4))),
                 S((bools(3, 1), randn(1, 4), randn(3, 4))))
clip.defsamples(S((uniform(-2, 2, 3, 4), -0.93, 1.07)), S((uniform(-2, 2, 3, 4), None, 0.47)),
                S((uniform(-2, 2, 3, 4), uniform(-1, -0.2, 3, 1), uniform(0.2, 1, 1, 4))))
astype.defsamples(S((randn(3, 2),), {"dtype": "float64"}))
for _op in (sign, floor, ceil, trunc, round):
    _op.defsamples(S((randn(3, 4),)))
for _op in (equal, not_equal, less, less_equal, greater, greater_equal):
    _op.defsamples(S((randn(3, 4), randn(3, 4))))
for _op in (isfinite, isinf, isnan):
    _op.defsamples(S((randn(3, 4),)))
for _op in (logical_and, logical_or, logical_xor):
    _op.defsamples(S((bools(3, 4), bools(3, 4))))
logical_not.defsamples(S((bools(3, 4),)))
bitwise_invert.defsamples(S((ints(-5, 5, 3, 4),)))
for _op in (bitwise_and, bitwise_or, bitwise_xor):
    _op.defsamples(S((ints(-5, 5, 3, 4), ints(-5, 5, 3, 4))))
for _op in (bitwise_left_shift, bitwise_right_shift):
    _op.defsamples(S((ints(0, 9, 3, 4), ints(0, 3, 3, 4))))
floor_divide.defsamples(S((randn(3, 4), pos(3, 4))))
