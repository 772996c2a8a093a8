"""Third-party Array API code, differentiated: array-api-extra and SciPy called with xpgrad tensors.

Libraries written against the Array API find xpgrad through ``x.__array_namespace__()``
(``array_api_compat.array_namespace``) and then call only ``xp.*`` functions and
array operators, so their code records on xpgrad's tape like user code does. Each
case here checks

* the value against the same function called with NumPy arrays, and
* the derivatives with :func:`xpgrad.testing.check_grads` (JVP against finite
  differences, VJP against the JVP): order 2 where the function is smooth at the
  sample, order 1 otherwise; non-differentiable results (indices, booleans, counts)
  must not require grad.

SciPy dispatches on the array API only when ``SCIPY_ARRAY_API=1`` was set before
its first import; ``tests/conftest.py`` sets it before anything else runs, and
``test_scipy_array_api_is_enabled`` fails (never skips) if it did not take effect.
SciPy functions with no Array API implementation convert their input with
``numpy.asarray`` and lose the graph; ``test_numpy_fallbacks_do_not_drop_gradients_silently``
requires that to be loud.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.testing import check_grads

xpx = pytest.importorskip("array_api_extra", reason="array-api-extra is a test dependency: "
                          "pip install 'xpgrad[test]'")
pytest.importorskip("scipy", reason="SciPy is a test dependency: pip install 'xpgrad[test]'")

import scipy  # noqa: E402
import scipy.cluster.vq  # noqa: E402
import scipy.integrate  # noqa: E402
import scipy.optimize  # noqa: E402
import scipy.signal  # noqa: E402
import scipy.special  # noqa: E402
import scipy.stats  # noqa: E402

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((2, 3))
V = RNG.standard_normal(5)
P = RNG.uniform(0.5, 2.0, (3, 4))          # positive: means, entropies, logs
Q = RNG.uniform(0.5, 2.0, (3, 4))
Z = RNG.standard_normal(4) + 1j * RNG.standard_normal(4)
AWAY = np.array([[0.3, -1.7, 2.2], [-0.8, 1.1, -2.9]])   # away from 0, the point sinc special-cases


def _ns(x):
    """The namespace of ``x`` (NumPy's or xpgrad's), as Array API code finds it."""
    return x.__array_namespace__()


def _tensors(arrays):
    return [xg.asarray(a) for a in arrays]


def _numpy(y):
    if isinstance(y, tuple):
        return tuple(_numpy(v) for v in y)
    return y.numpy() if isinstance(y, xg.Tensor) else np.asarray(y)


def _check_value(fn, arrays, rtol=1e-12, atol=1e-12):
    got = fn(*_tensors(arrays))
    want = fn(*arrays)
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        assert isinstance(g, xg.Tensor), f"expected an xpgrad Tensor back, got {type(g).__name__}"
        np.testing.assert_allclose(_numpy(g), np.asarray(w), rtol=rtol, atol=atol)
    return got


# (id, function of arrays, sample arrays, derivative order to check)
XPX_DIFFERENTIABLE = [
    ("cov", lambda x: xpx.cov(x), (A,), 2),
    ("kron", lambda x, y: xpx.kron(x, y), (A, B), 2),
    ("sinc", lambda x: xpx.sinc(x), (AWAY,), 2),
    ("pad-constant", lambda x: xpx.pad(x, ((1, 0), (2, 1)), constant_values=3.0), (A,), 2),
    ("pad-int", lambda x: xpx.pad(x, 2), (V,), 2),
    ("atleast_nd", lambda x: xpx.atleast_nd(x, ndim=4), (A,), 2),
    ("create_diagonal", lambda x: xpx.create_diagonal(x, offset=1), (V,), 2),
    ("create_diagonal-batched", lambda x: xpx.create_diagonal(x), (A,), 2),
    ("nansum", lambda x: xpx.nansum(x * x, axis=1), (A,), 2),
    ("nanmean", lambda x: xpx.nanmean(x, axis=0), (A,), 2),
    ("nanmax", lambda x: xpx.nanmax(x, axis=1), (A,), 2),
    ("deg2rad", lambda x: xpx.deg2rad(x), (A,), 2),
    ("rad2deg", lambda x: xpx.rad2deg(x), (A,), 2),
    ("nan_to_num", lambda x: xpx.nan_to_num(x), (A,), 2),
    ("angle", lambda z: xpx.angle(z), (Z,), 2),
    ("apply_where", lambda x: xpx.apply_where(x > 0, x, lambda v: v * _ns(v).log(v), fill_value=0.0),
     (AWAY,), 2),
    ("partition", lambda x: xpx.partition(x, 2), (V,), 1),
    ("at-set-copy", lambda x, y: xpx.at(x)[1, 1:3].set(y[0, :2], copy=True), (A, B), 2),
    ("at-set-mask", lambda x: xpx.at(x)[x > 0.5].set(0.0, copy=True), (A,), 2),
    ("at-multiply-mask", lambda x: xpx.at(x)[x > 0.5].multiply(3.0, copy=True), (A,), 2),
    # at(...).add on a basic index is the in-place update of a view: see the test below
    ("at-add-basic-as-set", lambda x, y: xpx.at(x)[0].set(x[0] + y[0, :], copy=True), (A[:, :3], B), 2),
]


def test_array_api_extra_at_add_on_a_view_is_refused_with_the_workaround():
    """A known gap, documented in docs/array_api.md: ``at(x)[i].add(y)`` with a basic index runs
    ``x[i] += y`` on a view of ``x``; xpgrad does not track views back to their base yet, so while
    recording it refuses the write with InplaceError instead of losing the base's gradient. Without
    recording it works (values checked), and the ``set(x[i] + y)`` spelling above differentiates."""
    x, y = xg.asarray(A[:, :3]), xg.asarray(B)
    got = xpx.at(x)[0].add(y[0, :], copy=True)           # no graph: the view is written in place
    np.testing.assert_allclose(got.numpy(), xpx.at(A[:, :3].copy())[0].add(B[0, :]))
    x.requires_grad = True
    with pytest.raises(xg.InplaceError):
        xpx.at(x)[0].add(y[0, :], copy=True)


@pytest.mark.parametrize("fn,arrays,order", [pytest.param(f, a, o, id=i)
                                              for i, f, a, o in XPX_DIFFERENTIABLE])
def test_array_api_extra_differentiable(fn, arrays, order):
    _check_value(fn, arrays)
    args = _tensors(arrays)
    for a in args:
        a.requires_grad = True
    assert all(v.requires_grad for v in _outs(fn(*args))), "the result left the graph"
    check_grads(fn, _tensors(arrays), order=order, modes=("fwd", "rev"))


def _outs(y):
    return y if isinstance(y, tuple) else (y,)


def _TAKE(x):
    return _ns(x).take(x, xpx.argpartition(x, 2)[2:3])


XPX_NOT_DIFFERENTIABLE = [
    ("isclose", lambda x, y: xpx.isclose(x, y, atol=0.1), (A, A + 0.05 * np.sign(A))),
    ("nunique", lambda x: xpx.nunique(_ns(x).round(x)), (A,)),
    ("setdiff1d", lambda x, y: xpx.setdiff1d(x, y), (V, V[1:3])),
    ("union1d", lambda x, y: xpx.union1d(x, y), (V[:3], V[2:])),
    ("isin", lambda x, y: xpx.isin(x, y), (V, V[::2])),
    ("argpartition-take", _TAKE, (V,)),
    ("searchsorted", lambda s, v: xpx.searchsorted(s, v), (np.sort(V), A[0])),
]


@pytest.mark.parametrize("fn,arrays", [pytest.param(f, a, id=i) for i, f, a in XPX_NOT_DIFFERENTIABLE])
def test_array_api_extra_not_differentiable(fn, arrays):
    """Values only (set functions are not differentiable in xpgrad); integer and boolean results never
    require grad, while a value picked by the indices they give stays on the graph."""
    _check_value(fn, arrays, rtol=0, atol=0)
    args = _tensors(arrays)
    for a in args:
        a.requires_grad = True
    out = fn(*args)
    if not xg.isdtype(out.dtype, ("real floating", "complex floating")):
        assert not out.requires_grad, "an integer or boolean result must not require grad"
    elif fn is _TAKE:
        assert out.requires_grad, "a value taken at computed indices must stay differentiable"


def test_array_api_extra_one_hot_and_indices():
    idx = xg.asarray([0, 2, 1])
    oh = xpx.one_hot(idx, 3)
    np.testing.assert_array_equal(oh.numpy(), np.eye(3)[[0, 2, 1]])
    assert not oh.requires_grad
    rows, cols = xpx.tril_indices(3, xp=xg)
    np.testing.assert_array_equal(rows.numpy(), np.tril_indices(3)[0])
    np.testing.assert_array_equal(cols.numpy(), np.tril_indices(3)[1])


def test_array_api_extra_at_in_place_on_a_leaf_is_refused():
    """``at(x)[i].set(v)`` may write into ``x`` (``copy=None``); on a leaf that requires grad that is
    refused, as PyTorch does, rather than silently corrupting the leaf: pass ``copy=True``."""
    x = xg.asarray(A, requires_grad=True)
    with pytest.raises(xg.InplaceError):
        xpx.at(x)[0, 1].set(5.0)
    np.testing.assert_array_equal(x.numpy(), A)


# ---------------------------------------------------------------- SciPy


def test_scipy_array_api_is_enabled():
    """SciPy reads SCIPY_ARRAY_API once, at import; tests/conftest.py sets it first. If something imported
    SciPy earlier, every SciPy case below would silently test NumPy instead: fail loudly here."""
    from scipy._lib import _array_api

    assert _array_api.SCIPY_ARRAY_API, (
        "SciPy was imported without SCIPY_ARRAY_API=1: tests/conftest.py must set it before anything "
        "imports SciPy (a plugin or conftest imported it first?)")
    y = scipy.special.logsumexp(xg.asarray([1.0, 2.0]))
    assert isinstance(y, xg.Tensor), f"scipy.special.logsumexp returned {type(y).__name__}, not a Tensor"


@pytest.fixture
def scipy_array_api():
    from scipy._lib import _array_api

    if not _array_api.SCIPY_ARRAY_API:
        pytest.fail("SciPy's array API support is off (SCIPY_ARRAY_API was not set before SciPy's import)")


SP = scipy.special
ST = scipy.stats

SCIPY_DIFFERENTIABLE = [
    ("special.logsumexp", lambda x: SP.logsumexp(x, axis=1), (A,), 2),
    ("special.logsumexp-all", lambda x: SP.logsumexp(x), (A,), 2),
    ("special.logsumexp-b", lambda x, b: SP.logsumexp(x, axis=0, b=b), (A, P), 2),
    ("special.logsumexp-sign", lambda x, b: SP.logsumexp(x, axis=1, b=b, return_sign=True)[0], (A, A), 1),
    ("special.softmax", lambda x: SP.softmax(x, axis=1), (A,), 2),
    ("special.log_softmax", lambda x: SP.log_softmax(x, axis=0), (A,), 2),
    ("special.xlogy", lambda x, y: SP.xlogy(x, y), (A, P), 2),
    ("special.rel_entr", lambda x, y: SP.rel_entr(x, y), (P, Q), 2),
    ("stats.moment", lambda x: ST.moment(x, order=3, axis=1), (A,), 2),
    ("stats.skew", lambda x: ST.skew(x, axis=1), (A,), 2),
    ("stats.kurtosis", lambda x: ST.kurtosis(x, axis=0), (A,), 2),
    ("stats.zscore", lambda x: ST.zscore(x, axis=1), (A,), 2),
    ("stats.variation", lambda x: ST.variation(x, axis=1), (P,), 2),
    ("stats.sem", lambda x: ST.sem(x, axis=1), (A,), 2),
    ("stats.gmean", lambda x: ST.gmean(x, axis=1), (P,), 2),
    ("stats.hmean", lambda x: ST.hmean(x, axis=0), (P,), 2),
    ("stats.pmean", lambda x: ST.pmean(x, 2.5, axis=1), (P,), 2),
    ("stats.entropy-qk", lambda p, q: ST.entropy(p, q, axis=1), (P, Q), 2),
    ("stats.pearsonr", lambda x, y: ST.pearsonr(x, y).statistic, (V, V ** 2 + V), 2),
    ("integrate.trapezoid", lambda y, x: scipy.integrate.trapezoid(y, x=x, axis=-1),
     (A, np.cumsum(P, axis=-1)), 2),
    ("integrate.cumulative_trapezoid", lambda y: scipy.integrate.cumulative_trapezoid(y, dx=0.5, axis=1),
     (A,), 2),
    ("optimize.rosen", lambda x: scipy.optimize.rosen(x), (V,), 2),
    ("cluster.vq.whiten", lambda x: scipy.cluster.vq.whiten(x), (A,), 2),
    ("signal.fftconvolve", lambda x, y: scipy.signal.fftconvolve(x, y), (V, V[:3]), 2),
]


@pytest.mark.parametrize("fn,arrays,order", [pytest.param(f, a, o, id=i)
                                              for i, f, a, o in SCIPY_DIFFERENTIABLE])
def test_scipy_differentiable(scipy_array_api, fn, arrays, order):
    _check_value(fn, arrays, rtol=1e-10, atol=1e-12)
    args = _tensors(arrays)
    for a in args:
        a.requires_grad = True
    assert all(v.requires_grad for v in _outs(fn(*args))), "the result left the graph"
    check_grads(fn, _tensors(arrays), order=order, modes=("fwd", "rev"))


def test_scipy_rosen_gradient_and_hessian_match_scipy(scipy_array_api):
    """SciPy ships the Rosenbrock function's gradient and Hessian by hand: xpgrad's must agree."""
    x = xg.asarray(V)
    g = xg.grad(scipy.optimize.rosen)(x)
    np.testing.assert_allclose(g.numpy(), scipy.optimize.rosen_der(V), rtol=1e-12)
    h = xg.hessian(scipy.optimize.rosen)(x)
    np.testing.assert_allclose(h.numpy(), scipy.optimize.rosen_hess(V), rtol=1e-12)


def test_scipy_logsumexp_gradient_is_softmax(scipy_array_api):
    x = xg.asarray(A, requires_grad=True)
    xg.sum(SP.logsumexp(x, axis=1)).backward()
    np.testing.assert_allclose(x.grad.numpy(), SP.softmax(A, axis=1), rtol=1e-12)


# Elementwise functions SciPy computes with NumPy for any namespace that has no ``special`` module of
# its own: it calls ``numpy.asarray`` on the input, so the result cannot be connected to the graph.
NUMPY_FALLBACKS = [
    ("special.erf", lambda x: SP.erf(x)),
    ("special.expit", lambda x: SP.expit(x)),
    ("special.gammaln", lambda x: SP.gammaln(x + 3.0)),
    ("stats.entropy", lambda x: ST.entropy(x * x + 1.0, axis=1)),
]


@pytest.mark.parametrize("fn", [pytest.param(f, id=i) for i, f in NUMPY_FALLBACKS])
def test_numpy_fallbacks_do_not_drop_gradients_silently(scipy_array_api, fn):
    """A SciPy function that goes through NumPy must stay differentiable, or say that it is not (an
    xpgrad error or a warning that names gradients): a result silently cut from the graph gives a
    wrong (missing) gradient term without any sign."""
    x = xg.asarray(A, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            y = fn(x)
        except xg.XpgradError as exc:
            assert "grad" in str(exc), f"an error that does not say why: {exc!r}"
            return
    if any("grad" in str(w.message) for w in caught):
        return
    assert y.requires_grad, (
        "the result silently left the graph: SciPy converted the tensor with numpy.asarray "
        "(Tensor.__array__) and xpgrad let a tensor that requires grad go without an error or warning")


# ---------------------------------------------------------------- both at once: foreign data underneath

FOREIGN_CASES = [
    ("xpx.cov", lambda x: xpx.cov(x), (A,)),
    ("xpx.kron", lambda x, y: xpx.kron(x, y), (A, B)),
    ("xpx.sinc", lambda x: xpx.sinc(x), (AWAY,)),
    ("xpx.pad", lambda x: xpx.pad(x, ((1, 0), (2, 1)), constant_values=3.0), (A,)),   # xp.full(device=)
    ("xpx.create_diagonal", lambda x: xpx.create_diagonal(x, offset=1), (V,)),
    ("xpx.at-set-copy", lambda x: xpx.at(x)[1, 1:3].set(x[0, :2] * 2.0, copy=True), (A,)),
    ("special.softmax", lambda x: SP.softmax(x, axis=1), (A,)),
    ("integrate.trapezoid", lambda y: scipy.integrate.trapezoid(y, dx=0.5, axis=1), (A,)),
    ("special.logsumexp", lambda x: SP.logsumexp(x, axis=1), (A,)),
    ("stats.skew", lambda x: ST.skew(x, axis=1), (A,)),
    ("optimize.rosen", lambda x: scipy.optimize.rosen(x), (V,)),
]


@pytest.mark.parametrize("fn,arrays", [pytest.param(f, a, id=i) for i, f, a in FOREIGN_CASES])
def test_third_party_code_on_array_api_strict_tensors(scipy_array_api, fn, arrays):
    """SciPy and array-api-extra see xpgrad; xpgrad runs every op on array-api-strict underneath."""
    strict = pytest.importorskip("array_api_strict")
    args = [xg.asarray(strict.asarray(a)) for a in arrays]
    y = fn(*args)
    assert isinstance(y, xg.Tensor) and y.device == args[0].device, y.device
    np.testing.assert_allclose(y.numpy(), np.asarray(fn(*arrays)), rtol=1e-10, atol=1e-12)
    check_grads(fn, args, order=2, modes=("fwd", "rev"))
