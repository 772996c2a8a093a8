"""Tensor gradient hooks and retain_grad: what a hook sees, what it changes upstream, and its errors."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg


def leaf(vals, device="cpu"):
    return xg.asarray(vals, requires_grad=True, device=device)




# ---------------------------------------------------------------- what a hook sees

def test_a_leaf_hook_sees_the_whole_gradient_once():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    (x * 3.0 + x * x).sum().backward()     # d/dx = 3 + 2x, from two uses, summed before the hook
    assert seen == [[5.0, 7.0]]
    assert x.grad.tolist() == [5.0, 7.0]


def test_a_hook_gets_a_tensor_that_is_not_recorded_in_a_plain_backward():
    x = leaf([1.0])
    kinds = []
    (x * 2.0).register_hook(lambda g: kinds.append((type(g), g.requires_grad)))
    y = x * 2.0
    y.register_hook(lambda g: kinds.append((type(g), g.requires_grad)))
    y.sum().backward()
    assert kinds == [(xg.Tensor, False)]    # the first hook's tensor got no gradient: never called


def test_hooks_run_in_order_each_on_the_previous_result():
    x = leaf([1.0])
    y = x * 1.0
    seen = []
    y.register_hook(lambda g: seen.append(("first", g.tolist())) or g + 1.0)
    y.register_hook(lambda g: seen.append(("second", g.tolist())) or g * 10.0)
    y.register_hook(lambda g: seen.append(("third", g.tolist())))     # None: keeps the gradient
    y.sum().backward()
    assert seen == [("first", [1.0]), ("second", [2.0]), ("third", [20.0])]
    assert x.grad.tolist() == [20.0]


# ---------------------------------------------------------------- what a hook changes

def test_clipping_a_hidden_gradient_changes_the_leaf_gradient_upstream():
    x = leaf([0.0, 1.0, -2.0])
    a = x * 3.0                   # [0, 3, -6]
    a.register_hook(lambda g: xg.clip(g, -1.0, 1.0))
    (a * a).sum().backward()      # dL/da = 2a = [0, 6, -12] -> clipped [0, 1, -1]; da/dx = 3
    assert x.grad.tolist() == [0.0, 3.0, -3.0]


def test_scaling_and_zeroing_propagate_through_several_ops():
    x = leaf([0.5, 1.0])
    w = leaf([2.0, 3.0])
    h = x * w                     # the hook scales everything flowing into both x and w
    h.register_hook(lambda g: g * 0.5)
    z = xg.sin(h)
    z.register_hook(lambda g: g * 4.0)
    z.sum().backward()            # dL/dh = 4 cos(h) * 0.5
    hv = np.array([1.0, 3.0])
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * np.cos(hv) * [2.0, 3.0], rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), 2.0 * np.cos(hv) * [0.5, 1.0], rtol=1e-12)
    x2 = leaf([0.5, 1.0])
    y2 = x2 * 2.0
    y2.register_hook(lambda g: xg.zeros_like(g))
    (y2 * y2 + x2).sum().backward()   # the branch through y2 is cut; the direct use of x2 stays
    assert x2.grad.tolist() == [1.0, 1.0]


def test_a_leaf_hook_replaces_what_accumulates_into_grad():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g * -1.0)
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()    # accumulates the hooked gradient again
    assert x.grad.tolist() == [-6.0, -6.0]


def test_a_hook_may_return_a_host_array():
    x = leaf([1.0, 2.0])
    (y := x * 1.0).register_hook(lambda g: np.array([7.0, 8.0]))
    y.sum().backward()
    assert x.grad.tolist() == [7.0, 8.0]


@settings(max_examples=25, deadline=None)
@given(st.floats(-4, 4), st.lists(st.floats(-2, 2), min_size=1, max_size=4))
def test_property_a_scaling_hook_scales_every_gradient_behind_it(c, vals):
    x = leaf(vals)
    y = xg.tanh(x)
    y.register_hook(lambda g: g * c)
    (y * y * y).sum().backward()
    t = np.tanh(np.array(vals))
    np.testing.assert_allclose(x.grad.numpy(), c * 3 * t ** 2 * (1 - t ** 2), rtol=1e-12, atol=1e-300)


# ---------------------------------------------------------------- removal

def test_handle_remove_removes_only_that_registration():
    x = leaf([1.0])
    calls = []

    def hook(g):
        calls.append(1)

    h1 = x.register_hook(hook)
    x.register_hook(hook)                  # the same function twice: two registrations
    (x * 1.0).sum().backward()
    assert len(calls) == 2
    h1.remove()
    h1.remove()                            # twice is harmless
    (x * 1.0).sum().backward()
    assert len(calls) == 3


def test_handle_as_a_context_manager_and_on_a_non_leaf():
    x = leaf([1.0])
    y = x * 2.0
    with y.register_hook(lambda g: g * 100.0):
        pass                               # removed on leaving the block
    y.sum().backward()
    assert x.grad.tolist() == [2.0]


def test_register_hook_needs_a_callable_and_a_tensor_that_requires_grad():
    with pytest.raises(TypeError, match="callable"):
        leaf([1.0]).register_hook(3)
    with pytest.raises(xg.NotDifferentiableError, match=r"\(2,\) float64 on cpu: it does not require grad"):
        xg.ones(2).register_hook(lambda g: g)


# ---------------------------------------------------------------- create_graph, autograd.grad

def test_second_order_through_a_hook_that_doubles():
    x = leaf([1.0, 2.0])
    y = x * x
    y.register_hook(lambda g: g * 2.0)
    (gx,) = xg.autograd.grad(y.sum(), x, create_graph=True)
    assert gx.tolist() == [4.0, 8.0]       # 2 * 2x
    assert gx.requires_grad
    gx.sum().backward()                    # d/dx sum(4x) = 4: the hook's doubling is differentiated
    assert x.grad.tolist() == [4.0, 4.0]


def test_what_a_hook_computes_is_differentiated_under_create_graph():
    x = leaf([1.0, 2.0])
    w = leaf([3.0])
    y = x * x
    y.register_hook(lambda g: g * w)       # the hook brings in a tensor that requires grad
    (gx,) = xg.autograd.grad(y.sum(), x, create_graph=True)
    assert gx.tolist() == [6.0, 12.0]      # 2x * w
    gx.sum().backward()
    assert w.grad.tolist() == [6.0]        # d/dw sum(2x w) = 2 (1 + 2)
    assert x.grad.tolist() == [6.0, 6.0]   # d/dx sum(2x w) = 2w


def test_hooks_apply_to_what_autograd_grad_returns_and_leave_grad_alone():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    y.register_hook(lambda g: g + 1.0)
    (g,) = xg.autograd.grad((y * 2.0).sum(), x)   # dL/dy = 2 -> 3; dL/dx = 9
    assert g.tolist() == [9.0, 9.0]
    x.register_hook(lambda g: g * 10.0)          # a hook on the input itself changes what is returned
    (g,) = xg.autograd.grad((x * 2.0).sum(), x)
    assert g.tolist() == [20.0, 20.0]
    assert x.grad is None


def test_hooks_with_the_functional_transforms():
    def f(v):
        y = xg.sin(v)
        y.register_hook(lambda g: g * 3.0)
        return xg.sum(y)

    g = xg.grad(f)(xg.asarray([0.0, 1.0]))
    np.testing.assert_allclose(g.numpy(), 3.0 * np.cos([0.0, 1.0]), rtol=1e-12)


# ---------------------------------------------------------------- multi-output ops

def test_hooks_on_outputs_of_a_multi_output_op():
    x = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    a, b = xg.unstack(x)
    assert a.grad_fn is b.grad_fn                  # one node, two outputs
    seen = []
    b.register_hook(lambda g: seen.append(g.tolist()) or g * 10.0)
    (xg.sum(a) + xg.sum(b * 2.0)).backward()
    assert seen == [[2.0, 2.0, 2.0]]
    assert x.grad.tolist() == [[1.0, 1.0, 1.0], [20.0, 20.0, 20.0]]


def test_a_hook_on_an_unused_output_is_not_called():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    a, b = xg.unstack(x)
    calls = []
    b.register_hook(lambda g: calls.append(1))
    xg.sum(a).backward()
    assert calls == [] and x.grad.tolist() == [[1.0, 1.0], [0.0, 0.0]]


def test_retain_grad_on_a_multi_output_op_under_create_graph():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    a, b = xg.unstack(x)
    b.retain_grad()
    a.register_hook(lambda g: g * 5.0)
    (gx,) = xg.autograd.grad(xg.sum(a * a) + xg.sum(b * b * b), x, create_graph=True)
    assert gx.tolist() == [[10.0, 20.0], [27.0, 48.0]]   # 5 * 2a; 3 b^2
    assert b.grad.tolist() == [27.0, 48.0]
    assert b.grad.requires_grad                           # kept with its graph, as PyTorch does


# ---------------------------------------------------------------- retain_grad

def test_retain_grad_keeps_the_gradient_after_every_hook_whatever_the_order():
    x = leaf([1.0, 2.0])
    y = x * x
    y.retain_grad()
    y.register_hook(lambda g: g * 10.0)    # registered after retain_grad, still runs before it
    (y * 3.0).sum().backward()
    assert y.grad.tolist() == [30.0, 30.0]
    assert x.grad.tolist() == [60.0, 120.0]


def test_retain_grad_twice_keeps_one_and_accumulates_over_passes():
    x = leaf([1.0])
    y = x * 2.0
    y.retain_grad()
    y.retain_grad()
    assert y.retains_grad and not x.retains_grad
    loss = (y * 3.0).sum()
    loss.backward(retain_graph=True)
    assert y.grad.tolist() == [3.0]
    loss.backward()
    assert y.grad.tolist() == [6.0]        # accumulates, like a leaf's .grad


def test_a_retained_gradient_does_not_share_memory_with_a_leaf_gradient():
    x = leaf([1.0, 2.0])
    y = x + 1.0                            # add's VJP hands y's gradient array on to x unchanged
    y.retain_grad()
    (y * 3.0).sum().backward()
    x.grad.numpy()[0] = 99.0               # an in-place change to x.grad (numpy() shares memory on cpu)
    assert y.grad.tolist() == [3.0, 3.0]


def test_retain_grad_on_a_leaf_is_a_no_op_and_needs_a_gradient():
    x = leaf([1.0])
    x.retain_grad()
    assert not x.retains_grad
    (x * 2.0).sum().backward()
    assert x.grad.tolist() == [2.0]
    with pytest.raises(xg.NotDifferentiableError, match="retain_grad.*does not require grad"):
        xg.ones(2).retain_grad()


# ---------------------------------------------------------------- wrong results: clear errors

def test_a_hook_returning_the_wrong_shape_names_the_tensor():
    x = leaf([1.0, 2.0])
    y = x * 3.0

    def widen(g):
        return xg.ones(3)

    y.register_hook(widen)
    with pytest.raises(xg.BackwardError) as info:
        y.sum().backward()
    msg = str(info.value)
    assert "the gradient hook test_a_hook_returning_the_wrong_shape_names_the_tensor.<locals>.widen" in msg
    assert "on the tensor (2,) float64 on cpu computed by 'multiply'" in msg
    assert "returned (3,) float64 on cpu, but the gradient it was given is (2,) float64 on cpu" in msg


def test_a_hook_returning_the_wrong_dtype_is_refused_not_accumulated():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: xg.astype(g, xg.float32))
    with pytest.raises(xg.BackwardError, match=r"leaf tensor \(2,\) float64 on cpu returned \(2,\) float32"):
        (x * 3.0).sum().backward()
    assert x.grad is None


def test_a_hook_returning_the_wrong_dtype_under_create_graph():
    x = leaf([1.0])
    y = x * x
    y.register_hook(lambda g: xg.astype(g, xg.float32))
    with pytest.raises(xg.BackwardError, match="float32"):
        xg.autograd.grad(y.sum(), x, create_graph=True)


def test_a_hook_returning_something_that_is_not_an_array():
    x = leaf([1.0])
    (y := x * 1.0).register_hook(lambda g: "oops")
    with pytest.raises(xg.BackwardError, match="returned a str"):
        y.sum().backward()


def test_a_hook_returning_a_tensor_on_another_device():
    try:
        xg.get_backend("fpga:0")
    except xg.XpgradError as exc:
        pytest.skip(f"fpga:0 is not usable here: {exc}")
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g.to_device("fpga:0"))
    with pytest.raises(xg.BackwardError, match="on fpga:0, but the gradient it was given is .* on cpu"):
        (x * 2.0).sum().backward()


# ---------------------------------------------------------------- devices

def test_hooks_on_device_tensors(device):
    x = leaf([0.0, 1.0, -2.0], device)
    a = x * 3.0
    seen = []
    a.register_hook(lambda g: seen.append(g.device) or xg.clip(g, -1.0, 1.0))
    x.register_hook(lambda g: g * 2.0)
    a.retain_grad()
    loss = (a * a).sum()
    loss.backward(retain_graph=True)
    assert seen == [device]
    assert x.grad.device == device
    assert x.grad.tolist() == [0.0, 6.0, -6.0]     # clip(2a) * 3, doubled at the leaf
    assert a.grad.tolist() == [0.0, 1.0, -1.0]
    (gx,) = xg.autograd.grad(loss, x)              # the same hooks run for autograd.grad
    assert gx.tolist() == [0.0, 6.0, -6.0]
    assert seen == [device, device]
