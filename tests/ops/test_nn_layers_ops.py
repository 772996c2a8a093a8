"""conv_transpose2d and adaptive_avg_pool2d: numbers by hand, NumPy references, the adjoint identity, errors.

The op table test runs every declared sample on every device (float32 against
float64, gradients to second order in both modes); here are the values one can
check on paper, direct NumPy loops over random geometries, the identity
⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩ that defines the transposed
convolution, and the error messages.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import nn
from xpgrad.testing import check_grads


def _t(a, device="cpu"):
    return xg.asarray(np.asarray(a, dtype=np.float64), device=device)


# ---------------------------------------------------------------- NumPy references


def np_conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    """A loop over kernel taps: out[n, o, i, j] = Σ x_pad[n, c, i·s + a·d, j·s + b·d] · w[o, c, a, b]."""
    (sh, sw), (ph, pw), (dh, dw) = (nn._pair("ref", "", v, 0) for v in (stride, padding, dilation))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (h + 2 * ph - (kh - 1) * dh - 1) // sh + 1, (wd + 2 * pw - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for a in range(kh):
            for b in range(kw):
                patch = xs[:, :, a * dh:a * dh + (ho - 1) * sh + 1:sh, b * dw:b * dw + (wo - 1) * sw + 1:sw]
                wg = w[g * og:(g + 1) * og, :, a, b]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, wg)
    return out


def np_conv_transpose2d(x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Scatter form: pixel (i, j) adds x[n, c, i, j] · w[c, o, a, b] at (i·s − p + a·d, j·s − p + b·d)."""
    (sh, sw), (ph, pw), (qh, qw), (dh, dw) = (nn._pair("ref", "", v, 0)
                                              for v in (stride, padding, output_padding, dilation))
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + qh + 1
    wo = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + qw + 1
    full = np.zeros((n, cog * groups, ho + 2 * ph, wo + 2 * pw))   # in padded coordinates
    cig = cin // groups
    for g in range(groups):
        for a in range(kh):
            for b in range(kw):
                full[:, g * cog:(g + 1) * cog, a * dh:a * dh + (h - 1) * sh + 1:sh,
                     b * dw:b * dw + (wd - 1) * sw + 1:sw] += np.einsum(
                    "nchw,co->nohw", x[:, g * cig:(g + 1) * cig], w[g * cig:(g + 1) * cig, :, a, b])
    return full[:, :, ph:ph + ho, pw:pw + wo]


def np_adaptive_avg_pool2d(x, out):
    oh, ow = out
    h, w = x.shape[-2:]
    y = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            y[..., i, j] = x[..., r0:r1, c0:c1].mean(axis=(-2, -1))
    return y


# ---------------------------------------------------------------- conv_transpose2d by hand


def test_conv_transpose2d_by_hand():
    # each input pixel stamps the kernel at its position: 1·K at (0, 0), 2·K at (0, 1)
    x = _t([[[[1.0, 2.0]]]])
    w = _t([[[[1.0, 10.0], [100.0, 1000.0]]]])
    np.testing.assert_array_equal(xg.conv_transpose2d(x, w).numpy(),
                                  [[[[1.0, 12.0, 20.0], [100.0, 1200.0, 2000.0]]]])
    # stride 2 sets the stamps apart: (1 − 1)·2 + 2 = 2 rows, (2 − 1)·2 + 2 = 4 columns, no overlap
    np.testing.assert_array_equal(xg.conv_transpose2d(x, w, stride=2).numpy(),
                                  [[[[1.0, 10.0, 2.0, 20.0], [100.0, 1000.0, 200.0, 2000.0]]]])
    # padding crops the border of the full result; output_padding adds a zero row/column at the end
    np.testing.assert_array_equal(xg.conv_transpose2d(x, w, padding=(0, 1)).numpy(), [[[[12.0], [1200.0]]]])
    np.testing.assert_array_equal(xg.conv_transpose2d(x, w, stride=2, output_padding=1).numpy(),
                                  [[[[1.0, 10.0, 2.0, 20.0, 0.0], [100.0, 1000.0, 200.0, 2000.0, 0.0],
                                     [0.0] * 5]]])


def test_conv_transpose2d_is_the_gradient_of_conv2d():
    rng = np.random.default_rng(0)
    x = _t(rng.standard_normal((2, 4, 7, 6)))
    w = _t(rng.standard_normal((6, 2, 3, 2)))
    p = {"stride": (2, 1), "padding": 1, "dilation": (1, 2), "groups": 2}
    x.requires_grad = True
    y = xg.conv2d(x, w, **p)
    g = _t(rng.standard_normal(y.shape))
    xg.sum(y * g).backward()
    np.testing.assert_allclose(xg.conv_transpose2d(g, w, output_padding=(0, 0), **p).numpy(),
                               x.grad.numpy(), rtol=1e-12, atol=1e-12)


CONV_T_CASES = [
    ((2, 3, 4, 4), (3, 2, 3, 3), {}),
    ((1, 2, 3, 5), (2, 3, 3, 2), {"stride": 2, "padding": 1, "output_padding": 1}),
    ((1, 4, 3, 3), (4, 3, 2, 2), {"groups": 2, "stride": (3, 2), "output_padding": (2, 1)}),
    ((1, 2, 4, 3), (2, 2, 2, 3), {"dilation": (2, 3), "padding": (1, 2), "output_padding": (1, 2)}),
    ((2, 6, 2, 2), (6, 1, 3, 3), {"groups": 6, "stride": 2, "padding": 2, "dilation": 2}),
]


@pytest.mark.parametrize("xs,ws,p", CONV_T_CASES)
def test_conv_transpose2d_matches_a_numpy_loop(xs, ws, p, device):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = xg.conv_transpose2d(_t(x, device), _t(w, device), **p)
    assert y.device == device
    np.testing.assert_allclose(y.numpy(), np_conv_transpose2d(x, w, **p), rtol=1e-10, atol=1e-12)


def test_conv_transpose2d_float32_stays_float32(device):
    x = xg.ones((1, 2, 3, 3), dtype=xg.float32, device=device)
    w = xg.ones((2, 1, 2, 2), dtype=xg.float32, device=device)
    y = xg.conv_transpose2d(x, w, stride=2)
    assert y.dtype == xg.float32 and y.shape == (1, 1, 6, 6)


@st.composite
def conv_geometries(draw):
    groups = draw(st.integers(1, 3))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    reach = ((kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1)
    h = draw(st.integers(max(1, reach[0] - 2 * p[0]), 7))
    w = draw(st.integers(max(1, reach[1] - 2 * p[1]), 7))
    return (draw(st.integers(1, 2)), c, h, w), (o, c // groups, kh, kw), \
        {"stride": s, "padding": p, "dilation": d, "groups": groups}


@settings(max_examples=40, deadline=None)
@given(conv_geometries(), st.integers(0, 2 ** 32 - 1))
def test_conv_transpose2d_is_the_adjoint_of_conv2d(geometry, seed):
    # ⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩; output_padding restores rows the stride dropped
    xs, ws, p = geometry
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    cx = xg.conv2d(_t(x), _t(w), **p)
    y = rng.standard_normal(cx.shape)
    reach = [(k - 1) * d + 1 for k, d in zip(ws[2:], p["dilation"])]
    op = tuple((n + 2 * q - r) % s for n, q, r, s in zip(xs[2:], p["padding"], reach, p["stride"]))
    ty = xg.conv_transpose2d(_t(y), _t(w), output_padding=op, **p).numpy()
    assert ty.shape == xs
    lhs, rhs = np.vdot(cx.numpy(), y), np.vdot(x, ty)
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs))
    np.testing.assert_allclose(ty, np_conv_transpose2d(y, w, output_padding=op, **p), rtol=1e-9, atol=1e-11)


def test_conv_transpose2d_adjoint_with_output_padding_beyond_the_stride():
    # stride 1, dilation 2, output_padding 1: conv2d of the output reads one extra row and column,
    # so the adjoint identity holds with conv2d's result cropped to the input's size
    rng = np.random.default_rng(3)
    y, w = rng.standard_normal((1, 2, 3, 4)), rng.standard_normal((2, 3, 2, 2))
    ty = xg.conv_transpose2d(_t(y), _t(w), dilation=2, output_padding=1).numpy()   # (1, 3, 6, 7)
    x = rng.standard_normal(ty.shape)
    cx = np_conv2d(x, w, dilation=2)[:, :, :3, :4]
    np.testing.assert_allclose(np.vdot(cx, y), np.vdot(x, ty), rtol=1e-12)
    np.testing.assert_allclose(ty[:, :, -1], 0.0)   # no input pixel reaches the added row


@pytest.mark.parametrize("xs,ws,p", CONV_T_CASES[1:4])
def test_conv_transpose2d_gradients_second_order(xs, ws, p):
    rng = np.random.default_rng(2)
    args = (_t(rng.standard_normal(xs)), _t(rng.standard_normal(ws)))
    check_grads(lambda x, w: xg.conv_transpose2d(x, w, **p), args, order=2)


@pytest.mark.parametrize("dev", ["opencl:0", "fpga:0"])
def test_conv_transpose2d_gradients_on_devices(dev):
    try:
        xg.get_backend(dev)
    except xg.XpgradError as exc:
        pytest.skip(f"{dev} is not usable here: {exc}")
    rng = np.random.default_rng(4)
    xs, ws, p = CONV_T_CASES[1]
    args = (_t(rng.standard_normal(xs), dev), _t(rng.standard_normal(ws), dev))
    check_grads(lambda x, w: xg.conv_transpose2d(x, w, **p), args, order=2)


def test_conv_transpose2d_runs_the_conv2d_kernels(device):
    # the forward is a conv2d call: the device's conv2d dispatcher plans it, with conv2d's own kernels
    disp = nn.conv2d.kernels[xg.get_backend(device)]
    before = set(disp.cache)
    xg.conv_transpose2d(xg.ones((1, 3, 5, 5), device=device), xg.ones((3, 7, 3, 3), device=device), stride=3)
    new = set(disp.cache) - before
    assert new and all(k[2] == (7, 3, 3, 3) for k in new)   # the flipped, channel-swapped kernel


@pytest.mark.parametrize("kwargs,cls,words", [
    ({"x": (1, 3, 4, 4), "w": (2, 2, 3, 3)}, xg.ShapeError, "x has 3 channels, so w.shape[0] must be 3"),
    ({"x": (1, 3, 4), "w": (3, 2, 3, 3)}, xg.ShapeError, "both 4-D"),
    ({"x": (1, 4, 4, 4), "w": (4, 2, 3, 3), "groups": 3}, xg.ShapeError, "groups=3 does not divide"),
    ({"x": (1, 2, 4, 4), "w": (2, 2, 3, 3), "output_padding": 1}, xg.OpError,
     "output_padding (1, 1) must be smaller than the stride"),
    ({"x": (1, 2, 2, 2), "w": (2, 2, 1, 1), "padding": 1}, xg.ShapeError, "use less padding"),
    ({"x": (1, 2, 4, 4), "w": (2, 2, 3, 3), "stride": 0}, xg.OpError, "stride=0 must be at least 1"),
    ({"x": (1, 2, 4, 4), "w": (2, 2, 3, 3), "groups": 0}, xg.OpError, "groups must be a positive int"),
])
def test_conv_transpose2d_errors(kwargs, cls, words):
    kwargs = dict(kwargs)
    x, w = xg.zeros(kwargs.pop("x")), xg.zeros(kwargs.pop("w"))
    with pytest.raises(cls) as exc:
        xg.conv_transpose2d(x, w, **kwargs)
    assert "conv_transpose2d" in str(exc.value) and words in str(exc.value), str(exc.value)


def test_conv_transpose2d_geometry_by_hand():
    g = nn.conv_transpose2d_geometry((1, 4, 3, 5), (4, 2, 3, 2), stride=(2, 3), padding=(1, 0),
                                     output_padding=(1, 2), dilation=(1, 2))
    # (3 − 1)·2 − 2 + 1·2 + 1 + 1 = 6;  (5 − 1)·3 − 0 + 2·1 + 2 + 1 = 17
    assert g.out == (6, 17)


# ---------------------------------------------------------------- adaptive_avg_pool2d


def test_adaptive_avg_pool2d_by_hand():
    x = _t(np.arange(15.0).reshape(1, 1, 3, 5))
    # rows: 3 → 2 bins [0, 2), [1, 3); columns: 5 → 2 bins [0, 3), [2, 5)
    y = xg.adaptive_avg_pool2d(x, output_size=2).numpy()[0, 0]
    a = np.arange(15.0).reshape(3, 5)
    np.testing.assert_allclose(y, [[a[0:2, 0:3].mean(), a[0:2, 2:5].mean()],
                                   [a[1:3, 0:3].mean(), a[1:3, 2:5].mean()]])
    assert xg.adaptive_avg_pool2d(x, output_size=1).numpy().item() == 7.0   # the global mean
    # more bins than rows: each bin holds one row, some rows twice (3 → 4: [0,1), [0,2), [1,3), [2,3))
    y = xg.adaptive_avg_pool2d(x, output_size=(4, None)).numpy()[0, 0]
    np.testing.assert_allclose(y, [a[0], a[0:2].mean(0), a[1:3].mean(0), a[2]])


@pytest.mark.parametrize("shape,out", [
    ((2, 3, 8, 8), (4, 4)), ((2, 3, 8, 8), 1), ((1, 2, 7, 5), (3, 2)), ((1, 1, 5, 6), (5, None)),
    ((3, 6, 4), (2, 3)), ((1, 2, 3, 3), (7, 4)), ((1, 1, 6, 9), (None, 4)),
])
def test_adaptive_avg_pool2d_matches_a_numpy_loop(shape, out, device):
    x = np.random.default_rng(0).standard_normal(shape)
    y = xg.adaptive_avg_pool2d(_t(x, device), output_size=out)
    assert y.device == device
    pair = out if isinstance(out, tuple) else (out, out)
    full = tuple(n if m is None else m for n, m in zip(shape[-2:], pair))
    np.testing.assert_allclose(y.numpy(), np_adaptive_avg_pool2d(x, full), rtol=1e-12, atol=1e-14)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 10), st.integers(1, 10))
def test_adaptive_avg_pool2d_random_sizes(h, w, oh, ow):
    x = np.random.default_rng(h * 100 + w).standard_normal((1, 2, h, w))
    y = xg.adaptive_avg_pool2d(_t(x), output_size=(oh, ow)).numpy()
    np.testing.assert_allclose(y, np_adaptive_avg_pool2d(x, (oh, ow)), rtol=1e-12, atol=1e-14)


def test_adaptive_avg_pool2d_gradient_by_hand():
    # 3 → 2 bins [0, 2), [1, 3) along rows; the middle row belongs to both bins and gets 1/2 + 1/2
    x = _t(np.zeros((1, 1, 3, 1)))
    x.requires_grad = True
    xg.sum(xg.adaptive_avg_pool2d(x, output_size=(2, 1))).backward()
    np.testing.assert_allclose(x.grad.numpy().ravel(), [0.5, 1.0, 0.5])


@pytest.mark.parametrize("out", [(2, 3), 3, (5, None)])
def test_adaptive_avg_pool2d_gradients_second_order(out):
    x = _t(np.random.default_rng(5).standard_normal((1, 2, 4, 6)))
    check_grads(lambda x: xg.adaptive_avg_pool2d(x, output_size=out), (x,), order=2)


def test_adaptive_avg_pool2d_never_a_view():
    x = xg.ones((1, 1, 2, 2))
    y = xg.adaptive_avg_pool2d(x, output_size=(None, None))
    with xg.no_grad():
        x += 1.0
    assert y.numpy().tolist() == [[[[1.0, 1.0], [1.0, 1.0]]]]


@pytest.mark.parametrize("shape,out,cls,words", [
    ((1, 4, 4), 0, xg.OpError, "output_size must be a positive int"),
    ((1, 1, 4, 4), (2, 2, 2), xg.OpError, "output_size must be"),
    ((1, 1, 4, 4), None, xg.OpError, "output_size must be"),
    ((4, 4), 2, xg.ShapeError, "(N, C, H, W) or (C, H, W)"),
    ((1, 1, 0, 4), 2, xg.ShapeError, "empty"),
])
def test_adaptive_avg_pool2d_errors(shape, out, cls, words):
    with pytest.raises(cls) as exc:
        xg.adaptive_avg_pool2d(xg.zeros(shape), output_size=out)
    assert "adaptive_avg_pool2d" in str(exc.value) and words in str(exc.value), str(exc.value)
