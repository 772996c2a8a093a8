"""The OpenCL backend's competing kernels (``opencl/choices.py``): matmul (naive, tiled, host) and the
reductions (single-pass, two-stage).

* every kernel returns what the op's generic forward returns (NumPy's result, the namespace's dtype and
  shape): 1-D operands, batch broadcasting, odd sizes, strided operands, integer dtypes, empty arrays,
  K = 0; every axis / keepdims / dtype variant of sum, prod, max, min, mean;
* ``supports`` declines with a reason; the tiled kernel, forced where its tiles do not fit, raises
  ``OutOfResourcesError`` (so the dispatcher falls back);
* the cost models on fixed fake profiles: host for a 4×4 product, tiled for 512×512; two-stage for a
  full reduction of 10^6 elements, single-pass for many short rows (deterministic, no timing);
* gradients through the dispatcher with each kernel preferred;
* ``DeviceProfile.apply_measured`` restores a calibration.

Skips (with the reason) where no OpenCL device works, unless ``XPGRAD_REQUIRE_DEVICES`` names
opencl:0, in which case that is a failure.
"""

import math
import os
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.core import dispatch
from xpgrad.core.dispatch import Signature
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
    pytest.skip(f"no usable OpenCL device: {WHY}", allow_module_level=True)

from xpgrad.backends.opencl import choices  # noqa: E402
from xpgrad.backends.opencl import kernels as K  # noqa: E402
from xpgrad.backends.opencl import namespace as cx  # noqa: E402
from xpgrad.backends.opencl.device import DeviceProfile  # noqa: E402

D = BACKEND.cl_device
FP64 = D.fp64
KERNELS = {(k.op, k.name): k for k in choices.kernels()}

MATMUL_KERNELS = ["naive", "tiled", "host"]
REDUCE_KERNELS = ["single-pass", "two-stage"]


@pytest.fixture(scope="module", autouse=True)
def registered():
    """The kernels registered with the dispatcher for this module's tests, and afterwards the registry as
    it was: other test modules see the OpenCL ops as the plugin left them.

    (``dispatch.register`` is idempotent by name, so this works whether or not the plugin registers
    them itself; there is no public unregister, hence the private registry here.)
    """
    from xpgrad.core.registry import ops

    ops_ = {k.op for k in KERNELS.values()}
    before = {op: list(dispatch._REG.get((op, "opencl"), [])) for op in ops_}
    for k in KERNELS.values():
        dispatch.register(k, plugin="tests")
    yield
    with dispatch._LOCK:
        for op in ops_:
            if before[op]:
                dispatch._REG[op, "opencl"] = before[op]
                dispatch._attach(op, "opencl")
            else:
                dispatch._REG.pop((op, "opencl"), None)
                for b in list(ops()[op].kernels):
                    if getattr(b, "family", None) == "opencl":
                        del ops()[op].kernels[b]


def up(a, dtype=None):
    return cx.asarray(np.asarray(a), dtype=dtype)


def host(x):
    return BACKEND.to_host(x)


def data(shape, dtype, rng, lo=-3, hi=4):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind == "u":
        lo = 0
    return rng.integers(lo, hi, size=shape).astype(dt)


def same(got, expected, generic, rtol=1e-5, atol=1e-6):
    """``got`` (device) has the generic forward's dtype and shape, and NumPy's values."""
    assert got.dtype == generic.dtype, (got.dtype, generic.dtype)
    assert got.shape == generic.shape == np.shape(expected), (got.shape, generic.shape, np.shape(expected))
    g = host(got)
    if np.dtype(got.dtype).kind == "f":
        np.testing.assert_allclose(g, expected, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(g, expected)


# ---------------------------------------------------------------- matmul: results


MM_SHAPES = [
    ((3,), (3,)), ((4,), (4, 5)), ((2, 3), (3,)), ((1, 1), (1, 1)), ((5, 3), (3, 4)),
    ((33, 17), (17, 65)), ((65, 70), (70, 33)), ((64, 64), (64, 64)), ((1, 200), (200, 3)),
    ((2, 5, 3), (3, 4)), ((5, 3), (2, 3, 4)), ((2, 1, 4, 3), (5, 3, 2)), ((3, 7, 9), (3, 9, 2)),
    ((0, 3), (3, 4)), ((3, 0), (0, 4)), ((2, 0, 3), (3, 4)), ((4, 3), (3, 0)), ((0,), (0,)),
    ((2, 3, 0), (0, 5)),
]


@pytest.mark.parametrize("name", MATMUL_KERNELS)
@pytest.mark.parametrize("sa,sb", MM_SHAPES, ids=[f"{a}@{b}" for a, b in MM_SHAPES])
def test_matmul_kernels_equal_the_generic_forward(name, sa, sb, rng):
    a, b = data(sa, "float32", rng), data(sb, "float32", rng)
    x, y = up(a), up(b)
    got = KERNELS["matmul", name].forward(cx, x, y)
    same(got, np.matmul(a.astype(np.float64), b.astype(np.float64)), cx.matmul(x, y), rtol=1e-4, atol=1e-4)


DTYPES = [("int32", "int32"), ("int64", "int64"), ("uint8", "uint8"), ("int16", "int32"),
          ("int32", "float32")]
if FP64:
    DTYPES += [("float64", "float64"), ("float32", "float64")]


@pytest.mark.parametrize("name", MATMUL_KERNELS)
@pytest.mark.parametrize("da,db", DTYPES)
def test_matmul_kernels_promote_dtypes_and_handle_integers(name, da, db, rng):
    for sa, sb in [((6, 5), (5, 7)), ((2, 70, 40), (40, 66)), ((5,), (5, 3))]:
        a, b = data(sa, da, rng), data(sb, db, rng)
        x, y = up(a), up(b)
        got = KERNELS["matmul", name].forward(cx, x, y)
        same(got, np.matmul(a, b), cx.matmul(x, y), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", MATMUL_KERNELS)
def test_matmul_kernels_read_strided_operands(name, rng):
    a = data((40, 70), "float32", rng)
    b = data((90, 40), "float32", rng)
    c = data((3, 80, 50), "float32", rng)
    x, y, z = up(a), up(b), up(c)
    cases = [(cx.matrix_transpose(x), cx.matrix_transpose(y), a.T, b.T),      # column-major operands
             (x[::2, 1::3], y[5:28, ::2], a[::2, 1::3], b[5:28, ::2]),        # strided slices
             (z[:, ::3, ::2], x[24::-1, ::-1], c[:, ::3, ::2], a[24::-1, ::-1]),  # batch, negative strides
             (cx.broadcast_to(y[:1, :40], (4, 40)), x, np.broadcast_to(b[:1, :40], (4, 40)), a)]
    for p, q, pa, qa in cases:
        got = KERNELS["matmul", name].forward(cx, p, q)
        same(got, pa.astype(np.float64) @ qa.astype(np.float64), cx.matmul(p, q), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", MATMUL_KERNELS)
def test_matmul_kernels_raise_what_the_generic_forward_raises(name):
    x, y = up(np.ones((2, 3), np.float32)), up(np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match="inner dimensions"):
        KERNELS["matmul", name].forward(cx, x, y)
    with pytest.raises(xg.DTypeError):
        KERNELS["matmul", name].forward(cx, up(np.ones((2, 2), bool)), up(np.ones((2, 2), bool)))


def test_host_matmul_stays_on_the_device():
    x = up(np.arange(6, dtype=np.float32).reshape(2, 3))
    r = KERNELS["matmul", "host"].forward(cx, x, x.mT)
    assert isinstance(r, type(x)) and r.device == x.device and r.dtype == x.dtype


def test_matmul_keeps_its_old_automatic_behaviour():
    x = up(np.ones((8, 8), np.float32))
    assert K._matmul_auto(D, 8, 8, 8, 4) == "naive" and K._matmul_auto(D, 256, 256, 256, 4) == "tiled"
    np.testing.assert_array_equal(host(K.matmul(D, x, x, x.dtype)), np.full((8, 8), 8.0))
    with pytest.raises(ValueError, match="algorithm"):
        K.matmul(D, x, x, x.dtype, algorithm="winograd")


# ---------------------------------------------------------------- reductions: results

RED_SHAPES = [((), [None]), ((7,), [None, 0, -1]), ((0,), [None, 0]), ((3, 0), [None, 0, 1]),
              ((4, 5), [None, 0, 1, -1, (0, 1)]), ((2, 3, 4), [None, 0, 1, -1, (0, 2), (-1, 0), (1, 2)]),
              ((3, 1000), [None, 1, 0]), ((1000, 3), [0, -1])]


def _numpy(op, a, axis, keepdims, dtype):
    ax = tuple(axis) if isinstance(axis, tuple) else axis
    if a.size == 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # NumPy's "mean of empty slice"
            return _numpy_(op, a, ax, keepdims, dtype)
    return _numpy_(op, a, ax, keepdims, dtype)


def _numpy_(op, a, ax, keepdims, dtype):
    if op == "mean":
        res = np.mean(a, axis=ax, keepdims=keepdims, dtype=np.float64)
        return res.astype(a.dtype if a.dtype.kind == "f" else D.default_float)
    if op in ("sum", "prod"):
        return getattr(np, op)(a, axis=ax, keepdims=keepdims, dtype=dtype)
    return getattr(np, "max" if op == "max" else "min")(a, axis=ax, keepdims=keepdims)


def _check_reduction(op, name, a, x, axis, keepdims, dtype=None):
    params = {"axis": axis, "keepdims": keepdims}
    if dtype is not None:
        params["dtype"] = dtype
    generic = getattr(cx, op)
    empty = any(a.shape[d] == 0 for d in cx._axes(axis, a.ndim)) or (a.ndim == 0 and a.size == 0)
    if op in ("max", "min") and empty:
        with pytest.raises(ValueError, match="zero-size|empty"):
            generic(x, **params)
        with pytest.raises(ValueError, match="zero-size|empty"):
            KERNELS[op, name].forward(cx, x, **params)
        return
    got = KERNELS[op, name].forward(cx, x, **params)
    ref = generic(x, **params)
    with np.errstate(all="ignore"):
        expected = _numpy(op, a, axis, keepdims, dtype)
    tol = 1e-5 if np.dtype(got.dtype) == np.float32 else 1e-12
    same(got, expected, ref, rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("name", REDUCE_KERNELS)
@pytest.mark.parametrize("op", choices.REDUCTIONS)
def test_reduction_kernels_equal_the_generic_forward(op, name, rng):
    for shape, axes in RED_SHAPES:
        a = data(shape, "float32", rng)
        if op == "prod":
            a = (1 + 0.01 * a).astype(np.float32)
        x = up(a)
        for axis in axes:
            for keepdims in (False, True):
                _check_reduction(op, name, a, x, axis, keepdims)


@pytest.mark.parametrize("name", REDUCE_KERNELS)
@pytest.mark.parametrize("dt", ["int32", "uint8", "bool", "int64"] + (["float64"] if FP64 else []))
def test_reduction_kernels_on_other_dtypes(name, dt, rng):
    a = data((5, 300), dt, rng, lo=-2, hi=3)
    x = up(a)
    for op in choices.REDUCTIONS:
        if dt == "bool" and op in ("max", "min", "prod"):
            continue
        for axis in (None, 0, -1):
            _check_reduction(op, name, a, x, axis, False)
    for axis in (None, 1):
        for dtype in ["int64", "float32"] + (["float64"] if FP64 else []):
            _check_reduction("sum", name, a, x, axis, True, dtype=np.dtype(dtype))
            _check_reduction("prod", name, a, x, axis, False, dtype=np.dtype(dtype))


@pytest.mark.parametrize("name", REDUCE_KERNELS)
def test_reduction_kernels_read_strided_arrays(name, rng):
    a = data((30, 400), "float32", rng)
    x = up(a)
    for view, ref in [(x.mT, a.T), (x[::3, 7::5], a[::3, 7::5]), (x[::-1, ::-2], a[::-1, ::-2])]:
        for op in choices.REDUCTIONS:
            for axis in (None, 0, 1):
                _check_reduction(op, name, np.ascontiguousarray(ref), view, axis, False)


def test_reduce_keeps_its_old_automatic_behaviour():
    assert K._reduce_auto(D, 1, 10 ** 6) == "two-stage" and K._reduce_auto(D, 10 ** 5, 8) == "single"
    x = up(np.arange(10, dtype=np.float32))
    with pytest.raises(ValueError, match="stage"):
        K.reduce(D, x, (0,), "sum", x.dtype, x.dtype, stage="three-stage")


def test_reduction_nan_and_extremes_match():
    a = np.array([[1.0, np.nan, 3.0], [-np.inf, 2.0, np.inf]], np.float32)
    x = up(a)
    for name in REDUCE_KERNELS:
        for op, fn in (("max", np.max), ("min", np.min), ("sum", np.sum)):
            for axis in (None, 0, 1):
                got = host(KERNELS[op, name].forward(cx, x, axis=axis))
                with np.errstate(all="ignore"):
                    np.testing.assert_array_equal(got, fn(a, axis=axis))


# ---------------------------------------------------------------- supports: declines with a reason


def _sig(op, shapes, dtypes="float32", **params):
    return Signature.of(op, shapes, dtypes, params=params, device=DEV)


def test_supports_declines_with_reasons(monkeypatch):
    for name in MATMUL_KERNELS:
        k = KERNELS["matmul", name]
        assert k.check(_sig("matmul", [(4, 4), (4, 4)])) is None
        assert "boolean" in k.check(_sig("matmul", [(4, 4), (4, 4)], "bool"))
        assert "at least one dimension" in k.check(_sig("matmul", [(), (4, 4)]))
        assert "inner dimensions" in k.check(_sig("matmul", [(4, 3), (4, 4)]))
        assert "do not broadcast" in k.check(_sig("matmul", [(2, 4, 4), (3, 4, 4)]))
        assert "dtype" in k.check(_sig("matmul", [(4, 4), (4, 4)], "complex64"))
    for name in REDUCE_KERNELS:
        k = KERNELS["sum", name]
        assert k.check(_sig("sum", [(4, 5)], axis=1)) is None
        assert "out of range" in k.check(_sig("sum", [(4, 5)], axis=2))
    assert "empty" in KERNELS["sum", "two-stage"].check(_sig("sum", [(4, 0)], axis=1))
    assert KERNELS["sum", "single-pass"].check(_sig("sum", [(4, 0)], axis=1)) is None
    # a device whose local memory cannot hold the tiles, and which has no float64
    small = SimpleNamespace(name="opencl:9", is_gpu=False, local_mem=4096, max_work_group=64, fp64=False)
    monkeypatch.setattr(choices, "_device", lambda signature: small)
    why = KERNELS["matmul", "tiled"].check(_sig("matmul", [(64, 64), (64, 64)]))
    assert "local memory" in why and "opencl:9" in why
    assert KERNELS["matmul", "naive"].check(_sig("matmul", [(64, 64), (64, 64)])) is None
    assert "no float64" in KERNELS["matmul", "host"].check(_sig("matmul", [(4, 4), (4, 4)], "float64"))


def test_forced_tiled_kernel_that_does_not_fit_raises_out_of_resources(monkeypatch):
    monkeypatch.setattr(D, "local_mem", 1024)
    x = up(np.ones((64, 64), np.float32))
    assert "local memory" in KERNELS["matmul", "tiled"].check(_sig("matmul", [(64, 64), (64, 64)]))
    with pytest.raises(xg.OutOfResourcesError):
        KERNELS["matmul", "tiled"].forward(cx, x, x)
    # through the dispatcher, a preference for it is passed over: the call still works
    with dispatch.prefer("matmul", "tiled"):
        t = xg.asarray(np.ones((64, 64), np.float32), device=DEV)
        np.testing.assert_array_equal((t @ t).numpy(), np.full((64, 64), 64.0))


# ---------------------------------------------------------------- cost models on fixed profiles

HOST = SimpleNamespace(peak_flops=2e11, peak_flops_f64=1e11, memory_bandwidth=4e10, launch_latency=5e-7,
                       host_bandwidth=math.inf, gemm_half=16.0, gemm_latency=2e-6)
GPU = SimpleNamespace(peak_flops=2e13, peak_flops_f64=6e11, memory_bandwidth=8e11, launch_latency=2e-5,
                      host_bandwidth=1.2e10, compute_units=60, is_gpu=True, local_size=256,
                      cache_bytes=4 << 20,
                      gemm_half=48.0, gemm_latency=4e-5, naive_latency=4e-5, naive_output_time=1e-11,
                      naive_bandwidth=8e11, naive_bandwidth_far=2e11, transfer_latency=5e-6,
                      reduce_latency=3e-5, reduce_lane_rate=1e8, reduce_lanes=60 * 64.0, reduce_rate=1e11,
                      workgroup_time=2e-9, host=HOST)
CPU = SimpleNamespace(peak_flops=1e11, peak_flops_f64=5e10, memory_bandwidth=4e10, launch_latency=2.5e-5,
                      host_bandwidth=2e10, compute_units=2, is_gpu=False, local_size=128, cache_bytes=1 << 20,
                      gemm_half=20.0, gemm_latency=8e-5, naive_latency=7e-5, naive_output_time=2e-9,
                      naive_bandwidth=1.2e10, naive_bandwidth_far=3e9, transfer_latency=4e-6,
                      reduce_latency=5e-5, reduce_lane_rate=2e9, reduce_lanes=1.5, reduce_rate=2.5e9,
                      workgroup_time=1.5e-7, host=HOST)


def _costs(op, sig, profile):
    names = MATMUL_KERNELS if op == "matmul" else REDUCE_KERNELS
    return {n: KERNELS[op, n].cost(sig, profile) for n in names}


def _cheapest(op, sig, profile):
    c = _costs(op, sig, profile)
    return min(c, key=c.get)


def test_matmul_cost_models_choose_host_for_tiny_and_tiled_for_large():
    tiny, big = _sig("matmul", [(4, 4), (4, 4)]), _sig("matmul", [(512, 512), (512, 512)])
    assert _cheapest("matmul", tiny, GPU) == "host"
    assert _cheapest("matmul", big, GPU) == "tiled"
    assert _cheapest("matmul", tiny, CPU) == "host"
    # the dispatcher's own ranking agrees (the profile given, no timing)
    assert dispatch.choose(tiny, profile=GPU, level="estimate").choice == "host"
    assert dispatch.choose(big, profile=GPU, level="estimate").choice == "tiled"
    # every estimate is finite and positive; a longer product never costs less
    for p in (GPU, CPU):
        for name in MATMUL_KERNELS:
            ts = [KERNELS["matmul", name].cost(_sig("matmul", [(n, n), (n, n)]), p)
                  for n in (4, 64, 512, 2048)]
            assert all(0 < t < math.inf for t in ts) and ts == sorted(ts), (name, ts)


def test_naive_matmul_model():
    # skinny products with few outputs: the naive kernel beats tiles that would be mostly padding
    vec = _sig("matmul", [(1, 4096), (4096, 64)])
    c = _costs("matmul", vec, GPU)
    assert c["naive"] < c["tiled"]
    # on a CPU, B's rows 2 KiB apart alias in the cache: a slower walk than 2000-float rows
    assert choices.naive_far(CPU, 256, 512, 4) and not choices.naive_far(CPU, 256, 500, 4)
    aliased = KERNELS["matmul", "naive"].cost(_sig("matmul", [(64, 256), (256, 512)]), CPU)
    plain = KERNELS["matmul", "naive"].cost(_sig("matmul", [(64, 256), (256, 500)]), CPU)
    assert aliased > 2 * plain
    # few work-groups leave compute units idle
    assert choices.naive_parallel(GPU, 256, 1) == 1 / 60 and choices.naive_parallel(CPU, 10 ** 6, 1) == 1.0


def test_reduction_cost_models_choose_two_stage_for_full_and_single_pass_for_short_rows():
    full = _sig("sum", [(10 ** 6,)], axis=None)
    rows = _sig("sum", [(10 ** 5, 8)], axis=-1)
    for p in (GPU, CPU):
        assert _cheapest("sum", full, p) == "two-stage"
        assert _cheapest("sum", rows, p) == "single-pass"
    assert dispatch.choose(full, profile=GPU, level="estimate").choice == "two-stage"
    assert dispatch.choose(rows, profile=GPU, level="estimate").choice == "single-pass"
    # mean, prod, max and min share the models
    for op in ("mean", "prod", "max", "min"):
        assert _cheapest(op, Signature.of(op, [(10 ** 6,)], "float32", device=DEV), GPU) == "two-stage"
    # a tiny reduction: one launch beats two
    assert _cheapest("sum", _sig("sum", [(10,)]), GPU) == "single-pass"


def test_uncalibrated_profile_is_sensible():
    p = D.profile if not D.profile.calibrated else None
    if p is None:
        pytest.skip("opencl:0's profile is calibrated in this process")
    for f in ("gemm_half", "gemm_latency", "naive_latency", "naive_bandwidth", "transfer_latency",
              "reduce_latency", "reduce_lane_rate", "reduce_rate", "workgroup_time"):
        assert 0 < getattr(p, f) < math.inf, f
    assert p.compute_units == D.compute_units and p.is_gpu == D.is_gpu
    assert "(estimated)" in p.describe()


def test_apply_measured_restores_a_calibration():
    p = DeviceProfile(1e12, 5e11, 1e11, 1e-5, 1e10, 1e10, label="fake")
    p.apply_measured({"peak_flops": 3e11, "gemm_half": 40.0, "reduce_lanes": 3, "fft_flops": 1e10})
    assert p.peak_flops == 3e11 and p.gemm_half == 40.0 and p.reduce_lanes == 3.0
    assert p.measured["fft_flops"] == 1e10 and p.calibrated and "~" not in p.describe()
    assert p.matmul_overhead == p.gemm_latency / p.launch_latency


# ---------------------------------------------------------------- gradients through the dispatcher


@pytest.mark.skipif(not FP64, reason="gradient checks run in float64")
@pytest.mark.parametrize("name", MATMUL_KERNELS)
def test_matmul_gradients_through_each_kernel(name, rng):
    a = xg.asarray(rng.standard_normal((3, 4)), device=DEV)
    b = xg.asarray(rng.standard_normal((2, 4, 5)), device=DEV)
    v = xg.asarray(rng.standard_normal(4), device=DEV)
    with dispatch.prefer("matmul", name):
        assert dispatch.explain("matmul", a, b).choice == name
        check_grads(lambda x, y: x @ y, (a, b), order=2)
        check_grads(lambda x, y: x @ y, (v, b), order=1)


@pytest.mark.skipif(not FP64, reason="gradient checks run in float64")
@pytest.mark.parametrize("name", REDUCE_KERNELS)
def test_reduction_gradients_through_each_kernel(name, rng):
    x = xg.asarray(rng.standard_normal((3, 70)), device=DEV)
    with dispatch.prefer("sum", name), dispatch.prefer("mean", name), dispatch.prefer("max", name):
        assert dispatch.explain("sum", x, axis=1).choice == name
        check_grads(lambda t: xg.sum(t ** 2, axis=1), (x,), order=2)
        check_grads(lambda t: xg.sum(t, axis=None, keepdims=True), (x,), order=1)
        check_grads(lambda t: xg.mean(xg.sin(t), axis=0), (x,), order=1)
        check_grads(lambda t: xg.max(t, axis=-1), (x,), order=1)
