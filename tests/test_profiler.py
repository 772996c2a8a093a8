"""xpgrad.profiler: counts, kernels, devices, bytes, the table, the Chrome trace and the memory report.

Figures are checked against hand counts: a float64 array of 1000 elements is
8000 bytes; a node holds its input arrays and its output; a memory block counts
once however many nodes or views hold it. No test asserts a duration.
"""

import doctest
import importlib.util
import json
import os
import pathlib
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad import profiler
from xpgrad.nn import functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEVICES = ["cpu", "opencl:0", "fpga:0"]


@pytest.fixture(params=DEVICES)
def device(request):
    try:
        return xg.get_backend(request.param).device
    except xg.XpgradError as exc:
        pytest.skip(f"{request.param} is not usable here: {exc}")


def _rows(prof, **kw):
    return {(r.name, r.phase): r for r in prof.key_averages(**kw)}


def test_docstring_examples():
    result = doctest.testmod(profiler)
    assert result.attempted > 10 and result.failed == 0


# ---------------------------------------------------------------- counts, kernels, devices, bytes

def test_calls_bytes_and_phases_of_a_tiny_model():
    x = xg.asarray(np.ones((4, 3)))                       # float64 input, no grad
    W = xg.asarray(np.ones((3, 2)), requires_grad=True)
    b = xg.asarray(np.ones(2), requires_grad=True)
    with profiler.profile() as prof:
        for _ in range(3):
            W.grad = b.grad = None                        # no accumulation: one add per step
            y = x @ W + b                                 # matmul, add
            (y * y).sum().backward()                      # multiply, sum; then four VJPs
    rows = _rows(prof)
    assert set(rows) == {(op, ph) for op in ("matmul", "add", "multiply", "sum")
                         for ph in ("forward", "backward")}
    assert all(r.calls == 3 for r in rows.values())
    assert len(prof.events) == 24
    # Bytes per call, by hand: (4, 2) float64 outputs are 64 B, the scalar sum 8 B.
    assert rows["matmul", "forward"].bytes == 3 * 64
    assert rows["add", "forward"].bytes == 3 * 64
    assert rows["multiply", "forward"].bytes == 3 * 64
    assert rows["sum", "forward"].bytes == 3 * 8
    # Backward: sum's VJP materialises ones (4, 2) = 64 B; multiply's gives both inputs g·y (2 × 64 B);
    # add's passes g through to the matmul (a no-copy: 0 B) and sums it to b's (2,) = 16 B;
    # matmul's computes only W's gradient, (3, 2) = 48 B (x needs none).
    assert rows["sum", "backward"].bytes == 3 * 64
    assert rows["multiply", "backward"].bytes == 3 * 128
    assert rows["add", "backward"].bytes == 3 * 16
    assert rows["matmul", "backward"].bytes == 3 * 48
    assert {r.kernel for (_, ph), r in rows.items() if ph == "backward"} == {"vjp"}
    assert all(r.device == "cpu" for r in rows.values())
    assert sum(r.share for r in rows.values()) == pytest.approx(1.0)


def test_gradient_accumulation_is_backward_work():
    W = xg.asarray(np.ones(3), requires_grad=True)
    with profiler.profile() as prof:
        (W * 2.0).sum().backward()
        (W * 2.0).sum().backward()                       # adds into W.grad: one more add, in backward
    assert _rows(prof)["add", "backward"].calls == 1


def test_kernel_names_are_the_dispatchers_choice():
    x = xg.asarray(np.random.default_rng(0).standard_normal((2, 3, 8, 8)), requires_grad=True)
    w = xg.asarray(np.random.default_rng(1).standard_normal((4, 3, 3, 3)), requires_grad=True)
    with profiler.profile() as prof:
        y = F.conv2d(x, w, padding=1)
        s = xg.sum(y)
        a, b = x.reshape((6, 64)), xg.ones((64, 2), dtype=xg.float64)
        m = a @ b
    kern = {e.name: e.kernel for e in prof.events}
    assert kern["conv2d"] == xg.dispatch.explain("conv2d", x, w, padding=1).choice   # a Dispatcher's pick
    assert kern["conv2d"] in xg.dispatch.kernels_of("conv2d", "cpu")
    assert kern["sum"] == xg.dispatch.explain("sum", y).choice     # the only kernel, or generic
    assert kern["matmul"] == xg.dispatch.explain("matmul", a, b).choice
    del s, m


def test_a_replaced_kernel_is_not_planned_by_the_profiler():
    from xpgrad.core.tape import Observer, Override, observe

    class Replay(Observer):              # what a checkpoint replay does: another kernel for one call
        def before(self, op, args, params):
            if op.name == "conv2d":
                return Override(args, lambda xp, x, w, **p: xp.zeros((1, 3, 5, 7), dtype=x.dtype))
            return None
    x = xg.asarray(np.ones((1, 2, 7, 9)))
    w = xg.asarray(np.ones((3, 2, 3, 3)))
    planned = xg.dispatch.stats()["planned"]
    with profiler.profile() as prof, observe(Replay()):
        y = F.conv2d(x, w)               # a signature the dispatcher has never seen
    assert y.shape == (1, 3, 5, 7) and prof.events[0].kernel == "unplanned"
    assert xg.dispatch.stats()["planned"] == planned


def test_op_plus_kernel_splits_what_op_merges():
    x = xg.asarray(np.ones((1, 2, 6, 6)))
    w = xg.asarray(np.ones((2, 2, 3, 3)))
    with profiler.profile() as prof:
        with xg.dispatch.prefer("conv2d", "direct"):
            F.conv2d(x, w)
        with xg.dispatch.prefer("conv2d", "im2col"):
            F.conv2d(x, w)
            F.conv2d(x, w)
    (merged,) = prof.key_averages("op")
    assert merged.calls == 3 and merged.kernel == "im2col/direct"     # most used first
    split = {r.kernel: r.calls for r in prof.key_averages("op+kernel")}
    assert split == {"direct": 1, "im2col": 2}


def test_device_column_and_kernels_on_each_backend(device):
    x = xg.asarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), device=device, requires_grad=True)
    with profiler.profile() as prof:
        (x @ x).sum().backward()
    assert {e.device for e in prof.events} == {device}
    assert [(e.name, e.phase) for e in prof.events] == [
        ("matmul", "forward"), ("sum", "forward"), ("sum", "backward"), ("matmul", "backward")]
    mm = prof.events[0]
    assert mm.kernel == xg.dispatch.explain("matmul", x, x).choice
    assert mm.bytes == 8 * 8 * 4
    assert prof.memory.current == 0 and prof.memory.peak == 8 * 8 * 4 + 4   # x@x, and the float32 sum


# ---------------------------------------------------------------- nesting, phases, errors

def _check_nesting(prof):
    by_id = {e.id: e for e in prof.events}
    assert len(by_id) == len(prof.events)
    children: dict = {}
    for e in prof.events:
        assert 0 <= e.self_ns <= e.total_ns
        if e.parent is None:
            assert e.depth == 0
        else:
            p = by_id[e.parent]
            assert e.depth == p.depth + 1
            assert p.start_ns <= e.start_ns and e.start_ns + e.total_ns <= p.start_ns + p.total_ns
            children.setdefault(e.parent, []).append(e)
    for pid, kids in children.items():
        p = by_id[pid]
        assert sum(k.total_ns for k in kids) <= p.total_ns - p.self_ns
    return children


def test_nested_calls_of_create_graph_have_self_below_total():
    x = xg.asarray(np.linspace(0.1, 1.0, 5), requires_grad=True)
    with profiler.profile() as prof:
        xg.grad(lambda t: xg.sum(xg.sin(t) * t))(x)     # the VJPs run on Tensors: their ops are observed
    children = _check_nesting(prof)
    by_id = {e.id: e for e in prof.events}
    sin_vjp = next(e for e in prof.events if e.name == "sin" and e.phase == "backward")
    assert {k.name for k in children[sin_vjp.id]} == {"cos", "multiply"}   # d sin = cos · g
    assert all(k.phase == "backward" for kids in children.values() for k in kids)
    assert by_id[children[sin_vjp.id][0].id].depth == 1


def test_forward_mode_rules_nest_in_their_op():
    x = xg.asarray(np.linspace(0.1, 1.0, 5))
    with profiler.profile() as prof:
        xg.jvp(lambda t: xg.exp(xg.sin(t)), (x,), (xg.ones_like(x),))
    children = _check_nesting(prof)
    top = {e.name: e for e in prof.events if e.parent is None}
    assert set(top) == {"sin", "exp"}
    assert sorted(k.name for k in children[top["sin"].id]) == ["cos", "multiply"]
    assert [k.name for k in children[top["exp"].id]] == ["multiply"]
    assert all(e.phase == "forward" for e in prof.events)


def test_hook_ops_are_backward_and_later_ops_forward():
    x = xg.asarray(np.ones(3), requires_grad=True)
    h = x * 3.0
    h.register_hook(lambda g: g * 2.0)
    with profiler.profile() as prof:
        (h * h).sum().backward()
        x + 1.0
    hook = [e for e in prof.events if (e.name, e.phase) == ("multiply", "backward") and e.kernel != "vjp"]
    assert len(hook) == 1 and hook[0].depth == 0
    assert (prof.events[-1].name, prof.events[-1].phase) == ("add", "forward")


def test_a_failing_op_leaves_no_open_call():
    with profiler.profile() as prof:
        with pytest.raises(xg.XpgradError):
            xg.ones((2, 3)) @ xg.ones((2, 3))
        y = xg.ones(3) * 2.0
        xg.exp(y)
    assert [(e.name, e.depth, e.parent) for e in prof.events] == [("multiply", 0, None), ("exp", 0, None)]


def test_a_failing_backward_does_not_leave_the_profiler_in_backward():
    @xg.custom_vjp
    def f(x):
        return x * 1.0

    def bwd(res, g):
        raise ValueError("broken rule")
    f.defvjp(lambda x: (x * 1.0, ()), bwd)
    x = xg.asarray(np.ones(3), requires_grad=True)
    with profiler.profile() as prof:
        loss = xg.exp(f(x)).sum()
        with pytest.raises(ValueError, match="broken rule"):
            loss.backward()                     # raises inside a VJP: its call never ends
        xg.sin(x)
        with pytest.raises(xg.GraphFreedError):
            loss.backward()                     # the first walk released what it passed
        xg.cos(x)
    last = [(e.name, e.phase, e.depth) for e in prof.events[-2:]]
    assert last == [("sin", "forward", 0), ("cos", "forward", 0)]
    assert prof._rec.vjp_depth == 0 and prof._rec.stack == []


def test_shapes_and_stack():
    x = xg.asarray(np.ones((2, 3)), requires_grad=True)
    with profiler.profile(record_shapes=True, with_stack=True) as prof:
        y = x * 2.0; y.sum().backward()   # noqa: E702 - one line, one stack entry
    line = next(i for i, t in enumerate(open(__file__), 1) if t.strip().startswith("y = x * 2.0;"))
    assert all(e.stack.endswith(f"test_profiler.py:{line} in test_shapes_and_stack") for e in prof.events)
    mul = prof.events[0]
    assert mul.shapes == ((2, 3), None) and mul.dtypes == ("float64", "float")
    rows = prof.key_averages("op+shape")
    assert ("multiply", "[(2, 3), None]") in {(r.name, r.shapes) for r in rows}
    assert "input shapes" in prof.table(group_by="op+shape")


def test_shapes_and_stack_are_off_by_default():
    with profiler.profile() as prof:
        xg.ones(2) * 2.0
    assert prof.events[0].shapes is None and prof.events[0].stack is None
    with pytest.raises(profiler.ProfilerError, match="record_shapes=True"):
        prof.key_averages("op+shape")


# ---------------------------------------------------------------- table and trace

def _table_rows(text):
    lines = text.splitlines()
    head = re.split(r"\s{2,}", lines[0].strip())
    return head, [re.split(r"\s{2,}", ln.strip()) for ln in lines[2:-1]]


def test_table_is_sorted_and_limited():
    x = xg.asarray(np.ones((30, 30)), requires_grad=True)
    with profiler.profile() as prof:
        for _ in range(3):
            (xg.tanh(x @ x) * 2.0).sum().backward()
    head, body = _table_rows(prof.table())
    assert head == ["op", "phase", "device", "kernel", "calls", "total ms", "self ms", "mean µs",
                    "% of total", "bytes allocated"]
    totals = [float(r[5]) for r in body]
    assert totals == sorted(totals, reverse=True)
    assert len(body) == 9        # 4 ops × 2 phases, and the adds into x.grad of steps 2 and 3 (backward)
    _, by_calls = _table_rows(prof.table(sort_by="calls", row_limit=3))
    assert len(by_calls) == 3
    assert "6 more rows not shown" in prof.table(row_limit=3)
    _, by_name = _table_rows(prof.table(sort_by="name"))
    assert [r[0] for r in by_name] == sorted(r[0] for r in by_name)
    assert str(prof).startswith(prof.table()) and "peak activations" in str(prof)
    for bad in (dict(sort_by="speed"), dict(row_limit=-1), dict(group_by="kernel")):
        with pytest.raises(profiler.ProfilerError, match="sort by|row_limit|group by"):
            prof.table(**bad)


def test_chrome_trace_is_trace_event_json(tmp_path):
    x = xg.asarray(np.ones((5, 5)), requires_grad=True)
    with profiler.profile(record_shapes=True) as prof:
        (x @ x).sum().backward()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    calls = [e for e in events if e["ph"] == "X"]
    assert len(calls) == len(prof.events) == 4
    for e in calls:
        assert {"ph", "ts", "dur", "pid", "tid", "name", "args"} <= set(e)
        assert e["dur"] >= 0 and e["args"]["kernel"] and "shapes" in e["args"]
    assert sorted(e["name"] for e in calls) == sorted(e.name for e in prof.events)
    tracks = {e["args"]["name"]: e["tid"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert set(tracks) == {"cpu forward", "cpu backward"}
    assert {e["tid"] for e in calls if e["cat"] == "backward"} == {tracks["cpu backward"]}
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and counters[-1]["args"] == {"activations": 0, "leaves": 0}
    assert max(c["args"]["activations"] for c in counters) == prof.memory.peak == 5 * 5 * 8 + 8
    assert doc["displayTimeUnit"] == "ms"


def _assert_well_nested(events):
    """On each track, a complete event lies inside the one open below it or after it: no partial overlap."""
    by_track: dict = {}
    for e in events:
        if e["ph"] == "X":
            by_track.setdefault((e["pid"], e["tid"]), []).append(e)
    for calls in by_track.values():
        open_ends: list = []
        for e in sorted(calls, key=lambda e: (e["ts"], -e["dur"])):
            while open_ends and e["ts"] >= open_ends[-1]:
                open_ends.pop()
            end = e["ts"] + e["dur"]
            assert not open_ends or end <= open_ends[-1] + 1e-3, e
            open_ends.append(end)


def test_chrome_trace_of_nested_calls_nests():
    x = xg.asarray(np.linspace(0.1, 1.0, 5), requires_grad=True)
    with profiler.profile() as prof:
        xg.grad(xg.grad(lambda t: xg.sum(xg.sin(t) * t)))(x[0])
        xg.jvp(lambda t: xg.exp(xg.sin(t)), (x,), (xg.ones_like(x),))
    events = prof.trace_events()
    assert sum(e["ph"] == "X" for e in events) == len(prof.events)
    _assert_well_nested(events)


def test_the_trace_in_the_docs_is_small_and_valid():
    path = ROOT / "docs" / "images" / "profile_digits_trace.json"
    assert path.stat().st_size < 300_000
    doc = json.loads(path.read_text())
    calls = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert {"conv2d", "max_pool2d", "affine", "cross_entropy"} <= {e["name"] for e in calls}
    _assert_well_nested(doc["traceEvents"])


def test_chrome_trace_write_is_atomic(tmp_path, monkeypatch):
    with profiler.profile() as prof:
        for _ in range(5):
            xg.ones(3) * 2.0
    path = tmp_path / "trace.json"
    path.write_text("the old trace")
    real = json.dumps
    seen = []

    def failing(obj, **kw):
        seen.append(obj)
        if len(seen) > 4:                 # some events are already written when this one fails
            raise RuntimeError("disk full")
        return real(obj, **kw)
    monkeypatch.setattr(profiler.json, "dumps", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        prof.export_chrome_trace(path)
    assert path.read_text() == "the old trace"
    assert os.listdir(tmp_path) == ["trace.json"]          # no temporary file left behind
    monkeypatch.setattr(profiler.json, "dumps", real)
    with pytest.raises(profiler.ProfilerError, match="does not exist"):
        prof.export_chrome_trace(tmp_path / "no" / "such" / "dir" / "t.json")


def test_a_profile_records_one_block():
    prof = profiler.profile()
    with prof:
        pass
    with pytest.raises(profiler.ProfilerError, match="one block"):
        with prof:
            pass
    d = prof.to_dict()
    assert d["events"] == [] and d["memory"]["peak"] == 0
    assert profiler.profile(memory=False).memory is None


# ---------------------------------------------------------------- memory

def test_memory_of_a_chain_by_hand():
    x = xg.asarray(np.ones(1000), requires_grad=True)           # float64: 8000 B, a leaf
    with profiler.track_memory() as mem:
        e1 = xg.exp(x)              # node holds x (leaf) and e1
        after_one = mem.current
        y = xg.exp(e1)              # node holds e1 (already counted) and y
        after_fwd = mem.snapshot("forward")
        loss = y.sum()              # node holds y (counted) and an 8-byte scalar
        del e1, y
        loss.backward()
        after_bwd = mem.snapshot("backward")
    assert after_one == 8000
    assert after_fwd.activations == 16000 and after_fwd.leaves == 8000
    assert after_fwd.by_op == {"exp": 16000}
    assert mem.peak == mem.peak_forward == mem.peak_backward == 16008
    assert mem.peak_total == 24008
    assert mem.current == 0 and mem.leaves == 0 and after_bwd.total == 0
    diff = profiler.memory_diff(after_fwd, after_bwd)
    assert diff.rows == [("exp", 16000, 0, -16000)] and diff.activations == -16000
    text = str(after_bwd - after_fwd)
    assert "'forward' -> 'backward'" in text and "-16.0 kB" in text and "exp" in text


def test_backward_releases_node_by_node():
    x = xg.asarray(np.ones(1000), requires_grad=True)
    seen = []
    with profiler.track_memory() as mem:
        h = xg.exp(xg.exp(xg.exp(x)))
        h.register_hook(lambda g: seen.append(mem.current))
        h.backward(xg.ones_like(h))
    assert seen == [24000]                     # all three still held when backward starts
    assert mem.peak_backward == 24000 and mem.current == 0


def test_views_and_repeats_count_once():
    x = xg.asarray(np.ones(1000), requires_grad=True)
    with profiler.track_memory() as mem:
        t = xg.exp(x)                         # 8000: t
        v = xg.reshape(t, (10, 100))          # a view of t: nothing new
        s = v[::2]                            # a view of the same block: nothing new
        z = t * t                             # t saved twice by one node: once; z: 8000
        w = xg.exp(s)                         # s is t's block; w: 4000
    assert mem.current == 8000 + 8000 + 4000
    assert mem.snapshot().by_op == {"exp": 12000, "multiply": 8000}
    del v, z, w


def test_leaves_and_their_views_are_leaves():
    W = xg.asarray(np.ones((10, 10)), requires_grad=True)      # 800 B
    x = xg.asarray(np.ones((4, 10)))                           # 320 B, an input
    with profiler.track_memory() as mem:
        y = x @ W.mT                                           # W.mT is a view of W: still a leaf's block
    assert mem.leaves == 800 + 320
    assert mem.current == 320                                  # y (4, 10)
    assert mem.snapshot().leaves_by_op == {"matrix_transpose": 800, "matmul": 320}
    del y


def test_garbage_collected_graphs_drop_out():
    x = xg.asarray(np.ones(1000), requires_grad=True)
    with profiler.track_memory() as mem:
        y = xg.exp(xg.exp(x))
        assert mem.current == 16000
        del y                                                  # no backward: the nodes die with y
        assert mem.current == 0 and mem.peak == 16000


def test_retained_graphs_stay_and_earlier_nodes_are_not_counted():
    x = xg.asarray(np.ones(1000), requires_grad=True)
    a = xg.exp(x)                                              # recorded before the block
    with profiler.track_memory() as mem:
        assert mem.current == 0
        b = xg.exp(a)                                          # holds a's block (an activation) and b
        b.backward(xg.ones_like(b), retain_graph=True)
        assert mem.current == 16000
    mem_after = mem.current
    del b
    assert mem.current == mem_after == 16000                   # figures stop when the block ends


def test_create_graph_backward_grows_memory_in_backward():
    x = xg.asarray(np.ones(1000), requires_grad=True)
    with profiler.track_memory() as mem:
        y = xg.sin(x)                                          # node: x (leaf), y
        (g,) = xg.autograd.grad(y.sum(), [x], create_graph=True)
    assert mem.peak_forward == 8008                            # y and the scalar sum
    assert mem.peak_backward > mem.peak_forward                # cos(x), g·cos(x) recorded in backward
    del g


def test_custom_vjp_residuals_are_counted():
    @xg.custom_vjp
    def f(x):
        return x * 1.0

    # The residual is made without recording: only the custom node's parameters keep it.
    f.defvjp(lambda x: (x * 1.0, (xg.exp(x.detach()),)), lambda res, g: (g * res[0],))
    x = xg.asarray(np.ones(1000), requires_grad=True)
    with profiler.track_memory() as mem:
        y = f(x)
        # fwd's multiply node died with its output Tensor; the custom node holds x (a leaf), its
        # output (8000 B) and the residual (8000 B).
        assert mem.snapshot().by_op == {"custom_vjp:f": 16000}
        assert mem.current == 16000 and mem.leaves == 8000
        y.backward(xg.ones_like(y))
        assert mem.current == 0


def test_reset_peak_and_single_use():
    x = xg.asarray(np.ones(100), requires_grad=True)
    with profiler.track_memory() as mem:
        y = xg.exp(xg.exp(x))
        y.backward(xg.ones_like(y))
        assert mem.peak == 1600 and mem.current == 0
        mem.reset_peak()
        assert mem.peak == 0 and mem.peak_forward == 0
        z = xg.exp(x)
        assert mem.peak == mem.peak_forward == 800
    with pytest.raises(profiler.ProfilerError, match="one block"):
        with mem:
            pass
    with pytest.raises(profiler.ProfilerError, match="MemorySnapshot"):
        profiler.memory_diff(mem.snapshot(), None)
    del z


def test_memory_on_each_backend(device):
    x = xg.asarray(np.ones(1000, dtype=np.float32), device=device, requires_grad=True)
    with profiler.track_memory() as mem:
        y = xg.exp(xg.exp(x))
        assert mem.current == 8000 and mem.leaves == 4000
        y.sum().backward()
    assert mem.peak == 8004 and mem.current == 0


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(st.sampled_from(["exp", "sin", "tanh", "negative"]), min_size=1, max_size=6),
       n=st.integers(1, 64), steps=st.integers(1, 2))
def test_chain_property(ops, n, steps):
    """A chain of k unary ops on a float64 vector holds k outputs; every call has one forward and one VJP."""
    x = xg.asarray(np.linspace(0.0, 0.5, n), requires_grad=True)
    with profiler.profile() as prof:
        for _ in range(steps):
            h = x
            for name in ops:
                h = getattr(xg, name)(h)
            h.backward(xg.ones_like(h))
    assert prof.memory.peak == prof.memory.peak_backward == len(ops) * n * 8
    assert prof.memory.peak_total == (len(ops) + 1) * n * 8 and prof.memory.current == 0
    rows = _rows(prof)
    for name in set(ops):
        assert rows[name, "forward"].calls == rows[name, "backward"].calls == steps * ops.count(name)
        assert rows[name, "forward"].bytes == steps * ops.count(name) * n * 8
    # each op once forward and once backward per step; from the second step on, one add into x.grad
    assert len(prof.events) == 2 * steps * len(ops) + (steps - 1)
    _check_nesting(prof)


# ---------------------------------------------------------------- the demo script

def test_profile_digits_example(tmp_path, capsys):
    pytest.importorskip("sklearn", reason="the demo needs scikit-learn (pip install xpgrad[examples])")
    spec = importlib.util.spec_from_file_location("profile_digits", ROOT / "examples" / "profile_digits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    trace = tmp_path / "trace.json"
    prof = mod.main(["--steps", "1", "--trace", str(trace)])
    out = capsys.readouterr().out
    assert "conv2d" in out and "peak activations" in out and "saved tensors" in out
    names = {e["name"] for e in json.loads(trace.read_text())["traceEvents"] if e["ph"] == "X"}
    assert {"conv2d", "max_pool2d", "affine", "cross_entropy"} <= names
    assert prof.memory.peak > 0 and prof.memory.current == 0
