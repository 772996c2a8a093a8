"""The CuPy backend (``cuda:N``).

Three layers, so that as much as possible runs everywhere:

* the fused kernels' CUDA source compiles with ``nvcc`` (no GPU needed, skipped without nvcc);
* the pure-Python parts (profile, which calls the kernels take) run everywhere;
* values and gradients on a real device, against ``cpu``, run where a CUDA device is usable,
  and are skipped with xpgrad's own explanation elsewhere.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.backends.cupy import fused, kernels
from xpgrad.backends.cupy.profile import profile_from_attributes
from xpgrad.plugins import report
from xpgrad.testing import check_grads

# -- without a GPU -------------------------------------------------------------------------------------


def _nvcc() -> str | None:
    home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
    for path in (shutil.which("nvcc"), os.path.join(home, "bin", "nvcc")):
        if path and os.path.exists(path):
            return path
    return None


@pytest.mark.parametrize("target", ["--ptx", "--cubin"])
def test_kernel_source_compiles_with_nvcc(tmp_path: Path, target: str):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed here: the CUDA source of the fused kernels is not compiled")
    src = tmp_path / "xpgrad_cuda_kernels.cu"
    src.write_text(kernels.SOURCE)
    out = tmp_path / ("kernels.ptx" if target == "--ptx" else "kernels.cubin")
    # C++11 and no #include: what NVRTC (cupy.RawModule) accepts; warnings are errors
    cmd = [nvcc, target, "-std=c++11", "-Werror", "all-warnings", "-o", str(out), str(src)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr}"
    if target == "--ptx":
        entries = set(re.findall(r"\.entry\s+(\w+)\(", out.read_text()))
        assert entries == set(kernels.ENTRIES.values())


def test_kernel_source_includes_nothing():
    assert not re.search(r"^\s*#\s*include", kernels.SOURCE, re.M)   # NVRTC has no system headers


def test_profile_from_device_attributes():
    # an H200: 132 SMs at 1.98 GHz, 128 FP32 lanes each (compute capability 9.0);
    # HBM3e at 2.619 GHz on a 6144-bit bus
    attrs = {"MultiProcessorCount": 132, "ClockRate": 1_980_000, "ComputeCapabilityMajor": 9,
             "ComputeCapabilityMinor": 0, "MemoryClockRate": 2_619_000, "GlobalMemoryBusWidth": 6144}
    p = profile_from_attributes("NVIDIA H200", attrs, 141 * 10**9)
    assert p.peak_flops == 132 * 128 * 2 * 1.98e9           # 66.9 TFLOP/s
    assert p.memory_bandwidth == 2 * 2.619e9 * 6144 / 8     # 4.02 TB/s
    assert p.describe() == ("NVIDIA H200, compute capability 9.0, 132 SMs, 141 GB, ~66.9 TFLOP/s fp32, "
                            "~4.02 TB/s")


def test_which_calls_the_fused_kernels_take():
    x = np.zeros((4, 3, 5), dtype=np.float32)
    assert fused.plan(x, -1) == (12, 5)
    assert fused.plan(x, 2) == fused.plan(x, (-1,)) == (12, 5)
    assert fused.plan(x, 0) is None and fused.plan(x, (1, 2)) is None        # other axes: generic forward
    assert fused.plan(x.astype(np.float16), -1) is None                      # other dtypes too
    assert fused.plan(np.zeros((0, 5)), -1) is None
    assert fused.plan(x, None) is None and fused.plan(x, None, whole=True) == (1, 60)


class _FakeDeviceArray(np.ndarray):
    @property
    def device(self):
        return contextlib.nullcontext()


def _fake_cupy(launches: list) -> types.ModuleType:
    """Just enough of CuPy for fused.py, each kernel replaced by its NumPy meaning, row by row."""
    cp = types.ModuleType("cupy")
    cp.ascontiguousarray = lambda x: np.ascontiguousarray(x).view(_FakeDeviceArray)
    cp.empty = lambda shape, dtype: np.empty(shape, dtype).view(_FakeDeviceArray)

    def function(name):
        def launch(grid, block, args):
            x, out, n = args
            (rows,), (threads,) = grid, block
            assert threads % 32 == 0 and threads <= 1024 and rows * int(n) == x.size and x.flags.c_contiguous
            assert name.endswith(x.dtype.name) and out.dtype == x.dtype
            launches.append(name)
            r = np.asarray(x).reshape(rows, int(n))
            m = r.max(axis=1, keepdims=True)
            z = r - np.where(np.isfinite(m), m, 0)
            lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
            res = {"softmax": lambda: np.exp(z - lse), "log_softmax": lambda: z - lse,
                   "logsumexp": lambda: lse + np.where(np.isfinite(m), m, 0)}[name[3:].rsplit("_", 1)[0]]()
            out.reshape(-1)[...] = res.reshape(-1)
        return launch

    cp.RawModule = lambda code: types.SimpleNamespace(get_function=function)
    return cp


@pytest.mark.parametrize("op, shape, kw", [
    ("softmax", (4, 3, 5), {"axis": -1}), ("log_softmax", (2, 700), {"axis": 1}),
    ("softmax", (3, 5), {"axis": 0}),
    ("logsumexp", (4, 3, 5), {"axis": -1}), ("logsumexp", (4, 3, 5), {"axis": -1, "keepdims": True}),
    ("logsumexp", (4, 3, 5), {"axis": None}), ("logsumexp", (4, 3, 5), {"axis": None, "keepdims": True}),
    ("logsumexp", (4, 3, 5), {"axis": 1}),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_forwards_launch_the_right_kernel_with_a_fake_cupy(monkeypatch, op, shape, kw, dtype):
    """The Python side of the fused kernels (geometry, shapes, fallbacks), where no GPU is available."""
    launches: list = []
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(launches))
    monkeypatch.setattr(fused, "_MODULE", [])
    x = (np.random.default_rng(0).standard_normal(shape) * 3).astype(dtype)
    cpu = xg.get_backend("cpu")
    got = getattr(fused, op)(cpu.xp, np.ascontiguousarray(x).view(_FakeDeviceArray), **kw)
    want = xg.get_op(op).forward(cpu.xp, x, **kw)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5 if dtype == "float32" else 1e-12)
    fits = kw.get("axis") in (-1, len(shape) - 1) or (op == "logsumexp" and kw.get("axis", 0) is None)
    assert launches == ([kernels.entry(op, dtype)] if fits else [])


def test_the_cuda_family_is_registered_with_its_kernels():
    r = report()
    fam = r.families["cuda"]
    assert fam.plugin == "xpgrad.backends.cupy.plugin"
    assert fam.family.install_hint == "pip install xpgrad[cuda]"
    ks = {(k.op, k.family) for k, plugin in r.kernels if plugin == "xpgrad.backends.cupy.plugin"}
    assert ks == {("softmax", "cuda"), ("log_softmax", "cuda"), ("logsumexp", "cuda"),
                  ("scatter_add", "cuda")}


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_without_cupy_cuda_says_what_to_install():
    with pytest.raises(xg.DeviceError) as e:
        xg.get_backend("cuda:0")
    msg = str(e.value)
    assert msg.startswith("device 'cuda:0' is not available") and "No module named 'cupy'" in msg
    assert msg.endswith("pip install xpgrad[cuda]")
    assert not any(d.startswith("cuda") for d in xg.devices())


# -- on a CUDA device ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cuda():
    try:
        return xg.get_backend("cuda:0")
    except xg.DeviceError as e:
        pytest.skip(f"no usable CUDA device: {e}")


CASES = [((3, 5), -1), ((2, 3, 700), -1), ((4, 1), -1), ((6, 2049), 1), ((3, 5), 0)]


def _rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype) * 3


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, axis", CASES)
def test_fused_softmax_values_match_cpu(cuda, op, dtype, shape, axis):
    x = _rand(shape, dtype)
    got = getattr(xg, op)(xg.asarray(x, device="cuda:0"), axis=axis)
    want = getattr(xg, op)(xg.asarray(x), axis=axis)
    assert got.device == "cuda:0" and got.dtype == want.dtype
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, axis, keepdims", [((3, 5), -1, False), ((2, 3, 700), -1, True),
                                                   ((7,), None, False), ((2, 3, 4), None, True),
                                                   ((3, 5), 0, False)])
def test_fused_logsumexp_values_match_cpu(cuda, dtype, shape, axis, keepdims):
    x = _rand(shape, dtype)
    got = xg.logsumexp(xg.asarray(x, device="cuda:0"), axis=axis, keepdims=keepdims)
    want = xg.logsumexp(xg.asarray(x), axis=axis, keepdims=keepdims)
    assert got.shape == want.shape
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)


def test_fused_kernels_at_the_edges(cuda):
    inf = np.inf
    x = np.array([[1e4, -1e4, 0.0], [-inf, -inf, -inf], [inf, 1.0, 2.0], [np.nan, 1.0, 2.0]])
    for op in ("softmax", "log_softmax", "logsumexp"):
        kw = {"axis": -1}
        got = getattr(xg, op)(xg.asarray(x, device="cuda:0"), **kw).numpy()
        with np.errstate(all="ignore"):
            want = getattr(xg, op)(xg.asarray(x), **kw).numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-12)


def test_the_fused_kernels_are_what_runs_on_cuda(cuda):
    for op in ("softmax", "log_softmax", "logsumexp"):
        assert xg.get_op(op).kernels[cuda] is getattr(fused, op)


@pytest.mark.parametrize("op, kw", [("softmax", {}), ("log_softmax", {}), ("logsumexp", {"axis": -1}),
                                    ("logsumexp", {})])
def test_gradients_through_fused_kernels(cuda, op, kw):
    x = xg.asarray(_rand((3, 4), "float64", 1), device="cuda:0")
    check_grads(lambda t: getattr(xg, op)(t, **kw), [x], order=2)


def test_gradients_match_cpu(cuda):
    def f(t):
        return xg.sum(xg.log_softmax(t @ xg.matrix_transpose(t)) * xg.sin(t[:, :1]))

    a = _rand((4, 3), "float64", 2)
    xs = [xg.asarray(a, device=d, requires_grad=True) for d in ("cuda:0", "cpu")]
    ys = [f(x) for x in xs]
    for y in ys:
        y.backward()
    assert xs[0].grad.device == "cuda:0"
    np.testing.assert_allclose(float(ys[0]), float(ys[1]), rtol=1e-12)
    np.testing.assert_allclose(xs[0].grad.numpy(), xs[1].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_few_ops_on_cuda(cuda):
    a, b = _rand((3, 4), "float64", 3), _rand((4, 2), "float64", 4)
    ga, gb = xg.asarray(a, device="cuda:0"), xg.asarray(b, device="cuda:0")
    np.testing.assert_allclose((ga @ gb).numpy(), a @ b, rtol=1e-12)
    np.testing.assert_allclose(xg.sum(xg.exp(ga), axis=0).numpy(), np.exp(a).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ga[1:, ::2].numpy(), a[1:, ::2])
    check_grads(lambda s, t: xg.tanh(s @ t), [ga, gb], order=2)


def test_host_transfers_and_ownership(cuda):
    a = np.arange(6.0).reshape(2, 3)
    raw = cuda.from_host(a)
    assert cuda.owns(raw) and type(raw).__module__.startswith("cupy")
    np.testing.assert_array_equal(cuda.to_host(raw), a)
    t = xg.asarray(xg.asarray(a), device="cuda:0")   # host -> device through the Tensor
    assert t.device == "cuda:0" and t.numpy().tolist() == a.tolist()
    assert cuda.profile is not None and "compute capability" in cuda.profile.describe()


# -- scatter_add with cupyx.scatter_add (atomicAdd: not deterministic) --------------------------------------

from xpgrad.backends.cupy import scatter as cuda_scatter  # noqa: E402
from xpgrad.core.dispatch import Signature  # noqa: E402


def _sa_sig(dtypes, key, shapes=((10,), (6,)), device="cuda:0"):
    return Signature.of("scatter_add", list(shapes), list(dtypes), params={"key": key}, device=device)


def test_the_atomic_cuda_scatter_add_is_registered_as_not_deterministic():
    (k,) = [k for k, plugin in report().kernels if plugin == "xpgrad.backends.cupy.plugin"
            and k.op == "scatter_add"]
    assert k.family == "cuda" and k.deterministic is False and k.name == "atomic"
    assert k.supports is cuda_scatter.supports and k.cost is cuda_scatter.atomic_cost


@pytest.mark.parametrize("dtypes, key, why", [
    (("float32", "float32"), np.array([1, 1, 2]), None),
    (("float64", "float64"), ([0, 0], slice(None)), None),
    (("float32", "float32"), (slice(1, 3), 0), "basic key"),
    (("int32", "int32"), np.array([1, 1]), "not int32"),
    (("float32", "float64"), np.array([1, 1]), "not of the destination's dtype"),
    (("float32", "float32"), (np.ones(3, bool), np.ones(4, bool)), "at most one boolean mask"),
])
def test_which_calls_the_atomic_cuda_kernel_takes(dtypes, key, why):
    got = cuda_scatter.supports(_sa_sig(dtypes, key))
    assert got is True if why is None else why in got


def test_the_atomic_cuda_cost_model():
    attrs = {"MultiProcessorCount": 132, "ClockRate": 1_980_000, "ComputeCapabilityMajor": 9,
             "ComputeCapabilityMinor": 0, "MemoryClockRate": 2_619_000, "GlobalMemoryBusWidth": 6144}
    p = profile_from_attributes("NVIDIA H200", attrs, 141 * 10**9)
    spread = cuda_scatter.atomic_cost(_sa_sig(("float32", "float32"), None, ((10 ** 6,), (10 ** 6,))), p)
    # 3 launches + (2·4e6 + 1e6·20) bytes at 4.02 TB/s
    assert spread == pytest.approx(3 * 5e-6 + 28e6 / p.memory_bandwidth)
    piled = cuda_scatter.atomic_cost(_sa_sig(("float32", "float32"), None, ((10,), (10 ** 6,))), p)
    assert piled == pytest.approx(3 * 5e-6 + 1e5 * 2e-9)     # 100 000 atomics on one address, in turn
    assert cuda_scatter.sizes(_sa_sig(("float32", "float32"), (np.zeros(50, np.int64),),
                                      ((8,), ()))) == (8, 50, 4)


def test_the_atomic_cuda_forward_with_a_fake_cupy(monkeypatch):
    """The Python side (device keys, a copy, the call of cupyx.scatter_add), where no GPU is available."""
    calls = []
    cp = types.ModuleType("cupy")
    cp.ndarray = _FakeDeviceArray
    cp.asarray = lambda a: np.asarray(a).view(_FakeDeviceArray)
    cpx = types.ModuleType("cupyx")

    def scatter_add(a, slices, value):
        calls.append(slices)
        np.add.at(a, slices, value)

    cpx.scatter_add = scatter_add
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setitem(sys.modules, "cupyx", cpx)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 3)).view(_FakeDeviceArray)
    g = rng.standard_normal((7, 3))
    key = ([0, 0, 4, 0, 2, 2, -1], slice(None))
    got = cuda_scatter.scatter_add_atomic(None, z, g, key=key)
    want = np.asarray(z).copy()
    np.add.at(want, key, g)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    assert got is not z and not np.shares_memory(got, z)          # out of place
    (k,) = calls
    assert isinstance(k[0], _FakeDeviceArray) and k[1] == slice(None)   # the list moved to the device


def test_atomic_scatter_add_on_cuda(cuda):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 16, 20000)
    for dtype in ("float32", "float64"):
        z, g = rng.standard_normal(16).astype(dtype), rng.standard_normal(20000).astype(dtype)
        want = z.copy()
        np.add.at(want, idx, g)
        zd, gd = xg.asarray(z, device="cuda:0"), xg.asarray(g, device="cuda:0")
        assert xg.dispatch.explain("scatter_add", zd, gd, key=idx).choice == "atomic"
        got = xg.get_op("scatter_add")(zd, gd, key=idx)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4 if dtype == "float32" else 1e-10, atol=1e-4)


def test_repeated_getitem_vjps_on_cuda_are_bitwise_identical_under_determinism(cuda):
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal(64).astype(np.float32)
    idx = rng.integers(0, 64, 20000)
    wd = xg.asarray(rng.standard_normal(20000).astype(np.float32), device="cuda:0")
    zeros = xg.zeros(64, dtype=xg.float32, device="cuda:0")
    reference = xg.get_op("scatter_add").forward(cuda.xp, zeros.data, wd.data, key=idx)   # sort-based
    with xg.use_deterministic():
        assert xg.dispatch.explain("scatter_add", zeros, wd, key=idx).choice == "generic"
        for _ in range(20):
            x = xg.asarray(x0, device="cuda:0", requires_grad=True)
            xg.sum(x[idx] * wd).backward()
            np.testing.assert_array_equal(x.grad.numpy(), cuda.to_host(reference))
