"""NumPy kernels for pooling and the softmax family (conv2d's are in ``conv.py``).

Each has the signature of its op's forward rule and returns what the generic
forward returns (``tests/backends/test_numpy.py`` checks both on many shapes);
``benchmarks/numpy_kernels.py`` times one against the other.

* ``max_pool2d`` / ``avg_pool2d``: separable reductions (down the columns, then
  along the rows), written in place (the generic forward reduces kh·kw strided
  slices, allocating at each step).
* ``softmax``, ``log_softmax``, ``logsumexp``: the same arithmetic as the generic
  ops, shifted by the maximum, with the full-size temporaries reused in place
  (softmax multiplies by the reciprocal of the sum: within an ulp of dividing).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .conv import im2col as conv2d   # the im2col kernel, under the name it had here

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "softmax", "log_softmax", "logsumexp", "KERNELS"]


def _nn() -> Any:
    """The op module (shape checks and generic forwards); imported late, as ops load after backends."""
    from ...ops import nn

    return nn


def _reduction() -> Any:
    from ...ops import reduction

    return reduction


def _padded(x: np.ndarray, pad: tuple[int, int], fill: Any) -> np.ndarray:
    """``x`` padded by ``pad`` on both sides of its last two axes: one allocation, one copy."""
    ph, pw = pad
    if not ph and not pw:
        return x
    n, c, h, w = x.shape
    out = np.empty((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    out[:, :, :ph] = fill
    out[:, :, ph + h:] = fill
    out[:, :, ph:ph + h, :pw] = fill
    out[:, :, ph:ph + h, pw + w:] = fill
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


# ---------------------------------------------------------------- pooling


def _pool(x: np.ndarray, geo: Any, fill: Any, ufunc: Any) -> np.ndarray:
    """Reduce every window with ``ufunc``, separably: down the columns, then along the rows.

    The first pass reads whole rows (contiguous, vectorised), the second only the
    reduced rows with the column stride; each pass writes its result in place.
    """
    (kh, kw), (sh, sw), (ho, wo) = geo.kernel, geo.stride, geo.out
    x = _padded(x, geo.padding, fill)
    cols = (wo - 1) * sw + kw   # padded columns any window reads
    r = _reduce([x[:, :, i:i + (ho - 1) * sh + 1:sh, :cols] for i in range(kh)], ufunc)
    if kw == 1 and sw == 1:
        return r
    return _reduce([r[:, :, :, j:j + (wo - 1) * sw + 1:sw] for j in range(kw)], ufunc)


def _reduce(taps: list, ufunc: Any) -> np.ndarray:
    """``ufunc`` over ``taps`` into one fresh array (never a view of a tap)."""
    if len(taps) == 1:
        return taps[0].copy()
    out = ufunc(taps[0], taps[1])
    for t in taps[2:]:
        ufunc(out, t, out=out)
    return out


def max_pool2d(xp: Any, x: Any, /, *, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """``max_pool2d`` with in-place maxima, separable over rows and columns."""
    nn = _nn()
    if x.dtype.kind not in "fiu":
        return nn.max_pool2d.forward(xp, x, kernel_size=kernel_size, stride=stride, padding=padding)
    geo = nn.pool2d_geometry("max_pool2d", x.shape, kernel_size, stride, padding)
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    return _pool(x, geo, fill, np.maximum)


def avg_pool2d(xp: Any, x: Any, /, *, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """``avg_pool2d`` with in-place sums, separable over rows and columns."""
    nn = _nn()
    if x.dtype.kind != "f":
        return nn.avg_pool2d.forward(xp, x, kernel_size=kernel_size, stride=stride, padding=padding)
    geo = nn.pool2d_geometry("avg_pool2d", x.shape, kernel_size, stride, padding)
    out = _pool(x, geo, 0, np.add)
    out /= geo.kernel[0] * geo.kernel[1]
    return out


# ---------------------------------------------------------------- softmax family


def _shift(x: np.ndarray, axis: Any) -> np.ndarray:
    """The maximum along ``axis`` (kept), with non-finite maxima replaced by 0, as the generic ops do."""
    m = np.asarray(x.max(axis=axis, keepdims=True))   # of a 0-d x, NumPy returns a scalar
    bad = ~np.isfinite(m)
    if bad.any():
        m[bad] = 0
    return m


def softmax(xp: Any, x: Any, /, *, axis: int = -1) -> Any:
    """``softmax`` with one full-size array: shift, exp, normalise in place."""
    if x.dtype.kind != "f":
        return _nn().softmax.forward(xp, x, axis=axis)
    e = np.subtract(x, _shift(x, axis))
    np.exp(e, out=e)
    s = e.sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):   # an all −inf slice: e = 0 and 0·(1/0) = nan, as 0/0
        e *= np.reciprocal(s, out=s)     # one division per slice, a product per entry
    return e


def log_softmax(xp: Any, x: Any, /, *, axis: int = -1) -> Any:
    """``log_softmax`` with two full-size arrays (the shifted input and its exp)."""
    if x.dtype.kind != "f":
        return _nn().log_softmax.forward(xp, x, axis=axis)
    z = np.subtract(x, _shift(x, axis))
    s = np.exp(z).sum(axis=axis, keepdims=True)
    z -= np.log(s, out=s)
    return z


def logsumexp(xp: Any, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
    """``logsumexp`` with one full-size array; −inf (no warning) where every input is −inf."""
    if x.dtype.kind != "f":
        return _reduction().logsumexp.forward(xp, x, axis=axis, keepdims=keepdims)
    m = _shift(x, axis)
    e = np.asarray(np.subtract(x, m))
    np.exp(e, out=e)
    s = np.asarray(e.sum(axis=axis, keepdims=True))
    empty = s == 0
    if empty.any():
        np.log(s, out=s, where=~empty)
        s[empty] = -np.inf
    else:
        np.log(s, out=s)
    s += m
    if keepdims:
        return s
    axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    drop = {a % x.ndim for a in axes} if x.ndim else set()
    return s.reshape(tuple(d for i, d in enumerate(x.shape) if i not in drop))


KERNELS = {"max_pool2d": max_pool2d, "avg_pool2d": avg_pool2d,
           "softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp}
