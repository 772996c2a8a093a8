"""xpgrad.nn.functional: every function and option against a hand-written NumPy reference (float64),
gradient checks to second order on cpu and fpga:0 (and a few on opencl:0), dropout's statistics and
seeding, and the error messages.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
import xpgrad.nn.functional as F
from xpgrad.testing import check_grads

RNG = np.random.default_rng


def _t(a, device="cpu", dtype=None):
    a = np.asarray(a)
    return xg.asarray(a if dtype is not None or a.dtype.kind in "biu" else a.astype(np.float64),
                      dtype=dtype, device=device)


def _usable(name):
    try:
        return xg.get_backend(name).device
    except xg.XpgradError as exc:
        pytest.skip(f"{name} is not usable here: {exc}")


@pytest.fixture(params=["cpu", "opencl:0", "fpga:0"])
def device(request):
    return _usable(request.param)


@pytest.fixture(params=["cpu", "fpga:0"])
def grad_device(request):
    return _usable(request.param)


def _close(got, want, tol=1e-10):
    np.testing.assert_allclose(got.numpy() if isinstance(got, xg.Tensor) else got, want, rtol=tol, atol=tol)


# ---------------------------------------------------------------- NumPy references


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def np_conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (h + 2 * ph - (kh - 1) * dh - 1) // sh + 1, (wd + 2 * pw - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for g in range(groups):
        for i in range(ho):
            for j in range(wo):
                patch = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + (kh - 1) * dh + 1:dh,
                           j * sw:j * sw + (kw - 1) * dw + 1:dw]
                out[:, g * og:(g + 1) * og, i, j] = np.einsum("nchw,ochw->no", patch, w[g * og:(g + 1) * og])
    return out


def np_conv1d(x, w, stride=1, padding=0, dilation=1, groups=1):
    n, c, length = x.shape
    o, cg, k = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    lo = (length + 2 * padding - (k - 1) * dilation - 1) // stride + 1
    out = np.zeros((n, o, lo))
    og = o // groups
    for g in range(groups):
        for i in range(lo):
            patch = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + (k - 1) * dilation + 1:dilation]
            out[:, g * og:(g + 1) * og, i] = np.einsum("nck,ock->no", patch, w[g * og:(g + 1) * og])
    return out


def np_conv_transpose2d(x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    (sh, sw), (ph, pw), (qh, qw), (dh, dw) = map(_pair, (stride, padding, output_padding, dilation))
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + qh + 1
    wo = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + qw + 1
    full = np.zeros((n, cog * groups, ho + 2 * ph, wo + 2 * pw))
    cig = cin // groups
    for g in range(groups):
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for b in range(kw):
                        full[:, g * cog:(g + 1) * cog, i * sh + a * dh, j * sw + b * dw] += \
                            x[:, g * cig:(g + 1) * cig, i, j] @ w[g * cig:(g + 1) * cig, :, a, b]
    return full[:, :, ph:ph + ho, pw:pw + wo]


def np_pool(x, k, s=None, p=0, kind="max", count_include_pad=True):
    (kh, kw), (ph, pw) = _pair(k), _pair(p)
    sh, sw = _pair(k if s is None else s)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    inside = np.pad(np.ones(x.shape[2:]), ((ph, ph), (pw, pw)))
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                count = kh * kw if count_include_pad else inside[i * sh:i * sh + kh, j * sw:j * sw + kw].sum()
                out[:, :, i, j] = win.sum(axis=(2, 3)) / count
    return out


def np_adaptive(x, oh, ow):
    h, w = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * h // oh, -(-(i + 1) * h // oh))
            cols = slice(j * w // ow, -(-(j + 1) * w // ow))
            out[..., i, j] = x[..., rows, cols].mean(axis=(-2, -1))
    return out


def np_norm(x, axes, eps):
    m = x.mean(axis=axes, keepdims=True)
    v = ((x - m) ** 2).mean(axis=axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_sdpa(q, k, v, add=None, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if add is not None:
        s = s + add
    w = np_softmax(s)
    return w @ v, w


def np_mha(q, k, v, h, in_w, in_b, out_w, out_b, key_padding_mask=None, attn_mask=None):
    """PyTorch's MultiheadAttention on (L, N, E), masks True = not attended: (out, per-head weights)."""
    e = q.shape[-1]
    d = e // h
    qw, kw, vw = in_w[:e], in_w[e:2 * e], in_w[2 * e:]
    qb, kb, vb = (in_b[:e], in_b[e:2 * e], in_b[2 * e:]) if in_b is not None else (0, 0, 0)
    qp, kp, vp = q @ qw.T + qb, k @ kw.T + kb, v @ vw.T + vb        # (L, N, E)
    ln, n, _ = qp.shape
    s = kp.shape[0]

    def heads(a):   # (len, N, E) -> (N, h, len, d)
        return a.reshape(a.shape[0], n, h, d).transpose(1, 2, 0, 3)
    add = np.zeros((n, h, ln, s))
    if attn_mask is not None:
        am = np.where(attn_mask, -np.inf, 0.0) if attn_mask.dtype == bool else attn_mask
        add = add + (am.reshape(n, h, ln, s) if am.ndim == 3 else am)
    if key_padding_mask is not None:
        kpm = np.where(key_padding_mask, -np.inf, 0.0) if key_padding_mask.dtype == bool else key_padding_mask
        add = add + kpm[:, None, None, :]
    o, w = np_sdpa(heads(qp), heads(kp), heads(vp), add)
    o = o.transpose(2, 0, 1, 3).reshape(ln, n, e)
    return o @ out_w.T + (out_b if out_b is not None else 0), w


# ---------------------------------------------------------------- linear


def test_linear_matches_numpy(device):
    rng = RNG(0)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    y = F.linear(_t(x, device), _t(w, device), _t(b, device))
    assert y.device == device
    _close(y, x @ w.T + b)
    _close(F.linear(_t(x, device), _t(w, device)), x @ w.T)
    x3 = rng.standard_normal((2, 5, 4))   # leading batch axes
    _close(F.linear(_t(x3, device), _t(w, device), _t(b, device)), x3 @ w.T + b)
    _close(F.linear(_t(x[0], device), _t(w, device)), x[0] @ w.T)   # 1-D input


def test_linear_float32_stays_float32():
    x, w, b = xg.ones((2, 3), dtype=xg.float32), xg.ones((4, 3), dtype=xg.float32), xg.zeros((4,),
                                                                                            dtype=xg.float32)
    for a in (x, w, b):
        a.requires_grad = True
    y = F.linear(x, w, b)
    assert y.dtype == xg.float32
    xg.sum(y).backward()
    assert w.grad.dtype == xg.float32 and w.grad.shape == (4, 3) and b.grad.shape == (4,)
    np.testing.assert_array_equal(w.grad.numpy(), np.full((4, 3), 2.0))


def test_linear_errors():
    with pytest.raises(xg.ShapeError, match=r"linear: input \(32, 100\) does not match weight \(10, 784\): "
                                            r"the last axis of input must be 784"):
        F.linear(xg.zeros((32, 100)), xg.zeros((10, 784)))
    with pytest.raises(xg.ShapeError, match=r"linear: weight .* must be 2-D"):
        F.linear(xg.zeros((2, 3)), xg.zeros((3,)))
    with pytest.raises(xg.ShapeError, match=r"linear: bias \(5,\).* must have shape \(10,\)"):
        F.linear(xg.zeros((2, 784)), xg.zeros((10, 784)), xg.zeros((5,)))
    with pytest.raises(xg.DTypeError, match="linear: input is float32 but weight is float64"):
        F.linear(xg.zeros((2, 3), dtype=xg.float32), xg.zeros((4, 3), dtype=xg.float64))


# ---------------------------------------------------------------- convolutions


@pytest.mark.parametrize("p", [{}, {"stride": 2, "padding": 1}, {"dilation": 2, "padding": 2},
                               {"groups": 2, "stride": (1,), "padding": [1]}])
def test_conv1d_matches_numpy(p, device):
    rng = RNG(1)
    x, w, b = rng.standard_normal((2, 4, 9)), rng.standard_normal((6, 4 // p.get("groups", 1), 3)), \
        rng.standard_normal(6)
    ref_p = {k: (v[0] if isinstance(v, (tuple, list)) else v) for k, v in p.items()}
    y = F.conv1d(_t(x, device), _t(w, device), _t(b, device), **p)
    assert y.device == device
    _close(y, np_conv1d(x, w, **ref_p) + b[:, None])
    _close(F.conv1d(_t(x[0], device), _t(w, device), **p), np_conv1d(x[:1], w, **ref_p)[0])   # unbatched


CONV2D = [{}, {"stride": 2, "padding": 1}, {"stride": (1, 2), "padding": (2, 0), "dilation": (2, 1)},
          {"groups": 2, "padding": 1}, {"groups": 4, "stride": 2}]


@pytest.mark.parametrize("p", CONV2D)
def test_conv2d_matches_numpy(p, device):
    rng = RNG(2)
    x, w, b = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((4, 4 // p.get("groups", 1), 3, 2)), \
        rng.standard_normal(4)
    y = F.conv2d(_t(x, device), _t(w, device), _t(b, device), **p)
    assert y.device == device
    _close(y, np_conv2d(x, w, **p) + b[:, None, None])
    _close(F.conv2d(_t(x[1], device), _t(w, device), **p), np_conv2d(x[1:], w, **p)[0])   # unbatched


CONV_T = [{}, {"stride": 2, "padding": 1, "output_padding": 1}, {"stride": (2, 3), "output_padding": (1, 2)},
          {"groups": 2, "dilation": 2, "padding": (1, 2)}, {"dilation": 2, "output_padding": 1}]


@pytest.mark.parametrize("p", CONV_T)
def test_conv_transpose2d_matches_numpy(p, device):
    rng = RNG(3)
    x, w, b = rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(
        3 * p.get("groups", 1))
    y = F.conv_transpose2d(_t(x, device), _t(w, device), _t(b, device), **p)
    assert y.device == device
    _close(y, np_conv_transpose2d(x, w, **p) + b[:, None, None])


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
       st.integers(1, 3), st.integers(0, 100))
def test_conv_transpose2d_adjoint_of_conv2d(groups, k, s, p, d, size, seed):
    # ⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩ with matching params, through the functional forms
    rng = RNG(seed)
    h = max(size, (k - 1) * d + 1 - 2 * p) + 2
    x, w = rng.standard_normal((1, 2 * groups, h, h + 1)), rng.standard_normal((2 * groups, 2, k, k))
    params = {"stride": s, "padding": p, "dilation": d, "groups": groups}
    cx = F.conv2d(_t(x), _t(w), **params).numpy()
    y = rng.standard_normal(cx.shape)
    reach = (k - 1) * d + 1
    op = ((h + 2 * p - reach) % s, (h + 1 + 2 * p - reach) % s)
    ty = F.conv_transpose2d(_t(y), _t(w), output_padding=op, **params).numpy()
    assert ty.shape == x.shape
    np.testing.assert_allclose(np.vdot(cx, y), np.vdot(x, ty), rtol=1e-10, atol=1e-10)


def test_conv_errors():
    with pytest.raises(xg.ShapeError, match=r"conv2d: bias \(3,\).* must have shape \(4,\)"):
        F.conv2d(xg.zeros((1, 2, 5, 5)), xg.zeros((4, 2, 3, 3)), xg.zeros((3,)))
    with pytest.raises(xg.ShapeError, match=r"conv2d: x \(1, 3, 5, 5\), w \(4, 2, 3, 3\): channel mismatch"):
        F.conv2d(xg.zeros((1, 3, 5, 5)), xg.zeros((4, 2, 3, 3)))
    with pytest.raises(xg.ShapeError, match=r"conv2d: input \(5, 5\).* expected \(N, C, H, W\)"):
        F.conv2d(xg.zeros((5, 5)), xg.zeros((4, 2, 3, 3)))
    with pytest.raises(xg.ShapeError, match=r"conv1d: weight .* expected 3-D"):
        F.conv1d(xg.zeros((1, 2, 5)), xg.zeros((4, 2, 3, 3)))
    with pytest.raises(xg.OpError, match=r"conv1d: stride must be an int ≥ 1"):
        F.conv1d(xg.zeros((1, 2, 5)), xg.zeros((4, 2, 3)), stride=(1, 2))
    with pytest.raises(xg.DTypeError, match="conv2d: input is float32 but weight is float64"):
        F.conv2d(xg.zeros((1, 2, 5, 5), dtype=xg.float32), xg.zeros((4, 2, 3, 3)))
    with pytest.raises(xg.DTypeError, match="conv2d: input .* int64.* must be floating point"):
        F.conv2d(xg.zeros((1, 2, 5, 5), dtype=xg.int64), xg.zeros((4, 2, 3, 3), dtype=xg.int64))
    with pytest.raises(xg.ShapeError, match=r"conv_transpose2d: bias"):
        F.conv_transpose2d(xg.zeros((1, 2, 3, 3)), xg.zeros((2, 3, 2, 2)), xg.zeros((2,)))


# ---------------------------------------------------------------- pooling


@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 1, 1), ((2, 3), (1, 2), (1, 0)), (3, 2, 1)])
def test_pools_match_numpy(k, s, p, device):
    x = RNG(4).standard_normal((2, 3, 7, 6))
    _close(F.max_pool2d(_t(x, device), k, s, p), np_pool(x, k, s, p, "max"))
    _close(F.avg_pool2d(_t(x, device), k, s, p), np_pool(x, k, s, p, "avg"))
    _close(F.avg_pool2d(_t(x, device), k, s, p, count_include_pad=False),
           np_pool(x, k, s, p, "avg", count_include_pad=False))
    _close(F.max_pool2d(_t(x[0], device), k, s, p), np_pool(x[:1], k, s, p, "max")[0])   # unbatched


@pytest.mark.parametrize("out", [1, 3, (2, 4), (None, 2), [5, 3]])
def test_adaptive_avg_pool2d_matches_numpy(out, device):
    x = RNG(5).standard_normal((2, 3, 7, 6))
    pair = tuple(out) if isinstance(out, (tuple, list)) else (out, out)
    oh, ow = (7 if pair[0] is None else pair[0]), (6 if pair[1] is None else pair[1])
    y = F.adaptive_avg_pool2d(_t(x, device), out)
    assert y.device == device
    _close(y, np_adaptive(x, oh, ow))
    _close(F.adaptive_avg_pool2d(_t(x[0], device), out), np_adaptive(x[0], oh, ow))


def test_pool_errors():
    with pytest.raises(xg.ShapeError, match=r"max_pool2d: input \(4, 4\).* expected \(N, C, H, W\)"):
        F.max_pool2d(xg.zeros((4, 4)), 2)
    with pytest.raises(xg.OpError, match="max_pool2d: ceil_mode=True is not supported"):
        F.max_pool2d(xg.zeros((1, 1, 4, 4)), 2, ceil_mode=True)
    with pytest.raises(xg.ShapeError, match="avg_pool2d: .* padding .* at most half the kernel"):
        F.avg_pool2d(xg.zeros((1, 1, 4, 4)), 2, padding=2)
    with pytest.raises(xg.OpError, match="adaptive_avg_pool2d: output_size must be"):
        F.adaptive_avg_pool2d(xg.zeros((1, 1, 4, 4)), (0, 2))


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 4, 2)])
def test_batch_norm_training_and_running_stats(shape, device):
    rng = RNG(6)
    x, w, b = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(3), rng.standard_normal(3)
    rm0, rv0 = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    rm, rv = _t(rm0, device), _t(rv0, device)
    y = F.batch_norm(_t(x, device), rm, rv, _t(w, device), _t(b, device), training=True, momentum=0.3,
                     eps=1e-3)
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, 3) + (1,) * (len(shape) - 2)
    _close(y, np_norm(x, axes, 1e-3) * w.reshape(bshape) + b.reshape(bshape))
    n = x.size // 3
    _close(rm, 0.7 * rm0 + 0.3 * x.mean(axis=axes))
    _close(rv, 0.7 * rv0 + 0.3 * x.var(axis=axes) * n / (n - 1))   # the unbiased variance
    assert rm.device == device and not rm.requires_grad


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval_uses_running_stats(affine, device):
    rng = RNG(7)
    x, w, b = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    rm_t, rv_t = _t(rm, device), _t(rv, device)
    y = F.batch_norm(_t(x, device), rm_t, rv_t, _t(w, device) if affine else None,
                     _t(b, device) if affine else None, training=False)
    s = (1, 3, 1, 1)
    want = (x - rm.reshape(s)) / np.sqrt(rv.reshape(s) + 1e-5)
    if affine:
        want = want * w.reshape(s) + b.reshape(s)
    _close(y, want)
    np.testing.assert_array_equal(rm_t.numpy(), rm)   # evaluation leaves the buffers alone
    np.testing.assert_array_equal(rv_t.numpy(), rv)


def test_batch_norm_float32_buffers_and_graph():
    x = xg.asarray(RNG(8).standard_normal((8, 2)), dtype=xg.float32, requires_grad=True)
    rm, rv = xg.zeros((2,), dtype=xg.float32), xg.ones((2,), dtype=xg.float32)
    y = F.batch_norm(x, rm, rv, training=True)
    assert y.dtype == xg.float32 and rm.dtype == xg.float32 and rv.dtype == xg.float32
    xg.sum(y * y).backward()   # the buffers' update is not on the graph
    assert x.grad is not None and rm.grad is None and not rm.requires_grad


def test_batch_norm_errors():
    with pytest.raises(xg.ShapeError, match=r"batch_norm: weight \(4,\).* must have shape \(3,\)"):
        F.batch_norm(xg.zeros((2, 3)), None, None, xg.ones((4,)), training=True)
    with pytest.raises(xg.ShapeError, match="batch_norm: training needs more than one value per channel"):
        F.batch_norm(xg.zeros((1, 3)), None, None, training=True)
    with pytest.raises(xg.OpError, match="batch_norm: evaluation .* needs running_mean"):
        F.batch_norm(xg.zeros((2, 3)), None, None)
    with pytest.raises(xg.ShapeError, match=r"batch_norm: input \(3,\)"):
        F.batch_norm(xg.zeros((3,)), xg.zeros((3,)), xg.ones((3,)))


@pytest.mark.parametrize("ns", [4, (3, 4), [2, 3, 4]])
def test_layer_norm_matches_numpy(ns, device):
    rng = RNG(9)
    x = rng.standard_normal((2, 3, 4)) * 2 + 1
    shape = (ns,) if isinstance(ns, int) else tuple(ns)
    w, b = rng.standard_normal(shape), rng.standard_normal(shape)
    axes = tuple(range(3 - len(shape), 3))
    _close(F.layer_norm(_t(x, device), ns, _t(w, device), _t(b, device), eps=1e-4),
           np_norm(x, axes, 1e-4) * w + b)
    _close(F.layer_norm(_t(x, device), ns), np_norm(x, axes, 1e-5))


def test_layer_norm_errors():
    with pytest.raises(xg.ShapeError, match=r"layer_norm: input \(2, 3\).* does not end in normalized_shape "
                                            r"\(4,\)"):
        F.layer_norm(xg.zeros((2, 3)), 4)
    with pytest.raises(xg.ShapeError, match=r"layer_norm: weight .* must have normalized_shape \(3,\)"):
        F.layer_norm(xg.zeros((2, 3)), 3, xg.ones((2,)))


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_group_norm_matches_numpy(groups, device):
    rng = RNG(10)
    x, w, b = rng.standard_normal((2, 6, 3, 2)) + 2, rng.standard_normal(6), rng.standard_normal(6)
    g = x.reshape(2, groups, -1)
    want = np_norm(g, (2,), 1e-5).reshape(x.shape) * w.reshape(1, 6, 1, 1) + b.reshape(1, 6, 1, 1)
    _close(F.group_norm(_t(x, device), groups, _t(w, device), _t(b, device)), want)
    _close(F.group_norm(_t(x[:, :, 0, 0], device), groups),
           np_norm(x[:, :, 0, 0].reshape(2, groups, -1), (2,), 1e-5).reshape(2, 6))   # (N, C)


def test_group_norm_errors():
    with pytest.raises(xg.ShapeError, match=r"group_norm: num_groups=4 must be a positive int dividing "
                                            r"the 6"):
        F.group_norm(xg.zeros((2, 6, 3)), 4)


# ---------------------------------------------------------------- dropout


def test_dropout_statistics_and_scaling():
    xg.manual_seed(0)
    x = xg.ones((200, 500))
    y = F.dropout(x, 0.3).numpy()
    kept = y != 0
    np.testing.assert_array_equal(y[kept], 1 / 0.7)   # inverted dropout: survivors scaled by 1 / (1 − p)
    frac = kept.mean()
    assert abs(frac - 0.7) < 5 * math.sqrt(0.3 * 0.7 / y.size), frac
    assert abs(y.mean() - 1.0) < 0.01   # the expectation is kept


def test_dropout_identity_when_not_training_or_p_zero():
    x = xg.asarray([1.0, 2.0, 3.0])
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_p_one_gives_zeros_with_zero_gradient():
    x = xg.asarray([1.0, -2.0, 3.0], requires_grad=True)
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.0])
    xg.sum(y).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


def test_dropout_gradient_is_the_mask():
    x = xg.asarray(np.arange(1.0, 101.0), requires_grad=True)
    y = F.dropout(x, 0.5, generator=xg.random.Generator(1))
    xg.sum(y).backward()
    np.testing.assert_array_equal(x.grad.numpy(), (y.numpy() != 0) * 2.0)


def test_dropout_is_reproducible_with_a_seed(device):
    x = xg.ones((64,), dtype=xg.float32, device=device)
    xg.manual_seed(123)
    a = F.dropout(x, 0.5)
    xg.manual_seed(123)
    b = F.dropout(x, 0.5)
    c = F.dropout(x, 0.5)
    assert a.device == device and a.dtype == xg.float32
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    g1 = F.dropout(x, 0.5, generator=xg.random.Generator(7))
    g2 = F.dropout(x, 0.5, generator=xg.random.Generator(7))
    np.testing.assert_array_equal(g1.numpy(), g2.numpy())
    # the mask is drawn on the host: the same seed gives the same mask on every device
    xg.manual_seed(123)
    np.testing.assert_array_equal(F.dropout(xg.ones((64,), dtype=xg.float32), 0.5).numpy(), a.numpy())


def test_dropout_errors():
    with pytest.raises(xg.OpError, match=r"dropout: p must be a probability in \[0, 1\], got 1.5"):
        F.dropout(xg.ones((2,)), 1.5)
    with pytest.raises(xg.DTypeError, match="dropout: input .* must be floating point"):
        F.dropout(xg.asarray([1, 2]), 0.5)


# ---------------------------------------------------------------- embedding, one_hot, flatten


def test_embedding_values_and_scatter_add_gradient(device):
    rng = RNG(11)
    w = rng.standard_normal((5, 3))
    idx = np.array([[0, 4, 4], [2, 0, 4]])
    wt = _t(w, device)
    wt.requires_grad = True
    y = F.embedding(_t(idx, device), wt)
    _close(y, w[idx])
    g = rng.standard_normal(y.shape)
    xg.sum(y * _t(g, device)).backward()
    want = np.zeros_like(w)
    np.add.at(want, idx, g)   # repeated indices accumulate
    _close(wt.grad, want)


@pytest.mark.parametrize("pad", [4, -1, 0])
def test_embedding_padding_idx_gets_no_gradient(pad, device):
    w = RNG(12).standard_normal((5, 2))
    idx = np.array([4, 1, 0, 4])
    wt = _t(w, device)
    wt.requires_grad = True
    y = F.embedding(_t(idx, device), wt, padding_idx=pad)
    _close(y, w[idx])   # the forward still reads the padding row
    xg.sum(y).backward()
    want = np.zeros_like(w)
    np.add.at(want, idx, 1.0)
    want[pad % 5] = 0.0
    _close(wt.grad, want)


def test_embedding_errors():
    w = xg.zeros((5, 2))
    with pytest.raises(xg.IndexOutOfBoundsError, match=r"embedding: index 5 .* indices must lie in \[0, 5\)"):
        F.embedding(xg.asarray([0, 5]), w)
    with pytest.raises(xg.IndexOutOfBoundsError, match="embedding: index -1"):
        F.embedding(xg.asarray([-1, 0]), w)
    with pytest.raises(xg.DTypeError, match="embedding: input .* must hold integer indices"):
        F.embedding(xg.asarray([0.0, 1.0]), w)
    with pytest.raises(xg.OpError, match=r"embedding: padding_idx=5 must be an int in \[-5, 5\)"):
        F.embedding(xg.asarray([0]), w, padding_idx=5)
    with pytest.raises(xg.ShapeError, match="embedding: weight .* expected 2-D"):
        F.embedding(xg.asarray([0]), xg.zeros((5,)))


def test_one_hot(device):
    idx = np.array([[0, 2], [3, 2]])
    y = F.one_hot(_t(idx, device), 5)
    assert y.dtype == xg.int64 and y.device == device
    np.testing.assert_array_equal(y.numpy(), np.eye(5, dtype=np.int64)[idx])
    np.testing.assert_array_equal(F.one_hot(_t(idx, device)).numpy(), np.eye(4, dtype=np.int64)[idx])
    with pytest.raises(xg.IndexOutOfBoundsError, match=r"one_hot: class 3 .* must lie in \[0, 3\)"):
        F.one_hot(_t(idx, device), 3)
    with pytest.raises(xg.DTypeError, match="one_hot: tensor .* integer"):
        F.one_hot(xg.asarray([0.0]))


def test_flatten():
    x = xg.zeros((2, 3, 4, 5))
    assert F.flatten(x).shape == (2, 60)
    assert F.flatten(x, 0).shape == (120,)
    assert F.flatten(x, 1, 2).shape == (2, 12, 5)
    assert F.flatten(x, -2, -1).shape == (2, 3, 20)
    a = np.arange(120.0).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(F.flatten(_t(a), 1, 2).numpy(), a.reshape(2, 12, 5))
    with pytest.raises(xg.ShapeError, match=r"flatten: start_dim=3, end_dim=1 do not name a range"):
        F.flatten(x, 3, 1)
    with pytest.raises(xg.ShapeError, match="flatten: start_dim=4"):
        F.flatten(x, 4)


# ---------------------------------------------------------------- softmax


def test_softmax_and_log_softmax(device):
    x = RNG(13).standard_normal((3, 4)) * 5
    for dim in (0, 1, -1):
        _close(F.softmax(_t(x, device), dim), np_softmax(x, dim))
        _close(F.log_softmax(_t(x, device), dim=dim), np.log(np_softmax(x, dim)))
    y = F.softmax(_t(x, device), 1, dtype=xg.float32)
    assert y.dtype == xg.float32
    with pytest.raises(TypeError):
        F.softmax(_t(x))   # dim is required, as in modern PyTorch
    with pytest.raises(xg.ShapeError, match=r"log_softmax: dim=2 is out of range for input \(3, 4\)"):
        F.log_softmax(_t(x), 2)


def test_log_softmax_is_finite_for_huge_logits():
    y = F.log_softmax(xg.asarray([[1e4, -1e4, 0.0]]), dim=1).numpy()
    np.testing.assert_allclose(y, [[0.0, -2e4, -1e4]])


# ---------------------------------------------------------------- attention


def test_sdpa_matches_numpy(device):
    rng = RNG(14)
    q, k = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 6, 5))
    v = rng.standard_normal((2, 3, 6, 2))
    out = F.scaled_dot_product_attention(_t(q, device), _t(k, device), _t(v, device))
    assert out.device == device and out.shape == (2, 3, 4, 2)
    _close(out, np_sdpa(q, k, v)[0])
    _close(F.scaled_dot_product_attention(_t(q, device), _t(k, device), _t(v, device), scale=0.3),
           np_sdpa(q, k, v, scale=0.3)[0])
    # bool mask: True = attend (broadcast over the batch); a float mask is added
    mask = rng.random((4, 6)) < 0.6
    mask[:, 0] = True
    _close(F.scaled_dot_product_attention(_t(q, device), _t(k, device), _t(v, device), _t(mask, device)),
           np_sdpa(q, k, v, np.where(mask, 0.0, -np.inf))[0])
    fm = rng.standard_normal((3, 1, 6))
    _close(F.scaled_dot_product_attention(_t(q, device), _t(k, device), _t(v, device),
                                          attn_mask=_t(fm, device)), np_sdpa(q, k, v, fm)[0])


def test_sdpa_causal():
    rng = RNG(15)
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 3))
    causal = np.tril(np.ones((4, 5), dtype=bool))   # query i sees keys j ≤ i
    _close(F.scaled_dot_product_attention(_t(q), _t(k), _t(v), is_causal=True),
           np_sdpa(q, k, v, np.where(causal, 0.0, -np.inf))[0])
    # the first query sees only the first key
    _close(F.scaled_dot_product_attention(_t(q), _t(k), _t(v), is_causal=True)[:, 0], v[:, 0])


def test_sdpa_dropout_uses_the_seeded_mask():
    rng = RNG(16)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    xg.manual_seed(5)
    out = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), dropout_p=0.4)
    xg.manual_seed(5)
    mask = xg.random.bernoulli(0.6, (2, 3, 5), dtype=xg.float64).numpy()
    _, w = np_sdpa(q, k, v)
    _close(out, (w * mask / 0.6) @ v)


def test_sdpa_errors():
    q = xg.zeros((2, 3, 4))
    with pytest.raises(xg.ShapeError, match=r"scaled_dot_product_attention: query \(2, 3, 4\).* and key "
                                            r"\(2, 5, 3\).* same last axis"):
        F.scaled_dot_product_attention(q, xg.zeros((2, 5, 3)), xg.zeros((2, 5, 3)))
    with pytest.raises(xg.ShapeError, match="key .* and value .* same length S"):
        F.scaled_dot_product_attention(q, xg.zeros((2, 5, 4)), xg.zeros((2, 6, 4)))
    with pytest.raises(xg.ShapeError, match=r"attn_mask of shape \(4, 5\) does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=xg.zeros((4, 5)))
    with pytest.raises(xg.OpError, match="attn_mask or is_causal=True, not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=xg.zeros((3, 3)), is_causal=True)
    with pytest.raises(xg.DTypeError, match="attn_mask .* must be boolean or floating"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=xg.zeros((3, 3), dtype=xg.int64))


def _mha_params(rng, e, bias=True):
    return (rng.standard_normal((3 * e, e)) / math.sqrt(e), rng.standard_normal(3 * e) if bias else None,
            rng.standard_normal((e, e)) / math.sqrt(e), rng.standard_normal(e) if bias else None)


@pytest.mark.parametrize("batch_first", [False, True])
def test_multi_head_attention_matches_numpy(batch_first, device):
    rng = RNG(17)
    ln, s, n, e, h = 4, 5, 2, 6, 3
    q, k, v = rng.standard_normal((ln, n, e)), rng.standard_normal((s, n, e)), rng.standard_normal((s, n, e))
    in_w, in_b, out_w, out_b = _mha_params(rng, e)
    kpm = np.zeros((n, s), dtype=bool)
    kpm[0, -2:] = True
    am = rng.standard_normal((ln, s))
    want, w = np_mha(q, k, v, h, in_w, in_b, out_w, out_b, key_padding_mask=kpm, attn_mask=am)

    def lay(a):
        return _t(a.transpose(1, 0, 2) if batch_first else a, device)
    out, att = F.multi_head_attention(lay(q), lay(k), lay(v), h, _t(in_w, device), _t(in_b, device),
                                      _t(out_w, device), _t(out_b, device), key_padding_mask=_t(kpm, device),
                                      attn_mask=_t(am, device), batch_first=batch_first)
    assert out.device == device
    _close(out, want.transpose(1, 0, 2) if batch_first else want)
    _close(att, w.mean(axis=1))
    assert np.all(att.numpy()[0, :, -2:] == 0)   # padded keys get no attention
    _, per_head = F.multi_head_attention(lay(q), lay(k), lay(v), h, _t(in_w, device), _t(in_b, device),
                                         _t(out_w, device), _t(out_b, device),
                                         key_padding_mask=_t(kpm, device), attn_mask=_t(am, device),
                                         batch_first=batch_first, average_attn_weights=False)
    _close(per_head, w)


def test_multi_head_attention_self_attention_masks_and_unbatched():
    rng = RNG(18)
    ln, n, e, h = 4, 3, 4, 2
    x = rng.standard_normal((ln, n, e))
    in_w, in_b, out_w, out_b = _mha_params(rng, e)
    am = np.triu(np.ones((ln, ln), dtype=bool), 1)   # bool True = not attended
    am3 = np.where(rng.random((n * h, ln, ln)) < 0.3, -np.inf, 0.0)
    am3[..., 0] = 0.0
    xt = _t(x)
    for mask in (am, am3):
        want, w = np_mha(x, x, x, h, in_w, in_b, out_w, out_b, attn_mask=mask)
        out, att = F.multi_head_attention(xt, xt, xt, h, _t(in_w), _t(in_b), _t(out_w), _t(out_b),
                                          attn_mask=_t(mask))   # the packed self-attention path
        _close(out, want)
        _close(att, w.mean(axis=1))
    # is_causal without a mask is the triangular bool mask
    out, _ = F.multi_head_attention(xt, xt, xt, h, _t(in_w), _t(in_b), _t(out_w), _t(out_b), is_causal=True)
    _close(out, np_mha(x, x, x, h, in_w, in_b, out_w, out_b, attn_mask=am)[0])
    # unbatched (L, E); no biases; need_weights=False
    want, _ = np_mha(x[:, :1], x[:, :1], x[:, :1], h, in_w, None, out_w, None)
    out, att = F.multi_head_attention(_t(x[:, 0]), _t(x[:, 0].copy()), _t(x[:, 0].copy()), h, _t(in_w), None,
                                      _t(out_w), None, need_weights=False)
    assert att is None
    _close(out, want[:, 0])


def test_multi_head_attention_separate_projections():
    rng = RNG(19)
    ln, s, n, e, ek, ev, h = 3, 4, 2, 4, 5, 3, 2
    q, k = rng.standard_normal((n, ln, e)), rng.standard_normal((n, s, ek))
    v = rng.standard_normal((n, s, ev))
    qw, kw, vw = rng.standard_normal((e, e)), rng.standard_normal((e, ek)), rng.standard_normal((e, ev))
    in_b, out_w, out_b = rng.standard_normal(3 * e), rng.standard_normal((e, e)), rng.standard_normal(e)
    out, att = F.multi_head_attention(_t(q), _t(k), _t(v), h, None, _t(in_b), _t(out_w), _t(out_b),
                                      batch_first=True, q_proj_weight=_t(qw), k_proj_weight=_t(kw),
                                      v_proj_weight=_t(vw))
    qp, kp, vp = q @ qw.T + in_b[:e], k @ kw.T + in_b[e:2 * e], v @ vw.T + in_b[2 * e:]

    def heads(a):
        return a.reshape(n, a.shape[1], h, e // h).transpose(0, 2, 1, 3)
    o, w = np_sdpa(heads(qp), heads(kp), heads(vp))
    _close(out, o.transpose(0, 2, 1, 3).reshape(n, ln, e) @ out_w.T + out_b)
    _close(att, w.mean(axis=1))


def test_multi_head_attention_dropout_only_in_training():
    rng = RNG(20)
    x = _t(rng.standard_normal((3, 2, 4)))
    params = [_t(a) for a in _mha_params(rng, 4)]
    a = F.multi_head_attention(x, x, x, 2, *params, dropout_p=0.9, training=False)[1]
    b = F.multi_head_attention(x, x, x, 2, *params, dropout_p=0.0)[1]
    _close(a, b.numpy())
    xg.manual_seed(0)
    c = F.multi_head_attention(x, x, x, 2, *params, dropout_p=0.5, average_attn_weights=False)[1].numpy()
    assert (c == 0).any() and not np.allclose(c, 0)


def test_multi_head_attention_errors():
    x = xg.zeros((3, 2, 6))
    in_w, in_b, out_w, out_b = xg.zeros((18, 6)), xg.zeros((18,)), xg.zeros((6, 6)), xg.zeros((6,))
    with pytest.raises(xg.ShapeError, match="multi_head_attention: num_heads=4 must be a positive int"):
        F.multi_head_attention(x, x, x, 4, in_w, in_b, out_w, out_b)
    with pytest.raises(xg.ShapeError, match=r"in_proj_weight \(12, 6\).* must be \(18, 6\)"):
        F.multi_head_attention(x, x, x, 2, xg.zeros((12, 6)), in_b, out_w, out_b)
    with pytest.raises(xg.ShapeError, match=r"key_padding_mask .* must be \(2, 3\)"):
        F.multi_head_attention(x, x, x, 2, in_w, in_b, out_w, out_b, key_padding_mask=xg.zeros((3, 2)))
    with pytest.raises(xg.ShapeError, match=r"attn_mask .* must be \(3, 3\) or \(4, 3, 3\)"):
        F.multi_head_attention(x, x, x, 2, in_w, in_b, out_w, out_b, attn_mask=xg.zeros((2, 3, 3)))
    with pytest.raises(xg.ShapeError, match="must all be 3-D .* or all 2-D"):
        F.multi_head_attention(x, xg.zeros((3, 6)), x, 2, in_w, in_b, out_w, out_b)
    with pytest.raises(xg.ShapeError, match="disagree on the batch size"):
        F.multi_head_attention(x, xg.zeros((3, 1, 6)), xg.zeros((3, 1, 6)), 2, in_w, in_b, out_w, out_b)


# ---------------------------------------------------------------- re-exports


def test_activations_and_losses_are_re_exported():
    from xpgrad.ops import activations, losses

    for module in (activations, losses):
        for name in getattr(module, "__all__", ()):
            assert getattr(F, name) is getattr(module, name) and name in F.__all__
    for name in F.__all__:
        assert callable(getattr(F, name)), name


# ---------------------------------------------------------------- gradients, order 2


def _grad_cases(rng):
    """(name, f, args): each functional with its options, as a function of its floating inputs."""
    r = rng.standard_normal
    mask = r((3, 4)) > -0.5
    mask[:, 0] = True
    kpm = np.zeros((2, 4), dtype=bool)
    kpm[1, -1] = True
    e = 4
    mha = _mha_params(rng, e)
    return [
        ("linear", lambda x, w, b: F.linear(x, w, b), (r((3, 4)), r((2, 4)), r(2))),
        ("conv1d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=1, groups=2),
         (r((1, 4, 5)), r((2, 2, 3)), r(2))),
        ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
         (r((1, 2, 4, 4)), r((2, 2, 2, 2)), r(2))),
        ("conv_transpose2d",
         lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2),
         (r((1, 2, 2, 3)), r((2, 1, 3, 2)), r(2))),
        ("max_pool2d", lambda x: F.max_pool2d(x, 2, 1, 1), (r((1, 2, 3, 3)),)),
        ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (r((1, 2, 4, 4)),)),
        ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)), (r((1, 2, 3, 4)),)),
        ("batch_norm-train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
         (r((4, 2, 2)), r(2), r(2))),
        ("batch_norm-eval", lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b),
         (r((3, 2, 2)), r(2), rng.uniform(0.5, 2, 2), r(2), r(2))),
        ("layer_norm", lambda x, w, b: F.layer_norm(x, (2, 3), w, b), (r((2, 2, 3)), r((2, 3)), r((2, 3)))),
        ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), (r((2, 4, 3)), r(4), r(4))),
        ("dropout", lambda x: F.dropout(x, 0.4, generator=xg.random.Generator(3)), (r((3, 4)),)),
        # (the padding row's value is read with its gradient cut, so a grad check must not read it)
        ("embedding", lambda w: F.embedding(xg.asarray([[0, 2], [2, 3]], device=w.device), w, padding_idx=1),
         (r((4, 3)),)),
        ("flatten", lambda x: F.flatten(x, 0, 1) * x.shape[0], (r((2, 3, 2)),)),
        ("softmax", lambda x: F.softmax(x, 0), (r((3, 2)),)),
        ("log_softmax", lambda x: F.log_softmax(x, -1), (r((2, 3)),)),
        ("sdpa",
         lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=xg.asarray(mask, device=q.device)),
         (r((2, 3, 2)), r((2, 4, 2)), r((2, 4, 3)))),
        ("sdpa-causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7),
         (r((3, 2)), r((3, 2)), r((3, 2)))),
        ("multi_head_attention",
         lambda x, w, b, ow, ob: F.multi_head_attention(x, x, x, 2, w, b, ow, ob,
                                                        key_padding_mask=xg.asarray(kpm, device=x.device)),
         (r((4, 2, e)), *mha)),
    ]


GRAD_NAMES = [c[0] for c in _grad_cases(RNG(0))]


@pytest.mark.parametrize("name", GRAD_NAMES)
def test_gradients_second_order(name, grad_device):
    cases = {c[0]: c for c in _grad_cases(RNG(21))}
    _, f, args = cases[name]
    check_grads(f, [_t(a, grad_device) for a in args], order=2)


@pytest.mark.parametrize("name", ["conv_transpose2d", "batch_norm-train", "layer_norm",
                                  "multi_head_attention", "embedding", "adaptive_avg_pool2d"])
def test_gradients_on_opencl(name):
    dev = _usable("opencl:0")
    cases = {c[0]: c for c in _grad_cases(RNG(22))}
    _, f, args = cases[name]
    check_grads(f, [_t(a, dev) for a in args], order=2)
