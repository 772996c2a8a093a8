"""conv2d kernels of the OpenCL backend (``backends/opencl/conv.py``): direct, im2col, Winograd F(2×2, 3×3).

* each kernel equals the generic forward computed by NumPy over many geometries
  (groups, stride, padding, dilation, rectangular kernels, batch 1, a kernel as
  large as the input), non-contiguous inputs (transposed, flipped, sliced,
  broadcast views), float32, float64 where the device has it, integers for
  direct and im2col, and a hypothesis sweep;
* ``supports`` declines what a kernel does not handle, with the reason;
* the cost models: positive and finite everywhere, and on a fixed fake profile
  Winograd or im2col wins a 3×3 conv with many channels, direct a tiny one;
* out of memory or resources is an ``OutOfResourcesError`` naming the kernel,
  and the dispatcher moves on to the next kernel;
* gradients through the dispatcher with each kernel preferred (``check_grads``).

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
    print(f"\nskipping the OpenCL conv2d tests: {WHY}")
    pytest.skip(f"no usable OpenCL device: {WHY}", allow_module_level=True)

import pyopencl as cl  # noqa: E402

from xpgrad.backends.opencl import conv as CV  # noqa: E402
from xpgrad.backends.opencl import namespace as cx  # noqa: E402

_SIGNATURES = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "dispatch_signatures.py")
_spec = importlib.util.spec_from_file_location("dispatch_signatures", _SIGNATURES)
_sigs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sigs)
CONV2D = _sigs.CONV2D          # the benchmark's conv2d signatures: (x shape, w shape, stride), padding k // 2

D_ = BACKEND.cl_device
FP64 = D_.fp64
FLOATS = ["float32", "float64"] if FP64 else ["float32"]
NAMES = ["direct", "im2col", "winograd"]
FORWARD = {"direct": CV.direct, "im2col": CV.im2col, "winograd": CV.winograd}
SUPPORTS = {"direct": CV.direct_supports, "im2col": CV.im2col_supports, "winograd": CV.winograd_supports}
COST = {"direct": CV.direct_cost, "im2col": CV.im2col_cost, "winograd": CV.winograd_cost}
SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)


@pytest.fixture(scope="module", autouse=True)
def registered():
    """The three kernels as dispatcher candidates for conv2d on opencl (idempotent by name)."""
    for k in CV.kernels():
        D.register(k, plugin="tests")
    yield


def sig_of(xs, ws, params=None, dtype="float32"):
    return D.Signature.of("conv2d", [xs, ws], dtype, params or {}, device=DEV)


def reference(x, w, params):
    """The generic forward on NumPy, in float64 (int64 for integers), cast to x's dtype."""
    wide = np.float64 if x.dtype.kind == "f" else np.int64
    return conv2d.forward(np, x.astype(wide), w.astype(wide), **params).astype(x.dtype)


def check(name, x, w, params, xd=None, wd=None, tol=None):
    """Kernel ``name`` on device copies of x, w (or the given device views) equals the reference."""
    xd = cx.asarray(x) if xd is None else xd
    wd = cx.asarray(w) if wd is None else wd
    got = FORWARD[name](cx, xd, wd, **params)
    want = reference(x, w, params)
    g = BACKEND.to_host(got)
    assert g.shape == want.shape and g.dtype == want.dtype, (g.shape, g.dtype, want.shape, want.dtype)
    if x.dtype.kind != "f":
        np.testing.assert_array_equal(g, want)
        return
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-30)
    if tol is None:
        tol = (5e-5 if name == "winograd" else 1e-5) if x.dtype == np.float32 else 1e-12
    err = float(np.abs(g - want).max(initial=0.0)) / scale
    assert err <= tol, f"{name}: max error {err:.3g} of the output's largest magnitude (allowed {tol})"


def rand(rng, shape, dtype="float32"):
    return rng.standard_normal(shape).astype(dtype)


# (x shape, w shape, params)
GEOMETRIES = [
    ((2, 3, 5, 5), (4, 3, 3, 3), {}),
    ((1, 3, 8, 8), (5, 3, 3, 3), {"padding": 1}),                             # batch 1, a partial block
    ((2, 16, 9, 7), (20, 16, 3, 3), {"padding": 1}),                          # 16-channel block + remainder
    ((1, 2, 6, 5), (3, 2, 2, 3), {"stride": 2, "padding": 1}),                # rectangular kernel
    ((1, 4, 5, 5), (4, 2, 3, 3), {"groups": 2, "padding": (1, 0)}),
    ((1, 2, 7, 6), (2, 2, 2, 2), {"dilation": 2, "stride": (1, 2)}),
    ((2, 4, 5, 4), (6, 2, 3, 2), {"groups": 2, "stride": 2, "padding": 1, "dilation": (1, 2)}),
    ((1, 3, 4, 4), (3, 1, 2, 2), {"groups": 3}),                              # depthwise
    ((2, 3, 3, 3), (2, 3, 1, 1), {}),                                         # 1×1
    ((1, 2, 3, 3), (2, 2, 3, 3), {}),                                         # the kernel covers the input
    ((1, 2, 4, 5), (3, 2, 4, 5), {"padding": 1}),                             # kernel as large as the input
    ((1, 1, 7, 7), (2, 1, 2, 2), {"stride": 3}),                              # stride > kernel: gaps
    ((1, 1, 3, 3), (1, 1, 2, 2), {"padding": 2}),                             # padding beyond the reach
    ((3, 8, 11, 13), (8, 4, 3, 3), {"groups": 2, "padding": 2}),              # odd sizes: cropped tiles
    ((2, 6, 10, 9), (12, 2, 3, 3), {"groups": 3, "padding": (0, 1)}),
    ((4, 16, 16, 16), (16, 16, 3, 3), {"padding": 1}),
    ((2, 32, 32, 32), (32, 16, 3, 3), {"padding": 1, "groups": 2}),           # GEMM rows padded to a tile
    ((2, 8, 12, 12), (40, 8, 1, 1), {}),                                      # 1×1, many outputs
    ((1, 3, 17, 16), (4, 3, 5, 3), {"stride": (2, 1), "padding": (2, 1), "dilation": (1, 2)}),
]


def _case_id(case):
    xs, ws, p = case
    return f"{'x'.join(map(str, xs))}-{'x'.join(map(str, ws))}-" + ",".join(f"{k}={v}" for k, v in p.items())


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", GEOMETRIES, ids=_case_id)
@pytest.mark.parametrize("name", NAMES)
def test_each_kernel_equals_the_generic_forward(name, case, dtype):
    xs, ws, p = case
    ok = SUPPORTS[name](sig_of(xs, ws, p, dtype))
    if ok is not True:
        assert name == "winograd" and isinstance(ok, str) and "F(2×2, 3×3)" in ok
        return
    rng = np.random.default_rng(hash((name, xs, ws)) % 2**32)
    check(name, rand(rng, xs, dtype), rand(rng, ws, dtype), p)


@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_inputs(name):
    """Transposed, flipped, sliced (offset) and broadcast views are read through their strides."""
    rng = np.random.default_rng(1)
    p = {"padding": 1}
    # x as a transposed view: stored (H, C, N, W), viewed (N, C, H, W)
    xt = rand(rng, (9, 4, 2, 7))
    x = np.transpose(xt, (2, 1, 0, 3))
    xd = cx.permute_dims(cx.asarray(xt), (2, 1, 0, 3))
    # w flipped along kh, kw with its channel axes swapped, as the input gradient passes it
    wt = rand(rng, (4, 6, 3, 3))
    w = np.flip(np.transpose(wt, (1, 0, 2, 3)), axis=(2, 3))
    wd = cx.flip(cx.permute_dims(cx.asarray(wt), (1, 0, 2, 3)), axis=(2, 3))
    assert xd.strides != (4 * 9 * 7, 9 * 7, 7, 1) and min(wd.strides) < 0
    check(name, np.ascontiguousarray(x), np.ascontiguousarray(w), p, xd, wd)
    # a sliced x (offset, strides of the parent) and a strided w
    big = rand(rng, (3, 6, 12, 11))
    xs = big[1:, 1:5, 2:11, 1:10]
    wbig = rand(rng, (6, 8, 3, 3))
    ws = wbig[::2, ::2]
    check(name, np.ascontiguousarray(xs), np.ascontiguousarray(ws), p,
          cx.asarray(big)[1:, 1:5, 2:11, 1:10], cx.asarray(wbig)[::2, ::2])
    # a broadcast x (stride 0 along the batch)
    one = rand(rng, (1, 4, 6, 6))
    xb = np.broadcast_to(one, (3, 4, 6, 6))
    check(name, np.ascontiguousarray(xb), rand(rng, (5, 4, 3, 3)), p,
          cx.broadcast_to(cx.asarray(one), (3, 4, 6, 6)))


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8", "uint16"])
@pytest.mark.parametrize("name", ["direct", "im2col"])
def test_integer_dtypes(name, dtype):
    rng = np.random.default_rng(2)
    for xs, ws, p in [((2, 4, 6, 5), (6, 2, 3, 2), {"groups": 2, "padding": 1, "stride": (2, 1)}),
                      ((1, 3, 7, 7), (40, 3, 3, 3), {"dilation": 2})]:
        x = rng.integers(0, 5, xs).astype(dtype)
        w = rng.integers(0, 4, ws).astype(dtype)
        check(name, x, w, p)


def test_small_gemms_get_zero_rows_up_to_a_tile():
    """O/G = 16 rows would run kernels.matmul's naive kernel; zero rows up to a tile make it tiled."""
    assert CV._gemm_rows(16, 16, 512, D_) == 64 and CV._gemm_rows(16, 144, 1024, D_) == 64    # the case above
    assert CV._gemm_rows(64, 64, 1024, D_) == 64          # tiled anyway
    assert CV._gemm_rows(16, 3, 64, D_) == 16             # too small to tile even so
    assert CV._gemm_rows(2, 576, 4096, D_) == 2           # 32× the work: not worth it


def test_winograd_error_stays_small_on_a_larger_conv():
    """F(2×2, 3×3)'s transforms round differently; on unit-scale data the error stays below ~1e-6."""
    rng = np.random.default_rng(3)
    x, w = rand(rng, (2, 64, 20, 20)), rand(rng, (32, 64, 3, 3))
    check("winograd", x, w, {"padding": 1}, tol=5e-6)


@st.composite
def geometries(draw):
    g = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, (kh - 1) * dh + 1 - 2 * ph), 12))
    w = draw(st.integers(max(1, (kw - 1) * dw + 1 - 2 * pw), 12))
    n = draw(st.integers(1, 3))
    p = {"stride": (sh, sw), "padding": (ph, pw), "dilation": (dh, dw), "groups": g}
    return (n, g * cg, h, w), (g * og, cg, kh, kw), p


@SETTINGS
@given(case=geometries(), seed=st.integers(0, 2**16))
def test_hypothesis_geometries(case, seed):
    xs, ws, p = case
    rng = np.random.default_rng(seed)
    x, w = rand(rng, xs), rand(rng, ws)
    for name in NAMES:
        if SUPPORTS[name](sig_of(xs, ws, p)) is True:
            check(name, x, w, p)
    # the same kernel shape with stride and dilation 1 is one Winograd takes when it is 3×3
    p1 = dict(p, stride=1, dilation=1)
    if ws[2:] == (3, 3) and min(xs[2] + 2 * p["padding"][0], xs[3] + 2 * p["padding"][1]) >= 3:
        assert CV.winograd_supports(sig_of(xs, ws, p1)) is True
        check("winograd", x, w, p1)


# ---------------------------------------------------------------- what each kernel supports


@pytest.mark.parametrize("name", NAMES)
def test_invalid_calls_are_declined_with_the_reason(name):
    sup = SUPPORTS[name]
    why = sup(sig_of((1, 4, 5, 5), (2, 3, 3, 3)))
    assert isinstance(why, str) and "invalid conv2d call" in why and "channel mismatch" in why
    why = sup(sig_of((1, 1, 2, 2), (1, 1, 3, 3)))
    assert isinstance(why, str) and "larger than the padded input" in why
    assert "groups" in sup(sig_of((1, 4, 5, 5), (3, 2, 3, 3), {"groups": 2}))
    mixed = D.Signature.of("conv2d", [(1, 1, 5, 5), (1, 1, 3, 3)], ["float32", "float64"], device=DEV)
    assert "mixed dtypes" in sup(mixed)
    assert "bool" in sup(sig_of((1, 1, 5, 5), (1, 1, 3, 3), dtype="bool"))
    assert "invalid" in sup(sig_of((1, 1, 5, 5), (1, 1, 3, 3), {"bias": True}))   # an unknown parameter


def test_winograd_declines_other_geometries_and_integers():
    ok = CV.winograd_supports
    assert ok(sig_of((1, 2, 8, 8), (2, 1, 3, 3), {"padding": 3, "groups": 2})) is True
    assert "3×3 kernel, not 5×5" in ok(sig_of((1, 2, 8, 8), (2, 2, 5, 5)))
    assert "stride 1" in ok(sig_of((1, 2, 8, 8), (2, 2, 3, 3), {"stride": 2}))
    assert "dilation 1" in ok(sig_of((1, 2, 8, 8), (2, 2, 3, 3), {"dilation": (1, 2)}))
    assert "int32 is not handled" in ok(sig_of((1, 2, 8, 8), (2, 2, 3, 3), dtype="int32"))
    assert CV.direct_supports(sig_of((1, 2, 8, 8), (2, 2, 3, 3), dtype="int32")) is True


def test_an_invalid_call_through_the_dispatcher_raises_the_standard_error():
    x = xg.asarray(np.ones((1, 4, 5, 5), np.float32), device=DEV)
    w = xg.asarray(np.ones((2, 3, 3, 3), np.float32), device=DEV)
    with pytest.raises(xg.ShapeError, match="channel mismatch"):
        xg.conv2d(x, w)


# ---------------------------------------------------------------- cost models

FAKE = SimpleNamespace(peak_flops=1e11, peak_flops_f64=5e10, memory_bandwidth=5e10, launch_latency=2.5e-5,
                       host_bandwidth=2e10, gemm_half=16.0)


def _costs(xs, ws, p, profile=FAKE, dtype="float32"):
    s = sig_of(xs, ws, p, dtype)
    return {n: COST[n](s, profile) for n in NAMES if SUPPORTS[n](s) is True}


@pytest.mark.parametrize("profile", ["fake", "device"])
def test_costs_are_positive_and_finite(profile):
    prof = FAKE if profile == "fake" else BACKEND.profile
    cases = [(xs, ws, {"stride": s, "padding": ws[2] // 2}) for xs, ws, s in CONV2D] + GEOMETRIES
    for xs, ws, p in cases:
        for dtype in FLOATS + ["int32"]:
            costs = _costs(xs, ws, p, prof, dtype)
            assert {"direct", "im2col"} <= set(costs)
            for name, c in costs.items():
                assert math.isfinite(c) and c > 0, (name, xs, ws, p, dtype, c)


def test_a_3x3_conv_with_many_channels_goes_to_a_gemm_and_a_tiny_one_to_direct():
    big = _costs((8, 128, 32, 32), (128, 128, 3, 3), {"padding": 1})
    assert min(big, key=big.get) in ("winograd", "im2col"), big
    assert big["winograd"] < big["im2col"]          # 2.25× fewer multiplications
    tiny = _costs((1, 1, 8, 8), (1, 1, 3, 3), {"padding": 1})
    assert min(tiny, key=tiny.get) == "direct", tiny
    one = _costs((32, 256, 8, 8), (256, 256, 1, 1), {})
    assert one["im2col"] < one["direct"], one         # a 1×1 conv with many channels is a GEMM
    # the costs scale with the work: twice the batch costs more
    assert _costs((16, 128, 32, 32), (128, 128, 3, 3), {"padding": 1})["winograd"] > big["winograd"]


def test_the_dispatcher_explains_its_choice_among_these_kernels():
    e = D.choose(sig_of((8, 128, 32, 32), (128, 128, 3, 3), {"padding": 1}), profile=FAKE)
    rows = {r["kernel"]: r for r in e.rows}
    assert {"direct", "im2col", "winograd"} <= set(rows)
    assert all(rows[n]["supported"] and rows[n]["estimate"] > 0 for n in NAMES)
    ours = min(NAMES, key=lambda n: rows[n]["estimate"])
    assert ours == "winograd"
    e = D.choose(sig_of((8, 128, 32, 32), (128, 128, 5, 5), {"stride": 2}), profile=FAKE)
    why = next(r for r in e.rows if r["kernel"] == "winograd")["why_not"]
    assert "3×3 kernel" in why


# ---------------------------------------------------------------- out of resources


@pytest.mark.parametrize("name", NAMES)
def test_out_of_memory_is_an_out_of_resources_error_naming_the_kernel(name, monkeypatch):
    x, w = cx.asarray(np.ones((1, 2, 6, 6), np.float32)), cx.asarray(np.ones((3, 2, 3, 3), np.float32))

    def fail(nbytes):
        raise cl.MemoryError("clCreateBuffer failed: MEM_OBJECT_ALLOCATION_FAILURE")

    monkeypatch.setattr(D_, "alloc", fail)
    with pytest.raises(OutOfResourcesError, match=rf"conv2d \({name}\) on opencl:0: x \(1, 2, 6, 6\), "
                                                  r"w \(3, 2, 3, 3\).*MEM_OBJECT_ALLOCATION_FAILURE"):
        FORWARD[name](cx, x, w, padding=1)


def test_a_launch_out_of_resources_is_translated_and_other_errors_are_not(monkeypatch):
    x, w = cx.asarray(np.ones((1, 2, 6, 6), np.float32)), cx.asarray(np.ones((3, 2, 3, 3), np.float32))

    def launch(*a, **k):
        raise cl.RuntimeError("clEnqueueNDRangeKernel failed: OUT_OF_RESOURCES")

    monkeypatch.setattr(CV, "_launch", launch)
    with pytest.raises(OutOfResourcesError, match="direct.*OUT_OF_RESOURCES"):
        CV.direct(cx, x, w)
    monkeypatch.setattr(CV, "_launch", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        CV.direct(cx, x, w)


def test_a_buffer_beyond_the_largest_allocation_is_out_of_resources():
    dev = SimpleNamespace(name="opencl:0", cl_device=SimpleNamespace(max_mem_alloc_size=1 << 20))
    x = SimpleNamespace(shape=(64, 64, 64, 64), dtype="float32")
    with pytest.raises(OutOfResourcesError, match=r"im2col.*the column buffer needs 4096 MiB.*allows 1 MiB"):
        CV._check_alloc("im2col", dev, x, x, 4 << 30, "the column buffer")


def test_the_dispatcher_falls_back_when_the_chosen_kernel_runs_out(monkeypatch):
    rng = np.random.default_rng(4)
    xs, ws = rand(rng, (2, 3, 7, 7)), rand(rng, (4, 3, 3, 3))
    x, w = xg.asarray(xs, device=DEV), xg.asarray(ws, device=DEV)
    real = CV._launch

    def no_direct(dev, key, *a):
        if key[0] == "conv_direct":
            raise cl.MemoryError("clEnqueueNDRangeKernel failed: MEM_OBJECT_ALLOCATION_FAILURE")
        return real(dev, key, *a)

    monkeypatch.setattr(CV, "_launch", no_direct)
    D.forget()
    with D.prefer("conv2d", "direct"):
        y = xg.conv2d(x, w, padding=1)
    D.forget()
    np.testing.assert_allclose(y.numpy(), reference(xs, ws, {"padding": 1}), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- through the dispatcher, with gradients


@pytest.mark.parametrize("name", NAMES)
def test_the_dispatcher_runs_the_preferred_kernel(name, monkeypatch):
    rng = np.random.default_rng(5)
    xs, ws = rand(rng, (2, 4, 8, 8)), rand(rng, (6, 4, 3, 3))
    calls = []
    fwd = CV.kernels()[NAMES.index(name)]
    real = fwd.forward
    fwd.forward = lambda *a, **k: calls.append(name) or real(*a, **k)
    D.register(fwd, plugin="tests")
    try:
        with D.prefer("conv2d", name):
            y = xg.conv2d(xg.asarray(xs, device=DEV), xg.asarray(ws, device=DEV), padding=1)
            e = D.explain("conv2d", xg.asarray(xs, device=DEV), xg.asarray(ws, device=DEV), padding=1)
    finally:
        for k in CV.kernels():
            D.register(k, plugin="tests")
    assert calls == [name] and e.choice == name
    np.testing.assert_allclose(y.numpy(), reference(xs, ws, {"padding": 1}), rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not FP64, reason="check_grads works in float64; this device has no float64")
@pytest.mark.parametrize("name", NAMES)
def test_gradients_through_the_dispatcher(name):
    """First and second order, forward and reverse: the VJP convs (transposed views, large kernels,
    dilation from the stride) run on the preferred kernel where it supports them."""
    rng = np.random.default_rng(6)
    cases = [((2, 4, 6, 6), (6, 2, 3, 3), {"padding": 1, "groups": 2}),
             ((1, 2, 7, 6), (3, 2, 3, 2), {"stride": 2, "padding": 1, "dilation": (1, 2)})]
    if name == "winograd":
        cases = cases[:1]
    with D.prefer("conv2d", name):
        for xs, ws, p in cases:
            x = xg.asarray(rng.standard_normal(xs), device=DEV)
            w = xg.asarray(rng.standard_normal(ws), device=DEV)
            order = 2 if p.get("stride", 1) == 1 else 1
            check_grads(lambda a, b, p=p: xg.conv2d(a, b, **p), (x, w), order=order, atol=1e-4, rtol=1e-4)


def test_calibrate_direct_measures_the_direct_kernels_efficiency():
    p = BACKEND.profile
    prof = SimpleNamespace(peak_flops=p.peak_flops, memory_bandwidth=p.memory_bandwidth,
                           launch_latency=p.launch_latency, device=D_)
    eff = CV.calibrate_direct(prof, repeats=2)
    assert math.isfinite(eff) and 0.01 < eff < 100
