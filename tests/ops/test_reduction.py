"""Reductions: numbers checked by hand, conventions (ties, zeros), and properties against NumPy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg


def grad_of(f, x):
    x = xg.asarray(x, requires_grad=True)
    f(x).backward()
    return x.grad.numpy()


# ---------------------------------------------------------------- prod


def test_prod_gradient_without_zeros():
    # d(2·3·4)/dx = (12, 8, 6)
    np.testing.assert_allclose(grad_of(xg.prod, [2.0, 3.0, 4.0]), [12.0, 8.0, 6.0])


def test_prod_gradient_with_one_zero():
    # only the zero has a nonzero product of the others: 2·3 = 6
    np.testing.assert_allclose(grad_of(xg.prod, [2.0, 0.0, 3.0]), [0.0, 6.0, 0.0])


def test_prod_gradient_with_two_zeros():
    np.testing.assert_allclose(grad_of(xg.prod, [0.0, 2.0, 0.0]), [0.0, 0.0, 0.0])


def test_prod_gradient_per_row_with_zeros():
    x = [[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]]
    g = grad_of(lambda t: xg.sum(xg.prod(t, axis=1)), x)
    np.testing.assert_allclose(g, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])


def test_prod_jvp_with_one_zero():
    _, t = xg.jvp(xg.prod, (xg.asarray([2.0, 0.0, 3.0]),), (xg.asarray([1.0, 1.0, 1.0]),))
    assert float(t) == pytest.approx(6.0)


def test_prod_hessian_without_zeros():
    # ∂²(xyz)/∂x∂y = z
    h = xg.hessian(xg.prod)(xg.asarray([2.0, 3.0, 4.0])).numpy()
    np.testing.assert_allclose(h, [[0, 4, 3], [4, 0, 2], [3, 2, 0]])


# ---------------------------------------------------------------- max, min


def test_max_gradient_splits_ties_evenly():
    np.testing.assert_allclose(grad_of(xg.max, [1.0, 3.0, 3.0, 2.0]), [0.0, 0.5, 0.5, 0.0])


def test_max_three_way_tie_along_axis():
    g = grad_of(lambda t: xg.sum(xg.max(t, axis=1)), [[2.0, 2.0, 2.0], [1.0, 5.0, 0.0]])
    np.testing.assert_allclose(g, [[1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]])


def test_min_gradient_and_keepdims():
    x = xg.asarray([[4.0, 1.0], [-1.0, -1.0]], requires_grad=True)   # minima in row 1
    y = xg.min(x, axis=0, keepdims=True)
    assert y.shape == (1, 2)
    xg.sum(y * xg.asarray([[10.0, 20.0]])).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [10.0, 20.0]])


def test_max_jvp_splits_ties():
    _, t = xg.jvp(xg.max, (xg.asarray([3.0, 3.0]),), (xg.asarray([1.0, 3.0]),))
    assert float(t) == pytest.approx(2.0)


# ---------------------------------------------------------------- var, std


def test_var_and_std_by_hand():
    x = [1.0, 2.0, 3.0, 4.0]   # mean 2.5, squared deviations sum to 5
    assert float(xg.var(xg.asarray(x))) == pytest.approx(1.25)
    assert float(xg.var(xg.asarray(x), correction=1)) == pytest.approx(5 / 3)
    # d var / dx = 2 (x − mean) / N
    np.testing.assert_allclose(grad_of(xg.var, x), [-0.75, -0.25, 0.25, 0.75])
    # d std / dx = (x − mean) / (N std), std = √1.25
    np.testing.assert_allclose(grad_of(xg.std, x), np.array([-1.5, -0.5, 0.5, 1.5]) / (4 * 1.25 ** 0.5))


def test_std_gradient_is_zero_at_zero_variance():
    g = grad_of(lambda t: xg.sum(xg.std(t, axis=1)), [[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[0], [0.0, 0.0, 0.0])


# ---------------------------------------------------------------- logsumexp


def test_logsumexp_large_inputs_do_not_overflow():
    x = xg.asarray([1e4, 1e4, -1e4])
    assert float(xg.logsumexp(x)) == pytest.approx(1e4 + np.log(2.0))
    np.testing.assert_allclose(grad_of(xg.logsumexp, [1e4, 1e4, -1e4]), [0.5, 0.5, 0.0])
    y = xg.logsumexp(xg.asarray([[-1e4, -1e4]]), axis=1)
    np.testing.assert_allclose(y.numpy(), [-1e4 + np.log(2.0)])


def test_logsumexp_of_all_minus_inf():
    assert float(xg.logsumexp(xg.asarray([-np.inf, -np.inf]))) == -np.inf


def test_logsumexp_gradient_is_softmax():
    x = [0.0, np.log(3.0)]   # softmax = (1/4, 3/4)
    np.testing.assert_allclose(grad_of(xg.logsumexp, x), [0.25, 0.75])


# ---------------------------------------------------------------- cumulative_sum


def test_cumulative_sum_forward_and_vjp():
    x = xg.asarray([1.0, 2.0, 3.0], requires_grad=True)
    y = xg.cumulative_sum(x)
    np.testing.assert_allclose(y.numpy(), [1.0, 3.0, 6.0])
    xg.sum(y * xg.asarray([1.0, 10.0, 100.0])).backward()
    np.testing.assert_allclose(x.grad.numpy(), [111.0, 110.0, 100.0])   # reversed cumulative sum


def test_cumulative_sum_include_initial():
    x = xg.asarray([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = xg.cumulative_sum(x, axis=1, include_initial=True)
    np.testing.assert_allclose(y.numpy(), [[0.0, 1.0, 3.0], [0.0, 3.0, 7.0]])
    xg.sum(y * xg.asarray([[1.0, 10.0, 100.0]])).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[110.0, 100.0], [110.0, 100.0]])


def test_keyword_only_parameters():
    with pytest.raises(TypeError):
        xg.get_op("var").forward(None, xg.asarray([1.0]), None, 1.0)


# ---------------------------------------------------------------- properties against NumPy

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def array_and_axis(draw):
    shape = draw(shapes)
    axes = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                          st.sets(st.integers(0, len(shape) - 1), min_size=1).map(tuple)))
    seed = draw(st.integers(0, 2 ** 16))
    return np.random.default_rng(seed).standard_normal(shape), axes, draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(array_and_axis())
def test_reductions_match_numpy(case):
    x, axis, keepdims = case
    for name, ref in (("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min),
                      ("prod", np.prod), ("var", np.var), ("std", np.std)):
        got = getattr(xg, name)(xg.asarray(x), axis=axis, keepdims=keepdims).numpy()
        np.testing.assert_allclose(got, ref(x, axis=axis, keepdims=keepdims), rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(array_and_axis())
def test_sum_mean_max_gradients_match_numpy(case):
    x, axis, keepdims = case
    n = x.size // np.sum(x, axis=axis, keepdims=True).size
    np.testing.assert_allclose(grad_of(lambda t: xg.sum(xg.sum(t, axis=axis, keepdims=keepdims)), x),
                               np.ones_like(x))
    np.testing.assert_allclose(grad_of(lambda t: xg.sum(xg.mean(t, axis=axis, keepdims=keepdims)), x),
                               np.ones_like(x) / n)
    # random normals have no ties: the gradient is the indicator of the maximum
    hit = (x == np.max(x, axis=axis, keepdims=True)).astype(float)
    np.testing.assert_allclose(grad_of(lambda t: xg.sum(xg.max(t, axis=axis, keepdims=keepdims)), x), hit)
