"""FFTs and conv2d by FFT on the OpenCL backend (``backends/opencl/fft.py``).

* ``fft``/``ifft`` against ``numpy.fft`` along every axis, batched, for smooth
  lengths (1, 2, primes 3/5/7, powers of two up to 4096 and mixed ones, both the
  one-launch per-line path and the multi-pass one for long lines), Bluestein for
  the others, float32 and float64; ``fft2``/``ifft2``, ``rfft2``/``irfft2``;
  non-contiguous inputs; the errors;
* the ``fft`` conv2d kernel against the generic forward computed by NumPy over
  many geometries (groups, stride, padding, dilation, rectangular kernels, a
  kernel as large as the input, outputs that read only padding, both packings),
  non-contiguous inputs, float32/float64, and a hypothesis sweep;
* ``supports`` declines integers, mixed dtypes, invalid geometry and too large
  grids with the reason; the cost model is positive and finite, and
  ``measure_fft_flops`` gives a rate;
* out of memory or resources is an ``OutOfResourcesError`` naming the kernel;
* gradients through the dispatcher with the kernel preferred (``check_grads``).

Skips (with the reason) where no OpenCL device works, unless ``XPGRAD_REQUIRE_DEVICES``
names opencl:0, in which case that is a failure.
"""

import importlib.util
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.core import dispatch as D
from xpgrad.core.errors import OutOfResourcesError
from xpgrad.ops.nn import conv2d
from xpgrad.testing import check_grads

DEV = "opencl:0"

try:
    BACKEND = xg.get_backend(DEV)
    WHY = ""
except xg.DeviceError as exc:
    BACKEND, WHY = None, str(exc)
if BACKEND is None:
    if DEV in os.environ.get("XPGRAD_REQUIRE_DEVICES", "").split(","):
        pytest.fail(f"{DEV} is required (XPGRAD_REQUIRE_DEVICES) but not usable: {WHY}", pytrace=False)
    print(f"\nskipping the OpenCL FFT tests: {WHY}")
    pytest.skip(f"no usable OpenCL device: {WHY}", allow_module_level=True)

import pyopencl as cl  # noqa: E402

from xpgrad.backends.opencl import fft as FT  # noqa: E402
from xpgrad.backends.opencl import namespace as cx  # noqa: E402

_SIGNATURES = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "dispatch_signatures.py")
_spec = importlib.util.spec_from_file_location("dispatch_signatures", _SIGNATURES)
_sigs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sigs)
CONV2D = _sigs.CONV2D          # the benchmark's conv2d signatures: (x shape, w shape, stride), padding k // 2

D_ = BACKEND.cl_device
FP64 = D_.fp64
FLOATS = ["float32", "float64"] if FP64 else ["float32"]
TOL = {"float32": 1e-4, "float64": 1e-10}   # relative to the result's largest magnitude
SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)


@pytest.fixture(scope="module", autouse=True)
def registered():
    """The fft kernel as a dispatcher candidate for conv2d on opencl (idempotent by name)."""
    for k in FT.kernels():
        D.register(k, plugin="tests")
    yield


def cup(z, dtype):
    """A complex host array onto the device as (..., 2) real pairs."""
    z = np.asarray(z)
    return cx.asarray(np.ascontiguousarray(np.stack([z.real, z.imag], -1)).astype(dtype))


def cdown(a):
    h = BACKEND.to_host(a)
    return h[..., 0] + 1j * h[..., 1]


def crand(rng, shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def rel_err(got, ref):
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-30)) if np.size(ref) else 0.0


def sig_of(xs, ws, params=None, dtype="float32", layouts=None):
    return D.Signature.of("conv2d", [xs, ws], dtype, params or {}, device=DEV, layouts=layouts)


def reference(x, w, params):
    return conv2d.forward(np, np.asarray(x, np.float64), np.asarray(w, np.float64), **params)


def conv_err(got, x, w, params):
    """The error against the generic forward, relative to the output's largest magnitude, or to
    max|x|·max|w| where the output is (nearly) zero: FFT rounding scales with the operands."""
    ref = reference(x, w, params)
    assert got.shape == ref.shape
    if not ref.size:
        return 0.0
    scale = max(float(np.max(np.abs(ref))), float(np.max(np.abs(x)) * np.max(np.abs(w))))
    return float(np.max(np.abs(got - ref))) / scale


# ---------------------------------------------------------------- sizes


def test_radices_and_fast_len():
    assert FT.radices(1) == [] and FT.radices(2) == [2] and FT.radices(64) == [8, 8]
    assert FT.radices(120) == [8, 3, 5] and FT.radices(11) is None and FT.radices(0) is None
    assert [FT.fast_len(n) for n in (1, 11, 13, 69, 129, 512, 513)] == [1, 12, 14, 70, 135, 512, 525]


# ---------------------------------------------------------------- fft against numpy

LENGTHS = [1, 2, 3, 4, 5, 7, 8, 12, 16, 30, 64, 105, 128, 135, 512, 1024, 3 * 1024, 4096]


@pytest.mark.parametrize("n", LENGTHS)
def test_fft_along_every_axis_matches_numpy(n):
    rng = np.random.default_rng(n)
    z = crand(rng, (2, n, 3))
    for dtype in FLOATS:
        a = cup(z, dtype)
        for axis in (0, 1, 2, -1):
            got = cdown(FT.fft(a, axis))
            assert rel_err(got, np.fft.fft(z, axis=axis)) < TOL[dtype] / 10, (dtype, axis)
            back = cdown(FT.ifft(FT.fft(a, axis), axis))
            assert rel_err(back, z) < TOL[dtype] / 10, (dtype, axis)
        assert rel_err(cdown(FT.fft(a, 1, inverse=True)), np.fft.ifft(z, axis=1)) < TOL[dtype] / 10


@pytest.mark.parametrize("n", [11, 97, 1031])
def test_other_lengths_by_bluestein(n):
    rng = np.random.default_rng(n)
    z = crand(rng, (3, n))
    for dtype in FLOATS:
        a = cup(z, dtype)
        assert rel_err(cdown(FT.fft(a)), np.fft.fft(z)) < TOL[dtype] / 10
        assert rel_err(cdown(FT.ifft(a)), np.fft.ifft(z)) < TOL[dtype] / 10


def test_a_large_batch_of_long_lines():
    rng = np.random.default_rng(7)
    z = crand(rng, (40, 2048))
    assert rel_err(cdown(FT.fft(cup(z, "float32"))), np.fft.fft(z)) < 1e-5


def test_fft2_and_ifft2():
    rng = np.random.default_rng(8)
    for shape in [(1, 1), (4, 6, 10), (2, 3, 32, 20), (1, 135, 128)]:
        z = crand(rng, shape)
        for dtype in FLOATS:
            a = cup(z, dtype)
            assert rel_err(cdown(FT.fft2(a)), np.fft.fft2(z)) < TOL[dtype] / 10
            assert rel_err(cdown(FT.ifft2(a)), np.fft.ifft2(z)) < TOL[dtype] / 10


@pytest.mark.parametrize("shape", [(4, 4), (3, 8, 6), (2, 2, 5, 12), (1, 1), (2, 1, 7), (5, 36, 35)])
def test_rfft2_and_irfft2(shape):
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape)
    for dtype in FLOATS:
        got = cdown(FT.rfft2(cx.asarray(x.astype(dtype))))
        ref = np.fft.rfft2(x)
        assert got.shape == ref.shape and rel_err(got, ref) < TOL[dtype] / 10
        X = crand(rng, ref.shape)        # any half spectrum: its Hermitian part, as numpy does
        y = BACKEND.to_host(FT.irfft2(cup(X, dtype), shape[-2:]))
        assert rel_err(y, np.fft.irfft2(X, s=shape[-2:])) < TOL[dtype] / 10


def test_non_contiguous_inputs_are_copied_first():
    rng = np.random.default_rng(10)
    z = crand(rng, (6, 16))
    a = cup(z, "float32")
    t = cx.permute_dims(a, (1, 0, 2))                      # (16, 6, 2), strided
    assert rel_err(cdown(FT.fft(t, 0)), np.fft.fft(z.T, axis=0)) < 1e-5
    f = cx.flip(a, axis=1)
    assert rel_err(cdown(FT.fft(f, 1)), np.fft.fft(z[:, ::-1], axis=1)) < 1e-5
    s = a[1:5, ::2]
    assert rel_err(cdown(FT.fft(s)), np.fft.fft(z[1:5, ::2])) < 1e-5
    x = rng.standard_normal((4, 12, 10))
    xt = cx.permute_dims(cx.asarray(x.astype(np.float32)), (0, 2, 1))
    assert rel_err(cdown(FT.rfft2(xt)), np.fft.rfft2(x.transpose(0, 2, 1))) < 1e-5


def test_empty_batches():
    a = cx.zeros((0, 8, 2), dtype=cx.float32)
    assert FT.fft(a).shape == (0, 8, 2)
    assert FT.rfft2(cx.zeros((0, 4, 4), dtype=cx.float32)).shape == (0, 4, 3, 2)


def test_fft_errors():
    with pytest.raises(ValueError, match="trailing axis of 2"):
        FT.fft(cx.zeros((4, 3), dtype=cx.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        FT.fft(cx.zeros((4, 2), dtype=cx.int32))
    with pytest.raises(TypeError, match="OpenCL array"):
        FT.fft(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="axis"):
        FT.fft(cx.zeros((4, 2), dtype=cx.float32), 3)
    with pytest.raises(ValueError, match="length 11 is not supported"):
        FT.rfft2(cx.zeros((11, 4), dtype=cx.float32))
    with pytest.raises(ValueError, match="do not match"):
        FT.irfft2(cx.zeros((4, 4, 2), dtype=cx.float32), (4, 4))


# ---------------------------------------------------------------- conv2d by FFT

GEOMETRIES = [
    ((2, 3, 8, 8), (4, 3, 3, 3), {}),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": 1}),                                  # packs channels
    ((3, 4, 9, 7), (6, 2, 3, 2), {"groups": 2, "padding": (1, 2), "stride": (2, 1), "dilation": (1, 2)}),
    ((2, 4, 10, 10), (4, 1, 5, 5), {"groups": 4, "padding": 2, "stride": 2}),     # depthwise
    ((1, 1, 6, 6), (1, 1, 6, 6), {}),                                              # kernel as large as x
    ((2, 2, 5, 7), (3, 2, 5, 7), {"padding": (4, 1)}),
    ((1, 2, 12, 12), (3, 2, 3, 3), {"dilation": 3, "stride": 3, "padding": 1}),
    ((4, 2, 6, 6), (1, 2, 3, 3), {}),
    ((1, 1, 5, 5), (1, 1, 1, 1), {"padding": 7}),                                  # mostly padding
    ((1, 1, 2, 2), (2, 1, 1, 1), {"padding": 3, "stride": 10}),                    # reads only padding
    ((5, 3, 7, 9), (5, 3, 2, 4), {"stride": (3, 2), "padding": (0, 3)}),           # odd batch, odd channels
    ((1, 6, 8, 8), (9, 2, 3, 3), {"groups": 3, "padding": 1}),                     # odd output channels/group
    ((2, 4, 16, 16), (4, 4, 7, 7), {"padding": 3}),
    ((1, 2, 20, 20), (2, 2, 11, 11), {"padding": 5, "stride": 2}),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("xs,ws,params", GEOMETRIES)
def test_conv2d_fft_matches_the_generic_forward(xs, ws, params, dtype):
    rng = np.random.default_rng(abs(hash((xs, ws))) % 2**32)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    got = BACKEND.to_host(FT.conv2d_fft(cx, cx.asarray(x.astype(dtype)), cx.asarray(w.astype(dtype)),
                                        **params))
    assert got.dtype == np.dtype(dtype)
    assert conv_err(got, x, w, params) < TOL[dtype]


@pytest.mark.parametrize("pack", ["n", "o"])
@pytest.mark.parametrize("xs,ws,params", GEOMETRIES[:12])
def test_both_packings(xs, ws, params, pack):
    """Pairs along the batch (odd batches leave one image alone) or along the output channels of a
    group (odd counts too), whichever the plan would not pick as well."""
    rng = np.random.default_rng(abs(hash((xs, ws, pack))) % 2**32)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    xd, wd = cx.asarray(x.astype(np.float32)), cx.asarray(w.astype(np.float32))
    p = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, **params}
    got = BACKEND.to_host(FT._conv2d_fft(xd, wd, p["stride"], p["padding"], p["dilation"], p["groups"], pack))
    assert conv_err(got, x, w, params) < 1e-4


def test_the_plan_picks_the_cheaper_packing():
    assert FT.conv2d_fft_plan((64, 3, 32, 32), (16, 3, 3, 3)).pack == "n"     # many images, few kernels
    assert FT.conv2d_fft_plan((1, 8, 64, 64), (8, 8, 7, 7)).pack == "o"       # one image
    assert FT.conv2d_fft_plan((2, 32, 32, 32), (32, 32, 5, 5)).pack == "o"    # more kernels than images


def test_conv2d_fft_on_non_contiguous_inputs():
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((3, 2, 9, 8)), rng.standard_normal((4, 2, 3, 3))
    xd, wd = cx.asarray(x.astype(np.float32)), cx.asarray(w.astype(np.float32))
    views = [
        (cx.permute_dims(cx.asarray(x.transpose(1, 0, 2, 3).astype(np.float32)), (1, 0, 2, 3)), wd, x, w),
        (cx.flip(xd, axis=(2, 3)), cx.flip(wd, axis=3), x[:, :, ::-1, ::-1], w[..., ::-1]),
        (xd[:, :, 1:, ::2], wd[:, :, :2], x[:, :, 1:, ::2], w[:, :, :2]),
        (cx.broadcast_to(xd[:1], (3, 2, 9, 8)), wd, np.broadcast_to(x[:1], (3, 2, 9, 8)), w),
    ]
    for xv, wv, xh, wh in views:
        got = BACKEND.to_host(FT.conv2d_fft(cx, xv, wv, padding=1))
        assert conv_err(got, xh, wh, {"padding": 1}) < 1e-4


@SETTINGS
@given(n=st.integers(1, 3), g=st.integers(1, 2), cg=st.integers(1, 3), og=st.integers(1, 3),
       h=st.integers(1, 10), w=st.integers(1, 10), kh=st.integers(1, 5), kw=st.integers(1, 5),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), p=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       d=st.tuples(st.integers(1, 2), st.integers(1, 2)))
def test_conv2d_fft_hypothesis(n, g, cg, og, h, w, kh, kw, s, p, d):
    xs, ws = (n, g * cg, h, w), (g * og, cg, kh, kw)
    params = {"stride": s, "padding": p, "dilation": d, "groups": g}
    if FT.conv2d_fft_supports(sig_of(xs, ws, params)) is not True:
        return                                   # an invalid geometry: covered below
    rng = np.random.default_rng(0)
    x, wt = rng.standard_normal(xs), rng.standard_normal(ws)
    xd, wd = cx.asarray(x.astype(np.float32)), cx.asarray(wt.astype(np.float32))
    got = BACKEND.to_host(FT.conv2d_fft(cx, xd, wd, **params))
    assert conv_err(got, x, wt, params) < 1e-4


def test_invalid_geometry_raises_conv2ds_own_error():
    x, w = cx.zeros((1, 2, 4, 4), dtype=cx.float32), cx.zeros((3, 2, 5, 5), dtype=cx.float32)
    with pytest.raises(xg.ShapeError, match="larger than the padded input"):
        FT.conv2d_fft(cx, x, w)


# ---------------------------------------------------------------- supports, cost, calibration


def test_supports_declines_with_reasons():
    ok = sig_of((2, 3, 8, 8), (4, 3, 3, 3), {"padding": 1})
    assert FT.conv2d_fft_supports(ok) is True
    assert "integer" in FT.conv2d_fft_supports(sig_of((2, 3, 8, 8), (4, 3, 3, 3), dtype="int32"))
    assert "mixed" in FT.conv2d_fft_supports(
        D.Signature.of("conv2d", [(2, 3, 8, 8), (4, 3, 3, 3)], ["float32", "float64"], device=DEV))
    assert "invalid conv2d call" in FT.conv2d_fft_supports(sig_of((2, 3, 4, 4), (4, 3, 5, 5)))
    assert "invalid conv2d call" in FT.conv2d_fft_supports(sig_of((2, 3, 8, 8), (4, 2, 3, 3)))
    assert "invalid conv2d call" in FT.conv2d_fft_supports(sig_of((2, 3, 8, 8), (4, 3, 3, 3), {"stride": 0}))
    assert "exceeds" in FT.conv2d_fft_supports(sig_of((1, 1, 600, 8), (1, 1, 3, 3)))
    assert "empty" in FT.conv2d_fft_supports(sig_of((0, 3, 8, 8), (4, 3, 3, 3)))
    assert "unknown" in FT.conv2d_fft_supports(sig_of((1, 3, 8, 8), (4, 3, 3, 3), {"bias": True}))
    k = FT.kernels()[0]
    assert (k.op, k.family, k.name) == ("conv2d", "opencl", "fft")
    assert k.check(sig_of((2, 3, 8, 8), (4, 3, 3, 3), dtype="int64")).startswith("dtype int64")


FAKE = SimpleNamespace(peak_flops=1e11, peak_flops_f64=5e10, memory_bandwidth=5e10, launch_latency=2e-5)


def test_the_cost_model_is_positive_and_finite():
    for prof in (BACKEND.profile, FAKE, SimpleNamespace(**vars(FAKE), fft_flops=3e10, fft_cgemm_flops=5e10)):
        for xs, ws, s in CONV2D:
            for dtype in ("float32", "float64"):
                c = FT.conv2d_fft_cost(sig_of(xs, ws, {"stride": s, "padding": ws[-1] // 2}, dtype), prof)
                assert math.isfinite(c) and c > 0
    assert FT.conv2d_fft_cost(sig_of((2, 3, 4, 4), (4, 3, 5, 5)), FAKE) == math.inf
    base = FT.conv2d_fft_cost(sig_of((4, 8, 64, 64), (8, 8, 7, 7), {"padding": 3}), FAKE)
    # a strided operand costs a copy; float64 runs at the float64 peak; 8 launches at least
    strided = FT.conv2d_fft_cost(sig_of((4, 8, 64, 64), (8, 8, 7, 7), {"padding": 3},
                                        layouts=("strided", "C")), FAKE)
    f64 = FT.conv2d_fft_cost(sig_of((4, 8, 64, 64), (8, 8, 7, 7), {"padding": 3}, "float64"), FAKE)
    assert strided > base and f64 > base and base > 8 * FAKE.launch_latency


def test_measure_fft_flops():
    rate = FT.measure_fft_flops(D_, repeats=1)
    assert math.isfinite(rate) and 1e7 < rate < 1e14


# ---------------------------------------------------------------- resources


def test_running_out_of_memory_is_out_of_resources(monkeypatch):
    x, w = cx.asarray(np.ones((1, 2, 6, 6), np.float32)), cx.asarray(np.ones((3, 2, 3, 3), np.float32))

    def fail(nbytes):
        raise cl.MemoryError("clCreateBuffer failed: MEM_OBJECT_ALLOCATION_FAILURE")

    monkeypatch.setattr(D_, "alloc", fail)
    with pytest.raises(OutOfResourcesError, match=r"conv2d \(fft\) on opencl:0: x \(1, 2, 6, 6\), "
                                                  r"w \(3, 2, 3, 3\).*MEM_OBJECT_ALLOCATION_FAILURE"):
        FT.conv2d_fft(cx, x, w, padding=1)


def test_a_launch_out_of_resources_is_translated_and_other_errors_are_not(monkeypatch):
    x, w = cx.asarray(np.ones((1, 2, 6, 6), np.float32)), cx.asarray(np.ones((3, 2, 3, 3), np.float32))

    def launch(*a, **k):
        raise cl.RuntimeError("clEnqueueNDRangeKernel failed: OUT_OF_RESOURCES")

    monkeypatch.setattr(FT, "_line", launch)
    with pytest.raises(OutOfResourcesError, match=r"fft.*OUT_OF_RESOURCES"):
        FT.conv2d_fft(cx, x, w)
    monkeypatch.setattr(FT, "_line", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        FT.conv2d_fft(cx, x, w)


# ---------------------------------------------------------------- through the dispatcher, with gradients


def test_the_dispatcher_runs_the_preferred_kernel():
    rng = np.random.default_rng(12)
    xs, ws = rng.standard_normal((2, 4, 8, 8)), rng.standard_normal((6, 4, 3, 3))
    calls = []
    k = FT.kernels()[0]
    real = k.forward
    k.forward = lambda *a, **kw: calls.append("fft") or real(*a, **kw)
    D.register(k, plugin="tests")
    try:
        with D.prefer("conv2d", "fft"):
            y = xg.conv2d(xg.asarray(xs, device=DEV), xg.asarray(ws, device=DEV), padding=1)
            e = D.explain("conv2d", xg.asarray(xs, device=DEV), xg.asarray(ws, device=DEV), padding=1)
    finally:
        for k in FT.kernels():
            D.register(k, plugin="tests")
    assert calls == ["fft"] and e.choice == "fft"
    assert conv_err(y.numpy(), xs, ws, {"padding": 1}) < TOL[str(y.dtype)]


@pytest.mark.skipif(not FP64, reason="check_grads works in float64; this device has no float64")
def test_gradients_through_the_dispatcher():
    """First and second order, forward and reverse: the VJP convs (a flipped, channel-swapped kernel;
    the output gradient as the kernel with stride and dilation swapped) run by FFT too."""
    rng = np.random.default_rng(13)
    cases = [((2, 4, 6, 6), (6, 2, 3, 3), {"padding": 1, "groups": 2}, 2),
             ((1, 2, 7, 6), (3, 2, 3, 2), {"stride": 2, "padding": 1, "dilation": (1, 2)}, 1)]
    with D.prefer("conv2d", "fft"):
        for xs, ws, p, order in cases:
            x = xg.asarray(rng.standard_normal(xs), device=DEV)
            w = xg.asarray(rng.standard_normal(ws), device=DEV)
            check_grads(lambda a, b, p=p: xg.conv2d(a, b, **p), (x, w), order=order, atol=1e-4, rtol=1e-4)
