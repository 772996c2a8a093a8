"""xpgrad differentiates through any compliant namespace: the op table, run on foreign arrays.

Every op and every sample the table declares (``xpgrad.registered_ops()``) runs
with Tensors whose data are arrays of another Array API library, adopted as they
are by ``xpgrad.asarray``:

* **array-api-strict**, which refuses every NumPy-ism (partial index keys,
  Python lists as indices, NumPy dtypes, mixing with NumPy arrays, implicit
  conversions...). A rule that passes here uses the standard and nothing else.
* **PyTorch** (CPU), when it is installed: a real second library with its own
  kernels, dtype objects and promotion corner cases.

For each (library, op, sample) the forward must match the NumPy (``cpu``) result
and stay on the foreign device; each differentiable sample is gradient-checked
with :func:`xpgrad.testing.check_grads` (JVP against finite differences, VJP
against the JVP) to order 2 in forward and reverse mode, on both libraries: the
whole table, no sampling (measured: under a minute of CPU time for the module).

The samples are converted, not redrawn: the NumPy arrays ``testing.materialize``
draws are handed to the foreign library, and index keys in the parameters are
spelled the way the standard spells them (index arrays of the foreign library,
a trailing ``...`` where a key names fewer axes than the array has). What a
failure here points at is an op rule that reaches outside the standard, or a
host transfer that the library does not allow.

Excluded, with the reason: ops whose result lives on another registered device
(``to_device``: a foreign library's arrays are not one of xpgrad's devices).
Skipped, each with its reason printed: index keys the standard cannot spell
(NumPy's mixed advanced indexing), and gaps or bugs of a library itself (listed in
``_library_gap``; PyTorch's missing negative slice steps). Singular and eigen
vectors are compared by magnitude (``GAUGE``): their phase is a convention.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.core.device import ForeignBackend, backend_of
from xpgrad.testing import check_grads, materialize

OPS = xg.registered_ops()

# Ops that have no meaning on a foreign namespace, and why.
EXCLUDED = {name: "moves data between xpgrad's registered devices; a foreign array is not on one"
            for name, op in OPS.items() if op.out_backend is not None}

# Per library: how deep the gradient checks go (see the module docstring).
ORDER = {"array_api_strict": 2, "torch": 2}

# Outputs defined only up to a phase per column (singular and eigen vectors; the extra columns of a
# full SVD): libraries may legitimately differ there, so the forward compares magnitudes. The
# gradient checks are not weakened: they differentiate each library against itself.
GAUGE = {"svd", "eig", "eigh"}


def _library_gap(lib_name, name, params):
    """Why ``lib_name`` cannot run this sample for reasons of its own (a gap or bug in the library,
    not in xpgrad's rules), or None."""
    if lib_name == "torch" and name == "unique_all":
        return "array_api_compat.torch has no unique_all (PyTorch cannot return first-occurrence indices)"
    if lib_name == "array_api_strict" and name == "isin" and params.get("invert"):
        import array_api_strict as strict

        one = strict.asarray([1])
        if bool(strict.isin(one, one, invert=True)[0]):  # seen in 2.6.1: numpy.isin called without it
            return f"array-api-strict {strict.__version__} ignores isin's invert="
    return None


# float64 results of two libraries: same formulas, possibly different summation orders and kernels
FLOAT_TOL = {"rtol": 1e-8, "atol": 1e-10}


def _library(name):
    if name == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            pytest.skip("PyTorch is not installed here (pip install torch): the torch half of this module "
                        "needs it")
        import array_api_compat.torch as lib
    else:
        import array_api_strict as lib
    return lib


@pytest.fixture(params=sorted(ORDER), scope="module")
def lib(request):
    return request.param, _library(request.param)


def _cases(differentiable_only):
    out = []
    for name, op in sorted(OPS.items()):
        if name in EXCLUDED or (differentiable_only and not op.differentiable):
            continue
        for i, s in enumerate(op.all_samples()):
            if differentiable_only and not s.grad:
                continue
            out.append(pytest.param(name, i, id=f"{name}-{i}"))
    return out


def _foreign(lib, a):
    """``a`` (a NumPy array) as an array of ``lib``, kept on its default device."""
    return lib.asarray(a)


def _adopt(lib, a):
    """A Tensor holding ``lib``'s array for NumPy array ``a``; its backend is the foreign namespace.

    The device is named explicitly (the string :func:`backend_of` gave it), so these checks reach
    the op rules even where plain ``xpgrad.asarray`` adoption misbehaves; that is checked on
    its own by ``test_asarray_adopts_foreign_arrays``.
    """
    arr = _foreign(lib, a)
    t = xg.asarray(arr, device=backend_of(arr).device)
    assert isinstance(t.backend, ForeignBackend) and t.data is arr, t.backend
    return t


def _convert(lib, v):
    if isinstance(v, list):
        return [_convert(lib, e) for e in v]
    if isinstance(v, xg.Tensor):
        return _adopt(lib, np.asarray(v.numpy()))
    return v


def _index(lib, k):
    """One entry of an index key as the standard spells it: arrays of ``lib``, never lists or NumPy."""
    if isinstance(k, xg.Tensor):
        k = k.numpy()
    if isinstance(k, (list, np.ndarray)):
        return _foreign(lib, np.asarray(k))
    return k


def _key(lib, key, ndim):
    """An index key as the standard spells it, with its arrays in ``lib``; skips keys it cannot spell.

    The standard asks every axis to be indexed (a trailing ``...`` does that where NumPy fills
    the rest implicitly), allows a boolean array only as the sole index, and integer arrays only
    together with integers, one per axis. Samples with keys beyond that (NumPy's mixed advanced
    indexing) have no Array API spelling: they are skipped, with the key in the reason.
    """
    keys = key if isinstance(key, tuple) else (key,)
    keys = tuple(_index(lib, k) for k in keys)
    if "torch" in lib.__name__ and any(isinstance(k, slice) and (k.step or 1) < 0 for k in keys):
        pytest.skip(f"key {key!r}: PyTorch has no negative slice steps (a deviation from the standard)")
    arrays = [k for k in keys if hasattr(k, "dtype")]
    masks = [k for k in arrays if k.dtype == lib.bool]
    if masks:
        if len(keys) != 1:
            pytest.skip(f"key {key!r}: a boolean mask that is not the sole index is NumPy indexing, "
                        "beyond the Array API standard")
        return keys[0]
    if arrays:
        if len(keys) != ndim or not all(hasattr(k, "dtype") or isinstance(k, int) for k in keys):
            pytest.skip(f"key {key!r}: integer index arrays mixed with slices, None or ..., or not "
                        "one per axis, are NumPy indexing beyond the Array API standard")
        return keys
    covered = sum(k is not None and k is not Ellipsis for k in keys)
    if any(k is Ellipsis for k in keys) or covered >= ndim:
        return keys if isinstance(key, tuple) else keys[0]
    return keys + (Ellipsis,)


def _case(lib_name, lib, name, i):
    op = OPS[name]
    sample = op.all_samples()[i]
    rng = np.random.default_rng(1000 + i)
    args, params = materialize(sample, dtype=xg.float64, device="cpu", rng=rng)
    gap = _library_gap(lib_name, name, params)
    if gap:
        pytest.skip(gap)
    fargs = [_convert(lib, a) for a in args]
    fparams = dict(params)
    if "key" in params:
        fparams["key"] = _key(lib, params["key"], args[0].ndim)
    return op, args, params, fargs, fparams


def _outs(y):
    return y if isinstance(y, tuple) else (y,)


# ---------------------------------------------------------------- adoption and host transfers

def test_asarray_adopts_foreign_arrays(lib):
    lib_name, ns = lib
    arr = ns.asarray(np.arange(6.0).reshape(2, 3))
    t = xg.asarray(arr)
    assert isinstance(t.backend, ForeignBackend), \
        f"xpgrad.asarray put a {lib_name} array on {t.device!r} instead of adopting it"
    assert t.data is arr, "adopting an array must not copy it"
    assert t.device == backend_of(arr).device and t.device.startswith(lib_name.split("_")[0])
    assert t.device not in xg.devices()   # met through its arrays, not one of xpgrad's devices
    assert xg.get_backend(t.device) is t.backend
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(np.asarray(t), np.arange(6.0).reshape(2, 3))
    # back from the host onto the same device, in the library's own dtype
    u = xg.asarray(np.ones(3), dtype=t.backend.dtype("float32"), device=t.device)
    assert type(u.data) is type(arr) and u.dtype == ns.float32 and u.device == t.device


def test_results_and_gradients_stay_foreign(lib):
    lib_name, ns = lib
    x = _adopt(ns, np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]))
    x.requires_grad = True
    y = xg.sum(xg.exp(x) * xg.sin(x), axis=1)
    assert type(y.data) is type(x.data) and y.device == x.device
    xg.sum(y * y).backward()
    assert x.grad is not None and type(x.grad.data) is type(x.data) and x.grad.device == x.device
    xh = x.numpy()
    yh = np.sum(np.exp(xh) * np.sin(xh), axis=1)
    np.testing.assert_allclose(x.grad.numpy(), 2 * yh[:, None] * np.exp(xh) * (np.sin(xh) + np.cos(xh)),
                               rtol=1e-12)


def test_host_transfer_of_other_devices():
    """array-api-strict's extra devices refuse ``numpy.asarray``; the host copy goes through DLPack."""
    import array_api_strict as strict

    arr = strict.asarray([1.0, 2.0, 3.0], device=strict.Device("device1"))
    t = xg.asarray(arr)
    assert t.device == "array_api_strict:device1"
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0, 3.0])
    g = xg.grad(lambda v: xg.sum(v * v))(t)
    assert g.device == t.device
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0, 6.0])


def test_mixing_foreign_and_native_tensors_is_refused():
    import array_api_strict as strict

    a = xg.asarray(strict.asarray([1.0, 2.0]))
    b = xg.asarray([1.0, 2.0])
    with pytest.raises(xg.DeviceMismatchError):
        a + b


# ---------------------------------------------------------------- the op table

@pytest.mark.parametrize("name,i", _cases(differentiable_only=False))
def test_forward_matches_cpu(lib, name, i):
    lib_name, ns = lib
    op, args, params, fargs, fparams = _case(lib_name, ns, name, i)
    expected = _outs(op(*args, **params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # array-api-strict's dtype-comparison notices
        got = _outs(op(*fargs, **fparams))
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert isinstance(g, xg.Tensor)
        assert g.device == fargs_device(fargs), f"{name}: output {k} left the {lib_name} device: {g.device}"
        assert g.shape == e.shape, f"{name}: output {k} has shape {g.shape}, cpu gives {e.shape}"
        gh, eh = g.numpy(), e.numpy()
        assert gh.dtype == eh.dtype, f"{name}: output {k} has dtype {g.dtype}, cpu gives {e.dtype}"
        if name in GAUGE:
            gh, eh = np.abs(gh), np.abs(eh)
        if np.issubdtype(eh.dtype, np.inexact):
            np.testing.assert_allclose(gh, eh, **FLOAT_TOL, equal_nan=True, err_msg=f"{name} output {k}")
        else:
            np.testing.assert_array_equal(gh, eh, err_msg=f"{name} output {k}")


def fargs_device(fargs):
    for a in fargs:
        for v in a if isinstance(a, list) else [a]:
            if isinstance(v, xg.Tensor):
                return v.device
    raise AssertionError("a sample without array arguments")


@pytest.mark.parametrize("name,i", _cases(differentiable_only=True))
def test_gradients(lib, name, i):
    lib_name, ns = lib
    op, _, _, fargs, fparams = _case(lib_name, ns, name, i)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_grads(lambda *xs: op(*xs, **fparams), fargs, order=min(op.order, ORDER[lib_name]),
                    modes=("fwd", "rev"))
