"""xpgrad.testing: check_grads, gradcheck and gradgradcheck pass correct rules and catch wrong ones at the
order they break."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad import testing
from xpgrad.core.registry import Sample
from xpgrad.testing import check_grads, check_jvp, check_vjp, numerical_jvp

REG: dict = {}  # private registry: these ops never reach the global op table

X = xg.asarray([0.3, -1.2, 2.0])
Y = xg.asarray([1.5, 0.4, -0.7])


def _frozen_cos(xp, x):
    """cos(x) with the right value but no derivative: computed on the host, re-entered as a constant."""
    return xp.asarray(np.cos(np.asarray(x)))


@xg.defop("test_checks_sin_ok", registry=REG)
def sin_ok(xp, x, /):
    return xp.sin(x)


sin_ok.defvjp(lambda xp, g, out, x: g * xp.cos(x))
sin_ok.defjvp(lambda xp, t, out, x: t * xp.cos(x))


@xg.defop("test_checks_sin_bad_vjp_sign", registry=REG)
def sin_bad_vjp(xp, x, /):
    return xp.sin(x)


sin_bad_vjp.defvjp(lambda xp, g, out, x: -g * xp.cos(x))   # sign error
sin_bad_vjp.defjvp(lambda xp, t, out, x: t * xp.cos(x))


@xg.defop("test_checks_mul_jvp_missing_term", registry=REG)
def mul_bad_jvp(xp, x, y, /):
    return x * y


mul_bad_jvp.defvjp(lambda xp, g, out, x, y: (g * y, g * x))
mul_bad_jvp.defjvp(lambda xp, dx, dy, out, x, y: dx * y)    # forgot + x · dy


@xg.defop("test_checks_sin_wrong_second_derivative", registry=REG)
def sin_bad_second(xp, x, /):
    return xp.sin(x)


# Values of both rules are right (first order passes); their own derivatives are not.
sin_bad_second.defvjp(lambda xp, g, out, x: g * _frozen_cos(xp, x))
sin_bad_second.defjvp(lambda xp, t, out, x: t * _frozen_cos(xp, x))


# ---------------------------------------------------------------- correct functions pass

@pytest.mark.parametrize("f,args", [
    (xg.sin, (X,)),
    (sin_ok, (X,)),
    (lambda a, b: a * b + xg.exp(a) / (1.0 + b * b), (X, Y)),
    (lambda a: xg.tanh(a) @ xg.asarray([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]), (X,)),
    (lambda a: (a * a, xg.sum(a)), (X,)),                 # several outputs
], ids=["sin", "user_op", "binary", "matmul", "tuple_out"])
def test_correct_functions_pass_to_second_order(f, args):
    check_grads(f, args, order=2)


def test_check_grads_accepts_numpy_floats_and_lists_and_fixed_args():
    check_grads(lambda a, b, n: a * b * n, (np.array([1.0, 2.0]), [0.5, 3.0], 3), order=2)
    check_grads(lambda a: a * a, (2.0,), order=2)


def test_check_grads_works_in_float64_for_float32_inputs():
    check_grads(xg.exp, (xg.asarray([0.1, 0.2], dtype=xg.float32),), order=2)


def test_check_grads_needs_a_float_argument():
    with pytest.raises(ValueError, match="no floating-point"):
        check_grads(lambda n: n * 2, (xg.asarray([1, 2]),))


def test_check_grads_third_order_docstring_example():
    check_grads(xg.sin, (xg.asarray([0.5, 1.0]),), order=3)


def test_third_order_in_forward_mode_only():
    check_grads(xg.sin, (xg.asarray([0.5, 1.0]),), order=3, modes=("fwd",))


# ---------------------------------------------------------------- wrong rules fail

def test_vjp_sign_error_is_caught_in_reverse_mode():
    check_grads(sin_bad_vjp, (X,), order=2, modes=("fwd",))  # forward mode never sees the VJP
    with pytest.raises(AssertionError, match="VJP vs JVP"):
        check_grads(sin_bad_vjp, (X,), order=1)
    with pytest.raises(AssertionError):
        check_grads(sin_bad_vjp, (X,), order=1, modes=("rev",))


def test_jvp_missing_term_is_caught_in_forward_mode():
    with pytest.raises(AssertionError, match="JVP vs finite differences"):
        check_grads(mul_bad_jvp, (X, Y), order=1)
    with pytest.raises(AssertionError):
        check_grads(mul_bad_jvp, (X, Y), order=1, modes=("fwd",))


def test_jvp_missing_term_is_not_missed_when_only_that_input_moves():
    # with y fixed (an int-free trick: close over it) the missing term does not matter
    check_grads(lambda a: mul_bad_jvp(a, Y), (X,), order=2)
    with pytest.raises(AssertionError):
        check_grads(lambda b: mul_bad_jvp(X, b), (Y,), order=1, modes=("fwd",))


def test_wrong_second_derivative_is_caught_only_at_order_two():
    check_grads(sin_bad_second, (X,), order=1)
    with pytest.raises(AssertionError):
        check_grads(sin_bad_second, (X,), order=2)
    with pytest.raises(AssertionError):
        check_grads(sin_bad_second, (X,), order=2, modes=("fwd",))
    with pytest.raises(AssertionError):
        check_grads(sin_bad_second, (X,), order=2, modes=("rev",))


def test_failure_message_reports_the_error():
    with pytest.raises(AssertionError) as info:
        check_grads(mul_bad_jvp, (X, Y), order=1, modes=("fwd",))
    msg = str(info.value)
    assert "max abs error" in msg and "got" in msg and "expected" in msg


# ---------------------------------------------------------------- the pieces

def test_numerical_jvp_by_hand():
    (d,) = numerical_jvp(lambda a: a * a, [xg.asarray([3.0])], [xg.asarray([1.0])], eps=1e-3)
    np.testing.assert_allclose(d, [6.0], rtol=1e-10)  # central differences are exact on quadratics


def test_check_jvp_and_check_vjp_directly():
    check_jvp(xg.sin, [X])
    check_vjp(xg.sin, [X])
    with pytest.raises(AssertionError):
        check_vjp(sin_bad_vjp, [X])
    with pytest.raises(AssertionError):
        check_jvp(lambda b: mul_bad_jvp(X, b), [Y])


def test_materialize_sample_specs():
    s = Sample((("randn", (2, 3)), ("int", (4,), 0, 5), ("rand", (2,), 1, 2),
                ("bool", (3,)), ("spd", (3, 3)), 1.5), {"axis": 0})
    args, params = testing.materialize(s, rng=np.random.default_rng(0))
    assert params == {"axis": 0}
    assert args[0].shape == (2, 3) and args[0].dtype == xg.float64
    assert args[1].dtype == xg.int64 and all(0 <= v < 5 for v in args[1].tolist())
    assert all(1 <= v < 2 for v in args[2].tolist())
    assert args[3].dtype == xg.bool
    spd = args[4].numpy()
    np.testing.assert_allclose(spd, spd.T)
    assert np.all(np.linalg.eigvalsh(spd) > 0)
    assert args[5] == 1.5
    args32, _ = testing.materialize(s, dtype=xg.float32)
    assert args32[0].dtype == xg.float32


def test_materialize_pos_spec_documented_by_sample():
    (a,), _ = testing.materialize(Sample((("pos", (50,)),)))
    assert a.shape == (50,) and all(0.5 <= v <= 2 for v in a.tolist())


# ---------------------------------------------------------------- gradcheck, gradgradcheck (public API)

XR = xg.asarray([0.5, 1.0, 2.0], requires_grad=True)
YR = xg.asarray([1.5, -0.3, 0.7], requires_grad=True)


@xg.custom_vjp
def sin_vjp_twice(x):
    return xg.sin(x)


# the VJP is off by a factor of 2
sin_vjp_twice.defvjp(lambda x: (xg.sin(x), x), lambda x, g: (2.0 * g * xg.cos(x),))


@xg.custom_vjp
def sin_vjp_detached_x(x):
    return xg.sin(x)


# right value, but cos(x) is detached: differentiating the VJP with respect to x gives 0, not -g sin(x)
sin_vjp_detached_x.defvjp(lambda x: (xg.sin(x), x), lambda x, g: (g * xg.cos(x.detach()),))


@xg.custom_vjp
def sin_vjp_detached_g(x):
    return xg.sin(x)


# right value, right in x, but g is detached: the derivative with respect to the cotangent is 0
sin_vjp_detached_g.defvjp(lambda x: (xg.sin(x), x), lambda x, g: (g.detach() * xg.cos(x),))


@pytest.mark.parametrize("fast_mode", [False, True], ids=["full", "fast"])
@pytest.mark.parametrize("f,args", [
    (xg.sin, (XR,)),
    (lambda a, b: xg.sin(a) * b + a / (1.0 + b * b), (XR, YR)),
    (lambda a, b: (a * b, xg.sum(xg.exp(a))), (XR, YR)),                     # several outputs
    (lambda a, m: xg.tanh(a) @ m, (XR, xg.asarray([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]))),  # m fixed
    (lambda a, n: a ** n, (XR, 3)),                                          # a Python number held fixed
    (lambda z: xg.exp(z) * z, (xg.asarray(np.array([0.5 + 0.2j, -1.0 + 1.0j]), requires_grad=True),)),
    (lambda z: xg.abs(z) ** 2, (xg.asarray(np.array([0.5 + 0.2j, -1.0 + 1.0j]), requires_grad=True),)),
], ids=["sin", "binary", "tuple_out", "fixed_tensor", "fixed_number", "complex", "complex_to_real"])
def test_gradcheck_and_gradgradcheck_pass_correct_functions(f, args, fast_mode):
    assert testing.gradcheck(f, args, fast_mode=fast_mode) is True
    assert testing.gradgradcheck(f, args, fast_mode=fast_mode) is True


def test_gradcheck_takes_a_single_tensor():
    assert testing.gradcheck(xg.exp, XR)


def test_a_wrong_vjp_fails_gradcheck_with_where_and_by_how_much():
    with pytest.raises(testing.GradcheckError) as info:
        testing.gradcheck(sin_vjp_twice, (XR,))
    msg = str(info.value)
    # the largest difference is at x = 0.5: analytical 2 cos(0.5) = 1.7552, numerical cos(0.5) = 0.87758
    assert "gradcheck(sin_vjp_twice): the Jacobian of the output with respect to input 0" in msg
    assert "max abs difference 0.877583 at output element (0,), input element (0,)" in msg
    assert "analytical (xpgrad) 1.755165" in msg and "numerical 0.877582" in msg
    assert isinstance(info.value, AssertionError) and isinstance(info.value, xg.XpgradError)
    with pytest.raises(testing.GradcheckError, match=r"fast_mode=True.*input 0"):
        testing.gradcheck(sin_vjp_twice, (XR,), fast_mode=True)
    assert testing.gradcheck(sin_vjp_twice, (XR,), raise_exception=False) is False


def test_the_failing_input_is_named():
    # d/db [a sin b] is a cos b; the VJP says 2 a cos b: off by |a cos b| = [1.316, 0.162, 0.291]
    with pytest.raises(testing.GradcheckError,
                       match=r"with respect to input 1 .*difference 1.31637 at output element \(0,\)"):
        testing.gradcheck(lambda a, b: a * sin_vjp_twice(b), (YR, XR))


def test_a_vjp_that_is_right_but_not_differentiable_passes_gradcheck_and_fails_gradgradcheck():
    assert testing.gradcheck(sin_vjp_detached_x, (XR,))
    with pytest.raises(testing.GradcheckError) as info:
        testing.gradgradcheck(sin_vjp_detached_x, (XR,))
    msg = str(info.value)
    # d/dx (g cos x) = -g sin x, but xpgrad differentiates a detached cos(x): 0
    assert ("gradgradcheck(sin_vjp_detached_x): the Jacobian of the gradient for input 0 with respect to "
            "input 0") in msg
    assert "analytical (xpgrad) 0," in msg
    assert testing.gradgradcheck(sin_vjp_detached_x, (XR,), raise_exception=False) is False
    assert testing.gradgradcheck(sin_vjp_detached_x, (XR,), raise_exception=False, fast_mode=True) is False


def test_gradgradcheck_differentiates_with_respect_to_the_output_cotangents_too():
    assert testing.gradcheck(sin_vjp_detached_g, (XR,))
    u = xg.asarray([0.3, -1.0, 2.0])
    # with a fixed cotangent only the inputs are differentiated: the detached g goes unnoticed
    assert testing.gradgradcheck(sin_vjp_detached_g, (XR,), grad_outputs=(u,))
    with pytest.raises(testing.GradcheckError,
                       match=r"the gradient for input 0 with respect to grad_outputs\[0\]"):
        testing.gradgradcheck(sin_vjp_detached_g, (XR,), grad_outputs=(u.requires_grad_(),))
    with pytest.raises(testing.GradcheckError, match="grad_outputs\\[0\\]"):
        testing.gradgradcheck(sin_vjp_detached_g, (XR,))     # random cotangents require grad


def test_gradcheck_refuses_bad_inputs_clearly():
    with pytest.raises(xg.DTypeError,
                       match=r"input 0 is \(2,\) float32 on cpu; finite differences need float64"):
        testing.gradcheck(xg.sin, (xg.asarray([1.0, 2.0], dtype=xg.float32, requires_grad=True),))
    with pytest.raises(xg.NotDifferentiableError, match="no input requires grad"):
        testing.gradcheck(xg.sin, (xg.asarray([1.0, 2.0]),))
    with pytest.raises(xg.ShapeError, match="2 grad_outputs for 1 floating outputs"):
        testing.gradgradcheck(xg.sin, (XR,), grad_outputs=(XR, XR))
    with pytest.raises(xg.ShapeError,
                       match=r"grad_outputs\[0\] is \(2,\) float64 on cpu but output 0 is \(3,\)"):
        testing.gradgradcheck(xg.sin, (XR,), grad_outputs=(xg.asarray([1.0, 2.0]),))
    with pytest.raises(xg.DTypeError, match=r"grad_outputs\[0\] is \(3,\) float32"):
        u32 = xg.asarray([1.0, 2.0, 3.0], dtype=xg.float32, requires_grad=True)
        testing.gradgradcheck(xg.sin, (XR,), grad_outputs=(u32,))




def test_gradcheck_and_gradgradcheck_on_a_device(device):
    x = xg.asarray([0.5, 1.0, 2.0], requires_grad=True, device=device)
    y = xg.asarray([1.5, -0.3, 0.7], requires_grad=True, device=device)
    seen = set()

    def f(a, b):
        seen.add((a.device, b.device))         # every evaluation, the finite differences' too
        return xg.sin(a) * b + a / (1.0 + b * b)

    assert testing.gradcheck(f, (x, y)) and testing.gradgradcheck(f, (x, y))
    assert seen == {(device, device)}
    assert not testing.gradcheck(sin_vjp_twice, (x,), raise_exception=False)
    assert testing.gradcheck(sin_vjp_detached_x, (x,))
    assert not testing.gradgradcheck(sin_vjp_detached_x, (x,), raise_exception=False)


COMPOSITIONS = [
    lambda a, b: xg.sin(a) * b + xg.exp(-a * a),
    lambda a, b: xg.tanh(a) / (1.0 + b * b),
    lambda a, b: xg.log1p(a * a) * xg.cos(b) - xg.sqrt(1.0 + b * b),
    lambda a, b: xg.sum(a * xg.sigmoid(b), axis=-1),
]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, len(COMPOSITIONS) - 1),
       st.lists(st.integers(1, 3), min_size=0, max_size=3).filter(lambda s: np.prod(s) <= 8),
       st.booleans(), st.integers(0, 2 ** 16))
def test_property_elementwise_compositions_pass_at_random_shapes(which, shape, broadcast, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    b_shape = shape[-1:] if broadcast else shape          # b broadcasts against a along the last axis
    a = xg.asarray(rng.uniform(-2, 2, shape), requires_grad=True)
    b = xg.asarray(rng.uniform(-2, 2, b_shape), requires_grad=True)
    f = COMPOSITIONS[which]
    assert testing.gradcheck(f, (a, b))
    assert testing.gradgradcheck(f, (a, b))
