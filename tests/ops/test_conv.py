"""conv2d, max_pool2d, avg_pool2d: numbers by hand, errors, gradients, a NumPy reference loop.

The op table test runs every declared sample (float32 vs float64, gradients to
second order in both modes); here are the numbers one can check on paper, the
error messages, and random shapes against a direct loop.
"""

import array_api_compat.numpy as cnp
import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import nn
from xpgrad.testing import check_grads

X3 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)      # [[1 2 3] [4 5 6] [7 8 9]]
W2 = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)


def _img(a):
    return xg.asarray(np.asarray(a, dtype=np.float64))


# ---------------------------------------------------------------- conv2d by hand


def test_conv2d_by_hand():
    # out[i, j] = 1·x[i, j] + 2·x[i, j+1] + 3·x[i+1, j] + 4·x[i+1, j+1]
    y = xg.conv2d(_img(X3), _img(W2))
    np.testing.assert_array_equal(y.numpy(), [[[[37.0, 47.0], [67.0, 77.0]]]])


def test_conv2d_gradients_by_hand():
    x, w = _img(X3), _img(W2)
    x.requires_grad = w.requires_grad = True
    xg.sum(xg.conv2d(x, w)).backward()
    # x̄: the sum of the kernel entries that touch each pixel
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    # w̄: the sum of the 2×2 input patch each kernel entry sees: 1+2+4+5, 2+3+5+6, ...
    np.testing.assert_array_equal(w.grad.numpy()[0, 0], [[12, 16], [24, 28]])


def test_conv2d_stride_padding_dilation_groups_by_hand():
    ones = _img(np.ones((1, 1, 2, 2)))
    # padded by one zero, windows at rows/cols 0-1 and 2-3: x00, x01+x02, x10+x20, x11+x12+x21+x22
    y = xg.conv2d(_img(X3), ones, stride=2, padding=1)
    np.testing.assert_array_equal(y.numpy(), [[[[1.0, 5.0], [11.0, 28.0]]]])
    # dilation 2: the four corners, 1 + 3 + 7 + 9
    assert xg.conv2d(_img(X3), ones, dilation=2).numpy().item() == 20.0
    # rectangular stride and padding: (3 + 2·0 − 2) // 1 + 1 = 2 rows, (3 + 2·1 − 2) // 2 + 1 = 2 columns
    y = xg.conv2d(_img(X3), ones, stride=(1, 2), padding=(0, 1))
    np.testing.assert_array_equal(y.numpy(), [[[[1 + 4.0, 2 + 3 + 5 + 6], [4 + 7.0, 5 + 6 + 8 + 9]]]])
    # groups = channels: each channel scaled by its own weight
    x2 = _img(np.stack([X3[0, 0], -X3[0, 0]])[None])
    y = xg.conv2d(x2, _img(np.array([2.0, 3.0]).reshape(2, 1, 1, 1)), groups=2)
    np.testing.assert_array_equal(y.numpy(), np.stack([2 * X3[0, 0], -3 * X3[0, 0]])[None])


def test_conv2d_matches_dense_matmul_for_a_1x1_kernel():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((6, 3, 1, 1))
    y = xg.conv2d(_img(x), _img(w)).numpy()
    np.testing.assert_allclose(y, np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0]), rtol=1e-12)


# ---------------------------------------------------------------- pooling by hand


def test_max_pool_by_hand():
    x = _img(np.arange(16.0).reshape(1, 1, 4, 4))
    x.requires_grad = True
    y = xg.max_pool2d(x, kernel_size=2)
    np.testing.assert_array_equal(y.numpy(), [[[[5.0, 7.0], [13.0, 15.0]]]])
    xg.sum(y).backward()
    expect = np.zeros((4, 4))
    expect[1, 1] = expect[1, 3] = expect[3, 1] = expect[3, 3] = 1.0
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expect)


def test_max_pool_ties_share_the_gradient_evenly():
    x = _img([[[[3.0, 3.0, 1.0, 1.0], [1.0, 2.0, 1.0, 1.0]]]])
    x.requires_grad = True
    xg.sum(xg.max_pool2d(x, kernel_size=2)).backward()
    # two tied maxima: a half each; four tied: a quarter each
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0.5, 0.5, 0.25, 0.25], [0, 0, 0.25, 0.25]])
    # the JVP agrees: a tangent of one on every input moves each maximum by one
    _, t = xg.jvp(lambda v: xg.max_pool2d(v, kernel_size=2), (x.detach(),), (xg.ones_like(x),))
    np.testing.assert_array_equal(t.numpy(), [[[[1.0, 1.0]]]])


def test_max_pool_pads_with_minus_infinity():
    x = _img([[[[-5.0, -6.0], [-7.0, -8.0]]]])
    y = xg.max_pool2d(x, kernel_size=2, stride=1, padding=1).numpy()
    np.testing.assert_array_equal(y[0, 0], [[-5, -5, -6], [-5, -5, -6], [-7, -7, -8]])  # zeros would win


def test_avg_pool_by_hand_counts_padding():
    x = _img(np.arange(16.0).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(xg.avg_pool2d(x, kernel_size=2).numpy(), [[[[2.5, 4.5], [10.5, 12.5]]]])
    y = xg.avg_pool2d(_img(np.ones((1, 1, 2, 2))), kernel_size=2, stride=1, padding=1).numpy()
    np.testing.assert_array_equal(y[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


def test_avg_pool_gradient_by_hand():
    x = _img(np.ones((1, 1, 3, 3)))
    x.requires_grad = True
    xg.sum(xg.avg_pool2d(x, kernel_size=2, stride=1)).backward()
    # each pixel gets 1/4 from each of the windows covering it: corners 1, edges 2, centre 4
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)


def test_pool_results_are_not_views_of_the_input():
    x = _img(np.ones((1, 1, 2, 2)))
    y = xg.max_pool2d(x, kernel_size=1)
    assert not np.shares_memory(y.numpy(), x.numpy())


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("xs,ws,params,words", [
    ((1, 3, 5, 5), (4, 2, 3, 3), {}, ["conv2d", "(1, 3, 5, 5)", "(4, 2, 3, 3)", "channel mismatch"]),
    ((1, 2, 3, 3), (1, 2, 4, 4), {}, ["conv2d", "larger than the padded input", "3×3"]),
    ((1, 2, 3, 3), (1, 2, 3, 3), {"dilation": 2}, ["reach 5×5", "larger than the padded input"]),
    ((1, 4, 5, 5), (4, 2, 3, 3), {"groups": 3}, ["groups=3 does not divide x's 4 channels"]),
    ((1, 4, 5, 5), (3, 2, 3, 3), {"groups": 2}, ["groups=2 does not divide w's 3 output channels"]),
    ((3, 5, 5), (4, 3, 3, 3), {}, ["(N, C, H, W)", "(3, 5, 5)"]),
])
def test_conv2d_shape_errors_name_the_op_the_shapes_and_the_problem(xs, ws, params, words):
    x, w = xg.zeros(xs), xg.zeros(ws)
    with pytest.raises(xg.ShapeError) as info:
        xg.conv2d(x, w, **params)
    for word in words:
        assert word in str(info.value)
    # the same diagnosis explains a kernel's failure (op.diagnose runs on the failure path)
    assert isinstance(xg.get_op("conv2d").diagnose((x, w), params), xg.ShapeError)


def test_conv2d_bad_parameters():
    x, w = xg.zeros((1, 1, 3, 3)), xg.zeros((1, 1, 2, 2))
    with pytest.raises(xg.OpError, match="stride=0 must be at least 1"):
        xg.conv2d(x, w, stride=0)
    with pytest.raises(xg.OpError, match="padding must be an int or a pair"):
        xg.conv2d(x, w, padding=(1, 2, 3))
    with pytest.raises(xg.OpError, match="groups must be a positive int"):
        xg.conv2d(x, w, groups=0)
    assert xg.get_op("conv2d").diagnose((x, w), {}) is None


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pool_errors(op):
    f = xg.get_op(op)
    with pytest.raises(xg.ShapeError, match=rf"{op}: x \(1, 1, 3, 3\): padding \(2, 2\) must be at most"):
        f(xg.zeros((1, 1, 3, 3)), kernel_size=3, padding=2)
    with pytest.raises(xg.ShapeError, match=rf"{op}: .*the kernel 4×4 is larger than the padded input"):
        f(xg.zeros((1, 1, 3, 3)), kernel_size=4)
    with pytest.raises(xg.ShapeError, match=r"\(N, C, H, W\)"):
        f(xg.zeros((3, 3)), kernel_size=2)
    with pytest.raises(xg.OpError, match="kernel_size=0"):
        f(xg.zeros((1, 1, 3, 3)), kernel_size=0)


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("xs,ws,params", [
    ((1, 2, 4, 4), (2, 2, 2, 2), {"stride": 2}),
    ((1, 2, 5, 4), (2, 1, 2, 3), {"groups": 2, "padding": (0, 2), "dilation": (2, 1)}),
    ((2, 1, 4, 4), (1, 1, 3, 3), {"padding": 1, "stride": (2, 1)}),
])
def test_conv2d_second_order_against_finite_differences(xs, ws, params):
    rng = np.random.default_rng(3)
    x, w = _img(rng.standard_normal(xs)), _img(rng.standard_normal(ws))
    check_grads(lambda a, b: xg.conv2d(a, b, **params), (x, w), order=2)


@pytest.mark.parametrize("op,params", [
    ("max_pool2d", {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0)}),
    ("avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
])
def test_pool_second_order_against_finite_differences(op, params):
    x = _img(np.random.default_rng(4).standard_normal((1, 2, 5, 5)))
    check_grads(lambda a: xg.get_op(op)(a, **params), (x,), order=2)


def test_generic_rules_are_pure_array_api():
    # array-api-strict arrays take the generic forwards and rules, recorded to second order
    rng = np.random.default_rng(5)
    xa, wa = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 1, 2, 2))
    p = {"stride": 2, "padding": 1, "groups": 2}
    hess = []
    for mk in (array_api_strict.asarray, np.asarray):
        x, w = xg.asarray(mk(xa)), xg.asarray(mk(wa))

        def f(a, w=w):
            return xg.sum(xg.conv2d(a, w, **p) ** 2) + xg.sum(xg.max_pool2d(a, kernel_size=3, padding=1) ** 3)
        v = xg.asarray(mk(np.ones_like(xa)))
        hess.append(np.asarray(xg.grad(lambda a, v=v, f=f: xg.sum(xg.grad(f)(a) * v))(x).data))
    np.testing.assert_allclose(hess[0], hess[1], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- a direct reference loop


def _reference(x, w, stride, padding, dilation, groups):
    """conv2d and its VJP-by-definition as loops over every output entry and tap."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho = (h + 2 * ph - (kh - 1) * dh - 1) // sh + 1
    wo = (wd + 2 * pw - (kw - 1) * dw - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, o, ho, wo))
    taps = []   # (output index, input index, weight index)
    for b in range(n):
        for oc in range(o):
            for a in range(ho):
                for q in range(wo):
                    for ci in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                r, s = a * sh + i * dh - ph, q * sw + j * dw - pw
                                if 0 <= r < h and 0 <= s < wd:
                                    xi = (b, oc // og * cg + ci, r, s)
                                    out[b, oc, a, q] += x[xi] * w[oc, ci, i, j]
                                    taps.append(((b, oc, a, q), xi, (oc, ci, i, j)))
    return out, taps


@st.composite
def _conv_case(draw):
    groups = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    reach = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    h = draw(st.integers(max(1, reach[0] - 2 * padding[0]), 6))
    w = draw(st.integers(max(1, reach[1] - 2 * padding[1]), 6))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((draw(st.integers(1, 2)), groups * cg, h, w))
    wt = rng.standard_normal((groups * og, cg, kh, kw))
    return x, wt, stride, padding, dilation, groups


@settings(max_examples=60, deadline=None)
@given(_conv_case())
def test_conv2d_against_a_reference_loop(case):
    x, w, stride, padding, dilation, groups = case
    p = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    ref, taps = _reference(x, w, stride, padding, dilation, groups)
    # the op (NumPy kernel on cpu) and the generic Array API forward
    np.testing.assert_allclose(xg.conv2d(_img(x), _img(w), **p).numpy(), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nn.conv2d.forward(cnp, x, w, **p), ref, rtol=1e-10, atol=1e-12)
    # both VJPs against their definition: x̄ = Σ u·w over the taps reading x, w̄ = Σ u·x
    u = np.random.default_rng(0).standard_normal(ref.shape)
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    for oi, xi, wi in taps:
        gx[xi] += u[oi] * w[wi]
        gw[wi] += u[oi] * x[xi]
    _, pull = xg.vjp(lambda a, b: xg.conv2d(a, b, **p), _img(x), _img(w))
    ax, aw = pull(_img(u))
    np.testing.assert_allclose(ax.numpy(), gx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(aw.numpy(), gw, rtol=1e-10, atol=1e-12)


@st.composite
def _pool_case(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    h = draw(st.integers(max(1, k[0] - 2 * p[0]), 6))
    w = draw(st.integers(max(1, k[1] - 2 * p[1]), 6))
    x = np.random.default_rng(draw(st.integers(0, 2 ** 16))).standard_normal((1, 2, h, w))
    return x, {"kernel_size": k, "stride": s, "padding": p}


@settings(max_examples=40, deadline=None)
@given(_pool_case())
def test_pools_against_a_reference_loop(case):
    x, p = case
    (kh, kw), (sh, sw), (ph, pw) = p["kernel_size"], p["stride"], p["padding"]
    n, c, h, w = x.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    mx, av = np.empty((n, c, ho, wo)), np.empty((n, c, ho, wo))
    gmx, gav = np.zeros_like(x), np.zeros_like(x)
    u = np.random.default_rng(1).standard_normal((n, c, ho, wo))
    for b in range(n):
        for ch in range(c):
            for a in range(ho):
                for q in range(wo):
                    cells = [(a * sh + i - ph, q * sw + j - pw) for i in range(kh) for j in range(kw)]
                    inside = [(r, t) for r, t in cells if 0 <= r < h and 0 <= t < w]
                    vals = [x[b, ch, r, t] for r, t in inside]
                    mx[b, ch, a, q] = max(vals)
                    av[b, ch, a, q] = sum(vals) / (kh * kw)   # padding counts
                    for r, t in inside:
                        gav[b, ch, r, t] += u[b, ch, a, q] / (kh * kw)
                        if x[b, ch, r, t] == max(vals):       # random inputs: no ties
                            gmx[b, ch, r, t] += u[b, ch, a, q]
    for name, ref, gref in (("max_pool2d", mx, gmx), ("avg_pool2d", av, gav)):
        op = xg.get_op(name)
        y, pull = xg.vjp(lambda v, op=op: op(v, **p), _img(x))
        np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(op.forward(cnp, x, **p), ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(pull(_img(u))[0].numpy(), gref, rtol=1e-12, atol=1e-12)
