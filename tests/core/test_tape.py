"""Reverse mode: recording, backward, accumulation, memory release, grad mode, hooks."""

import gc
import math
import threading
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad import autograd


def leaf(values):
    return xg.asarray(values, dtype=xg.float64, requires_grad=True)


# ---------------------------------------------------------------- the seeds' examples

def test_seed_z_equals_2x2_plus_3y_plus_1():
    x = xg.asarray(2.0, requires_grad=True)
    y = xg.asarray(5.0, requires_grad=True)
    z = 2 * x ** 2 + 3 * y + 1
    assert z.item() == 24.0
    z.backward()
    assert y.grad.item() == 3.0
    assert x.grad.item() == 8.0


def test_seed_second_derivative_through_backward_create_graph():
    x = xg.asarray(2.0, requires_grad=True)
    y = xg.asarray(5.0, requires_grad=True)
    z = 2 * x ** 2 + 3 * y + 1
    z.backward(create_graph=True)
    dzdx = x.grad
    assert dzdx.item() == 8.0 and dzdx.requires_grad
    x.grad = None
    dzdx.backward()
    assert x.grad.item() == 4.0


def test_seed_cube_to_third_order_through_backward_create_graph():
    x = xg.asarray(2.0, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    g1, x.grad = x.grad, None
    g1.backward(create_graph=True)
    g2, x.grad = x.grad, None
    g2.backward()
    assert (g1.item(), g2.item(), x.grad.item()) == (12.0, 12.0, 6.0)


@settings(max_examples=20, deadline=None)
@given(st.floats(-3, 3))
def test_seed_third_derivative_of_sin_through_backward(a):
    x = xg.asarray(a, requires_grad=True)
    xg.sin(x).backward(create_graph=True)
    g1, x.grad = x.grad, None
    g1.backward(create_graph=True)
    g2, x.grad = x.grad, None
    g2.backward()
    assert g1.item() == pytest.approx(math.cos(a), abs=1e-15)
    assert g2.item() == pytest.approx(-math.sin(a), abs=1e-15)
    assert x.grad.item() == pytest.approx(-math.cos(a), abs=1e-15)


def test_autograd_grad_create_graph():
    x = xg.asarray(2.0, requires_grad=True)
    y = x ** 3
    (g,) = autograd.grad(y, x, create_graph=True)
    assert g.item() == 12.0
    (h,) = autograd.grad(g, x)
    assert h.item() == 12.0
    assert x.grad is None  # autograd.grad does not accumulate


# ---------------------------------------------------------------- accumulation

def test_grad_accumulates_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    (3 * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.grad = None
    (3 * x).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_fan_out_accumulates_within_one_backward():
    x = leaf([2.0])
    y = x * x
    z = y + y * x + xg.exp(x * 0)  # x² + x³ + 1: derivative 2x + 3x² = 16 at 2
    z.sum().backward()
    assert x.grad.tolist() == [16.0]


def test_broadcasting_is_undone_in_the_gradient():
    x = leaf([[1.0], [2.0]])        # (2, 1)
    b = leaf([10.0, 20.0, 30.0])    # (3,)
    (x * b).sum().backward()
    assert x.grad.tolist() == [[60.0], [60.0]]
    assert b.grad.tolist() == [3.0, 3.0, 3.0]


def test_backward_with_explicit_cotangent():
    x = leaf([1.0, 2.0])
    y = x * x
    y.backward(xg.asarray([10.0, 100.0]))
    assert x.grad.tolist() == [20.0, 400.0]


def test_backward_with_inputs_only_fills_those():
    x, w = leaf([1.0]), leaf([3.0])
    (x * w).sum().backward(inputs=[w])
    assert w.grad.tolist() == [1.0] and x.grad is None


def test_grads_keep_their_own_buffers():
    x = leaf([1.0, 2.0])
    y = leaf([1.0, 2.0])
    (x + y).sum().backward()
    x.grad.numpy()[0] = 100.0
    assert y.grad.tolist() == [1.0, 1.0]


def test_integer_results_do_not_require_grad():
    x = leaf([1.5, 2.5])
    assert not xg.astype(x, xg.int64).requires_grad
    assert not (x > 2).requires_grad


def test_retain_graph_twice_doubles_grad():
    x = leaf([1.0, 2.0])
    y = (x * x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [6.0, 24.0]  # 2 · 3x²
    with pytest.raises(xg.GraphFreedError):
        y.backward()


# ---------------------------------------------------------------- long graphs, memory

def test_chain_of_100000_ops_has_no_recursion_limit():
    x0 = xg.asarray(1.0, requires_grad=True)
    x = x0
    for _ in range(100_000):
        x = x * 1.0000001
    x.backward()
    assert x0.grad.item() == pytest.approx(1.0000001 ** 100_000, rel=1e-12)
    del x
    gc.collect()  # tearing the graph down does not recurse either


def test_chain_of_100000_additions_torn_down_without_backward():
    x0 = xg.asarray(1.0, requires_grad=True)
    x = x0
    for _ in range(100_000):
        x = x + 0.0
    del x
    gc.collect()


def _graph_only_intermediate():
    """A loss whose graph is the only owner of an intermediate array; and a weakref to it."""
    x = leaf(np.linspace(0.1, 1.0, 8))
    y = xg.exp(x)             # exp saves its output for the VJP
    ref = weakref.ref(y.data)
    loss = (y * y).sum()      # multiply saves y as an input
    del y
    return x, loss, ref


def test_saved_values_are_released_after_backward():
    x, loss, ref = _graph_only_intermediate()
    gc.collect()
    assert ref() is not None, "the graph should hold the intermediate until backward"
    loss.backward()
    gc.collect()
    assert ref() is None, "backward without retain_graph must release saved values"
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(2 * np.linspace(0.1, 1.0, 8)), rtol=1e-14)


def test_saved_values_are_kept_with_retain_graph():
    x, loss, ref = _graph_only_intermediate()
    loss.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None
    loss.backward()
    gc.collect()
    assert ref() is None


def test_graph_is_collected_with_its_result():
    x, loss, ref = _graph_only_intermediate()
    del loss
    gc.collect()
    assert ref() is None


# ---------------------------------------------------------------- grad mode

def test_no_grad_context_records_nothing():
    x = leaf([1.0])
    assert xg.is_grad_enabled()
    with xg.no_grad():
        assert not xg.is_grad_enabled()
        y = x * 2
        with xg.enable_grad():
            assert xg.is_grad_enabled()
            z = x * 2
        assert not xg.is_grad_enabled()
    assert xg.is_grad_enabled()
    assert not y.requires_grad
    assert z.requires_grad


def test_no_grad_and_enable_grad_as_decorators():
    x = leaf([1.0])

    @xg.no_grad()
    def off(t):
        assert not xg.is_grad_enabled()
        return t * 2

    @xg.enable_grad()
    def on(t):
        return t * 2

    assert off.__name__ == "off"
    assert not off(x).requires_grad
    assert xg.is_grad_enabled()
    with xg.no_grad():
        assert on(x).requires_grad
        assert not xg.is_grad_enabled()


def test_set_grad_enabled():
    x = leaf([1.0])
    with xg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    with xg.set_grad_enabled(True):
        assert (x * 2).requires_grad


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError), xg.no_grad():
        _ = 1 / 0
    assert xg.is_grad_enabled()


def test_no_grad_context_object_can_be_reused_and_nested():
    ng = xg.no_grad()
    with ng:
        with ng:
            assert not xg.is_grad_enabled()
        assert not xg.is_grad_enabled()
    assert xg.is_grad_enabled()


def test_grad_mode_is_thread_local():
    x = leaf([1.0])
    inside = threading.Event()
    checked = threading.Event()
    seen = {}

    def worker():
        with xg.no_grad():
            seen["worker_enabled"] = xg.is_grad_enabled()
            seen["worker_records"] = (x * 2).requires_grad
            inside.set()
            checked.wait(5)

    th = threading.Thread(target=worker)
    th.start()
    assert inside.wait(5)
    try:
        assert xg.is_grad_enabled()           # the worker's no_grad did not leak here
        assert (x * 2).requires_grad
    finally:
        checked.set()
        th.join(5)
    assert seen == {"worker_enabled": False, "worker_records": False}


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with xg.no_grad():
        th = threading.Thread(target=lambda: seen.append(xg.is_grad_enabled()))
        th.start()
        th.join(5)
    assert seen == [True]


# ---------------------------------------------------------------- hooks, retain_grad

def test_leaf_hook_is_called_with_the_gradient():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0]]
    assert x.grad.tolist() == [3.0, 3.0]


def test_hook_returning_a_tensor_replaces_the_gradient():
    x = leaf([1.0, 2.0])
    y = x * 3
    y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()  # dL/dy = 2y = [6, 12], hooked to [60, 120]; dy/dx = 3
    assert x.grad.tolist() == [180.0, 360.0]


def test_leaf_hook_replacing_the_gradient():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: xg.zeros_like(g))
    (x * 3).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


def test_hook_handle_remove():
    x = leaf([1.0])
    calls = []
    h = x.register_hook(lambda g: calls.append(1))
    (x * 1).sum().backward()
    h.remove()
    h.remove()  # removing twice is harmless
    (x * 1).sum().backward()
    assert calls == [1]


def test_hooks_run_in_registration_order_and_chain():
    x = leaf([1.0])
    y = x * 1
    y.register_hook(lambda g: g + 1)
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    assert x.grad.tolist() == [20.0]


def test_retain_grad_on_non_leaf():
    x = leaf([1.0, 2.0])
    y = x * x
    y.retain_grad()
    (y * 3).sum().backward()
    assert y.grad.tolist() == [3.0, 3.0]
    assert x.grad.tolist() == [6.0, 12.0]


def test_non_leaf_grad_is_not_kept_without_retain_grad():
    x = leaf([1.0])
    y = x * 2
    y.sum().backward()
    assert y.grad is None


def test_retain_grad_on_leaf_is_a_no_op():
    x = leaf([1.0])
    x.retain_grad()
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0]


# ---------------------------------------------------------------- hypothesis: backward vs analytic

@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=1, max_size=5))
def test_backward_of_polynomial(vals):
    x = leaf(vals)
    (x ** 3 - 2 * x * x + x).sum().backward()
    a = np.array(vals)
    np.testing.assert_allclose(x.grad.numpy(), 3 * a ** 2 - 4 * a + 1, rtol=1e-12, atol=1e-12)


def test_leaf_grads_never_share_memory_with_each_other_or_the_callers_cotangent():
    """The plain walk keeps fresh cotangents without copying; shared ones must still be copied."""
    a = xg.asarray(np.ones(3), requires_grad=True)
    b = xg.asarray(np.ones(3), requires_grad=True)
    (a + b).sum().backward()                          # add hands one array to both leaves
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad = b.grad = None
    seed = np.full(3, 2.0)
    (a + b).backward(seed)
    assert not np.shares_memory(a.grad.numpy(), seed) and not np.shares_memory(b.grad.numpy(), seed)
    a.grad.data[...] = 7.0                            # an in-place edit of one gradient (clipping)...
    assert b.grad.tolist() == [2.0, 2.0, 2.0] and seed.tolist() == [2.0, 2.0, 2.0]  # ...touches nothing else


def test_adopted_leaf_grads_are_writeable_arrays_of_their_own():
    w = xg.asarray(np.ones((3, 2)), requires_grad=True)
    x = xg.asarray(np.arange(6.0).reshape(2, 3))
    (x @ w).sum().backward()
    g = w.grad.numpy()
    assert g.flags.writeable and g.base is None and g.shape == (3, 2)


def test_vjp_of_outputs_where_one_is_computed_from_the_other():
    """A root that another root depends on is walked once: its parents still become ready."""
    x = xg.asarray([0.5, 1.0])
    out, f_vjp = xg.vjp(lambda x: (2 * xg.exp(x), xg.exp(x)), x)
    (g,) = f_vjp((xg.ones(2), xg.ones(2)))
    assert np.allclose(g.numpy(), 3 * np.exp([0.5, 1.0]))
    e = xg.asarray([0.5, 1.0], requires_grad=True)
    a = xg.exp(e)
    b = 2 * a
    xg.autograd.backward([b, a], [xg.ones(2), xg.ones(2)])
    assert np.allclose(e.grad.numpy(), 3 * np.exp([0.5, 1.0]))
