"""Neural-network ops: softmax, log_softmax, conv2d, conv_transpose2d, max_pool2d, avg_pool2d,
adaptive_avg_pool2d.

softmax and log_softmax shift by the maximum along ``axis`` first, so logits of
±1e4 neither overflow nor lose precision; their rules are in closed form.

conv2d is PyTorch's (cross-correlation, no bias) with stride, zero padding,
dilation and groups; its VJPs are convolutions themselves (the transposed
convolution for x, the correlation of x with the cotangent for w), written with
conv2d so that a backend's kernel serves every derivative order. conv_transpose2d is
conv2d's adjoint, and its forward and VJPs are conv2d calls too. Pooling
windows are gathered as strided slices; their VJPs scatter back by shifts,
stacks and reshapes, all Array API.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..core.errors import OpError, ShapeError
from ..core.registry import defop
from ._structure import S, call, randn, uniform


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


# ================================================================ convolution and pooling
#
# Images are (N, C, H, W). The generic forwards are an im2col in pure Array API:
# zero padding by concatenation, one strided slice per kernel tap (or one window
# per output position, whichever loop is shorter), one batched matmul. Backends
# register kernels for the hot paths (NumPy: stride tricks, see backends/numpy).
# The rules call conv2d itself, so a backend's kernel serves every order.


class Conv2dGeometry(NamedTuple):
    """Normalised parameters of a conv2d call and the output's spatial size."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    out: tuple[int, int]


class Pool2dGeometry(NamedTuple):
    """Normalised parameters of a pooling call and the output's spatial size."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    out: tuple[int, int]


def int_tuple(op: str, name: str, v: Any, n: int, least: int) -> tuple[int, ...]:
    """An int (repeated) or a sequence of ``n`` ints, each ``≥ least``, as an ``n``-tuple.

    The one normaliser of stride/padding/kernel-size style parameters, for ops,
    functionals and layers alike; ``op`` names the caller in the error.

    >>> int_tuple("conv2d", "stride", 2, 2, 1)
    (2, 2)
    """
    try:
        t = tuple(operator.index(e) for e in v) if isinstance(v, (tuple, list)) else (operator.index(v),) * n
    except TypeError:
        t = ()
    if len(t) != n or isinstance(v, bool):
        what = f"an int ≥ {least}" if n == 1 else \
            f"an int or a {'pair' if n == 2 else f'tuple of {n}'} of ints, each ≥ {least}"
        raise OpError(f"{op}: {name} must be {what}, got {v!r}")
    if min(t, default=least) < least:
        raise OpError(f"{op}: {name}={v!r} must be at least {least}")
    return t


def _pair(op: str, name: str, v: Any, least: int) -> tuple[int, int]:
    return int_tuple(op, name, v, 2, least)


def _out_size(size: int, pad: int, reach: int, stride: int) -> int:
    """Output positions along one axis: windows of extent ``reach`` in the padded length."""
    return (size + 2 * pad - reach) // stride + 1


def conv2d_geometry(x_shape: Sequence[int], w_shape: Sequence[int], stride: Any = 1, padding: Any = 0,
                    dilation: Any = 1, groups: int = 1) -> Conv2dGeometry:
    """Check a conv2d call and normalise its parameters; raises :class:`ShapeError` naming the problem.

    Kernels for other backends can call it to validate their inputs the same way.

    >>> conv2d_geometry((1, 3, 5, 5), (8, 3, 3, 3), padding=1).out
    (5, 5)
    """
    xs, ws = tuple(x_shape), tuple(w_shape)
    head = f"conv2d: x {xs}, w {ws}"
    s = _pair("conv2d", "stride", stride, 1)
    p = _pair("conv2d", "padding", padding, 0)
    d = _pair("conv2d", "dilation", dilation, 1)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise OpError(f"conv2d: groups must be a positive int, got {groups!r}")
    if len(xs) != 4 or len(ws) != 4:
        raise ShapeError(f"{head}: conv2d takes x of shape (N, C, H, W) and w of shape "
                         "(O, C // groups, kh, kw), both 4-D")
    (_, c, h, w), (o, cg, kh, kw) = xs, ws
    if c % groups:
        raise ShapeError(f"{head}: groups={groups} does not divide x's {c} channels")
    if o % groups:
        raise ShapeError(f"{head}: groups={groups} does not divide w's {o} output channels")
    if cg * groups != c:
        raise ShapeError(f"{head}: channel mismatch: x has {c} channels, so w.shape[1] must be "
                         f"C // groups = {c // groups}, not {cg}")
    reach = ((kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1)
    if reach[0] > h + 2 * p[0] or reach[1] > w + 2 * p[1] or min(kh, kw) < 1:
        raise ShapeError(f"{head}: the kernel ({kh}×{kw}, dilation {d}, reach {reach[0]}×{reach[1]}) "
                         f"is larger than the padded input ({h + 2 * p[0]}×{w + 2 * p[1]} with "
                         f"padding {p}); pad more, or use a smaller kernel or dilation")
    return Conv2dGeometry(s, p, d, groups, (_out_size(h, p[0], reach[0], s[0]),
                                            _out_size(w, p[1], reach[1], s[1])))


def pool2d_geometry(op: str, x_shape: Sequence[int], kernel_size: Any, stride: Any = None,
                    padding: Any = 0) -> Pool2dGeometry:
    """Check a pooling call (``op`` names it in errors) and normalise its parameters.

    >>> pool2d_geometry("max_pool2d", (1, 1, 4, 4), 2).out
    (2, 2)
    """
    xs = tuple(x_shape)
    k = _pair(op, "kernel_size", kernel_size, 1)
    s = k if stride is None else _pair(op, "stride", stride, 1)
    p = _pair(op, "padding", padding, 0)
    if len(xs) != 4:
        raise ShapeError(f"{op}: x {xs}: {op} takes x of shape (N, C, H, W)")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ShapeError(f"{op}: x {xs}: padding {p} must be at most half the kernel size {k} "
                         "(a window would see only padding)")
    h, w = xs[2:]
    if k[0] > h + 2 * p[0] or k[1] > w + 2 * p[1]:
        raise ShapeError(f"{op}: x {xs}: the kernel {k[0]}×{k[1]} is larger than the padded input "
                         f"({h + 2 * p[0]}×{w + 2 * p[1]} with padding {p})")
    return Pool2dGeometry(k, s, p, (_out_size(h, p[0], k[0], s[0]), _out_size(w, p[1], k[1], s[1])))


# ---------------------------------------------------------------- Array API helpers


def _window(xp, a, axis, lo, length, fill=0):
    """``b[q] = a[q − lo]`` along ``axis`` for ``0 ≤ q < length``, ``fill`` where ``a`` has no entry.

    Pads when ``lo > 0`` or ``a`` is short, crops when ``lo < 0`` or ``a`` is long.
    """
    n = a.shape[axis]
    start, stop = max(-lo, 0), max(min(n, length - lo), max(-lo, 0))
    if (start, stop) != (0, n):
        a = a[(slice(None),) * axis + (slice(start, stop), ...)]
    lo = max(lo, 0)
    hi = length - lo - a.shape[axis]
    if not lo and not hi:
        return a

    def block(k):
        shape = tuple(a.shape[:axis]) + (k,) + tuple(a.shape[axis + 1:])
        return xp.full(shape, fill, dtype=a.dtype, device=a.device)
    return xp.concat(([block(lo)] if lo else []) + [a] + ([block(hi)] if hi else []), axis=axis)


def _pad2(xp, x, pad, fill=0):
    """``x`` padded by ``pad = (ph, pw)`` on both sides of its last two axes."""
    (ph, pw), (h, w) = pad, x.shape[-2:]
    return _window(xp, _window(xp, x, 2, ph, h + 2 * ph, fill), 3, pw, w + 2 * pw, fill)


def _taps(x, kernel, stride, dilation, out):
    """One strided slice ``(N, C, Ho, Wo)`` of the padded ``x`` per kernel tap, row-major."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out
    return [x[:, :, i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw]
            for i in range(kh) for j in range(kw)]


def _dilate(xp, a, axis, s):
    """``s − 1`` zeros after every entry along ``axis`` (a strided scatter, as a stack and a reshape)."""
    if s == 1:
        return a
    z = xp.zeros_like(a)
    st = xp.stack([a] + [z] * (s - 1), axis=axis + 1)
    shape = tuple(a.shape)
    return xp.reshape(st, shape[:axis] + (shape[axis] * s,) + shape[axis + 1:])


def _scatter_taps(xp, taps, axis, stride, length, lo):
    """The transpose of gathering taps: ``out[o·stride + i − lo] += taps[i][o]`` along ``axis``.

    Taps are grouped by the phase ``i mod stride``: each phase is a sum of shifted
    taps, and the phases interleave by a stack and a reshape (no scatter needed).
    """
    n = taps[0].shape[axis]
    rows = n + (len(taps) - 1) // stride
    phases = []
    for r in range(stride):
        acc = None
        for i in range(r, len(taps), stride):
            t = _window(xp, taps[i], axis, i // stride, rows)
            acc = t if acc is None else acc + t
        phases.append(acc)
    if stride == 1:
        full = phases[0]
    else:
        z = next(p for p in phases if p is not None)
        z = xp.zeros_like(z)
        st = xp.stack([z if p is None else p for p in phases], axis=axis + 1)
        shape = tuple(st.shape)
        full = xp.reshape(st, shape[:axis] + (rows * stride,) + shape[axis + 2:])
    return _window(xp, full, axis, -lo, length)


def _untap(xp, taps, geo, shape):
    """Sum per-tap arrays ``(N, C, Ho, Wo)`` back onto an input of ``shape`` (a pool's VJP)."""
    kw, (sh, sw), (ph, pw) = geo.kernel[1], geo.stride, geo.padding
    cols = [_scatter_taps(xp, taps[j::kw], 2, sh, shape[2], ph) for j in range(kw)]
    return _scatter_taps(xp, cols, 3, sw, shape[3], pw)


def _lowest(xp, dtype):
    """The padding value of max pooling: −inf, or the dtype's least value for integers."""
    return -math.inf if xp.isdtype(dtype, "real floating") else xp.iinfo(dtype).min


# ---------------------------------------------------------------- conv2d


@defop("conv2d")
def conv2d(xp, x, w, /, *, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, C // groups, kh, kw), no bias.

    ``stride``, ``padding`` (zeros, on both sides) and ``dilation`` are an int or a
    pair; the result is (N, O, Ho, Wo) as in PyTorch's ``conv2d``.

    >>> import xpgrad as xg
    >>> xg.conv2d(xg.ones((1, 1, 3, 3)), xg.ones((1, 1, 2, 2))).tolist()
    [[[[4.0, 4.0], [4.0, 4.0]]]]
    """
    geo = conv2d_geometry(x.shape, w.shape, stride, padding, dilation, groups)
    n, (o, cg, kh, kw), (ho, wo) = x.shape[0], w.shape, geo.out
    x = _pad2(xp, x, geo.padding)
    if kh * kw <= ho * wo:   # gather one strided slice per tap: (N, C, kh·kw, Ho, Wo)
        cols = xp.stack(_taps(x, (kh, kw), geo.stride, geo.dilation, geo.out), axis=2)
    else:                    # a kernel as large as the output: one window per position
        (sh, sw), (dh, dw) = geo.stride, geo.dilation
        cols = xp.stack([x[:, :, a * sh:a * sh + (kh - 1) * dh + 1:dh, b * sw:b * sw + (kw - 1) * dw + 1:dw]
                         for a in range(ho) for b in range(wo)], axis=4)   # (N, C, kh, kw, Ho·Wo)
    cols = xp.reshape(cols, (n, groups, cg * kh * kw, ho * wo))
    out = xp.reshape(w, (groups, o // groups, cg * kh * kw)) @ cols   # (N, G, O/G, Ho·Wo)
    return xp.reshape(out, (n, o, ho, wo))


def _transposed(xp, g, w, size, stride, padding, dilation, groups):
    """The adjoint of ``conv2d(·, w)`` applied to ``g``, onto an input of spatial ``size`` (h, w).

    g dilated by the stride, padded by the kernel's reach, correlated with w flipped and
    with its channel axes swapped within each group. Rows of the input that no window
    reads get zeros (the windows pad g as needed).
    """
    (o, cg, kh, kw), (h, wd), c = w.shape, size, w.shape[1] * groups
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    gd = _dilate(xp, _dilate(xp, g, 2, sh), 3, sw)
    gd = _window(xp, gd, 2, (kh - 1) * dh - ph, h + (kh - 1) * dh)
    gd = _window(xp, gd, 3, (kw - 1) * dw - pw, wd + (kw - 1) * dw)
    wt = xp.permute_dims(xp.reshape(w, (groups, o // groups, cg, kh, kw)), (0, 2, 1, 3, 4))
    wt = xp.flip(xp.reshape(wt, (c, o // groups, kh, kw)), axis=(2, 3))
    return call(conv2d, xp, gd, wt, dilation=(dh, dw), groups=groups)


def _conv2d_vjp_x(xp, g, out, x, w, *, stride=1, padding=0, dilation=1, groups=1):
    # x̄ = the transposed convolution of g
    geo = conv2d_geometry(x.shape, w.shape, stride, padding, dilation, groups)
    return _transposed(xp, g, w, x.shape[2:], geo.stride, geo.padding, geo.dilation, groups)


def _conv2d_vjp_w(xp, g, out, x, w, *, stride=1, padding=0, dilation=1, groups=1):
    # w̄ = x ⋆ g: the batch becomes the contracted channel axis, the roles of stride and
    # dilation swap, and groups pair x's channel groups with g's
    geo = conv2d_geometry(x.shape, w.shape, stride, padding, dilation, groups)
    n, (_, cg, kh, kw), (ho, wo) = x.shape[0], w.shape, geo.out
    (sh, sw), (ph, pw), (dh, dw) = geo.stride, geo.padding, geo.dilation
    eh, ew = (kh - 1) * dh + (ho - 1) * sh + 1, (kw - 1) * dw + (wo - 1) * sw + 1   # rows/cols read
    xs = _window(xp, _window(xp, x, 2, ph, eh), 3, pw, ew)
    xs = xp.permute_dims(xp.reshape(xs, (n, groups, cg, eh, ew)), (2, 1, 0, 3, 4))
    xs = xp.reshape(xs, (cg, groups * n, eh, ew))
    r = call(conv2d, xp, xs, xp.permute_dims(g, (1, 0, 2, 3)), stride=(dh, dw), dilation=(sh, sw),
             groups=groups)   # (C/G, O, kh, kw)
    return xp.permute_dims(r, (1, 0, 2, 3))


conv2d.defvjp(_conv2d_vjp_x, _conv2d_vjp_w)
conv2d.defjvp(lambda xp, t, out, x, w, **p: call(conv2d, xp, t, w, **p),     # bilinear:
              lambda xp, t, out, x, w, **p: call(conv2d, xp, x, t, **p))     # conv(ẋ, w) + conv(x, ẇ)


def _conv2d_diagnose(args, params):
    try:
        conv2d_geometry(*(tuple(getattr(a, "shape", ())) for a in args), **params)
    except (OpError, ShapeError) as exc:
        return exc
    except TypeError:   # an unknown parameter: the backend's own words say which
        return None
    return None


conv2d.diagnose = _conv2d_diagnose


# ---------------------------------------------------------------- conv_transpose2d
#
# The adjoint of conv2d: conv_transpose2d(y, w) = ∂/∂x ⟨conv2d(x, w), y⟩ for x of the output's
# size. Forward and both VJPs are conv2d calls, so each backend's conv2d kernels serve it.


class ConvTranspose2dGeometry(NamedTuple):
    """Normalised parameters of a conv_transpose2d call and the output's spatial size."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    out: tuple[int, int]


def conv_transpose2d_geometry(x_shape: Sequence[int], w_shape: Sequence[int], stride: Any = 1,
                              padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                              dilation: Any = 1) -> ConvTranspose2dGeometry:
    """Check a conv_transpose2d call and normalise its parameters; raises :class:`ShapeError` if wrong.

    The output's size per axis is ``(size − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1``.

    >>> conv_transpose2d_geometry((1, 4, 3, 3), (4, 2, 3, 3), stride=2, output_padding=1).out
    (8, 8)
    """
    xs, ws = tuple(x_shape), tuple(w_shape)
    op = "conv_transpose2d"
    head = f"{op}: x {xs}, w {ws}"
    s = _pair(op, "stride", stride, 1)
    p = _pair(op, "padding", padding, 0)
    q = _pair(op, "output_padding", output_padding, 0)
    d = _pair(op, "dilation", dilation, 1)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise OpError(f"{op}: groups must be a positive int, got {groups!r}")
    if len(xs) != 4 or len(ws) != 4:
        raise ShapeError(f"{head}: {op} takes x of shape (N, C_in, H, W) and w of shape "
                         "(C_in, C_out // groups, kh, kw), both 4-D")
    (_, c, h, wd), (ci, _, kh, kw) = xs, ws
    if c != ci:
        raise ShapeError(f"{head}: channel mismatch: x has {c} channels, so w.shape[0] must be {c}, "
                         f"not {ci} (w is (C_in, C_out // groups, kh, kw))")
    if c % groups:
        raise ShapeError(f"{head}: groups={groups} does not divide x's {c} channels")
    if min(kh, kw) < 1:
        raise ShapeError(f"{head}: the kernel {kh}×{kw} is empty")
    if q[0] >= max(s[0], d[0]) or q[1] >= max(s[1], d[1]):
        raise OpError(f"{head}: output_padding {q} must be smaller than the stride {s} or the "
                      f"dilation {d} along each axis")
    out = tuple((n - 1) * st - 2 * pa + di * (k - 1) + extra + 1
                for n, st, pa, di, k, extra in zip((h, wd), s, p, d, (kh, kw), q))
    if min(out) < 1:
        raise ShapeError(f"{head}: padding {p} leaves an output of size {out[0]}×{out[1]}; "
                         "use less padding")
    return ConvTranspose2dGeometry(s, p, q, d, groups, out)


@defop("conv_transpose2d")
def conv_transpose2d(xp, x, w, /, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution of ``x`` (N, C_in, H, W) with ``w`` (C_in, C_out // groups, kh, kw).

    The adjoint (gradient with respect to the input) of ``conv2d`` with the same
    ``stride``, ``padding``, ``dilation`` and ``groups``, as PyTorch's ``conv_transpose2d``
    (no bias); ``output_padding`` adds rows and columns at the bottom and right that
    the strided windows would not decide.

    >>> import xpgrad as xg
    >>> xg.conv_transpose2d(xg.ones((1, 1, 2, 2)), xg.ones((1, 1, 2, 2))).tolist()
    [[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]]
    """
    geo = conv_transpose2d_geometry(x.shape, w.shape, stride, padding, output_padding, groups, dilation)
    return _transposed(xp, x, w, geo.out, geo.stride, geo.padding, geo.dilation, groups)


def _conv_t_params(p):
    """The conv2d parameters that conv_transpose2d ``p`` transposes."""
    return {k: p[k] for k in ("stride", "padding", "dilation", "groups") if k in p}


def _conv_t_vjp_x(xp, g, out, x, w, **p):
    # x̄ = conv2d(g, w), cropped to x's size (an output_padding ≥ stride gives conv2d extra rows)
    r = call(conv2d, xp, g, w, **_conv_t_params(p))
    h, wd = x.shape[2:]
    return r if tuple(r.shape[2:]) == (h, wd) else r[:, :, :h, :wd]


def _conv_t_vjp_w(xp, g, out, x, w, **p):
    # ⟨g, convᵀ(x, w)⟩ = ⟨conv2d(g, w), x⟩, so w̄ is conv2d's weight VJP at input g, cotangent x
    q = _conv_t_params(p)
    ho, wo = conv2d_geometry(g.shape, w.shape, **q).out
    xe = _window(xp, _window(xp, x, 2, 0, ho), 3, 0, wo)   # zeros for the rows conv2d reads beyond x
    return _conv2d_vjp_w(xp, xe, None, g, w, **q)


conv_transpose2d.defvjp(_conv_t_vjp_x, _conv_t_vjp_w)
conv_transpose2d.defjvp(lambda xp, t, out, x, w, **p: call(conv_transpose2d, xp, t, w, **p),   # bilinear
                        lambda xp, t, out, x, w, **p: call(conv_transpose2d, xp, x, t, **p))


def _conv_t_diagnose(args, params):
    try:
        conv_transpose2d_geometry(*(tuple(getattr(a, "shape", ())) for a in args), **params)
    except (OpError, ShapeError) as exc:
        return exc
    except TypeError:
        return None
    return None


conv_transpose2d.diagnose = _conv_t_diagnose


# ---------------------------------------------------------------- max_pool2d, avg_pool2d


@defop("max_pool2d")
def max_pool2d(xp, x, /, *, kernel_size, stride=None, padding=0):
    """Maximum over ``kernel_size`` windows of ``x`` (N, C, H, W); ``stride`` defaults to the kernel.

    Padding is −inf. The gradient goes to the maximum of each window; **tied maxima
    share it evenly** (two equal maxima get half each), like ``max``'s.

    >>> import xpgrad as xg
    >>> xg.max_pool2d(xg.reshape(xg.arange(16.0), (1, 1, 4, 4)), kernel_size=2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    geo = pool2d_geometry("max_pool2d", x.shape, kernel_size, stride, padding)
    taps = _taps(_pad2(xp, x, geo.padding, _lowest(xp, x.dtype)), geo.kernel, geo.stride, (1, 1), geo.out)
    if len(taps) == 1:
        return xp.asarray(taps[0], copy=True)   # never a view of the input
    out = xp.maximum(taps[0], taps[1])
    for t in taps[2:]:
        out = xp.maximum(out, t)
    return out


def _max_share(xp, out, x, geo):
    """Per tap: 1/m where it holds its window's maximum (m tied maxima), else 0."""
    # x is floating here (it carries a gradient), so −inf pads it
    taps = _taps(_pad2(xp, x, geo.padding, -math.inf), geo.kernel, geo.stride, (1, 1), geo.out)
    hits = [xp.astype(t == out, out.dtype) for t in taps]
    count = hits[0]
    for h in hits[1:]:
        count = count + h
    count = xp.where(count == 0, xp.ones_like(count), count)   # a nan window: no gradient
    return [h / count for h in hits]


def _max_pool_vjp(xp, g, out, x, *, kernel_size, stride=None, padding=0):
    geo = pool2d_geometry("max_pool2d", x.shape, kernel_size, stride, padding)
    return _untap(xp, [g * s for s in _max_share(xp, out, x, geo)], geo, x.shape)


def _max_pool_jvp(xp, t, out, x, *, kernel_size, stride=None, padding=0):
    geo = pool2d_geometry("max_pool2d", x.shape, kernel_size, stride, padding)
    taps = _taps(_pad2(xp, t, geo.padding), geo.kernel, geo.stride, (1, 1), geo.out)
    acc = None
    for tap, s in zip(taps, _max_share(xp, out, x, geo)):
        acc = tap * s if acc is None else acc + tap * s
    return acc


max_pool2d.defvjp(_max_pool_vjp)
max_pool2d.defjvp(_max_pool_jvp)


@defop("avg_pool2d")
def avg_pool2d(xp, x, /, *, kernel_size, stride=None, padding=0):
    """Mean over ``kernel_size`` windows of ``x`` (N, C, H, W); ``stride`` defaults to the kernel.

    Padding is zeros and counts in the mean (PyTorch's ``count_include_pad=True``).

    >>> import xpgrad as xg
    >>> xg.avg_pool2d(xg.reshape(xg.arange(16.0), (1, 1, 4, 4)), kernel_size=2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    geo = pool2d_geometry("avg_pool2d", x.shape, kernel_size, stride, padding)
    taps = _taps(_pad2(xp, x, geo.padding), geo.kernel, geo.stride, (1, 1), geo.out)
    acc = taps[0]
    for t in taps[1:]:
        acc = acc + t
    return acc / len(taps)


def _avg_pool_vjp(xp, g, out, x, *, kernel_size, stride=None, padding=0):
    geo = pool2d_geometry("avg_pool2d", x.shape, kernel_size, stride, padding)
    share = g / (geo.kernel[0] * geo.kernel[1])   # every tap of a window gets 1/(kh·kw)
    return _untap(xp, [share] * (geo.kernel[0] * geo.kernel[1]), geo, x.shape)


avg_pool2d.defvjp(_avg_pool_vjp)
avg_pool2d.defjvp(lambda xp, t, out, x, **p: call(avg_pool2d, xp, t, **p))   # linear


def _pool_diagnose(name):
    def diagnose(args, params):
        try:
            pool2d_geometry(name, tuple(getattr(args[0], "shape", ())), **params)
        except (OpError, ShapeError) as exc:
            return exc
        except TypeError:   # an unknown or missing parameter: the backend's own words say which
            return None
        return None
    return diagnose


max_pool2d.diagnose = _pool_diagnose("max_pool2d")
avg_pool2d.diagnose = _pool_diagnose("avg_pool2d")


# ---------------------------------------------------------------- adaptive_avg_pool2d
#
# Output position i along an axis of length n averages the bin [⌊i·n/m⌋, ⌈(i+1)·n/m⌉) (PyTorch's
# bins; neighbours may share an element when m does not divide n). Each axis is a linear map:
# a reshape and a mean when m divides n, else a product with the (m, n) averaging matrix.


def adaptive_pool2d_size(op: str, x_shape: Sequence[int], output_size: Any) -> tuple[int, int]:
    """The output's spatial size of an adaptive pooling call; ``None`` entries keep the input's size.

    >>> adaptive_pool2d_size("adaptive_avg_pool2d", (1, 3, 10, 7), (4, None))
    (4, 7)
    """
    xs = tuple(x_shape)
    if len(xs) not in (3, 4):
        raise ShapeError(f"{op}: x {xs}: {op} takes x of shape (N, C, H, W) or (C, H, W)")
    pair = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    ok = len(pair) == 2 and all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
                                for v in pair)
    if not ok or output_size is None:
        raise OpError(f"{op}: output_size must be a positive int or a pair of positive ints "
                      f"(None keeps that axis), got {output_size!r}")
    if min(xs[-2:]) < 1:
        raise ShapeError(f"{op}: x {xs}: the image is empty")
    return tuple(n if m is None else m for n, m in zip(xs[-2:], pair))


def _bins(n, m):
    return [(i * n // m, -(-(i + 1) * n // m)) for i in range(m)]


def _bin_matrix(xp, n, m, like, transpose):
    """The (m, n) matrix averaging each bin (or its transpose), in ``like``'s dtype and device."""
    rows = [[1.0 / (b - a) if a <= j < b else 0.0 for j in range(n)] for a, b in _bins(n, m)]
    if transpose:
        rows = [list(c) for c in zip(*rows)]
    return xp.asarray(rows, dtype=like.dtype, device=like.device)


def _bin_mean(xp, x, axis, m):
    """Average ``x``'s bins along ``axis`` (−2 or −1) down (or up) to ``m`` entries."""
    n, shape = x.shape[axis], tuple(x.shape)
    if n == m:
        return x
    if n % m == 0:   # equal, disjoint bins: a reshape and a mean
        cut = len(shape) + axis
        return xp.mean(xp.reshape(x, shape[:cut] + (m, n // m) + shape[cut + 1:]), axis=cut + 1)
    if axis == -2:
        return _bin_matrix(xp, n, m, x, False) @ x
    return x @ _bin_matrix(xp, n, m, x, True)


def _bin_spread(xp, g, axis, n):
    """The transpose of :func:`_bin_mean`: each bin's cotangent shared evenly over its ``n``-axis entries."""
    m, shape = g.shape[axis], tuple(g.shape)
    if n == m:
        return g
    if n % m == 0:
        cut, k = len(shape) + axis, n // m
        g = xp.expand_dims(g / k, axis=cut + 1)
        wide = shape[:cut] + (m, k) + shape[cut + 1:]
        return xp.reshape(xp.broadcast_to(g, wide), shape[:cut] + (n,) + shape[cut + 1:])
    if axis == -2:
        return _bin_matrix(xp, n, m, g, True) @ g
    return g @ _bin_matrix(xp, n, m, g, False)


@defop("adaptive_avg_pool2d")
def adaptive_avg_pool2d(xp, x, /, *, output_size):
    """Mean over the bins that split ``x`` (N, C, H, W) or (C, H, W) into ``output_size`` (oh, ow).

    ``output_size`` is an int or a pair; a ``None`` entry keeps that axis. Bin ``i`` of
    an axis of length n covers ``[⌊i·n/m⌋, ⌈(i+1)·n/m⌉)``, as in PyTorch.

    >>> import xpgrad as xg
    >>> xg.adaptive_avg_pool2d(xg.reshape(xg.arange(9.0), (1, 1, 3, 3)), output_size=2).tolist()
    [[[[2.0, 3.0], [5.0, 6.0]]]]
    """
    oh, ow = adaptive_pool2d_size("adaptive_avg_pool2d", x.shape, output_size)
    out = _bin_mean(xp, _bin_mean(xp, x, -2, oh), -1, ow)
    return xp.asarray(out, copy=True) if out is x else out   # never a view of the input


def _adaptive_avg_vjp(xp, g, out, x, *, output_size):
    return _bin_spread(xp, _bin_spread(xp, g, -1, x.shape[-1]), -2, x.shape[-2])


adaptive_avg_pool2d.defvjp(_adaptive_avg_vjp)
adaptive_avg_pool2d.defjvp(lambda xp, t, out, x, **p: call(adaptive_avg_pool2d, xp, t, **p))   # linear


def _adaptive_diagnose(args, params):
    try:
        adaptive_pool2d_size("adaptive_avg_pool2d", tuple(getattr(args[0], "shape", ())), **params)
    except (OpError, ShapeError) as exc:
        return exc
    except TypeError:
        return None
    return None


adaptive_avg_pool2d.diagnose = _adaptive_diagnose


# ---------------------------------------------------------------- samples

_CONV = [  # (x shape, w shape, params)
    ((2, 3, 5, 5), (4, 3, 3, 3), {}),
    ((1, 2, 6, 5), (3, 2, 2, 3), {"stride": 2, "padding": 1}),
    ((1, 4, 5, 5), (4, 2, 3, 3), {"groups": 2, "padding": (1, 0)}),
    ((1, 2, 7, 6), (2, 2, 2, 2), {"dilation": 2, "stride": (1, 2)}),
    ((2, 4, 5, 4), (6, 2, 3, 2), {"groups": 2, "stride": 2, "padding": 1, "dilation": (1, 2)}),
    ((1, 3, 4, 4), (3, 1, 2, 2), {"groups": 3}),                    # depthwise
    ((2, 3, 3, 3), (2, 3, 1, 1), {}),                               # 1×1
    ((1, 2, 3, 3), (2, 2, 3, 3), {}),                               # the kernel covers the input
    ((1, 1, 7, 7), (2, 1, 2, 2), {"stride": 3}),                    # stride > kernel: gaps
    ((1, 1, 3, 3), (1, 1, 2, 2), {"padding": 2}),                   # padding beyond the kernel's reach
]
conv2d.defsamples(*(S((randn(*xs), randn(*ws)), p) for xs, ws, p in _CONV))
_POOL = [
    ((2, 3, 4, 4), {"kernel_size": 2}),
    ((1, 2, 5, 5), {"kernel_size": 3, "stride": 1, "padding": 1}),
    ((1, 2, 5, 6), {"kernel_size": (2, 3), "stride": (1, 2)}),
    ((1, 1, 5, 5), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 3, 4), {"kernel_size": 1}),
    ((1, 1, 7, 7), {"kernel_size": 2, "stride": 3, "padding": (1, 0)}),   # stride > kernel: gaps
]
for _op in (max_pool2d, avg_pool2d):
    _op.defsamples(*(S((randn(*xs),), p) for xs, p in _POOL))
_CONV_T = [  # (x shape, w shape, params)
    ((2, 3, 3, 3), (3, 2, 2, 2), {}),
    ((1, 2, 3, 4), (2, 3, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ((1, 4, 3, 3), (4, 1, 3, 2), {"groups": 2, "stride": (2, 1), "padding": (0, 1)}),
    ((1, 2, 3, 3), (2, 2, 2, 2), {"dilation": 2, "output_padding": 1}),   # output_padding < dilation
    ((2, 4, 2, 3), (4, 1, 3, 3), {"groups": 4, "stride": 3, "padding": 1, "output_padding": (2, 0)}),
    ((1, 3, 2, 2), (3, 2, 1, 1), {"stride": 2}),                          # 1×1 with gaps
]
conv_transpose2d.defsamples(*(S((randn(*xs), randn(*ws)), p) for xs, ws, p in _CONV_T))
adaptive_avg_pool2d.defsamples(
    S((randn(2, 3, 4, 6),), {"output_size": (2, 3)}, note="bins divide the input"),
    S((randn(1, 2, 5, 7),), {"output_size": 3}, note="overlapping bins"),
    S((randn(1, 2, 3, 4),), {"output_size": (5, None)}, note="more bins than rows; keep the width"),
    S((randn(2, 4, 5),), {"output_size": 1}, note="unbatched, global average"),
)
