"""Tensor: Array API attributes, host interop, Python operators, indexing and in-place semantics."""

import operator
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg


def leaf(values):
    return xg.asarray(values, dtype=xg.float64, requires_grad=True)


# ---------------------------------------------------------------- attributes

def test_array_api_attributes():
    t = xg.asarray(np.arange(6.0).reshape(2, 3))
    assert t.dtype == xg.float64
    assert t.shape == (2, 3) and isinstance(t.shape, tuple)
    assert t.ndim == 2
    assert t.size == 6
    assert t.device == "cpu"
    assert t.__array_namespace__() is xg
    assert t.T.shape == (3, 2)
    assert t.T.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    b = xg.asarray(np.arange(24.0).reshape(2, 3, 4))
    assert b.mT.shape == (2, 4, 3)
    np.testing.assert_array_equal(b.mT.numpy(), np.swapaxes(np.arange(24.0).reshape(2, 3, 4), -1, -2))


def test_zero_dim_tensor():
    t = xg.asarray(2.5)
    assert t.shape == () and t.ndim == 0 and t.size == 1
    assert t.item() == 2.5 and isinstance(t.item(), float)
    assert float(t) == 2.5 and int(xg.asarray(3)) == 3 and bool(xg.asarray(1.0))
    with pytest.raises(TypeError):
        len(t)


def test_requires_grad_grad_and_leaves():
    x = leaf([1.0, 2.0])
    assert x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn.name == "multiply"
    c = xg.asarray([1.0])
    assert not c.requires_grad and c.is_leaf
    assert not (c * 2).requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad


def test_detach_shares_data_and_leaves_the_graph():
    x = leaf([1.0, 2.0])
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    assert d.tolist() == [3.0, 6.0]
    assert np.shares_memory(d.numpy(), y.numpy())


def test_detach_drops_tangents():
    def f(x):
        return x.detach() * x  # d/dx = detached x = 3

    _, t = xg.jvp(f, (xg.asarray(3.0),), (xg.asarray(1.0),))
    assert float(t) == 3.0


def test_item_tolist_numpy():
    t = xg.asarray([[1.0, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert xg.asarray([[7.0]]).item() == 7.0
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float64
    np.testing.assert_array_equal(a, [[1.0, 2.0], [3.0, 4.0]])


def test_numpy_shares_memory_on_cpu():
    t = xg.asarray([1.0, 2.0])
    t.numpy()[0] = 9.0
    assert t.tolist() == [9.0, 2.0]


def test_array_protocol():
    t = xg.asarray([1.0, 2.0, 3.0])
    a = np.asarray(t)
    assert type(a) is np.ndarray
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    c = np.array(t, copy=True)
    c[0] = -1.0
    assert t.tolist() == [1.0, 2.0, 3.0]


def test_array_protocol_warns_when_it_cuts_the_graph():
    t = xg.asarray([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.warns(UserWarning, match="cut off from the graph"):
        np.asarray(t * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with xg.no_grad():
            np.asarray(t * 2)                  # nothing is recorded: nothing to lose, no warning
        np.asarray(t.detach())


def test_dlpack():
    t = xg.asarray([1.0, 2.0, 3.0])
    a = np.from_dlpack(t)
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])
    assert np.shares_memory(a, t.numpy())
    assert t.__dlpack_device__() == np.ones(1).__dlpack_device__()


def test_len_iter_repr():
    t = xg.asarray([[1.0, 2.0], [3.0, 4.0]])
    assert len(t) == 2
    assert [r.tolist() for r in t] == [[1.0, 2.0], [3.0, 4.0]]
    assert repr(t).startswith("tensor(")
    assert "requires_grad=True" in repr(leaf([1.0]))
    assert "grad_fn=multiply" in repr(leaf([1.0]) * 2)


def test_index_dunder_only_for_integers():
    assert [10, 20, 30][xg.asarray(1)] == 20
    with pytest.raises(TypeError, match="integer"):
        [10, 20, 30][xg.asarray(1.0)]


# ---------------------------------------------------------------- operators

X = [1.0, 2.0, 4.0]
S = 3.0

# (operator, d/dx of op(x, s), d/dx of op(s, x)) at x = X, s = S; the numbers are by hand
BINARY = [
    (operator.add,      [1, 1, 1],                  [1, 1, 1]),
    (operator.sub,      [1, 1, 1],                  [-1, -1, -1]),
    (operator.mul,      [3, 3, 3],                  [3, 3, 3]),
    (operator.truediv,  [1 / 3, 1 / 3, 1 / 3],      [-3.0, -3 / 4, -3 / 16]),          # -s/x²
    (operator.pow,      [3.0, 12.0, 48.0],          [3 * np.log(3), 9 * np.log(3), 81 * np.log(3)]),
]
IDS = [op.__name__ for op, _, _ in BINARY]


@pytest.mark.parametrize("op,d_left,d_right", BINARY, ids=IDS)
def test_binary_operator_with_python_scalar(op, d_left, d_right):
    x = leaf(X)
    y = op(x, S)
    assert isinstance(y, xg.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.numpy(), op(np.array(X), S), rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), d_left, rtol=1e-14)

    x = leaf(X)
    y = op(S, x)  # reflected
    assert isinstance(y, xg.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.numpy(), op(S, np.array(X)), rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), d_right, rtol=1e-14)


@pytest.mark.parametrize("op,d_left,d_right", BINARY, ids=IDS)
def test_numpy_array_on_the_left_gives_a_differentiable_tensor(op, d_left, d_right):
    x = leaf(X)
    y = op(np.full(3, S), x)
    assert isinstance(y, xg.Tensor), f"np.ndarray {op.__name__} Tensor gave {type(y).__name__}"
    assert y.requires_grad
    np.testing.assert_allclose(y.numpy(), op(S, np.array(X)), rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), d_right, rtol=1e-14)


def test_numpy_times_tensor():
    t = leaf([1.0, 2.0, 3.0])
    y = np.ones(3) * t
    assert isinstance(y, xg.Tensor)
    (y * y).sum().backward()
    assert t.grad.tolist() == [2.0, 4.0, 6.0]


def test_matmul_operators():
    a = leaf([[1.0, 2.0], [3.0, 4.0]])
    b = leaf([[1.0], [-1.0]])
    y = a @ b
    assert y.tolist() == [[-1.0], [-1.0]]
    y.sum().backward()
    assert a.grad.tolist() == [[1.0, -1.0], [1.0, -1.0]]
    assert b.grad.tolist() == [[4.0], [6.0]]

    b2 = leaf([[1.0], [-1.0]])
    z = np.array([[1.0, 0.0], [0.0, 2.0]]) @ b2  # reflected with NumPy on the left
    assert isinstance(z, xg.Tensor) and z.tolist() == [[1.0], [-2.0]]
    z.sum().backward()
    assert b2.grad.tolist() == [[1.0], [2.0]]


def test_matmul_with_a_vector_operand():
    a = leaf([[1.0, 2.0], [3.0, 4.0]])
    v = leaf([1.0, -1.0])
    y = a @ v
    assert y.tolist() == [-1.0, -1.0]
    y.sum().backward()
    assert a.grad.tolist() == [[1.0, -1.0], [1.0, -1.0]]
    assert v.grad.tolist() == [4.0, 6.0]


def test_floordiv_and_mod():
    x = xg.asarray([7.0, -7.0])
    assert (x // 2.0).tolist() == [3.0, -4.0]
    assert (7.0 // xg.asarray([2.0, 3.0])).tolist() == [3.0, 2.0]
    assert (x % 3.0).tolist() == [1.0, 2.0]
    assert (8.0 % xg.asarray([3.0, 5.0])).tolist() == [2.0, 3.0]
    y = leaf([7.0, 5.5])
    (y % 2.0).sum().backward()  # d/dx (x mod c) = 1 away from the jumps
    assert y.grad.tolist() == [1.0, 1.0]


def test_unary_operators():
    x = leaf([-2.0, 3.0])
    assert (-x).tolist() == [2.0, -3.0]
    assert (+x).tolist() == [-2.0, 3.0]
    assert abs(x).tolist() == [2.0, 3.0]
    (abs(x) + -x + +x).sum().backward()
    assert x.grad.tolist() == [-1.0, 1.0]


def test_integer_bitwise_operators():
    a = xg.asarray([6, 3])
    assert (a & 2).tolist() == [2, 2]
    assert (a | 1).tolist() == [7, 3]
    assert (a ^ 1).tolist() == [7, 2]
    assert (~a).tolist() == [-7, -4]
    assert (a << 1).tolist() == [12, 6]
    assert (a >> 1).tolist() == [3, 1]
    assert (1 << xg.asarray([1, 2])).tolist() == [2, 4]
    assert (5 & a).tolist() == [4, 1]


@pytest.mark.parametrize("op,expected", [
    (operator.lt, [True, False, False]), (operator.le, [True, True, False]),
    (operator.gt, [False, False, True]), (operator.ge, [False, True, True]),
    (operator.eq, [False, True, False]), (operator.ne, [True, False, True]),
], ids=lambda v: getattr(v, "__name__", ""))
def test_comparisons_return_boolean_tensors_without_grad(op, expected):
    x = leaf([1.0, 2.0, 3.0])
    r = op(x, 2.0)
    assert isinstance(r, xg.Tensor)
    assert r.dtype == xg.bool and not r.requires_grad
    assert r.tolist() == expected
    r2 = op(np.full(3, 2.0), x)  # reflected through NumPy
    assert isinstance(r2, xg.Tensor) and not r2.requires_grad
    assert r2.tolist() == op(np.full(3, 2.0), np.array([1.0, 2.0, 3.0])).tolist()


def test_tensor_is_hashable_by_identity():
    a, b = xg.asarray([1.0]), xg.asarray([1.0])
    assert len({a, b}) == 2


@settings(max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.floats(0.5, 3))
def test_operators_agree_with_python_floats(a, b):
    x, y = xg.asarray(a), xg.asarray(b)
    for op in (operator.add, operator.sub, operator.mul, operator.truediv):
        assert float(op(x, y)) == pytest.approx(op(a, b), rel=1e-15, abs=1e-15)
        assert float(op(a, y)) == pytest.approx(op(a, b), rel=1e-15, abs=1e-15)
    assert float(y ** a) == pytest.approx(b ** a, rel=1e-13)


# ---------------------------------------------------------------- indexing

def test_getitem_values_and_gradient():
    x = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x[1].tolist() == [4.0, 5.0, 6.0]
    assert x[:, 1:].tolist() == [[2.0, 3.0], [5.0, 6.0]]
    assert x[1, 2].item() == 6.0
    assert x[..., 0].tolist() == [1.0, 4.0]
    assert x[None, 0].shape == (1, 3)
    (x[0, 1:] * 2).sum().backward()
    assert x.grad.tolist() == [[0.0, 2.0, 2.0], [0.0, 0.0, 0.0]]


def test_getitem_repeated_integer_index_adds_gradients():
    x = leaf([1.0, 2.0, 3.0])
    x[xg.asarray([0, 0, 2])].sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 1.0]


def test_getitem_boolean_mask():
    x = leaf([1.0, -2.0, 3.0])
    x[x > 0].sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 1.0]


def test_getitem_of_tensor_without_grad_is_a_view():
    x = xg.asarray([1.0, 2.0, 3.0])
    v = x[1:]
    assert np.shares_memory(v.numpy(), x.numpy())


# ---------------------------------------------------------------- in-place semantics

def test_inplace_under_recording_is_recorded():
    x = leaf([1.0, 2.0, 3.0])
    h = x * 2
    h += 1
    assert h.tolist() == [3.0, 5.0, 7.0]
    h.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_chained_inplace_under_recording():
    x = leaf([1.0, 2.0, 3.0])
    h = x * 2
    h += 1
    h *= h  # (2x + 1)²: derivative 4(2x + 1)
    h -= x
    h /= 2.0
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (4 * (2 * np.array([1.0, 2, 3]) + 1) - 1) / 2)


def test_inplace_with_a_tensor_that_requires_grad_on_the_right():
    w = leaf([1.0, 2.0])
    h = xg.asarray([10.0, 20.0])
    h *= w
    assert h.requires_grad and h.tolist() == [10.0, 40.0]
    h.sum().backward()
    assert w.grad.tolist() == [10.0, 20.0]


def test_inplace_keeps_the_python_object():
    x = leaf([1.0])
    h = x * 2
    before = id(h)
    h += 1
    assert id(h) == before


def test_inplace_on_leaf_requiring_grad_raises_and_leaves_it_unchanged():
    x = leaf([1.0, 2.0])
    with pytest.raises(xg.InplaceError):
        x *= 2
    assert x.tolist() == [1.0, 2.0]


def test_inplace_under_no_grad_writes_the_buffer_and_views_see_it():
    x = leaf([1.0, 2.0, 3.0])
    with xg.no_grad():
        v = x[1:]
        buf = x.numpy()
        x -= 0.5  # what an optimizer step does
    assert x.tolist() == [0.5, 1.5, 2.5]
    assert v.tolist() == [1.5, 2.5]
    assert buf.tolist() == [0.5, 1.5, 2.5]
    assert x.requires_grad and x.is_leaf


def test_inplace_without_grad_writes_through_views():
    x = xg.asarray([1.0, 2.0, 3.0])
    v = x[:2]
    v *= 10.0
    assert x.tolist() == [10.0, 20.0, 3.0]
    x[2] = -1.0
    assert x.tolist() == [10.0, 20.0, -1.0]
    assert v.tolist() == [10.0, 20.0]


def test_setitem_under_recording():
    x = leaf([1.0, 2.0, 3.0])
    v = xg.asarray(5.0, requires_grad=True)
    h = x * 2
    h[1] = v * v
    assert h.tolist() == [2.0, 25.0, 6.0]
    h.sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 2.0]  # the overwritten element gets no gradient
    assert v.grad.item() == 10.0                # d(v²)/dv at 5


def test_setitem_of_a_slice_with_a_broadcast_value():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    v = xg.asarray([7.0, 8.0], requires_grad=True)
    h = x * 1.0
    h[0] = v * 3.0
    (h * xg.asarray([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0], [3.0, 4.0]]
    assert v.grad.tolist() == [3.0, 6.0]


def test_setitem_into_constant_with_value_requiring_grad():
    v = xg.asarray(2.0, requires_grad=True)
    h = xg.zeros(3)
    h[0] = v
    h[2] = v * v
    assert h.requires_grad
    h.sum().backward()
    assert v.grad.item() == 1.0 + 4.0


def test_setitem_on_a_leaf_requiring_grad_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(xg.InplaceError):
        x[0] = 3.0


def test_inplace_recorded_in_forward_mode():
    def f(x):
        h = x * 2.0
        h += x * x
        return h

    _, t = xg.jvp(f, (xg.asarray(3.0),), (xg.asarray(1.0),))
    assert float(t) == 2.0 + 6.0


def test_clone():
    x = leaf([1.0, 2.0])
    c = x.clone()
    assert c.requires_grad and not c.is_leaf
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    d = xg.asarray([1.0]).clone()
    d += 1
    assert d.tolist() == [2.0]


def test_methods():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    assert x.sum().item() == 10.0
    assert x.sum(axis=0).tolist() == [4.0, 6.0]
    assert x.mean().item() == 2.5
    assert x.reshape(4).shape == (4,) and x.reshape((1, 4)).shape == (1, 4)
    assert x.astype(xg.float32).dtype == xg.float32
    np.testing.assert_allclose(x.exp().numpy(), np.exp([[1.0, 2.0], [3.0, 4.0]]))


# ---------------------------------------------------------------- the standard's array object rules


def test_python_scalar_conversions_need_a_0d_tensor():
    assert bool(xg.asarray(True)) is True and int(xg.asarray(7, dtype=xg.int8)) == 7
    assert float(xg.asarray(2, dtype=xg.int32)) == 2.0 and float(xg.asarray(True)) == 1.0
    assert complex(xg.asarray(1.5)) == 1.5 + 0j and complex(xg.asarray(1 + 2j)) == 1 + 2j
    assert int(xg.asarray(-2.7)) == -2  # the integer part
    assert operator.index(xg.asarray(3, dtype=xg.uint8)) == 3
    for fn in (bool, int, float, complex, operator.index):
        with pytest.raises(TypeError, match="0-d"):
            fn(xg.asarray([1], dtype=xg.int64))
        with pytest.raises(TypeError):
            fn(xg.asarray([[1, 2]], dtype=xg.int64))
    assert xg.asarray([4.0]).item() == 4.0  # item() keeps taking any one-element tensor


def test_complex_tensors_have_no_int_or_float_value():
    z = xg.asarray(1 + 1j)
    with pytest.raises(TypeError, match="complex"):
        int(z)
    with pytest.raises(TypeError, match="complex"):
        float(z)
    assert bool(z) and not bool(xg.asarray(0j))
    with pytest.raises(TypeError, match="integer"):
        operator.index(xg.asarray(1.0))


def test_nan_and_inf_conversions_raise_like_python():
    with pytest.raises(ValueError):
        int(xg.asarray(float("nan")))
    with pytest.raises(OverflowError):
        int(xg.asarray(float("inf")))


def test_T_is_for_matrices_and_mT_for_stacks():
    with pytest.raises(ValueError, match="2-D"):
        _ = xg.asarray([1.0, 2.0]).T
    with pytest.raises(ValueError, match="2-D"):
        _ = xg.ones((2, 2, 2)).T
    assert xg.ones((2, 3, 4)).mT.shape == (2, 4, 3)
    with pytest.raises(ValueError, match="2-dimensional"):
        _ = xg.asarray([1.0, 2.0]).mT


def test_dlpack_keywords_of_the_standard():
    t = xg.asarray([1.0, 2.0])
    assert np.shares_memory(np.from_dlpack(t), t.numpy())
    assert not np.shares_memory(np.from_dlpack(t, copy=True), t.numpy())
    cap = t.__dlpack__(max_version=(1, 0), dl_device=(1, 0), copy=False, stream=None)
    assert type(cap).__name__ == "PyCapsule"
    with pytest.raises(TypeError):
        t.__dlpack__((1, 0))  # keyword-only, as the standard says


def test_setitem_keeps_the_dtype_of_the_tensor():
    i = xg.asarray([1, 2, 3], dtype=xg.int16)
    i[0] = 7
    i[1] = True
    i[2] = xg.asarray(5, dtype=xg.int8)  # int8 promotes into int16
    assert i.tolist() == [7, 1, 5] and i.dtype == xg.int16
    for bad in (1.5, 2j, xg.asarray(1, dtype=xg.int32), xg.asarray(1.0)):
        with pytest.raises(xg.DTypeError, match="int16"):
            i[0] = bad
    assert i.tolist() == [7, 1, 5]  # refused writes change nothing
    f = xg.asarray([1.0, 2.0], dtype=xg.float32)
    f[0] = 3
    f[1] = 0.5
    assert f.tolist() == [3.0, 0.5]
    with pytest.raises(xg.DTypeError):
        f[0] = xg.asarray(1.0, dtype=xg.float64)
    with pytest.raises(xg.DTypeError):
        f[0] = 1j
    b = xg.asarray([True, False])
    with pytest.raises(xg.DTypeError):
        b[0] = 2
    c = xg.zeros((2,), dtype=xg.complex64)
    c[0] = 1 + 2j
    c[1] = xg.asarray(3.0, dtype=xg.float32)
    assert c.tolist() == [1 + 2j, 3 + 0j]


def test_setitem_dtype_rule_while_recording():
    w = leaf([1.0, 2.0])
    y = w * 1.0
    with pytest.raises(xg.DTypeError):
        y[0] = 1j
    y[0] = 5.0
    y.sum().backward()
    assert w.grad.tolist() == [0.0, 1.0]


def test_array_namespace_and_to_device_signatures():
    import inspect

    sig = inspect.signature(xg.Tensor.__array_namespace__)
    assert sig.parameters["api_version"].kind is inspect.Parameter.KEYWORD_ONLY
    t = xg.asarray([1.0])
    assert t.to_device("cpu") is t and t.to_device("cpu", stream=None) is t


def test_astype_method_takes_copy_and_device():
    x = xg.asarray([1.5, 2.5])
    assert x.astype(xg.int64).tolist() == [1, 2]
    assert np.shares_memory(x.astype(xg.float64, copy=False).numpy(), x.numpy())
    assert x.astype(xg.float32, device="cpu").device == "cpu"
