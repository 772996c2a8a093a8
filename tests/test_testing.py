"""xpgrad.testing: check_grads passes correct rules and catches wrong ones at the order they break."""

import numpy as np
import pytest

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
