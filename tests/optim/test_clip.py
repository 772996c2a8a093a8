"""clip_grad_norm_ and clip_grad_value_ against NumPy, on every device."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.optim import clip_grad_norm_, clip_grad_value_

RNG = np.random.default_rng(11)
GRADS = [RNG.normal(size=(3, 4)), RNG.normal(size=(5,)), RNG.normal(size=())]


def with_grads(grads, device="cpu", dtype=xg.float64):
    ps = []
    for g in grads:
        p = xg.zeros(np.shape(g), dtype=dtype, device=device, requires_grad=True)
        if g is not None:
            p.grad = xg.asarray(np.array(g), dtype=dtype, device=device)
        ps.append(p)
    return ps


def np_norm(grads, p):
    flat = np.concatenate([np.ravel(g) for g in grads])
    return np.max(np.abs(flat)) if p == math.inf else np.sum(np.abs(flat) ** p) ** (1 / p)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf, "inf"])
def test_total_norm_and_scaling(p):
    order = float(p)
    ps = with_grads(GRADS)
    total = np_norm(GRADS, order)
    max_norm = total / 3
    got = clip_grad_norm_(ps, max_norm, norm_type=p)
    assert isinstance(got, xg.Tensor) and got.shape == () and got.dtype == xg.float64
    assert float(got) == pytest.approx(total, rel=1e-12)
    scale = max_norm / (total + 1e-6)
    for q, g in zip(ps, GRADS):
        np.testing.assert_allclose(q.grad.numpy(), np.array(g) * scale, rtol=1e-12)
    assert np_norm([q.grad.numpy() for q in ps], order) <= max_norm


def test_gradients_under_the_limit_are_untouched():
    ps = with_grads(GRADS)
    total = np_norm(GRADS, 2.0)
    got = clip_grad_norm_(ps, total * 2)
    assert float(got) == pytest.approx(total)
    for q, g in zip(ps, GRADS):
        np.testing.assert_array_equal(q.grad.numpy(), g)


def test_single_tensor_none_grads_and_no_grads():
    a, b = with_grads([np.array([3.0, 4.0]), None])
    assert float(clip_grad_norm_(a, 1.0)) == 5.0
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    assert b.grad is None
    (nothing,) = with_grads([None])
    z = clip_grad_norm_([nothing], 1.0)
    assert float(z) == 0.0 and z.shape == ()


def test_grad_buffer_is_scaled_in_place():
    (a,) = with_grads([np.array([30.0, 40.0])])
    g, raw = a.grad, a.grad.data
    clip_grad_norm_([a], 5.0)
    assert a.grad is g and a.grad.data is raw


def test_non_finite_norm():
    ps = with_grads([np.array([1.0, np.nan]), np.array([2.0])])
    with pytest.raises(xg.OpError, match="nan.*error_if_nonfinite"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(ps[1].grad.numpy(), [2.0])  # unchanged when refused
    total = clip_grad_norm_(ps, 1.0)  # default: no check, no host read
    assert math.isnan(float(total))
    inf = with_grads([np.array([np.inf, 1.0])])
    with pytest.raises(xg.OpError, match="inf"):
        clip_grad_norm_(inf, 1.0, error_if_nonfinite=True)


def test_float32_stays_float32():
    ps = with_grads(GRADS, dtype=xg.float32)
    got = clip_grad_norm_(ps, 0.5)
    assert got.dtype == xg.float32 and all(q.grad.dtype == xg.float32 for q in ps)
    assert float(got) == pytest.approx(np_norm(GRADS, 2.0), rel=1e-6)


def test_bad_arguments():
    ps = with_grads(GRADS)
    for bad in (0, -1.0, "two", None):
        with pytest.raises(xg.OpError, match="norm_type"):
            clip_grad_norm_(ps, 1.0, norm_type=bad)
    with pytest.raises(xg.OpError, match="max_norm"):
        clip_grad_norm_(ps, -1.0)
    with pytest.raises(xg.OpError, match="clip_value"):
        clip_grad_value_(ps, -0.5)


def test_clip_grad_value():
    ps = with_grads(GRADS + [None])
    clip_grad_value_(ps, 0.5)
    for q, g in zip(ps, GRADS):
        np.testing.assert_array_equal(q.grad.numpy(), np.clip(g, -0.5, 0.5))
    assert ps[-1].grad is None


finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(finite, min_size=1, max_size=6), min_size=1, max_size=4),
       st.floats(1e-3, 1e3), st.sampled_from([1.0, 2.0, 3.5, math.inf]))
def test_clipped_norm_is_at_most_max_norm_and_direction_is_kept(grads, max_norm, p):
    grads = [np.array(g) for g in grads]
    ps = with_grads(grads)
    total = float(clip_grad_norm_(ps, max_norm, norm_type=p))
    assert total == pytest.approx(np_norm(grads, p), rel=1e-9, abs=1e-12)
    after = [q.grad.numpy() for q in ps]
    assert np_norm(after, p) <= max_norm * (1 + 1e-12)
    scale = min(1.0, max_norm / (total + 1e-6))
    for a, g in zip(after, grads):
        np.testing.assert_allclose(a, g * scale, rtol=1e-12, atol=1e-300)


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=1, max_size=8), st.floats(0, 1e3))
def test_clip_value_bounds(g, c):
    (q,) = with_grads([np.array(g)])
    clip_grad_value_([q], c)
    out = q.grad.numpy()
    assert np.all(np.abs(out) <= c) and np.array_equal(out, np.clip(g, -c, c))
