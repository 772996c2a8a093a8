"""The fpga backend: the vendor template, tested as a vendor's backend would be.

* FPGAArray never mixes with host arrays or other cards' arrays, and NumPy cannot convert one;
* the Array API surface of the array, and every namespace function agrees with NumPy;
* xpgrad tensors on fpga:0 give the CPU's values and gradients, without host round trips;
* the cycle model on sizes checked by hand, the number formats against float64, the cost model.
"""

import math
import operator
import os
import subprocess
import sys

import array_api_compat.numpy as cnp
import numpy as np
import pytest

import xpgrad as xg
from xpgrad.backends import fpga
from xpgrad.backends.fpga import namespace as ns, systolic
from xpgrad.backends.fpga.array import FPGAArray
from xpgrad.plugins.hookspecs import BackendFamily, Kernel
from xpgrad.testing import check_grads, materialize

DEV = "fpga:0"


@pytest.fixture(scope="module", autouse=True)
def fpga_device():
    """fpga:0 through the plugin manager; registered by hand where the manager is not there."""
    try:
        xg.get_backend(DEV)
    except xg.DeviceError:
        fpga.register()
    return xg.get_backend(DEV)


@pytest.fixture(autouse=True)
def fresh():
    """Each test starts with zeroed counters and the default card, and leaves it so."""
    with fpga.configured(systolic.SystolicConfig()):
        fpga.reset()
        yield


def up(a, **kw):
    """Host data onto the card, as a raw FPGAArray."""
    return ns.asarray(np.asarray(a), **kw)


def host(x):
    return xg.get_backend(DEV).to_host(x)


def counts():
    return fpga.transfer_counts(DEV)


R = np.random.default_rng(7)
X = R.uniform(0.1, 0.9, (3, 4))      # inside the domain of every unary function
Y = R.uniform(0.1, 0.9, (3, 4))
S = R.standard_normal((3, 4))
I = R.integers(1, 5, (3, 4))
J = R.integers(0, 3, (3, 4))
B = R.random((3, 4)) < 0.5
C = S + 1j * R.standard_normal((3, 4))
M = R.standard_normal((4, 4))
SPD = M @ M.T + 4 * np.eye(4)
V3, V4 = R.standard_normal(3), R.standard_normal(4)
T3 = R.standard_normal((2, 3, 4))


# ================ 1. no mixing


def test_operators_refuse_numpy_arrays_both_ways():
    a = up(S)
    for f in (lambda: a + S, lambda: S + a, lambda: a * S, lambda: S - a, lambda: a == S,
              lambda: S == a, lambda: a < S, lambda: a @ M, lambda: M @ a):
        with pytest.raises(TypeError, match=r"numpy\.ndarray.*|FPGAArray"):
            f()
    with pytest.raises(TypeError) as e:
        a + S
    msg = str(e.value)
    assert "FPGAArray (3, 4) float64 on fpga:0" in msg and "numpy.ndarray (3, 4) float64" in msg
    assert "xpgrad.asarray(x, device='fpga:0')" in msg and "to_device('cpu')" in msg


def test_inplace_operators_and_setitem_refuse_numpy():
    a = up(S)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        a += S
    with pytest.raises(TypeError, match="numpy.ndarray"):
        a[0] = S[0]
    np.testing.assert_array_equal(host(a), S)   # nothing was written


def test_numpy_scalars_and_other_libraries_are_refused():
    a = up(X)
    with pytest.raises(TypeError, match="NumPy scalar"):
        a + np.float32(1)
    strict = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="array_api_strict"):
        a + strict.asarray(X)


def test_numpy_cannot_convert_an_fpga_array():
    a = up(X)
    for f in (np.asarray, np.array, lambda v: np.add(v, 1), lambda v: np.sum(v),
              lambda v: np.concatenate([v]), lambda v: float(np.mean(v))):
        with pytest.raises(TypeError):
            f(a)
    with pytest.raises(TypeError, match="never converted to NumPy implicitly"):
        np.asarray(a)
    with pytest.raises(BufferError):
        a.__dlpack__()
    with pytest.raises((BufferError, TypeError)):
        np.from_dlpack(a)
    assert a.__dlpack_device__() == (12, 0)   # kDLExtDev, card 0
    assert counts()["to_host"] == 0


def test_fpga_arrays_are_made_by_the_namespace_only():
    with pytest.raises(TypeError, match="made by the fpga namespace"):
        FPGAArray(X)


@pytest.mark.parametrize("call", [
    lambda a: ns.add(a, S), lambda a: ns.add(S, a), lambda a: ns.concat([a, S]),
    lambda a: ns.where(a > 0, a, S), lambda a: ns.matmul(a, M), lambda a: ns.take(a, np.array([0])),
    lambda a: ns.stack((a, a, S)), lambda a: ns.clip(a, min=S), lambda a: ns.linalg.vector_norm(S),
])
def test_namespace_functions_refuse_numpy_arrays(call):
    with pytest.raises(TypeError, match="numpy.ndarray"):
        call(up(S))


def test_namespace_refuses_other_devices():
    with pytest.raises(xg.DeviceError, match="not a device of the fpga namespace"):
        ns.zeros((2,), device="cpu")
    with pytest.raises(xg.DeviceError):
        ns.asarray([1.0], device="fpga:7")


def test_explicit_transfers_work_and_are_counted():
    a = up(X)                                   # 1 upload of 96 bytes
    assert counts() == {"to_host": 0, "from_host": 1, "bytes_to_host": 0, "bytes_from_host": 96}
    h = host(a)
    assert type(h) is np.ndarray and not np.shares_memory(h, a._a)
    np.testing.assert_array_equal(h, X)
    np.testing.assert_array_equal(a.to_device("cpu"), X)
    assert counts()["to_host"] == 2 and counts()["bytes_to_host"] == 192
    assert a.to_device(DEV) is a


def test_tensors_on_different_devices_do_not_mix():
    t = xg.asarray(S, device=DEV)
    with pytest.raises(xg.DeviceMismatchError, match="fpga:0"):
        t + xg.asarray(S)
    with pytest.raises((TypeError, xg.OpError), match="numpy.ndarray"):
        t + S
    assert (t + xg.asarray(S).to_device(DEV)).device == DEV


def test_to_device_is_differentiable_across_cpu_and_fpga():
    x = xg.asarray(V4, requires_grad=True)             # on the cpu
    y = x.to_device(DEV)
    assert y.device == DEV and type(y.data) is FPGAArray
    xg.sum(y * y).backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * V4)
    assert counts()["from_host"] == 1 and counts()["to_host"] == 1   # the value in, its gradient out


# ================ 1. the array's Array API surface


def test_attributes():
    a = up(T3.astype(np.float32))
    assert (a.dtype, a.shape, a.ndim, a.size) == (np.float32, (2, 3, 4), 3, 24)
    assert a.device == DEV and a.device == fpga.get_device(0) and str(a.device) == DEV
    assert a.__array_namespace__() is ns and a.__array_namespace__(api_version="2024.12") is ns
    np.testing.assert_array_equal(host(a.mT), np.swapaxes(T3.astype(np.float32), -1, -2))
    np.testing.assert_array_equal(host(up(S).T), S.T)
    with pytest.raises(ValueError):
        _ = a.T
    assert "device='fpga:0'" in repr(a)
    assert len(a) == 2 and [t.shape for t in a] == [(3, 4), (3, 4)]


_FLOAT_OPS = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow"]
_INT_OPS = ["and", "or", "xor", "lshift", "rshift"]


@pytest.mark.parametrize("name", _FLOAT_OPS + _INT_OPS)
def test_binary_operators_reflected_and_inplace(name):
    x, y = (X, Y) if name in _FLOAT_OPS else (I, J)
    s = 2.0 if name in _FLOAT_OPS else 2
    fn = getattr(operator, name + ("_" if name in ("and", "or") else ""))
    ifn = getattr(operator, "i" + name)
    a, b = up(x), up(y)
    np.testing.assert_array_equal(host(fn(a, b)), fn(x, y))
    np.testing.assert_array_equal(host(fn(a, s)), fn(x, s))
    np.testing.assert_array_equal(host(fn(s, a)), fn(s, x))           # reflected
    ref = x.copy()
    ifn(ref, y)
    before = a
    a = ifn(a, b)                                                     # in place, into device memory
    assert a is before
    np.testing.assert_array_equal(host(a), ref)


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons(name):
    fn = getattr(operator, name)
    r = fn(up(S), up(X))
    assert r.dtype == np.bool_ and r.device == DEV
    np.testing.assert_array_equal(host(r), fn(S, X))
    np.testing.assert_array_equal(host(fn(up(S), 0.5)), fn(S, 0.5))


def test_unary_operators_and_matmul():
    a = up(S)
    for fn in (operator.neg, operator.pos, abs):
        np.testing.assert_array_equal(host(fn(a)), fn(S))
    np.testing.assert_array_equal(host(~up(I)), ~I)
    np.testing.assert_array_equal(host(a @ up(M)), S @ M)
    m = up(M)
    m @= up(SPD)
    np.testing.assert_array_equal(host(m), M @ SPD)
    with pytest.raises(ValueError):
        m @= up(S.T)
    with pytest.raises(TypeError):
        2.0 @ a


def test_zero_d_conversions_are_reads_from_the_card():
    z = up(np.float64(2.5))
    assert float(z) == 2.5 and int(z) == 2 and complex(z) == 2.5 + 0j and bool(z)
    assert operator.index(up(np.int64(3))) == 3
    assert [0, 1, 2, 3][up(np.int64(3))] == 3
    with pytest.raises(TypeError):
        operator.index(z)
    assert counts()["to_host"] == 6


@pytest.mark.parametrize("key", [
    1, -1, slice(None), slice(1, None), slice(None, None, -2), (1, 2), (slice(0, 2), -1), None,
    (None, 0), Ellipsis, (Ellipsis, 1), (0, Ellipsis, None), (slice(None), [3, 0, 0]),
    "mask", "mask_row", "int_array", "host_int_array", "host_mask",
])
def test_getitem_every_key_kind(key):
    mask = S > 0
    keys = {"mask": (up(mask), mask), "mask_row": ((up(mask[:, 0]), 1), (mask[:, 0], 1)),
            "int_array": (up(np.array([2, 0, 2])), np.array([2, 0, 2])),
            "host_int_array": (np.array([[1, 1], [0, 2]]), np.array([[1, 1], [0, 2]])),
            "host_mask": (mask, mask)}
    k_dev, k_host = keys.get(key, (key, key)) if isinstance(key, str) else (key, key)
    before = counts()["from_host"]
    r = up(S)[k_dev]
    assert type(r) is FPGAArray and r.device == DEV
    np.testing.assert_array_equal(host(r), S[k_host])
    # host index arrays (and lists) are uploaded, as PyTorch accepts CPU indices for a CUDA tensor
    host_key = key in ("host_int_array", "host_mask") or isinstance(key, tuple) and any(
        isinstance(k, list) for k in key)
    assert counts()["from_host"] - before == 1 + host_key


@pytest.mark.parametrize("key", [0, (slice(None), 1), slice(None, None, 2), Ellipsis, "mask", "ints"])
def test_setitem_every_key_kind(key):
    mask = S > 0
    k_dev, k_host = {"mask": (up(mask), mask), "ints": (up(np.array([2, 0])), np.array([2, 0]))}.get(
        key, (key, key)) if isinstance(key, str) else (key, key)
    a, ref = up(S), S.copy()
    a[k_dev] = 7.0
    ref[k_host] = 7.0
    np.testing.assert_array_equal(host(a), ref)
    val = ref[k_host] * 0 - 1.0
    a[k_dev] = up(val)
    ref[k_host] = val
    np.testing.assert_array_equal(host(a), ref)


def test_views_share_device_memory():
    a = up(S)
    v = a[1:]
    v[...] = 0.0
    assert float(ns.sum(a[1:] ** 2)) == 0.0 and float(ns.sum(a[0] ** 2)) > 0


def test_index_array_from_another_card_is_refused():
    with pytest.raises(TypeError, match="float64|numpy"):
        up(S)[up(S)] = np.ones(1)


# ================ 3. the namespace agrees with NumPy


class Host:
    """An argument that stays host data (what asarray / from_dlpack receive)."""

    def __init__(self, v):
        self.v = v


_UNARY = ["abs", "acos", "asin", "asinh", "atan", "atanh", "ceil", "cos", "cosh", "exp", "expm1",
          "floor", "isfinite", "isinf", "isnan", "log", "log1p", "log2", "log10", "negative", "positive",
          "reciprocal", "round", "sign", "signbit", "sin", "sinh", "square", "sqrt", "tan", "tanh", "trunc"]
_BINARY = ["add", "atan2", "copysign", "divide", "equal", "floor_divide", "greater", "greater_equal",
           "hypot", "less", "less_equal", "logaddexp", "maximum", "minimum", "multiply", "nextafter",
           "not_equal", "pow", "remainder", "subtract"]
CALLS = {n: ((X,), {}) for n in _UNARY}
CALLS.update({n: ((X, Y), {}) for n in _BINARY})
CALLS.update({
    "acosh": ((1 + X,), {}), "conj": ((C,), {}), "imag": ((C,), {}), "real": ((C,), {}),
    "clip": ((S,), {"min": -0.5, "max": 0.5}),
    "bitwise_and": ((I, J), {}), "bitwise_or": ((I, J), {}), "bitwise_xor": ((I, J), {}),
    "bitwise_left_shift": ((I, J), {}), "bitwise_right_shift": ((I, J), {}), "bitwise_invert": ((I,), {}),
    "logical_and": ((B, ~B), {}), "logical_or": ((B, ~B), {}), "logical_xor": ((B, ~B), {}),
    "logical_not": ((B,), {}),
    # creation
    "arange": ((1, 7, 2), {}), "asarray": ((Host([[1.0, 2.0], [3.0, 4.0]]),), {}),
    "empty": (((2, 3),), {}), "empty_like": ((X,), {}), "eye": ((3, 4), {"k": 1}),
    "from_dlpack": ((Host(X),), {}), "full": (((2, 3), 1.5), {}), "full_like": ((X, 2.0), {}),
    "linspace": ((0.0, 1.0, 5), {}), "meshgrid": ((V3, V4), {"indexing": "ij"}), "ones": (((2, 2),), {}),
    "ones_like": ((I,), {}), "tril": ((M,), {"k": -1}), "triu": ((M,), {}), "zeros": (((3,),), {}),
    "zeros_like": ((X,), {}),
    # data types
    "astype": ((X, np.float32), {}), "can_cast": ((np.float32, np.float64), {}),
    "finfo": ((np.float32,), {}), "iinfo": ((np.int16,), {}), "isdtype": ((np.float32, "real floating"), {}),
    "result_type": ((X, I), {}),
    # indexing, linear algebra
    "take": ((S, np.array([2, 0])), {"axis": 1}),
    "take_along_axis": ((S, np.argsort(S, axis=1)), {"axis": 1}),
    "matmul": ((S, M), {}), "matrix_transpose": ((T3,), {}), "tensordot": ((S, M), {"axes": 1}),
    "vecdot": ((S, X), {}),
    # manipulation
    "broadcast_arrays": ((X, V4), {}), "broadcast_shapes": (((3, 1), (1, 4)), {}),
    "broadcast_to": ((V4, (3, 4)), {}), "concat": (([X, Y],), {"axis": 0}),
    "expand_dims": ((X,), {"axis": 0}), "flip": ((X,), {"axis": 1}), "moveaxis": ((T3, 0, 2), {}),
    "permute_dims": ((T3, (2, 0, 1)), {}), "repeat": ((X, 2), {"axis": 0}), "reshape": ((X, (4, 3)), {}),
    "roll": ((X, 1), {"axis": 1}), "squeeze": ((X[None],), {"axis": 0}), "stack": (([X, Y],), {"axis": 1}),
    "tile": ((X, (2, 1)), {}), "unstack": ((X,), {"axis": 0}),
    # searching, sets, sorting
    "argmax": ((S,), {"axis": 1}), "argmin": ((S,), {"axis": 0}), "count_nonzero": ((B,), {}),
    "nonzero": ((B,), {}), "searchsorted": ((np.sort(V4), X.ravel()), {}), "where": ((B, X, Y), {}),
    "isin": ((I, np.array([1, 2])), {}), "unique_all": ((I,), {}), "unique_counts": ((I,), {}),
    "unique_inverse": ((I,), {}), "unique_values": ((I,), {}), "argsort": ((S,), {"axis": 1}),
    "sort": ((S,), {"axis": 0}),
    # statistics, utility
    "cumulative_prod": ((X,), {"axis": 1}), "cumulative_sum": ((X,), {"axis": 0, "include_initial": True}),
    "max": ((S,), {"axis": 0}), "mean": ((S,), {}), "min": ((S,), {"axis": 1, "keepdims": True}),
    "prod": ((X,), {}), "std": ((S,), {"correction": 1}), "sum": ((S,), {"axis": (0, 1)}),
    "var": ((S,), {"axis": 1}), "all": ((B,), {"axis": 1}), "any": ((B,), {}), "diff": ((S,), {"axis": 1}),
})
LINALG_CALLS = {
    "cholesky": ((SPD,), {}), "cross": ((T3[:, :, :3], T3[:, :, 1:]), {}), "det": ((M,), {}),
    "diagonal": ((M,), {"offset": 1}), "eigh": ((SPD,), {}), "eigvalsh": ((SPD,), {}), "inv": ((M,), {}),
    "matmul": ((S, M), {}), "matrix_norm": ((M,), {"ord": "fro"}), "matrix_power": ((M, 3), {}),
    "eig": ((M,), {}), "eigvals": ((M,), {}),
    "matrix_rank": ((M,), {}), "matrix_transpose": ((S,), {}), "outer": ((V4, V3), {}), "pinv": ((S,), {}),
    "qr": ((M,), {}), "slogdet": ((M,), {}), "solve": ((M, S.T), {}), "svd": ((S,), {}),
    "svdvals": ((S,), {}), "tensordot": ((S, M), {"axes": 1}), "trace": ((M,), {}), "vecdot": ((S, X), {}),
    "vector_norm": ((S,), {"ord": 3}),
}
FFT_CALLS = {
    "fft": ((C[0],), {}), "ifft": ((C[0],), {}), "fftn": ((C,), {}), "ifftn": ((C,), {}),
    "rfft": ((S[0],), {}), "irfft": ((np.fft.rfft(S[0]),), {}), "rfftn": ((S,), {}),
    "irfftn": ((np.fft.rfftn(S),), {}), "hfft": ((C[0],), {}), "ihfft": ((S[0],), {}),
    "fftfreq": ((8,), {"d": 0.5}), "rfftfreq": ((8,), {}), "fftshift": ((S,), {}), "ifftshift": ((S,), {}),
}
_APPROX = {"tensordot"}       # runs as one matmul on the systolic array: NumPy's summation order may differ
_SHAPE_ONLY = {"empty", "empty_like"}


def _to_dev(v):
    if isinstance(v, Host):
        return v.v
    if isinstance(v, np.ndarray):
        return up(v)
    if isinstance(v, (list, tuple)):
        return type(v)(_to_dev(e) for e in v)
    return v


def _to_np(v):
    if isinstance(v, Host):
        return v.v
    if isinstance(v, (list, tuple)):
        return type(v)(_to_np(e) for e in v)
    return v


def _same(got, want, name):
    if isinstance(want, (np.ndarray, np.generic)):
        assert type(got) is FPGAArray and got.device == DEV, f"{name}: {type(got)} is not on the card"
        h, w = host(got), np.asarray(want)
        assert h.dtype == w.dtype and h.shape == w.shape, f"{name}: {h.dtype}{h.shape} vs {w.dtype}{w.shape}"
        if name in _SHAPE_ONLY:
            return
        if name in _APPROX:
            np.testing.assert_allclose(h, w, rtol=1e-13, atol=1e-13)
        else:
            np.testing.assert_array_equal(h, w)
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), f"{name}: {type(got)} vs {type(want)}"
        for g, w in zip(got, want):
            _same(g, w, name)
    else:
        assert got == want or repr(got) == repr(want), f"{name}: {got!r} != {want!r}"


def _cases(calls, prefix):
    return [pytest.param(prefix, n, id=prefix + n) for n in sorted(calls)]


def test_the_tables_cover_the_whole_namespace():
    assert set(CALLS) == set(ns.FUNCTIONS)
    assert set(LINALG_CALLS) == set(ns.LINALG) and set(FFT_CALLS) == set(ns.FFT)


def test_the_function_list_is_the_standards():
    strict = pytest.importorskip("array_api_strict")
    ours = set(ns.__all__)
    theirs = {n for n in strict.__all__ if not n.endswith("_flags") and n not in
              ("ArrayAPIStrictFlags", "Device", "__version__")}
    assert theirs <= ours, f"missing: {sorted(theirs - ours)}"
    assert {n for n in strict.linalg.__all__ if "flags" not in n.lower()} <= set(ns.LINALG)


@pytest.mark.parametrize("where,name", _cases(CALLS, "") + _cases(LINALG_CALLS, "linalg.")
                         + _cases(FFT_CALLS, "fft."))
def test_namespace_function_agrees_with_numpy(where, name):
    table, mod_f, mod_n = {"": (CALLS, ns, cnp), "linalg.": (LINALG_CALLS, ns.linalg, cnp.linalg),
                           "fft.": (FFT_CALLS, ns.fft, cnp.fft)}[where]
    args, kwargs = table[name]
    want = getattr(mod_n, name)(*_to_np(args), **kwargs)
    got = getattr(mod_f, name)(*_to_dev(args), **kwargs)
    _same(got, want, where + name)


def test_creation_functions_take_a_device():
    for d in (DEV, fpga.get_device(0), xg.get_backend(DEV)):
        z = ns.zeros((2,), device=d)
        assert z.device == DEV
    assert ns.zeros_like(up(X), device=DEV).device == DEV
    info = ns.__array_namespace_info__()
    assert info.default_device() == DEV and DEV in info.devices()
    assert info.dtypes(kind="real floating") == cnp.__array_namespace_info__().dtypes(kind="real floating")
    assert info.capabilities()["boolean indexing"]


def test_asarray_semantics():
    a = up(X)
    assert ns.asarray(a) is a
    c = ns.asarray(a, copy=True)
    assert c is not a and not np.shares_memory(c._a, a._a)
    assert ns.asarray(a, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="copied"):
        ns.asarray(X, copy=False)
    before = counts()["from_host"]
    ns.asarray(2.0)                           # a scalar is a kernel immediate, not a transfer
    assert counts()["from_host"] == before


# ================ xpgrad on fpga:0: values, gradients, no copies


def _both(fn, *arrays, dtype=xg.float64):
    """``fn`` and its gradients on the cpu and on fpga:0, as host arrays."""
    out = []
    for dev in ("cpu", DEV):
        xs = [xg.asarray(a, dtype=dtype, device=dev, requires_grad=True) for a in arrays]
        y = fn(*xs)
        u = xg.asarray(np.linspace(-1, 1, y.size).reshape(y.shape), dtype=dtype, device=dev)
        xg.sum(y * u).backward()
        assert y.device == dev and all(x.grad.device == dev for x in xs)
        out.append([y.numpy()] + [x.grad.numpy() for x in xs])
    return out


MATMULS = [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
           ((2, 1, 3, 4), (5, 4, 2)), ((5, 4), (2, 4, 3))]


@pytest.mark.parametrize("sa,sb", MATMULS)
def test_matmul_values_and_gradients_match_the_cpu(sa, sb):
    a, b = R.standard_normal(sa), R.standard_normal(sb)
    (yc, *gc), (yf, *gf) = _both(lambda x, w: xg.tanh(x @ w), a, b)
    np.testing.assert_array_equal(yf, yc)        # float32 mode computes what NumPy computes
    for u, v in zip(gf, gc):
        np.testing.assert_allclose(u, v, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("sa,sb", MATMULS[:4])
def test_matmul_gradient_check_on_the_card(sa, sb):
    args = [xg.asarray(R.standard_normal(s), device=DEV) for s in (sa, sb)]
    check_grads(xg.matmul, args, order=2)


CONVS = [((2, 3, 5, 5), (4, 3, 3, 3), {}),
         ((1, 2, 6, 5), (3, 2, 2, 3), {"stride": 2, "padding": 1}),
         ((1, 4, 5, 5), (4, 2, 3, 3), {"groups": 2, "padding": (1, 0)}),
         ((1, 2, 7, 6), (2, 2, 2, 2), {"dilation": 2, "stride": (1, 2)}),
         ((1, 3, 4, 4), (3, 1, 2, 2), {"groups": 3})]


def _need_conv2d():
    if "conv2d" not in xg.registered_ops():
        print("skipping: the conv2d op is not registered yet (src/xpgrad/ops/nn.py)")
        pytest.skip("the conv2d op is not registered yet (src/xpgrad/ops/nn.py)")


@pytest.mark.parametrize("xs,ws,p", CONVS)
def test_conv2d_values_and_gradients_match_the_cpu(xs, ws, p):
    _need_conv2d()
    x, w = R.standard_normal(xs), R.standard_normal(ws)
    (yc, *gc), (yf, *gf) = _both(lambda a, b: xg.conv2d(a, b, **p), x, w)
    for u, v in zip([yf] + gf, [yc] + gc):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)
    assert fpga.last_report().op == "conv2d"


@pytest.mark.parametrize("xs,ws,p", CONVS[:3])
def test_conv2d_gradient_check_on_the_card(xs, ws, p):
    _need_conv2d()
    args = [xg.asarray(R.standard_normal(s), device=DEV) for s in (xs, ws)]
    check_grads(lambda a, b: xg.conv2d(a, b, **p), args, order=2)


def test_results_stay_on_the_card():
    """A forward and backward pass moves nothing between host and card."""
    x = xg.asarray(R.standard_normal((2, 3, 6, 6)), device=DEV, requires_grad=True)
    w1 = xg.asarray(R.standard_normal((4, 3, 3, 3)), device=DEV, requires_grad=True)
    w2 = xg.asarray(R.standard_normal((16, 5)), device=DEV, requires_grad=True)
    start = counts()
    assert start["to_host"] == 0 and start["from_host"] == 3
    h = xg.tanh(xg.conv2d(x, w1, padding=1)) if "conv2d" in xg.registered_ops() else xg.tanh(x[:, :, :4])
    h = xg.reshape(h, (2, -1))[:, :16] @ w2
    loss = xg.sum(xg.log_softmax(h, axis=-1)[:, 0] ** 2)
    loss.backward()
    assert counts() == start, "a forward or backward pass copied data between host and card"
    for t in (loss, x.grad, w1.grad, w2.grad):
        assert t.device == DEV and type(t.data) is FPGAArray
    float(loss)                                   # reading the loss is one transfer, of 8 bytes
    assert counts()["to_host"] == 1 and counts()["bytes_to_host"] == 8
    assert fpga.total_cycles() > 0 and len(fpga.reports()) >= 3


def test_higher_order_and_inplace_on_the_card():
    x = xg.asarray(V4, device=DEV, requires_grad=True)
    g = xg.grad(lambda v: xg.sum(xg.sin(v) * v))(x)
    hvp = xg.grad(lambda v: xg.sum(xg.grad(lambda u: xg.sum(u ** 3))(v)))(x)
    assert g.device == DEV and hvp.device == DEV
    np.testing.assert_allclose(g.numpy(), np.cos(V4) * V4 + np.sin(V4))
    np.testing.assert_allclose(hvp.numpy(), 6 * V4)
    t = xg.asarray(S, device=DEV)
    with xg.no_grad():
        t += 1.0
        t[0] = 0.0
    ref = S + 1.0
    ref[0] = 0.0
    np.testing.assert_array_equal(t.numpy(), ref)


def _op_cases():
    out = []
    for name, op in sorted(xg.registered_ops().items()):
        for i in range(len(op.all_samples())):
            out.append(pytest.param(name, i, id=f"{name}-{i}"))
    return out


@pytest.mark.parametrize("name,i", _op_cases())
def test_every_op_sample_runs_on_the_card_as_on_the_cpu(name, i):
    """Forward values and first-order gradients of every sample of every op, against the cpu."""
    op = xg.registered_ops()[name]
    sample = op.all_samples()[i]
    res = []
    for dev in ("cpu", DEV):
        args, params = materialize(sample, device=dev, rng=np.random.default_rng(1000 + i))
        leaves = [a for a in args if isinstance(a, xg.Tensor) and xg.isdtype(a.dtype, ("real floating",
                                                                                       "complex floating"))]
        grad = op.differentiable and sample.grad and leaves
        for a in leaves if grad else ():
            a.requires_grad = True
        out = op(*args, **params)
        outs = out if isinstance(out, tuple) else (out,)
        if op.out_backend is None:  # to_device's samples move data on purpose
            assert all(o.device == dev for o in outs)
        if grad:  # |o|² summed: a real loss for complex outputs too
            xg.sum(xg.stack([xg.sum(xg.real(o * xg.conj(o))) for o in outs if o.requires_grad])).backward()
        grads = [a.grad.numpy() for a in leaves if grad and a.grad is not None]
        res.append([o.numpy() for o in outs] + grads)
    assert len(res[0]) == len(res[1])
    for u, v in zip(res[1], res[0]):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


# ================ 4. the cycle model


def test_cycles_of_a_4x4_matmul_on_a_4x4_array():
    # One 4×4 weight tile, streamed once (the buffer is large):
    #   load the weights, one PE row per cycle            4
    #   stream the 4 activation rows, one per cycle       4
    #   fill and drain: rows skew by 3, columns by 3      4 + 4 − 2 = 6
    #                                                     -> 14 cycles for 64 MACs on 16 PEs
    with fpga.configured(rows=4, cols=4, clock_mhz=100):
        y = xg.asarray(M, device=DEV) @ xg.asarray(SPD, device=DEV)
        rep = fpga.last_report()
    np.testing.assert_array_equal(y.numpy(), M @ SPD)
    assert (rep.op, rep.batch, rep.m, rep.k, rep.n) == ("matmul", 1, 4, 4, 4)
    assert (rep.weight_tiles, rep.passes, rep.reloads, rep.cycles, rep.macs) == (1, 1, 0, 14, 64)
    assert rep.seconds == pytest.approx(14 / 100e6)
    assert rep.utilization == pytest.approx(64 / (14 * 16))
    assert fpga.total_cycles() == 14


@pytest.mark.parametrize("sa,sb,cycles,why", [
    ((8, 8), (8, 8), 72, "2×2 weight tiles × (4 load + 8 rows + 6 fill/drain)"),
    ((4,), (4, 4), 11, "one activation row: 4 + 1 + 6"),
    ((3, 4, 4), (4, 4), 22, "shared weights: the batch folds into 12 rows: 4 + 12 + 6"),
    ((3, 4, 4), (3, 4, 4), 42, "three weight matrices: 3 × 14"),
    ((4, 5), (5, 4), 28, "K = 5 needs two tiles down the array: 2 × 14"),
    ((4, 4), (4, 6), 28, "N = 6 needs two tiles across: 2 × 14"),
])
def test_cycles_of_tiled_and_batched_products(sa, sb, cycles, why):
    with fpga.configured(rows=4, cols=4):
        xg.asarray(R.standard_normal(sa), device=DEV) @ xg.asarray(R.standard_normal(sb), device=DEV)
        assert fpga.last_report().cycles == cycles, why


def test_cycles_when_the_activations_overflow_the_buffer():
    # 128 bytes of buffer: the 4×4 float32 weight tile takes 64; each activation row needs
    # 4 operands + 4 partial sums = 32 bytes, so 2 rows fit per pass: M = 4 takes 2 passes,
    # each reloading the weights with its fill and drain: 2 × (4 + 6) + 4 = 24 cycles, 1 reload.
    with fpga.configured(rows=4, cols=4, buffer_bytes=128):
        xg.asarray(M, dtype=xg.float32, device=DEV) @ xg.asarray(M, dtype=xg.float32, device=DEV)
        rep = fpga.last_report()
        assert (rep.passes, rep.reloads, rep.cycles) == (2, 1, 24)
        with pytest.raises(ValueError, match="buffer cannot hold"):
            up(M) @ up(M)                   # float64 operands: not even one row fits beside the tile


def test_cycles_of_a_conv2d():
    _need_conv2d()
    # x (1, 1, 4, 4) ⋆ w (2, 1, 3, 3): im2col gives M = 1·2·2 = 4 rows of K = 9 taps, N = 2 filters;
    # K = 9 takes ⌈9/4⌉ = 3 weight tiles on a 4×4 array, each 4 + 4 + 6 = 14 cycles: 42.
    with fpga.configured(rows=4, cols=4):
        xg.conv2d(xg.asarray(R.standard_normal((1, 1, 4, 4)), device=DEV),
                  xg.asarray(R.standard_normal((2, 1, 3, 3)), device=DEV))
        rep = fpga.last_report()
    assert (rep.op, rep.m, rep.k, rep.n, rep.weight_tiles, rep.cycles) == ("conv2d", 4, 9, 2, 3, 42)


def test_backward_passes_run_on_the_array_and_the_log_resets():
    x = xg.asarray(M, device=DEV, requires_grad=True)
    xg.sum(x @ x).backward()
    assert [r.op for r in fpga.reports()] == ["matmul"] * 3        # forward, and one per operand
    assert fpga.total_cycles() == sum(r.cycles for r in fpga.reports())
    fpga.reset()
    assert fpga.total_cycles() == 0 and fpga.last_report() is None and counts()["from_host"] == 0


def test_count_cycles_matches_the_formula():
    cfg = systolic.SystolicConfig(rows=8, cols=16)
    for b, m, k, n in [(1, 1, 1, 1), (2, 33, 17, 40), (1, 100, 8, 16)]:
        tiles = b * math.ceil(k / 8) * math.ceil(n / 16)
        assert fpga.count_cycles(b, m, k, n, cfg).cycles == tiles * (8 + 8 + 16 - 2 + m)
    assert fpga.count_cycles(1, 0, 4, 4, cfg).cycles == 0


# ================ 4. number formats


def _bf16_by_bits(x):
    """The textbook float32 -> bfloat16 rounding (round to nearest even on the bit pattern)."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def test_bfloat16_rounding_is_round_to_nearest_even():
    vals = np.concatenate([R.standard_normal(2000), R.standard_normal(200) * 1e-39,   # subnormals
                           R.standard_normal(200) * 1e37, [0.0, -0.0, 3.4e38, -3.4e38, 1e-45]])
    v32 = vals.astype(np.float32)
    np.testing.assert_array_equal(fpga.round_to_bfloat16(v32), _bf16_by_bits(v32))
    assert fpga.round_to_bfloat16([1 + 2**-8, 1 + 3 * 2**-8, np.inf, np.nan])[:3].tolist() == \
        [1.0, 1 + 2**-6, np.inf]
    assert np.isnan(fpga.round_to_bfloat16([np.nan])[0])


def test_bfloat16_matmul_error_bound():
    a, b = R.uniform(-1, 1, (16, 64)), R.uniform(-1, 1, (64, 8))
    exact = a @ b
    with fpga.configured(arithmetic="bfloat16"):
        got = (xg.asarray(a, device=DEV) @ xg.asarray(b, device=DEV)).numpy()
    assert got.dtype == np.float64
    # operands rounded with unit roundoff u = 2^-8, products exact in float32, K float32 additions
    u, k = 2.0**-8, 64
    bound = (2 * u + u * u + k * 2.0**-24 * (1 + u) ** 2) * (np.abs(a) @ np.abs(b))
    err = np.abs(got - exact)
    assert np.all(err <= bound)
    assert err.max() > 1e-4 * np.abs(exact).max()        # bfloat16 was emulated, not float64
    np.testing.assert_array_equal(got, np.matmul(fpga.round_to_bfloat16(a), fpga.round_to_bfloat16(b)))


@pytest.mark.parametrize("rounding", ["nearest", "truncate"])
def test_fixed_point_matmul_error_bound(rounding):
    a, b = R.uniform(-1, 1, (16, 64)), R.uniform(-1, 1, (64, 8))
    exact = a @ b
    with fpga.configured(arithmetic="fixed", int_bits=7, frac_bits=8, rounding=rounding):
        a32, b32 = (xg.asarray(v, dtype=xg.float32, device=DEV) for v in (a, b))
        got = (a32 @ b32).numpy()
    assert got.dtype == np.float32
    assert np.all(got * 256 == np.round(got * 256))        # a Q7.8 result
    # each operand is off by at most d (half a step rounding to nearest, one step truncating);
    # products accumulate exactly; the result is rounded once more
    d = 2.0**-9 if rounding == "nearest" else 2.0**-8
    bound = d * (np.abs(a).sum(1)[:, None] + np.abs(b).sum(0)[None, :]) + 64 * d * d + d + 1e-6
    assert np.all(np.abs(got - exact) <= bound)


def test_fixed_point_saturates_and_rounds_ties_up():
    with fpga.configured(arithmetic="fixed", int_bits=7, frac_bits=8):
        big = (up([[200.0, -300.0]]) @ up([[1.0], [0.0]]))
        assert host(big).tolist() == [[127.99609375]]                      # the operand saturated
        assert host(up([[100.0, 100.0]]) @ up([[1.0], [1.0]])).tolist() == [[127.99609375]]   # the sum did
        assert host(up([[-100.0, -100.0]]) @ up([[1.0], [1.0]])).tolist() == [[-128.0]]
        assert host(up([[np.nan]]) @ up([[1.0]])).tolist() == [[0.0]]        # no NaN in fixed point
    cfg = systolic.SystolicConfig(arithmetic="fixed", frac_bits=8)
    assert systolic.quantize_fixed([2.0**-9, -(2.0**-9), 3 * 2.0**-9], cfg).tolist() == [1, 0, 2]


def test_integer_operands_are_exact_in_every_arithmetic():
    for arith in systolic.ARITHMETICS:
        with fpga.configured(arithmetic=arith):
            np.testing.assert_array_equal(host(up(I) @ up(I.T)), I @ I.T)


def test_gradients_flow_in_reduced_precision():
    with fpga.configured(arithmetic="bfloat16"):
        x = xg.asarray(M, device=DEV, requires_grad=True)
        xg.sum(x @ x).backward()
    exact = np.ones((4, 4)) @ M.T + M.T @ np.ones((4, 4))
    np.testing.assert_allclose(x.grad.numpy(), exact, rtol=0.02, atol=0.02)


# ================ 5. the cost model


def test_profile_follows_the_configuration():
    b = xg.get_backend(DEV)
    p = b.profile
    assert p.peak_flops == 2 * 32 * 32 * 250e6 and p.rows == 32 and p.buffer_bytes == 2 * 2**20
    with fpga.configured(rows=8, cols=4, clock_mhz=100, link_bandwidth=1e9, link_latency=1e-6):
        q = b.profile
        assert (q.peak_flops, q.link_bandwidth, q.link_latency) == (2 * 8 * 4 * 100e6, 1e9, 1e-6)
    assert b.profile.rows == 32
    assert (p.host_bandwidth, p.launch_latency) == (p.link_bandwidth, p.link_latency)
    assert p.memory_bandwidth == (32 * 4 + 32 * 4) * 250e6
    assert "32x32 systolic array, float32, 250 MHz, 512 GFLOP/s" in b.profile.describe()
    with pytest.raises(AttributeError):
        b.profile = "something else"


def test_costs_are_positive_finite_and_grow_with_size():
    sizes = [1, 2, 3, 8, 31, 32, 33, 64, 100, 257]
    for transfer in (True, False):
        for f in (lambda s: fpga.matmul_cost(s, 16, 16, transfer=transfer),
                  lambda s: fpga.matmul_cost(16, s, 16, transfer=transfer),
                  lambda s: fpga.matmul_cost(16, 16, s, transfer=transfer),
                  lambda s: fpga.matmul_cost(8, 8, 8, batch=s, transfer=transfer),
                  lambda s: fpga.conv2d_cost((1, 3, s + 2, 8), (4, 3, 3, 3), transfer=transfer),
                  lambda s: fpga.conv2d_cost((2, s, 8, 8), (4, s, 3, 3), padding=1, transfer=transfer),
                  lambda s: fpga.conv2d_cost((1, 2, 8, 8), (s, 2, 3, 3), transfer=transfer)):
            c = [f(s) for s in sizes]
            assert all(v > 0 and math.isfinite(v) for v in c)
            assert all(u <= v for u, v in zip(c, c[1:])), c
    for f in (lambda s: fpga.host_matmul_cost(s, s, s),
              lambda s: fpga.host_conv2d_cost((1, 3, s + 2, s + 2), (4, 3, 3, 3))):
        c = [f(s) for s in sizes]
        assert all(v > 0 and math.isfinite(v) for v in c) and c == sorted(c)


def test_cost_is_the_cycle_model_plus_the_link():
    cfg = systolic.SystolicConfig(rows=4, cols=4, clock_mhz=100, link_bandwidth=1e9, link_latency=1e-6)
    resident = fpga.matmul_cost(4, 4, 4, config=cfg, transfer=False)
    assert resident == pytest.approx(1e-6 + 14 / 100e6)                       # launch + 14 cycles
    moved = fpga.matmul_cost(4, 4, 4, config=cfg)
    assert moved - resident == pytest.approx(3 * (1e-6 + 64 / 1e9))           # two operands in, one out
    assert fpga.host_matmul_cost(4, 4, 4, config=cfg) == pytest.approx(3 * (1e-6 + 64 / 1e9) + 128 / 1e11)
    # a large product is worth the card, a tiny one that must cross the link is not
    assert fpga.matmul_cost(1024, 1024, 1024) < fpga.host_matmul_cost(1024, 1024, 1024)
    assert fpga.matmul_cost(2, 2, 2) > 2 * 8 / cfg.host_flops


def test_kernels_carry_supports_and_cost():
    ks = fpga.kernels()
    assert all(isinstance(k, Kernel) and k.family == "fpga" for k in ks)
    by = {(k.op, k.name): k for k in ks}
    assert {("matmul", "systolic"), ("matmul", "host")} <= set(by)
    p = xg.get_backend(DEV).profile
    a, b = up(np.ones((64, 32), np.float32)), up(np.ones((32, 16), np.float32))
    sig = {"shapes": [(64, 32), (32, 16)], "dtypes": [np.float32, np.float32], "params": {}}
    for s in (sig, (a, b), type("Sig", (), sig)()):
        assert by["matmul", "systolic"].supports(s)
        assert 0 < by["matmul", "systolic"].cost(s, p) < by["matmul", "host"].cost(s, p)
    assert not by["matmul", "systolic"].supports({"shapes": [(2, 2), (2, 2)], "dtypes": ["complex128"] * 2})
    resident = fpga.matmul_cost(64, 32, 16, transfer=False)
    assert by["matmul", "systolic"].cost(sig, p) == pytest.approx(resident)
    np.testing.assert_array_equal(host(by["matmul", "host"].forward(ns, a, b)), np.full((64, 16), 32.0))
    if "conv2d" in xg.registered_ops():
        conv = {"shapes": [(1, 3, 8, 8), (4, 3, 3, 3)], "dtypes": ["float32"] * 2, "params": {"padding": 1}}
        assert by["conv2d", "systolic"].supports(conv) and by["conv2d", "host"].cost(conv, p) > 0
        assert not by["conv2d", "systolic"].supports({"shapes": [(1, 3, 8, 8), (4, 2, 3, 3)]})
        x, w = up(R.standard_normal((1, 3, 8, 8))), up(R.standard_normal((4, 3, 3, 3)))
        np.testing.assert_allclose(host(by["conv2d", "host"].forward(ns, x, w, padding=1)),
                                   host(by["conv2d", "systolic"].forward(ns, x, w, padding=1)), rtol=1e-12)


# ================ 6. registration and configuration


def test_plugin_hooks():
    (fam,) = fpga.xpgrad_backend_families()
    assert isinstance(fam, BackendFamily) and fam.prefix == "fpga" and fam.install_hint is None
    backends = fam.load()
    assert [b.device for b in backends] == [f"fpga:{i}" for i in range(fpga.device_count())]
    assert backends == fam.load() == fpga.register()                              # the same objects
    assert sum(d.startswith("fpga:") for d in xg.devices()) == fpga.device_count()
    assert backends[0] is xg.get_backend(DEV) and backends[0].family == "fpga"
    d = xg.registered_ops()["matmul"].kernels[backends[0]]           # the dispatcher chooses per call
    assert [k.forward for k in d.kernels] == [systolic.host_matmul, systolic.matmul]
    assert [k.name for k in fpga.xpgrad_kernels()[:2]] == ["host", "systolic"]
    a = xg.ones((64, 64), device=DEV)
    assert xg.dispatch.explain("matmul", a, a).choice == "systolic"    # operands on the card: no transfer
    c = xg.ones((4, 4), dtype=xg.complex128, device=DEV)
    e = xg.dispatch.explain("matmul", c, c)                            # the array multiplies no complex
    assert e.choice == "host" and not next(r for r in e.rows if r["kernel"] == "systolic")["supported"]


def test_configuration_from_text_and_validation():
    cfg = systolic.config_from_env("rows=8, cols=4,arithmetic=bfloat16,clock_mhz=125.5")
    assert (cfg.rows, cfg.cols, cfg.arithmetic, cfg.clock_mhz) == (8, 4, "bfloat16", 125.5)
    assert systolic.config_from_env('{"rows": 2, "frac_bits": 12}').frac_bits == 12
    assert systolic.config_from_env("") == systolic.SystolicConfig()
    with pytest.raises(ValueError, match="unknown field"):
        systolic.config_from_env("rowz=8")
    for bad in ({"rows": 0}, {"arithmetic": "float16"}, {"rounding": "up"}, {"buffer_bytes": 100},
                {"int_bits": 20, "frac_bits": 15}, {"acc_bits": 10}):
        with pytest.raises(ValueError, match="SystolicConfig"):
            systolic.SystolicConfig(**bad)


def test_configure_returns_the_previous_config():
    old = fpga.configure(rows=4)
    assert old.rows == 32 and fpga.get_device(0).config.rows == 4
    fpga.configure(old)
    assert fpga.get_device(0).config == old


def test_environment_selects_devices_and_config():
    code = """
import numpy as np, xpgrad as xg
from xpgrad.backends import fpga
try:
    xg.get_backend("fpga:1")
except xg.DeviceError:
    fpga.register()
assert [d for d in xg.devices() if d.startswith("fpga")] == ["fpga:0", "fpga:1"]
assert xg.get_backend("fpga:1").profile.rows == 8 and fpga.get_device(0).config.arithmetic == "bfloat16"
a = xg.asarray(np.eye(2), device="fpga:0")
b = xg.asarray(np.eye(2), device="fpga:1")
try:
    a + b
except xg.DeviceMismatchError:
    pass
else:
    raise AssertionError("tensors on two cards mixed")
try:
    a.data + b.data
except TypeError as e:
    assert "fpga:0" in str(e) and "fpga:1" in str(e), e
else:
    raise AssertionError("arrays on two cards mixed")
assert xg.get_backend("fpga:1").owns(b.data) and not xg.get_backend("fpga:0").owns(b.data)
c = b.to_device("fpga:0") @ a
assert c.device == "fpga:0" and fpga.last_report("fpga:0").cycles == 8 + 2 + 8 + 8 - 2
assert fpga.last_report("fpga:1") is None and fpga.transfer_counts("fpga:1")["to_host"] == 1
print("ok")
"""
    env = {**os.environ, "XPGRAD_FPGA_DEVICES": "2",
           "XPGRAD_FPGA_CONFIG": "rows=8,cols=8,arithmetic=bfloat16"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_one_device_by_default():
    if fpga.device_count() != 1:
        pytest.skip(f"$XPGRAD_FPGA_DEVICES asks for {fpga.device_count()} cards")
    with pytest.raises(xg.DeviceError):
        xg.get_backend("fpga:1")
