"""The NumPy backend: its kernels agree with the generic forwards, its profile is sane."""

import math
import time

import array_api_compat.numpy as cnp
import numpy as np
import pytest

import xpgrad as xg
from xpgrad.backends.numpy import kernels
from xpgrad.backends.numpy.profile import NumpyProfile, SimdInfo

CPU = xg.get_backend("cpu")


def _same(kernel_out, generic_out, rtol=None):
    """Same type, dtype and shape; values equal to rounding (a few ulps: the order of sums differs)."""
    assert type(kernel_out) is np.ndarray
    assert kernel_out.dtype == generic_out.dtype and kernel_out.shape == generic_out.shape
    if rtol is None:
        rtol = 1e-6 if kernel_out.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(kernel_out, generic_out, rtol=rtol, atol=rtol, equal_nan=True)


@pytest.mark.parametrize("name", sorted(kernels.KERNELS))
def test_kernels_are_attached_to_the_cpu_backend(name):
    assert xg.get_op(name).kernels[CPU] is kernels.KERNELS[name]


# ---------------------------------------------------------------- conv2d

CONV = [
    ((2, 3, 8, 8), (4, 3, 3, 3), {}),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"padding": 1}),
    ((1, 4, 9, 7), (6, 2, 3, 2), {"groups": 2, "stride": (2, 1), "padding": (1, 0)}),
    ((2, 3, 10, 10), (3, 1, 3, 3), {"groups": 3, "dilation": 2, "padding": 2}),
    ((1, 2, 5, 5), (2, 2, 5, 5), {}),                            # one output position
    ((1, 2, 3, 4), (5, 2, 1, 1), {"stride": 2}),
    ((3, 1, 7, 6), (2, 1, 2, 3), {"stride": 3, "padding": (2, 1), "dilation": (1, 2)}),
    ((0, 2, 4, 4), (3, 2, 2, 2), {}),                            # empty batch
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("xs,ws,params", CONV)
def test_conv2d_kernel_equals_the_generic_forward(xs, ws, params, dtype):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    _same(kernels.conv2d(cnp, x, w, **params), xg.get_op("conv2d").forward(cnp, x, w, **params),
          rtol=1e-12 if dtype == np.float64 else 1e-5)


def test_conv2d_kernel_on_views_and_mixed_dtypes():
    rng = np.random.default_rng(1)
    conv = xg.get_op("conv2d")
    x = np.transpose(rng.standard_normal((6, 3, 2, 5)), (2, 1, 3, 0))   # (2, 3, 5, 6), not contiguous
    w = rng.standard_normal((4, 3, 3, 2))[:, :, ::-1, :]                # negative strides
    for args in [(x, w), (x.astype(np.float32), w), (np.round(x * 3).astype(np.int64), w)]:
        for p in ({}, {"padding": 1, "stride": 2}):
            _same(kernels.conv2d(cnp, *args, **p), conv.forward(cnp, *args, **p))


def test_conv2d_kernel_raises_the_ops_shape_error():
    with pytest.raises(xg.ShapeError, match="channel mismatch"):
        kernels.conv2d(cnp, np.zeros((1, 3, 4, 4)), np.zeros((1, 2, 2, 2)))


# ---------------------------------------------------------------- pooling

POOL = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((2, 3, 7, 9), {"kernel_size": 3, "stride": 1, "padding": 1}),
    ((1, 2, 9, 8), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 6, 7), {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 0)}),
    ((1, 1, 7, 7), {"kernel_size": 2, "stride": 3}),
    ((2, 2, 4, 4), {"kernel_size": 1}),
    ((1, 1, 5, 5), {"kernel_size": 5, "padding": 2}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("xs,params", POOL)
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_pool_kernels_equal_the_generic_forward(name, xs, params, dtype):
    x = np.random.default_rng(2).standard_normal(xs).astype(dtype)
    _same(kernels.KERNELS[name](cnp, x, **params), xg.get_op(name).forward(cnp, x, **params),
          rtol=1e-12 if dtype == np.float64 else 1e-6)


def test_pool_kernels_on_integers_nan_and_views():
    rng = np.random.default_rng(3)
    mp, ap = xg.get_op("max_pool2d"), xg.get_op("avg_pool2d")
    ints = rng.integers(-50, 50, (1, 2, 5, 5))
    p = {"kernel_size": 3, "stride": 2, "padding": 1}
    np.testing.assert_array_equal(kernels.max_pool2d(cnp, ints, **p), mp.forward(cnp, ints, **p))
    _same(kernels.avg_pool2d(cnp, ints, **p), ap.forward(cnp, ints, **p))   # falls back: same dtype
    x = rng.standard_normal((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    _same(kernels.max_pool2d(cnp, x, kernel_size=2), mp.forward(cnp, x, kernel_size=2))
    v = np.transpose(rng.standard_normal((5, 6, 2, 1)), (3, 2, 1, 0))
    _same(kernels.avg_pool2d(cnp, v, **p), ap.forward(cnp, v, **p))


def test_pool_kernels_do_not_return_views():
    x = np.ones((1, 1, 2, 2))
    for name in ("max_pool2d", "avg_pool2d"):
        assert not np.shares_memory(kernels.KERNELS[name](cnp, x, kernel_size=1), x)


# ---------------------------------------------------------------- softmax, log_softmax, logsumexp


def _logits():
    rng = np.random.default_rng(4)
    out = [rng.standard_normal(s) for s in [(5,), (3, 4), (2, 3, 4), (1, 7), (4, 1)]]
    out.append(rng.uniform(-1e4, 1e4, (3, 5)))                                  # large logits
    out.append(np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]]))     # a row of −inf
    out.append(np.array([[np.inf, 0.0], [np.nan, 1.0], [1.0, 2.0]]))            # inf and nan
    out.append(rng.standard_normal((3, 4)).astype(np.float32))
    return out


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_kernels_equal_the_generic_forward(name):
    op = xg.get_op(name)
    for x in _logits():
        for axis in range(-x.ndim, x.ndim):
            with np.errstate(all="ignore"):   # the −inf row and nan: both give nan, with NumPy's warnings
                _same(kernels.KERNELS[name](cnp, x, axis=axis), op.forward(cnp, x, axis=axis))


def test_logsumexp_kernel_equals_the_generic_forward():
    op = xg.get_op("logsumexp")
    cases = [(x, a) for x in _logits() for a in [None, *range(-x.ndim, x.ndim)]]
    cases += [(np.random.default_rng(5).standard_normal((2, 3, 4)), (0, 2)), (np.array(1.5), None),
              (np.full((2, 3), -np.inf), 1)]
    for x, axis in cases:
        for keepdims in (False, True):
            with np.errstate(all="ignore"):
                _same(kernels.logsumexp(cnp, x, axis=axis, keepdims=keepdims),
                      op.forward(cnp, x, axis=axis, keepdims=keepdims))


def test_softmax_family_kernels_fall_back_on_integers():
    x = np.arange(6).reshape(2, 3)
    for name in ("softmax", "log_softmax"):
        _same(kernels.KERNELS[name](cnp, x, axis=1), xg.get_op(name).forward(cnp, x, axis=1))
    _same(kernels.logsumexp(cnp, x, axis=1), xg.get_op("logsumexp").forward(cnp, x, axis=1))


def test_kernels_leave_their_input_alone():
    x = np.random.default_rng(6).standard_normal((2, 2, 5, 5))
    before = x.copy()
    for name, k in kernels.KERNELS.items():
        if name == "conv2d":
            k(cnp, x, np.ones((1, 2, 2, 2)), padding=1)
        elif name.endswith("pool2d"):
            k(cnp, x, kernel_size=3, stride=1, padding=1)
        else:
            k(cnp, x, axis=1)
    np.testing.assert_array_equal(x, before)


# ---------------------------------------------------------------- the device profile


def test_profile_is_attached_and_cheap_to_build():
    assert isinstance(CPU.profile, NumpyProfile)
    t0 = time.perf_counter()
    p = NumpyProfile()
    assert time.perf_counter() - t0 < 0.01
    assert p.measured == {}   # nothing is measured until asked


def test_profile_fields_are_sane():
    p = NumpyProfile()
    assert p.host_bandwidth == math.inf
    assert 1e8 < p.peak_flops_f64 < p.peak_flops < 1e15
    assert 1e8 < p.memory_bandwidth < 1e13   # bytes/s
    assert 0 < p.launch_latency < 1e-3       # seconds
    assert p.cpus >= 1 and p.clock[0] > 1e8
    assert isinstance(p.simd, SimdInfo)
    assert set(p.simd.dispatched).isdisjoint(p.simd.unavailable)
    assert all(isinstance(f, str) for f in p.simd.baseline + p.simd.features)
    assert isinstance(p.blas.get("name"), str)


def test_profile_reports_what_numpy_reports():
    p = NumpyProfile()
    simd = np.show_config(mode="dicts").get("SIMD Extensions", {})
    if simd:
        assert list(p.simd.baseline) == list(simd["baseline"])
        assert list(p.simd.dispatched) == list(simd["found"])
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert p.blas["name"] == blas["name"]


def test_profile_describes_itself():
    p = NumpyProfile()
    line = p.describe()
    assert isinstance(line, str) and "\n" not in line and line.startswith("NumPy")
    assert p.blas["name"] in line
    lines = p.details()
    assert all(isinstance(s, str) for s in lines)
    text = "\n".join(lines)
    for word in ("SIMD", "BLAS", "GFLOP/s", "GB/s", "µs", "host↔device"):
        assert word in text


def test_calibrate_measures_peak_flops():
    p = NumpyProfile().calibrate()
    assert {"peak_flops", "peak_flops_f64", "memory_bandwidth", "launch_latency"} <= set(p.measured)
    assert p.peak_flops == p.measured["peak_flops"] > 1e8
    assert "measured: matmul" in "\n".join(p.details())


def test_conv2d_rules_run_the_kernel_at_every_order(monkeypatch):
    calls = []
    op = xg.get_op("conv2d")

    def counting(xp, x, w, /, **params):
        calls.append(params)
        return kernels.conv2d(xp, x, w, **params)
    monkeypatch.setitem(op.kernels, CPU, counting)
    rng = np.random.default_rng(7)
    x = xg.asarray(rng.standard_normal((1, 2, 5, 5)), requires_grad=True)
    w = xg.asarray(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    y = xg.sum(xg.conv2d(x, w, stride=2, padding=1, groups=2) ** 2)
    assert len(calls) == 1
    gx, gw = xg.autograd.grad(y, (x, w), create_graph=True)
    assert len(calls) == 3                  # the VJPs for x and w are convolutions
    (xg.sum(gx * gx) + xg.sum(gw * gw)).backward()
    assert len(calls) > 3                   # and so are their VJPs
