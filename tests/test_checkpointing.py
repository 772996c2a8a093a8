"""Gradient checkpointing: exact gradients (bitwise on every device), forward mode, higher order,
randomness replayed, closures, plans and their cost model, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad import nn
from xpgrad.checkpointing import (LayerCost, SegmentPlan, checkpoint_sequential, last_plan,
                                  measure_layers, plan_segments, selective)

DEVICES = ["cpu", "opencl:0", "fpga:0"]


def _usable(device: str) -> str:
    if device not in xg.devices():
        pytest.skip(f"{device} is not usable here")
    return device


def _net(device: str, dropout: float = 0.25, depth: int = 6) -> nn.Module:
    xg.manual_seed(0)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(12, 12), nn.Tanh(), nn.Dropout(dropout)]
    return nn.Sequential(*layers, nn.Linear(12, 3)).to(device)


def _grads(net: nn.Module, x: xg.Tensor, run) -> tuple[list[np.ndarray], np.ndarray, float]:
    net.zero_grad()
    xi = xg.Tensor(x).requires_grad_()
    xg.manual_seed(7)
    loss = (run(net, xi) ** 2).sum()
    loss.backward()
    return [p.grad.numpy() for p in net.parameters()], xi.grad.numpy(), float(loss)


RUNS = {
    "checkpoint": lambda net, x: xg.checkpoint(net, x),
    "segments=3": lambda net, x: checkpoint_sequential(net, 3, x),
    "every=2": lambda net, x: checkpoint_sequential(net, every=2, input=x),
    "auto": lambda net, x: checkpoint_sequential(net, "auto", x),
    "budget": lambda net, x: checkpoint_sequential(net, memory_budget_mb=0.001, input=x),
    "selective": lambda net, x: checkpoint_sequential(net, 4, x, policy="compute"),
    "nested": lambda net, x: xg.checkpoint(lambda z: checkpoint_sequential(net, 2, z), x),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("how", list(RUNS))
def test_gradients_equal_bitwise(device: str, how: str) -> None:
    """Checkpointed gradients are the same bits as plain ones: same kernels, same order, same masks."""
    net = _net(_usable(device))
    x = xg.random.normal((5, 12), device=device)
    plain = _grads(net, x, lambda n, z: n(z))
    ck = _grads(net, x, RUNS[how])
    assert ck[2] == plain[2]
    for a, b in zip(ck[0], plain[0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ck[1], plain[1])


def test_recomputation_replays_dropout_and_leaves_the_stream_alone() -> None:
    net = _net("cpu", dropout=0.5)
    x = xg.random.normal((4, 12))
    xg.manual_seed(3)
    y = checkpoint_sequential(net, 3, x)
    after_forward = xg.random.get_state()
    y.sum().backward()
    # backward recomputed the dropout layers with the masks of the forward pass, and put the stream back
    assert xg.random.get_state() == after_forward
    xg.manual_seed(3)
    assert float(net(x).sum()) == float(y.sum())


def test_a_region_holds_one_node_and_no_activations() -> None:
    w = xg.random.normal((64, 64), dtype=xg.float64).requires_grad_()
    x = xg.random.normal((8, 64), dtype=xg.float64)

    def f(z):
        for _ in range(10):
            z = xg.tanh(z @ w)
        return z
    y = xg.checkpoint(f, x)
    node = y.grad_fn
    assert node.name == "checkpoint"
    # its inputs are what the region read from outside: the weight (x needs no gradient)
    assert [e[0] for e in node.edges] == [w._edge[0]]
    assert len(node.raw) == 1 and node.raw[0] is w.data


def test_closure_parameters_and_pytree_outputs() -> None:
    a = xg.asarray([1.0, 2.0], requires_grad=True)
    b = xg.asarray([3.0], requires_grad=True)

    def f(x):
        return {"s": xg.sin(x * a), "pair": (x * b, 4)}
    x = xg.asarray([0.5, 0.25], requires_grad=True)
    out = xg.checkpoint(f, x)
    assert out["pair"][1] == 4
    (out["s"].sum() + out["pair"][0].sum()).backward()
    np.testing.assert_allclose(a.grad.numpy(), np.cos([0.5, 0.5]) * [0.5, 0.25])
    np.testing.assert_allclose(b.grad.numpy(), [0.75])
    np.testing.assert_allclose(x.grad.numpy(), np.cos([0.5, 0.5]) * [1.0, 2.0] + 3.0)


def test_unused_output_gets_no_cotangent() -> None:
    w = xg.asarray([2.0], requires_grad=True)
    y1, y2 = xg.checkpoint(lambda x: (x * w, xg.exp(x * w)), xg.asarray([1.0]))
    y1.sum().backward()
    assert float(w.grad[0]) == 1.0


def f3(x):
    return xg.checkpoint(lambda z: xg.sin(z) * z ** 2, x).sum()


def g3(x):
    return (xg.sin(x) * x ** 2).sum()


def test_forward_mode_and_higher_order() -> None:
    x = xg.asarray([0.3, -0.7, 1.1])
    t = xg.asarray([1.0, 0.5, -2.0])
    np.testing.assert_allclose(xg.jvp(f3, (x,), (t,))[1].numpy(), xg.jvp(g3, (x,), (t,))[1].numpy())
    np.testing.assert_allclose(xg.hessian(f3)(x).numpy(), xg.hessian(g3)(x).numpy(), rtol=1e-12)
    np.testing.assert_allclose(xg.hvp(f3, (x,), (t,))[1].numpy(), xg.hvp(g3, (x,), (t,))[1].numpy())
    np.testing.assert_allclose(xg.jacfwd(xg.grad(f3))(x).numpy(), xg.hessian(g3)(x).numpy(), rtol=1e-12)
    xg.testing.check_grads(f3, (x,), order=2, modes=("fwd", "rev"))


def test_create_graph_through_a_checkpoint() -> None:
    x = xg.asarray(2.0, requires_grad=True)
    y = xg.checkpoint(lambda z: z ** 3, x)
    (g,) = xg.autograd.grad(y, x, create_graph=True)
    (h,) = xg.autograd.grad(g, x)
    assert float(g) == 12.0 and float(h) == 12.0


def test_retain_graph_and_freed_graph() -> None:
    w = xg.asarray([1.5], requires_grad=True)
    y = xg.checkpoint(lambda x: xg.exp(x * w), xg.asarray([1.0])).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * np.exp(1.5))
    with pytest.raises(xg.GraphFreedError):
        y.backward()


def test_in_place_changes_after_the_forward_pass() -> None:
    w = xg.asarray([1.0, 2.0], requires_grad=True)
    h = w * 1.0
    y = xg.checkpoint(lambda z: xg.exp(z), h).sum()
    h += 1.0   # recorded out of place: the region recomputes from the value it read
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), np.exp([1.0, 2.0]))
    x = xg.asarray([1.0, 2.0])
    y = xg.checkpoint(lambda z: xg.exp(z * w), x).sum()
    with xg.no_grad():
        w -= 0.5   # a real write into the saved buffer (an optimizer step before backward)
    with pytest.raises(xg.InplaceError):
        y.backward()


def test_nothing_to_record_runs_plainly() -> None:
    y = xg.checkpoint(lambda z: z * 2, xg.asarray([1.0]))
    assert y.grad_fn is None
    with xg.no_grad():
        w = xg.asarray([1.0], requires_grad=True)
        assert xg.checkpoint(lambda z: z * w, xg.asarray([1.0])).grad_fn is None


def test_errors() -> None:
    w = xg.asarray([1.0], requires_grad=True)
    with pytest.raises(xg.OpError, match="returned no tensor"):
        xg.checkpoint(lambda z: 3, w)
    calls = []

    def moody(z):
        calls.append(1)
        return xg.exp(z) if len(calls) == 1 else xg.sin(z)
    y = xg.checkpoint(moody, w).sum()
    with pytest.raises(xg.BackwardError, match="different call"):
        y.backward()
    net = _net("cpu", depth=2)
    x = xg.ones((1, 12), dtype=xg.float32)
    with pytest.raises(ValueError, match="exactly one"):
        checkpoint_sequential(net, 2, x, every=2)
    with pytest.raises(ValueError, match="segments must be in"):
        checkpoint_sequential(net, 99, x)
    with pytest.raises(ValueError, match="policy"):
        xg.checkpoint(lambda z: z * w, x, policy="fast")


def test_selective_keeps_matmul_outputs_and_recomputes_the_rest() -> None:
    w = xg.random.normal((16, 16), dtype=xg.float64).requires_grad_()
    seen = []

    class Count(xg.core.tape.Observer):
        def before(self, op, args, params):
            seen.append(op.name)
    x = xg.random.normal((4, 16), dtype=xg.float64)
    y = xg.checkpoint(lambda z: xg.tanh(xg.tanh(z @ w) @ w), x, policy="compute").sum()
    with xg.core.tape.observe(Count()):
        y.backward()
    # the recomputation ran tanh twice; both matmuls were replayed from what the forward pass kept
    assert seen.count("tanh") >= 2
    assert selective(min_flops=1e9)(xg.get_op("matmul"), (x, w), {}) is False
    assert selective()(xg.get_op("matmul"), (x, w), {}) is True
    assert selective()(xg.get_op("tanh"), (x,), {}) is False


def test_measured_costs_and_plan() -> None:
    layers = [nn.Sequential(nn.Linear(32, 32), nn.ReLU()) for _ in range(8)]
    x = xg.ones((16, 32), dtype=xg.float32)
    costs = measure_layers(layers, x)
    # Linear keeps its output (16·32 float32 = 2048 bytes); ReLU its output; the input is not its own
    assert [c.saved for c in costs] == [4096] * 8
    assert [c.output for c in costs] == [2048] * 8
    y = checkpoint_sequential(layers, "auto", x)
    plan = last_plan()
    assert plan.strategy == "auto" and plan.peak_bytes < plan.baseline_peak_bytes
    assert plan.extra_seconds <= plan.forward_seconds * (1 + 1e-9)
    assert y.shape == (16, 32) and "recomputed" in str(plan)


def test_plan_by_hand() -> None:
    c = [LayerCost(saved=100, output=10, seconds=1.0)] * 4
    # Without checkpointing 400 bytes are kept. One layer per segment keeps 10 + 10 + 10 + 100 (the last
    # segment is not recomputed); differentiating layer 3 then needs 30 + its own 100: the peak is 130.
    p = plan_segments(c)
    assert p.segments == [(0, 1), (1, 2), (2, 3), (3, 4)] and p.checkpointed == [True, True, True, False]
    assert p.peak_bytes == 130 and p.baseline_peak_bytes == 400 and p.extra_seconds == 3.0
    # Outputs of 60 bytes make boundaries dear: two layers share a segment (peak 60 + 60 + 100).
    p = plan_segments([LayerCost(saved=100, output=60, seconds=1.0)] * 4)
    assert p.segments == [(0, 2), (2, 3), (3, 4)] and p.peak_bytes == 220
    # a budget of 400 bytes needs no recomputation at all
    p = plan_segments(c, memory_budget_mb=400 / 2**20)
    assert p.extra_seconds == 0.0
    p = plan_segments(c, memory_budget_mb=1 / 2**20)
    assert "not met" in p.strategy and p.notes


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), st.integers(1, 10), st.floats(0.001, 1.0)), min_size=1,
                max_size=12), st.floats(10, 600))
def test_plans_cover_the_layers_and_keep_their_promises(layers, budget) -> None:
    costs = [LayerCost(s * 2**20, o * 2**20, t) for s, o, t in layers]
    for plan in (plan_segments(costs), plan_segments(costs, memory_budget_mb=budget)):
        assert plan.segments[0][0] == 0 and plan.segments[-1][1] == len(costs)
        assert all(a < b for a, b in plan.segments)
        assert all(b == c for (_, b), (c, _) in zip(plan.segments, plan.segments[1:]))
        assert plan.peak_bytes <= plan.baseline_peak_bytes + max(c.output for c in costs)
    auto = plan_segments(costs)
    assert auto.extra_seconds <= auto.forward_seconds * (1 + 1e-9)
    fit = plan_segments(costs, memory_budget_mb=budget)
    if "not met" not in fit.strategy:
        assert fit.peak_bytes <= budget * 2**20


def test_explicit_plan() -> None:
    net = _net("cpu", depth=2)
    n = len(list(net.children()))
    plan = SegmentPlan([(0, 3), (3, n)], [True, False], "by hand")
    x = xg.ones((2, 12), dtype=xg.float32)
    xg.manual_seed(1)
    a = checkpoint_sequential(net, plan, x)
    xg.manual_seed(1)
    np.testing.assert_array_equal(a.numpy(), net(x).numpy())
    with pytest.raises(ValueError, match="covers"):
        checkpoint_sequential(net, SegmentPlan([(0, 3)], [True], "short"), x)


@pytest.mark.parametrize("segments, forward_bytes, peak_bytes", [
    # plain: each of 10 tanh outputs (1000 float64 = 8000 bytes) is kept; the sum adds 8 bytes
    (None, 80_000, 80_008),
    # 2 segments: the first keeps its output (8000), the last (plain) its 5 outputs (40 000);
    # recomputing the first needs its 5 outputs again while its node still holds its output
    (2, 48_000, 48_008),
    # 5 segments of 2: 4 outputs kept + the last segment's 2; the 4th recomputes 2 with 3 kept before it
    (5, 48_000, 48_008),
])
def test_saved_bytes_by_hand(segments, forward_bytes, peak_bytes) -> None:
    from xpgrad.profiler import track_memory

    layers = [xg.tanh] * 10
    x = xg.asarray([0.1] * 1000, requires_grad=True)
    with track_memory() as mem:
        if segments is None:
            y = x
            for f in layers:
                y = f(y)
        else:
            y = checkpoint_sequential(layers, segments, x)
        assert mem.current == forward_bytes
        y.sum().backward()
    assert mem.peak == peak_bytes and mem.current == 0
