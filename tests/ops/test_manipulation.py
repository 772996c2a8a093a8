"""Shape manipulation: hand-checked gradients, the sequence wrappers, errors, and a property test."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.core.registry import Op


def leaf(values):
    return xg.asarray(values, dtype=xg.float64, requires_grad=True)


def test_concat_gradient_is_split_per_input():
    x, y = leaf([0.0, 0.0]), leaf([0.0, 0.0, 0.0])
    xg.sum(xg.concat([x, y]) * xg.asarray([1.0, 2.0, 3.0, 4.0, 5.0])).backward()
    assert x.grad.tolist() == [1.0, 2.0]
    assert y.grad.tolist() == [3.0, 4.0, 5.0]


def test_concat_along_last_axis():
    x, y = leaf(np.zeros((2, 1))), leaf(np.zeros((2, 2)))
    w = xg.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    xg.sum(xg.concat([x, y], axis=-1) * w).backward()
    assert x.grad.tolist() == [[1.0], [4.0]]
    assert y.grad.tolist() == [[2.0, 3.0], [5.0, 6.0]]


def test_concat_axis_none_flattens():
    x, y = leaf([[1.0, 2.0], [3.0, 4.0]]), leaf([5.0, 6.0, 7.0])
    out = xg.concat([x, y], axis=None)
    assert out.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    xg.sum(out * xg.arange(7.0)).backward()
    assert x.grad.tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert y.grad.tolist() == [4.0, 5.0, 6.0]


def test_stack_gradient_unstacks():
    x, y = leaf([0.0, 0.0, 0.0]), leaf([0.0, 0.0, 0.0])
    w = xg.asarray([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    out = xg.stack([x, y], axis=1)
    assert out.shape == (3, 2)
    xg.sum(out * w).backward()
    assert x.grad.tolist() == [1.0, 3.0, 5.0]
    assert y.grad.tolist() == [2.0, 4.0, 6.0]


def test_concat_jvp_fills_zeros_for_inputs_without_tangent():
    y = xg.asarray([7.0, 8.0])
    _, t = xg.jvp(lambda a: xg.concat([a, y]), (xg.asarray([1.0]),), (xg.asarray([3.0]),))
    assert t.tolist() == [3.0, 0.0, 0.0]
    _, t = xg.jvp(lambda a: xg.stack([y, a]), (xg.asarray([1.0, 2.0]),), (xg.asarray([3.0, 4.0]),))
    assert t.tolist() == [[0.0, 0.0], [3.0, 4.0]]


def test_flip_gradient():
    x = leaf([1.0, 2.0, 3.0])
    xg.sum(xg.flip(x) * xg.asarray([1.0, 2.0, 3.0])).backward()
    assert x.grad.tolist() == [3.0, 2.0, 1.0]


def test_permute_dims_gradient_uses_the_inverse_permutation():
    x = leaf(np.zeros((2, 3, 4)))
    w = np.arange(24.0).reshape(4, 2, 3)
    xg.sum(xg.permute_dims(x, (2, 0, 1)) * xg.asarray(w)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), w.transpose(1, 2, 0))


def test_expand_dims_and_squeeze_round_trip():
    x = leaf([[1.0, 2.0]])
    y = xg.expand_dims(x, axis=(0, -1))
    assert y.shape == (1, 1, 2, 1)
    assert xg.expand_dims(x, axis=1).shape == (1, 1, 2)
    z = xg.squeeze(y, axis=(0, 1, 3))
    assert z.shape == (2,)
    xg.sum(z * xg.asarray([3.0, 4.0])).backward()
    assert x.grad.tolist() == [[3.0, 4.0]]


def test_sequence_wrappers_are_exported_not_the_raw_ops():
    assert "concat" in xg.__all__ and "stack" in xg.__all__
    assert not isinstance(xg.concat, Op) and not isinstance(xg.stack, Op)
    assert xg.concat((xg.ones((1, 2)), xg.zeros((1, 2)))).shape == (2, 2)
    assert xg.stack((xg.ones(2),), axis=-1).shape == (2, 1)


@pytest.mark.parametrize("call, words", [
    (lambda: xg.stack([xg.ones((2, 3)), xg.ones((3, 2))]), ["stack", "(2, 3)", "(3, 2)"]),
    (lambda: xg.concat([xg.ones((2, 3)), xg.ones((2, 4))]), ["concat", "(2, 3)", "(2, 4)"]),
    (lambda: xg.permute_dims(xg.ones((2, 3)), (0, 0)), ["permute_dims", "(2, 3)"]),
    (lambda: xg.squeeze(xg.ones((2, 3)), axis=1), ["squeeze", "(2, 3)", "size 3"]),
    (lambda: xg.expand_dims(xg.ones((2, 3)), axis=4), ["expand_dims", "(2, 3)"]),
    (lambda: xg.concat([]), ["concat", "at least one"]),
])
def test_errors_name_the_op_and_shapes(call, words):
    with pytest.raises(xg.XpgradError) as info:
        call()
    for w in words:
        assert w in str(info.value)


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(4)), st.lists(st.integers(1, 3), min_size=4, max_size=4))
def test_permute_dims_gradient_property(perm, shape):
    x = leaf(np.zeros(shape))
    w = np.random.default_rng(0).standard_normal([shape[p] for p in perm])
    xg.sum(xg.permute_dims(x, tuple(perm)) * xg.asarray(w)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.transpose(w, np.argsort(perm)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=4), st.integers(0, 1))
def test_concat_gradient_property(lengths, axis):
    xs = [leaf(np.zeros((2, n) if axis else (n, 2))) for n in lengths]
    out = xg.concat(xs, axis=axis)
    w = np.arange(float(out.size)).reshape(out.shape)
    xg.sum(out * xg.asarray(w)).backward()
    pieces = np.split(w, np.cumsum(lengths)[:-1], axis=axis)
    for x, p in zip(xs, pieces):
        np.testing.assert_array_equal(x.grad.numpy(), p)
