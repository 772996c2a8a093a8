"""The namespace as a whole: inspection API, DLPack, type promotion, copy= and device= semantics.

* ``__array_namespace_info__()``: capabilities, devices, and per-device dtypes that each device
  really supports (every dtype it lists makes an array there; complex on a device without it fails).
* ``from_dlpack``: round trips with NumPy, array-api-strict and (if installed) PyTorch; ``copy=``
  and ``device=`` as the 2024.12 standard says, ``BufferError`` when a copy is refused.
* Type promotion: every dtype pair against array-api-strict's ``result_type``, for ``result_type``
  itself and for what the operators produce; ``can_cast`` for every pair; Python scalars.
* ``copy=`` of ``asarray``, ``astype`` and ``reshape``; ``device=`` of every creation function.
* The in-place rule: ``x op= y`` never changes ``x``'s dtype or shape.
"""

from __future__ import annotations

import inspect
import operator

import array_api_strict as strict
import numpy as np
import pytest

import xpgrad as xg
from xpgrad.core.errors import DeviceError, DTypeError, OpError

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64", "complex64", "complex128"]


def _name(dt) -> str:
    if type(dt).__module__.startswith("array_api_strict"):
        return next(n for n in DTYPES if dt == getattr(strict, n))
    return np.dtype(dt).name


def _opencl():
    """The OpenCL device, or a skip that says why it cannot be used here."""
    try:
        xg.get_backend("opencl:0")
    except DeviceError as exc:
        print(f"opencl:0 unusable: {exc}")
        pytest.skip(f"opencl:0 is not usable here: {exc}")
    return "opencl:0"


DEVICES = ["cpu", "opencl:0"]


def _device(name):
    return "cpu" if name == "cpu" else _opencl()


# ---------------------------------------------------------------- inspection


def test_info_capabilities_and_devices():
    info = xg.__array_namespace_info__()
    caps = info.capabilities()
    assert caps["boolean indexing"] is True and caps["data-dependent shapes"] is True
    assert caps["max dimensions"] is None or (isinstance(caps["max dimensions"], int)
                                              and caps["max dimensions"] >= 32)
    assert info.default_device() == "cpu" == xg.asarray(1.0).device
    assert isinstance(info.devices(), list)
    assert info.devices() == xg.devices() and "cpu" in info.devices()


@pytest.mark.parametrize("device", xg.devices())
def test_info_dtypes_are_what_each_device_supports(device):
    info = xg.__array_namespace_info__()
    defaults = info.default_dtypes(device=device)
    assert set(defaults) == {"real floating", "complex floating", "integral", "indexing"}
    assert xg.zeros((2,), device=device).dtype == defaults["real floating"]
    assert xg.arange(3, device=device).dtype == defaults["integral"]
    got = info.dtypes(device=device)
    assert {"bool", "int8", "int64", "uint8", "float32"} <= set(got)
    for name, dt in got.items():  # every listed dtype really works there
        t = xg.zeros((2,), dtype=dt, device=device)
        assert t.dtype == dt and _name(t.dtype) == name and t.device == device
    if "complex64" not in got:  # and what is not listed does not
        assert defaults["complex floating"] is None
        with pytest.raises(DTypeError, match="complex64"):
            xg.zeros((2,), dtype=xg.complex64, device=device)
    kinds = {"bool": {"bool"}, "signed integer": {"int8", "int16", "int32", "int64"},
             "unsigned integer": {"uint8", "uint16", "uint32", "uint64"},
             "real floating": {"float32", "float64"}, "complex floating": {"complex64", "complex128"}}
    for kind, names in kinds.items():
        assert set(info.dtypes(device=device, kind=kind)) == names & set(got), kind
    both = info.dtypes(device=device, kind=("bool", "real floating"))
    assert set(both) == ({"bool", "float32", "float64"} & set(got))
    assert set(info.dtypes(device=device, kind="numeric")) == set(got) - {"bool"}


def test_info_errors():
    info = xg.__array_namespace_info__()
    with pytest.raises(ValueError, match="kind"):
        info.dtypes(kind="floats")
    with pytest.raises(DeviceError, match="nowhere:3"):
        info.dtypes(device="nowhere:3")
    with pytest.raises(DeviceError):
        info.default_dtypes(device="nowhere:3")


def test_info_matches_the_strict_reference_on_cpu():
    ours = xg.__array_namespace_info__()
    ref = strict.__array_namespace_info__()
    assert set(ours.dtypes()) == set(ref.dtypes())
    for kind in ("integral", "numeric", "complex floating"):
        assert set(ours.dtypes(kind=kind)) == set(ref.dtypes(kind=kind))
    assert {k: _name(v) for k, v in ours.default_dtypes().items()} == \
        {k: _name(v) for k, v in ref.default_dtypes().items()}
    assert set(ours.capabilities()) == set(ref.capabilities())


# ---------------------------------------------------------------- versions


@pytest.mark.parametrize("version", [None, "2023.12", "2024.12", "2025.12"])
def test_array_namespace_versions(version):
    assert xg.asarray(1.0).__array_namespace__(api_version=version) is xg


@pytest.mark.parametrize("version", ["2021.12", "2022.12", "2026.12", "latest"])
def test_array_namespace_refuses_other_versions(version):
    with pytest.raises(ValueError, match="2024.12"):
        xg.asarray(1.0).__array_namespace__(api_version=version)


def test_declared_version():
    assert xg.__array_api_version__ == "2024.12"


# ---------------------------------------------------------------- DLPack


def test_from_dlpack_numpy_shares_memory_and_copies_on_request():
    a = np.arange(6.0).reshape(2, 3)
    t = xg.from_dlpack(a)
    assert t.device == "cpu" and t.shape == (2, 3) and t.dtype == xg.float64
    assert np.shares_memory(t.numpy(), a)
    c = xg.from_dlpack(a, copy=True)
    assert not np.shares_memory(c.numpy(), a)
    np.testing.assert_array_equal(c.numpy(), a)
    assert np.shares_memory(xg.from_dlpack(a, copy=False).numpy(), a)
    assert np.shares_memory(xg.from_dlpack(a, device="cpu").numpy(), a)


def test_from_dlpack_round_trip_through_numpy():
    t = xg.asarray([[1, 2], [3, 4]], dtype=xg.int16)
    a = np.from_dlpack(t)
    assert a.dtype == np.int16 and np.shares_memory(a, t.numpy())
    back = xg.from_dlpack(a)
    assert back.dtype == xg.int16 and back.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint64", "float32", "complex128"])
def test_from_dlpack_array_api_strict(dtype):
    s = strict.asarray(np.asarray([[1, 0], [0, 1]]).astype(dtype))
    t = xg.from_dlpack(s)
    assert t.device == "cpu" and _name(t.dtype) == dtype
    np.testing.assert_array_equal(t.numpy(), np.from_dlpack(s))
    r = strict.from_dlpack(t)  # and back: xpgrad tensors are DLPack producers
    assert _name(r.dtype) == dtype


def test_from_dlpack_tensor_input_and_graph():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    y = xg.from_dlpack(x)
    assert not y.requires_grad and np.shares_memory(y.numpy(), x.numpy())
    assert not np.shares_memory(xg.from_dlpack(x, copy=True).numpy(), x.numpy())


def test_from_dlpack_torch():
    torch = pytest.importorskip("torch")
    tt = torch.arange(4, dtype=torch.float32)
    t = xg.from_dlpack(tt)
    assert t.dtype == xg.float32 and t.tolist() == [0.0, 1.0, 2.0, 3.0]
    tt[0] = 7.0  # shared memory
    assert t.tolist()[0] == 7.0
    assert torch.from_dlpack(t).tolist() == [7.0, 1.0, 2.0, 3.0]


def test_from_dlpack_errors():
    with pytest.raises(DTypeError, match="DLPack"):
        xg.from_dlpack([1, 2, 3])


def test_from_dlpack_onto_and_off_opencl():
    dev = _opencl()
    a = np.arange(4.0)
    t = xg.from_dlpack(a, device=dev)
    assert t.device == dev and t.tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(BufferError):
        xg.from_dlpack(a, device=dev, copy=False)
    # OpenCL memory is not shared through DLPack; a consumer asking for the CPU gets a host copy
    with pytest.raises(BufferError):
        t.__dlpack__()
    host = np.from_dlpack(t, device="cpu")
    np.testing.assert_array_equal(host, a)
    with pytest.raises(BufferError):
        t.__dlpack__(dl_device=(1, 0), copy=False)
    back = xg.from_dlpack(t, device="cpu")
    assert back.device == "cpu" and back.tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(BufferError):
        xg.from_dlpack(t, device="cpu", copy=False)
    assert xg.from_dlpack(t).device == dev


# ---------------------------------------------------------------- type promotion


PAIRS = [(a, b) for a in DTYPES for b in DTYPES]


def _strict_promotion(a, b):
    try:
        return _name(strict.result_type(getattr(strict, a), getattr(strict, b)))
    except TypeError:
        return None


def test_result_type_matches_the_standard_for_every_pair():
    bad = []
    for a, b in PAIRS:
        want = _strict_promotion(a, b)
        got = _name(xg.result_type(getattr(xg, a), getattr(xg, b)))
        if want is not None and got != want:
            bad.append(f"{a} + {b}: {got}, the standard says {want}")
        if want is None and got != np.result_type(a, b).name:  # outside the standard: NumPy's rule
            bad.append(f"{a} + {b}: {got}, NumPy says {np.result_type(a, b).name}")
    assert not bad, "\n".join(bad)


def test_operators_promote_like_result_type_for_every_pair():
    bad = []
    for a, b in PAIRS:
        want = _strict_promotion(a, b)
        if want is None:
            continue
        x = xg.ones((2,), dtype=getattr(xg, a))
        y = xg.ones((2,), dtype=getattr(xg, b))
        for fn in (operator.add, operator.mul, operator.eq, xg.add, xg.multiply):
            try:
                r = fn(x, y)
            except DTypeError:
                continue  # e.g. arithmetic on bool: refused, not promoted wrongly
            expect = "bool" if fn is operator.eq else want
            if _name(r.dtype) != expect:
                bad.append(f"{getattr(fn, '__name__', fn)}({a}, {b}) -> {_name(r.dtype)}, expected {expect}")
        r = xg.where(xg.asarray([True, False]), x, y)
        if _name(r.dtype) != want:
            bad.append(f"where({a}, {b}) -> {_name(r.dtype)}, expected {want}")
    assert not bad, "\n".join(bad)


def test_can_cast_matches_the_standard_for_every_pair():
    bad = [f"can_cast({a}, {b}) = {xg.can_cast(getattr(xg, a), getattr(xg, b))}"
           for a, b in PAIRS
           if xg.can_cast(getattr(xg, a), getattr(xg, b))
           != strict.can_cast(getattr(strict, a), getattr(strict, b))]
    assert not bad, "\n".join(bad)
    assert xg.can_cast(xg.asarray([1], dtype=xg.int8), xg.int16)
    with pytest.raises(DTypeError):
        xg.can_cast(xg.int8, xg.asarray([1]))
    with pytest.raises(DTypeError):
        xg.can_cast("int8", xg.int16)


# Python scalars: (scalar, array dtypes it may meet, how the result dtype follows from the array's)
SCALAR_RULES = [
    (True, ["bool"], lambda d: d),
    (3, [d for d in DTYPES if d != "bool"], lambda d: d),
    (2.5, ["float32", "float64", "complex64", "complex128"], lambda d: d),
    (1 + 2j, ["complex64", "complex128"], lambda d: d),
    (1j, ["float32", "float64"], lambda d: {"float32": "complex64", "float64": "complex128"}[d]),  # 2024.12
]


@pytest.mark.parametrize("scalar,dtypes,rule", SCALAR_RULES, ids=[repr(s[0]) for s in SCALAR_RULES])
def test_python_scalars_take_the_array_dtype(scalar, dtypes, rule):
    for d in dtypes:
        want = rule(d)
        assert _name(xg.result_type(getattr(xg, d), scalar)) == want
        assert _name(xg.result_type(scalar, xg.ones((1,), dtype=getattr(xg, d)))) == want
        x = xg.ones((2,), dtype=getattr(xg, d))
        ops = [operator.eq, operator.ne] if d == "bool" else [operator.add, operator.mul, operator.sub]
        for op in ops:
            expect = "bool" if op in (operator.eq, operator.ne) else want
            assert _name(op(x, scalar).dtype) == expect, (op, d, scalar)
            assert _name(op(scalar, x).dtype) == expect, (op, d, scalar)


def test_result_type_errors():
    with pytest.raises(DTypeError, match="at least one"):
        xg.result_type()
    with pytest.raises(DTypeError, match="scalars alone"):
        xg.result_type(1, 2.0)
    with pytest.raises(DTypeError):
        xg.result_type("float32")


def test_isdtype():
    assert xg.isdtype(xg.float32, "real floating")
    assert xg.isdtype(xg.int8, ("real floating", "signed integer"))
    assert not xg.isdtype(xg.uint8, "signed integer")
    assert xg.isdtype(xg.complex64, "numeric") and not xg.isdtype(xg.bool, "numeric")
    assert xg.isdtype(xg.float64, xg.float64) and not xg.isdtype(xg.float64, xg.float32)
    assert xg.isdtype(xg.asarray([1.0]).dtype, "real floating")
    with pytest.raises(ValueError, match="kind"):
        xg.isdtype(xg.float32, "floating")


@pytest.mark.parametrize("name", ["float32", "float64", "complex64", "complex128"])
def test_finfo_matches_the_standard(name):
    ours = xg.finfo(getattr(xg, name))
    ref = strict.finfo(getattr(strict, name))
    for field in ("bits", "eps", "max", "min", "smallest_normal"):
        assert getattr(ours, field) == getattr(ref, field), field
        assert type(getattr(ours, field)) is type(getattr(ref, field)), field
    assert _name(ours.dtype) == _name(ref.dtype)  # complex: the real dtype of its parts
    assert xg.finfo(xg.ones((1,), dtype=getattr(xg, name))) == ours  # an array works too


@pytest.mark.parametrize("name", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"])
def test_iinfo_matches_the_standard(name):
    ours = xg.iinfo(getattr(xg, name))
    ref = strict.iinfo(getattr(strict, name))
    assert (ours.bits, ours.max, ours.min) == (ref.bits, ref.max, ref.min)
    assert all(type(v) is int for v in (ours.bits, ours.max, ours.min))
    assert _name(ours.dtype) == name
    assert xg.iinfo(xg.ones((1,), dtype=getattr(xg, name))) == ours


def test_finfo_iinfo_errors():
    with pytest.raises(DTypeError, match="iinfo"):
        xg.finfo(xg.int32)
    with pytest.raises(DTypeError, match="finfo"):
        xg.iinfo(xg.float32)
    with pytest.raises(DTypeError):
        xg.finfo("float32")


# ---------------------------------------------------------------- copy=


def test_asarray_copy_semantics():
    a = np.arange(4.0)
    assert np.shares_memory(xg.asarray(a).numpy(), a)
    assert np.shares_memory(xg.asarray(a, copy=False).numpy(), a)
    assert not np.shares_memory(xg.asarray(a, copy=True).numpy(), a)
    with pytest.raises(ValueError):
        xg.asarray([1.0, 2.0], copy=False)  # a list must be copied into an array
    with pytest.raises(ValueError):
        xg.asarray(a, dtype=xg.float32, copy=False)
    t = xg.asarray([1.0, 2.0])
    assert xg.asarray(t) is t and xg.asarray(t, copy=False) is t
    assert xg.asarray(t, dtype=xg.float64, copy=False) is t
    c = xg.asarray(t, copy=True)
    assert c is not t and not np.shares_memory(c.numpy(), t.numpy()) and c.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="copy"):
        xg.asarray(t, dtype=xg.float32, copy=False)
    assert xg.asarray(t, dtype=xg.float32).dtype == xg.float32


def test_asarray_keeps_foreign_arrays_in_their_library():
    s = strict.asarray([1.0, 2.0])
    for copy in (None, True):
        t = xg.asarray(s, copy=copy)
        assert t.device.startswith("array_api_strict"), copy
        assert t.tolist() == [1.0, 2.0]


def test_astype_copy_semantics():
    x = xg.asarray([1.0, 2.0])
    same = xg.astype(x, xg.float64, copy=False)
    assert np.shares_memory(same.numpy(), x.numpy())
    fresh = xg.astype(x, xg.float64)
    assert not np.shares_memory(fresh.numpy(), x.numpy())
    assert xg.astype(x, xg.float32, copy=False).dtype == xg.float32  # a new dtype always copies
    assert x.astype(xg.int32).dtype == xg.int32


def test_reshape_copy_semantics():
    x = xg.asarray(np.arange(6.0).reshape(2, 3))
    assert np.shares_memory(xg.reshape(x, (3, 2)).numpy(), x.numpy())
    assert np.shares_memory(xg.reshape(x, (3, 2), copy=False).numpy(), x.numpy())
    assert not np.shares_memory(xg.reshape(x, (3, 2), copy=True).numpy(), x.numpy())
    with pytest.raises(ValueError):
        xg.reshape(x.mT, (6,), copy=False)  # a transposed view cannot be flattened without a copy
    assert xg.reshape(x.mT, (6,)).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


# ---------------------------------------------------------------- device=


CREATION = {
    "asarray": lambda dev: xg.asarray([1.0, 2.0], device=dev),
    "zeros": lambda dev: xg.zeros((2,), device=dev),
    "ones": lambda dev: xg.ones((2,), device=dev),
    "empty": lambda dev: xg.empty((2,), device=dev),
    "full": lambda dev: xg.full((2,), 3.0, device=dev),
    "arange": lambda dev: xg.arange(3, device=dev),
    "linspace": lambda dev: xg.linspace(0.0, 1.0, 3, device=dev),
    "eye": lambda dev: xg.eye(2, device=dev),
    "from_dlpack": lambda dev: xg.from_dlpack(np.ones(2), device=dev),
    "zeros_like": lambda dev: xg.zeros_like(xg.ones((2,)), device=dev),
    "ones_like": lambda dev: xg.ones_like(xg.ones((2,)), device=dev),
    "empty_like": lambda dev: xg.empty_like(xg.ones((2,)), device=dev),
    "full_like": lambda dev: xg.full_like(xg.ones((2,)), 5.0, device=dev),
    "fft.fftfreq": lambda dev: xg.fft.fftfreq(4, device=dev),
    "fft.rfftfreq": lambda dev: xg.fft.rfftfreq(4, device=dev),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", list(CREATION))
def test_creation_functions_place_results_on_the_device(fn, device):
    dev = _device(device)
    t = CREATION[fn](dev)
    assert t.device == dev
    if dev != "cpu":
        assert t.tolist() == CREATION[fn]("cpu").tolist() or fn.startswith("empty")


def test_creation_functions_take_device_keywords():
    for name in ("asarray", "zeros", "ones", "empty", "full", "arange", "linspace", "eye", "from_dlpack",
                 "zeros_like", "ones_like", "empty_like", "full_like"):
        assert "device" in inspect.signature(getattr(xg, name)).parameters, name


def test_like_functions_follow_their_input_device_unless_told():
    dev = _opencl()
    x = xg.ones((2, 3), dtype=xg.float32, device=dev)
    for fn in (xg.zeros_like, xg.ones_like, xg.empty_like):
        t = fn(x)
        assert (t.device, t.shape, t.dtype) == (dev, (2, 3), xg.float32)
        c = fn(x, device="cpu", dtype=xg.int8)
        assert (c.device, c.shape, c.dtype) == ("cpu", (2, 3), xg.int8)
    f = xg.full_like(x, 2, device="cpu")
    assert f.device == "cpu" and f.tolist() == [[2.0] * 3] * 2
    back = xg.zeros_like(xg.ones((2,)), device=dev)
    assert back.device == dev


def test_asarray_and_to_device_move_between_devices():
    dev = _opencl()
    x = xg.asarray([1.0, 2.0])
    y = xg.asarray(x, device=dev)
    assert y.device == dev and y.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError):
        xg.asarray(x, device=dev, copy=False)
    assert x.to_device(dev).device == dev and y.to_device("cpu").device == "cpu"
    assert y.to_device(dev, stream=None) is y


def test_unknown_device_is_a_clear_error():
    with pytest.raises(DeviceError, match="nowhere"):
        xg.zeros((2,), device="nowhere:0")
    with pytest.raises(DeviceError, match="nowhere"):
        xg.zeros_like(xg.ones((2,)), device="nowhere:0")


# ---------------------------------------------------------------- in-place operators


def test_inplace_keeps_the_left_dtype():
    i = xg.asarray([1, 2], dtype=xg.int32)
    with pytest.raises(DTypeError, match="int32"):
        i += 1.5
    with pytest.raises(TypeError):
        i /= 2  # true division of integers is floating
    i += 1
    assert i.dtype == xg.int32 and i.tolist() == [2, 3]
    f = xg.asarray([1.0, 2.0], dtype=xg.float32)
    with pytest.raises(DTypeError):
        f += xg.asarray([1.0, 1.0], dtype=xg.float64)
    with pytest.raises(DTypeError):
        f *= 1j
    f += 1
    f *= 0.5
    f += xg.asarray([1, 1], dtype=xg.int8) * 0 + xg.asarray([1.0, 1.0], dtype=xg.float32)
    assert f.dtype == xg.float32 and f.tolist() == [2.0, 2.5]
    b = xg.asarray([True, False])
    b &= True
    assert b.dtype == xg.bool
    with pytest.raises(DTypeError):
        b += 1


def test_inplace_keeps_the_left_shape():
    x = xg.ones((3,))
    with pytest.raises(OpError, match="shape"):
        x += xg.ones((2, 3))
    x += xg.ones((1,))
    assert x.tolist() == [2.0, 2.0, 2.0]


def test_inplace_dtype_rule_while_recording():
    w = xg.asarray([1.0, 2.0], dtype=xg.float32, requires_grad=True)
    y = w * 2
    with pytest.raises(DTypeError):
        y += xg.asarray([1.0, 1.0], dtype=xg.float64)
    with pytest.raises(OpError):
        y += xg.ones((2, 2), dtype=xg.float32)
    y += 1.0
    y.sum().backward()
    assert w.grad.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("device", DEVICES)
def test_inplace_dtype_rule_on_each_device(device):
    dev = _device(device)
    i = xg.asarray([1, 2], dtype=xg.int32, device=dev)
    with pytest.raises(DTypeError):
        i += 0.5
    i -= 1
    assert i.tolist() == [0, 1] and i.dtype == xg.int32 and i.device == dev
