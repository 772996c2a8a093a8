"""Forward mode: tangents beside primals, one level per jvp, nesting without perturbation confusion."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.core import tape

finite = st.floats(-10, 10, allow_nan=False)


def d_fwd(f):
    """x ↦ f'(x) by one jvp with tangent 1."""
    return lambda x: xg.jvp(f, (x,), (xg.ones_like(xg.asarray(x)),))[1]


def d_rev(f):
    return xg.grad(f)


# ---------------------------------------------------------------- the seeds' examples

def z(x, y):
    return 2 * x ** 2 + 3 * y + 1


def test_seed_z_forward():
    _, dzdy = xg.jvp(z, (2.0, 5.0), (0.0, 1.0))
    _, dzdx = xg.jvp(z, (2.0, 5.0), (1.0, 0.0))
    assert (dzdy.item(), dzdx.item()) == (3.0, 8.0)
    d2 = d_fwd(d_fwd(lambda x: z(x, 5.0)))(xg.asarray(2.0))
    assert d2.item() == 4.0


def test_seed_cube_forward():
    f = lambda x: x ** 3
    assert d_fwd(f)(xg.asarray(2.0)).item() == 12.0
    assert d_fwd(d_fwd(f))(xg.asarray(2.0)).item() == 12.0
    assert d_fwd(d_fwd(d_fwd(f)))(xg.asarray(2.0)).item() == 6.0


@pytest.mark.parametrize("d1,d2,d3", [
    (d_rev, d_rev, d_rev), (d_fwd, d_fwd, d_fwd),
    (d_rev, d_fwd, d_rev), (d_fwd, d_rev, d_fwd),
    (d_rev, d_rev, d_fwd), (d_fwd, d_fwd, d_rev),
    (d_fwd, d_rev, d_rev), (d_rev, d_fwd, d_fwd),
], ids=lambda d: d.__name__[2:])
@settings(max_examples=15, deadline=None)
@given(a=st.floats(-4, 4))
def test_seed_third_derivative_of_sin_every_mode(d1, d2, d3, a):
    got = d1(d2(d3(xg.sin)))(xg.asarray(a)).item()
    assert got == pytest.approx(-math.cos(a), abs=1e-14)


@pytest.mark.parametrize("d1,d2", [(d_rev, d_rev), (d_fwd, d_fwd), (d_rev, d_fwd), (d_fwd, d_rev)],
                         ids=lambda d: d.__name__[2:])
def test_seed_second_derivatives_every_mode(d1, d2):
    assert d1(d2(lambda x: z(x, 5.0)))(xg.asarray(2.0)).item() == 4.0
    assert d1(d2(lambda x: x ** 3))(xg.asarray(2.0)).item() == 12.0
    assert d2(lambda y: z(2.0, y))(xg.asarray(5.0)).item() == 3.0


# ---------------------------------------------------------------- perturbation confusion
# d/dx [ x · d/dy (x + y) ] = d/dx [ x · 1 ] = 1. A confused implementation gets 2.

def _inner_fwd(x):
    return xg.jvp(lambda y: x + y, (xg.asarray(1.0),), (xg.asarray(1.0),))[1]


def _inner_rev(x):
    return xg.grad(lambda y: x + y)(xg.asarray(1.0))


@pytest.mark.parametrize("outer,inner", [
    (d_fwd, _inner_fwd), (d_rev, _inner_rev), (d_rev, _inner_fwd), (d_fwd, _inner_rev),
], ids=["fwd-over-fwd", "rev-over-rev", "rev-over-fwd", "fwd-over-rev"])
@settings(max_examples=25, deadline=None)
@given(a=finite)
def test_perturbation_confusion(outer, inner, a):
    assert outer(lambda x: x * inner(x))(xg.asarray(a)).item() == 1.0


@settings(max_examples=25, deadline=None)
@given(a=finite, b=finite)
def test_perturbation_confusion_with_a_nontrivial_inner_function(a, b):
    # d/dx [ x · d/dy (x·y) ]|_y=b = d/dx x² = 2x
    inner = lambda x: xg.jvp(lambda y: x * y, (xg.asarray(b),), (xg.asarray(1.0),))[1]
    got = d_fwd(lambda x: x * inner(x))(xg.asarray(a)).item()
    assert got == pytest.approx(2 * a, rel=1e-15, abs=1e-15)
    got = d_rev(lambda x: x * xg.grad(lambda y: x * y)(xg.asarray(b)))(xg.asarray(a)).item()
    assert got == pytest.approx(2 * a, rel=1e-15, abs=1e-15)


def test_perturbation_confusion_through_backward():
    x = xg.asarray(3.0, requires_grad=True)
    (x * _inner_fwd(x)).backward()
    assert x.grad.item() == 1.0


# ---------------------------------------------------------------- jvp basics

def test_jvp_by_hand():
    y, t = xg.jvp(lambda x: x * x, (xg.asarray([1.0, 2.0]),), (xg.asarray([1.0, 10.0]),))
    assert y.tolist() == [1.0, 4.0]
    assert t.tolist() == [2.0, 40.0]
    assert isinstance(y, xg.Tensor) and isinstance(t, xg.Tensor)
    assert not y.requires_grad


def test_jvp_of_constant_function_is_zero():
    _, t = xg.jvp(lambda x: xg.ones(3), (xg.asarray(2.0),), (xg.asarray(1.0),))
    assert t.tolist() == [0.0, 0.0, 0.0]


def test_jvp_pytrees_and_numpy_and_floats():
    def f(p):
        return {"s": p["a"] * p["b"][0], "t": (p["b"][1] * 2.0,)}

    primals = ({"a": 3.0, "b": [np.array([1.0, 2.0]), xg.asarray(4.0)]},)
    tangents = ({"a": 1.0, "b": [np.array([0.0, 1.0]), xg.asarray(1.0)]},)
    y, t = xg.jvp(f, primals, tangents)
    assert y["s"].tolist() == [3.0, 6.0] and y["t"][0].item() == 8.0
    assert t["s"].tolist() == [1.0, 2.0 + 3.0] and t["t"][0].item() == 2.0
    assert isinstance(t["s"], xg.Tensor)


def test_jvp_has_aux():
    y, t, aux = xg.jvp(lambda x: (x * x, "note"), (3.0,), (1.0,), has_aux=True)
    assert (y.item(), t.item(), aux) == (9.0, 6.0, "note")


def test_jvp_tangent_dtype_follows_primal():
    _, t = xg.jvp(lambda x: x * 2, (xg.asarray([1.0], dtype=xg.float32),), (xg.asarray([1.0]),))
    assert t.dtype == xg.float32


def test_jvp_argument_checks():
    with pytest.raises(xg.ShapeError, match="2 primals but 1 tangents"):
        xg.jvp(lambda a, b: a, (1.0, 2.0), (1.0,))
    with pytest.raises(xg.ShapeError, match=r"tangent.*\(3,\).*primal.*\(2,\)"):
        xg.jvp(lambda a: a, (xg.ones(2),), (xg.ones(3),))
    with pytest.raises(TypeError, match="tuples or lists"):
        xg.jvp(lambda a: a, 1.0, 1.0)


def test_levels_are_released():
    before = tape.state.next_level
    d_fwd(d_fwd(xg.sin))(xg.asarray(1.0))
    assert tape.state.next_level == before
    with pytest.raises(ZeroDivisionError):
        xg.jvp(lambda x: 1 / 0, (1.0,), (1.0,))
    assert tape.state.next_level == before


def test_outputs_do_not_carry_tangents_after_jvp():
    y, t = xg.jvp(xg.sin, (xg.asarray(1.0),), (xg.asarray(1.0),))
    assert not y._tan and not t._tan


def test_forward_mode_works_under_no_grad():
    with xg.no_grad():
        _, t = xg.jvp(lambda x: x ** 3, (2.0,), (1.0,))
    assert t.item() == 12.0


def test_forward_over_reverse_under_no_grad():
    with xg.no_grad():
        _, t = xg.jvp(xg.grad(lambda x: x ** 3), (2.0,), (1.0,))
    assert t.item() == 12.0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=1, max_size=4), st.lists(st.floats(-2, 2), min_size=4,
                                                                      max_size=4))
def test_jvp_is_linear_in_the_tangent(xs, ts):
    x = xg.asarray(xs)
    t = xg.asarray(ts[: len(xs)])
    f = lambda v: xg.tanh(v) * v
    _, a = xg.jvp(f, (x,), (t,))
    _, b = xg.jvp(f, (x,), (3.0 * t,))
    np.testing.assert_allclose(b.numpy(), 3.0 * a.numpy(), rtol=1e-12, atol=1e-14)
    # and equals the analytic derivative (tanh v + v sech² v) · t
    v = np.array(xs)
    np.testing.assert_allclose(a.numpy(), (np.tanh(v) + v / np.cosh(v) ** 2) * np.array(ts[: len(xs)]),
                               rtol=1e-12, atol=1e-14)
