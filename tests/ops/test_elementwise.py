"""Elementwise ops: the complex (conjugate-Wirtinger) convention pinned by hand-computed cases, mixed
real/complex inputs, Python complex scalars, stability at extremes, the conventions at kinks and ties,
dtype rules, refusals of complex operands, and a property test of logaddexp.

For a real loss L of z = x + iy the gradient is ∂L/∂x + i·∂L/∂y (PyTorch's convention), so:
|z|² → 2z, Re(z·w) → conj(w) wrt z, Im z → i, |z| → z/|z|, Re f(z) for holomorphic f → conj(f'(z)).
"""

import doctest
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import elementwise as E
from xpgrad.testing import check_grads

Z = np.array([1 + 2j, -0.5 + 0.25j, 3 - 1j])
W = np.array([0.5 - 1j, 2 + 1j, -1 - 3j])


def _c(v, dtype=None):
    return xg.asarray(np.asarray(v), dtype=dtype)


def _grad(f, *args):
    """Gradients of a real scalar ``f`` wrt every argument, by backward()."""
    ts = [_c(a) for a in args]
    for t in ts:
        t.requires_grad = True
    f(*ts).backward()
    return [t.grad.numpy() for t in ts]


# ---------------------------------------------------------------- the convention, by hand

def test_grad_of_abs_squared_is_2z():
    (g,) = _grad(lambda z: xg.sum(xg.abs(z) ** 2), Z)
    np.testing.assert_allclose(g, 2 * Z, rtol=1e-12)
    (g,) = _grad(lambda z: xg.sum(xg.real(z * xg.conj(z))), Z)
    np.testing.assert_allclose(g, 2 * Z, rtol=1e-12)


def test_grad_of_real_part_of_product():
    gz, gw = _grad(lambda z, w: xg.sum(xg.real(z * w)), Z, W)
    np.testing.assert_allclose(gz, np.conj(W), rtol=1e-12)
    np.testing.assert_allclose(gw, np.conj(Z), rtol=1e-12)


def test_grad_of_real_and_imag_parts():
    (g,) = _grad(lambda z: xg.sum(xg.real(z)), Z)
    np.testing.assert_allclose(g, np.ones(3), rtol=0)
    (g,) = _grad(lambda z: xg.sum(xg.imag(z)), Z)
    np.testing.assert_allclose(g, 1j * np.ones(3), rtol=0)   # ∂(Im z)/∂y = 1: i·1
    (g,) = _grad(lambda z: xg.sum(xg.imag(xg.conj(z))), Z)
    np.testing.assert_allclose(g, -1j * np.ones(3), rtol=0)


def test_grad_of_abs_is_the_unit_direction_and_zero_at_zero():
    v = np.array([3 + 4j, 0j, -1j])
    (g,) = _grad(lambda z: xg.sum(xg.abs(z)), v)
    np.testing.assert_allclose(g, [0.6 + 0.8j, 0, -1j], rtol=1e-12, atol=0)
    # the JVP: d|z| along t is Re(conj(z)·t)/|z|, and 0 at z = 0
    _, t = xg.jvp(xg.abs, (_c(v),), (_c(np.array([1j, 1 + 1j, 2.0 + 0j])),))
    np.testing.assert_allclose(t.numpy(), [0.8, 0.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("name,deriv", [
    ("exp", np.exp), ("sin", np.cos), ("square", lambda z: 2 * z), ("log", lambda z: 1 / z),
    ("sqrt", lambda z: 0.5 / np.sqrt(z)), ("reciprocal", lambda z: -1 / z ** 2),
    ("tanh", lambda z: 1 / np.cosh(z) ** 2), ("asinh", lambda z: 1 / np.sqrt(1 + z * z)),
    ("acosh", lambda z: 1 / (np.sqrt(z - 1) * np.sqrt(z + 1))), ("atanh", lambda z: 1 / (1 - z * z)),
    ("log2", lambda z: 1 / (z * math.log(2))), ("log10", lambda z: 1 / (z * math.log(10))),
])
def test_holomorphic_gradient_is_conjugate_derivative(name, deriv):
    """For holomorphic f: grad Re f(z) = conj(f'(z)), grad Im f(z) = i·conj(f'(z)), JVP f'(z)·t."""
    f = getattr(xg, name)
    (g,) = _grad(lambda z: xg.sum(xg.real(f(z))), Z)
    np.testing.assert_allclose(g, np.conj(deriv(Z)), rtol=1e-10)
    # Im f = Re(−i f): gradient conj(−i f') = i·conj(f')
    (g,) = _grad(lambda z: xg.sum(xg.imag(f(z))), Z)
    np.testing.assert_allclose(g, 1j * np.conj(deriv(Z)), rtol=1e-10)
    # the JVP is f'(z)·t
    t = np.array([1 - 1j, 0.5j, 2.0])
    _, jt = xg.jvp(f, (_c(Z),), (_c(t),))
    np.testing.assert_allclose(jt.numpy(), deriv(Z) * t, rtol=1e-10)


def test_division_and_power_follow_the_convention():
    gz, gw = _grad(lambda z, w: xg.sum(xg.real(z / w)), Z, W)
    np.testing.assert_allclose(gz, np.conj(1 / W), rtol=1e-12)
    np.testing.assert_allclose(gw, np.conj(-Z / W ** 2), rtol=1e-12)
    gz, gw = _grad(lambda z, w: xg.sum(xg.real(z ** w)), Z, W)
    np.testing.assert_allclose(gz, np.conj(W * Z ** (W - 1)), rtol=1e-10)
    np.testing.assert_allclose(gw, np.conj(Z ** W * np.log(Z)), rtol=1e-10)


def test_against_pytorch():
    """The same gradients as PyTorch's autograd on complex inputs (when torch is installed)."""
    torch = pytest.importorskip("torch")
    u = np.array([0.3 - 1j, 1.5 + 0.5j, -2 + 0.1j])
    cases = {"exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "sin": torch.sin, "cosh": torch.cosh,
             "tan": torch.tan, "asin": torch.asin, "atan": torch.atan, "asinh": torch.asinh,
             "acosh": torch.acosh, "atanh": torch.atanh, "reciprocal": torch.reciprocal,
             "conj": lambda z: torch.conj(z).resolve_conj()}
    for name, tf in cases.items():
        (g,) = _grad(lambda z: xg.sum(xg.real(xg.conj(_c(u)) * getattr(xg, name)(z))), Z)
        tz = torch.tensor(Z, requires_grad=True)
        torch.sum(torch.real(torch.conj(torch.tensor(u)) * tf(tz))).backward()
        np.testing.assert_allclose(g, tz.grad.resolve_conj().numpy(), rtol=1e-10, err_msg=name)
    for name, tf in {"abs": torch.abs, "real": torch.real, "imag": torch.imag}.items():
        (g,) = _grad(lambda z: xg.sum(_c(u.real) * getattr(xg, name)(z)), Z)
        tz = torch.tensor(Z, requires_grad=True)
        torch.sum(torch.tensor(u.real) * tf(tz)).backward()
        np.testing.assert_allclose(g, tz.grad.resolve_conj().numpy(), rtol=1e-12, err_msg=name)


# ---------------------------------------------------------------- mixed real and complex

def test_real_input_gets_a_real_gradient():
    x = np.array([0.5, -2.0, 1.5])
    gx, gz = _grad(lambda x, z: xg.sum(xg.abs(x * z) ** 2), x, Z)
    assert gx.dtype == np.float64
    np.testing.assert_allclose(gx, 2 * x * np.abs(Z) ** 2, rtol=1e-12)
    np.testing.assert_allclose(gz, 2 * x ** 2 * Z, rtol=1e-12)
    gx, gz = _grad(lambda x, z: xg.sum(xg.imag(x + z) + xg.real(x - z)), x, Z)
    np.testing.assert_allclose(gx, np.ones(3), rtol=0)
    np.testing.assert_allclose(gz, (1j - 1) * np.ones(3), rtol=0)


def test_real_to_complex_cast_gives_the_real_part_back():
    x = np.array([0.5, -2.0, 1.5])
    (gx,) = _grad(lambda x: xg.sum(xg.real(xg.astype(x, xg.complex128) * _c(W))), x)
    assert gx.dtype == np.float64
    np.testing.assert_allclose(gx, W.real, rtol=1e-12)
    check_grads(lambda x: xg.astype(x, xg.complex128) * _c(W), (_c(x),))


def test_complex_to_real_cast_is_refused():
    with pytest.raises(xg.DTypeError, match=r"astype.*complex.*real\(x\)"):
        xg.astype(_c(Z), xg.float64)
    assert xg.astype(_c(Z), xg.bool).tolist() == [True, True, True]   # allowed by the standard


def test_backward_on_a_complex_output_is_refused():
    z = _c(Z)
    z.requires_grad = True
    with pytest.raises(xg.BackwardError, match="complex"):
        xg.sum(z * z).backward()                  # a complex scalar: no implicit cotangent
    with pytest.raises(xg.BackwardError, match="complex"):
        (z * z)[0].backward()
    y = z * z                                     # with an explicit cotangent it is a VJP
    y.backward(xg.asarray(np.array([1.0 + 0j, 0j, 1j])))
    np.testing.assert_allclose(z.grad.numpy(), np.array([1, 0, 1j]) * np.conj(2 * Z), rtol=1e-12)


@pytest.mark.parametrize("dtype,cdtype", [("float64", "complex128"), ("float32", "complex64")])
def test_python_complex_scalars(dtype, cdtype):
    x = xg.asarray([0.5, -2.0, 1.5], dtype=getattr(xg, dtype), requires_grad=True)
    ys = [x * 1j, 1j * x, x + 2j, 2j - x, x / (1 + 1j), (1 - 1j) ** x]
    for y in ys:
        assert y.dtype == getattr(xg, cdtype)
    loss = xg.sum(xg.imag(ys[0]) + xg.imag(ys[1]) + xg.real(ys[2]) - xg.real(ys[3])
                  + xg.real(ys[4]) + xg.imag(ys[5]))
    loss.backward()
    assert x.grad.dtype == getattr(xg, dtype)
    # Im(ix) = x, Re(x+2i) = x, −Re(2i − x) = x, Re(x/(1+i)) = x/2, Im((1−i)^x) = Im(e^{x log(1−i)})
    lg = np.log(1 - 1j)
    want = 1 + 1 + 1 + 1 + 0.5 + np.imag(lg * np.exp(np.array([0.5, -2.0, 1.5]) * lg))
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-5)


def test_complex_power_with_python_base():
    (g,) = _grad(lambda w: xg.sum(xg.real(2.0 ** w)), W)
    np.testing.assert_allclose(g, np.conj(2.0 ** W * np.log(2.0)), rtol=1e-12)
    (g,) = _grad(lambda w: xg.sum(xg.real((-2.0) ** w)), W)   # a negative base: the principal log
    np.testing.assert_allclose(g, np.conj((-2.0 + 0j) ** W * np.log(-2.0 + 0j)), rtol=1e-12)


# ---------------------------------------------------------------- dtypes and real inputs

@pytest.mark.parametrize("cdtype,rdtype", [("complex64", "float32"), ("complex128", "float64")])
def test_parts_have_the_real_dtype(cdtype, rdtype):
    z = _c(Z, dtype=getattr(xg, cdtype))
    for f in (xg.real, xg.imag, xg.abs):
        assert f(z).dtype == getattr(xg, rdtype)
    assert xg.conj(z).dtype == z.dtype
    assert xg.sign(z).dtype == z.dtype
    np.testing.assert_allclose(xg.sign(z).numpy(), Z / np.abs(Z), rtol=1e-6)


def test_parts_of_real_inputs():
    x = xg.asarray([1.0, -2.0], requires_grad=True)
    r, c, i = xg.real(x), xg.conj(x), xg.imag(x)
    assert r.tolist() == [1.0, -2.0] and c.tolist() == [1.0, -2.0] and i.tolist() == [0.0, 0.0]
    assert r.dtype == c.dtype == i.dtype == xg.float64
    xg.sum(r + 2 * c + 3 * i).backward()
    assert x.grad.tolist() == [3.0, 3.0]
    with xg.no_grad():
        r2 = xg.real(x)
    r2[0] = 7.0                                  # a copy: writing to it leaves x alone
    assert x.tolist() == [1.0, -2.0]
    assert xg.real(xg.asarray([1, 2])).tolist() == [1, 2]
    with pytest.raises(xg.DTypeError, match="real"):
        xg.real(xg.asarray([True]))


@pytest.mark.parametrize("name,args", [
    ("maximum", (Z, Z)), ("minimum", (Z, 1.0)), ("less", (Z, Z)), ("greater_equal", (1.0, Z)),
    ("floor", (Z,)), ("atan2", (Z, 1.0)), ("hypot", (Z, Z)), ("logaddexp", (Z, Z)),
    ("copysign", (Z, 1.0)), ("signbit", (Z,)), ("nextafter", (Z, Z)), ("sigmoid", (Z,)),
    ("remainder", (Z, 2.0)), ("floor_divide", (Z, 2.0)),
])
def test_real_only_functions_refuse_complex(name, args):
    args = [_c(a) if isinstance(a, np.ndarray) else a for a in args]
    with pytest.raises(xg.DTypeError, match=f"'{name}' is defined for real-valued dtypes only.*complex128"):
        getattr(xg, name)(*args)


# ---------------------------------------------------------------- stability at extremes

def _g2(f, a, b):
    return [float(v) for v in xg.grad(f, argnums=(0, 1))(xg.asarray(a), xg.asarray(b))]


def test_hypot_at_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(xg.hypot(xg.asarray(1e200), xg.asarray(1e200))) == pytest.approx(math.sqrt(2) * 1e200)
        assert _g2(xg.hypot, 1e200, 1e200) == pytest.approx([2 ** -0.5] * 2)
        assert _g2(xg.hypot, 3e-200, -4e-200) == pytest.approx([0.6, -0.8])


def test_hypot_at_the_origin_has_zero_gradient_at_every_order():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _g2(xg.hypot, 0.0, 0.0) == [0.0, 0.0]
        h = xg.hessian(lambda v: xg.hypot(v[0], v[1]))(xg.asarray([0.0, 0.0]))
        assert h.tolist() == [[0.0, 0.0], [0.0, 0.0]]
        _, t = xg.jvp(xg.hypot, (xg.asarray([0.0, 3.0]), xg.asarray([0.0, 4.0])),
                      (xg.asarray([1.0, 1.0]), xg.asarray([1.0, 1.0])))
        assert t.tolist() == pytest.approx([0.0, 1.4])


def test_atan2_derivatives():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _g2(xg.atan2, 0.0, 0.0) == [0.0, 0.0]        # the origin: 0 by convention
        h = xg.hessian(lambda v: xg.atan2(v[0], v[1]))(xg.asarray([0.0, 0.0]))
        assert h.tolist() == [[0.0, 0.0], [0.0, 0.0]]
        # ∂/∂y = x/(x²+y²), ∂/∂x = −y/(x²+y²): no overflow or underflow in the squares
        assert _g2(xg.atan2, 1e200, 1e200) == pytest.approx([0.5e-200, -0.5e-200])
        assert _g2(xg.atan2, 1e-200, 1e-200) == pytest.approx([0.5e200, -0.5e200])
        assert _g2(xg.atan2, 1.0, 2.0) == pytest.approx([0.4, -0.2])
    check_grads(xg.atan2, (xg.asarray([0.3, -1.2, 2.0]), xg.asarray([-0.7, -0.4, 1.1])), order=3)


def test_logaddexp_at_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = xg.asarray(1000.0)
        assert float(xg.logaddexp(big, big)) == pytest.approx(1000 + math.log(2))
        assert _g2(xg.logaddexp, 1000.0, 1000.0) == [0.5, 0.5]
        assert _g2(xg.logaddexp, 1000.0, 0.0) == [1.0, 0.0]
        assert _g2(xg.logaddexp, -1000.0, -1001.0) == pytest.approx([1 / (1 + math.exp(-1)),
                                                                     1 / (1 + math.e)])
        assert _g2(xg.logaddexp, -math.inf, -math.inf) == [0.5, 0.5]   # the limit along x = y
        assert _g2(xg.logaddexp, math.inf, math.inf) == [0.5, 0.5]
        assert _g2(xg.logaddexp, math.inf, 3.0) == [1.0, 0.0]
        assert _g2(xg.logaddexp, -math.inf, 3.0) == [0.0, 1.0]
        # second derivatives at a tie: ∂²/∂x² = s(1−s) = ¼, ∂²/∂x∂y = −¼
        h = xg.hessian(lambda v: xg.logaddexp(v[0], v[1]))(xg.asarray([2.0, 2.0]))
        np.testing.assert_allclose(h.numpy(), [[0.25, -0.25], [-0.25, 0.25]], rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.floats(-1e300, 1e300), st.floats(-1e300, 1e300))
def test_logaddexp_properties(a, b):
    x, y = xg.asarray(a), xg.asarray(b)
    v = float(xg.logaddexp(x, y))
    assert v == float(xg.logaddexp(y, x))
    m = max(a, b)
    assert m <= v <= m + math.log(2) + abs(m) * 4e-16 + 1e-15
    ga, gb = _g2(xg.logaddexp, a, b)
    assert 0.0 <= ga <= 1.0 and 0.0 <= gb <= 1.0
    assert ga + gb == pytest.approx(1.0, abs=1e-15)


def test_inverse_hyperbolic_derivatives_do_not_overflow():
    assert float(xg.grad(xg.asinh)(1e200)) == pytest.approx(1e-200)
    assert float(xg.grad(xg.acosh)(1e200)) == pytest.approx(1e-200)
    assert float(xg.grad(xg.asinh)(-3.0)) == pytest.approx(1 / math.sqrt(10))
    assert float(xg.grad(xg.atanh)(0.5)) == pytest.approx(4 / 3)
    assert float(xg.grad(xg.log10)(100.0)) == pytest.approx(1 / (100 * math.log(10)))


# ---------------------------------------------------------------- kinks and ties

def test_copysign_derivatives():
    x1 = np.array([1.5, -2.0, 0.0, 3.0])
    x2 = np.array([-1.0, -0.5, 2.0, 0.0])
    g1, g2 = _grad(lambda a, b: xg.sum(xg.copysign(a, b)), x1, x2)
    np.testing.assert_array_equal(g1, [-1.0, 1.0, 0.0, 1.0])    # sign(x1)·sign(out); 0 at x1 = 0
    np.testing.assert_array_equal(g2, [0.0, 0.0, 0.0, 0.0])
    assert xg.copysign(xg.asarray([2.0]), xg.asarray([-0.0])).tolist() == [-2.0]


def test_abs_at_zero_and_maximum_at_ties():
    (g,) = _grad(lambda x: xg.sum(xg.abs(x)), np.array([0.0, -0.0, 2.0, -3.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, -1.0])
    gx, gy = _grad(lambda x, y: xg.sum(xg.maximum(x, y)), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    np.testing.assert_array_equal(gx, [0.5, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0])


def test_signbit_and_nextafter_are_not_differentiable():
    x = xg.asarray([0.0, -0.0, -1.5, 2.0], requires_grad=True)
    s = xg.signbit(x)
    assert s.tolist() == [False, True, True, False] and not s.requires_grad
    n = xg.nextafter(x, xg.asarray(5.0))
    assert not n.requires_grad
    assert n.tolist() == np.nextafter(np.array([0.0, -0.0, -1.5, 2.0]), 5.0).tolist()


# ---------------------------------------------------------------- the examples in the docstrings

def test_docstring_examples():
    """The examples in the ops' docstrings (ops are objects, which doctest's finder skips)."""
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(verbose=False)
    ran = 0
    for name in sorted(xg.registered_ops()):
        op = xg.registered_ops()[name]
        if op.forward.__module__ == E.__name__ and op.__doc__ and ">>>" in op.__doc__:
            runner.run(parser.get_doctest(op.__doc__, {}, name, E.__file__, 0))
            ran += 1
    assert ran >= 3
    assert runner.summarize(verbose=False).failed == 0


# ---------------------------------------------------------------- on every device

DEVICES = ["cpu", "opencl:0", "fpga:0"]
EXTREMES = {
    "hypot": ([1e200, 3e-200, 0.0, -3.0, np.inf], [1e200, 4e-200, 0.0, 4.0, np.nan]),
    "atan2": ([0.0, -0.0, 1.0, -1.0, 1e-300], [-0.0, -1.0, 0.0, -1e300, 1e300]),
    "logaddexp": ([1000.0, -1000.0, -np.inf, np.inf, 2.0], [1000.0, -1000.0, -np.inf, 3.0, -np.inf]),
    "copysign": ([1.5, -2.0, 0.0, 3.0, np.inf], [-0.0, 0.0, -1.0, np.inf, -np.inf]),
    "nextafter": ([1.0, 1.0, 0.0, -0.0, 1e300], [2.0, 0.0, 1.0, -1.0, np.inf]),
}


def _device(name):
    try:
        return xg.get_backend(name).device
    except xg.XpgradError as exc:
        pytest.skip(f"{name} is not usable here: {exc}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(EXTREMES))
def test_two_argument_functions_at_extremes_on_every_device(name, device):
    """Each device's own kernel (no host fallback on OpenCL) gives NumPy's values, in float64."""
    dev = _device(device)
    a, b = (np.asarray(v) for v in EXTREMES[name])
    if device.startswith("opencl"):
        from xpgrad.backends.opencl import namespace as cx
        cx.reset_counters()
    got = getattr(xg, name)(xg.asarray(a, device=dev), xg.asarray(b, device=dev)).numpy()
    with np.errstate(all="ignore"):
        want = getattr(np, {"atan2": "arctan2"}.get(name, name))(a, b)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert np.array_equal(np.signbit(got), np.signbit(want))     # signed zeros too
    if device.startswith("opencl"):
        assert cx.fallback_counts() == {}


@pytest.mark.parametrize("device", DEVICES)
def test_new_unary_functions_on_every_device(device):
    dev = _device(device)
    x = np.array([1.5, 2.0, 10.0, 1e10])
    for name, ref in (("log2", np.log2), ("log10", np.log10), ("asinh", np.arcsinh), ("acosh", np.arccosh),
                      ("atanh", lambda v: np.arctanh(1 / v))):
        arg = 1 / x if name == "atanh" else x
        np.testing.assert_allclose(getattr(xg, name)(xg.asarray(arg, device=dev)).numpy(), ref(x),
                                   rtol=1e-14, err_msg=name)
    s = xg.signbit(xg.asarray([0.0, -0.0, -np.inf, np.nan], device=dev))
    assert s.tolist() == [False, True, True, False]
    r = xg.real(xg.asarray(x, device=dev))
    assert r.tolist() == x.tolist() and xg.imag(xg.asarray(x, device=dev)).tolist() == [0.0] * 4
