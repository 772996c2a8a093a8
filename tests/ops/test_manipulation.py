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


# ---------------------------------------------------------------- the standard's other manipulation functions


def on(values, device, grad=False):
    return xg.asarray(np.asarray(values, dtype=np.float64), device=device, requires_grad=grad)


def test_broadcast_shapes_follows_the_rules():
    assert xg.broadcast_shapes((3, 1), (4,), ()) == (3, 4)
    assert xg.broadcast_shapes() == ()
    assert xg.broadcast_shapes((0, 1), (1, 5)) == (0, 5)
    assert xg.broadcast_shapes((None, 1), (3,)) == (None, 3)   # an unknown size stays unknown...
    assert xg.broadcast_shapes((None,), (4,)) == (4,)          # ...unless another shape fixes it
    with pytest.raises(xg.ShapeError, match=r"'broadcast_shapes'.*\(2, 3\).*\(4,\).*\[3, 4\]"):
        xg.broadcast_shapes((2, 3), (4,))
    assert "broadcast_shapes" in xg.__all__ and not isinstance(xg.broadcast_shapes, Op)


def test_broadcast_arrays_returns_a_tuple_and_sums_gradients_back(device):
    x, y = on([[1.0], [2.0]], device, True), on([10.0, 20.0, 30.0], device, True)
    a, b = out = xg.broadcast_arrays(x, y)
    assert isinstance(out, tuple) and a.shape == b.shape == (2, 3)
    assert a.tolist() == [[1.0] * 3, [2.0] * 3] and b.tolist() == [[10.0, 20.0, 30.0]] * 2
    xg.sum(a * on([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device) + b).backward()
    assert x.grad.tolist() == [[6.0], [15.0]]
    assert y.grad.tolist() == [2.0, 2.0, 2.0]


def test_broadcast_arrays_with_one_input_and_unused_outputs():
    (a,) = xg.broadcast_arrays(leaf([1.0, 2.0]))
    assert a.shape == (2,)
    x, y = leaf([[1.0], [2.0]]), leaf([5.0, 6.0])
    _, b = xg.broadcast_arrays(x, y)
    xg.sum(b).backward()           # x's copy got no cotangent
    assert x.grad is None and y.grad.tolist() == [2.0, 2.0]
    assert xg.broadcast_arrays() == ()


def test_moveaxis_matches_numpy_and_round_trips(device):
    x = on(np.arange(24.0).reshape(2, 3, 4), device, True)
    for src, dst in [(0, -1), ((0, 1), (2, 0)), (-1, 1), ((), ())]:
        y = xg.moveaxis(x, src, dst)
        np.testing.assert_array_equal(y.numpy(), np.moveaxis(np.arange(24.0).reshape(2, 3, 4), src, dst))
        assert xg.moveaxis(y, dst, src).tolist() == x.tolist()
    w = np.arange(24.0).reshape(3, 4, 2)
    xg.sum(xg.moveaxis(x, 0, -1) * on(w, device)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.moveaxis(w, -1, 0))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_moveaxis_round_trip_property(data):
    shape = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    nd = len(shape)
    src = data.draw(st.lists(st.integers(-nd, nd - 1), max_size=nd, unique_by=lambda a: a % nd))
    dst = data.draw(st.lists(st.integers(-nd, nd - 1), min_size=len(src), max_size=len(src),
                             unique_by=lambda a: a % nd))
    x = leaf(np.random.default_rng(0).standard_normal(shape))
    y = xg.moveaxis(x, tuple(src), tuple(dst))
    np.testing.assert_array_equal(y.numpy(), np.moveaxis(x.numpy(), src, dst))
    assert xg.moveaxis(y, tuple(dst), tuple(src)).tolist() == x.tolist()


def test_roll_matches_numpy_and_its_gradient_rolls_back(device):
    base = np.arange(12.0).reshape(3, 4)
    x = on(base, device, True)
    for shift, axis in [(1, None), (-5, None), (2, 0), ((1, -3), (0, 1)), (2, (0, 1)), (0, -1)]:
        np.testing.assert_array_equal(xg.roll(x, shift, axis=axis).numpy(), np.roll(base, shift, axis=axis))
    w = np.arange(12.0).reshape(3, 4) ** 2
    xg.sum(xg.roll(x, (1, 2), axis=(0, 1)) * on(w, device)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.roll(w, (-1, -2), axis=(0, 1)))


def test_roll_edge_cases():
    assert xg.roll(xg.asarray(3.0), 2).tolist() == 3.0           # 0-d: nothing to move
    assert xg.roll(xg.zeros((0, 3)), 1, axis=0).shape == (0, 3)  # empty
    x = leaf([1.0, 2.0, 3.0])
    xg.sum(xg.roll(x, 4) * xg.asarray([1.0, 0.0, 0.0])).backward()   # shift larger than the axis
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=3), st.integers(-9, 9), st.data())
def test_roll_by_n_then_minus_n_is_the_identity(shape, n, data):
    x = leaf(np.arange(float(np.prod(shape))).reshape(shape))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    y = xg.roll(xg.roll(x, n, axis=axis), -n, axis=axis)
    assert y.tolist() == x.tolist()
    np.testing.assert_array_equal(xg.roll(x, n, axis=axis).numpy(), np.roll(x.numpy(), n, axis=axis))


def test_repeat_values_and_gradient_sum_the_copies(device):
    x = on([[1.0, 2.0], [3.0, 4.0]], device, True)
    assert xg.repeat(x, 2, axis=1).tolist() == [[1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0]]
    assert xg.repeat(x, 2).tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]   # axis=None flattens
    w = np.arange(8.0).reshape(2, 4)
    xg.sum(xg.repeat(x, 2, axis=1) * on(w, device)).backward()
    assert x.grad.tolist() == [[1.0, 5.0], [9.0, 13.0]]


def test_repeat_with_counts_per_element(device):
    x = on([1.0, 2.0, 3.0], device, True)
    counts = xg.asarray([2, 0, 3], device=device)
    y = xg.repeat(x, counts)
    assert y.tolist() == [1.0, 1.0, 3.0, 3.0, 3.0]
    xg.sum(y * on([1.0, 2.0, 3.0, 4.0, 5.0], device)).backward()
    assert x.grad.tolist() == [3.0, 0.0, 12.0]
    assert not counts.requires_grad
    m = leaf([[1.0, 2.0], [3.0, 4.0]])
    xg.sum(xg.repeat(m, xg.asarray([3, 1]), axis=0) * xg.asarray([[1.0, 1.0]] * 3 + [[5.0, 5.0]])).backward()
    assert m.grad.tolist() == [[3.0, 3.0], [5.0, 5.0]]


def test_repeat_edge_cases():
    assert xg.repeat(xg.asarray(2.0), 3).tolist() == [2.0, 2.0, 2.0]
    x = leaf([[1.0, 2.0]])
    y = xg.repeat(x, 0, axis=1)
    assert y.shape == (1, 0)
    xg.sum(y).backward()
    assert x.grad.tolist() == [[0.0, 0.0]]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=3), st.data())
def test_repeat_gradient_property(shape, data):
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    n = int(np.prod(shape)) if axis is None else shape[axis]
    counts = data.draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=n, max_size=n))
    base = np.random.default_rng(1).standard_normal(shape)
    x = leaf(base)
    reps = counts if isinstance(counts, int) else xg.asarray(counts, dtype=xg.int64)
    y = xg.repeat(x, reps, axis=axis)
    np.testing.assert_array_equal(y.numpy(), np.repeat(base, counts, axis=axis))
    w = np.random.default_rng(2).standard_normal(y.shape)
    xg.sum(y * xg.asarray(w)).backward()
    # the reference: the adjoint of the 0/1 matrix that repeat applies to the (flattened) input
    idx = np.repeat(np.arange(base.size).reshape(base.shape), counts, axis=axis)
    expect = np.zeros(base.size)
    np.add.at(expect, idx.reshape(-1), w.reshape(-1))
    np.testing.assert_allclose(x.grad.numpy(), expect.reshape(shape))


def test_tile_values_and_gradient(device):
    base = np.array([[1.0, 2.0, 3.0]])
    x = on(base, device, True)
    for reps in [(2, 1), (2, 2), (3,), (2, 1, 2), (0, 2)]:
        np.testing.assert_array_equal(xg.tile(x, reps).numpy(), np.tile(base, reps))
    y = xg.tile(x, (2, 2))
    w = np.arange(12.0).reshape(2, 6)
    xg.sum(y * on(w, device)).backward()
    assert x.grad.tolist() == [[0 + 3 + 6 + 9.0, 1 + 4 + 7 + 10.0, 2 + 5 + 8 + 11.0]]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=3), st.lists(st.integers(0, 3), max_size=4))
def test_tile_gradient_property(shape, reps):
    base = np.random.default_rng(3).standard_normal(shape)
    x = leaf(base)
    y = xg.tile(x, tuple(reps))
    np.testing.assert_array_equal(y.numpy(), np.tile(base, reps))
    w = np.random.default_rng(4).standard_normal(y.shape)
    xg.sum(y * xg.asarray(w)).backward()
    idx = np.tile(np.arange(base.size).reshape(base.shape), reps)
    expect = np.zeros(base.size)
    np.add.at(expect, idx.reshape(-1), w.reshape(-1))
    np.testing.assert_allclose(x.grad.numpy(), expect.reshape(shape))


def test_unstack_is_the_inverse_of_stack(device):
    x = on(np.arange(6.0).reshape(2, 3), device, True)
    parts = xg.unstack(x, axis=-1)
    assert isinstance(parts, tuple) and [p.tolist() for p in parts] == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert xg.stack(parts, axis=-1).tolist() == x.tolist()
    xg.sum(parts[2] * 3.0 + parts[0]).backward()   # parts[1] unused: its slice gets zeros
    assert x.grad.tolist() == [[1.0, 0.0, 3.0], [1.0, 0.0, 3.0]]
    (only,) = xg.unstack(on([[1.0, 2.0]], device))
    assert only.tolist() == [1.0, 2.0]
    assert xg.unstack(xg.zeros((0, 2), device=device)) == ()


def test_unstack_results_are_copies():
    x = xg.asarray([[1.0, 2.0], [3.0, 4.0]])
    a, _ = xg.unstack(x)
    a += 10.0
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_meshgrid_matches_numpy_in_both_indexings(device):
    xs, ys, zs = [1.0, 2.0, 3.0], [4.0, 5.0], [6.0, 7.0, 8.0, 9.0]
    for indexing in ("xy", "ij"):
        out = xg.meshgrid(on(xs, device), on(ys, device), on(zs, device), indexing=indexing)
        ref = np.meshgrid(xs, ys, zs, indexing=indexing)
        assert isinstance(out, tuple) and len(out) == 3
        for o, r in zip(out, ref):
            np.testing.assert_array_equal(o.numpy(), r)
    assert xg.meshgrid() == ()


def test_meshgrid_gradient_sums_over_the_other_axes(device):
    x, y = on([1.0, 2.0, 3.0], device, True), on([4.0, 5.0], device, True)
    gx, gy = xg.meshgrid(x, y)                # "xy": shape (len(y), len(x))
    w = np.arange(6.0).reshape(2, 3)
    xg.sum(gx * on(w, device) + gy * on(w, device) ** 2).backward()
    np.testing.assert_array_equal(x.grad.numpy(), w.sum(axis=0))
    np.testing.assert_array_equal(y.grad.numpy(), (w ** 2).sum(axis=1))


def test_tril_triu_match_numpy_and_mask_the_gradient(device):
    base = np.arange(1.0, 13.0).reshape(3, 4)
    x = on(base, device, True)
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(xg.tril(x, k=k).numpy(), np.tril(base, k))
        np.testing.assert_array_equal(xg.triu(x, k=k).numpy(), np.triu(base, k))
    xg.sum(xg.tril(x, k=1) * 2.0 + xg.triu(x, k=3)).backward()
    ones = np.ones((3, 4))
    np.testing.assert_array_equal(x.grad.numpy(), 2.0 * np.tril(ones, 1) + np.triu(ones, 3))
    batch = np.arange(18.0).reshape(2, 3, 3)
    np.testing.assert_array_equal(xg.triu(on(batch, device)).numpy(), np.triu(batch))


def test_complex_gradients_follow_the_conjugate_convention():
    # For L = Re Σ conj(w)·f(z) with f linear and real (a copy or a mask), ∂L/∂x + i ∂L/∂y = f^T(w).
    z = xg.asarray(np.array([[1 + 2j, 3 - 1j], [0.5j, -2.0]]), requires_grad=True)
    w = np.array([[2 - 1j, 1j], [3.0, 1 + 1j]])
    xg.sum(xg.real(xg.conj(xg.asarray(w)) * xg.tril(z))).backward()
    np.testing.assert_allclose(z.grad.numpy(), np.tril(w))
    z.grad = None
    xg.sum(xg.real(xg.conj(xg.asarray(w)) * xg.roll(z, 1, axis=1))).backward()
    np.testing.assert_allclose(z.grad.numpy(), np.roll(w, -1, axis=1))


@pytest.mark.parametrize("call, words", [
    (lambda: xg.moveaxis(xg.ones((2, 3)), (0, 1), 0), ["moveaxis", "source", "(2, 3)"]),
    (lambda: xg.moveaxis(xg.ones((2, 3)), 0, 2), ["moveaxis", "destination 2", "(2, 3)"]),
    (lambda: xg.moveaxis(xg.ones((2, 3)), (0, 0), (0, 1)), ["moveaxis", "repeated"]),
    (lambda: xg.roll(xg.ones((2, 3)), (1, 2)), ["roll", "tuple axis"]),
    (lambda: xg.roll(xg.ones((2, 3)), (1, 2), axis=(0, 1, 1)), ["roll", "different lengths"]),
    (lambda: xg.roll(xg.ones((2, 3)), 1, axis=-3), ["roll", "axis -3", "(2, 3)"]),
    (lambda: xg.roll(xg.ones((2, 3)), 1.5), ["roll", "shift", "float"]),
    (lambda: xg.repeat(xg.ones((2, 3)), -1), ["repeat", "non-negative"]),
    (lambda: xg.repeat(xg.ones((2, 3)), 1.5), ["repeat", "float"]),
    (lambda: xg.repeat(xg.ones((2, 3)), xg.asarray([1.0, 2.0]), axis=0), ["repeat", "integer dtype"]),
    (lambda: xg.repeat(xg.ones((2, 3)), xg.asarray([1, 2]), axis=1), ["repeat", "(2,)", "3 elements"]),
    (lambda: xg.repeat(xg.ones(()), 2, axis=0), ["repeat", "0-d", "axis=None"]),
    (lambda: xg.tile(xg.ones((2, 3)), (2, -1)), ["tile", "non-negative"]),
    (lambda: xg.unstack(xg.ones(())), ["unstack", "0-d"]),
    (lambda: xg.unstack(xg.ones((2, 3)), axis=2), ["unstack", "axis 2", "(2, 3)"]),
    (lambda: xg.meshgrid(xg.ones((2, 3))), ["meshgrid", "1-D", "(2, 3)"]),
    (lambda: xg.meshgrid(xg.ones(2), indexing="ji"), ["meshgrid", "'xy' or 'ij'"]),
    (lambda: xg.tril(xg.ones(3)), ["tril", "(3,)"]),
    (lambda: xg.triu(xg.ones(())), ["triu", "()"]),
    (lambda: xg.broadcast_arrays(xg.ones((2, 3)), xg.ones(4)), ["broadcast_arrays", "(2, 3)", "(4,)"]),
    (lambda: xg.expand_dims(xg.ones((2, 3)), axis=(0, 0)), ["expand_dims", "repeated"]),
])
def test_new_errors_name_the_function_and_shapes(call, words):
    with pytest.raises(xg.XpgradError) as info:
        call()
    for w in words:
        assert w in str(info.value)


def test_expand_dims_takes_axis_by_position_or_keyword():
    x = xg.ones((2, 3))
    assert xg.expand_dims(x, 1).shape == (2, 1, 3)       # 2025.12: axis is positional-or-keyword
    assert xg.expand_dims(x, axis=-1).shape == (2, 3, 1)
    assert xg.expand_dims(x).shape == (1, 2, 3)          # 2024.12: it defaults to 0


@pytest.mark.parametrize("name", ["moveaxis", "roll", "repeat", "tile", "unstack", "meshgrid", "take",
                                  "take_along_axis", "broadcast_shapes"])
def test_docstring_examples_run(name):
    import doctest

    fn = getattr(xg, name)
    test = doctest.DocTestParser().get_doctest(fn.__doc__, {name: fn}, name, None, 0)
    assert test.examples, f"{name} has no docstring example"
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
