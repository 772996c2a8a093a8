"""Activations: values against the formulas written with ``math``, erf to float64 accuracy,
extremes, dtypes, errors, derivatives by hand, and a few functions on every device."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import activations as A
from xpgrad.ops import elementwise as E


def _sig(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def _softplus(v, beta=1.0, threshold=20.0):
    z = beta * v
    return v if z > threshold else (max(z, 0.0) + math.log1p(math.exp(-abs(z)))) / beta


# Each function as the textbook writes it, one Python float at a time.
REFERENCE = {
    "relu": (lambda v: max(v, 0.0), {}),
    "leaky_relu": (lambda v: v if v > 0 else 0.01 * v, {}),
    "elu": (lambda v: v if v > 0 else math.expm1(v), {}),
    "gelu": (lambda v: 0.5 * v * math.erfc(-v / math.sqrt(2)), {}),
    "silu": (lambda v: v * _sig(v), {}),
    "mish": (lambda v: v * math.tanh(_softplus(v, threshold=math.inf)), {}),
    "softplus": (lambda v: _softplus(v), {}),
    "erf": (math.erf, {}),
}
XS = np.array([-7.5, -3.2, -1.0, -0.5, -1e-3, 1e-3, 0.3, 0.9, 1.0, 2.5, 6.0, 19.0, 21.0, 40.0])


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_values_match_the_formula(name):
    ref, params = REFERENCE[name]
    got = getattr(A, name)(xg.asarray(XS), **params).numpy()
    np.testing.assert_allclose(got, [ref(float(v)) for v in XS], rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("params,ref", [
    ({"negative_slope": 0.2}, lambda v: v if v > 0 else 0.2 * v),
    ({"negative_slope": 1.5}, lambda v: v if v > 0 else 1.5 * v),     # min(x, s·x) above a slope of 1
    ({"negative_slope": -0.5}, lambda v: v if v > 0 else -0.5 * v),
])
def test_leaky_relu_slopes(params, ref):
    got = A.leaky_relu(xg.asarray(XS), **params).numpy()
    np.testing.assert_allclose(got, [ref(float(v)) for v in XS], rtol=1e-15)


def test_elu_alpha_and_gelu_tanh_and_softplus_params():
    x = xg.asarray(XS)
    np.testing.assert_allclose(A.elu(x, 0.5).numpy(), [v if v > 0 else 0.5 * math.expm1(v) for v in XS],
                               rtol=1e-15)
    k = math.sqrt(2 / math.pi)
    tanh_ref = [0.5 * v * (1 + math.tanh(k * (v + 0.044715 * v ** 3))) for v in XS]
    got = A.gelu(x, approximate="tanh").numpy()
    np.testing.assert_allclose(got, tanh_ref, rtol=1e-13, atol=1e-15)
    # computed as x·sigmoid(2z), exact in the left tail where 1 + tanh(z) cancels
    assert got[0] == pytest.approx(-7.5 * _sig(2 * k * (-7.5 + 0.044715 * -7.5 ** 3)), rel=1e-13)
    for beta, threshold in [(2.0, 20.0), (0.5, 3.0), (1.0, 1.0)]:
        np.testing.assert_allclose(A.softplus(x, beta, threshold).numpy(),
                                   [_softplus(float(v), beta, threshold) for v in XS], rtol=1e-14)


def test_gelu_keeps_relative_accuracy_in_the_left_tail():
    # x·Φ(x) through erfc: 1 + erf(x/√2) would cancel to ~1e-16 absolute
    xs = np.array([-5.0, -10.0, -20.0, -30.0])
    got = A.gelu(xg.asarray(xs)).numpy()
    ref = [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in xs]
    np.testing.assert_allclose(got, ref, rtol=1e-13)
    assert got[-1] < 0


def test_softplus_is_linear_above_threshold_like_pytorch():
    y = A.softplus(xg.asarray([20.5, 19.5]))
    assert y.numpy()[0] == 20.5                       # returned as is
    assert y.numpy()[1] == 19.5 + math.log1p(math.exp(-19.5))


# ---------------------------------------------------------------- erf and erfc


def test_erf_to_full_double_precision():
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(-1, 1, 4000), rng.uniform(-7, 7, 4000), np.linspace(-6, 6, 4001),
                         10.0 ** rng.uniform(-300, 1.5, 1000), -(10.0 ** rng.uniform(-300, 1.5, 1000)),
                         [np.nextafter(1.0, 0.0), 1.0, np.nextafter(1.0, 2.0), 5e-324, 1e-310]])
    xs = xs[xs != 0]   # erf(0) = 0 exactly: see the special values
    got = A.erf(xg.asarray(xs)).numpy()
    ref = np.array([math.erf(v) for v in xs])
    rel = np.abs(got - ref) / np.abs(ref)
    assert rel.max() < 1e-15, (rel.max(), xs[rel.argmax()])


def test_erfc_to_double_precision_including_the_far_tail():
    xs = np.concatenate([np.linspace(-6, 26.5, 6001), [1.0, -1.0]])
    got = A.erfc_op(xg.asarray(xs)).numpy()
    ref = np.array([math.erfc(v) for v in xs])
    rel = np.abs(got - ref) / ref
    assert rel.max() < 3e-15, (rel.max(), xs[rel.argmax()])
    assert A.erfc_op(xg.asarray([27.5, 1e4])).numpy().tolist() == [0.0, 0.0]   # underflows, no nan


def test_erf_special_values():
    got = A.erf(xg.asarray([0.0, -0.0, math.inf, -math.inf, math.nan, 1e300, -1e300])).numpy()
    assert got[0] == 0.0 and math.copysign(1.0, got[1]) == -1.0
    assert got[2:4].tolist() == [1.0, -1.0] and math.isnan(got[4]) and got[5:].tolist() == [1.0, -1.0]


def test_erf_in_float32():
    xs = np.linspace(-12, 12, 20001).astype(np.float32)
    got = A.erf(xg.asarray(xs))
    assert got.dtype == xg.float32
    np.testing.assert_allclose(got.numpy(), [math.erf(float(v)) for v in xs], rtol=5e-7, atol=3e-7)
    # no overflow anywhere, even at float32's largest values
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        big = A.erf(xg.asarray([3e38, -3e38, 1e30], dtype=xg.float32)).numpy()
    assert big.tolist() == [1.0, -1.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(st.floats(-50, 50, allow_nan=False))
def test_erf_is_odd(v):
    a, b = A.erf(xg.asarray([v, -v])).numpy()
    assert a == -b
    assert -1.0 <= a <= 1.0


@settings(max_examples=200, deadline=None)
@given(st.floats(-8, 8, allow_nan=False), st.floats(0, 4, allow_nan=False))
def test_erf_is_monotone(v, step):
    lo, hi = A.erf(xg.asarray([v, v + step])).numpy()
    assert hi >= lo - 2.3e-16   # non-decreasing up to the last bit (floating rounding)


def test_erf_is_increasing_on_a_dense_grid():
    y = A.erf(xg.asarray(np.linspace(-4.0, 4.0, 400001))).numpy()   # steps of ≥ 1e-12 in erf
    assert np.all(np.diff(y) > 0)
    y = A.erf(xg.asarray(np.linspace(-7.0, 7.0, 100001))).numpy()   # flat to the last bit beyond
    assert np.all(np.diff(y) >= 0)


def test_erf_derivatives_by_hand():
    x = xg.asarray([0.0, 0.5, -1.5], requires_grad=True)
    g = xg.grad(lambda t: xg.sum(A.erf(t)))(x)
    np.testing.assert_allclose(g.numpy(), [2 / math.sqrt(math.pi) * math.exp(-v * v) for v in (0, 0.5, -1.5)])
    # second derivative −2x·erf'(x)
    h = xg.grad(lambda t: xg.sum(xg.grad(lambda u: xg.sum(A.erf(u)))(t)))(x)
    np.testing.assert_allclose(h.numpy(), [-2 * v * 2 / math.sqrt(math.pi) * math.exp(-v * v)
                                           for v in (0, 0.5, -1.5)], atol=1e-15)


# ---------------------------------------------------------------- derivatives


def _grad(fn, xs, **params):
    x = xg.asarray(np.asarray(xs, dtype=np.float64), requires_grad=True)
    xg.sum(fn(x, **params)).backward()
    return x.grad.numpy()


def test_first_derivatives_by_hand():
    xs = [-2.0, -0.5, 0.7, 3.0]
    np.testing.assert_array_equal(_grad(A.relu, xs), [0, 0, 1, 1])
    np.testing.assert_allclose(_grad(A.leaky_relu, xs, negative_slope=0.1), [0.1, 0.1, 1, 1])
    np.testing.assert_allclose(_grad(A.elu, xs, alpha=0.5), [0.5 * math.exp(-2), 0.5 * math.exp(-0.5), 1, 1])
    phi = [math.exp(-v * v / 2) / math.sqrt(2 * math.pi) for v in xs]
    cdf = [0.5 * math.erfc(-v / math.sqrt(2)) for v in xs]
    np.testing.assert_allclose(_grad(A.gelu, xs), [c + v * p for c, v, p in zip(cdf, xs, phi)], rtol=1e-14)
    np.testing.assert_allclose(_grad(A.silu, xs), [_sig(v) * (1 + v * (1 - _sig(v))) for v in xs], rtol=1e-14)
    th = [math.tanh(math.log1p(math.exp(v))) for v in xs]
    np.testing.assert_allclose(_grad(A.mish, xs), [t + v * (1 - t * t) * _sig(v) for t, v in zip(th, xs)],
                               rtol=1e-14)
    np.testing.assert_allclose(_grad(A.softplus, xs, beta=2.0), [_sig(2 * v) for v in xs], rtol=1e-14)


def test_relu_gradient_is_zero_at_the_kink():
    assert _grad(A.relu, [0.0]).tolist() == [0.0]


def test_gelu_tanh_derivative_by_hand():
    xs = [-2.0, -0.3, 0.4, 2.5]
    k, c = math.sqrt(2 / math.pi), 0.044715
    ref = []
    for v in xs:
        t = math.tanh(k * (v + c * v ** 3))
        ref.append(0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * c * v * v))
    np.testing.assert_allclose(_grad(A.gelu, xs, approximate="tanh"), ref, rtol=1e-13)


@pytest.mark.parametrize("name", ["gelu", "silu", "mish", "softplus", "elu"])
def test_second_order_through_the_functional_form(name):
    fn = getattr(A, name)
    xg.testing.check_grads(fn, (xg.asarray([-1.3, -0.2, 0.6, 2.1]),), order=2)


# ---------------------------------------------------------------- extremes and dtypes

ALL = ["relu", "leaky_relu", "elu", "gelu", "silu", "mish", "softplus", "erf"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ALL)
def test_extremes_stay_finite(name, dtype):
    x = xg.asarray([-1e4, -100.0, 100.0, 1e4], dtype=getattr(xg, dtype), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = getattr(A, name)(x)
        xg.sum(y).backward()
    assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()


def test_extreme_values():
    x = xg.asarray([-1e4, 1e4])
    assert A.softplus(x).tolist() == [0.0, 1e4]
    assert A.softplus(x, beta=0.5, threshold=1e9).tolist() == [0.0, 1e4]
    assert A.gelu(x).tolist() == [-0.0, 1e4]
    assert A.gelu(x, approximate="tanh").tolist() == [-0.0, 1e4]
    assert A.silu(x).tolist() == [-0.0, 1e4]
    assert A.mish(x).tolist() == [-0.0, 1e4]


@pytest.mark.parametrize("name", ALL)
def test_float32_stays_float32(name):
    x = xg.asarray(np.linspace(-3, 3, 7), dtype=xg.float32, requires_grad=True)
    y = getattr(A, name)(x)
    assert y.dtype == xg.float32
    xg.sum(y).backward()
    assert x.grad.dtype == xg.float32


def test_relu_rules_keep_float32_on_raw_arrays():
    # the hot path: the backend's own rules, no Python float or float64 constant widening anything
    x = np.linspace(-1, 1, 6, dtype=np.float32)
    b = xg.get_backend("cpu")
    out = A.relu_op.forward(b.xp, x)
    g = A.relu_op.vjps[0](b.xp, np.ones(6, np.float32), out, x)
    assert out.dtype == np.float32 and g.dtype == np.float32
    assert g.tolist() == [0, 0, 0, 1, 1, 1]


def test_inplace_is_accepted_and_leaves_the_input_alone():
    x = xg.asarray([-1.0, 2.0])
    for fn in (A.relu, A.leaky_relu, A.elu, A.silu, A.mish):
        y = fn(x, inplace=True)
        assert x.tolist() == [-1.0, 2.0] and y is not x


def test_relu_accepts_integers():
    assert A.relu(xg.asarray([-2, 3])).tolist() == [0, 3]


# ---------------------------------------------------------------- errors and exports


def test_errors_name_the_function():
    with pytest.raises(xg.OpError, match="gelu: approximate must be 'none' or 'tanh'"):
        A.gelu(xg.asarray([1.0]), approximate="erf")
    with pytest.raises(xg.OpError, match="softplus: beta must be non-zero"):
        A.softplus(xg.asarray([1.0]), beta=0)
    with pytest.raises(xg.DTypeError, match="gelu: expected a floating-point input, got dtype int64"):
        A.gelu(xg.asarray([1, 2]))
    with pytest.raises(xg.DTypeError, match="erf: expected a floating-point input"):
        A.erf(xg.asarray([True]))


def test_public_names():
    assert A.__all__ == ["relu", "leaky_relu", "elu", "gelu", "silu", "mish", "softplus", "erf", "sigmoid",
                         "tanh"]
    assert A.sigmoid is E.sigmoid and A.tanh is E.tanh
    for name in ("relu", "leaky_relu", "elu", "gelu", "silu", "mish", "softplus", "erf", "erfc"):
        assert name in xg.registered_ops()


# ---------------------------------------------------------------- other devices


@pytest.fixture(params=["opencl:0", "fpga:0"])
def device(request):
    try:
        return xg.get_backend(request.param).device
    except xg.XpgradError as exc:
        pytest.skip(f"{request.param} is not usable here: {exc}")


@pytest.mark.parametrize("name,params", [("relu", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"}),
                                         ("softplus", {"beta": 2.0}), ("erf", {}), ("mish", {})])
def test_on_other_devices(device, name, params):
    xs = np.linspace(-4, 4, 12).reshape(3, 4)
    fn = getattr(A, name)
    x = xg.asarray(xs, dtype=xg.float32, device=device, requires_grad=True)
    y = fn(x, **params)
    xg.sum(y * y).backward()
    assert y.device == device and x.grad.device == device and y.dtype == xg.float32
    c = xg.asarray(xs, dtype=xg.float32, requires_grad=True)
    yc = fn(c, **params)
    xg.sum(yc * yc).backward()
    np.testing.assert_allclose(y.numpy(), yc.numpy(), rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), c.grad.numpy(), rtol=2e-5, atol=1e-5)


@settings(max_examples=100, deadline=None)
@given(st.floats(-1e4, 1e4, allow_nan=False), st.sampled_from([0.5, 1.0, 3.0]))
def test_softplus_bounds_relu_and_is_symmetric_about_it(v, beta):
    sp, sn = A.softplus(xg.asarray([v, -v]), beta=beta, threshold=math.inf).numpy()
    relu = max(v, 0.0)
    assert sp >= relu * (1 - 4e-16) and sp <= relu + math.log(2) / beta + 1e-12   # (β·x)/β may round
    assert sp - sn == pytest.approx(v, rel=1e-12, abs=1e-12)   # log(1 + e^z) − log(1 + e^−z) = z
