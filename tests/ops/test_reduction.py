"""Reductions and scans: numbers checked by hand, conventions (ties, zeros, complex), properties
against NumPy, signatures against the standard, and rules run on array-api-strict (pure Array API)."""

import inspect

import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import reduction as R
from xpgrad.testing import check_grads


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


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "min", "var", "std", "cumulative_sum",
                                  "cumulative_prod", "diff", "argmax", "argmin"])
def test_signature_is_the_standards(name):
    ours = inspect.signature(getattr(xg, name)).parameters
    theirs = inspect.signature(getattr(array_api_strict, name)).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == \
        [(p.name, p.kind, p.default) for p in theirs.values()]


# ---------------------------------------------------------------- max, min: more on ties


def test_min_three_way_tie_and_jvp_mean_of_tied_tangents():
    np.testing.assert_allclose(grad_of(xg.min, [0.5, -1.0, -1.0, -1.0]), [0.0, 1 / 3, 1 / 3, 1 / 3])
    _, t = xg.jvp(xg.min, (xg.asarray([-1.0, 2.0, -1.0]),), (xg.asarray([3.0, 100.0, 6.0]),))
    assert float(t) == pytest.approx(4.5)     # the mean of the tied tangents, 3 and 6


def test_max_tie_rule_matches_torch_amax():
    torch = pytest.importorskip("torch")
    x = np.array([[1.0, 4.0, 4.0, 2.0], [3.0, 3.0, 3.0, 3.0]])
    w = np.array([2.0, 5.0])
    t = torch.tensor(x, requires_grad=True)
    (torch.amax(t, dim=1) * torch.tensor(w)).sum().backward()
    ours = grad_of(lambda v: xg.sum(xg.max(v, axis=1) * xg.asarray(w)), x)
    np.testing.assert_allclose(ours, t.grad.numpy())


def test_max_second_derivative_is_zero():
    h = xg.hessian(xg.max)(xg.asarray([1.0, 3.0, 2.0])).numpy()
    np.testing.assert_array_equal(h, np.zeros((3, 3)))


# ---------------------------------------------------------------- prod: no division


def test_prod_gradient_exact_where_the_product_underflows():
    # prod = 1e-200 · 1e-200 · 1e200 underflows to 0, but ∂/∂x0 = 1e-200 · 1e200 = 1
    g = grad_of(xg.prod, [1e-200, 1e-200, 1e200])
    np.testing.assert_allclose(g, [1.0, 1.0, 0.0], rtol=1e-12)


def test_prod_gradient_over_several_axes_with_zeros():
    x = np.array([[[2.0, 0.0], [3.0, 1.0]], [[0.5, 4.0], [0.0, 0.0]]])
    g = grad_of(lambda t: xg.sum(xg.prod(t, axis=(0, 2))), x)
    want = np.zeros_like(x)
    for j in range(2):          # brute force: product of the others in each reduced group
        block = x[:, j, :].reshape(-1)
        for k in range(4):
            want[k // 2, j, k % 2] = np.prod(np.delete(block, k))
    np.testing.assert_allclose(g, want)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 2 ** 16))
def test_prod_gradients_with_zeros_match_finite_differences(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, shape) * (rng.random(shape) > 0.3)     # zeros in about a third
    axis = int(rng.integers(0, len(shape)))
    check_grads(lambda t: xg.prod(t, axis=axis), [xg.asarray(x)], order=2)


def test_prod_complex_gradient_is_the_conjugate_of_the_others():
    # L = Re(z1 z2 z3): ∂L/∂x1 + i ∂L/∂y1 = conj(z2 z3)
    z = np.array([1 + 2j, -0.5 + 1j, 2 - 1j])
    x = xg.asarray(z, requires_grad=True)
    xg.real(xg.prod(x)).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.conj([z[1] * z[2], z[0] * z[2], z[0] * z[1]]))


def test_complex_reductions_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    z = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    w = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    cases = [(lambda m, v: m.sum(v, axis=1), lambda v: v.sum(dim=1)),
             (lambda m, v: m.mean(v, axis=1), lambda v: v.mean(dim=1)),
             (lambda m, v: m.prod(v, axis=1), lambda v: v.prod(dim=1)),
             (lambda m, v: m.cumulative_prod(v, axis=1)[:, -1], lambda v: v.cumprod(dim=1)[:, -1]),
             (lambda m, v: m.cumulative_sum(v, axis=1)[:, 2], lambda v: v.cumsum(dim=1)[:, 2])]
    for ours, theirs in cases:
        x = xg.asarray(z, requires_grad=True)
        xg.real(xg.sum(ours(xg, x) * xg.asarray(w))).backward()
        t = torch.tensor(z, requires_grad=True)
        (theirs(t) * torch.tensor(w)).sum().real.backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    for name, corr in (("var", 0), ("std", 1)):
        x = xg.asarray(z, requires_grad=True)
        y = getattr(xg, name)(x, axis=1, correction=corr)
        assert not xg.isdtype(y.dtype, "complex floating")
        xg.sum(y * xg.asarray([1.0, 2.0, 3.0])).backward()
        t = torch.tensor(z, requires_grad=True)
        ty = getattr(torch, name)(t, dim=1, correction=corr)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
        (ty * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- var, std of complex input


def test_complex_var_by_hand():
    # var of [z1, z2] is |z1 − z2|²/4; its gradient wrt z1 is (z1 − z2)/2 (the gradient of |z|² is 2z)
    z1, z2 = 1 + 2j, -1 + 0.5j
    x = xg.asarray([z1, z2], requires_grad=True)
    y = xg.var(x)
    assert y.dtype == xg.float64 and float(y) == pytest.approx(abs(z1 - z2) ** 2 / 4)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [(z1 - z2) / 2, (z2 - z1) / 2])
    np.testing.assert_allclose(xg.var(xg.asarray([z1, z2], dtype=xg.complex64)).numpy(),
                               abs(z1 - z2) ** 2 / 4, rtol=1e-6)
    assert xg.std(xg.asarray([z1, z2], dtype=xg.complex64)).dtype == xg.float32


# ---------------------------------------------------------------- cumulative_sum: standard details


def test_cumulative_sum_dtype_and_axis_rules():
    i32 = xg.asarray([1, 2, 3], dtype=xg.int32)
    assert xg.cumulative_sum(i32).dtype == xg.int64                       # the default integer dtype
    x = xg.asarray([1.0, 2.0], dtype=xg.float32, requires_grad=True)
    y = xg.cumulative_sum(x, dtype=xg.float64)
    assert y.dtype == xg.float64
    xg.sum(y).backward()
    assert x.grad.dtype == xg.float32 and x.grad.tolist() == [2.0, 1.0]
    with pytest.raises(xg.ShapeError, match="'cumulative_sum': axis is required"):
        xg.cumulative_sum(xg.zeros((2, 2)))
    with pytest.raises(xg.ShapeError, match="'cumulative_prod': axis 2 is out of range"):
        xg.cumulative_prod(xg.zeros((2, 2)), axis=2)
    assert xg.cumulative_sum(xg.asarray(3.0), include_initial=True).tolist() == [0.0, 3.0]   # 0-d: as (1,)


# ---------------------------------------------------------------- cumulative_prod


def test_cumulative_prod_forward_include_initial_and_by_hand_gradient():
    x = xg.asarray([[2.0, 0.0, 3.0], [1.0, -2.0, 0.5]], requires_grad=True)
    y = xg.cumulative_prod(x, axis=1, include_initial=True)
    np.testing.assert_allclose(y.numpy(), [[1.0, 2.0, 0.0, 0.0], [1.0, 1.0, -2.0, -1.0]])
    xg.sum(y).backward()
    # row 0: ∂/∂x0 = 1 + x1 + x1x2 = 1, ∂/∂x1 = x0 + x0x2 = 8, ∂/∂x2 = x0x1 = 0
    # row 1: ∂/∂x0 = 1 + x1 + x1x2 = -2, ∂/∂x1 = x0 + x0x2 = 1.5, ∂/∂x2 = x0x1 = -2
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 8.0, 0.0], [-2.0, 1.5, -2.0]])


def test_cumulative_prod_gradient_with_two_zeros_and_jvp():
    x = [3.0, 0.0, 2.0, 0.0, 5.0]
    # y = [3, 0, 0, 0, 0]; only ∂y1/∂x1 = 3, ∂y2/∂x1 = 6 survive (each later y has the other zero)
    np.testing.assert_allclose(grad_of(lambda t: xg.sum(xg.cumulative_prod(t)), x), [1.0, 9.0, 0.0, 0.0, 0.0])
    _, t = xg.jvp(xg.cumulative_prod, (xg.asarray(x),), (xg.asarray([1.0, 1.0, 1.0, 1.0, 1.0]),))
    np.testing.assert_allclose(t.numpy(), [1.0, 3.0, 6.0, 0.0, 0.0])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=3), st.integers(0, 2 ** 16), st.booleans())
def test_cumulative_prod_gradients_with_zeros_match_finite_differences(shape, seed, initial):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, shape) * (rng.random(shape) > 0.3)     # zeros in about a third
    axis = int(rng.integers(-len(shape), len(shape)))
    np.testing.assert_allclose(xg.cumulative_prod(xg.asarray(x), axis=axis, include_initial=initial).numpy(),
                               np.cumprod(np.concatenate([np.ones_like(np.take(x, [0], axis=axis)), x],
                                                         axis=axis) if initial else x, axis=axis))
    check_grads(lambda t: xg.cumulative_prod(t, axis=axis, include_initial=initial), [xg.asarray(x)], order=2)


def test_cumulative_prod_gradient_matches_torch_with_zeros():
    torch = pytest.importorskip("torch")
    x = np.array([[0.5, 0.0, 2.0, -1.0, 0.0, 3.0], [1.5, 2.0, -0.5, 0.0, 1.0, 2.0]])
    w = np.random.default_rng(2).standard_normal(x.shape)
    t = torch.tensor(x, requires_grad=True)
    (torch.cumprod(t, dim=1) * torch.tensor(w)).sum().backward()
    g = grad_of(lambda v: xg.sum(xg.cumulative_prod(v, axis=1) * xg.asarray(w)), x)
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_scan_is_the_linear_recurrence():
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 5, 8, 13):
        a, b = rng.standard_normal((2, n)), rng.standard_normal((2, n))
        r = np.zeros_like(b)
        for k in range(n):
            r[:, k] = b[:, k] + (a[:, k] * r[:, k - 1] if k else 0.0)
        got = R._scan(array_api_strict, array_api_strict.asarray(a), array_api_strict.asarray(b), 1)
        np.testing.assert_allclose(np.asarray(got), r, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- diff


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(0, 2 ** 16), st.integers(1, 6),
       st.integers(0, 2), st.integers(0, 2))
def test_diff_matches_numpy_and_its_gradients(shape, seed, n, npre, napp):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    axis = int(rng.integers(-len(shape), len(shape)))
    edge = lambda k: tuple(k if i == axis % len(shape) else s for i, s in enumerate(shape))  # noqa: E731
    pre = rng.standard_normal(edge(npre)) if npre else None
    app = rng.standard_normal(edge(napp)) if napp else None
    kw = {k: v for k, v in (("prepend", pre), ("append", app)) if v is not None}
    want = np.diff(x, n=n, axis=axis, **kw)
    got = xg.diff(xg.asarray(x), axis=axis, n=n, **{k: xg.asarray(v) for k, v in kw.items()})
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    args = [xg.asarray(x)] + [xg.asarray(v) for v in kw.values()]
    names = list(kw)
    check_grads(lambda *a: xg.diff(a[0], axis=axis, n=n, **dict(zip(names, a[1:]))), args, order=1)


def test_diff_vjp_by_hand_and_n_zero():
    x = xg.asarray([1.0, 2.0, 4.0], requires_grad=True)
    p = xg.asarray([0.0], requires_grad=True)
    y = xg.diff(x, prepend=p)                    # [1, 1, 2]
    assert y.tolist() == [1.0, 1.0, 2.0]
    xg.sum(y * xg.asarray([1.0, 10.0, 100.0])).backward()
    assert p.grad.tolist() == [-1.0] and x.grad.tolist() == [-9.0, -90.0, 100.0]
    # n = 0: the joined array (the standard joins prepend/append before differencing)
    assert xg.diff(xg.asarray([1.0, 2.0]), n=0, append=xg.asarray([5.0])).tolist() == [1.0, 2.0, 5.0]
    assert xg.diff(xg.asarray([1.0, 2.0]), n=4).shape == (0,)


def test_diff_errors_name_the_function():
    with pytest.raises(xg.ShapeError, match="'diff'.*0-d"):
        xg.diff(xg.asarray(1.0))
    with pytest.raises(xg.OpError, match="'diff': n must be a non-negative int"):
        xg.diff(xg.asarray([1.0, 2.0]), n=-1)
    with pytest.raises(xg.ShapeError, match=r"'diff': prepend \(2, 2\).* except along axis"):
        xg.diff(xg.zeros((3, 3)), axis=0, prepend=xg.zeros((2, 2)))
    with pytest.raises(xg.ShapeError, match="'diff': axis 1 is out of range"):
        xg.diff(xg.zeros((3,)), axis=1)


# ---------------------------------------------------------------- the rules are pure Array API


def test_scan_and_product_rules_run_on_array_api_strict():
    s = array_api_strict
    rng = np.random.default_rng(8)
    x = rng.uniform(-1.5, 1.5, (3, 5)) * (rng.random((3, 5)) > 0.3)
    g = rng.standard_normal((3, 5))
    xs, gs = s.asarray(x), s.asarray(g)
    out = R.cumulative_prod.forward(s, xs, axis=1)
    ours = R.cumulative_prod.vjps[0](s, gs, out, xs, axis=1)
    ref = grad_of(lambda v: xg.sum(xg.cumulative_prod(v, axis=1) * xg.asarray(g)), x)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-12, atol=1e-12)
    tan = R.cumulative_prod.jvps[0](s, gs, out, xs, axis=1)
    _, want = xg.jvp(lambda v: xg.cumulative_prod(v, axis=1), (xg.asarray(x),), (xg.asarray(g),))
    np.testing.assert_allclose(np.asarray(tan), want.numpy(), rtol=1e-12, atol=1e-12)
    others = R._others(s, xs, (0, 1))
    brute = np.array([np.prod(np.delete(x.reshape(-1), k)) for k in range(x.size)]).reshape(x.shape)
    np.testing.assert_allclose(np.asarray(others), brute, rtol=1e-12, atol=1e-300)
    d = R._diff.vjp(s, s.ones((3, 3)), None, xs, None, None, axis=1, n=2)
    np.testing.assert_allclose(np.asarray(d[0]), np.tile([1.0, -1.0, 0.0, -1.0, 1.0], (3, 1)))
