"""matmul (1-D and batched), tensordot, einsum, vecdot: against NumPy, by hand, and as error messages;
complex operands get the conjugate-transpose VJPs of the conjugate-Wirtinger convention."""

import array_api_compat.numpy as xnp
import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import linalg as L
from xpgrad.testing import check_grads

SUBSCRIPTS = [("ij,jk->ik", (3, 4), (4, 5)), ("ii->i", (3, 3)), ("ii", (3, 3)),
              ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)), ("...ij,...jk", (2, 1, 3, 4), (5, 4, 2)),
              ("i,i", (4,), (4,)), ("ij->", (3, 4)), ("ijk->kji", (2, 3, 4)),
              ("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)), ("iij->ji", (3, 3, 2)), (",ij->ji", (), (2, 3)),
              ("ba,ca", (2, 3), (4, 3)), ("i...->...", (3, 2, 2)), ("...,...->...", (3, 1), (4,)),
              ("ij,ij->", (2, 3), (2, 3)), ("bii,bi->b", (2, 3, 3), (2, 3)), ("iii->i", (2, 2, 2))]


def _operands(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize("sub,shapes", [(s[0], s[1:]) for s in SUBSCRIPTS], ids=[s[0] for s in SUBSCRIPTS])
def test_einsum_matches_numpy(sub, shapes):
    ops = _operands(shapes)
    expected = np.einsum(sub, *ops)
    got = xg.einsum(sub, *map(xg.asarray, ops)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # the generic (pure Array API) forward, without the NumPy kernel, on two namespaces
    generic = L.einsum.forward(xnp, *ops, subscripts=sub)
    np.testing.assert_allclose(generic, expected, rtol=1e-12, atol=1e-12)
    strict = L.einsum.forward(array_api_strict, *map(array_api_strict.asarray, ops), subscripts=sub)
    np.testing.assert_allclose(np.asarray(strict), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sub,shapes", [(s[0], s[1:]) for s in SUBSCRIPTS], ids=[s[0] for s in SUBSCRIPTS])
def test_einsum_gradients(sub, shapes):
    check_grads(lambda *xs: xg.einsum(sub, *xs), [xg.asarray(a) for a in _operands(shapes)], order=2)


def test_einsum_diagonal_gradient_lands_on_the_diagonal():
    x = xg.asarray(np.arange(9.0).reshape(3, 3), requires_grad=True)
    assert float(xg.einsum("ii", x)) == 12.0   # trace
    xg.einsum("ii", x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(3))


def test_einsum_generic_kernel_never_returns_a_view():
    a = np.ones((2, 3))
    out = L.einsum.forward(xnp, a, subscripts="ij->ij")
    assert not np.shares_memory(out, a)


def test_einsum_errors_name_the_problem():
    with pytest.raises(xg.ShapeError, match="index 'j' has sizes 4 and 5"):
        xg.einsum("ij,jk->ik", xg.ones((3, 4)), xg.ones((5, 2)))
    with pytest.raises(xg.OpError, match="names 2 operand"):
        xg.einsum("ij,jk->ik", xg.ones((3, 4)))
    with pytest.raises(xg.OpError):
        xg.einsum("ij->iz", xg.ones((3, 4)))


def test_einsum_op_is_not_exported_under_its_name():
    assert xg.einsum is not L.einsum and callable(xg.einsum)


@st.composite
def contraction(draw):
    letters = "abcde"
    size = {c: draw(st.integers(1, 3)) for c in letters}
    n = draw(st.integers(1, 3))
    terms = [draw(st.lists(st.sampled_from(letters), min_size=0, max_size=3)) for _ in range(n)]
    used = sorted(set().union(*terms))
    out = draw(st.permutations(used).flatmap(lambda p: st.integers(0, len(p)).map(lambda k: p[:k])))
    sub = ",".join("".join(t) for t in terms) + "->" + "".join(out)
    return sub, [tuple(size[c] for c in t) for t in terms], draw(st.integers(0, 2 ** 16))


@settings(max_examples=60, deadline=None)
@given(contraction())
def test_random_contractions_match_numpy(case):
    sub, shapes, seed = case
    ops = _operands(shapes, seed)
    expected = np.einsum(sub, *ops)
    np.testing.assert_allclose(L.einsum.forward(xnp, *ops, subscripts=sub), expected, rtol=1e-10,
                               atol=1e-10)
    # VJP against NumPy: ⟨ḡ, einsum(x)⟩ differentiated is einsum with one operand left out
    xs = [xg.asarray(a, requires_grad=True) for a in ops]
    g = np.random.default_rng(seed + 1).standard_normal(np.shape(expected))
    xg.sum(xg.einsum(sub, *xs) * xg.asarray(g)).backward()
    for k, x in enumerate(xs):
        eps = 1e-6
        d = np.random.default_rng(k).standard_normal(ops[k].shape)
        plus = [o + eps * d if j == k else o for j, o in enumerate(ops)]
        minus = [o - eps * d if j == k else o for j, o in enumerate(ops)]
        fd = np.sum(g * (np.einsum(sub, *plus) - np.einsum(sub, *minus))) / (2 * eps)
        assert np.sum(x.grad.numpy() * d) == pytest.approx(fd, rel=1e-6, abs=1e-8)


# ---------------------------------------------------------------- matmul


@pytest.mark.parametrize("s1,s2", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))])
def test_matmul_shapes_and_gradients_match_numpy(s1, s2):
    a, b = _operands([s1, s2])
    x, y = xg.asarray(a, requires_grad=True), xg.asarray(b, requires_grad=True)
    out = x @ y
    np.testing.assert_allclose(out.numpy(), a @ b)
    xg.sum(out).backward()
    assert x.grad.shape == s1 and y.grad.shape == s2
    g = np.ones(np.shape(a @ b))
    # vector-vector by hand; the rest through einsum with explicit batch sums
    if len(s1) == 1 and len(s2) == 1:
        np.testing.assert_allclose(x.grad.numpy(), b)
        np.testing.assert_allclose(y.grad.numpy(), a)
    check_grads(lambda u, v: u @ v, [x.detach(), y.detach()], order=2)
    assert g.shape == out.shape


def test_matmul_by_hand():
    x = xg.asarray([[1.0, 2.0]], requires_grad=True)
    y = xg.asarray([[3.0], [4.0]], requires_grad=True)
    (x @ y).backward(xg.asarray([[1.0]]))
    np.testing.assert_allclose(x.grad.numpy(), [[3.0, 4.0]])
    np.testing.assert_allclose(y.grad.numpy(), [[1.0], [2.0]])


def test_matmul_error_explains_inner_dimensions():
    with pytest.raises(xg.ShapeError, match=r"matmul: \(2, 3\) @ \(4, 3\): the inner dimensions differ "
                                            r"\(3 vs 4\); did you mean x1 @ matrix_transpose\(x2\)"):
        xg.matmul(xg.ones((2, 3)), xg.ones((4, 3)))
    with pytest.raises(xg.ShapeError, match="batch dimensions"):
        xg.ones((2, 2, 3)) @ xg.ones((3, 3, 5))
    with pytest.raises(xg.ShapeError, match="at least 1-D"):
        xg.matmul(xg.asarray(2.0), xg.ones((3,)))


# ---------------------------------------------------------------- tensordot


@pytest.mark.parametrize("s1,s2,axes", [((3, 4, 5), (4, 5, 2), 2), ((3, 4), (4, 5), 1), ((2, 3), (4,), 0),
                                        ((3, 4, 5), (5, 2, 3), ((0, 2), (2, 0))),
                                        ((3, 4), (2, 3), ([0], [1]))])
def test_tensordot_matches_numpy(s1, s2, axes):
    a, b = _operands([s1, s2])
    np.testing.assert_allclose(xg.tensordot(xg.asarray(a), xg.asarray(b), axes=axes).numpy(),
                               np.tensordot(a, b, axes=axes))
    check_grads(lambda u, v: xg.tensordot(u, v, axes=axes), [xg.asarray(a), xg.asarray(b)], order=2)

# ---------------------------------------------------------------- vecdot and complex operands


def _grad(f, *arrays):
    xs = [xg.asarray(a, requires_grad=True) for a in arrays]
    f(*xs).backward()
    return [x.grad.numpy() for x in xs]


def test_vecdot_conjugates_the_first_argument_and_its_gradients():
    rng = np.random.default_rng(10)
    a = rng.standard_normal((2, 4)) + 1j * rng.standard_normal((2, 4))
    b = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    r = xg.vecdot(xg.asarray(a), xg.asarray(b))
    np.testing.assert_allclose(r.numpy(), np.sum(np.conj(a) * b, axis=-1))
    assert xg.linalg.vecdot is xg.vecdot
    # L = Re Σ conj(a)·b: ∂L/∂a (∂x + i∂y) = b, ∂L/∂b = a (summed over the batch)
    ga, gb = _grad(lambda x, y: xg.sum(xg.real(xg.vecdot(x, y))), a, b)
    np.testing.assert_allclose(ga, np.broadcast_to(b, a.shape))
    np.testing.assert_allclose(gb, np.sum(a, axis=0))
    check_grads(lambda x, y: xg.vecdot(x, y, axis=-2), [xg.asarray(a.T), xg.asarray(b[:, None])], order=2)


def test_complex_products_vjp_is_the_conjugate_transpose():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    y = rng.standard_normal((4, 2)) + 1j * rng.standard_normal((4, 2))
    g = rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))
    _, f_vjp = xg.vjp(xg.matmul, xg.asarray(x), xg.asarray(y))
    gx, gy = f_vjp(xg.asarray(g))
    np.testing.assert_allclose(gx.numpy(), g @ y.conj().T)      # X̄ = Ḡ Yᴴ
    np.testing.assert_allclose(gy.numpy(), x.conj().T @ g)      # Ȳ = Xᴴ Ḡ
    _, f_vjp = xg.vjp(lambda u, w: xg.einsum("ij,jk->ik", u, w), xg.asarray(x), xg.asarray(y))
    ex, ey = f_vjp(xg.asarray(g))
    np.testing.assert_allclose(ex.numpy(), gx.numpy())
    np.testing.assert_allclose(ey.numpy(), gy.numpy())
    w = rng.standard_normal((2, 4)) + 1j * rng.standard_normal((2, 4))
    _, f_vjp = xg.vjp(L.linear, xg.asarray(x), xg.asarray(w))
    lx, lw = f_vjp(xg.asarray(g))
    np.testing.assert_allclose(lx.numpy(), g @ w.conj())        # x Wᵀ: X̄ = Ḡ conj(W)
    np.testing.assert_allclose(lw.numpy(), g.T @ x.conj())      # W̄ = Ḡᵀ conj(X)
    # a real operand gets the real part of its complex cotangent
    xr = rng.standard_normal((3, 4))
    _, f_vjp = xg.vjp(xg.matmul, xg.asarray(xr), xg.asarray(y))
    gxr, _ = f_vjp(xg.asarray(g))
    assert gxr.dtype == xg.float64
    np.testing.assert_allclose(gxr.numpy(), (g @ y.conj().T).real)


def test_vecdot_errors_name_the_problem():
    with pytest.raises(xg.ShapeError, match="vecdot: .*different lengths"):
        xg.vecdot(xg.ones((2, 3)), xg.ones((2, 4)))
    with pytest.raises(xg.ShapeError, match=r"vecdot: axis 0 is out of range"):
        xg.vecdot(xg.ones((2, 3)), xg.ones((3,)), axis=0)
    with pytest.raises(xg.ShapeError, match="vecdot: .*do not broadcast"):
        xg.vecdot(xg.ones((2, 3)), xg.ones((4, 3)))
    # a non-negative axis is read from the end when both inputs have the same rank
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(xg.vecdot(xg.asarray(a), xg.asarray(a), axis=0).numpy(), np.sum(a * a, axis=0))
