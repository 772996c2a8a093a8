"""Loss functions as ops, and their functional forms with the signatures of ``torch.nn.functional``.

Every loss is one op with a static ``reduction`` ("none", "mean" or "sum"), so a
loss is one node of the graph, runs on every device and has hand-written rules:

* **cross_entropy** (class indices) and **cross_entropy_probs** (class
  probabilities): one stable log-softmax pass. With ``P`` the weighted, smoothed
  one-hot targets (zero for ignored ones), the loss is ``−Σ_c P·log_softmax(x)`` and
  its derivative ``S·softmax(x) − P`` with ``S = Σ_c P``, in closed form: logits of
  ±1e4 give finite losses and gradients. One-hot targets are comparisons with
  ``arange(C)``, which every backend has.
* **nll_loss**: the same with log-probabilities given.
* **binary_cross_entropy** (logs clamped at −100, as PyTorch) and
  **binary_cross_entropy_with_logits** (stable: ``(1 − y)·x + softplus(−x)``).
* **mse_loss, l1_loss, huber_loss, smooth_l1_loss, kl_div**: an elementwise loss
  ``ℓ(x, y)`` and a reduction; the rules spread the cotangent over ``∂ℓ``.

Class weights and ``pos_weight`` are optional array inputs of the ops (``None``
when absent, which keeps the unweighted path as short as it can be); every
floating input is differentiable, integer targets are not. The weighted mean of
cross_entropy and nll_loss divides by the summed weights of the targets that are
not ignored, as PyTorch does.

The functional forms check what an op cannot check without reading the device
(class indices in range) and accept PyTorch's deprecated ``size_average`` and
``reduce`` arguments.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from ..core.errors import DTypeError, IndexOutOfBoundsError, OpError, ShapeError, describe
from ..core.registry import defop
from ..core.tensor import Tensor
from ._structure import S, call, ints, pos, randn, uniform
from .activations import softplus_op
from .elementwise import sigmoid
from .nn import log_softmax, softmax

__all__ = ["cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "kl_div"]

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(name: str, reduction: Any, allowed: tuple = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise OpError(f"{name}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


# ================================================================ reductions
#
# A loss op computes ℓ (the unreduced loss) and reduces it. Its cotangent ḡ reaches ℓ
# spread: as it is ("none"), the same everywhere ("sum"), divided by the count ("mean").


def _count(shape: tuple, reduction: str) -> int:
    """What "mean" ("batchmean": the first axis) divides by; 1 where nothing is divided."""
    if reduction == "mean":
        return math.prod(shape) or 1
    if reduction == "batchmean":
        return shape[0] if shape and shape[0] else 1
    return 1


def _reduce(xp, l, reduction):
    if reduction == "none":
        return l
    if reduction == "mean":
        return xp.mean(l)
    n = _count(tuple(l.shape), reduction)
    return xp.sum(l) if n == 1 else xp.sum(l) / n


def _spread(g, reduction, shape):
    """The cotangent of ℓ (of ``shape``) from the cotangent ``g`` of the reduced loss."""
    n = _count(tuple(shape), reduction)
    return g if n == 1 else g / n


def _collapse(xp, t, reduction):
    """The tangent of the reduced loss from the tangent ``t`` of ℓ (a JVP reduces like the forward)."""
    return _reduce(xp, t, reduction)


def _elementwise_rules(op: Any, *partials: Any) -> None:
    """Rules of ``reduce(ℓ(x, y, ...))`` from ``∂ℓ/∂input`` per input (``None``: not differentiable).

    Each partial is ``d(xp, *inputs, **params)``; the VJP is ``spread(ḡ)·d``, the JVP ``reduce(ṫ·d)``.
    """
    def vjp(d):   # ℓ has the shape of the first input (the others match it or broadcast to it)
        return lambda xp, g, out, *a, reduction="mean", **p: \
            _spread(g, reduction, a[0].shape) * d(xp, *a, **p)

    def jvp(d):
        return lambda xp, t, out, *a, reduction="mean", **p: _collapse(xp, t * d(xp, *a, **p), reduction)
    op.defvjp(*(None if d is None else vjp(d) for d in partials))
    op.defjvp(*(None if d is None else jvp(d) for d in partials))


def _same_shape(name: str, x: Any, y: Any, what: str = "target") -> None:
    if tuple(x.shape) != tuple(y.shape):
        raise ShapeError(f"{name}: {what} of shape {tuple(y.shape)} must have the input's shape "
                         f"{tuple(x.shape)} (no broadcasting: a (N, 1) against (N,) would silently "
                         f"compare every pair); reshape one of them")


def _promote(xp, *arrays):
    """The arrays with floating ones in their common dtype: float32 with float64 computes in float64
    (a log or a softmax of the float32 operand would otherwise round to float32 first)."""
    dts = {a.dtype for a in arrays if a is not None and xp.isdtype(a.dtype, "real floating")}
    if len(dts) <= 1:
        return arrays
    dt = xp.result_type(*dts)
    return tuple(a if a is None or a.dtype == dt or not xp.isdtype(a.dtype, "real floating")
                 else xp.astype(a, dt) for a in arrays)


def _broadcasts_to(name: str, what: str, v: Any, shape: tuple) -> None:
    """``v`` (optional) must broadcast to ``shape`` without growing it."""
    if v is None:
        return
    vs = tuple(v.shape)
    ok = len(vs) <= len(shape) and all(a in (1, b) for a, b in zip(vs[::-1], shape[::-1]))
    if not ok:
        raise ShapeError(f"{name}: {what} of shape {vs} must broadcast to the input's shape {shape}")


# ================================================================ elementwise losses


@defop("mse_loss")
def mse_loss_op(xp, x, y, /, *, reduction="mean"):
    """Squared error ``(x − y)²``, reduced."""
    _check_reduction("mse_loss", reduction)
    _same_shape("mse_loss", x, y)
    d = x - y
    return _reduce(xp, d * d, reduction)


_elementwise_rules(mse_loss_op, lambda xp, x, y: 2 * (x - y), lambda xp, x, y: -2 * (x - y))


@defop("l1_loss")
def l1_loss_op(xp, x, y, /, *, reduction="mean"):
    """Absolute error ``|x − y|``, reduced."""
    _check_reduction("l1_loss", reduction)
    _same_shape("l1_loss", x, y)
    return _reduce(xp, xp.abs(x - y), reduction)


# sign(0) = 0: the subgradient at the kink, like PyTorch
_elementwise_rules(l1_loss_op, lambda xp, x, y: xp.sign(x - y), lambda xp, x, y: -xp.sign(x - y))


def _huber(xp, d, delta):
    """0.5·d² for |d| ≤ δ, δ·(|d| − 0.5·δ) beyond: with m = min(|d|, δ), 0.5·m² + δ·(|d| − m)."""
    a = xp.abs(d)
    m = xp.minimum(a, delta)
    return 0.5 * (m * m) + delta * (a - m)


@defop("huber_loss")
def huber_loss_op(xp, x, y, /, *, reduction="mean", delta=1.0):
    """Huber loss: quadratic for ``|x − y| ≤ delta``, linear beyond; reduced."""
    _check_reduction("huber_loss", reduction)
    if not delta > 0:
        raise OpError(f"huber_loss: delta must be positive, got {delta!r}")
    _same_shape("huber_loss", x, y)
    return _reduce(xp, _huber(xp, x - y, delta), reduction)


_elementwise_rules(huber_loss_op, lambda xp, x, y, delta=1.0: xp.clip(x - y, -delta, delta),
                   lambda xp, x, y, delta=1.0: -xp.clip(x - y, -delta, delta))


@defop("smooth_l1_loss")
def smooth_l1_loss_op(xp, x, y, /, *, reduction="mean", beta=1.0):
    """Smooth L1: ``0.5·d²/beta`` for ``|d| < beta``, ``|d| − 0.5·beta`` beyond (``d = x − y``); reduced."""
    _check_reduction("smooth_l1_loss", reduction)
    if not beta >= 0:
        raise OpError(f"smooth_l1_loss: beta must be non-negative, got {beta!r}")
    _same_shape("smooth_l1_loss", x, y)
    d = x - y
    return _reduce(xp, xp.abs(d) if beta == 0 else _huber(xp, d, beta) / beta, reduction)


def _smooth_l1_deriv(xp, x, y, beta=1.0):
    d = x - y
    return xp.sign(d) if beta == 0 else xp.clip(d / beta, -1, 1)


_elementwise_rules(smooth_l1_loss_op, _smooth_l1_deriv,
                   lambda xp, x, y, beta=1.0: -_smooth_l1_deriv(xp, x, y, beta))


@defop("kl_div")
def kl_div_op(xp, x, y, /, *, reduction="mean", log_target=False):
    """``y·(log y − x)`` with ``x`` log-probabilities and ``y`` probabilities (log-probabilities if
    ``log_target``); 0 where ``y = 0``. ``reduction='batchmean'`` divides the sum by the batch size."""
    _check_reduction("kl_div", reduction, (*_REDUCTIONS, "batchmean"))
    _same_shape("kl_div", x, y)
    x, y = _promote(xp, x, y)
    if log_target:
        return _reduce(xp, xp.exp(y) * (y - x), reduction)
    # y·log y is 0 at y = 0 (its limit); a negative y still gives nan
    ylogy = y * xp.log(xp.where(y == 0, xp.ones_like(y), y))
    return _reduce(xp, ylogy - y * x, reduction)


def _kl_dy(xp, x, y, log_target=False):
    if log_target:
        return xp.exp(y) * (y - x + 1)
    # log y + 1 − x; 0 where y = 0 (the one-sided derivative is −inf there), as PyTorch
    safe = xp.where(y > 0, y, xp.ones_like(y))
    return xp.where(y > 0, xp.log(safe) + 1 - x, xp.zeros_like(y))


_elementwise_rules(kl_div_op, lambda xp, x, y, log_target=False: -xp.exp(y) if log_target else -y, _kl_dy)


# ---------------------------------------------------------------- binary cross-entropy


def _clamped_log(xp, p):
    """max(log p, −100), as PyTorch: log 0 is −100, never −inf (and no division by zero)."""
    return xp.maximum(xp.log(xp.maximum(p, 1e-45)), -100.0)


@defop("binary_cross_entropy", broadcasting=True)
def binary_cross_entropy_op(xp, x, y, weight, /, *, reduction="mean"):
    """``−weight·(y·log x + (1 − y)·log(1 − x))`` for probabilities ``x``, logs clamped at −100; reduced."""
    _check_reduction("binary_cross_entropy", reduction)
    _same_shape("binary_cross_entropy", x, y)
    _broadcasts_to("binary_cross_entropy", "weight", weight, tuple(x.shape))
    x, y, weight = _promote(xp, x, y, weight)
    l = -(y * _clamped_log(xp, x) + (1 - y) * _clamped_log(xp, 1 - x))
    return _reduce(xp, l if weight is None else weight * l, reduction)


def _weighted(v, weight):
    return v if weight is None else weight * v


# ∂/∂x = w·(x − y) / (x·(1 − x)), the denominator kept ≥ 1e-12 (PyTorch's guard at 0 and 1)
_elementwise_rules(
    binary_cross_entropy_op,
    lambda xp, x, y, w: _weighted((x - y) / xp.maximum(x * (1 - x), 1e-12), w),
    lambda xp, x, y, w: _weighted(_clamped_log(xp, 1 - x) - _clamped_log(xp, x), w),
    lambda xp, x, y, w: -(y * _clamped_log(xp, x) + (1 - y) * _clamped_log(xp, 1 - x)))


def _softplus_neg(xp, x):
    """softplus(−x) = log(1 + exp(−x)), differentiable again (the softplus op, no threshold)."""
    return call(softplus_op, xp, -x, threshold=math.inf)


@defop("binary_cross_entropy_with_logits", broadcasting=True)
def binary_cross_entropy_with_logits_op(xp, x, y, weight, pos_weight, /, *, reduction="mean"):
    """``weight·(pos_weight·y·softplus(−x) + (1 − y)·softplus(x))`` for logits ``x``; reduced.

    Computed as ``(1 − y)·x + (1 + (pos_weight − 1)·y)·softplus(−x)``: no overflow, and no
    cancellation for hard labels.
    """
    name = "binary_cross_entropy_with_logits"
    _check_reduction(name, reduction)
    _same_shape(name, x, y)
    _broadcasts_to(name, "weight", weight, tuple(x.shape))
    _broadcasts_to(name, "pos_weight", pos_weight, tuple(x.shape))
    x, y, weight, pos_weight = _promote(xp, x, y, weight, pos_weight)
    sp = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))      # softplus(−x), stable
    lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    return _reduce(xp, _weighted((1 - y) * x + lw * sp, weight), reduction)


def _bce_logits_dx(xp, x, y, w, pw):
    # (1 − y)·sigmoid(x) − pos_weight·y·sigmoid(−x): no cancellation for hard labels (σ(40) − 1 is not 0)
    py = y if pw is None else pw * y
    return _weighted((1 - y) * call(sigmoid, xp, x) - py * call(sigmoid, xp, -x), w)


def _bce_logits_dy(xp, x, y, w, pw):
    return _weighted(-x if pw is None else (pw - 1) * _softplus_neg(xp, x) - x, w)


def _bce_logits_dw(xp, x, y, w, pw):
    lw = 1 if pw is None else 1 + (pw - 1) * y
    return (1 - y) * x + lw * _softplus_neg(xp, x)


_elementwise_rules(binary_cross_entropy_with_logits_op, _bce_logits_dx, _bce_logits_dy, _bce_logits_dw,
                   lambda xp, x, y, w, pw: _weighted(y * _softplus_neg(xp, x), w))


# ================================================================ cross-entropy and nll
#
# Inputs are (C,), (N, C) or (N, C, d1, ...): the class axis is 1, or 0 for (C,). With
# Q the (smoothed) one-hot targets, zero for ignored ones, and w the class weights,
#   ℓ = −Σ_c w·Q·L,  L = log_softmax(x) (cross_entropy) or x (nll_loss),
#   ∂ℓ/∂x = S·softmax(x) − w·Q with S = Σ_c w·Q (cross_entropy),  −w·Q (nll_loss),
#   ∂ℓ/∂w = −Q·L, summed over every axis but the class axis.
# The mean divides by D = Σ_n w[target_n] over targets that are not ignored, so the mean
# also depends on w: ∂mean/∂w_c = (Σ ∂ℓ/∂w_c − mean·#(targets of class c)) / D.


def _class_axis(x: Any) -> int:
    return 1 if len(x.shape) >= 2 else 0


def _along(xp, v, x, ax):
    """A per-class vector (C,) shaped to broadcast along the class axis of ``x``."""
    extra = len(x.shape) - ax - 1
    return xp.reshape(v, (v.shape[0],) + (1,) * extra) if extra else v


_KINDS = {"real floating": "f", "integral": "iu"}


def _isdtype(xp: Any, dtype: Any, kind: str) -> bool:
    """``xp.isdtype``, with a fast path for dtypes that carry NumPy's one-letter ``kind``."""
    k = getattr(dtype, "kind", None)
    return k in _KINDS[kind] if isinstance(k, str) and k != "V" else xp.isdtype(dtype, kind)   # V: bfloat16


def _unsqueeze(xp, a, ax):
    """``a`` with a new axis of length 1 at ``ax`` (a reshape: cheaper than expand_dims everywhere)."""
    shape = tuple(a.shape)
    return xp.reshape(a, shape[:ax] + (1,) + shape[ax:])


def _check_index_target(name: str, xp: Any, x: Any, target: Any, weight: Any) -> None:
    """Shapes and dtypes of an index-target loss (no values are read)."""
    xs, ts = tuple(x.shape), tuple(target.shape)
    if not xs:
        raise ShapeError(f"{name}: input of shape () has no class axis; expected (C,), (N, C) or "
                         "(N, C, d1, ...)")
    if not _isdtype(xp, x.dtype, "real floating"):
        raise DTypeError(f"{name}: input must be floating point, got {x.dtype}")
    expected = () if len(xs) == 1 else (xs[0],) + xs[2:]
    if not _isdtype(xp, target.dtype, "integral"):
        hint = ("; class probabilities go to cross_entropy as a floating target of the input's shape"
                if name == "cross_entropy" else "; convert it with xpgrad.astype(target, xpgrad.int64)")
        raise DTypeError(f"{name}: target must hold integer class indices, got dtype {target.dtype}{hint}")
    if ts != expected:
        hint = (" (class probabilities must be floating point)" if ts == xs else "")
        raise ShapeError(f"{name}: input of shape {xs} (class axis {_class_axis(x)}, C = "
                         f"{xs[_class_axis(x)]}) needs a target of class indices of shape {expected}, "
                         f"got {ts}{hint}")
    if weight is not None and tuple(weight.shape) != (xs[_class_axis(x)],):
        raise ShapeError(f"{name}: weight must have one entry per class, shape ({xs[_class_axis(x)]},), "
                         f"got {tuple(weight.shape)}")


def _check_smoothing(name: str, label_smoothing: Any) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise OpError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")


def _index_targets(xp, x, target, ignore_index, label_smoothing):
    """``(Q, Y)``: smoothed one-hot targets with ignored rows zero, and the plain one-hot ``Y``.

    Both have ``x``'s shape and dtype; ignored targets have rows of zeros in both.
    """
    ax = _class_axis(x)
    c = x.shape[ax]
    classes = xp.arange(c, device=x.device)
    hit = _unsqueeze(xp, target, ax) == _along(xp, classes, x, ax)
    keep = None
    if label_smoothing or 0 <= ignore_index < c:   # otherwise an ignored target matches no class
        keep = _unsqueeze(xp, target != ignore_index, ax)
        if 0 <= ignore_index < c:
            hit = xp.logical_and(hit, keep)
    y = xp.astype(hit, x.dtype)
    if not label_smoothing:
        return y, y
    return y * (1 - label_smoothing) + xp.astype(keep, x.dtype) * (label_smoothing / c), y


def _picked_parts(xp, x, target, weight, ignore_index, label_smoothing, reduction):
    """``(P, Q, Y, D)``: weighted targets P = w·Q, Q, the one-hot Y, and the mean's denominator
    D = Σ w[target] over targets not ignored (``None`` unless ``reduction`` is "mean")."""
    q, y = _index_targets(xp, x, target, ignore_index, label_smoothing)
    if weight is None:
        return q, q, y, (xp.sum(y) if reduction == "mean" else None)
    wb = _along(xp, weight, x, _class_axis(x))
    return q * wb, q, y, (xp.sum(y * wb) if reduction == "mean" else None)


def _log_probs(xp, x, logits):
    return call(log_softmax, xp, x, axis=_class_axis(x)) if logits else x


def _picked_loss(xp, name, logits, x, target, weight, ignore_index, reduction, label_smoothing):
    """The forward of cross_entropy (``logits``) and nll_loss."""
    _check_reduction(name, reduction)
    _check_index_target(name, xp, x, target, weight)
    _check_smoothing(name, label_smoothing)
    if weight is not None:
        x, weight = _promote(xp, x, weight)
    p, _, _, d = _picked_parts(xp, x, target, weight, ignore_index, label_smoothing, reduction)
    pl = p * _log_probs(xp, x, logits)
    if reduction == "none":
        return -xp.sum(pl, axis=_class_axis(x))
    total = -xp.sum(pl)
    return total / d if reduction == "mean" else total


def _picked_dx(xp, x, p, logits):
    """∂ℓ/∂x per row: S·softmax(x) − P (logits) or −P (log-probabilities)."""
    if not logits:
        return -p
    ax = _class_axis(x)
    return xp.sum(p, axis=ax, keepdims=True) * call(softmax, xp, x, axis=ax) - p


def _picked_rules(op, logits):
    def vjp_x(xp, g, out, x, target, weight, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        p, _, _, d = _picked_parts(xp, x, target, weight, ignore_index, label_smoothing, reduction)
        if reduction == "none":
            g = _unsqueeze(xp, g, _class_axis(x))
        elif reduction == "mean":
            g = g / d
        return g * _picked_dx(xp, x, p, logits)

    def vjp_w(xp, g, out, x, target, weight, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        _, q, y, d = _picked_parts(xp, x, target, weight, ignore_index, label_smoothing, reduction)
        ax = _class_axis(x)
        others = tuple(i for i in range(len(x.shape)) if i != ax)
        if reduction == "none":
            g = _unsqueeze(xp, g, ax)
        elif reduction == "mean":
            g = g / d
        grad = -(g * q * _log_probs(xp, x, logits))
        if reduction == "mean":   # the denominator D = Σ w[target] moves with w too
            grad = grad - (g * out) * y
        return xp.sum(grad, axis=others) if others else grad

    def jvp_x(xp, t, out, x, target, weight, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        p, _, _, d = _picked_parts(xp, x, target, weight, ignore_index, label_smoothing, reduction)
        dl = t * _picked_dx(xp, x, p, logits)
        if reduction == "none":
            return xp.sum(dl, axis=_class_axis(x))
        return xp.sum(dl) / d if reduction == "mean" else xp.sum(dl)

    def jvp_w(xp, t, out, x, target, weight, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        _, q, y, d = _picked_parts(xp, x, target, weight, ignore_index, label_smoothing, reduction)
        ax = _class_axis(x)
        tb = _along(xp, t, x, ax)
        dl = -(tb * q * _log_probs(xp, x, logits))
        if reduction == "none":
            return xp.sum(dl, axis=ax)
        if reduction == "sum":
            return xp.sum(dl)
        return (xp.sum(dl) - out * xp.sum(tb * y)) / d

    op.defvjp(vjp_x, None, vjp_w)
    op.defjvp(jvp_x, None, jvp_w)


@defop("cross_entropy")
def cross_entropy_op(xp, x, target, weight, /, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits ``x`` (C,), (N, C) or (N, C, d1, ...) and integer class indices ``target``.

    ``weight`` (C,) or ``None``; targets equal to ``ignore_index`` count for nothing;
    ``label_smoothing`` mixes the one-hot targets with the uniform distribution.
    """
    return _picked_loss(xp, "cross_entropy", True, x, target, weight, ignore_index, reduction,
                        label_smoothing)


@defop("nll_loss")
def nll_loss_op(xp, x, target, weight, /, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``x`` at integer class indices ``target``."""
    return _picked_loss(xp, "nll_loss", False, x, target, weight, ignore_index, reduction, 0.0)


_picked_rules(cross_entropy_op, True)
_picked_rules(nll_loss_op, False)


# ---------------------------------------------------------------- class probabilities


def _probs_parts(xp, x, target, weight, label_smoothing):
    """``(P, Q)``: Q the smoothed probabilities, P = w·Q."""
    c = x.shape[_class_axis(x)]
    q = target if not label_smoothing else target * (1 - label_smoothing) + label_smoothing / c
    return (q if weight is None else q * _along(xp, weight, x, _class_axis(x))), q


def _probs_count(x, reduction):
    """"mean" divides by the number of class distributions: the size of x over C."""
    if reduction != "mean":
        return 1
    shape = tuple(x.shape)
    return (math.prod(shape) // shape[_class_axis(x)]) if math.prod(shape) else 1


@defop("cross_entropy_probs")
def cross_entropy_probs_op(xp, x, target, weight, /, *, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits ``x`` and class probabilities ``target`` of the same shape.

    ``−Σ_c w·q·log_softmax(x)`` with ``q = (1 − ε)·target + ε/C``; "mean" divides by the
    number of distributions (N·d1·...), as PyTorch.
    """
    name = "cross_entropy"
    _check_reduction(name, reduction)
    _check_smoothing(name, label_smoothing)
    _check_probs_target(name, xp, x, target, weight)
    x, target, weight = _promote(xp, x, target, weight)
    p, _ = _probs_parts(xp, x, target, weight, label_smoothing)
    pl = p * call(log_softmax, xp, x, axis=_class_axis(x))
    if reduction == "none":
        return -xp.sum(pl, axis=_class_axis(x))
    total = -xp.sum(pl)
    return total / _probs_count(x, reduction) if reduction == "mean" else total


def _check_probs_target(name: str, xp: Any, x: Any, target: Any, weight: Any) -> None:
    xs = tuple(x.shape)
    if not xs:
        raise ShapeError(f"{name}: input of shape () has no class axis; expected (C,), (N, C) or "
                         "(N, C, d1, ...)")
    if tuple(target.shape) != xs:
        expected = () if len(xs) == 1 else (xs[0],) + xs[2:]
        raise ShapeError(f"{name}: a target of class probabilities must have the input's shape {xs}, got "
                         f"{tuple(target.shape)} (class indices would have shape {expected} and an "
                         "integer dtype)")
    if weight is not None and tuple(weight.shape) != (xs[_class_axis(x)],):
        raise ShapeError(f"{name}: weight must have one entry per class, shape ({xs[_class_axis(x)]},), "
                         f"got {tuple(weight.shape)}")


def _probs_g(xp, g, x, reduction):
    """The cotangent on each row's loss: expanded along the class axis, or divided for the mean."""
    if reduction == "none":
        return _unsqueeze(xp, g, _class_axis(x))
    n = _probs_count(x, reduction)
    return g if n == 1 else g / n


def _probs_total(xp, dl, x, reduction):
    if reduction == "none":
        return xp.sum(dl, axis=_class_axis(x))
    n = _probs_count(x, reduction)
    return xp.sum(dl) if n == 1 else xp.sum(dl) / n


def _probs_dx(xp, x, target, weight, label_smoothing):
    ax = _class_axis(x)
    p, _ = _probs_parts(xp, x, target, weight, label_smoothing)
    return xp.sum(p, axis=ax, keepdims=True) * call(softmax, xp, x, axis=ax) - p


def _probs_dtarget(xp, x, weight, label_smoothing):
    ax = _class_axis(x)
    d = call(log_softmax, xp, x, axis=ax) * -(1 - label_smoothing)
    return d if weight is None else d * _along(xp, weight, x, ax)


def _probs_vjp_w(xp, g, out, x, target, weight, *, reduction="mean", label_smoothing=0.0):
    ax = _class_axis(x)
    _, q = _probs_parts(xp, x, target, None, label_smoothing)
    grad = -(_probs_g(xp, g, x, reduction) * q * call(log_softmax, xp, x, axis=ax))
    others = tuple(i for i in range(len(x.shape)) if i != ax)
    return xp.sum(grad, axis=others) if others else grad


def _probs_jvp_w(xp, t, out, x, target, weight, *, reduction="mean", label_smoothing=0.0):
    ax = _class_axis(x)
    _, q = _probs_parts(xp, x, target, None, label_smoothing)
    return _probs_total(xp, -(_along(xp, t, x, ax) * q * call(log_softmax, xp, x, axis=ax)), x, reduction)


cross_entropy_probs_op.defvjp(
    lambda xp, g, out, x, target, weight, *, reduction="mean", label_smoothing=0.0:
        _probs_g(xp, g, x, reduction) * _probs_dx(xp, x, target, weight, label_smoothing),
    lambda xp, g, out, x, target, weight, *, reduction="mean", label_smoothing=0.0:
        _probs_g(xp, g, x, reduction) * _probs_dtarget(xp, x, weight, label_smoothing),
    _probs_vjp_w)
cross_entropy_probs_op.defjvp(
    lambda xp, t, out, x, target, weight, *, reduction="mean", label_smoothing=0.0:
        _probs_total(xp, t * _probs_dx(xp, x, target, weight, label_smoothing), x, reduction),
    lambda xp, t, out, x, target, weight, *, reduction="mean", label_smoothing=0.0:
        _probs_total(xp, t * _probs_dtarget(xp, x, weight, label_smoothing), x, reduction),
    _probs_jvp_w)


# ---------------------------------------------------------------- samples

_EXTREME_LOGITS = uniform(-1e4, 1e4, 3, 4)
for _op in (cross_entropy_op, nll_loss_op):
    _op.defsamples(
        S((randn(4, 5), ints(0, 5, 4), None)),
        S((randn(4, 5), ints(0, 5, 4), None), {"reduction": "none"}),
        S((randn(4, 5), ints(0, 5, 4), None), {"reduction": "sum"}),
        S((randn(2, 4, 3), ints(0, 4, 2, 3), None), {"reduction": "none"}),
        S((randn(2, 3, 2, 2), ints(0, 3, 2, 2, 2), None)),
        S((randn(5,), ints(0, 5), None)),
        S((randn(6, 3), ints(0, 3, 6), pos(3))),
        S((randn(6, 3), ints(0, 3, 6), pos(3)), {"reduction": "none"}),
        S((randn(2, 3, 4), ints(0, 3, 2, 4), pos(3)), {"reduction": "sum"}),
        S((randn(8, 3), ints(0, 3, 8), None), {"ignore_index": 1}),
        S((randn(8, 3), ints(0, 3, 8), pos(3)), {"ignore_index": 0, "reduction": "none"}),
        S((randn(8, 3), ints(0, 3, 8), pos(3)), {"ignore_index": 2}),
        S((_EXTREME_LOGITS, ints(0, 4, 3), None), grad=False, note="logits of ±1e4 stay finite"),
        S((_EXTREME_LOGITS, ints(0, 4, 3), None), {"reduction": "none"}, grad=False,
          note="logits of ±1e4 stay finite"))
cross_entropy_op.defsamples(
    S((randn(4, 5), ints(0, 5, 4), None), {"label_smoothing": 0.1}),
    S((randn(2, 3, 2), ints(0, 3, 2, 2), None), {"label_smoothing": 0.2, "reduction": "none"}),
    S((randn(6, 3), ints(0, 3, 6), pos(3)), {"label_smoothing": 0.3, "ignore_index": 1}),
    S((randn(6, 3), ints(0, 3, 6), pos(3)), {"label_smoothing": 0.3, "reduction": "sum"}))
_PROBS = uniform(0.0, 1.0, 4, 5)
cross_entropy_probs_op.defsamples(
    S((randn(4, 5), _PROBS, None)), S((randn(4, 5), _PROBS, None), {"reduction": "none"}),
    S((randn(4, 5), _PROBS, None), {"reduction": "sum", "label_smoothing": 0.2}),
    S((randn(2, 3, 2), uniform(0.0, 1.0, 2, 3, 2), pos(3))),
    S((randn(5,), uniform(0.0, 1.0, 5), pos(5)), {"reduction": "none"}),
    S((randn(4, 5), _PROBS, pos(5)), {"label_smoothing": 0.1}),
    S((_EXTREME_LOGITS, uniform(0.0, 1.0, 3, 4), None), grad=False, note="logits of ±1e4 stay finite"))

for _op in (mse_loss_op, l1_loss_op):
    _op.defsamples(S((randn(3, 4), randn(3, 4))), S((randn(3, 4), randn(3, 4)), {"reduction": "none"}),
                   S((randn(5,), randn(5,)), {"reduction": "sum"}), S((randn(), randn())))
huber_loss_op.defsamples(
    S((randn(3, 4), randn(3, 4))), S((randn(3, 4), randn(3, 4)), {"reduction": "none", "delta": 0.5}),
    S((uniform(-3, 3, 5,), randn(5,)), {"reduction": "sum", "delta": 2.0}), S((randn(), randn())))
smooth_l1_loss_op.defsamples(
    S((randn(3, 4), randn(3, 4))), S((randn(3, 4), randn(3, 4)), {"reduction": "none", "beta": 0.5}),
    S((uniform(-3, 3, 5,), randn(5,)), {"reduction": "sum", "beta": 2.0}),
    S((randn(3, 4), randn(3, 4)), {"beta": 0.0}))
kl_div_op.defsamples(
    S((randn(3, 4), pos(3, 4))), S((randn(3, 4), pos(3, 4)), {"reduction": "none"}),
    S((randn(3, 4), pos(3, 4)), {"reduction": "batchmean"}), S((randn(5,), pos(5)), {"reduction": "sum"}),
    S((randn(3, 4), randn(3, 4)), {"log_target": True}),
    S((randn(3, 4), randn(3, 4)), {"log_target": True, "reduction": "none"}))
_P = uniform(0.05, 0.95, 3, 4)
binary_cross_entropy_op.defsamples(
    S((_P, uniform(0, 1, 3, 4), None)), S((_P, uniform(0, 1, 3, 4), None), {"reduction": "none"}),
    S((_P, uniform(0, 1, 3, 4), pos(3, 4)), {"reduction": "sum"}),
    S((_P, uniform(0, 1, 3, 4), pos(4,))),
    S((("values", [0.0, 1.0, 1e-30, 0.5]), ("values", [1.0, 0.0, 1.0, 0.5]), None), {"reduction": "none"},
      grad=False, note="log clamped at −100"))
binary_cross_entropy_with_logits_op.defsamples(
    S((randn(3, 4), uniform(0, 1, 3, 4), None, None)),
    S((randn(3, 4), uniform(0, 1, 3, 4), None, None), {"reduction": "none"}),
    S((randn(3, 4), uniform(0, 1, 3, 4), pos(3, 4), None), {"reduction": "sum"}),
    S((randn(3, 4), uniform(0, 1, 3, 4), None, pos(4,))),
    S((randn(3, 4), uniform(0, 1, 3, 4), pos(4,), pos(4,)), {"reduction": "none"}),
    S((_EXTREME_LOGITS, uniform(0, 1, 3, 4), None, None), {"reduction": "none"}, grad=False,
      note="logits of ±1e4 stay finite"))


# ================================================================ functional forms


def _legacy_reduction(name: str, size_average: Any, reduce: Any, reduction: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` pair, turned into a ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn(f"{name}: size_average and reduce are deprecated; use reduction='none'|'mean'|'sum'",
                  DeprecationWarning, stacklevel=3)
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _as_tensor(name: str, what: str, v: Any, like: Any, optional: bool = False) -> Any:
    """``v`` as a Tensor on ``like``'s device (arrays and nested lists are converted)."""
    if isinstance(v, Tensor) or (v is None and optional):
        return v
    if v is None or isinstance(v, (str, bytes, dict)):
        raise DTypeError(f"{name}: {what} must be a tensor, got {type(v).__name__}")
    import xpgrad

    return xpgrad.asarray(v, device=like.device if isinstance(like, Tensor) else None)


def _check_class_values(name: str, x: Tensor, target: Tensor, ignore_index: int) -> None:
    """Every target is a class index in [0, C) or ``ignore_index`` (reads one flag from the device)."""
    c = x.shape[_class_axis(x)]
    xp = target._b.xp
    t = target.data
    bad = xp.logical_or(t < 0, t >= c)
    if not bool(xp.any(bad)):
        return
    bad = xp.logical_and(bad, t != ignore_index)
    if not bool(xp.any(bad)):
        return
    n = int(xp.sum(xp.astype(bad, xp.int64)))
    lo = int(xp.min(xp.where(bad, t, xp.zeros_like(t))))
    hi = int(xp.max(xp.where(bad, t, xp.zeros_like(t))))
    example = hi if hi >= c else lo
    raise IndexOutOfBoundsError(
        f"{name}: target holds class index {example} ({n} target(s) out of range), but the input has "
        f"C = {c} classes (valid indices 0 to {c - 1}, or ignore_index={ignore_index}); check the "
        "labels or the number of classes of the model")


def _check_probabilities(name: str, x: Tensor) -> None:
    """Every input is a probability in [0, 1] (reads one flag from the device; nan fails too)."""
    xp, v = x._b.xp, x.data
    inside = xp.logical_and(v >= 0, v <= 1)
    if bool(xp.all(inside)):
        return
    bad = xp.where(inside, xp.zeros_like(v), v)
    example = float(xp.max(bad)) if bool(xp.any(bad > 1)) else float(xp.min(bad))
    if bool(xp.any(xp.isnan(v))):
        example = math.nan
    raise OpError(f"{name}: input must hold probabilities in [0, 1], got {example!r} among "
                  f"{describe(x)}; for logits use binary_cross_entropy_with_logits")


def cross_entropy(input: Any, target: Any, weight: Any = None, size_average: Any = None,
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Any:
    """Cross-entropy between logits ``input`` and ``target``, as ``torch.nn.functional.cross_entropy``.

    ``input`` is (C,), (N, C) or (N, C, d1, ...). ``target`` is either integer class
    indices of shape (), (N,) or (N, d1, ...) — each in [0, C) or ``ignore_index`` — or
    floating class probabilities of the input's shape. ``weight`` (C,) rescales classes;
    with indices, "mean" divides by the summed weights of the targets not ignored.
    Logits of ±1e4 give finite losses and gradients.

    >>> import xpgrad as xg
    >>> round(float(cross_entropy(xg.asarray([[0.0, 0.0]]), xg.asarray([1]))), 6)
    0.693147
    """
    name = "cross_entropy"
    reduction = _legacy_reduction(name, size_average, reduce, reduction)
    _check_reduction(name, reduction)
    input = _as_tensor(name, "input", input, None)
    target = _as_tensor(name, "target", target, input)
    weight = _as_tensor(name, "weight", weight, input, True)
    if isinstance(input, Tensor) and isinstance(target, Tensor) \
            and target._b.xp.isdtype(target.dtype, "real floating"):
        return cross_entropy_probs_op(input, target, weight, reduction=reduction,
                                      label_smoothing=label_smoothing)
    _check_index_target(name, input._b.xp, input, target, weight)
    _check_class_values(name, input, target, ignore_index)
    return cross_entropy_op(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                            label_smoothing=label_smoothing)


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: Any = None,
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Any:
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``.

    Shapes as in :func:`cross_entropy` with index targets; ``nll_loss(log_softmax(x, 1), t)``
    equals ``cross_entropy(x, t)``.

    >>> import xpgrad as xg
    >>> float(nll_loss(xg.asarray([[-1.0, -2.0]]), xg.asarray([1])))
    2.0
    """
    name = "nll_loss"
    reduction = _legacy_reduction(name, size_average, reduce, reduction)
    _check_reduction(name, reduction)
    input = _as_tensor(name, "input", input, None)
    target = _as_tensor(name, "target", target, input)
    weight = _as_tensor(name, "weight", weight, input, True)
    _check_index_target(name, input._b.xp, input, target, weight)
    _check_class_values(name, input, target, ignore_index)
    return nll_loss_op(input, target, weight, ignore_index=ignore_index, reduction=reduction)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, size_average: Any = None,
                         reduce: Any = None, reduction: str = "mean") -> Any:
    """``−weight·(target·log(input) + (1 − target)·log(1 − input))``, logs clamped at −100.

    ``input`` holds probabilities; ``target`` has its shape; ``weight`` broadcasts to it.

    >>> import xpgrad as xg
    >>> round(float(binary_cross_entropy(xg.asarray([0.5]), xg.asarray([1.0]))), 6)
    0.693147
    """
    name = "binary_cross_entropy"
    reduction = _legacy_reduction(name, size_average, reduce, reduction)
    input = _as_tensor(name, "input", input, None)
    _check_probabilities(name, input)
    return binary_cross_entropy_op(input, _as_tensor(name, "target", target, input),
                                   _as_tensor(name, "weight", weight, input, True), reduction=reduction)


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None, size_average: Any = None,
                                     reduce: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Any:
    """Binary cross-entropy of ``sigmoid(input)``, computed from the logits without overflow.

    ``pos_weight`` (broadcast along the last axis, e.g. one per class) weighs the positive term.

    >>> import xpgrad as xg
    >>> round(float(binary_cross_entropy_with_logits(xg.asarray([0.0]), xg.asarray([1.0]))), 6)
    0.693147
    """
    name = "binary_cross_entropy_with_logits"
    reduction = _legacy_reduction(name, size_average, reduce, reduction)
    input = _as_tensor(name, "input", input, None)
    return binary_cross_entropy_with_logits_op(
        input, _as_tensor(name, "target", target, input), _as_tensor(name, "weight", weight, input, True),
        _as_tensor(name, "pos_weight", pos_weight, input, True), reduction=reduction)


def mse_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,
             reduction: str = "mean") -> Any:
    """Mean (or summed, or elementwise) squared error; ``target`` must have the input's shape.

    >>> import xpgrad as xg
    >>> float(mse_loss(xg.asarray([1.0, 2.0]), xg.asarray([0.0, 0.0])))
    2.5
    """
    reduction = _legacy_reduction("mse_loss", size_average, reduce, reduction)
    input = _as_tensor("mse_loss", "input", input, None)
    return mse_loss_op(input, _as_tensor("mse_loss", "target", target, input), reduction=reduction)


def l1_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,
            reduction: str = "mean") -> Any:
    """Mean (or summed, or elementwise) absolute error; ``target`` must have the input's shape.

    >>> import xpgrad as xg
    >>> float(l1_loss(xg.asarray([1.0, -2.0]), xg.asarray([0.0, 0.0])))
    1.5
    """
    reduction = _legacy_reduction("l1_loss", size_average, reduce, reduction)
    input = _as_tensor("l1_loss", "input", input, None)
    return l1_loss_op(input, _as_tensor("l1_loss", "target", target, input), reduction=reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Any:
    """Huber loss of ``d = input − target``: ``0.5·d²`` for ``|d| ≤ delta``, else ``delta·(|d| − delta/2)``.

    >>> import xpgrad as xg
    >>> huber_loss(xg.asarray([0.5, 3.0]), xg.asarray([0.0, 0.0]), reduction="none").tolist()
    [0.125, 2.5]
    """
    input = _as_tensor("huber_loss", "input", input, None)
    return huber_loss_op(input, _as_tensor("huber_loss", "target", target, input), reduction=reduction,
                         delta=delta)


def smooth_l1_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,
                   reduction: str = "mean", beta: float = 1.0) -> Any:
    """Smooth L1: ``0.5·d²/beta`` for ``|d| < beta``, ``|d| − 0.5·beta`` beyond; ``beta = 0`` is L1.

    >>> import xpgrad as xg
    >>> smooth_l1_loss(xg.asarray([0.5, 3.0]), xg.asarray([0.0, 0.0]), reduction="none").tolist()
    [0.125, 2.5]
    """
    reduction = _legacy_reduction("smooth_l1_loss", size_average, reduce, reduction)
    input = _as_tensor("smooth_l1_loss", "input", input, None)
    return smooth_l1_loss_op(input, _as_tensor("smooth_l1_loss", "target", target, input),
                             reduction=reduction, beta=beta)


def kl_div(input: Any, target: Any, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
           log_target: bool = False) -> Any:
    """Kullback-Leibler divergence ``Σ target·(log target − input)``, ``input`` being log-probabilities.

    ``log_target=True`` takes ``target`` as log-probabilities too. ``reduction='batchmean'``
    divides the sum by the batch size (the true KL divergence per sample); ``'mean'``
    divides by the number of elements, as PyTorch.

    >>> import math, xpgrad as xg
    >>> float(kl_div(xg.log(xg.asarray([0.5, 0.5])), xg.asarray([0.5, 0.5]), reduction="sum"))
    0.0
    """
    reduction = _legacy_reduction("kl_div", size_average, reduce, reduction)
    input = _as_tensor("kl_div", "input", input, None)
    return kl_div_op(input, _as_tensor("kl_div", "target", target, input), reduction=reduction,
                     log_target=log_target)
