"""Indexing: hand-checked gradients for every key kind, the generic scatter_add, property tests."""

import array_api_compat.numpy as xp_numpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops.indexing import getitem, scatter_add, setitem
from xpgrad.testing import check_grads, materialize


def leaf(values):
    return xg.asarray(values, dtype=xg.float64, requires_grad=True)


def grad_of_sum(x, key, w=None):
    y = x[key]
    xg.sum(y if w is None else y * xg.asarray(w)).backward()
    return x.grad.tolist()


def test_repeated_indices_accumulate():
    assert grad_of_sum(leaf(np.arange(5.0)), [0, 0, 1]) == [2.0, 1.0, 0.0, 0.0, 0.0]


def test_tensor_index_2d_with_repeats():
    key = xg.asarray([[0, 2], [2, 2]])
    assert grad_of_sum(leaf(np.zeros(3)), key, [[1.0, 2.0], [3.0, 4.0]]) == [1.0, 0.0, 9.0]


def test_backend_array_index_mixed_with_slice():
    x = leaf(np.zeros((2, 3)))
    assert grad_of_sum(x, (slice(None), np.array([2, 2, 0]))) == [[1.0, 0.0, 2.0], [1.0, 0.0, 2.0]]


def test_boolean_mask_gradient():
    x = leaf(np.zeros((2, 3)))
    mask = xg.asarray([[True, False, True], [False, True, False]])
    assert grad_of_sum(x, mask, [10.0, 20.0, 30.0]) == [[10.0, 0.0, 20.0], [0.0, 30.0, 0.0]]


def test_negative_step_slice_gradient():
    x = leaf(np.zeros(5))
    assert grad_of_sum(x, slice(None, None, -2), [1.0, 2.0, 3.0]) == [3.0, 0.0, 2.0, 0.0, 1.0]


def test_newaxis_and_ellipsis():
    x = leaf(np.zeros((2, 3)))
    y = x[None, ..., 1, None]
    assert y.shape == (1, 2, 1)
    xg.sum(y * xg.asarray([[[5.0], [7.0]]])).backward()
    assert x.grad.tolist() == [[0.0, 5.0, 0.0], [0.0, 7.0, 0.0]]


def test_indices_split_by_a_slice_move_to_the_front():
    x = leaf(np.zeros((2, 3, 4)))
    y = x[[0, 1, 1], :, [3, 3, 0]]
    assert y.shape == (3, 3)
    xg.sum(y).backward()
    expect = np.zeros((2, 3, 4))
    expect[0, :, 3] += 1
    expect[1, :, 3] += 1
    expect[1, :, 0] += 1
    np.testing.assert_array_equal(x.grad.numpy(), expect)


def test_second_derivative_through_repeated_index():
    # f = sum(x[[0, 0, 1]]**3) = 2 x0^3 + x1^3: the Hessian is diag(12 x0, 6 x1, 0).
    h = xg.hessian(lambda x: xg.sum(x[[0, 0, 1]] ** 3))(xg.asarray([1.0, 2.0, 3.0]))
    assert h.tolist() == [[12.0, 0.0, 0.0], [0.0, 12.0, 0.0], [0.0, 0.0, 0.0]]


def test_setitem_with_repeated_positions_differentiates_the_written_values():
    # NumPy writes the last of repeated positions: x = [v1, v2, 0].
    v = leaf([1.0, 2.0, 3.0])
    x = xg.zeros(3, dtype=xg.float64)
    x[[0, 0, 1]] = v
    assert x.tolist() == [2.0, 3.0, 0.0]
    xg.sum(x * xg.asarray([10.0, 20.0, 30.0])).backward()
    assert v.grad.tolist() == [0.0, 10.0, 20.0]


def test_setitem_gradient_of_the_target_is_zero_where_written():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    y = x * 1.0
    y[xg.asarray([True, False, True, False])] = xg.asarray([0.0, 0.0])
    xg.sum(y * xg.asarray([1.0, 2.0, 3.0, 4.0])).backward()
    assert x.grad.tolist() == [0.0, 2.0, 0.0, 4.0]


def test_scatter_add_accumulates():
    z = xg.asarray([1.0, 1.0, 1.0])
    out = scatter_add(z, xg.asarray([1.0, 2.0, 4.0]), key=[2, 0, 2])
    assert out.tolist() == [3.0, 1.0, 6.0]
    assert z.tolist() == [1.0, 1.0, 1.0]  # out of place


def test_scatter_add_has_a_numpy_kernel():
    assert xg.get_backend("cpu") in scatter_add.kernels


@pytest.mark.parametrize("i", range(len(scatter_add.all_samples())))
def test_generic_scatter_add_matches_the_numpy_kernel(i):
    args, params = materialize(scatter_add.all_samples()[i], rng=np.random.default_rng(i))
    raw = [a.data for a in args]
    kernel = scatter_add.kernels[xg.get_backend("cpu")]
    np.testing.assert_allclose(scatter_add.forward(xp_numpy, *raw, **params),
                               kernel(xp_numpy, *raw, **params))


@pytest.fixture
def generic_only():
    """Run the ops on their pure Array API forward, as on a backend without kernels."""
    saved = {op: dict(op.kernels) for op in (getitem, setitem, scatter_add)}
    for op in saved:
        op.kernels.clear()
    yield
    for op, k in saved.items():
        op.kernels.update(k)


@pytest.mark.parametrize("op,i", [(op, i) for op in (getitem, setitem, scatter_add)
                                  for i in range(len(op.all_samples()))])
def test_gradients_on_the_generic_path(generic_only, op, i):
    args, params = materialize(op.all_samples()[i], rng=np.random.default_rng(i))
    check_grads(lambda *xs: op(*xs, **params), args, order=2)


def test_gradients_on_a_strict_array_api_namespace():
    xps = pytest.importorskip("array_api_strict")
    x = xg.asarray(xps.asarray([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    xg.sum(x[xps.asarray([1, 1, 0]), xps.asarray([0, 0, 1])] * 1.0).backward()
    assert x.grad.tolist() == [[0.0, 1.0], [2.0, 0.0]]


def test_materialize_leaves_keys_untouched():
    sample = xg.Sample((("randn", (4, 5)),), {"key": ([0, 0], slice(1, 3))})
    _, params = materialize(sample)
    assert params["key"] == ([0, 0], slice(1, 3))


def test_bad_key_error_names_the_op_and_shape():
    with pytest.raises(IndexError, match=r"'getitem'.*\(4, 5\)"):
        xg.ones((4, 5))[7]
    with pytest.raises(xg.ShapeError, match=r"'scatter_add'.*\(3,\).*\(2, 5\)"):
        scatter_add(xg.ones((4, 5)), xg.ones(3), key=[0, 1])


# ---------------------------------------------------------------- properties

_slices = st.builds(slice, st.none() | st.integers(-6, 6), st.none() | st.integers(-6, 6),
                    st.none() | st.integers(-3, 3).filter(bool))


@st.composite
def basic_keys(draw, shape=(4, 5, 3)):
    """Ints and slices for leading (and, after an Ellipsis, trailing) axes, with None anywhere."""
    def index(n):
        return draw(st.integers(-n, n - 1) | _slices)
    pre = draw(st.integers(0, len(shape)))
    items = [index(n) for n in shape[:pre]]
    if draw(st.booleans()):
        post = draw(st.integers(0, len(shape) - pre))
        items += [Ellipsis] + [index(n) for n in shape[len(shape) - post:]]
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    return tuple(items)


@settings(max_examples=80, deadline=None)
@given(basic_keys())
def test_basic_slicing_gradient_is_the_scatter_of_ones(key):
    x = leaf(np.zeros((4, 5, 3)))
    expect = np.zeros((4, 5, 3))
    expect[key] = 1.0  # basic keys never repeat an element
    y = x[key]
    assert y.shape == expect[key].shape
    if y.size:
        xg.sum(y).backward()
        np.testing.assert_array_equal(x.grad.numpy(), expect)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-4, 3), st.integers(-3, 2)), min_size=1, max_size=8), st.booleans())
def test_integer_index_gradient_counts_repeats(pairs, paired):
    x = leaf(np.zeros((4, 3)))
    rows = [r for r, _ in pairs]
    key = (rows, [c for _, c in pairs]) if paired else rows
    expect = np.zeros((4, 3))
    for r, c in pairs:
        if paired:
            expect[r, c] += 1
        else:
            expect[r] += 1
    xg.sum(x[key]).backward()
    np.testing.assert_array_equal(x.grad.numpy(), expect)
