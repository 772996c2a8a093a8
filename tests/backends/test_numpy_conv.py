"""conv2d's four NumPy kernels (backends/numpy/conv.py): direct, im2col, fft, winograd.

Each equals the generic Array API forward on every geometry it supports, declines
the rest with a reason, has a finite positive cost that grows with the problem,
and the cheapest moves where it should under a fixed device profile. Gradients
run through the dispatcher with each kernel preferred.

Tolerances, relative to the output's largest magnitude (or the largest single
product max|x|·max|w| where that is larger, as when every output is zero):
direct and im2col sum in another order than the generic forward (1e-6 in float32,
1e-12 in float64); FFT and Winograd round differently (2e-5 in float32, 1e-10 in
float64).
"""

import math
import time
from types import SimpleNamespace

import array_api_compat.numpy as cnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.backends.numpy import conv
from xpgrad.backends.numpy.profile import NumpyProfile
from xpgrad.core import dispatch as D
from xpgrad.core.dispatch import Signature
from xpgrad.testing import check_grads

GENERIC = xg.get_op("conv2d").forward
KERNELS = {name: (fwd, sup, cost) for name, fwd, sup, cost, _ in conv.KERNELS}
NAMES = list(KERNELS)
EXACT = {"direct", "im2col"}

#: a device profile with fixed figures, so that the choices below do not depend on this machine
FAKE = SimpleNamespace(peak_flops=1e11, peak_flops_f64=5e10, memory_bandwidth=4e10, launch_latency=2e-7,
                       host_bandwidth=math.inf, gemm_half=4.0, gemm_overhead=5e-8, gemv_overhead=2.5e-8,
                       gemm_latency=8e-7, fft_flops=1e10, fft_flops_f64=8e9, fft_overhead=3e-8,
                       loop_overhead=4e-9, cache_bytes=1 << 20)


def _sig(xs, ws, params=None, dtype="float32"):
    return Signature.of("conv2d", [xs, ws], dtype, params or {}, device="cpu")


def _tol(name, dtype):
    if np.dtype(dtype) in (np.float32, np.complex64):
        return 1e-6 if name in EXACT else 2e-5
    return 1e-12 if name in EXACT else 1e-10


def _assert_same(name, out, ref, x, w):
    assert type(out) is np.ndarray and out.flags.c_contiguous
    assert (out.dtype, out.shape) == (ref.dtype, ref.shape), name
    if ref.size:
        scale = max(float(np.abs(ref).max()), float(np.abs(x).max() * np.abs(w).max()), 1e-30)
        err = float(np.abs(out - ref).max()) / scale
        assert err <= _tol(name, ref.dtype), f"{name}: relative error {err:.3g}"


def _check_all(xs, ws, params, dtype, rng):
    """Every kernel that supports the call gives the generic forward's result; returns their names."""
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    ref = GENERIC(cnp, x, w, **params)
    sig = _sig(xs, ws, params, np.dtype(dtype).name)
    ran = []
    for name, (fwd, sup, _) in KERNELS.items():
        if sup(sig) is True:
            _assert_same(name, fwd(cnp, x, w, **params), ref, x, w)
            ran.append(name)
    return ran


# ---------------------------------------------------------------- equal to the generic forward

GEOMETRIES = [
    ((2, 3, 8, 8), (4, 3, 3, 3), {}),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"padding": 1}),
    ((2, 4, 9, 7), (6, 2, 3, 3), {"groups": 2, "padding": (2, 0)}),           # odd output: partial tiles
    ((1, 4, 9, 7), (6, 2, 3, 2), {"groups": 2, "stride": (2, 1), "padding": (1, 0)}),
    ((2, 3, 10, 10), (3, 1, 3, 3), {"groups": 3, "dilation": 2, "padding": 2}),   # depthwise, dilated
    ((1, 2, 5, 5), (2, 2, 5, 5), {}),                                          # kernel as large as the input
    ((1, 2, 3, 4), (5, 2, 1, 1), {"stride": 2}),
    ((3, 1, 7, 6), (2, 1, 2, 3), {"stride": 3, "padding": (2, 1), "dilation": (1, 2)}),
    ((2, 3, 9, 11), (4, 3, 4, 2), {"stride": (3, 2), "padding": (3, 1), "dilation": (2, 3)}),
    ((1, 1, 1, 1), (1, 1, 5, 5), {"padding": 2}),                              # padding wider than the input
    ((1, 2, 3, 3), (2, 2, 3, 3), {"padding": 3}),                              # padding wider than the kernel
    ((1, 1, 16, 16), (1, 1, 11, 11), {"padding": 5}),
    ((2, 4, 12, 12), (8, 4, 1, 1), {}),                                        # 1×1: the columns are a view
    ((0, 2, 4, 4), (3, 2, 2, 2), {}),                                          # empty batch
    ((2, 4, 6, 6), (0, 4, 3, 3), {"padding": 1}),                              # no output channels
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,params", GEOMETRIES)
def test_every_kernel_equals_the_generic_forward(xs, ws, params, dtype):
    assert {"direct", "im2col"} <= set(_check_all(xs, ws, params, dtype, np.random.default_rng(0)))


@st.composite
def _geometry(draw):
    groups = draw(st.integers(1, 3))
    cg, og, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if draw(st.booleans()):
        kh = kw = 3                      # give Winograd its share
    sh, sw, dh, dw = (draw(st.integers(1, 3)) for _ in range(4))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h = draw(st.integers(max(1, (kh - 1) * dh + 1 - 2 * ph), 14))
    w = draw(st.integers(max(1, (kw - 1) * dw + 1 - 2 * pw), 14))
    params = {"stride": (sh, sw), "padding": (ph, pw), "dilation": (dh, dw), "groups": groups}
    return (n, groups * cg, h, w), (groups * og, cg, kh, kw), params


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_geometry(), st.sampled_from([np.float32, np.float64]), st.integers(0, 2 ** 16))
def test_random_geometries_match_the_generic_forward(geo, dtype, seed):
    xs, ws, params = geo
    _check_all(xs, ws, params, dtype, np.random.default_rng(seed))


def test_complex_and_integer_dtypes():
    rng = np.random.default_rng(1)
    xs, ws, params = (2, 4, 7, 7), (4, 2, 3, 3), {"padding": 1, "groups": 2}
    x = (rng.standard_normal(xs) + 1j * rng.standard_normal(xs)).astype(np.complex64)
    w = (rng.standard_normal(ws) - 1j * rng.standard_normal(ws)).astype(np.complex64)
    ref = GENERIC(cnp, x, w, **params)
    sig = _sig(xs, ws, params, "complex64")
    for name in ("direct", "im2col"):
        assert KERNELS[name][1](sig) is True
        _assert_same(name, KERNELS[name][0](cnp, x, w, **params), ref, x, w)
    for name in ("fft", "winograd"):
        assert "complex" in KERNELS[name][1](sig)
    xi, wi = rng.integers(-5, 5, xs), rng.integers(-5, 5, ws)
    sig = _sig(xs, ws, params, "int64")
    for name in ("direct", "im2col"):
        np.testing.assert_array_equal(KERNELS[name][0](cnp, xi, wi, **params), GENERIC(cnp, xi, wi, **params))
    assert KERNELS["fft"][1](sig) == "FFT rounding would make integer results inexact (int64)"
    assert "integer" in KERNELS["winograd"][1](sig)
    assert isinstance(KERNELS["direct"][1](_sig(xs, ws, params, "bool")), str)


def test_mixed_dtypes_promote_as_the_generic_forward():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 6, 6)).astype(np.float32), rng.standard_normal((4, 3, 3, 3))
    ref = GENERIC(cnp, x, w, padding=1)
    assert ref.dtype == np.float64
    sig = Signature.of("conv2d", [x.shape, w.shape], ["float32", "float64"], {"padding": 1})
    for name, (fwd, sup, cost) in KERNELS.items():
        assert sup(sig) is True
        _assert_same(name, fwd(cnp, x, w, padding=1), ref, x, w)
        assert 0 < cost(sig, FAKE) < math.inf


def test_views_of_the_input_and_results_never_share_scratch():
    rng = np.random.default_rng(3)
    x = np.transpose(rng.standard_normal((6, 8, 12, 2)), (3, 1, 2, 0))     # (2, 8, 12, 6), not contiguous
    w = rng.standard_normal((8, 8, 3, 3))[:, :, ::-1, :]                   # negative strides
    before = x.copy(), w.copy()
    for name, (fwd, *_) in KERNELS.items():
        first = fwd(cnp, x, w, padding=1)
        kept = first.copy()
        second = fwd(cnp, x, w, padding=1)
        assert not np.shares_memory(first, second)
        np.testing.assert_array_equal(first, kept)   # the second call wrote nothing into the first result
        _assert_same(name, second, GENERIC(cnp, x, w, padding=1), x, w)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(w, before[1])


# ---------------------------------------------------------------- what each kernel declines


@pytest.mark.parametrize("xs,ws,params,why", [
    ((1, 3, 4, 4), (1, 2, 2, 2), {}, "channel mismatch"),
    ((1, 3, 4, 4), (2, 3, 5, 5), {}, "larger than the padded input"),
    ((1, 4, 4, 4), (3, 2, 1, 1), {"groups": 2}, "does not divide"),
    ((1, 3, 4, 4), (2, 3, 2, 2), {"stride": 0}, "must be at least 1"),
    ((1, 3, 4, 4), (2, 3, 2, 2), {"bias": True}, "not a conv2d call"),
])
def test_invalid_calls_are_declined_with_a_reason(xs, ws, params, why):
    sig = _sig(xs, ws, params)
    for name, (_, sup, _) in KERNELS.items():
        reason = sup(sig)
        assert isinstance(reason, str) and why in reason, (name, reason)


def test_the_dispatcher_then_raises_the_ops_error():
    with pytest.raises(xg.ShapeError, match="channel mismatch"):
        xg.conv2d(xg.zeros((1, 3, 4, 4)), xg.zeros((1, 2, 2, 2)))


@pytest.mark.parametrize("ws,params,why", [
    ((4, 3, 5, 5), {"padding": 2}, "3×3 kernels, not 5×5"),
    ((4, 3, 3, 3), {"stride": 2}, "stride 1"),
    ((4, 3, 3, 3), {"dilation": (1, 2), "padding": 2}, "dilation 1"),
])
def test_winograd_takes_3x3_at_stride_and_dilation_1(ws, params, why):
    assert why in KERNELS["winograd"][1](_sig((1, 3, 8, 8), ws, params))
    with pytest.raises(ValueError, match="3×3"):
        conv.winograd(cnp, np.ones((1, 3, 8, 8)), np.ones(ws), **params)


def test_float16_is_declined_by_fft_and_winograd():
    sig = _sig((1, 3, 8, 8), (4, 3, 3, 3), {}, "float16")
    assert isinstance(KERNELS["fft"][1](sig), str) and isinstance(KERNELS["winograd"][1](sig), str)


# ---------------------------------------------------------------- cost models

SIGNATURES = [((1, 3, 32, 32), (16, 3, 3, 3), {"padding": 1}),
              ((8, 16, 32, 32), (32, 16, 5, 5), {"padding": 2, "stride": 2}),
              ((2, 8, 64, 64), (8, 8, 11, 11), {"padding": 5}),
              ((16, 8, 34, 34), (32, 8, 32, 32), {}),                                # a weight gradient
              ((4, 32, 16, 16), (32, 1, 3, 3), {"padding": 1, "groups": 32}),
              ((8, 16, 32, 32), (16, 16, 1, 1), {}),
              ((1, 4, 20, 20), (4, 4, 3, 3), {"dilation": 3, "padding": 1}),
              ((0, 4, 8, 8), (4, 4, 3, 3), {})]


@pytest.mark.parametrize("profile", [FAKE, NumpyProfile()], ids=["fixed", "uncalibrated"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_costs_are_finite_positive_and_grow_with_the_batch(profile, dtype):
    for xs, ws, params in SIGNATURES:
        for name, (_, sup, cost) in KERNELS.items():
            sig = _sig(xs, ws, params, dtype)
            if sup(sig) is not True:
                continue
            c = cost(sig, profile)
            assert 0 < c < math.inf, (name, xs, ws, c)
            bigger = _sig((2 * xs[0] + 1,) + xs[1:], ws, params, dtype)
            assert cost(bigger, profile) >= c, (name, xs, ws)


def _choice(xs, ws, params):
    return D.choose(_sig(xs, ws, params), profile=FAKE).choice


def test_fft_for_large_kernels_on_large_images():
    sig = _sig((8, 32, 128, 128), (32, 32, 11, 11), {"padding": 5})
    costs = {name: cost(sig, FAKE) for name, (_, _, cost) in KERNELS.items() if name != "winograd"}
    assert min(costs, key=costs.get) == "fft"
    assert costs["fft"] * 3 < costs["im2col"]
    assert _choice((8, 32, 128, 128), (32, 32, 11, 11), {"padding": 5}) == "fft"


def test_winograd_or_im2col_for_3x3():
    assert _choice((8, 64, 32, 32), (64, 64, 3, 3), {"padding": 1}) in {"winograd", "im2col"}
    sig = _sig((8, 64, 32, 32), (64, 64, 3, 3), {"padding": 1})
    assert KERNELS["winograd"][2](sig, FAKE) < KERNELS["direct"][2](sig, FAKE)
    assert KERNELS["fft"][2](sig, FAKE) > KERNELS["winograd"][2](sig, FAKE)


def test_direct_or_im2col_for_1x1():
    for params in ({}, {"stride": 2}):
        assert _choice((8, 64, 32, 32), (64, 64, 1, 1), params) in {"direct", "im2col"}


def test_stride_makes_fft_dearer_relative_to_im2col():
    # FFT computes every stride-1 output and keeps a quarter; im2col only the kept ones
    fft_cost, im2col_cost = KERNELS["fft"][2], KERNELS["im2col"][2]
    s1, s2 = (_sig((4, 16, 64, 64), (16, 16, 7, 7), {"padding": 3, "stride": s}) for s in (1, 2))
    assert fft_cost(s2, FAKE) / im2col_cost(s2, FAKE) > 2 * fft_cost(s1, FAKE) / im2col_cost(s1, FAKE)


def test_fft_sizes_are_smooth():
    assert [conv._fast_len(n) for n in (1, 7, 11, 13, 17, 97, 127, 129)] == [1, 8, 12, 15, 18, 100, 128, 135]


# ---------------------------------------------------------------- registration, the profile


def test_the_four_kernels_are_registered_with_im2col_the_default():
    ks = D.candidates("conv2d", "cpu")
    assert [k.name for k in ks] == ["half", "im2col", "direct", "fft", "winograd"]   # half: float16/bf16 only
    assert [k.name for k in ks if k.default] == ["im2col"]
    assert isinstance(xg.get_op("conv2d").kernels[xg.get_backend("cpu")], D.Dispatcher)


def test_calibrate_measures_what_the_cost_models_read():
    p = NumpyProfile()
    assert p.gemm_half > 0 and p.fft_flops > 0 and p.cache_bytes >= 1 << 15   # defaults, unmeasured
    t0 = time.perf_counter()
    p.calibrate()
    assert time.perf_counter() - t0 < 3.0
    for name in ("gemm_half", "gemm_overhead", "gemv_overhead", "gemm_latency", "loop_overhead",
                 "fft_flops", "ifft_flops", "fft_flops_f64", "fft_overhead"):
        assert name in p.measured and 0 <= p.measured[name] < math.inf, name
        assert getattr(p, name) == p.measured[name]
    assert 1 <= p.gemm_half <= 256 and p.fft_flops > 1e7


# ---------------------------------------------------------------- gradients through the dispatcher


@pytest.mark.parametrize("name", NAMES)
def test_gradients_with_each_kernel_preferred(name):
    rng = np.random.default_rng(4)
    x = xg.asarray(rng.standard_normal((2, 4, 6, 6)))
    w = xg.asarray(rng.standard_normal((4, 2, 3, 3)))
    with D.prefer("conv2d", name):
        e = D.explain("conv2d", x, w, padding=1, groups=2)
        assert e.choice == name
        check_grads(lambda x, w: xg.conv2d(x, w, padding=1, groups=2), (x, w), order=2)
        if name != "winograd":   # Winograd computes stride 1 only
            w2 = xg.asarray(rng.standard_normal((3, 4, 2, 3)))
            check_grads(lambda x, w: xg.conv2d(x, w, stride=2, padding=(1, 0), dilation=(1, 2)), (x, w2),
                        order=1)
