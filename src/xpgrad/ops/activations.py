"""Activation functions as ops: relu, leaky_relu, elu, gelu, silu, mish, softplus, erf and erfc.

Each is a row of the op table with a hand-written VJP and JVP, so every device
runs them and they differentiate to any order; below the table are the
functional forms with the names and signatures of ``torch.nn.functional``.

* relu is on the hot path of training: its forward is one ``maximum`` and its
  VJP one comparison and one product, and no constant widens float32.
* softplus is ``max(z, 0) + log1p(exp(−|z|))`` (never overflows), and the input
  itself above ``threshold`` as in PyTorch.
* The Array API has no erf, so erf and erfc are written here in Array API
  arithmetic to float64 accuracy (see :func:`_erfc_tail`); exact gelu is
  ``x·Φ(x) = ½·x·erfc(−x/√2)``, which keeps its relative accuracy in the left tail.

``inplace=True`` is accepted for compatibility and changes nothing: the result
is always a new tensor and the input is left as it was.
"""

from __future__ import annotations

import math
from typing import Any

from ..core.errors import DTypeError, OpError
from ..core.registry import defop
from ._structure import S, call, randn, unary, uniform
from .elementwise import sigmoid, tanh

__all__ = ["relu", "leaky_relu", "elu", "gelu", "silu", "mish", "softplus", "erf", "sigmoid", "tanh"]

_SQRT1_2 = 1 / math.sqrt(2)
_2_SQRTPI = 2 / math.sqrt(math.pi)                  # erf'(0)
_1_SQRT2PI = 1 / math.sqrt(2 * math.pi)            # the standard normal density at 0
_GELU_K = math.sqrt(2 / math.pi)                   # tanh-approximation constants
_GELU_C = 0.044715


def _floating(xp: Any, name: str, x: Any) -> None:
    """Refuse integer and boolean inputs where the function is only defined on reals."""
    if not xp.isdtype(x.dtype, "real floating"):
        raise DTypeError(f"{name}: expected a floating-point input, got dtype {x.dtype}; convert it with "
                         f"xpgrad.astype(x, xpgrad.float32)")


# ================================================================ erf and erfc
#
# erf(x) = x·A(x²) for |x| < 1, with A a polynomial of degree 12 in x²;
# erfc(x) = t·exp(−x² + B(y)) for x ≥ 1, with t = 2/(2 + x), y = 3t − 1 ∈ (−1, 1] and
# B a polynomial of degree 21. Both are Chebyshev interpolants of the exact
# functions (A: erf(√u)/√u on u ∈ [0, 1]; B: log(erfc(x)·e^{x²}/t) on t ∈ [0, 2/3]),
# computed in 60-digit decimal arithmetic from the Taylor series and the Laplace
# continued fraction, then written in monomials (Σ|coefficients| is 1.65 and 1.36, so
# Horner's rule loses nothing). Truncation errors are below 1e-17; tests compare
# with math.erf and math.erfc.

_A = (1.1283791670955126, -0.3761263890318375, 0.11283791670954879, -0.026866170645076792,
      0.0052239776248180145, -0.000854832698083379, 0.0001205533111164271, -1.4925595266831182e-05,
      1.6461000484121368e-06, -1.6350312701054695e-07, 1.4659775274047436e-08, -1.1372848856791674e-09,
      5.957176147748911e-11)
_B = (-0.8891660234348968, 0.4182613562010564, 0.03773345772695937, -0.007742687639027611,
      -0.003769115046221274, 0.00015206393973799431, 0.0004234211063947598, 1.9272588867069955e-05,
      -5.4952131904776386e-05, -4.723980426780816e-06, 8.046737458450162e-06, 6.114039375568971e-07,
      -1.2757438503006657e-06, -1.8714009215569383e-08, 2.0533808026974443e-07, -1.8952095815184717e-08,
      -3.060196128058992e-08, 7.406743227146118e-09, 3.6472010186301397e-09, -1.5962634910444372e-09,
      -2.521240640044883e-10, 1.7126142553857722e-10)


def _unary(op: Any, deriv: Any) -> Any:
    """:func:`unary` for ops with params: ``deriv(xp, out, x, **params)`` is f'(x)."""
    op.defvjp(lambda xp, g, out, x, **p: g * deriv(xp, out, x, **p))
    op.defjvp(lambda xp, t, out, x, **p: t * deriv(xp, out, x, **p))
    return op


def _horner(coefs: tuple, v: Any) -> Any:
    acc = coefs[-1] * v + coefs[-2]
    for c in coefs[-3::-1]:
        acc = acc * v + c
    return acc


def _erf_small(xp, x):
    """erf(x) for |x| < 1 (|x| is clamped to 1 elsewhere, where the value is not used)."""
    m = xp.minimum(xp.abs(x), 1.0)
    return x * _horner(_A, m * m)


def _erfc_tail(xp, a):
    """erfc(a) for a ≥ 1 (a is clamped to [1, 30]: erfc(30) underflows in every dtype)."""
    a = xp.clip(a, 1.0, 30.0)
    t = 2.0 / (2.0 + a)
    h = _horner(_B, 3.0 * t - 1.0)
    # x² split as ah² + (a − ah)(a + ah), ah = a rounded to 1/256: ah² is exact, so exp(−x²) keeps
    # its relative accuracy although x² is large
    ah = xp.round(a * 256.0) / 256.0
    return t * xp.exp(-(ah * ah)) * xp.exp(h - (a - ah) * (a + ah))


@defop("erf")
def erf_op(xp, x, /):
    """The error function ``erf(x) = 2/√π ∫₀ˣ exp(−t²) dt``, to float64 accuracy."""
    _floating(xp, "erf", x)
    a = xp.abs(x)
    tail = 1.0 - _erfc_tail(xp, a)
    return xp.where(a < 1.0, _erf_small(xp, x), xp.where(x < 0, -tail, tail))


@defop("erfc")
def erfc_op(xp, x, /):
    """The complementary error function ``1 − erf(x)``, accurate where it is tiny (large x)."""
    _floating(xp, "erfc", x)
    a = xp.abs(x)
    tail = _erfc_tail(xp, a)
    return xp.where(a < 1.0, 1.0 - _erf_small(xp, x), xp.where(x < 0, 2.0 - tail, tail))


def _gauss(xp, x):
    """exp(−x²), with x clamped so that x² cannot overflow (exp(−900) is 0 in every dtype)."""
    m = xp.minimum(xp.abs(x), 30.0)
    return xp.exp(-(m * m))


unary(erf_op, lambda xp, out, x: _2_SQRTPI * _gauss(xp, x))
unary(erfc_op, lambda xp, out, x: -_2_SQRTPI * _gauss(xp, x))


# ================================================================ the activations


@defop("relu")
def relu_op(xp, x, /):
    """``max(x, 0)``."""
    return xp.maximum(x, 0)


# g·[out > 0]: one comparison and one product (the subgradient at 0 is 0, as in PyTorch). A product,
# not xp.where: NumPy's select is ~15× slower here. The mask is cast: the standard does not mix bool
# and floating operands.
unary(relu_op, lambda xp, out, x: xp.astype(out > 0, out.dtype))


@defop("leaky_relu")
def leaky_relu_op(xp, x, /, *, negative_slope=0.01):
    """``x`` where ``x > 0``, else ``negative_slope·x``."""
    _floating(xp, "leaky_relu", x)
    # max(x, s·x) when s ≤ 1, min(x, s·x) when s > 1: two passes, no select
    sx = x * negative_slope
    return xp.maximum(x, sx) if negative_slope <= 1 else xp.minimum(x, sx)


def _leaky_slope(xp, x, negative_slope):
    """1 where x > 0, else the slope (an array of x's dtype)."""
    return xp.astype(x > 0, x.dtype) * (1 - negative_slope) + negative_slope


_unary(leaky_relu_op, lambda xp, out, x, negative_slope=0.01: _leaky_slope(xp, x, negative_slope))


@defop("elu")
def elu_op(xp, x, /, *, alpha=1.0):
    """``x`` where ``x > 0``, else ``alpha·(exp(x) − 1)``."""
    _floating(xp, "elu", x)
    return xp.maximum(x, 0) + alpha * xp.expm1(xp.minimum(x, 0))


# elu' = 1 for x > 0, alpha·exp(x) = out + alpha below
elu_op.defvjp(lambda xp, g, out, x, alpha=1.0: xp.where(x > 0, g, g * (out + alpha)))
elu_op.defjvp(lambda xp, t, out, x, alpha=1.0: xp.where(x > 0, t, t * (out + alpha)))


def _gelu_approximate(name: str, approximate: str) -> None:
    if approximate not in ("none", "tanh"):
        raise OpError(f"{name}: approximate must be 'none' or 'tanh', got {approximate!r}")


def _gelu_tanh_arg(x):
    """2·√(2/π)·(x + 0.044715·x³): 0.5·(1 + tanh(z)) = sigmoid(2z)."""
    return (2 * _GELU_K) * (x + _GELU_C * (x * x * x))


@defop("gelu")
def gelu_op(xp, x, /, *, approximate="none"):
    """``x·Φ(x)`` (Φ the standard normal CDF), or its tanh approximation when ``approximate='tanh'``."""
    _floating(xp, "gelu", x)
    _gelu_approximate("gelu", approximate)
    if approximate == "tanh":
        return x * call(sigmoid, xp, _gelu_tanh_arg(x))
    return (0.5 * x) * call(erfc_op, xp, x * -_SQRT1_2)


def _gelu_deriv(xp, out, x, approximate="none"):
    if approximate == "tanh":  # s + x·s·(1 − s)·z', s = sigmoid(z)
        s = call(sigmoid, xp, _gelu_tanh_arg(x))
        return s + x * (s * (1 - s)) * ((2 * _GELU_K) * (1 + (3 * _GELU_C) * (x * x)))
    # Φ(x) + x·φ(x)
    return 0.5 * call(erfc_op, xp, x * -_SQRT1_2) + x * (_1_SQRT2PI * _gauss(xp, x * _SQRT1_2))


_unary(gelu_op, _gelu_deriv)


@defop("silu")
def silu_op(xp, x, /):
    """``x·sigmoid(x)`` (also called swish)."""
    _floating(xp, "silu", x)
    return x * call(sigmoid, xp, x)


def _silu_deriv(xp, out, x):
    s = call(sigmoid, xp, x)
    return s * (1 + x * (1 - s))


unary(silu_op, _silu_deriv)


def _softplus(xp, z):
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(−|z|))."""
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))


@defop("softplus")
def softplus_op(xp, x, /, *, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta·x)) / beta``, and ``x`` itself where ``beta·x > threshold``."""
    _floating(xp, "softplus", x)
    if beta == 0:
        raise OpError("softplus: beta must be non-zero (it divides the result)")
    if beta == 1:
        z, sp = x, _softplus(xp, x)
    else:
        z = x * beta
        sp = _softplus(xp, z) / beta
    return xp.where(z > threshold, x, sp)


def _softplus_vjp(xp, g, out, x, beta=1.0, threshold=20.0):
    z = x if beta == 1 else x * beta
    return xp.where(z > threshold, g, g * call(sigmoid, xp, z))


softplus_op.defvjp(_softplus_vjp)
softplus_op.defjvp(_softplus_vjp)   # an elementwise derivative: the same product for tangents


@defop("mish")
def mish_op(xp, x, /):
    """``x·tanh(softplus(x))``."""
    _floating(xp, "mish", x)
    return x * xp.tanh(_softplus(xp, x))


def _mish_deriv(xp, out, x):
    # tanh(sp) + x·(1 − tanh²(sp))·sigmoid(x), since sp' = sigmoid
    th = xp.tanh(call(softplus_op, xp, x, threshold=math.inf))
    return th + x * (1 - th * th) * call(sigmoid, xp, x)


unary(mish_op, _mish_deriv)


# ---------------------------------------------------------------- samples

def _away(*shape: int, eps: float = 0.1) -> tuple:
    return ("away", shape, eps)


_EXTREMES = uniform(-1e4, 1e4, 2, 4)   # shaped (not fixed values), so the 0-d and empty checks apply
_EXTREME = S((_EXTREMES,), grad=False, note="inputs of ±1e4 stay finite")

relu_op.defsamples(S((_away(3, 4),)), S((_away(),)), S((_away(2, 1, 3),)), _EXTREME)
leaky_relu_op.defsamples(S((_away(3, 4),)), S((_away(),)), S((_away(2, 3),), {"negative_slope": 0.2}),
                         S((_away(5,),), {"negative_slope": 1.5}), S((_away(4,),), {"negative_slope": -0.5}),
                         _EXTREME)
elu_op.defsamples(S((_away(3, 4),)), S((_away(),)), S((_away(2, 3),), {"alpha": 0.5}),
                  S((_away(5,),), {"alpha": 2.0}), _EXTREME)
gelu_op.defsamples(S((randn(3, 4),)), S((randn(),)), S((uniform(-6, 6, 2, 5),)),
                   S((randn(3, 4),), {"approximate": "tanh"}),
                   S((uniform(-6, 6, 2, 5),), {"approximate": "tanh"}),
                   _EXTREME, S((_EXTREMES,), {"approximate": "tanh"}, grad=False, note="±1e4 stay finite"))
for _op in (silu_op, mish_op):
    _op.defsamples(S((randn(3, 4),)), S((randn(),)), S((uniform(-8, 8, 2, 5),)), _EXTREME)
softplus_op.defsamples(
    S((randn(3, 4),)), S((randn(),)), S((uniform(-30, 30, 2, 5),)),
    S((randn(3, 4),), {"beta": 2.0}), S((randn(5,),), {"beta": 0.5, "threshold": 5.0}),
    S((uniform(-3, 0.9, 2, 3),), {"threshold": 1.0}), S((uniform(1.1, 5, 2, 3),), {"threshold": 1.0}),
    _EXTREME, S((_EXTREMES,), {"beta": 3.0}, grad=False, note="±1e4 stay finite"))
for _op in (erf_op, erfc_op):
    _op.defsamples(S((randn(3, 4),)), S((randn(),)), S((uniform(-6, 6, 2, 5),)),
                   S((uniform(-9, 9, 9),)),
                   _EXTREME)


# ================================================================ functional forms


def relu(input: Any, inplace: bool = False) -> Any:
    """``max(input, 0)`` elementwise (``inplace`` is accepted and ignored: the result is new).

    >>> import xpgrad as xg
    >>> relu(xg.asarray([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return relu_op(input)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Any:
    """``input`` where positive, else ``negative_slope·input`` (``inplace`` is ignored).

    >>> import xpgrad as xg
    >>> leaky_relu(xg.asarray([-2.0, 3.0]), 0.5).tolist()
    [-1.0, 3.0]
    """
    return leaky_relu_op(input, negative_slope=negative_slope)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Any:
    """``input`` where positive, else ``alpha·(exp(input) − 1)`` (``inplace`` is ignored).

    >>> import xpgrad as xg
    >>> elu(xg.asarray([0.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return elu_op(input, alpha=alpha)


def gelu(input: Any, approximate: str = "none") -> Any:
    """``input·Φ(input)``, Φ the standard normal CDF; ``approximate='tanh'`` uses the tanh formula.

    >>> import xpgrad as xg
    >>> round(gelu(xg.asarray([1.0])).tolist()[0], 6)
    0.841345
    """
    _gelu_approximate("gelu", approximate)
    return gelu_op(input, approximate=approximate)


def silu(input: Any, inplace: bool = False) -> Any:
    """``input·sigmoid(input)`` (swish; ``inplace`` is ignored).

    >>> import xpgrad as xg
    >>> silu(xg.asarray([0.0])).tolist()
    [0.0]
    """
    return silu_op(input)


def mish(input: Any, inplace: bool = False) -> Any:
    """``input·tanh(softplus(input))`` (``inplace`` is ignored).

    >>> import xpgrad as xg
    >>> round(mish(xg.asarray([1.0])).tolist()[0], 6)
    0.865098
    """
    return mish_op(input)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """``log(1 + exp(beta·input)) / beta``, and ``input`` itself where ``beta·input > threshold``.

    Never overflows: ``softplus(1e4)`` is ``1e4`` and ``softplus(-1e4)`` is ``0``.

    >>> import xpgrad as xg
    >>> round(softplus(xg.asarray([0.0])).tolist()[0], 6)
    0.693147
    """
    return softplus_op(input, beta=beta, threshold=threshold)


def erf(input: Any) -> Any:
    """The error function, elementwise, to float64 accuracy (the Array API has none).

    >>> import xpgrad as xg
    >>> round(erf(xg.asarray([0.5])).tolist()[0], 12)
    0.520499877813
    """
    return erf_op(input)
