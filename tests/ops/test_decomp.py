"""Matrix decompositions (ops/decomp.py): values, conventions, degenerate inputs, gradients, errors.

The op table (tests/ops/test_op_table.py) checks every sample's JVP against finite differences
and its VJP against the JVP, to order 2, on every device. Here:

* forward values against independent references (array-api-strict, NumPy, SciPy) and the
  defining identities (A = Q R, A = U S Vh, A = P L U, A V = V Λ) over hypothesis-drawn shapes;
* the documented conventions (gauges, R's diagonal, pivoting, Hermitian part);
* the numerical-stability point of the issue: exactly repeated eigenvalues and singular values,
  rank-deficient matrices — gradients of losses that are well defined there are finite and
  exact (checked against closed forms and finite differences);
* complex inputs (Hermitian positive-definite matrices, which no sample spec can draw) and
  gauge-invariant losses against PyTorch's autograd;
* the rules with array-api-strict as the namespace (the forwards and the VJPs on raw strict
  arrays, the JVPs through Tensors on strict arrays);
* errors.
"""

import doctest
import inspect

import array_api_strict as strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import decomp as D
from xpgrad.testing import check_grads

STANDARD = ("cholesky", "eigh", "eigvalsh", "svd", "svdvals", "qr", "pinv", "matrix_rank")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _draw(rng, shape, cplx=False):
    a = rng.standard_normal(shape)
    return a + 1j * rng.standard_normal(shape) if cplx else a


def _H(a):
    return np.conj(np.swapaxes(a, -1, -2))


def _np(t):
    return np.asarray(t.numpy())


def _orthonormal(rng, n, cplx=False):
    q, _ = np.linalg.qr(_draw(rng, (n, n), cplx))
    return q


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


shapes = st.tuples(st.sampled_from([(), (2,)]), st.integers(1, 5), st.integers(1, 5))


# ---------------------------------------------------------------- the namespace


def test_linalg_exports_and_signatures():
    strict.set_array_api_strict_flags(api_version="2025.12")
    try:
        for name in STANDARD + ("eig", "eigvals"):
            assert name in xg.linalg.__all__
            ours = inspect.signature(getattr(xg.linalg, name))
            theirs = inspect.signature(getattr(strict.linalg, name))
            assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
                [(p.name, p.kind, p.default) for p in theirs.parameters.values()], name
    finally:
        strict.reset_array_api_strict_flags()
    for name in ("lu", "lstsq", "solve_triangular"):
        assert name in xg.linalg.__all__


def test_named_results():
    a = xg.asarray(_rng().standard_normal((3, 3)))
    assert isinstance(xg.linalg.eigh(a + xg.matrix_transpose(a)), xg.linalg.EighResult)
    r = xg.linalg.svd(a)
    assert isinstance(r, xg.linalg.SVDResult) and r._fields == ("U", "S", "Vh")
    assert xg.linalg.qr(a)._fields == ("Q", "R")
    assert xg.linalg.eig(a)._fields == ("eigenvalues", "eigenvectors")
    assert xg.linalg.lu(a)._fields == ("P", "L", "U")
    assert xg.linalg.lstsq(a, a)._fields == ("solution", "residuals", "rank", "singular_values")


# ---------------------------------------------------------------- values and identities


@settings(max_examples=25, deadline=None)
@given(shapes, st.booleans(), st.sampled_from(["reduced", "complete"]))
def test_qr_identities(shape, cplx, mode):
    batch, m, n = shape
    a = _draw(_rng(m * 7 + n), batch + (m, n), cplx)
    q, r = (_np(t) for t in xg.linalg.qr(xg.asarray(a), mode=mode))
    k = min(m, n)
    assert q.shape == batch + ((m, k) if mode == "reduced" else (m, m))
    _close(q @ r, a)
    _close(_H(q) @ q, np.broadcast_to(np.eye(q.shape[-1]), batch + (q.shape[-1],) * 2))
    _close(np.tril(r, -1), np.zeros_like(r))
    d = np.diagonal(r[..., :k, :k], axis1=-2, axis2=-1)
    assert np.all(np.abs(np.imag(d)) < 1e-12) and np.all(np.real(d) >= 0)
    theirs = np.linalg.qr(a, mode=mode)   # the same factorisation up to the diagonal's signs
    _close(np.abs(r[..., :k, :]), np.abs(theirs[1][..., :k, :]))


@settings(max_examples=25, deadline=None)
@given(shapes, st.booleans(), st.booleans())
def test_svd_identities(shape, cplx, full):
    batch, m, n = shape
    a = _draw(_rng(m * 5 + n), batch + (m, n), cplx)
    u, s, vh = (_np(t) for t in xg.linalg.svd(xg.asarray(a), full_matrices=full))
    k = min(m, n)
    _close(u[..., :k] * s[..., None, :] @ vh[..., :k, :], a)
    _close(_H(u) @ u, np.broadcast_to(np.eye(u.shape[-1]), u.shape[:-2] + (u.shape[-1],) * 2))
    _close(vh @ _H(vh), np.broadcast_to(np.eye(vh.shape[-2]), vh.shape[:-2] + (vh.shape[-2],) * 2))
    assert np.all(np.diff(s, axis=-1) <= 0)
    _close(s, np.asarray(strict.linalg.svdvals(strict.asarray(a))))
    _close(_np(xg.linalg.svdvals(xg.asarray(a))), s)
    # the gauge: each left singular vector's largest entry is real and positive
    cols = u[..., :k]
    big = np.take_along_axis(cols, np.argmax(np.abs(cols), axis=-2)[..., None, :], axis=-2)
    assert np.all(np.abs(np.imag(big)) < 1e-12) and np.all(np.real(big) > 0)


@settings(max_examples=25, deadline=None)
@given(shapes, st.booleans())
def test_lu_identities_and_scipy(shape, cplx):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    batch, m, n = shape
    a = _draw(_rng(m * 3 + n), batch + (m, n), cplx)
    p, low, up = (_np(t) for t in xg.linalg.lu(xg.asarray(a)))
    k = min(m, n)
    assert p.shape == batch + (m, m) and low.shape == batch + (m, k) and up.shape == batch + (k, n)
    _close(p @ low @ up, a)
    assert set(np.unique(p)) <= {0.0, 1.0}
    _close(p.sum(axis=-1), np.ones(batch + (m,)))
    _close(p.sum(axis=-2), np.ones(batch + (m,)))
    _close(np.triu(low[..., :k, :], 1), np.zeros(batch + (k, k)))
    _close(np.diagonal(low, axis1=-2, axis2=-1), np.ones(batch + (k,)))
    # partial pivoting with LAPACK's measure |Re| + |Im|: multipliers of modulus ≤ 1 (√2 when complex)
    assert np.all(np.abs(low) <= (np.sqrt(2) if cplx else 1) + 1e-12)
    _close(np.tril(up, -1), np.zeros_like(up))
    for i in np.ndindex(*batch):                                  # LAPACK's getrf makes the same choices
        sp, sl, su = scipy_linalg.lu(a[i])
        _close(p[i], sp), _close(low[i], sl), _close(up[i], su)


def test_lu_singular_and_batched_pivots():
    a = np.array([[[1.0, 2.0], [2.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]])
    p, low, up = (_np(t) for t in xg.linalg.lu(xg.asarray(a)))
    _close(p @ low @ up, a)
    assert up[0, 1, 1] == 0.0 and np.all(np.isfinite(low))       # a zero pivot: nothing to eliminate
    _close(p[1], [[0.0, 1.0], [1.0, 0.0]])                         # each matrix pivots on its own
    z = _np(xg.linalg.lu(xg.zeros((3, 3)))[1])
    _close(z, np.eye(3))


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.booleans(), st.sampled_from([(), (2,)]))
def test_eigh_cholesky_values(n, cplx, batch):
    rng = _rng(n)
    z = _draw(rng, batch + (n, n), cplx)
    a = z @ _H(z) + n * np.eye(n)
    w, v = (_np(t) for t in xg.linalg.eigh(xg.asarray(a)))
    _close(w, np.linalg.eigvalsh(a))
    _close(_np(xg.linalg.eigvalsh(xg.asarray(a))), w)
    _close(a @ v, v * w[..., None, :])
    big = np.take_along_axis(v, np.argmax(np.abs(v), axis=-2)[..., None, :], axis=-2)
    assert np.all(np.abs(np.imag(big)) < 1e-12) and np.all(np.real(big) > 0)
    low = _np(xg.linalg.cholesky(xg.asarray(a)))
    _close(low, np.linalg.cholesky(a))
    _close(_np(xg.linalg.cholesky(xg.asarray(a), upper=True)), _H(low))


def test_hermitian_part_is_read():
    a = np.array([[2.0, 1.0], [3.0, 4.0]])          # not symmetric: its symmetric part is [[2, 2], [2, 4]]
    sym = (a + a.T) / 2
    _close(_np(xg.linalg.eigvalsh(xg.asarray(a))), np.linalg.eigvalsh(sym))
    _close(_np(xg.linalg.cholesky(xg.asarray(a))), np.linalg.cholesky(sym))
    x = xg.asarray(a, requires_grad=True)
    xg.sum(xg.linalg.eigvalsh(x) * xg.asarray([1.0, 2.0])).backward()
    _close(_np(x.grad), _np(x.grad).T)               # the gradient is symmetric


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 5), st.booleans())
def test_eig_values(n, cplx):
    strict.set_array_api_strict_flags(api_version="2025.12")
    try:
        a = _draw(_rng(n + 10), (n, n), cplx)
        w, v = xg.linalg.eig(xg.asarray(a))
        assert w.dtype == xg.complex128 and v.dtype == xg.complex128
        w, v = _np(w), _np(v)
        _close(a @ v, v * w[None, :], 1e-9)
        _close(np.linalg.norm(v, axis=0), np.ones(n))
        ref = np.asarray(strict.linalg.eigvals(strict.asarray(a)))
        _close(np.sort_complex(w), np.sort_complex(ref), 1e-9)
        _close(_np(xg.linalg.eigvals(xg.asarray(a))), w, 1e-9)
    finally:
        strict.reset_array_api_strict_flags()
    w32 = xg.linalg.eigvals(xg.asarray(a, dtype=xg.complex64 if cplx else xg.float32))
    assert w32.dtype == xg.complex64


@settings(max_examples=20, deadline=None)
@given(shapes, st.sampled_from([None, 0.3]), st.booleans())
def test_pinv_matrix_rank_against_strict(shape, rtol, cplx):
    batch, m, n = shape
    rng = _rng(m * 11 + n)
    a = _draw(rng, batch + (m, n), cplx)
    if min(m, n) > 1:                                # make it rank deficient
        a[..., -1] = a[..., 0]
    kw = {} if rtol is None else {"rtol": rtol}
    _close(_np(xg.linalg.pinv(xg.asarray(a), **kw)),
           np.asarray(strict.linalg.pinv(strict.asarray(a), **kw)), 1e-8)
    np.testing.assert_array_equal(_np(xg.linalg.matrix_rank(xg.asarray(a), **kw)),
                                  np.asarray(strict.linalg.matrix_rank(strict.asarray(a), **kw)))


def test_rtol_array_broadcasts_over_the_batch():
    a = np.stack([np.diag([1.0, 0.5, 0.1])] * 2)
    rtol = xg.asarray([0.05, 0.3])
    np.testing.assert_array_equal(_np(xg.linalg.matrix_rank(xg.asarray(a), rtol=rtol)), [3, 2])
    _close(_np(xg.linalg.pinv(xg.asarray(a), rtol=rtol))[1], np.diag([1.0, 2.0, 0.0]))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.sampled_from([0, 1, 3]), st.booleans())
def test_lstsq_agrees_with_pinv_and_numpy(m, n, k, cplx):
    rng = _rng(m * 13 + n)
    a = _draw(rng, (m, n), cplx)
    b = _draw(rng, (m,) if k == 0 else (m, k), cplx)
    r = xg.linalg.lstsq(xg.asarray(a), xg.asarray(b))
    bm = b[:, None] if k == 0 else b
    _close(_np(r.solution), (np.linalg.pinv(a) @ bm).reshape(r.solution.shape), 1e-9)
    x, res, rank, sv = np.linalg.lstsq(a, b, rcond=None)
    _close(_np(r.solution), x, 1e-9)
    assert int(r.rank) == rank
    _close(_np(r.singular_values), sv)
    assert r.residuals.shape == res.shape
    _close(_np(r.residuals), res, 1e-9)


def test_lstsq_batched_and_rank_deficient():
    rng = _rng(1)
    a = rng.standard_normal((3, 5, 2))
    b = rng.standard_normal((3, 5, 4))
    r = xg.linalg.lstsq(xg.asarray(a), xg.asarray(b))
    _close(_np(r.solution), np.linalg.pinv(a) @ b, 1e-9)
    _close(_np(r.residuals), np.sum((a @ np.linalg.pinv(a) @ b - b) ** 2, axis=-2), 1e-9)
    a[1, :, 1] = a[1, :, 0]                        # one matrix loses rank: no residuals, as NumPy
    r = xg.linalg.lstsq(xg.asarray(a), xg.asarray(b))
    assert r.residuals.shape == (0,)
    np.testing.assert_array_equal(_np(r.rank), [2, 1, 2])
    _close(_np(r.solution), np.linalg.pinv(a) @ b, 1e-9)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_values(upper, left, unit):
    rng = _rng(2)
    a = rng.standard_normal((2, 4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal((4, 3) if left else (3, 4))           # broadcasts over a's batch
    t = np.triu(a) if upper else np.tril(a)
    if unit:                                                      # the diagonal is taken to be ones
        t = t - np.einsum("...ii->...i", t)[..., None] * np.eye(4) + np.eye(4)
    x = _np(xg.linalg.solve_triangular(xg.asarray(a), xg.asarray(b), upper=upper, left=left,
                                       unitriangular=unit))
    _close(t @ x if left else x @ t, np.broadcast_to(b, x.shape))


# ---------------------------------------------------------------- repeated values, rank deficiency


def _with_spectrum(values, seed=0, cplx=False):
    q = _orthonormal(_rng(seed), len(values), cplx)
    return q @ np.diag(values) @ _H(q), q


@pytest.mark.parametrize("cplx", [False, True])
def test_eigvalsh_gradient_at_repeated_eigenvalues(cplx):
    a, _ = _with_spectrum([1.0, 1.0, 1.0, 3.0], cplx=cplx)
    for f in (lambda x: xg.sum(xg.linalg.eigvalsh(x) ** 2),
              lambda x: xg.sum(xg.linalg.eigh(x).eigenvalues ** 2)):
        x = xg.asarray(a, requires_grad=True)
        f(x).backward()
        _close(_np(x.grad), 2 * a)                    # Σλ² = ‖A‖², whatever the multiplicities
    x = xg.asarray(np.diag([2.0, 2.0, 1.0]), requires_grad=True)   # exactly repeated, no rounding
    xg.sum(xg.linalg.eigh(x).eigenvalues * xg.asarray([1.0, 1.0, 5.0])).backward()
    _close(_np(x.grad), np.diag([5.0, 1.0, 1.0]))


@pytest.mark.parametrize("cplx", [False, True])
def test_eigh_projector_gradient_at_repeated_eigenvalues(cplx):
    a, _ = _with_spectrum([1.0, 1.0, 3.0, 4.0], seed=1, cplx=cplx)
    c = _draw(_rng(3), (4, 4), cplx)

    def projector(x):                       # onto the repeated eigenvalue's whole eigenspace: smooth
        v = xg.linalg.eigh(x).eigenvectors[:, :2]
        p = v @ xg.conj(xg.matrix_transpose(v))
        return xg.real(xg.sum(p * xg.asarray(c)))

    check_grads(projector, [xg.asarray(a)], order=1)


def _spectral_loss(c):
    def f(x):                               # ⟨C, V exp(Λ) Vᴴ⟩
        w, v = xg.linalg.eigh(x)
        e = (v * xg.astype(xg.exp(w), v.dtype)[None, :]) @ xg.conj(xg.matrix_transpose(v))
        return xg.real(xg.sum(e * xg.asarray(c)))
    return f


def _daleckii_krein(a, c):
    """The exact gradient of ⟨C, exp(A)⟩ (real part) for Hermitian A: V (G ∘ Vᴴ C̄ V) Vᴴ, symmetrised."""
    w, v = np.linalg.eigh(a)
    d = w[None, :] - w[:, None]
    same = np.abs(d) < 1e-12
    g = np.where(same, np.exp(w)[None, :], (np.exp(w)[None, :] - np.exp(w)[:, None]) / np.where(same, 1, d))
    r = v @ (g * (_H(v) @ np.conj(c) @ v)) @ _H(v)
    return (r + _H(r)) / 2


@pytest.mark.parametrize("cplx", [False, True])
def test_eigh_gradient_at_close_eigenvalues_is_exact(cplx):
    c = _draw(_rng(3), (4, 4), cplx)
    c = (c + _H(c)) / 2
    for gap in (1e-3, 1e-6):                 # close, but distinct: nothing is zeroed
        a, _ = _with_spectrum([1.0, 1.0 + gap, 3.0, 4.0], seed=1, cplx=cplx)
        x = xg.asarray(a, requires_grad=True)
        _spectral_loss(c)(x).backward()
        _close(_np(x.grad), _daleckii_krein(a, c), 1e-7)


def test_eigh_spectral_function_at_repeated_eigenvalues_limitation():
    """Documented limit: at exactly repeated eigenvalues, V f(Λ) Vᴴ loses the within-block term
    f'(λ)·(Vᴴ Ā V)_block (it needs how the eigenvalues split, which no rule sees); the gradient is
    finite and the rest is exact."""
    a, _ = _with_spectrum([1.0, 1.0, 3.0, 4.0], seed=1)
    c = _draw(_rng(3), (4, 4))
    c = (c + c.T) / 2
    x = xg.asarray(a, requires_grad=True)
    _spectral_loss(c)(x).backward()
    got, exact = _np(x.grad), _daleckii_krein(a, c)
    assert np.all(np.isfinite(got))
    block = _np(xg.linalg.eigh(xg.asarray(a)).eigenvectors)[:, :2]   # the basis the rules used
    off = np.eye(4) - block @ block.T        # outside the repeated block both agree exactly
    _close(off @ got @ off, off @ exact @ off, 1e-9)
    _close(block.T @ got @ off, block.T @ exact @ off, 1e-9)
    missing = block.T @ (exact - got) @ block  # e·(Vᴴ C V) on the block, minus its diagonal
    b = block.T @ c @ block
    _close(missing, np.e * (b - np.diag(np.diag(b))), 1e-9)


def test_svd_gradients_at_repeated_and_zero_singular_values():
    rng = _rng(4)
    u, v = _orthonormal(rng, 4), _orthonormal(rng, 3)
    a = u[:, :3] @ np.diag([2.0, 2.0, 1.0]) @ v.T
    # Σσ² = ‖A‖²: gradient 2A; Σσ (nuclear norm, full rank): gradient U Vᴴ, the polar factor
    x = xg.asarray(a, requires_grad=True)
    xg.sum(xg.linalg.svdvals(x) ** 2).backward()
    _close(_np(x.grad), 2 * a)
    polar = u[:, :3] @ v.T
    for f in (lambda x: xg.sum(xg.linalg.svdvals(x)), lambda x: xg.sum(xg.linalg.svd(x).S),
              lambda x: xg.sum(xg.linalg.svd(x, full_matrices=False).S)):
        x = xg.asarray(a, requires_grad=True)
        f(x).backward()
        _close(_np(x.grad), polar)
    # the polar factor itself is smooth at repeated singular values: the relative rotation survives
    sq = _orthonormal(rng, 3) @ np.diag([2.0, 2.0, 1.0]) @ v.T
    check_grads(lambda x: (lambda r: r.U @ r.Vh)(xg.linalg.svd(x)), [xg.asarray(sq)], order=1)
    # rank deficient, and the zero matrix: finite gradients for losses on the singular values
    low = u[:, :2] @ np.diag([3.0, 1.0]) @ v[:, :2].T
    for m in (low, np.zeros((4, 3))):
        for full in (True, False):
            x = xg.asarray(m, requires_grad=True)
            xg.sum(xg.linalg.svd(x, full_matrices=full).S ** 2).backward()
            _close(_np(x.grad), 2 * m)
            x = xg.asarray(m, requires_grad=True)
            r = xg.linalg.svd(x, full_matrices=full)
            (xg.sum(r.U[:, :1] ** 2) + xg.sum(r.S)).backward()
            assert np.all(np.isfinite(_np(x.grad)))


def test_second_derivatives_at_repeated_values_are_finite():
    a, _ = _with_spectrum([1.0, 1.0, 2.0])
    h = xg.hessian(lambda x: xg.sum(xg.linalg.eigvalsh(x) ** 3))(xg.asarray(a))
    assert np.all(np.isfinite(_np(h)))
    h = xg.hessian(lambda x: xg.sum(xg.linalg.svdvals(x)))(xg.asarray(a))
    assert np.all(np.isfinite(_np(h)))


def test_float32_repeated_values():
    a, _ = _with_spectrum([1.0, 1.0, 2.0], seed=2)
    x = xg.asarray(a, dtype=xg.float32, requires_grad=True)
    xg.sum(xg.linalg.eigh(x).eigenvalues ** 2).backward()
    assert x.grad.dtype == xg.float32
    np.testing.assert_allclose(_np(x.grad), 2 * a, atol=1e-5)
    x = xg.asarray(a, dtype=xg.float32, requires_grad=True)
    xg.sum(xg.linalg.svd(x).S).backward()
    assert np.all(np.isfinite(_np(x.grad)))


EMPTY = [("svd", (0, 3)), ("svd", (3, 0)), ("svd", (2, 0, 3)), ("eigh", (0, 0)), ("eigvalsh", (0, 0)),
         ("cholesky", (0, 0)), ("qr", (3, 0)), ("qr", (0, 3)), ("lu", (0, 3)), ("lu", (3, 0)),
         ("pinv", (0, 3)), ("svdvals", (0, 3)), ("eig", (0, 0)), ("eigvals", (0, 0))]


@pytest.mark.parametrize("name,shape", EMPTY)
def test_empty_matrices(name, shape):
    f = getattr(xg.linalg, name)
    x = xg.zeros(shape, requires_grad=True)
    out = f(x)
    outs = out if isinstance(out, tuple) else (out,)
    sum(xg.sum(xg.real(o)) for o in outs if o.requires_grad).backward()
    assert x.grad.shape == shape
    _, tangent = xg.jvp(f, (x.detach(),), (xg.zeros(shape),))
    for t, o in zip(tangent if isinstance(tangent, tuple) else (tangent,), outs):
        assert t.shape == o.shape


def test_pinv_gradient_at_constant_rank():
    rng = _rng(5)
    b, c = rng.standard_normal((4, 2)), rng.standard_normal((2, 3))
    check_grads(lambda b, c: xg.linalg.pinv(b @ c), [xg.asarray(b), xg.asarray(c)], order=2)
    check_grads(lambda b, c: xg.linalg.lstsq(b @ c, xg.asarray(np.ones((4, 1)))).solution,
                [xg.asarray(b), xg.asarray(c)], order=1)
    x = xg.asarray(b @ c, requires_grad=True)
    xg.sum(xg.linalg.pinv(x)).backward()
    assert np.all(np.isfinite(_np(x.grad)))


def test_full_matrices_extra_columns_gauge_invariant_losses():
    rng = _rng(6)
    c = rng.standard_normal((5, 5))

    def svd_complement(x):                 # Q₂ Q₂ᴴ: the projector onto the complement of range(A)
        u = xg.linalg.svd(x).U[:, 2:]
        return xg.sum((u @ xg.matrix_transpose(u)) * xg.asarray(c))

    def qr_complement(x):
        q = xg.linalg.qr(x, mode="complete").Q[:, 2:]
        return xg.sum((q @ xg.matrix_transpose(q)) * xg.asarray(c))

    a = xg.asarray(rng.standard_normal((5, 2)))
    check_grads(svd_complement, [a], order=1)
    check_grads(qr_complement, [a], order=1)
    wide = xg.asarray(rng.standard_normal((2, 5)))
    check_grads(lambda x: xg.sum((lambda v: xg.matrix_transpose(v) @ v)(xg.linalg.svd(x).Vh[2:])
                                 * xg.asarray(c)), [wide], order=1)


# ---------------------------------------------------------------- complex


def test_complex_cholesky_gradients():
    z = xg.asarray(_draw(_rng(7), (2, 3, 3), True))

    def f(z, upper):
        eye = xg.asarray(np.eye(3) * 3, dtype=xg.complex128)
        return xg.linalg.cholesky(z @ xg.conj(xg.matrix_transpose(z)) + eye, upper=upper)

    check_grads(lambda z: f(z, False), [z], order=2)
    check_grads(lambda z: f(z, True), [z], order=1)
    t = xg.asarray(_draw(_rng(8), (3, 3), True))
    b = xg.asarray(_draw(_rng(9), (3, 2), True))
    check_grads(lambda a, b: xg.linalg.solve_triangular(a, b, upper=True),
                [t + xg.asarray(4 * np.eye(3), dtype=xg.complex128), b], order=2)


def test_eig_of_real_matrices_with_complex_eigenvalues():
    a = xg.asarray(_rng(12).standard_normal((4, 4)))
    w = _np(xg.linalg.eigvals(a))
    assert np.any(np.abs(w.imag) > 0.1)              # a conjugate pair: complex results from real input
    check_grads(lambda x: xg.linalg.eig(x), [a], order=2)
    check_grads(lambda x: xg.linalg.eigvals(x), [a], order=2)
    x = xg.asarray(a, requires_grad=True)
    xg.sum(xg.real(xg.linalg.eigvals(x) ** 2)).backward()   # Σλ² = tr(A²): gradient 2Aᵀ
    assert x.grad.dtype == xg.float64
    _close(_np(x.grad), 2 * _np(a).T, 1e-9)


def _torch_grad(fn, a):
    torch = pytest.importorskip("torch")
    t = torch.tensor(a, requires_grad=True)
    fn(torch, t).backward()
    return t.grad.numpy()


def _ours_grad(fn, a):
    x = xg.asarray(a, requires_grad=True)
    fn(xg, x).backward()
    return _np(x.grad)


def _abs2(xp, z):
    return xp.real(z * xp.conj(z))


def _mh(xp, z):
    return xp.conj(xp.matrix_transpose(z)) if hasattr(xp, "matrix_transpose") else z.mH


# Gauge-invariant losses (|entries|² of eigen/singular vectors do not see their phases; QR's loss
# uses |Q|², |R|², unaffected by the sign convention of R's diagonal).
def _eigh_loss(xp, a):
    w, v = xp.linalg.eigh((a + _mh(xp, a)) / 2)
    return xp.sum(w * w) + xp.sum(_abs2(xp, v)[0])


def _svd_loss(xp, a):
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    return xp.sum(s) + xp.sum(s ** 2) + xp.sum(_abs2(xp, u)[0]) + xp.sum(_abs2(xp, vh)[:, 1])


def _qr_loss(xp, a):
    q, r = xp.linalg.qr(a)
    return xp.sum(_abs2(xp, q)[0]) + xp.sum(_abs2(xp, r))


def _lu_loss(xp, a):
    _, low, up = xp.linalg.lu(a)
    return xp.sum(_abs2(xp, low)) + xp.sum(_abs2(xp, up))


def _eig_loss(xp, a):
    w, v = xp.linalg.eig(a)
    return xp.sum(_abs2(xp, w)) + xp.sum(_abs2(xp, v)[0])


TORCH_CASES = {
    "eigh": (_eigh_loss, (4, 4)),
    "svd": (_svd_loss, (5, 3)), "svd_wide": (_svd_loss, (3, 5)),
    "qr": (_qr_loss, (5, 3)), "qr_wide": (_qr_loss, (3, 5)),
    "lu": (_lu_loss, (4, 4)), "lu_tall": (_lu_loss, (5, 3)), "lu_wide": (_lu_loss, (3, 5)),
    "pinv": (lambda xp, a: xp.sum(_abs2(xp, xp.linalg.pinv(a))), (3, 5)),
    "eig": (_eig_loss, (4, 4)),
    "eigvals": (lambda xp, a: xp.sum(xp.real(xp.linalg.eigvals(a) ** 2)), (4, 4)),
}


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_gauge_invariant_gradients_match_torch(name, cplx):
    fn, shape = TORCH_CASES[name]
    a = _draw(_rng(len(name)), shape, cplx)
    if name.startswith("eig") and not cplx:
        a = a + np.diag([0.0, 3.0, 6.0, 9.0])     # real eigenvalues, well separated
    _close(_ours_grad(fn, a), _torch_grad(fn, a), 1e-8)


# ---------------------------------------------------------------- pure Array API: strict as namespace


STRICT_CASES = [
    (D._svd, ((4, 3),), {"full_matrices": False}), (D._svd, ((3, 4),), {"full_matrices": True}),
    (D._eigh, ((3, 3),), {}), (D.eigvalsh, ((3, 3),), {}), (D.svdvals, ((3, 4),), {}),
    (D._qr, ((4, 3),), {}), (D._qr, ((3, 5),), {}), (D._qr, ((4, 2),), {"mode": "complete"}),
    (D._lu, ((2, 4, 3),), {}), (D._lu, ((3, 5),), {}), (D.pinv, ((3, 5),), {}),
    (D._eig, ((3, 3),), {}), (D.eigvals, ((3, 3),), {}),
    (D.solve_triangular, ((3, 3), (3, 2)), {"upper": True}),
]


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("op,shapes,params", STRICT_CASES,
                         ids=[f"{op.name}-{i}" for i, (op, _, _) in enumerate(STRICT_CASES)])
def test_rules_run_on_array_api_strict(op, shapes, params, cplx):
    """Forward and VJP on raw strict arrays, JVP (and order 2) through Tensors on strict arrays."""
    strict.set_array_api_strict_flags(api_version="2025.12")
    try:
        rng = _rng(11)
        shift = [3 * np.eye(s[-1]) if len(s) == 2 and s[0] == s[1] else 0 for s in shapes]
        raw = [strict.asarray(_draw(rng, s, cplx) + d) for s, d in zip(shapes, shift)]
        out = op.forward(strict, *raw, **params)
        outs = out if isinstance(out, tuple) else (out,)
        g = tuple(strict.ones_like(o) for o in outs)
        g = g if isinstance(out, tuple) else g[0]
        cts = op.vjp(strict, g, out, *raw, **params) if op.vjp is not None else \
            [r(strict, g, out, *raw, **params) for r in op.vjps]
        for c in cts if isinstance(cts, (tuple, list)) else (cts,):
            assert type(c) is type(raw[0])
        f = lambda *xs: op(*xs, **params)                                  # noqa: E731
        if params.get("full_matrices") or params.get("mode") == "complete":
            k = min(shapes[0][-2:])          # the extra columns' gauge is the backend's: leave them out
            f = lambda x: (lambda r: (r[0][..., :k], r[1][..., :k, :]) if len(r) == 2 else   # noqa: E731
                           (r[0][..., :k], r[1], r[2][..., :k, :]))(op(x, **params))
        check_grads(f, [xg.asarray(r) for r in raw], order=2)
    finally:
        strict.reset_array_api_strict_flags()


# ---------------------------------------------------------------- errors


def test_errors_name_the_function_and_shape():
    sq = xg.asarray(np.ones((2, 3)))
    for fn in (xg.linalg.eigh, xg.linalg.eigvalsh, xg.linalg.cholesky, xg.linalg.eig, xg.linalg.eigvals):
        with pytest.raises(xg.ShapeError, match=r"square.*\(2, 3\)"):
            fn(sq)
    with pytest.raises(xg.ShapeError, match=r"svd.*\(3,\)"):
        xg.linalg.svd(xg.asarray([1.0, 2.0, 3.0]))
    with pytest.raises(xg.DTypeError, match="qr.*int64"):
        xg.linalg.qr(xg.asarray([[1, 2], [3, 4]]))
    with pytest.raises(xg.OpError, match="mode"):
        xg.linalg.qr(sq, mode="r")
    with pytest.raises(xg.OpError, match="cholesky"):
        xg.linalg.cholesky(xg.asarray([[1.0, 2.0], [2.0, 1.0]]))      # not positive definite
    with pytest.raises(xg.ShapeError, match=r"lstsq.*\(2, 3\).*\(3,\)"):
        xg.linalg.lstsq(sq, xg.asarray([1.0, 2.0, 3.0]))
    with pytest.raises(xg.ShapeError, match="solve_triangular"):
        xg.linalg.solve_triangular(xg.asarray(np.eye(3)), xg.asarray(np.ones((2, 2))))
    with pytest.raises(xg.ShapeError, match="solve_triangular.*vector"):
        xg.linalg.solve_triangular(xg.asarray(np.eye(3)), xg.asarray(np.ones(3)))


def test_docstring_examples():
    """The examples in ops/decomp.py (ops are callable objects, which doctest.testmod skips)."""
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner()
    seen = 0
    for name in ("__module__",) + D.LINALG:
        obj = D if name == "__module__" else getattr(D, name)
        if obj.__doc__ and ">>>" in obj.__doc__:
            runner.run(parser.get_doctest(obj.__doc__, {}, name, D.__file__, 0))
            seen += 1
    assert seen >= 12 and runner.failures == 0, f"{runner.failures} failing examples"
