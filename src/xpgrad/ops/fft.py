"""The fft extension, with gradients.

Exported under ``xpgrad.fft`` (the names in ``FFT``), not in the main namespace. Every
function has the standard's signature; the forward rules call ``xp.fft.*`` of the backend
after checking the arguments, so a bad axis, length or norm is an xpgrad error naming the
function, never the backend's traceback.

Every transform is R-linear, so its JVP is the transform of the tangent. The VJP is the
adjoint under the real inner product ``Re Σ conj(a)·b`` (the conjugate-Wirtinger convention,
as in PyTorch); for these maps it is again a transform:

* **Norms.** With ``F`` the unnormalised DFT, ``fft`` is ``F``, ``F/√n`` or ``F/n`` for
  ``norm`` = "backward", "ortho", "forward", and ``ifft`` is ``Fᴴ/n``, ``Fᴴ/√n``, ``Fᴴ``.
  So the adjoint of ``fft(norm=m)`` is ``ifft(norm=dual(m))`` with dual swapping "backward"
  and "forward" (and keeping "ortho"); e.g. ``Fᴴ = n·ifft(backward) = ifft(forward)``.
* **Lengths.** ``n`` (or ``s``) first crops or zero-pads the input along the axis: a
  selection ``P``. Its adjoint ``Pᵀ`` zero-pads what was cropped and crops what was padded,
  i.e. resizes the cotangent back to the input's length (:func:`_resize`).
* **The half spectrum** (``rfft``: real ``x`` of length n to ``h = n//2 + 1`` bins). ``rfft``
  is ``R F`` with ``R`` keeping the first ``h`` bins, so its adjoint is ``Re(Fᴴ Rᵀ ḡ)``:
  ``Σ_{j<h} Re(ḡ_j e^{2πijk/n})``. ``irfft`` of a half spectrum ``Y`` is instead
  ``(1/n)[Re Y₀ + Re Y_{n/2}(−1)ᵏ + 2 Re Σ_{0<j<n/2} Y_j e^{2πijk/n}]`` (the Nyquist term only
  for even n): the bins other than DC and Nyquist stand for themselves *and* their mirror
  images, so they count twice, and the imaginary parts of DC and Nyquist are ignored.
  Hence ``adjoint(rfft)(ḡ) = n·irfft(w·ḡ)`` with ``w = 1`` on DC (and Nyquist for even n)
  and ``w = ½`` on the others, and conversely ``adjoint(irfft)(ḡ) = (1/n)·w'·rfft(ḡ)`` with
  ``w' = 1`` on DC/Nyquist and ``2`` on the others (:func:`_weight_interior`). The adjoint of
  ``irfft`` has zero imaginary part on DC/Nyquist: those parts do not affect the result.
  In ``rfftn``/``irfftn`` the half axis is the last of ``axes``; the full transforms over the
  other axes commute with the weights.
* ``hfft(a) = irfft(conj(a))`` and ``ihfft(x) = conj(rfft(x))`` with dual norms, so their
  adjoints are ``w'·ihfft`` and ``hfft(w·…)`` with dual norms (the two conjugations cancel).
* ``fftshift``/``ifftshift`` are rolls by ``±(size//2)``: each is the other's adjoint.

Real input to the complex-to-complex transforms (and to ``irfft``/``hfft``) is promoted to
the complex dtype of the same precision, as the standard asks; the engine returns the real
part of the gradient to a real input. Devices without complex dtypes (OpenCL, in this
project) cannot hold a spectrum: the transforms raise a :class:`DTypeError` saying so;
``fftshift``, ``ifftshift``, ``fftfreq`` and ``rfftfreq`` work there.

>>> import xpgrad as xg
>>> x = xg.asarray([1.0, 2.0, 0.0, -1.0], requires_grad=True)
>>> y = xg.fft.rfft(x)
>>> [complex(v) for v in y]
[(2+0j), (1-3j), 0j]
>>> xg.sum(xg.abs(y) ** 2).backward()   # 2·Re Σ_j y_j e^{2πijk/4} over the kept bins j = 0, 1, 2
>>> [float(v) for v in x.grad]
[6.0, 10.0, 2.0, -2.0]
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

from ..core.errors import DTypeError, OpError, ShapeError, describe
from ..core.registry import defop
from ._structure import S, call, crandn, randn

FFT: tuple[str, ...] = ("fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft",
                        "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift")

_NORMS = ("backward", "ortho", "forward")
# The adjoint of a transform with norm m carries the dual scaling (module docstring).
_DUAL = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


# ---------------------------------------------------------------- argument checks


def _norm(name: str, norm: Any) -> str:
    if norm not in _NORMS:
        raise OpError(f"fft.{name}: norm={norm!r} is not one of 'backward', 'ortho', 'forward'")
    return norm


def _int(v: Any) -> int | None:
    """``v`` as a Python int if it is an integer (NumPy integers too, bools not), else None."""
    if isinstance(v, bool):
        return None
    try:
        return operator.index(v)
    except TypeError:
        return None


def _ints(name: str, what: str, v: Any, x: Any) -> tuple:
    try:
        return tuple(v)
    except TypeError:
        raise OpError(f"fft.{name}: {what}={v!r} must be a sequence of ints (input {describe(x)})") from None


def _length(name: str, what: str, n: Any, x: Any) -> int:
    k = _int(n)
    if k is None or k < 1:
        raise OpError(f"fft.{name}: {what}={n!r} must be a positive integer (input {describe(x)})")
    return k


def _axis(name: str, axis: Any, x: Any) -> int:
    nd = x.ndim
    if nd == 0:
        raise ShapeError(f"fft.{name}: the input {describe(x)} is 0-d; transforms need at least one axis")
    a = _int(axis)
    if a is None:
        raise OpError(f"fft.{name}: axis={axis!r} must be an int (input {describe(x)})")
    axis = a
    if not -nd <= axis < nd:
        raise ShapeError(f"fft.{name}: axis {axis} is out of range for an input of shape {tuple(x.shape)} "
                         f"(valid: {-nd} to {nd - 1})")
    return axis % nd


def _axes(name: str, axes: Any, x: Any) -> tuple[int, ...]:
    if axes is None:
        if x.ndim == 0:
            raise ShapeError(f"fft.{name}: the input {describe(x)} is 0-d; transforms need at least one axis")
        return tuple(range(x.ndim))
    seq = (axes,) if _int(axes) is not None else _ints(name, "axes", axes, x)
    out = tuple(_axis(name, a, x) for a in seq)
    if len(set(out)) != len(out):
        raise OpError(f"fft.{name}: axes={axes!r} repeats an axis (input {describe(x)}); name each once")
    return out


def _axes_s(name: str, x: Any, s: Any, axes: Any, *, half: bool = False) -> tuple[tuple, tuple]:
    """The transform's axes and output lengths, explicit: ``s`` entries of -1 (and ``s=None``)
    mean the input's length, or for ``half`` (irfftn's last axis) ``2·(m − 1)``."""
    if s is not None:
        s = _ints(name, "s", s, x)
    if s is not None and axes is None:
        raise OpError(f"fft.{name}: s={s!r} needs axes= as well (the standard requires both), "
                      f"e.g. axes={tuple(range(-len(s), 0))!r}")
    ax = _axes(name, axes, x)
    if not ax:
        raise OpError(f"fft.{name}: axes=() names no axis to transform (input {describe(x)})")
    if s is None:
        s = (-1,) * len(ax)
    if len(s) != len(ax):
        raise OpError(f"fft.{name}: s={s!r} and axes={ax!r} must have the same length")
    sizes = []
    for i, (a, k) in enumerate(zip(ax, s)):
        last = half and i == len(ax) - 1
        if _int(k) == -1:
            k = 2 * (x.shape[a] - 1) if last else x.shape[a]
            if k < 1:
                raise ShapeError(f"fft.{name}: axis {a} of the input {describe(x)} has length "
                                 f"{x.shape[a]}; give its output length in s")
        sizes.append(_length(name, f"s[{i}]", k, x))
    return ax, tuple(sizes)


_COMPLEX_OK: dict[str, bool] = {}


def _complex_ok(xp: Any, x: Any) -> bool:
    """Whether ``x``'s namespace and device can hold complex arrays (probed once per device)."""
    key = f"{getattr(xp, '__name__', id(xp))}@{x.device}"
    ok = _COMPLEX_OK.get(key)
    if ok is None:
        try:
            xp.zeros((1,), dtype=xp.complex64, device=x.device)
            ok = True
        except Exception:  # the backend refuses the dtype: OpenCL's DTypeError, or a library's own error
            ok = False
        _COMPLEX_OK[key] = ok
    return ok


def _need_complex(name: str, xp: Any, x: Any) -> None:
    if not _complex_ok(xp, x):
        raise DTypeError(f"fft.{name}: the input {describe(x)} would need a complex array, and device "
                         f"{x.device} has no complex dtypes; move the data first, e.g. "
                         "x.to_device('cpu')")


def _complex_in(name: str, xp: Any, x: Any) -> Any:
    """``x`` as a complex array of its precision (the transforms that take a spectrum)."""
    if xp.isdtype(x.dtype, "complex floating"):
        return x
    if not xp.isdtype(x.dtype, "real floating"):
        raise DTypeError(f"fft.{name}: the input {describe(x)} must be floating-point (complex or real); "
                         "convert it with astype")
    _need_complex(name, xp, x)
    return xp.astype(x, xp.complex64 if x.dtype == xp.float32 else xp.complex128)


def _real_in(name: str, xp: Any, x: Any) -> Any:
    """``x`` checked real (the transforms of a real signal): a complex input would lose its
    imaginary part silently."""
    if xp.isdtype(x.dtype, "complex floating"):
        raise DTypeError(f"fft.{name}: the input {describe(x)} is complex, but {name} transforms a real "
                         "signal; use fft for complex input, or take real(x) first")
    if not xp.isdtype(x.dtype, "real floating"):
        raise DTypeError(f"fft.{name}: the input {describe(x)} must be real floating-point; convert it "
                         "with astype")
    _need_complex(name, xp, x)
    return x


# ---------------------------------------------------------------- rule helpers


def _take(a: Any, axis: int, start: int, stop: int) -> Any:
    return a[(slice(None),) * axis + (slice(start, stop), ...)]


def _resize(xp: Any, a: Any, axis: int, m: int) -> Any:
    """``a`` cropped or zero-padded to length ``m`` along ``axis``: the adjoint of the selection
    that ``n``/``s`` applied to the input (which cropped what this pads, and padded what this crops)."""
    k = a.shape[axis]
    if k > m:
        return _take(a, axis, 0, m)
    if k < m:
        shape = tuple(a.shape[:axis]) + (m - k,) + tuple(a.shape[axis + 1:])
        return xp.concat([a, xp.zeros(shape, dtype=a.dtype, device=a.device)], axis=axis)
    return a


def _resize_all(xp: Any, a: Any, shape: tuple) -> Any:
    for ax, m in enumerate(shape):
        a = _resize(xp, a, ax, m)
    return a


def _weight_interior(xp: Any, a: Any, axis: int, n: int, w: float) -> Any:
    """``a`` (a half spectrum of a length-``n`` signal along ``axis``) with the bins other than
    DC and Nyquist multiplied by ``w``: bins 1 … ⌈n/2⌉ − 1 (Nyquist, bin n/2, exists for even n)."""
    hi = (n + 1) // 2
    if hi <= 1:
        return a
    parts = [_take(a, axis, 0, 1), _take(a, axis, 1, hi) * w]
    if a.shape[axis] > hi:
        parts.append(_take(a, axis, hi, a.shape[axis]))
    return xp.concat(parts, axis=axis)


# ---------------------------------------------------------------- one-axis complex transforms


@defop("fft.fft")
def fft(xp, x, /, *, n=None, axis=-1, norm="backward"):
    """The one-dimensional discrete Fourier transform along ``axis`` (length ``n``: crop or zero-pad).

    >>> import xpgrad as xg
    >>> [complex(v) for v in xg.fft.fft(xg.asarray([1.0, 1.0, 0.0, 0.0]))]
    [(2+0j), (1-1j), 0j, (1+1j)]
    """
    ax = _axis("fft", axis, x)
    n = x.shape[ax] if n is None else _length("fft", "n", n, x)
    return xp.fft.fft(_complex_in("fft", xp, x), n=n, axis=ax, norm=_norm("fft", norm))


@defop("fft.ifft")
def ifft(xp, x, /, *, n=None, axis=-1, norm="backward"):
    """The one-dimensional inverse discrete Fourier transform along ``axis``.

    >>> import xpgrad as xg
    >>> [complex(v) for v in xg.fft.ifft(xg.asarray([2.0, 0.0]))]
    [(1+0j), (1+0j)]
    """
    ax = _axis("ifft", axis, x)
    n = x.shape[ax] if n is None else _length("ifft", "n", n, x)
    return xp.fft.ifft(_complex_in("ifft", xp, x), n=n, axis=ax, norm=_norm("ifft", norm))


def _c2c_vjp(adjoint):
    def rule(xp, g, out, x, *, n=None, axis=-1, norm="backward"):
        ax = axis % x.ndim
        return _resize(xp, call(adjoint, xp, g, axis=ax, norm=_DUAL[norm]), ax, x.shape[ax])
    return rule


def _linear_jvp(op):
    return lambda xp, t, out, x, **p: call(op, xp, t, **p)


fft.defvjp(_c2c_vjp(ifft))
fft.defjvp(_linear_jvp(fft))
ifft.defvjp(_c2c_vjp(fft))
ifft.defjvp(_linear_jvp(ifft))


# ---------------------------------------------------------------- n-dimensional complex transforms


@defop("fft.fftn")
def fftn(xp, x, /, *, s=None, axes=None, norm="backward"):
    """The n-dimensional discrete Fourier transform over ``axes`` (all by default), lengths ``s``.

    >>> import xpgrad as xg
    >>> complex(xg.fft.fftn(xg.ones((2, 3)))[0, 0])
    (6+0j)
    """
    ax, s = _axes_s("fftn", x, s, axes)
    return xp.fft.fftn(_complex_in("fftn", xp, x), s=s, axes=ax, norm=_norm("fftn", norm))


@defop("fft.ifftn")
def ifftn(xp, x, /, *, s=None, axes=None, norm="backward"):
    """The n-dimensional inverse discrete Fourier transform over ``axes`` (all by default).

    >>> import xpgrad as xg
    >>> complex(xg.fft.ifftn(xg.ones((2, 2)))[0, 0])
    (1+0j)
    """
    ax, s = _axes_s("ifftn", x, s, axes)
    return xp.fft.ifftn(_complex_in("ifftn", xp, x), s=s, axes=ax, norm=_norm("ifftn", norm))


def _c2cn_vjp(adjoint, name):
    def rule(xp, g, out, x, *, s=None, axes=None, norm="backward"):
        ax, _ = _axes_s(name, x, s, axes)
        return _resize_all(xp, call(adjoint, xp, g, axes=ax, norm=_DUAL[norm]), tuple(x.shape))
    return rule


fftn.defvjp(_c2cn_vjp(ifftn, "fftn"))
fftn.defjvp(_linear_jvp(fftn))
ifftn.defvjp(_c2cn_vjp(fftn, "ifftn"))
ifftn.defjvp(_linear_jvp(ifftn))


# ---------------------------------------------------------------- real signals, half spectra


@defop("fft.rfft")
def rfft(xp, x, /, *, n=None, axis=-1, norm="backward"):
    """The DFT of a real signal: the ``n//2 + 1`` non-negative-frequency bins.

    >>> import xpgrad as xg
    >>> [complex(v) for v in xg.fft.rfft(xg.asarray([1.0, 2.0, 3.0]))]
    [(6+0j), (-1.5+0.8660254037844386j)]
    """
    ax = _axis("rfft", axis, x)
    n = x.shape[ax] if n is None else _length("rfft", "n", n, x)
    return xp.fft.rfft(_real_in("rfft", xp, x), n=n, axis=ax, norm=_norm("rfft", norm))


def _irfft_n(name: str, x: Any, ax: int, n: Any) -> int:
    if n is not None:
        return _length(name, "n", n, x)
    if x.shape[ax] < 2:
        raise ShapeError(f"fft.{name}: the input {describe(x)} has {x.shape[ax]} bin(s) along axis {ax}, "
                         "so the default n = 2·(bins − 1) is not positive; give n")
    return 2 * (x.shape[ax] - 1)


@defop("fft.irfft")
def irfft(xp, x, /, *, n=None, axis=-1, norm="backward"):
    """The real signal of length ``n`` (default ``2·(bins − 1)``) whose half spectrum is ``x``.

    The imaginary parts of the DC bin (and of the Nyquist bin for even ``n``) do not affect
    the result, and get zero gradient.

    >>> import xpgrad as xg
    >>> [float(v) for v in xg.fft.irfft(xg.fft.rfft(xg.asarray([1.0, 2.0, 3.0])), n=3)]
    [1.0, 2.0, 3.0]
    """
    ax = _axis("irfft", axis, x)
    n = _irfft_n("irfft", x, ax, n)
    return xp.fft.irfft(_complex_in("irfft", xp, x), n=n, axis=ax, norm=_norm("irfft", norm))


def _rfft_vjp(xp, g, out, x, *, n=None, axis=-1, norm="backward"):
    # Re(Fᴴ Rᵀ ḡ) = irfft with the interior bins halved, as they count twice there
    ax = axis % x.ndim
    m = x.shape[ax]
    n = m if n is None else n
    r = call(irfft, xp, _weight_interior(xp, g, ax, n, 0.5), n=n, axis=ax, norm=_DUAL[norm])
    return _resize(xp, r, ax, m)


def _irfft_vjp(xp, g, out, x, *, n=None, axis=-1, norm="backward"):
    # the adjoint of the Hermitian reconstruction: rfft, interior bins doubled
    ax = axis % x.ndim
    m = x.shape[ax]
    n = 2 * (m - 1) if n is None else n
    r = call(rfft, xp, g, n=n, axis=ax, norm=_DUAL[norm])
    return _resize(xp, _weight_interior(xp, r, ax, n, 2.0), ax, m)


rfft.defvjp(_rfft_vjp)
rfft.defjvp(_linear_jvp(rfft))
irfft.defvjp(_irfft_vjp)
irfft.defjvp(_linear_jvp(irfft))


@defop("fft.rfftn")
def rfftn(xp, x, /, *, s=None, axes=None, norm="backward"):
    """The n-dimensional DFT of a real signal; the last of ``axes`` keeps ``s[-1]//2 + 1`` bins.

    >>> import xpgrad as xg
    >>> xg.fft.rfftn(xg.ones((2, 4))).shape
    (2, 3)
    """
    ax, s = _axes_s("rfftn", x, s, axes)
    return xp.fft.rfftn(_real_in("rfftn", xp, x), s=s, axes=ax, norm=_norm("rfftn", norm))


@defop("fft.irfftn")
def irfftn(xp, x, /, *, s=None, axes=None, norm="backward"):
    """The real n-dimensional signal whose half spectrum (along the last of ``axes``) is ``x``.

    >>> import xpgrad as xg
    >>> xg.fft.irfftn(xg.fft.rfftn(xg.ones((2, 5))), s=(2, 5), axes=(0, 1)).shape
    (2, 5)
    """
    ax, s = _axes_s("irfftn", x, s, axes, half=True)
    return xp.fft.irfftn(_complex_in("irfftn", xp, x), s=s, axes=ax, norm=_norm("irfftn", norm))


def _rfftn_vjp(xp, g, out, x, *, s=None, axes=None, norm="backward"):
    ax, s = _axes_s("rfftn", x, s, axes)
    w = _weight_interior(xp, g, ax[-1], s[-1], 0.5)
    return _resize_all(xp, call(irfftn, xp, w, s=s, axes=ax, norm=_DUAL[norm]), tuple(x.shape))


def _irfftn_vjp(xp, g, out, x, *, s=None, axes=None, norm="backward"):
    ax, s = _axes_s("irfftn", x, s, axes, half=True)
    r = _weight_interior(xp, call(rfftn, xp, g, s=s, axes=ax, norm=_DUAL[norm]), ax[-1], s[-1], 2.0)
    return _resize_all(xp, r, tuple(x.shape))


rfftn.defvjp(_rfftn_vjp)
rfftn.defjvp(_linear_jvp(rfftn))
irfftn.defvjp(_irfftn_vjp)
irfftn.defjvp(_linear_jvp(irfftn))


# ---------------------------------------------------------------- Hermitian signals


@defop("fft.hfft")
def hfft(xp, x, /, *, n=None, axis=-1, norm="backward"):
    """The real spectrum of a signal with Hermitian symmetry, given by its first half ``x``.

    >>> import xpgrad as xg
    >>> [float(v) for v in xg.fft.hfft(xg.asarray([1.0, 1.0]), n=3)]
    [3.0, 0.0, 0.0]
    """
    ax = _axis("hfft", axis, x)
    n = _irfft_n("hfft", x, ax, n)
    return xp.fft.hfft(_complex_in("hfft", xp, x), n=n, axis=ax, norm=_norm("hfft", norm))


@defop("fft.ihfft")
def ihfft(xp, x, /, *, n=None, axis=-1, norm="backward"):
    """The first half of the Hermitian inverse DFT of a real signal (the inverse of :func:`hfft`).

    >>> import xpgrad as xg
    >>> x = xg.asarray([3.0, 0.0, 1.0])
    >>> xg.fft.ihfft(x).shape
    (2,)
    >>> [round(float(v), 12) for v in xg.fft.hfft(xg.fft.ihfft(x), n=3)]
    [3.0, 0.0, 1.0]
    """
    ax = _axis("ihfft", axis, x)
    n = x.shape[ax] if n is None else _length("ihfft", "n", n, x)
    return xp.fft.ihfft(_real_in("ihfft", xp, x), n=n, axis=ax, norm=_norm("ihfft", norm))


def _hfft_vjp(xp, g, out, x, *, n=None, axis=-1, norm="backward"):
    # hfft(a) = irfft(conj a): the adjoint is conj of irfft's adjoint, i.e. ihfft, interior doubled
    ax = axis % x.ndim
    m = x.shape[ax]
    n = 2 * (m - 1) if n is None else n
    r = call(ihfft, xp, g, n=n, axis=ax, norm=_DUAL[norm])
    return _resize(xp, _weight_interior(xp, r, ax, n, 2.0), ax, m)


def _ihfft_vjp(xp, g, out, x, *, n=None, axis=-1, norm="backward"):
    # ihfft(x) = conj(rfft(x)): the adjoint is rfft's adjoint of conj ḡ, i.e. hfft, interior halved
    ax = axis % x.ndim
    m = x.shape[ax]
    n = m if n is None else n
    r = call(hfft, xp, _weight_interior(xp, g, ax, n, 0.5), n=n, axis=ax, norm=_DUAL[norm])
    return _resize(xp, r, ax, m)


hfft.defvjp(_hfft_vjp)
hfft.defjvp(_linear_jvp(hfft))
ihfft.defvjp(_ihfft_vjp)
ihfft.defjvp(_linear_jvp(ihfft))


# ---------------------------------------------------------------- shifts


def _shift_axes(name: str, x: Any, axes: Any) -> tuple[int, ...]:
    if x.ndim == 0:
        raise ShapeError(f"fft.{name}: the input {describe(x)} is 0-d; there is no axis to shift")
    return _axes(name, axes, x)


@defop("fft.fftshift")
def fftshift(xp, x, /, *, axes=None):
    """Move the zero-frequency bin to the middle: a roll by ``size//2`` along each of ``axes``.

    >>> import xpgrad as xg
    >>> [float(v) for v in xg.fft.fftshift(xg.asarray([0.0, 1.0, 2.0, -2.0, -1.0]))]
    [-2.0, -1.0, 0.0, 1.0, 2.0]
    """
    ax = _shift_axes("fftshift", x, axes)
    # a roll, not xp.fft.fftshift: every namespace has roll (OpenCL natively), not every one has fft
    return xp.roll(x, tuple(x.shape[a] // 2 for a in ax), axis=ax)


@defop("fft.ifftshift")
def ifftshift(xp, x, /, *, axes=None):
    """The inverse of :func:`fftshift`: a roll by ``-(size//2)`` along each of ``axes``.

    >>> import xpgrad as xg
    >>> [float(v) for v in xg.fft.ifftshift(xg.asarray([-2.0, -1.0, 0.0, 1.0, 2.0]))]
    [0.0, 1.0, 2.0, -2.0, -1.0]
    """
    ax = _shift_axes("ifftshift", x, axes)
    return xp.roll(x, tuple(-(x.shape[a] // 2) for a in ax), axis=ax)


# A roll's adjoint is the opposite roll.
fftshift.defvjp(lambda xp, g, out, x, axes=None: call(ifftshift, xp, g, axes=axes))
fftshift.defjvp(_linear_jvp(fftshift))
ifftshift.defvjp(lambda xp, g, out, x, axes=None: call(fftshift, xp, g, axes=axes))
ifftshift.defjvp(_linear_jvp(ifftshift))


# ---------------------------------------------------------------- sample frequencies


def _freqs(name: str, n: Any, d: Any, dtype: Any, device: Any) -> Any:
    from .._namespace import _backend, _dev, _dt, _make

    if _int(n) is None or n < 1:
        raise OpError(f"fft.{name}: n={n!r} must be a positive integer (the signal's length)")
    n = _int(n)
    if isinstance(d, bool) or not isinstance(d, numbers.Real) or d == 0 or not math.isfinite(d):
        raise OpError(f"fft.{name}: d={d!r} must be a finite non-zero number (the sample spacing)")
    b = _backend(device)
    dt = _dt(b, dtype)
    if dt is not None and not b.xp.isdtype(dt, "real floating"):
        raise DTypeError(f"fft.{name}: dtype={dtype!r} must be a real floating-point dtype")
    kw = {} if dt is None else {"dtype": dt}
    return _make(getattr(b.xp.fft, name)(n, d=float(d), **kw, **_dev(b)), b, False)


def fftfreq(n: int, /, *, d: float = 1.0, dtype: Any = None, device: Any = None) -> Any:
    """The frequencies of the bins of :func:`fft` for ``n`` samples spaced ``d`` apart.

    ``[0, 1, …, ⌈n/2⌉ − 1, −⌊n/2⌋, …, −1] / (d·n)``; a creation function (never requires grad).

    >>> import xpgrad as xg
    >>> [float(v) for v in xg.fft.fftfreq(4, d=0.5)]
    [0.0, 0.5, -1.0, -0.5]
    """
    return _freqs("fftfreq", n, d, dtype, device)


def rfftfreq(n: int, /, *, d: float = 1.0, dtype: Any = None, device: Any = None) -> Any:
    """The frequencies of the bins of :func:`rfft`: ``[0, 1, …, n//2] / (d·n)``.

    >>> import xpgrad as xg
    >>> [float(v) for v in xg.fft.rfftfreq(5)]
    [0.0, 0.2, 0.4]
    """
    return _freqs("rfftfreq", n, d, dtype, device)


# ---------------------------------------------------------------- samples
# Every norm, odd and even lengths, cropping (n below the input's length) and zero-padding
# (n above it), other axes; complex inputs where the transform takes a spectrum. The real-input
# samples of fft/ifft/irfft/hfft exercise the promotion to complex.

_c2c = [S((crandn(5),), {}),
        S((crandn(3, 4),), {"axis": 0, "norm": "ortho"}),
        S((crandn(2, 6),), {"n": 4, "norm": "forward"}, note="crop"),
        S((crandn(2, 5),), {"n": 8}, note="zero-pad"),
        S((crandn(3, 2),), {"n": 5, "axis": -2, "norm": "ortho"}, note="zero-pad, odd"),
        S((randn(2, 4),), {"norm": "forward"}, note="real input: promoted")]
fft.defsamples(*_c2c)
ifft.defsamples(*_c2c)

_c2cn = [S((crandn(3, 4),), {}),
         S((crandn(2, 3, 4),), {"axes": (0, 2), "norm": "ortho"}),
         S((crandn(4, 3),), {"s": (3, 5), "axes": (0, 1), "norm": "forward"}, note="crop and pad"),
         S((crandn(2, 3, 2),), {"s": (-1, 4), "axes": (-1, 1)}, note="-1: whole axis; axes out of order"),
         S((randn(3, 2),), {"norm": "ortho"}, note="real input: promoted")]
fftn.defsamples(*_c2cn)
ifftn.defsamples(*_c2cn)

_r2c = [S((randn(6),), {}),
        S((randn(5),), {"norm": "ortho"}),
        S((randn(3, 4),), {"axis": 0, "norm": "forward"}),
        S((randn(2, 7),), {"n": 4}, note="crop to even n"),
        S((randn(2, 6),), {"n": 5, "norm": "ortho"}, note="crop to odd n"),
        S((randn(2, 3),), {"n": 8, "norm": "forward"}, note="zero-pad to even n"),
        S((randn(4, 2),), {"n": 5, "axis": 0}, note="zero-pad to odd n"),
        S((randn(1),), {}, note="n = 1: the DC bin only"),
        S((randn(2),), {"norm": "ortho"}, note="n = 2: DC and Nyquist only")]
rfft.defsamples(*_r2c)
ihfft.defsamples(*_r2c)

_c2r = [S((crandn(4),), {}, note="default n = 6, even"),
        S((crandn(2, 4),), {"n": 7, "norm": "ortho"}, note="odd n: no Nyquist bin"),
        S((crandn(3, 2),), {"axis": 0, "norm": "forward"}, note="default n = 4"),
        S((crandn(2, 6),), {"n": 4}, note="crop the spectrum (n//2 + 1 = 3 bins)"),
        S((crandn(2, 3),), {"n": 9, "norm": "forward"}, note="zero-pad the spectrum to 5 bins"),
        S((crandn(2, 3),), {"n": 8, "norm": "ortho"}, note="zero-pad to 5 bins, even n"),
        S((crandn(3),), {"n": 1}, note="n = 1: only the DC bin's real part counts"),
        S((randn(2, 4),), {"n": 5}, note="real input: promoted")]
irfft.defsamples(*_c2r)
hfft.defsamples(*_c2r)

rfftn.defsamples(S((randn(3, 4),), {}),
                 S((randn(2, 3, 5),), {"axes": (0, 2), "norm": "ortho"}, note="odd last axis"),
                 S((randn(4, 3),), {"s": (3, 6), "axes": (0, 1), "norm": "forward"}, note="crop, pad"),
                 S((randn(3, 4),), {"s": (4, 3), "axes": (1, 0)}, note="half axis first in memory"))
irfftn.defsamples(S((crandn(3, 3),), {}, note="default s: (3, 4)"),
                  S((crandn(2, 3, 4),), {"s": (3, 7), "axes": (0, 2), "norm": "ortho"},
                    note="odd last length; pad axis 0"),
                  S((crandn(4, 5),), {"s": (3, 6), "axes": (0, 1), "norm": "forward"},
                    note="crop both axes"),
                  S((crandn(3, 4),), {"s": (4, 5), "axes": (1, 0)}, note="half axis 0"),
                  S((randn(2, 3),), {"norm": "ortho"}, note="real input: promoted"))

_shift = [S((randn(5),), {}),
          S((randn(4, 3),), {}),
          S((randn(3, 4, 5),), {"axes": (0, 2)}),
          S((randn(4, 5),), {"axes": -1}),
          S((crandn(3, 5),), {"axes": 0}, note="complex input")]
fftshift.defsamples(*_shift)
ifftshift.defsamples(*_shift)


# doctest.testmod does not look inside Op objects: hand it their docstrings.
__test__ = {name: globals()[name].__doc__ for name in FFT if not name.endswith("freq")}
