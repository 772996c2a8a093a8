"""softmax and log_softmax: values by hand, stability at ±1e4, closed-form rules."""

import numpy as np
import pytest

import xpgrad as xg


def test_softmax_by_hand():
    y = xg.softmax(xg.asarray([0.0, np.log(3.0)]))
    np.testing.assert_allclose(y.numpy(), [0.25, 0.75])


def test_softmax_and_log_softmax_at_large_logits_are_finite_and_correct():
    x = xg.asarray([[1e4, -1e4, 1e4], [-1e4, -1e4 + np.log(3.0), -1e4 - 1e3]])
    y = xg.softmax(x, axis=-1).numpy()
    np.testing.assert_allclose(y, [[0.5, 0.0, 0.5], [0.25, 0.75, 0.0]], atol=1e-12)
    ly = xg.log_softmax(x).numpy()
    assert np.isfinite(ly).all()
    np.testing.assert_allclose(ly[0], [-np.log(2.0), -2e4 - np.log(2.0), -np.log(2.0)])
    np.testing.assert_allclose(ly[1, :2], [np.log(0.25), np.log(0.75)])


def test_softmax_vjp_closed_form():
    # ḡ ↦ y·(g − Σ g·y) with y = (1/4, 3/4), g = (1, 0): Σ g·y = 1/4 → (3/16, −3/16)
    x = xg.asarray([0.0, np.log(3.0)], requires_grad=True)
    xg.sum(xg.softmax(x) * xg.asarray([1.0, 0.0])).backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 / 16, -3 / 16])


def test_log_softmax_vjp_closed_form():
    # ḡ ↦ g − softmax·Σg with g = (1, 1): (1 − 2/4, 1 − 2·3/4)
    x = xg.asarray([0.0, np.log(3.0)], requires_grad=True)
    xg.sum(xg.log_softmax(x)).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, -0.5])


def test_log_softmax_gradient_at_large_logits_is_finite():
    x = xg.asarray([1e4, -1e4, 1e4], requires_grad=True)
    xg.sum(xg.log_softmax(x) * xg.asarray([1.0, 0.0, 0.0])).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.0, -0.5])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_matches_exp_of_log_softmax(axis):
    x = xg.asarray(np.random.default_rng(0).standard_normal((3, 4)))
    np.testing.assert_allclose(xg.softmax(x, axis=axis).numpy(),
                               np.exp(xg.log_softmax(x, axis=axis).numpy()), rtol=1e-12)
    np.testing.assert_allclose(np.sum(xg.softmax(x, axis=axis).numpy(), axis=axis), 1.0)
