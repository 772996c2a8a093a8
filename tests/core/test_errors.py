"""Errors are part of the API: one hierarchy, built-in bases, messages naming op, shapes, dtypes."""

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.core import errors

# (exception, the built-in a Python programmer would catch)
HIERARCHY = [
    (xg.ShapeError, ValueError),
    (xg.DTypeError, TypeError),
    (xg.DeviceError, ValueError),
    (xg.DeviceMismatchError, ValueError),
    (xg.OpError, ValueError),
    (xg.IndexOutOfBoundsError, IndexError),
    (xg.NotDifferentiableError, TypeError),
    (xg.GraphFreedError, RuntimeError),
    (xg.InplaceError, RuntimeError),
    (xg.BackwardError, RuntimeError),
    (xg.RegistryError, ValueError),
]


@pytest.mark.parametrize("exc,builtin", HIERARCHY, ids=[e.__name__ for e, _ in HIERARCHY])
def test_every_error_derives_from_xpgrad_error_and_a_builtin(exc, builtin):
    assert issubclass(exc, xg.XpgradError)
    assert issubclass(exc, builtin)
    with pytest.raises(builtin):
        raise exc("message")


def test_every_exported_error_derives_from_xpgrad_error_and_a_builtin():
    exported = [getattr(errors, n) for n in errors.__all__ if n not in ("XpgradError", "describe")]
    assert {e for e, _ in HIERARCHY} <= set(exported)
    builtins = (ValueError, TypeError, RuntimeError, IndexError, KeyError, LookupError, MemoryError,
                FloatingPointError)
    for exc in exported:
        assert issubclass(exc, xg.XpgradError), exc
        assert issubclass(exc, builtins), f"{exc.__name__} derives from no built-in exception"
        assert getattr(xg, exc.__name__) is exc, f"{exc.__name__} is not exported from xpgrad"


def test_describe_names_shape_dtype_and_device():
    assert errors.describe(xg.ones((2, 3))) == "(2, 3) float64 on cpu"
    assert errors.describe(2.5) == "float 2.5"


# ---------------------------------------------------------------- shapes

def test_matmul_shape_mismatch_names_op_and_shapes():
    a, b = xg.ones((2, 3)), xg.ones((2, 3))
    try:
        a @ b
    except ValueError as exc:  # caught as the built-in, like any Python library's error
        assert isinstance(exc, xg.ShapeError) and isinstance(exc, xg.XpgradError)
        msg = str(exc)
    else:
        pytest.fail("matmul of (2, 3) and (2, 3) did not raise")
    assert "matmul" in msg
    assert msg.count("(2, 3)") >= 2


def test_matmul_shape_mismatch_through_the_function_and_with_grad():
    a = xg.ones((4, 5), requires_grad=True)
    with pytest.raises(xg.XpgradError, match=r"matmul.*\(4, 5\).*\(3, 2\)"):
        xg.matmul(a, xg.ones((3, 2)))


def test_add_shape_mismatch_is_a_shape_error_naming_both_shapes():
    with pytest.raises(xg.ShapeError) as info:
        xg.ones((2, 3)) + xg.ones((4,))
    msg = str(info.value)
    assert "'add'" in msg
    assert "(2, 3)" in msg and "(4,)" in msg
    assert "[3, 4]" in msg  # the clashing axis sizes


def test_add_shape_mismatch_caught_as_value_error():
    try:
        xg.add(xg.ones((5,)), xg.ones((6,)))
    except ValueError as exc:
        assert "(5,)" in str(exc) and "(6,)" in str(exc)
    else:
        pytest.fail("no error")


def test_in_place_broadcast_that_changes_shape_raises():
    x = xg.ones((3,))
    with pytest.raises(xg.OpError, match=r"(?s)add.*\(3,\).*\(2, 3\)"):
        x += xg.ones((2, 3))


# ---------------------------------------------------------------- backward misuse

def test_backward_on_non_scalar_without_grad():
    y = xg.asarray([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(xg.BackwardError, match=r"\(2,\)") as info:
        y.backward()
    assert isinstance(info.value, RuntimeError)
    assert "grad" in str(info.value)


def test_backward_with_wrongly_shaped_grad():
    y = xg.asarray([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(xg.BackwardError, match=r"\(3,\).*\(2,\)"):
        y.backward(xg.ones((3,)))


def test_backward_on_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        xg.asarray(1.0).backward()


def test_backward_twice_without_retain_graph():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    y = xg.exp(x).sum()
    y.backward()
    with pytest.raises(xg.GraphFreedError, match="retain_graph=True") as info:
        y.backward()
    assert isinstance(info.value, RuntimeError)
    assert "'sum'" in str(info.value)


def test_retain_graph_allows_second_backward_and_doubles_grad():
    x = xg.asarray([0.0, 1.0], requires_grad=True)
    y = xg.exp(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([0.0, 1.0]), rtol=1e-15)


# ---------------------------------------------------------------- integer inputs

def test_integer_tensor_cannot_require_grad():
    try:
        xg.asarray([1, 2, 3], requires_grad=True)
    except TypeError as exc:
        assert isinstance(exc, xg.NotDifferentiableError)
        assert "int64" in str(exc)
        assert "float" in str(exc)  # says what to do
    else:
        pytest.fail("integer tensor accepted requires_grad=True")


def test_requires_grad_setter_on_integer_tensor():
    x = xg.asarray([1, 2])
    with pytest.raises(xg.NotDifferentiableError, match="int64"):
        x.requires_grad = True


@pytest.mark.parametrize("arg", [np.array([1, 2]), xg.asarray([1, 2])], ids=["numpy", "tensor"])
def test_grad_of_integer_input(arg):
    with pytest.raises(TypeError, match="int64") as info:
        xg.grad(lambda x: (x * x).sum())(arg)
    assert isinstance(info.value, xg.NotDifferentiableError)
    assert "argument 0" in str(info.value)


def test_jvp_of_integer_primal():
    with pytest.raises(xg.NotDifferentiableError, match="int64"):
        xg.jvp(lambda x: x * 2, (xg.asarray([1, 2]),), (xg.asarray([1, 1]),))


def test_grad_of_non_scalar_function():
    with pytest.raises(xg.ShapeError, match=r"scalar.*\(2,\)"):
        xg.grad(lambda x: x * 2)(xg.asarray([1.0, 2.0]))


def test_requires_grad_on_non_leaf_cannot_be_switched_off():
    y = xg.asarray([1.0], requires_grad=True) * 2
    with pytest.raises(xg.NotDifferentiableError, match="detach"):
        y.requires_grad = False


def test_hook_on_tensor_without_grad():
    with pytest.raises(xg.NotDifferentiableError):
        xg.ones(2).register_hook(lambda g: g)


# ---------------------------------------------------------------- in-place changes to saved values

def test_inplace_change_of_saved_input_under_no_grad():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    w = xg.asarray([3.0, 4.0])
    y = x * w
    with xg.no_grad():
        w += 1
    with pytest.raises(xg.InplaceError) as info:
        y.sum().backward()
    msg = str(info.value)
    assert "'multiply'" in msg and "input 1" in msg and "(2,) float64" in msg
    assert isinstance(info.value, RuntimeError)


def test_inplace_change_of_saved_output():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    y = xg.exp(x)
    with xg.no_grad():
        y += 1
    with pytest.raises(xg.InplaceError, match="output of 'exp'"):
        y.sum().backward()


def test_inplace_change_through_a_view_of_a_saved_tensor():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    w = xg.asarray([3.0, 4.0])
    y = x * w
    v = w[0:1]
    with xg.no_grad():
        v += 1
    assert w.tolist() == [4.0, 4.0]  # the write went into w's buffer
    with pytest.raises(xg.InplaceError, match="multiply"):
        y.sum().backward()


def test_setitem_into_saved_tensor_under_no_grad():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    w = xg.asarray([3.0, 4.0])
    y = x * w
    w[0] = 10.0
    with pytest.raises(xg.InplaceError):
        y.sum().backward()


def test_inplace_on_leaf_that_requires_grad():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    with pytest.raises(xg.InplaceError, match=r"leaf.*no_grad"):
        x += 1
    with pytest.raises(RuntimeError):
        x[0] = 5.0
    assert x.tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- registry

def test_duplicate_op_name_is_a_registry_error():
    reg: dict = {}

    @xg.defop("twice", registry=reg)
    def twice(xp, x, /):
        return 2 * x

    with pytest.raises(ValueError, match="'twice' is already registered") as info:
        xg.defop("twice", registry=reg)(lambda xp, x, /: 2 * x)
    assert isinstance(info.value, xg.RegistryError)


def test_unknown_op_name():
    with pytest.raises(xg.RegistryError, match="no op named 'no_such_op_xyz'"):
        xg.get_op("no_such_op_xyz")


def test_op_without_rules_cannot_be_completed():
    @xg.defop("ruleless", registry={})
    def ruleless(xp, x, /):
        return x

    with pytest.raises(xg.RegistryError, match=r"'ruleless'.*neither a VJP nor a JVP"):
        ruleless._complete()


def test_tensor_cannot_be_pickled():
    import pickle

    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(xg.ones(2))


def test_item_of_many_elements():
    with pytest.raises(ValueError, match=r"\(2,\)"):
        xg.ones(2).item()


def test_transpose_of_3d_tensor():
    with pytest.raises(xg.OpError, match=r"mT"):
        _ = xg.ones((2, 3, 4)).T
