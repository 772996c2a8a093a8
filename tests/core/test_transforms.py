"""Functional transforms: grad, value_and_grad, vjp, jvp, linearize, Jacobians, hessian, hvp, custom rules."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg

TOL = dict(rtol=1e-10, atol=1e-10)


def close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **(kw or TOL))


# ---------------------------------------------------------------- the seeds' examples, reverse mode

def z(x, y):
    return 2 * x ** 2 + 3 * y + 1


def test_seed_z_by_grad():
    assert xg.grad(z, argnums=1)(2.0, 5.0).item() == 3.0
    assert xg.grad(z)(2.0, 5.0).item() == 8.0
    assert xg.grad(xg.grad(z))(2.0, 5.0).item() == 4.0


def test_seed_cube_by_grad():
    f = lambda x: x ** 3
    assert xg.grad(f)(2.0).item() == 12.0
    assert xg.grad(xg.grad(f))(2.0).item() == 12.0


@settings(max_examples=20, deadline=None)
@given(st.floats(-4, 4))
def test_seed_sin_third_derivative_by_grad(a):
    assert xg.grad(xg.grad(xg.grad(xg.sin)))(a).item() == pytest.approx(-math.cos(a), abs=1e-14)


# ---------------------------------------------------------------- grad, value_and_grad

def f_xy(x, y):
    return x * y * y  # ∂/∂x = y², ∂/∂y = 2xy


def test_grad_argnums_int_and_tuple():
    assert xg.grad(f_xy)(3.0, 2.0).item() == 4.0
    assert xg.grad(f_xy, argnums=1)(3.0, 2.0).item() == 12.0
    gx, gy = xg.grad(f_xy, argnums=(0, 1))(3.0, 2.0)
    assert (gx.item(), gy.item()) == (4.0, 12.0)
    (gy_only,) = xg.grad(f_xy, argnums=(1,))(3.0, 2.0)
    assert gy_only.item() == 12.0


def test_value_and_grad():
    v, g = xg.value_and_grad(f_xy)(3.0, 2.0)
    assert v.item() == 12.0 and g.item() == 4.0
    v, (gx, gy) = xg.value_and_grad(f_xy, argnums=(0, 1))(3.0, 2.0)
    assert (v.item(), gx.item(), gy.item()) == (12.0, 4.0, 12.0)
    assert isinstance(v, xg.Tensor) and not v.requires_grad


def test_has_aux():
    def f(x):
        y = x * x
        return y.sum(), {"y": y}

    g, aux = xg.grad(f, has_aux=True)(xg.asarray([1.0, 2.0]))
    assert g.tolist() == [2.0, 4.0]
    assert aux["y"].tolist() == [1.0, 4.0]
    (v, aux), g = xg.value_and_grad(f, has_aux=True)(xg.asarray([1.0, 2.0]))
    assert v.item() == 5.0 and g.tolist() == [2.0, 4.0] and aux["y"].tolist() == [1.0, 4.0]
    with pytest.raises(TypeError, match="has_aux"):
        xg.grad(lambda x: x * 1, has_aux=True)(1.0)


def test_grad_of_unused_argument_is_zero():
    g = xg.grad(lambda x, y: x * 2, argnums=1)(1.0, xg.asarray([1.0, 2.0]))
    assert g.tolist() == [0.0, 0.0]
    assert xg.grad(lambda x: xg.asarray(3.0))(1.0).item() == 0.0


def test_grad_keeps_input_shape_and_dtype():
    x = xg.asarray(np.ones((2, 3), dtype=np.float32))
    g = xg.grad(lambda v: (v * v).sum())(x)
    assert g.shape == (2, 3) and g.dtype == xg.float32


def test_grad_does_not_touch_dot_grad_of_inputs():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    g = xg.grad(lambda v: (v * v).sum())(x)
    assert g.tolist() == [2.0, 4.0]
    assert x.grad is None


def test_grad_of_input_that_requires_grad_is_differentiable():
    x = xg.asarray(2.0, requires_grad=True)
    g = xg.grad(lambda v: v ** 3)(x)  # 3x² = 12
    assert g.item() == 12.0 and g.requires_grad
    g.backward()
    assert x.grad.item() == 12.0      # 6x


def test_grad_argnums_out_of_range():
    with pytest.raises(TypeError, match="argnums"):
        xg.grad(lambda x: x, argnums=2)(1.0)


# ---------------------------------------------------------------- pytrees

def test_pytree_inputs_and_outputs():
    def f(params, scale):
        w, (b, c) = params["w"], params["bc"]
        return scale * ((w * w).sum() + b * c[0])

    params = {"w": np.array([1.0, 2.0]), "bc": (3.0, [xg.asarray(4.0)])}
    g = xg.grad(f)(params, 2.0)
    assert set(g) == {"w", "bc"}
    assert g["w"].tolist() == [4.0, 8.0]              # 2·2w
    assert isinstance(g["bc"], tuple) and isinstance(g["bc"][1], list)
    assert g["bc"][0].item() == 8.0 and g["bc"][1][0].item() == 6.0
    for leaf in (g["w"], g["bc"][0], g["bc"][1][0]):
        assert isinstance(leaf, xg.Tensor)
    g_scale = xg.grad(f, argnums=1)(params, 2.0)
    assert g_scale.item() == 5.0 + 12.0


def test_vjp_with_pytrees():
    def f(d):
        return [d["a"] * 2.0, (d["a"] * d["b"],)]

    out, f_vjp = xg.vjp(f, {"a": xg.asarray([1.0, 2.0]), "b": 3.0})
    assert out[0].tolist() == [2.0, 4.0] and out[1][0].tolist() == [3.0, 6.0]
    (ct,) = f_vjp([xg.asarray([1.0, 1.0]), (xg.asarray([1.0, 10.0]),)])
    assert ct["a"].tolist() == [2.0 + 3.0, 2.0 + 30.0]
    assert ct["b"].item() == 1.0 + 20.0


# ---------------------------------------------------------------- vjp, linearize

def test_vjp_by_hand():
    y, f_vjp = xg.vjp(lambda x: x * x, xg.asarray([1.0, 3.0]))
    assert y.tolist() == [1.0, 9.0]
    (g,) = f_vjp(xg.asarray([1.0, 10.0]))
    assert g.tolist() == [2.0, 60.0]
    (g2,) = f_vjp(np.array([1.0, 1.0]))  # can be called again
    assert g2.tolist() == [2.0, 6.0]


def test_vjp_has_aux_and_multiple_primals():
    y, f_vjp, aux = xg.vjp(lambda a, b: (a * b, "aux"), 3.0, 4.0, has_aux=True)
    assert aux == "aux" and y.item() == 12.0
    ga, gb = f_vjp(1.0)
    assert (ga.item(), gb.item()) == (4.0, 3.0)


def test_vjp_cotangent_shape_is_checked():
    _, f_vjp = xg.vjp(lambda x: x * 2, xg.ones(3))
    with pytest.raises(xg.ShapeError, match=r"\(2,\).*\(3,\)"):
        f_vjp(xg.ones(2))


def test_linearize_matches_jvp():
    f = lambda x: xg.sin(x) * x
    x = xg.asarray([0.5, 1.0, -2.0])
    y, f_lin = xg.linearize(f, x)
    close(y.numpy(), np.sin([0.5, 1.0, -2.0]) * [0.5, 1.0, -2.0])
    for t in (xg.asarray([1.0, 0.0, 0.0]), xg.asarray([0.3, -1.0, 2.0])):
        _, expected = xg.jvp(f, (x,), (t,))
        close(f_lin(t).numpy(), expected.numpy(), rtol=1e-14, atol=1e-14)


def test_linearize_two_inputs():
    y, f_lin = xg.linearize(lambda a, b: a * b * b, 3.0, 2.0)
    assert y.item() == 12.0
    assert f_lin(1.0, 0.0).item() == 4.0
    assert f_lin(0.0, 1.0).item() == 12.0


# ---------------------------------------------------------------- Jacobians

def vec_f(x):
    return xg.sin(x) * x[0]  # J = diag(cos x) x₀ + e₀ ⊗ sin x


def vec_f_jac(x):
    x = np.asarray(x, dtype=float)
    j = np.diag(np.cos(x) * x[0])
    j[:, 0] += np.sin(x)
    return j


@pytest.mark.parametrize("jac", [xg.jacrev, xg.jacfwd, xg.jacobian,
                                 lambda f: xg.jacobian(f, mode="fwd"), lambda f: xg.jacobian(f, mode="rev")],
                         ids=["jacrev", "jacfwd", "auto", "fwd", "rev"])
def test_jacobian_by_hand(jac):
    x = xg.asarray([0.5, -1.0, 2.0])
    j = jac(vec_f)(x)
    assert isinstance(j, xg.Tensor) and j.shape == (3, 3)
    close(j.numpy(), vec_f_jac([0.5, -1.0, 2.0]))


def test_jacobian_shapes_are_out_then_in():
    f = lambda m: (m * m).sum(axis=1)  # (2, 3) -> (2,)
    m = xg.asarray(np.arange(6.0).reshape(2, 3))
    for jac in (xg.jacrev, xg.jacfwd):
        j = jac(f)(m)
        assert j.shape == (2, 2, 3)
        expected = np.zeros((2, 2, 3))
        expected[0, 0] = 2 * np.arange(3.0)
        expected[1, 1] = 2 * np.arange(3.0, 6.0)
        close(j.numpy(), expected)


def test_jacobian_of_scalar_function_is_the_gradient():
    f = lambda x: (x ** 3).sum()
    x = xg.asarray([1.0, 2.0])
    for jac in (xg.jacrev, xg.jacfwd):
        assert jac(f)(x).tolist() == [3.0, 12.0]


def test_jacobian_argnums_tuple_and_pytree_output():
    f = lambda a, b: {"p": a * b, "s": (a * a).sum()}
    a, b = xg.asarray([1.0, 2.0]), xg.asarray([3.0, 4.0])
    for jac in (xg.jacrev, xg.jacfwd):
        j = jac(f, argnums=(0, 1))(a, b)
        close(j["p"][0].numpy(), np.diag([3.0, 4.0]))
        close(j["p"][1].numpy(), np.diag([1.0, 2.0]))
        close(j["s"][0].numpy(), [2.0, 4.0])
        close(j["s"][1].numpy(), [0.0, 0.0])


def _counted(f):
    calls = []

    def g(*args):
        calls.append(1)
        return f(*args)
    return g, calls


def test_jacobian_auto_picks_forward_for_few_inputs_and_many_outputs():
    # 2 inputs, 6 outputs: forward mode needs 2 evaluations (+1 to learn the output size)
    f, calls = _counted(lambda x: xg.reshape(x * xg.asarray([[1.0], [2.0], [3.0]]), (6,)))
    j = xg.jacobian(f)(xg.asarray([1.0, 2.0]))
    assert j.shape == (6, 2)
    assert len(calls) == 1 + 2
    _, calls_fwd = _counted(None)
    g, calls_fwd = _counted(lambda x: xg.reshape(x * xg.asarray([[1.0], [2.0], [3.0]]), (6,)))
    close(xg.jacobian(g, mode="fwd")(xg.asarray([1.0, 2.0])).numpy(), j.numpy())
    assert len(calls_fwd) == 2


def test_jacobian_auto_picks_reverse_for_many_inputs_and_few_outputs():
    # 6 inputs, 2 outputs: reverse mode needs 1 evaluation (+1 to learn the output size)
    f, calls = _counted(lambda x: xg.reshape(x, (2, 3)).sum(axis=1))
    j = xg.jacobian(f)(xg.asarray(np.arange(6.0)))
    assert j.shape == (2, 6)
    close(j.numpy(), np.kron(np.eye(2), np.ones((1, 3))))
    assert len(calls) == 1 + 1
    g, calls_rev = _counted(lambda x: xg.reshape(x, (2, 3)).sum(axis=1))
    xg.jacobian(g, mode="rev")(xg.asarray(np.arange(6.0)))
    assert len(calls_rev) == 1


def test_jacobian_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        xg.jacobian(vec_f, mode="sideways")


# ---------------------------------------------------------------- hessian, hvp

def test_hessian_by_hand():
    f = lambda x: x[0] ** 2 * x[1] + x[1] ** 3  # H = [[2x₁, 2x₀], [2x₀, 6x₁]]
    h = xg.hessian(f)(xg.asarray([1.0, 2.0]))
    assert h.tolist() == [[4.0, 2.0], [2.0, 12.0]]


def test_hvp_by_hand():
    f = lambda x: x[0] ** 2 * x[1] + x[1] ** 3
    v, hv = xg.hvp(f, (xg.asarray([1.0, 2.0]),), (xg.asarray([1.0, -1.0]),))
    assert v.item() == 10.0
    assert hv.tolist() == [2.0, -10.0]


def test_hvp_with_two_primals():
    f = lambda a, b: a * a * b  # H = [[2b, 2a], [2a, 0]]
    v, (ha, hb) = xg.hvp(f, (3.0, 2.0), (1.0, 1.0))
    assert v.item() == 18.0
    assert (ha.item(), hb.item()) == (4.0 + 6.0, 6.0)


# ---------------------------------------------------------------- consistency on real models (float64, 1e-10)

def _lse(z, axis=-1):
    """log Σ exp z, shifted by a constant max for stability (any constant shift is exact)."""
    m = np.max(np.asarray(z.detach() if isinstance(z, xg.Tensor) else z), axis=axis, keepdims=True)
    return xg.log(xg.sum(xg.exp(z - m), axis=axis, keepdims=True)) + m


def _xent(logits, onehot):
    return xg.mean(xg.sum((_lse(logits) - logits) * onehot, axis=-1))


RNG = np.random.default_rng(42)
X = xg.asarray(RNG.standard_normal((5, 3)))
Y = xg.asarray(np.eye(3)[[0, 2, 1, 1, 0]])
SHAPES = [(3, 4), (4,), (4, 3), (3,)]
P0 = xg.asarray(RNG.standard_normal(sum(int(np.prod(s)) for s in SHAPES)) * 0.7)
V0 = xg.asarray(RNG.standard_normal(P0.shape[0]))


def _unpack(p):
    out, i = [], 0
    for s in SHAPES:
        n = int(np.prod(s))
        out.append(xg.reshape(p[i:i + n], s))
        i += n
    return out


def mlp(w1, b1, w2, b2, x=X):
    return xg.tanh(x @ w1 + b1) @ w2 + b2


def mlp_flat(p):
    return mlp(*_unpack(p))


def mlp_loss(p):
    return _xent(mlp_flat(p), Y)


def lse_vec(x):
    return _lse(x)[0]


def softmax_xent(logits_flat):
    return _xent(xg.reshape(logits_flat, (5, 3)), Y)


def test_mlp_jacfwd_equals_jacrev_flat_params():
    jf = xg.jacfwd(mlp_flat)(P0)
    jr = xg.jacrev(mlp_flat)(P0)
    assert jf.shape == jr.shape == (5, 3, P0.shape[0])
    close(jf.numpy(), jr.numpy())


def test_mlp_jacfwd_equals_jacrev_several_argnums():
    params = _unpack(P0)
    jf = xg.jacfwd(mlp, argnums=(0, 1, 2, 3))(*params)
    jr = xg.jacrev(mlp, argnums=(0, 1, 2, 3))(*params)
    for a, b, s in zip(jf, jr, SHAPES):
        assert a.shape == b.shape == (5, 3) + s
        close(a.numpy(), b.numpy())
    # the bias of the last layer enters linearly: ∂out[i, k]/∂b2[l] = δ_kl
    close(jf[3].numpy(), np.broadcast_to(np.eye(3), (5, 3, 3)))


def test_mlp_hessian_and_hvp():
    h = xg.hessian(mlp_loss)(P0)
    n = P0.shape[0]
    assert h.shape == (n, n)
    close(h.numpy(), xg.jacfwd(xg.jacrev(mlp_loss))(P0).numpy())
    close(h.numpy(), xg.jacrev(xg.jacrev(mlp_loss))(P0).numpy())
    close(h.numpy(), h.numpy().T)
    _, hv = xg.hvp(mlp_loss, (P0,), (V0,))
    close(hv.numpy(), h.numpy() @ V0.numpy())


def test_mlp_gradient_matches_finite_differences():
    xg.testing.check_grads(mlp_loss, (P0,), order=1)


def test_softmax_cross_entropy_derivatives():
    logits = xg.asarray(RNG.standard_normal(15))
    g = xg.grad(softmax_xent)(logits)
    z = logits.numpy().reshape(5, 3)
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    close(g.numpy(), ((s - Y.numpy()) / 5).reshape(15))  # ∂/∂z = (softmax − y) / batch
    close(xg.jacfwd(softmax_xent)(logits).numpy(), xg.jacrev(softmax_xent)(logits).numpy())
    h = xg.hessian(softmax_xent)(logits)
    close(h.numpy(), xg.jacfwd(xg.jacrev(softmax_xent))(logits).numpy())
    # block-diagonal, each block (diag s − s sᵀ) / batch
    blocks = np.zeros((15, 15))
    for i in range(5):
        blocks[3 * i:3 * i + 3, 3 * i:3 * i + 3] = (np.diag(s[i]) - np.outer(s[i], s[i])) / 5
    close(h.numpy(), blocks)
    v = xg.asarray(RNG.standard_normal(15))
    close(xg.hvp(softmax_xent, (logits,), (v,))[1].numpy(), h.numpy() @ v.numpy())


def test_logsumexp_derivatives():
    x = xg.asarray([0.5, -1.0, 2.0, 0.0])
    s = np.exp(x.numpy()) / np.exp(x.numpy()).sum()
    close(xg.grad(lse_vec)(x).numpy(), s)  # ∇ logsumexp = softmax
    close(xg.jacfwd(lse_vec)(x).numpy(), xg.jacrev(lse_vec)(x).numpy())
    h = xg.hessian(lse_vec)(x)
    close(h.numpy(), np.diag(s) - np.outer(s, s))
    close(h.numpy(), xg.jacfwd(xg.jacrev(lse_vec))(x).numpy())
    v = xg.asarray([1.0, 2.0, -1.0, 0.5])
    close(xg.hvp(lse_vec, (x,), (v,))[1].numpy(), h.numpy() @ v.numpy())


def test_vector_jacobians_of_log_softmax_composed():
    f = lambda x: x - _lse(x)
    x = xg.asarray([0.5, -1.0, 2.0])
    s = np.exp(x.numpy()) / np.exp(x.numpy()).sum()
    jr = xg.jacrev(f)(x)
    close(jr.numpy(), np.eye(3) - s[None, :])
    close(xg.jacfwd(f)(x).numpy(), jr.numpy())


needs_nn = pytest.mark.skipif(not hasattr(xg, "logsumexp") or not hasattr(xg, "log_softmax"),
                              reason="xpgrad.logsumexp / xpgrad.log_softmax have not landed yet")


@needs_nn
def test_builtin_logsumexp_derivatives():
    x = xg.asarray([0.5, -1.0, 2.0, 0.0])
    f = lambda v: xg.logsumexp(v)
    s = np.exp(x.numpy()) / np.exp(x.numpy()).sum()
    close(xg.grad(f)(x).numpy(), s)
    close(xg.jacfwd(f)(x).numpy(), xg.jacrev(f)(x).numpy())
    h = xg.hessian(f)(x)
    close(h.numpy(), np.diag(s) - np.outer(s, s))
    close(h.numpy(), xg.jacfwd(xg.jacrev(f))(x).numpy())
    v = xg.asarray([1.0, 2.0, -1.0, 0.5])
    close(xg.hvp(f, (x,), (v,))[1].numpy(), h.numpy() @ v.numpy())


@needs_nn
def test_builtin_log_softmax_cross_entropy_derivatives():
    def loss(p):
        logits = mlp_flat(p)
        return -xg.mean(xg.sum(xg.log_softmax(logits, axis=-1) * Y, axis=-1))

    close(loss(P0).numpy(), mlp_loss(P0).numpy())
    close(xg.jacfwd(loss)(P0).numpy(), xg.jacrev(loss)(P0).numpy())
    h = xg.hessian(loss)(P0)
    close(h.numpy(), xg.hessian(mlp_loss)(P0).numpy())
    close(xg.hvp(loss, (P0,), (V0,))[1].numpy(), h.numpy() @ V0.numpy())


# ---------------------------------------------------------------- results

def test_results_are_tensors():
    x = np.array([1.0, 2.0])
    f = lambda v: (v ** 3).sum()
    assert isinstance(xg.grad(f)(x), xg.Tensor)
    assert isinstance(xg.grad(f)(1.5), xg.Tensor)
    assert all(isinstance(t, xg.Tensor) for t in xg.value_and_grad(f)(x))
    assert all(isinstance(t, xg.Tensor) for t in xg.jvp(f, (x,), (x,)))
    assert isinstance(xg.vjp(f, x)[1](1.0)[0], xg.Tensor)
    assert isinstance(xg.jacrev(xg.sin)(x), xg.Tensor) and isinstance(xg.jacfwd(xg.sin)(x), xg.Tensor)
    assert isinstance(xg.hessian(f)(x), xg.Tensor)
    assert all(isinstance(t, xg.Tensor) for t in xg.hvp(f, (x,), (x,)))


def _transform_results():
    x = xg.asarray([1.0, 2.0])
    f = lambda v: (v ** 3).sum()
    return {
        "grad": lambda: [xg.grad(f)(x)],
        "value_and_grad": lambda: list(xg.value_and_grad(f)(x)),
        "vjp": lambda: [xg.vjp(xg.sin, x)[0], xg.vjp(xg.sin, x)[1](x)[0]],
        "jvp": lambda: list(xg.jvp(xg.sin, (x,), (x,))),
        "jacfwd": lambda: [xg.jacfwd(xg.sin)(x)],
        "grad_of_grad": lambda: [xg.grad(xg.grad(lambda v: v ** 3))(2.0)],
        "jacrev": lambda: [xg.jacrev(xg.sin)(x)],
        "hessian": lambda: [xg.hessian(f)(x)],
        "hvp": lambda: list(xg.hvp(f, (x,), (x,))),
        "linearize": lambda: [xg.linearize(xg.sin, x)[1](x)],
        "jvp_of_grad": lambda: list(xg.jvp(xg.grad(f), (x,), (x,))),
    }


@pytest.mark.parametrize("name", list(_transform_results()))
def test_results_of_plain_inputs_do_not_require_grad(name):
    for t in _transform_results()[name]():
        assert not t.requires_grad, f"{name} returned {t!r}"


# ---------------------------------------------------------------- custom_vjp

@xg.custom_vjp
def clip_gradient(x):
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (xg.clip(g, -1.0, 1.0),))


def test_custom_vjp_replaces_the_gradient():
    assert clip_gradient(xg.asarray(2.0)).item() == 2.0
    assert xg.grad(lambda x: clip_gradient(x) * 5.0)(2.0).item() == 1.0
    assert xg.grad(lambda x: clip_gradient(x) * 0.5)(2.0).item() == 0.5
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    (clip_gradient(x) * xg.asarray([-3.0, 0.25])).sum().backward()
    assert x.grad.tolist() == [-1.0, 0.25]


@xg.custom_vjp
def sin_cv(x):
    return xg.sin(x)


def _sin_fwd(x):
    return xg.sin(x), xg.cos(x)


sin_cv.defvjp(_sin_fwd, lambda cos_x, g: (g * cos_x,))


@xg.custom_vjp
def scaled_identity(x, y):
    return x * y


scaled_identity.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g * res[1], g * res[0]))


def test_custom_vjp_residuals_and_two_arguments():
    assert xg.grad(sin_cv)(0.5).item() == pytest.approx(math.cos(0.5), rel=1e-15)
    gx, gy = xg.grad(scaled_identity, argnums=(0, 1))(3.0, 4.0)
    assert (gx.item(), gy.item()) == (4.0, 3.0)
    _, f_vjp = xg.vjp(scaled_identity, xg.asarray([1.0, 2.0]), xg.asarray([3.0, 5.0]))
    a, b = f_vjp(xg.asarray([1.0, 10.0]))
    assert a.tolist() == [3.0, 50.0] and b.tolist() == [1.0, 20.0]


def test_forward_mode_through_custom_vjp_transposes_bwd():
    _, t = xg.jvp(sin_cv, (0.5,), (2.0,))
    assert t.item() == pytest.approx(2.0 * math.cos(0.5), rel=1e-15)
    _, t = xg.jvp(scaled_identity, (3.0, 4.0), (1.0, 10.0))
    assert t.item() == 4.0 + 30.0
    # the custom rule wins in forward mode too: clip_gradient's bwd is the identity for |g| < 1
    _, t = xg.jvp(clip_gradient, (2.0,), (0.5,))
    assert t.item() == 0.5


def test_custom_vjp_jacobians_agree():
    x = xg.asarray([0.1, 0.7, -1.2])
    close(xg.jacfwd(sin_cv)(x).numpy(), np.diag(np.cos(x.numpy())))
    close(xg.jacrev(sin_cv)(x).numpy(), np.diag(np.cos(x.numpy())))


def test_custom_vjp_second_derivative_through_a_differentiable_bwd():
    # bwd is written with xpgrad ops, so grad of grad differentiates it (the residual x is an input)
    @xg.custom_vjp
    def cube(x):
        return x ** 3

    cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3.0 * g * x * x,))
    assert xg.grad(cube)(2.0).item() == 12.0
    assert xg.grad(xg.grad(cube))(2.0).item() == 12.0


def test_custom_vjp_second_derivative_through_residuals():
    assert xg.grad(xg.grad(sin_cv))(0.5).item() == pytest.approx(-math.sin(0.5), rel=1e-14)


def test_custom_vjp_without_defvjp_is_the_plain_function():
    @xg.custom_vjp
    def f(x):
        return x * 3.0

    assert xg.grad(f)(1.0).item() == 3.0
    assert f.__name__ == "f"


def test_custom_vjp_bwd_with_wrong_arity():
    @xg.custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(lambda x, y: (x * y, None), lambda res, g: (g,))
    with pytest.raises(TypeError, match=r"custom_vjp f.*2 cotangents"):
        xg.grad(f)(1.0, 2.0)


# ---------------------------------------------------------------- custom_jvp

@xg.custom_jvp
def softplus(x):
    return xg.log(1.0 + xg.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t * xg.sigmoid(x)


def _sigmoid(a):
    return 1 / (1 + math.exp(-a))


@settings(max_examples=20, deadline=None)
@given(st.floats(-5, 5))
def test_custom_jvp_forward_and_reverse(a):
    assert softplus(xg.asarray(a)).item() == pytest.approx(math.log1p(math.exp(a)), rel=1e-14)
    _, t = xg.jvp(softplus, (a,), (3.0,))
    assert t.item() == pytest.approx(3.0 * _sigmoid(a), rel=1e-14)
    assert xg.grad(softplus)(a).item() == pytest.approx(_sigmoid(a), rel=1e-14)


def test_custom_jvp_second_derivatives():
    a = 0.3
    s = _sigmoid(a)
    d2 = s * (1 - s)
    fwd = lambda f: (lambda x: xg.jvp(f, (x,), (1.0,))[1])
    assert fwd(fwd(softplus))(a).item() == pytest.approx(d2, rel=1e-14)
    assert xg.grad(xg.grad(softplus))(a).item() == pytest.approx(d2, rel=1e-14)
    assert xg.grad(fwd(softplus))(a).item() == pytest.approx(d2, rel=1e-14)
    assert fwd(xg.grad(softplus))(xg.asarray(a)).item() == pytest.approx(d2, rel=1e-14)


def test_custom_jvp_rule_is_used_not_the_function():
    @xg.custom_jvp
    def f(x):
        return x * x

    @f.defjvp
    def _(primals, tangents):
        return f(primals[0]), 100.0 * tangents[0]

    assert xg.jvp(f, (3.0,), (1.0,))[1].item() == 100.0
    assert xg.grad(f)(3.0).item() == 100.0


def test_custom_jvp_with_two_arguments_and_a_zero_tangent():
    @xg.custom_jvp
    def f(x, y):
        return x * y

    @f.defjvp
    def _(primals, tangents):
        (x, y), (dx, dy) = primals, tangents
        return x * y, dx * y + x * dy

    assert xg.grad(f, argnums=(0, 1))(3.0, 4.0)[1].item() == 3.0
    assert xg.jvp(lambda a: f(a, xg.asarray(4.0)), (3.0,), (1.0,))[1].item() == 4.0
