"""User-defined ops: defop / defvjp / defjvp, derived rules, and the registry itself.

Every op here lives in a private registry (``defop(..., registry=REG)``), so the
global op table, which ``tests/ops`` walks, never sees them.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.core.registry import ZERO
from xpgrad.testing import check_grads

REG: dict = {}


def d_fwd(f, x):
    """df/dx at x by forward mode (one jvp)."""
    return xg.jvp(f, (x,), (xg.ones_like(xg.asarray(x)),))[1]


def scalar_grad(f):
    return xg.grad(lambda x: xg.sum(f(x)))


# ---------------------------------------------------------------- a user op with both rules

@xg.defop("test_user_cube", registry=REG)
def cube(xp, x, /):
    return x * x * x


cube.defvjp(lambda xp, g, out, x: 3 * g * x * x)
cube.defjvp(lambda xp, t, out, x: 3 * t * x * x)


@xg.defop("test_user_x_sin_y", broadcasting=True, registry=REG)
def x_sin_y(xp, x, y, /):
    return x * xp.sin(y)


x_sin_y.defvjp(lambda xp, g, out, x, y: g * xp.sin(y),
               lambda xp, g, out, x, y: g * x * xp.cos(y))
x_sin_y.defjvp(lambda xp, t, out, x, y: t * xp.sin(y),
               lambda xp, t, out, x, y: x * xp.cos(y) * t)


def test_private_registry_keeps_the_global_table_clean():
    assert "test_user_cube" in REG and REG["test_user_cube"] is cube
    assert "test_user_cube" not in xg.registered_ops()
    with pytest.raises(xg.RegistryError):
        xg.get_op("test_user_cube")


def test_user_op_forward_and_metadata():
    assert cube(xg.asarray(2.0)).item() == 8.0
    assert cube.name == "test_user_cube" and cube.nin == 1
    assert repr(cube) == "<op test_user_cube>"
    y = cube(xg.asarray(2.0, requires_grad=True))
    assert y.grad_fn.name == "test_user_cube"


def test_user_op_first_and_second_derivatives_reverse():
    x = xg.asarray(2.0)
    assert xg.grad(cube)(x).item() == 12.0                  # 3x²
    assert xg.grad(xg.grad(cube))(x).item() == 12.0         # 6x
    assert xg.grad(xg.grad(xg.grad(cube)))(x).item() == 6.0


def test_user_op_first_and_second_derivatives_forward():
    x = xg.asarray(2.0)
    assert d_fwd(cube, x).item() == 12.0
    assert d_fwd(lambda x: d_fwd(cube, x), x).item() == 12.0
    assert d_fwd(lambda x: d_fwd(lambda x: d_fwd(cube, x), x), x).item() == 6.0


def test_user_op_second_derivatives_mixed():
    x = xg.asarray(2.0)
    assert xg.grad(lambda x: d_fwd(cube, x))(x).item() == 12.0
    assert d_fwd(xg.grad(cube), x).item() == 12.0


def test_user_op_through_backward():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    cube(x).sum().backward(create_graph=True)
    g = x.grad
    assert g.tolist() == [3.0, 12.0]
    x.grad = None
    g.sum().backward()
    assert x.grad.tolist() == [6.0, 12.0]


def test_two_input_user_op_by_hand():
    a, b = 3.0, 0.5
    gx, gy = xg.grad(x_sin_y, argnums=(0, 1))(a, b)
    assert gx.item() == pytest.approx(math.sin(b), rel=1e-15)
    assert gy.item() == pytest.approx(a * math.cos(b), rel=1e-15)
    # d²/dy² = -x sin y, d²/dxdy = cos y
    assert xg.grad(xg.grad(x_sin_y, 1), 1)(a, b).item() == pytest.approx(-a * math.sin(b), rel=1e-15)
    assert xg.grad(xg.grad(x_sin_y, 1), 0)(a, b).item() == pytest.approx(math.cos(b), rel=1e-15)
    _, t = xg.jvp(x_sin_y, (a, b), (1.0, 2.0))
    assert t.item() == pytest.approx(math.sin(b) + 2 * a * math.cos(b), rel=1e-15)


def test_two_input_user_op_broadcasts_and_unbroadcasts():
    x = xg.asarray([[1.0], [2.0]], requires_grad=True)   # (2, 1)
    y = xg.asarray([0.0, 0.5, 1.0], requires_grad=True)  # (3,)
    out = x_sin_y(x, y)
    assert out.shape == (2, 3)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 1), np.sin([0.0, 0.5, 1.0]).sum()))
    np.testing.assert_allclose(y.grad.numpy(), 3.0 * np.cos([0.0, 0.5, 1.0]))


USER_OP_ARGS = [
    (cube, (xg.asarray([0.5, -1.5, 2.0]),)),
    (x_sin_y, (xg.asarray([0.5, -1.5]), xg.asarray([0.3, 2.0]))),
]


@pytest.mark.parametrize("op,args", USER_OP_ARGS, ids=["cube", "x_sin_y"])
def test_user_ops_pass_check_grads_to_second_order(op, args):
    check_grads(op, args, order=2)


@pytest.mark.parametrize("op,args", USER_OP_ARGS, ids=["cube", "x_sin_y"])
def test_user_ops_pass_check_grads_to_third_order(op, args):
    check_grads(op, args, order=3)


# ---------------------------------------------------------------- per-input vs single rules

@xg.defop("test_user_mul_single", broadcasting=True, registry=REG)
def mul_single(xp, x, y, /):
    return x * y


mul_single.defvjp(lambda xp, g, out, x, y: (g * y, g * x))
mul_single.defjvp(lambda xp, dx, dy, out, x, y: dx * y + x * dy)  # ZERO stands for absent tangents


def test_single_function_rules():
    assert mul_single.vjp is not None and mul_single.vjps is None
    assert mul_single.jvp is not None and mul_single.jvps is None
    gx, gy = xg.grad(lambda a, b: mul_single(a, b), argnums=(0, 1))(3.0, 4.0)
    assert (gx.item(), gy.item()) == (4.0, 3.0)
    _, t = xg.jvp(lambda a: mul_single(a, xg.asarray(4.0)), (3.0,), (1.0,))  # dy is ZERO
    assert t.item() == 4.0 and t.dtype == xg.float64
    _, t = xg.jvp(lambda b: mul_single(xg.asarray([3.0, 5.0]), b), (xg.ones(2),), (xg.ones(2),))
    assert t.tolist() == [3.0, 5.0] and t.dtype == xg.float64   # dx is ZERO
    # reverse over forward with a ZERO tangent inside
    g = xg.grad(lambda b: xg.jvp(lambda a: mul_single(a, b), (3.0,), (1.0,))[1])(4.0)
    assert g.item() == 1.0
    check_grads(mul_single, (xg.asarray([1.0, 2.0]), xg.asarray([-1.0, 0.5])), order=2)


def test_zero_tangent_on_the_left_is_symbolic():
    t = xg.asarray([1.0, 2.0])
    assert ZERO * t is ZERO and ZERO @ t is ZERO and ZERO / 2.0 is ZERO
    assert (ZERO + t) is t and (ZERO - t).tolist() == [-1.0, -2.0]
    assert -ZERO is ZERO and not ZERO


def test_zero_tangent_on_the_right_is_symbolic():
    # A single-function JVP computes `dx * y + x * dy` with dy = ZERO: no object arrays appear.
    t = xg.asarray([1.0, 2.0])
    assert t * ZERO is ZERO and ZERO * t is ZERO
    for r in (t + ZERO, t - ZERO, ZERO + t):
        assert isinstance(r, xg.Tensor) and r.dtype == xg.float64
        np.testing.assert_array_equal(r.numpy(), [1.0, 2.0])


@xg.defop("test_user_scale", registry=REG)
def scale(xp, x, /, *, factor=2.0):
    return x * factor


scale.defvjp(lambda xp, g, out, x, factor=2.0: g * factor)
scale.defjvp(lambda xp, t, out, x, factor=2.0: t * factor)


def test_static_parameters_positional_and_keyword():
    assert scale.param_names == ["factor"] and scale.nin == 1
    x = xg.asarray([1.0, 2.0])
    assert scale(x).tolist() == [2.0, 4.0]
    assert scale(x, factor=5.0).tolist() == [5.0, 10.0]
    assert scale(x, 5.0).tolist() == [5.0, 10.0]  # extra positional goes to the parameters
    assert xg.grad(lambda v: scale(v, factor=-3.0).sum())(x).tolist() == [-3.0, -3.0]
    with pytest.raises(TypeError, match="multiple values"):
        scale(x, 5.0, factor=1.0)
    with pytest.raises(TypeError, match="array argument"):
        x_sin_y(x)


@xg.defop("test_user_where_like", registry=REG)
def pick(xp, x, mask, /):
    return xp.where(mask, x, 0.0)


pick.defvjp(lambda xp, g, out, x, mask: xp.where(mask, g, 0.0), None)  # not differentiable in mask
pick.defjvp(lambda xp, t, out, x, mask: xp.where(mask, t, 0.0), None)


def test_none_rule_declares_an_input_not_differentiable():
    x = xg.asarray([1.0, 2.0, 3.0], requires_grad=True)
    m = xg.asarray([True, False, True])
    pick(x, m).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 1.0]
    _, t = xg.jvp(lambda v: pick(v, m), (xg.asarray([1.0, 2.0, 3.0]),), (xg.ones(3),))
    assert t.tolist() == [1.0, 0.0, 1.0]


@xg.defop("test_user_sum_all", registry=REG)
def sum_all(xp, *arrays):
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total


sum_all.defvjp(lambda xp, g, out, *arrays: tuple(g for _ in arrays))
sum_all.defjvp(lambda xp, tangents, out, *arrays: sum((t for t in tangents if t is not ZERO), ZERO))


def test_variadic_op():
    assert sum_all.variadic
    a, b, c = (xg.asarray(v, requires_grad=True) for v in (1.0, 2.0, 3.0))
    y = sum_all(a, b * b, c)
    assert y.item() == 8.0
    y.backward()
    assert (a.grad.item(), b.grad.item(), c.grad.item()) == (1.0, 4.0, 1.0)
    _, t = xg.jvp(lambda u, v: sum_all(u, v, xg.asarray(1.0)), (1.0, 2.0), (1.0, 10.0))
    assert t.item() == 11.0


@xg.defop("test_user_floor", differentiable=False, registry=REG)
def floor_op(xp, x, /):
    return xp.floor(x)


def test_non_differentiable_op_results_do_not_require_grad():
    x = xg.asarray([1.5, 2.5], requires_grad=True)
    y = floor_op(x)
    assert y.tolist() == [1.0, 2.0] and not y.requires_grad
    floor_op._complete()  # nothing to derive, no error


# ---------------------------------------------------------------- derived rules

def _only_jvp(name):
    @xg.defop(name, broadcasting=True, registry=REG)
    def f(xp, x, y, /):
        return x * x * y                                   # f = x²y

    f.defjvp(lambda xp, t, out, x, y: 2 * x * y * t,
             lambda xp, t, out, x, y: x * x * t)
    f._complete()
    return f


def _only_vjp(name):
    @xg.defop(name, broadcasting=True, registry=REG)
    def f(xp, x, y, /):
        return x * x * y

    f.defvjp(lambda xp, g, out, x, y: 2 * g * x * y,
             lambda xp, g, out, x, y: g * x * x)
    f._complete()
    return f


only_jvp = _only_jvp("test_user_only_jvp")
only_vjp = _only_vjp("test_user_only_vjp")


@xg.defop("test_user_only_jvp_unary", registry=REG)
def sin_only_jvp(xp, x, /):
    return xp.sin(x)


sin_only_jvp.defjvp(lambda xp, t, out, x: xp.cos(x) * t)
sin_only_jvp._complete()


@xg.defop("test_user_only_vjp_unary", registry=REG)
def sin_only_vjp(xp, x, /):
    return xp.sin(x)


sin_only_vjp.defvjp(lambda xp, g, out, x: g * xp.cos(x))
sin_only_vjp._complete()


def test_complete_records_what_was_derived():
    assert only_jvp.derived == "vjp" and only_jvp.has_vjp
    assert only_vjp.derived == "jvp" and only_vjp.has_jvp
    assert cube.derived is None


@pytest.mark.parametrize("op", [only_jvp, only_vjp], ids=["vjp_from_jvp", "jvp_from_vjp"])
def test_derived_rule_by_hand(op):
    # f = x²y at (3, 2): ∂f/∂x = 2xy = 12, ∂f/∂y = x² = 9; ∂²f/∂x² = 2y = 4, ∂²f/∂x∂y = 2x = 6
    gx, gy = xg.grad(op, argnums=(0, 1))(3.0, 2.0)
    assert (gx.item(), gy.item()) == (12.0, 9.0)
    _, t = xg.jvp(op, (3.0, 2.0), (1.0, 1.0))
    assert t.item() == 21.0
    assert xg.grad(xg.grad(op, 0), 0)(3.0, 2.0).item() == 4.0
    assert xg.grad(xg.grad(op, 0), 1)(3.0, 2.0).item() == 6.0
    dfdx = lambda x, y: xg.jvp(lambda u: op(u, y), (x,), (1.0,))[1]
    assert xg.jvp(lambda u: dfdx(u, xg.asarray(2.0)), (3.0,), (1.0,))[1].item() == 4.0
    assert xg.grad(dfdx, 1)(3.0, 2.0).item() == 6.0


@pytest.mark.parametrize("op", [only_jvp, only_vjp], ids=["vjp_from_jvp", "jvp_from_vjp"])
def test_derived_rule_passes_check_grads_to_second_order(op):
    check_grads(op, (xg.asarray([0.5, -1.5, 2.0]), xg.asarray([1.0, 0.3, -0.7])), order=2)


@pytest.mark.parametrize("op", [only_jvp, only_vjp], ids=["vjp_from_jvp", "jvp_from_vjp"])
def test_derived_rule_with_broadcasting(op):
    x = xg.asarray([[1.0], [2.0]], requires_grad=True)
    y = xg.asarray([1.0, 2.0, 3.0], requires_grad=True)
    op(x, y).sum().backward()
    assert x.grad.tolist() == [[2 * 1.0 * 6.0], [2 * 2.0 * 6.0]]   # Σ_j 2x y_j
    assert y.grad.tolist() == [5.0, 5.0, 5.0]                      # Σ_i x_i²


@pytest.mark.parametrize("op", [sin_only_jvp, sin_only_vjp], ids=["vjp_from_jvp", "jvp_from_vjp"])
@settings(max_examples=15, deadline=None)
@given(a=st.floats(-3, 3))
def test_derived_unary_rules_to_third_order(op, a):
    x = xg.asarray(a)
    assert xg.grad(op)(x).item() == pytest.approx(math.cos(a), abs=1e-14)
    assert xg.grad(xg.grad(op))(x).item() == pytest.approx(-math.sin(a), abs=1e-14)
    assert d_fwd(lambda u: d_fwd(lambda v: d_fwd(op, v), u), x).item() == \
        pytest.approx(-math.cos(a), abs=1e-14)
    assert xg.grad(lambda u: d_fwd(op, u))(x).item() == pytest.approx(-math.sin(a), abs=1e-14)


@pytest.mark.parametrize("op", [sin_only_jvp, sin_only_vjp], ids=["vjp_from_jvp", "jvp_from_vjp"])
def test_derived_unary_rules_check_grads(op):
    check_grads(op, (xg.asarray([0.3, -1.2, 2.5]),), order=2)


# ---------------------------------------------------------------- the global registry

def test_global_registry_lookup():
    ops = xg.registered_ops()
    assert ops["multiply"] is xg.get_op("multiply")
    ops.pop("multiply")  # a copy
    assert "multiply" in xg.registered_ops()


def test_replace_true_overrides_in_a_private_registry():
    reg: dict = {}
    xg.defop("dup", registry=reg)(lambda xp, x, /: x)
    second = xg.defop("dup", replace=True, registry=reg)(lambda xp, x, /: 2 * x)
    assert reg["dup"] is second


def test_defvjp_without_rules_is_an_error():
    with pytest.raises(xg.RegistryError, match="at least one rule"):
        cube.defvjp()
    with pytest.raises(xg.RegistryError, match="at least one rule"):
        cube.defjvp()


def test_vjp_rule_returning_wrong_count_is_reported():
    @xg.defop("test_user_bad_count", registry={})
    def bad(xp, x, y, /):
        return x * y

    bad.defvjp(lambda xp, g, out, x, y: (g * y,))
    bad.defjvp(lambda xp, dx, dy, out, x, y: dx * y + x * dy)
    with pytest.raises(xg.BackwardError, match=r"'test_user_bad_count'.*1 cotangents for 2 inputs"):
        bad(xg.asarray(1.0, requires_grad=True), xg.asarray(2.0)).backward()


def test_vjp_rule_returning_wrong_shape_is_reported():
    @xg.defop("test_user_bad_shape", registry={})
    def bad(xp, x, /):
        return x * 2

    bad.defvjp(lambda xp, g, out, x: xp.sum(g))
    bad.defjvp(lambda xp, t, out, x: 2 * t)
    with pytest.raises(xg.BackwardError, match=r"'test_user_bad_shape'.*shape \(\).*shape \(3,\)"):
        bad(xg.ones(3, requires_grad=True)).sum().backward()
