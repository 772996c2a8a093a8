"""The linalg extension's matrix functions (ops/matrix.py): values against definitions, NumPy and
SciPy; gradients at the hard points (singular matrices, zero vectors, ties); the complex convention
by hand; error messages; the rules run unchanged on array-api-strict; hypothesis properties."""

import doctest
import itertools
import math

import array_api_compat.numpy as xnp
import array_api_strict as strict
import numpy as np
import pytest
import scipy.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xpgrad as xg
from xpgrad.core.registry import ZERO
from xpgrad.ops import linalg as L
from xpgrad.ops import matrix as X
from xpgrad.testing import check_grads, materialize

LA = xg.linalg
INF = math.inf


def _rng(seed=0):
    return np.random.default_rng(seed)


def _cofactor_adjugate(a):
    """adj(A)_ij = (−1)^(i+j) det(A without row j and column i), by definition."""
    n = a.shape[0]
    adj = np.zeros_like(a)
    for i, j in itertools.product(range(n), repeat=2):
        minor = np.delete(np.delete(a, j, axis=0), i, axis=1)
        adj[i, j] = (-1) ** (i + j) * np.linalg.det(minor) if n > 1 else 1.0
    return adj


def _grad(f, *arrays):
    xs = [xg.asarray(a, requires_grad=True) for a in arrays]
    f(*xs).backward()
    return [x.grad.numpy() for x in xs]


# ---------------------------------------------------------------- det and the adjugate


SINGULAR = [np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),          # rank 2
            np.array([[1.0, 2.0, 0.5], [2.0, 4.0, 1.0], [-1.0, -2.0, -0.5]]),        # rank 1
            np.zeros((3, 3)),                                                        # rank 0
            np.array([[0.0, 1.0], [0.0, 0.0]]),                                      # nilpotent
            np.diag([3.0, 0.0, 2.0, 5.0])]


@pytest.mark.parametrize("a", SINGULAR, ids=["rank2", "rank1", "zero", "nilpotent", "diag"])
def test_det_gradient_at_a_singular_matrix_is_the_adjugate(a):
    (g,) = _grad(LA.det, a)
    expected = _cofactor_adjugate(a).T                 # ∂det/∂A_ij = cofactor C_ij = adj(A)_ji
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, expected, atol=1e-12)
    np.testing.assert_allclose(LA.adjugate(xg.asarray(a)).numpy(), _cofactor_adjugate(a), atol=1e-12)


def test_det_second_derivative_at_a_singular_matrix_is_finite_and_exact():
    a = SINGULAR[0]
    hess = xg.hessian(LA.det)(xg.asarray(a)).numpy().reshape(9, 9)
    assert np.all(np.isfinite(hess))
    # d adj: finite differences of the (polynomial) adjugate by cofactors
    eps = 1e-6
    fd = np.zeros((9, 9))
    for k in range(9):
        e = np.zeros(9)
        e[k] = eps
        e = e.reshape(3, 3)
        fd[:, k] = ((_cofactor_adjugate(a + e) - _cofactor_adjugate(a - e)).T / (2 * eps)).ravel()
    np.testing.assert_allclose(hess, fd, atol=1e-6)
    check_grads(LA.det, [xg.asarray(a)], order=2)
    check_grads(LA.adjugate, [xg.asarray(SINGULAR[1])], order=1)


def test_adjugate_identity_batched_and_complex():
    rng = _rng(1)
    a = rng.standard_normal((4, 3, 3)) + 1j * rng.standard_normal((4, 3, 3))
    adj = LA.adjugate(xg.asarray(a)).numpy()
    np.testing.assert_allclose(a @ adj, np.linalg.det(a)[:, None, None] * np.eye(3), atol=1e-12)
    np.testing.assert_allclose(adj, np.linalg.det(a)[:, None, None] * np.linalg.inv(a), atol=1e-12)


def test_det_complex_gradient_convention():
    # |det A|²: the gradient of |z|² is 2z, and det's VJP multiplies by adj(A)ᴴ: 2·det(A)·adj(A)ᴴ
    rng = _rng(2)
    a = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    (g,) = _grad(lambda x: xg.abs(LA.det(x)) ** 2, a)
    d = np.linalg.det(a)
    np.testing.assert_allclose(g, 2 * d * np.conj(_cofactor_adjugate(a)).T, atol=1e-10)
    # and the definition: a real loss's gradient is ∂L/∂x + i ∂L/∂y
    eps = 1e-7
    f = lambda m: abs(np.linalg.det(m)) ** 2  # noqa: E731
    e = np.zeros((3, 3))
    e[1, 2] = eps
    fd = (f(a + e) - f(a - e)) / (2 * eps) + 1j * (f(a + 1j * e) - f(a - 1j * e)) / (2 * eps)
    assert g[1, 2] == pytest.approx(fd, rel=1e-6)


def test_slogdet_named_tuple_and_complex_sign_gradient():
    rng = _rng(3)
    a = rng.standard_normal((2, 3, 3)) + 1j * rng.standard_normal((2, 3, 3))
    r = LA.slogdet(xg.asarray(a))
    assert type(r).__name__ == "SlogdetResult" and r._fields == ("sign", "logabsdet")
    sign, logabs = np.linalg.slogdet(a)
    np.testing.assert_allclose(r.sign.numpy(), sign)
    np.testing.assert_allclose(r.logabsdet.numpy(), logabs)
    assert r.logabsdet.dtype == xg.float64 and r.sign.dtype == xg.complex128
    check_grads(lambda x: LA.slogdet(x).sign, [xg.asarray(a)], order=2)
    check_grads(lambda x: LA.slogdet(x).logabsdet, [xg.asarray(a)], order=2)
    # real: logabsdet' = A⁻ᵀ; the sign has no gradient
    b = rng.standard_normal((3, 3))
    (g,) = _grad(lambda x: LA.slogdet(x).logabsdet, b)
    np.testing.assert_allclose(g, np.linalg.inv(b).T, atol=1e-12)
    (g,) = _grad(lambda x: LA.slogdet(x).sign, b)
    np.testing.assert_array_equal(g, np.zeros((3, 3)))
    s = LA.slogdet(xg.asarray(SINGULAR[0]))
    assert float(s.sign) == 0.0 and float(s.logabsdet) == -INF


# ---------------------------------------------------------------- inv, solve, matrix_power


def test_inv_and_solve_match_numpy_and_their_gradients_by_hand():
    rng = _rng(4)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(LA.inv(xg.asarray(a)).numpy(), np.linalg.inv(a))
    ga, gb = _grad(lambda x, y: xg.sum(LA.solve(x, y)), a, b)
    xsol = np.linalg.solve(a, b)
    bbar = np.linalg.solve(a.T, np.ones((3, 2)))
    np.testing.assert_allclose(gb, bbar, atol=1e-12)
    np.testing.assert_allclose(ga, -bbar @ xsol.T, atol=1e-12)


@pytest.mark.parametrize("s1,s2,out", [((3, 3), (3,), (3,)), ((2, 3, 3), (3,), (2, 3)),
                                        ((3, 3), (3, 1), (3, 1)), ((3, 3), (3, 4), (3, 4)),
                                        ((2, 3, 3), (3, 2), (2, 3, 2)), ((3, 3), (5, 3, 2), (5, 3, 2)),
                                        ((2, 1, 3, 3), (4, 3, 2), (2, 4, 3, 2)),
                                        ((2, 3, 3), (2, 3), None)])
def test_solve_follows_the_2024_rule_for_vectors(s1, s2, out):
    """x2 is a vector only when 1-D; (2, 3) against (2, 3, 3) is a (3-row) matrix stack, so it fails."""
    rng = _rng(5)
    a, b = rng.standard_normal(s1) + 3 * np.eye(3), rng.standard_normal(s2)
    if out is None:
        with pytest.raises(xg.ShapeError, match=r"solve: x1 \(2, 3, 3\) and x2 \(2, 3\): x2 must have 3 "):
            LA.solve(xg.asarray(a), xg.asarray(b))
        return
    r = LA.solve(xg.asarray(a), xg.asarray(b))
    assert r.shape == out
    expected = np.linalg.solve(a, b[..., None])[..., 0] if len(s2) == 1 else np.linalg.solve(a, b)
    np.testing.assert_allclose(r.numpy(), expected, atol=1e-12)
    check_grads(LA.solve, [xg.asarray(a), xg.asarray(b)], order=1)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 64, 100, -1, -5])
def test_matrix_power(n):
    rng = _rng(6)
    a = rng.standard_normal((2, 3, 3)) / 2 + np.eye(3) * 0.3
    r = LA.matrix_power(xg.asarray(a), n)
    np.testing.assert_allclose(r.numpy(), np.linalg.matrix_power(a, n), rtol=1e-10, atol=1e-12)
    if abs(n) <= 7:
        check_grads(lambda x: LA.matrix_power(x, n), [xg.asarray(a)], order=2)
    else:   # binary powering: ⟨Ḡ, dAⁿ⟩ against finite differences
        e = rng.standard_normal(a.shape)
        (g,) = _grad(lambda x: xg.sum(LA.matrix_power(x, n) * xg.asarray(e)), a)
        v = rng.standard_normal(a.shape)
        h = 1e-6
        p = np.linalg.matrix_power
        fd = np.sum(e * (p(a + h * v, n) - p(a - h * v, n))) / (2 * h)
        assert np.sum(g * v) == pytest.approx(fd, rel=1e-5)


def test_matrix_power_zero_is_the_identity_with_zero_gradient():
    a = xg.asarray(_rng(7).standard_normal((3, 3)), requires_grad=True)
    r = LA.matrix_power(a, 0)
    np.testing.assert_array_equal(r.numpy(), np.eye(3))
    xg.sum(r).backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros((3, 3)))


# ---------------------------------------------------------------- diagonal, trace, outer, cross


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (2, 3, 3), (1, 5), (0, 3)])
@pytest.mark.parametrize("offset", [-3, -1, 0, 1, 2, 6])
def test_diagonal_and_trace_match_numpy(shape, offset):
    a = _rng(8).standard_normal(shape)
    d = LA.diagonal(xg.asarray(a), offset=offset)
    np.testing.assert_array_equal(d.numpy(), np.diagonal(a, offset, axis1=-2, axis2=-1))
    np.testing.assert_allclose(LA.trace(xg.asarray(a), offset=offset).numpy(),
                               np.trace(a, offset, axis1=-2, axis2=-1))
    # the VJP puts the cotangent back on the diagonal, zeros elsewhere
    (g,) = _grad(lambda x: xg.sum(LA.diagonal(x, offset=offset) * 2.0), a)
    mask = np.zeros(shape)
    m, n = shape[-2:]
    for i in range(m):
        if 0 <= i + offset < n:
            mask[..., i, i + offset] = 2.0
    np.testing.assert_array_equal(g, mask)


def test_diagonal_is_a_copy_and_trace_takes_dtype():
    a = xg.asarray(np.arange(9.0).reshape(3, 3))
    d = LA.diagonal(a)
    d[0] = 100.0
    assert float(a[0, 0]) == 0.0
    t = LA.trace(xg.asarray(np.arange(9, dtype=np.int32).reshape(3, 3)), dtype=xg.float64)
    assert t.dtype == xg.float64 and float(t) == 12.0


def test_outer_and_cross_against_numpy_and_by_hand():
    rng = _rng(9)
    u, v = rng.standard_normal(3) + 1j * rng.standard_normal(3), rng.standard_normal(4)
    np.testing.assert_allclose(LA.outer(xg.asarray(u), xg.asarray(v)).numpy(), np.outer(u, v))
    a, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(LA.cross(xg.asarray(a), xg.asarray(b)).numpy(), np.cross(a, b))
    np.testing.assert_allclose(LA.cross(xg.asarray(a[0].T), xg.asarray(b.T), axis=-2).numpy(),
                               np.cross(a[0].T, b.T, axis=0))
    # ∂/∂a Σ g·(a × b) = b × g
    g = rng.standard_normal((2, 4, 3))
    ga, gb = _grad(lambda x, y: xg.sum(LA.cross(x, y) * xg.asarray(g)), a, b)
    np.testing.assert_allclose(ga, np.cross(b, g))
    np.testing.assert_allclose(gb, np.sum(np.cross(g, a), axis=0))


# ---------------------------------------------------------------- norms


@pytest.mark.parametrize("ord", [2, 1, INF, -INF, 0, 3, 0.5, -1, -2.5, 7])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True)])
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_vector_norm_against_the_definition(ord, axis, keepdims, kind):
    rng = _rng(12)
    x = rng.standard_normal((2, 3, 4))
    if kind == "complex":
        x = x + 1j * rng.standard_normal((2, 3, 4))
    a = np.abs(x)
    ax = axis if axis is not None else (0, 1, 2)
    if ord == INF:
        expected = np.max(a, axis=ax, keepdims=keepdims)
    elif ord == -INF:
        expected = np.min(a, axis=ax, keepdims=keepdims)
    elif ord == 0:
        expected = np.sum(a != 0, axis=ax, keepdims=keepdims).astype(float)
    else:
        expected = np.sum(a ** ord, axis=ax, keepdims=keepdims) ** (1 / ord)
    r = LA.vector_norm(xg.asarray(x), axis=axis, keepdims=keepdims, ord=ord)
    assert r.dtype == xg.float64
    np.testing.assert_allclose(r.numpy(), expected, rtol=1e-12)


def test_vector_norm_does_not_overflow_for_large_ord():
    x = np.array([1e200, 3e200, -2e200])
    r = float(LA.vector_norm(xg.asarray(x), ord=4))
    assert r == pytest.approx(1e200 * (1 + 3 ** 4 + 2 ** 4) ** 0.25, rel=1e-14)
    assert float(LA.vector_norm(xg.asarray([0.0, 2.0, 3.0]), ord=-1)) == 0.0
    assert float(LA.vector_norm(xg.asarray([0.0, 0.0]), ord=0.5)) == 0.0


@pytest.mark.parametrize("ord", [2, 1, INF, -INF, 3, 0.5, -1, 0])
def test_norm_gradient_at_zero_is_zero_without_nan(ord):
    x = xg.zeros((4,), requires_grad=True)
    with np.errstate(all="raise"):
        LA.vector_norm(x, ord=ord).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4))
    h = xg.hessian(lambda v: LA.vector_norm(v, ord=ord))(xg.zeros((3,))).numpy()
    assert np.all(np.isfinite(h))
    for o in ("fro", "nuc", 1, 2, -2, INF):
        m = xg.zeros((2, 3), requires_grad=True)
        LA.matrix_norm(m, ord=o).backward()
        np.testing.assert_array_equal(m.grad.numpy(), np.zeros((2, 3)))
    z = xg.zeros((3,), dtype=xg.complex128, requires_grad=True)
    xg.linalg.vector_norm(z).backward()
    np.testing.assert_array_equal(z.grad.numpy(), np.zeros(3))


def test_norm_gradients_by_hand():
    # |z|: gradient z/|z| (PyTorch's convention); ‖z‖²: 2z; max-norm ties share evenly
    z = np.array([3 + 4j, 1 - 1j])
    (g,) = _grad(lambda v: LA.vector_norm(v) ** 2, z)
    np.testing.assert_allclose(g, 2 * z)
    (g,) = _grad(lambda v: LA.vector_norm(v, ord=INF), np.array([3.0, -3.0, 1.0]))
    np.testing.assert_allclose(g, [0.5, -0.5, 0.0])
    (g,) = _grad(lambda v: LA.matrix_norm(v, ord=1), np.array([[1.0, -2.0], [-3.0, 2.0]]))
    np.testing.assert_allclose(g, [[0.5, -0.5], [-0.5, 0.5]])           # both columns sum to 4
    (g,) = _grad(lambda v: LA.matrix_norm(v, ord=2), np.eye(3))          # s = (1, 1, 1): the mean
    np.testing.assert_allclose(g, np.eye(3) / 3, atol=1e-15)
    a = _rng(13).standard_normal((3, 4))
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    (g,) = _grad(lambda v: LA.matrix_norm(v, ord="nuc"), a)
    np.testing.assert_allclose(g, u @ vh, atol=1e-12)
    (g,) = _grad(lambda v: LA.matrix_norm(v, ord=-2), a)
    np.testing.assert_allclose(g, np.outer(u[:, -1], vh[-1]), atol=1e-12)


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, INF, -INF, None])
@pytest.mark.parametrize("keepdims", [False, True])
def test_matrix_norm_against_numpy(ord, keepdims):
    rng = _rng(14)
    x = rng.standard_normal((2, 3, 4)) + 1j * rng.standard_normal((2, 3, 4))
    r = LA.matrix_norm(xg.asarray(x), ord=ord, keepdims=keepdims)
    expected = np.linalg.norm(x, ord="fro" if ord is None else ord, axis=(-2, -1), keepdims=keepdims)
    np.testing.assert_allclose(r.numpy(), expected, rtol=1e-12)


# ---------------------------------------------------------------- matrix functions


def test_matrix_exp_of_nilpotent_and_diagonal_matrices():
    n = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(LA.matrix_exp(xg.asarray(n)).numpy(), np.eye(3) + n + n @ n / 2, atol=1e-15)
    d = np.array([-30.0, -1.0, 0.0, 0.5, 12.0])
    np.testing.assert_allclose(LA.matrix_exp(xg.asarray(np.diag(d))).numpy(), np.diag(np.exp(d)), rtol=1e-13,
                               atol=1e-300)
    c = np.diag([1j * np.pi, 2 + 1j])
    np.testing.assert_allclose(LA.matrix_exp(xg.asarray(c)).numpy(), np.diag(np.exp(np.diag(c))), atol=1e-14)


@pytest.mark.parametrize("scale", [1e-3, 0.1, 1.0, 5.0, 30.0])
def test_matrix_exp_against_scipy_with_per_matrix_scaling(scale):
    rng = _rng(15)
    a = rng.standard_normal((3, 4, 4)) * np.array([scale / 100, scale, scale * 3])[:, None, None]
    r = LA.matrix_exp(xg.asarray(a)).numpy()
    expected = np.stack([sla.expm(m) for m in a])
    np.testing.assert_allclose(r, expected, rtol=1e-11 * max(1.0, scale), atol=1e-13 * np.abs(expected).max())
    if np.abs(expected).max() < 1e30:             # else float32 overflows, as it should
        r32 = LA.matrix_exp(xg.asarray(a, dtype=xg.float32)).numpy()
        assert r32.dtype == np.float32
        np.testing.assert_allclose(r32, expected, rtol=1e-4 * max(1.0, scale),
                                   atol=1e-5 * np.abs(expected).max())


def test_matrix_exp_gradient_is_the_frechet_derivative():
    rng = _rng(16)
    a, e = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    _, t = xg.jvp(LA.matrix_exp, (xg.asarray(a),), (xg.asarray(e),))
    np.testing.assert_allclose(t.numpy(), sla.expm_frechet(a, e, compute_expm=False), atol=1e-12)
    check_grads(LA.matrix_exp, [xg.asarray(a * 3)], order=2)


def test_log_of_exp_is_the_identity_for_small_matrices():
    rng = _rng(17)
    for scale in (1e-8, 1e-3, 0.1, 0.5):
        a = rng.standard_normal((2, 4, 4)) * scale
        np.testing.assert_allclose(LA.matrix_log(LA.matrix_exp(xg.asarray(a))).numpy(), a,
                                   atol=1e-14 + 1e-13 * scale)
    c = (rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))) * 0.3
    np.testing.assert_allclose(LA.matrix_log(LA.matrix_exp(xg.asarray(c))).numpy(), c, atol=1e-13)


@pytest.mark.filterwarnings("ignore:logm result may be inaccurate")     # SciPy's own estimate, not ours
@pytest.mark.parametrize("kind", ["spd", "nonsymmetric", "rotation", "complex", "batch"])
def test_matrix_sqrt_and_log_against_scipy(kind):
    rng = _rng(18)
    if kind == "spd":
        b = rng.standard_normal((4, 4))
        a = b @ b.T + 0.1 * np.eye(4)
    elif kind == "nonsymmetric":
        a = np.eye(4) * 3 + rng.standard_normal((4, 4))
    elif kind == "rotation":
        a = np.array([[0.5, -1.2, 0.0], [1.2, 0.5, 0.0], [0.0, 0.0, 2.0]])       # eigenvalues 0.5 ± 1.2i
    elif kind == "complex":
        a = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4)) + 2 * np.eye(4)
    else:
        a = rng.standard_normal((3, 3, 3)) * 0.1 + np.eye(3) * np.array([0.5, 1.0, 40.0])[:, None, None]
    batch = a if a.ndim == 3 else a[None]
    s = LA.matrix_sqrt(xg.asarray(a)).numpy()
    np.testing.assert_allclose(s @ s, a, atol=1e-12 * np.abs(a).max())                  # sqrtm(A)² = A
    np.testing.assert_allclose(s, np.stack([sla.sqrtm(m) for m in batch]).reshape(a.shape), atol=1e-11)
    lg = LA.matrix_log(xg.asarray(a)).numpy()
    np.testing.assert_allclose(lg, np.stack([sla.logm(m) for m in batch]).reshape(a.shape), atol=1e-11)
    np.testing.assert_allclose(LA.matrix_exp(xg.asarray(lg)).numpy(), a, atol=1e-11 * np.abs(a).max())


def test_matrix_sqrt_gradient_solves_the_sylvester_equation():
    rng = _rng(19)
    b = rng.standard_normal((3, 3))
    a, e = b @ b.T + np.eye(3), rng.standard_normal((3, 3))
    s = sla.sqrtm(a)
    _, t = xg.jvp(LA.matrix_sqrt, (xg.asarray(a),), (xg.asarray(e),))
    np.testing.assert_allclose(s @ t.numpy() + t.numpy() @ s, e, atol=1e-12)     # X dX + dX X = dA
    np.testing.assert_allclose(t.numpy(), sla.solve_sylvester(s, s, e), atol=1e-12)
    check_grads(LA.matrix_sqrt, [xg.asarray(a)], order=2)
    check_grads(LA.matrix_log, [xg.asarray(a)], order=2)


def test_matrix_functions_refuse_matrices_without_a_principal_branch():
    neg = xg.asarray([[-1.0, 0.0], [0.0, 4.0]])
    for f in (LA.matrix_sqrt, LA.matrix_log):
        with pytest.raises(xg.OpError, match=rf"{f.name}: \(2, 2\) float64: .*closed negative real axis"):
            f(neg)
        with pytest.raises(xg.OpError, match=f.name):
            f(xg.asarray([[1.0, 2.0], [2.0, 4.0]]))          # singular
        with pytest.raises(xg.OpError, match=f.name):
            f(xg.astype(neg, xg.complex128))                 # on the branch cut, also as complex
    # just off the cut, the principal root is the one near i
    c = np.array([[-1 + 0.1j, 0.5], [0.0, 4.0]])
    r = LA.matrix_sqrt(xg.asarray(c)).numpy()
    np.testing.assert_allclose(r @ r, c, atol=1e-13)
    np.testing.assert_allclose(r, sla.sqrtm(c), atol=1e-12)
    np.testing.assert_allclose(LA.matrix_log(xg.asarray(c)).numpy(), sla.logm(c), atol=1e-12)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["det", "inv", "adjugate", "matrix_exp", "matrix_log", "matrix_sqrt"])
def test_non_square_and_non_matrix_inputs_are_shape_errors(name):
    f = getattr(LA, name)
    with pytest.raises(xg.ShapeError, match=rf"{name}: expected square matrices \(\.\.\., M, M\), got "
                                            r"shape \(2, 3\)"):
        f(xg.ones((2, 3)))
    with pytest.raises(xg.ShapeError, match=rf"{name}: expected a matrix"):
        f(xg.ones((3,)))
    with pytest.raises(xg.DTypeError, match=rf"{name}: expected a floating-point array, got \(2, 2\) int64"):
        f(xg.asarray([[1, 2], [3, 4]]))


def test_singular_matrices_raise_op_errors_naming_the_function():
    s = xg.asarray(SINGULAR[0])
    with pytest.raises(xg.OpError, match=r"inv: \(3, 3\) float64: the matrix is singular"):
        LA.inv(s)
    with pytest.raises(ValueError):                       # still a ValueError, like NumPy's LinAlgError
        LA.inv(s)
    with pytest.raises(xg.OpError, match=r"solve: .*x1 is singular"):
        LA.solve(s, xg.ones((3,)))
    with pytest.raises(xg.OpError, match=r"matrix_power: .*singular"):
        LA.matrix_power(s, -2)


def test_shape_and_parameter_errors():
    with pytest.raises(xg.ShapeError, match="outer: both inputs must be 1-D"):
        LA.outer(xg.ones((2, 2)), xg.ones(3))
    with pytest.raises(xg.ShapeError, match="cross: .* 3 components along axis -1"):
        LA.cross(xg.ones((2, 4)), xg.ones((2, 4)))
    with pytest.raises(xg.ShapeError, match="solve: .*batch dimensions do not broadcast"):
        LA.solve(xg.ones((2, 3, 3)), xg.ones((4, 3, 1)))
    with pytest.raises(xg.OpError, match="matrix_norm: ord must be one of"):
        LA.matrix_norm(xg.ones((2, 2)), ord=3)
    with pytest.raises(xg.OpError, match="vector_norm: ord must be a real number"):
        LA.vector_norm(xg.ones((2,)), ord="fro")
    with pytest.raises(xg.DTypeError, match="matrix_power: n must be an integer"):
        LA.matrix_power(xg.ones((2, 2)), 1.5)
    with pytest.raises(xg.ShapeError, match="vector_norm: axis 3 is out of range"):
        LA.vector_norm(xg.ones((2, 2)), axis=3)
    with pytest.raises(xg.ShapeError, match="matrix_norm: ord=2 of .*an empty matrix"):
        LA.matrix_norm(xg.ones((2, 0, 3)), ord=2)
    with pytest.raises(xg.ShapeError, match="vector_norm: ord=inf .*an empty vector"):
        LA.vector_norm(xg.ones((0,)), ord=INF)
    assert float(LA.vector_norm(xg.ones((0,)))) == 0.0 and LA.matrix_norm(xg.ones((2, 0, 3))).shape == (2,)


# ---------------------------------------------------------------- the rules are pure Array API

OPS = [X.diagonal, X.trace, X.outer, X.cross, X.det, X.adjugate, X._slogdet, X.inv, X.solve, X._matrix_power,
       X.vector_norm, X.matrix_norm, X.matrix_exp, X.matrix_sqrt, X.matrix_log, L.vecdot, L.matmul]
CASES = [pytest.param(op, i, id=f"{op.name}-{i}") for op in OPS for i, s in enumerate(op.all_samples())
         if "crandn" not in repr(s.args)]


def _rules(op, xp, conv, raw, params, gs, ts):
    args = [conv(r) for r in raw]
    out = op.forward(xp, *args, **params)
    g = tuple(conv(v) for v in gs) if isinstance(out, tuple) else conv(gs[0])
    vjp = op.vjp(xp, g, out, *args, **params) if op.vjp is not None else \
        tuple(f(xp, g, out, *args, **params) for f in op.vjps)
    if op.jvp is not None:
        jvp = op.jvp(xp, *[conv(t) for t in ts], out, *args, **params)
    else:
        jvp = [f(xp, conv(t), out, *args, **params) for f, t in zip(op.jvps, ts)]
    return out, vjp, jvp


def _flat(v):
    if isinstance(v, (tuple, list)):
        return [w for u in v for w in _flat(u)]
    return [None if v is None or v is ZERO else np.asarray(v)]


@pytest.mark.parametrize("op,i", CASES)
def test_forward_and_rules_run_on_array_api_strict(op, i):
    args, params = materialize(op.all_samples()[i], rng=_rng(i))
    raw = [a.numpy() for a in args]
    out = op.forward(xnp, *raw, **params)
    rng = _rng(100 + i)
    gs = [rng.standard_normal(np.shape(o)) for o in (out if isinstance(out, tuple) else (out,))]
    ts = [rng.standard_normal(np.shape(r)) for r in raw]
    with strict.ArrayAPIStrictFlags(api_version="2024.12"):
        got = _rules(op, strict, strict.asarray, raw, params, gs, ts)
    ref = _rules(op, xnp, lambda v: v, raw, params, gs, ts)
    for a, b in zip(_flat(ref), _flat(got)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-11)


def test_docstring_examples():
    """The examples in the ops' docstrings (an op's docstring is its forward function's) run as written."""
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    attempted = 0
    for mod in (X, L):
        objects = {n: getattr(mod, n) for n in mod.LINALG}
        for name, obj in objects.items():
            for test in finder.find(getattr(obj, "forward", obj), name, module=False, globs={}):
                result = runner.run(test)
                assert result.failed == 0, f"{mod.__name__}.{name}: a docstring example failed"
                attempted += result.attempted
    assert attempted >= 20


# ---------------------------------------------------------------- hypothesis properties

square = st.integers(1, 4).flatmap(lambda n: hnp.arrays(np.float64, (n, n), elements=st.floats(-2, 2)))


@settings(max_examples=40, deadline=None)
@given(square)
def test_adjugate_times_matrix_is_det_identity_at_any_rank(a):
    adj = LA.adjugate(xg.asarray(a)).numpy()
    d = np.linalg.det(a)
    scale = max(1.0, np.abs(a).max()) ** a.shape[0]
    np.testing.assert_allclose(a @ adj, d * np.eye(a.shape[0]), atol=1e-12 * scale)
    np.testing.assert_allclose(adj, _cofactor_adjugate(a), atol=1e-12 * scale)


@settings(max_examples=40, deadline=None)
@given(square, st.integers(-3, 6))
def test_matrix_power_composes(a, n):
    a = a + 3 * np.eye(a.shape[0])            # invertible (diagonally dominant)
    x = xg.asarray(a)
    lhs = LA.matrix_power(x, n) @ LA.matrix_power(x, 2)
    np.testing.assert_allclose(lhs.numpy(), LA.matrix_power(x, n + 2).numpy(), rtol=1e-9, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(square)
def test_exp_log_sqrt_are_consistent(a):
    a = a / 4
    e = LA.matrix_exp(xg.asarray(a))
    np.testing.assert_allclose(LA.matrix_log(e).numpy(), a, atol=1e-12)         # ‖a‖ small: principal
    r = LA.matrix_sqrt(e)
    np.testing.assert_allclose((r @ r).numpy(), e.numpy(), atol=1e-12)
    np.testing.assert_allclose(r.numpy(), LA.matrix_exp(xg.asarray(a / 2)).numpy(), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-10, 10)),
       st.sampled_from([1, 2, 3, 0.5, INF]))
def test_vector_norm_is_homogeneous_and_gradient_is_finite(v, ord):
    x = xg.asarray(v)
    n = float(LA.vector_norm(x, ord=ord))
    assert float(LA.vector_norm(x * -2.5, ord=ord)) == pytest.approx(2.5 * n, rel=1e-12, abs=1e-300)
    t = xg.asarray(v, requires_grad=True)
    LA.vector_norm(t, ord=ord).backward()
    g = t.grad.numpy()
    assert np.all(np.isfinite(g))
    if n > 0:                         # Euler: ⟨∇‖x‖, x⟩ = ‖x‖ for a 1-homogeneous function
        assert float(np.dot(g, v)) == pytest.approx(n, rel=1e-10)
