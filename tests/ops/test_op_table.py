"""Tests generated from the op table: every registered op, every sample it declares, every device.

* forward in float32 agrees with float64;
* gradients (JVP vs finite differences, VJP vs JVP) up to the order the op claims,
  in forward and reverse mode, recursively (forward-over-reverse and so on);
* ops declared not differentiable give results that do not require grad;
* gradients come back in the input's dtype.

Each runs on ``cpu``, ``opencl:0`` and ``fpga:0``; a device that is not usable
here is skipped with the reason printed.
"""

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.testing import check_grads, materialize

OPS = xg.registered_ops()
CASES = [pytest.param(name, i, id=f"{name}-{i}")
         for name, op in sorted(OPS.items()) for i, _ in enumerate(op.all_samples())]
GRAD_CASES = [pytest.param(name, i, id=f"{name}-{i}")
              for name, op in sorted(OPS.items()) if op.differentiable
              for i, s in enumerate(op.all_samples()) if s.grad]


DEVICES = ["cpu", "opencl:0", "fpga:0"]


@pytest.fixture(params=DEVICES)
def device(request):
    try:
        b = xg.get_backend(request.param)
    except xg.XpgradError as exc:
        pytest.skip(f"{request.param} is not usable here: {exc}")
    return b.device


def _float64_ok(device):
    try:
        xg.zeros((1,), dtype=xg.float64, device=device)
    except xg.XpgradError:
        return False
    return True


def _complex_ok(device):
    try:
        xg.zeros((1,), dtype=xg.complex64, device=device)
    except xg.XpgradError:
        return False
    return True


def _run(device, fn):
    """``fn()``, skipped where an op needed a complex array the device cannot hold (fft on OpenCL)."""
    try:
        return fn()
    except xg.DTypeError as exc:
        if "no complex dtypes" in str(exc) and not _complex_ok(device):
            pytest.skip(f"{device} has no complex dtypes: {exc}")
        raise


def _case(name, i, dtype=None, device="cpu"):
    op = OPS[name]
    sample = op.all_samples()[i]
    try:
        args, params = materialize(sample, dtype=dtype, device=device, rng=np.random.default_rng(1000 + i))
    except xg.DTypeError as exc:
        if "crandn" not in repr(sample.args):
            raise
        pytest.skip(f"{device} has no complex dtypes: {exc}")
    return op, args, params


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_declares_samples(name):
    assert OPS[name].all_samples(), f"op '{name}' has no sample inputs: add .defsamples(...)"


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if op.differentiable))
def test_builtin_rules_are_written_by_hand(name):
    op = OPS[name]
    assert op.derived is None, f"'{name}' has no hand-written {op.derived} rule"
    assert op.has_vjp and op.has_jvp


@pytest.mark.parametrize("name,i", CASES)
def test_forward_float32_matches_float64(name, i, device):
    if not _float64_ok(device):
        pytest.skip(f"{device} has no float64")
    op, a64, params = _case(name, i, xg.float64, device)
    _, a32, _ = _case(name, i, xg.float32, device)
    y64 = _run(device, lambda: op(*a64, **params))
    y32 = _run(device, lambda: op(*a32, **params))
    for u, v in zip(y64 if isinstance(y64, tuple) else (y64,), y32 if isinstance(y32, tuple) else (y32,)):
        if xg.isdtype(u.dtype, "real floating") and "dtype" not in params:
            assert v.dtype == xg.float32, f"{name} lost float32: got {v.dtype}"
        if xg.isdtype(u.dtype, "complex floating") and "dtype" not in params:
            assert v.dtype == xg.complex64, f"{name} lost complex64: got {v.dtype}"
        if op.out_backend is None:  # ops that move data (to_device) are the exception
            assert u.device == device and v.device == device, f"{name} left {device}"
        if xg.isdtype(u.dtype, "real floating") or xg.isdtype(u.dtype, "complex floating"):
            np.testing.assert_allclose(v.numpy(), u.numpy(), rtol=2e-4, atol=2e-5)
        else:
            np.testing.assert_array_equal(v.numpy(), u.numpy())


@pytest.mark.parametrize("name,i", GRAD_CASES)
def test_gradients(name, i, device):
    if not _float64_ok(device):
        pytest.skip(f"{device} has no float64: finite differences need it")
    op, args, params = _case(name, i, device=device)
    _run(device, lambda: check_grads(lambda *xs: op(*xs, **params), args, order=min(op.order, 2),
                                     modes=("fwd", "rev")))


@pytest.mark.parametrize("name,i", GRAD_CASES)
def test_gradient_dtype_follows_input(name, i, device):
    op, args, params = _case(name, i, xg.float32, device)
    leaves = [a for a in args if isinstance(a, xg.Tensor) and a.dtype in (xg.float32, xg.complex64)]
    for a in leaves:
        a.requires_grad = True
    out = _run(device, lambda: op(*args, **params))
    outs = out if isinstance(out, tuple) else (out,)
    total = sum(xg.sum(xg.real(o) if xg.isdtype(o.dtype, "complex floating") else o)
                for o in outs if o.requires_grad)
    total.backward()
    for a in leaves:
        if a.grad is not None:
            assert a.grad.dtype == a.dtype and a.grad.shape == a.shape
            assert a.grad.device == device, f"the gradient of {name} left {device}"  # moves back too


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if not op.differentiable))
def test_not_differentiable_claims_hold(name, device):
    op, args, params = _case(name, 0, xg.float32, device)
    for a in args:
        if isinstance(a, xg.Tensor) and xg.isdtype(a.dtype, "real floating"):
            a.requires_grad = True
    out = _run(device, lambda: op(*args, **params))
    for o in out if isinstance(out, tuple) else (out,):
        assert not o.requires_grad
        with pytest.raises(xg.BackwardError):
            xg.sum(xg.astype(o, xg.float32)).backward()
