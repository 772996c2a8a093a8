"""The cost-model dispatcher: choice, cache, fallback, planning levels, wisdom, preferences, explain.

Each test defines its own op with kernels whose costs and running times it
controls, so choices are deterministic; nothing here depends on how fast this
machine is (the ``measure`` tests use kernels that sleep for very different times).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.core import dispatch as D
from xpgrad.core import registry
from xpgrad.core.errors import OutOfResourcesError, RegistryError
from xpgrad.ops._structure import call

CPU = xg.get_backend("cpu")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test plans afresh, with its own wisdom file and the default level."""
    monkeypatch.setenv("XPGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("XPGRAD_WISDOM", raising=False)
    D._LEVEL[:] = ["estimate"]
    D.forget()
    D.stats(reset=True)
    yield
    D._LEVEL[:] = []
    D._PREFER.clear()
    D.forget()


class Counted:
    """A kernel forward that counts its calls and may sleep, fail, or scale its result."""

    def __init__(self, name, factor=1.0, sleep=0.0, fail_from=None, error=OutOfResourcesError):
        self.name, self.factor, self.sleep, self.fail_from, self.error = name, factor, sleep, fail_from, error
        self.calls = 0
        self.__name__ = name

    def __call__(self, xp, x, s, /):
        self.calls += 1
        if self.fail_from is not None and x.shape[0] >= self.fail_from:
            raise self.error(f"{self.name}: out of local memory")
        if self.sleep:
            time.sleep(self.sleep)
        return x * s * self.factor


@pytest.fixture
def op(request):
    """A fresh op ``scale(x, s) = x * s`` whose VJP calls the op itself (so backward dispatches too)."""
    name = f"dsp_{request.node.name}".replace("[", "_").replace("]", "_")[:60]

    @xg.defop(name)
    def scale(xp, x, s, /):
        return x * s

    scale.defvjp(lambda xp, g, out, x, s: call(scale, xp, g, s), None)
    scale.defjvp(lambda xp, t, out, x, s: call(scale, xp, t, s), None)
    yield scale
    registry._OPS.pop(name, None)
    for key in [k for k in D._REG if k[0] == name]:
        D._REG.pop(key)


def kernels(op, *specs):
    """Register kernels ``(forward, cost, supports, default)`` for ``op`` on ``cpu``; returns the forwards."""
    out = []
    for fwd, cost, supports, *default in specs:
        D.register(D.Kernel(op.name, "cpu", fwd, name=fwd.name,
                            cost=None if cost is None else _cost(cost),
                            supports=supports, default=bool(default and default[0])), plugin="tests")
        out.append(fwd)
    return out


def _cost(c):
    return lambda sig, profile: c(sig) if callable(c) else c


def x_of(n):
    return np.arange(float(n))


# ---------------------------------------------------------------- choosing and caching


def test_the_cheapest_supporting_kernel_runs_and_the_decision_is_cached(op):
    seen = []

    def small_only(sig):
        seen.append(sig)
        return True if sig.shapes[0][0] <= 4 else f"only up to 4 elements, not {sig.shapes[0][0]}"

    a, b, c = kernels(op, (Counted("a", 1.0), 3.0, None), (Counted("b", 1.0), 2.0, None),
                      (Counted("c", 1.0), 1.0, small_only))
    np.testing.assert_array_equal(op(x_of(4), 2.0).numpy(), x_of(4) * 2)
    assert (a.calls, b.calls, c.calls) == (0, 0, 1)
    op(x_of(8), 2.0)
    assert (a.calls, b.calls, c.calls) == (0, 1, 1)          # c declined: never run
    n = len(seen)
    for _ in range(3):
        op(x_of(4), 2.0)
    assert c.calls == 4 and len(seen) == n                    # cached: supports() not asked again
    assert D.stats()["planned"] == 2


def test_kernels_without_a_cost_model_claim_the_op(op):
    a, b = kernels(op, (Counted("modelled"), 1e-9, None), (Counted("claims"), None, None))
    op(x_of(3), 1.0)
    assert (a.calls, b.calls) == (0, 1)
    assert "claims the op" in D.explain(op, x_of(3), 1.0).reason


def test_the_generic_forward_runs_when_no_kernel_supports_the_call(op):
    (a,) = kernels(op, (Counted("a"), 1.0, lambda sig: "never"))
    np.testing.assert_array_equal(op(x_of(3), 3.0).numpy(), x_of(3) * 3)
    e = D.explain(op, x_of(3), 3.0)
    assert a.calls == 0 and e.choice == "generic" and "no kernel supports" in e.reason
    assert next(r for r in e.rows if r["kernel"] == "a")["why_not"] == "never"


def test_a_broken_supports_or_cost_never_breaks_the_call(op):
    def boom(sig):
        raise RuntimeError("bug in supports")

    a, b = kernels(op, (Counted("a"), 1.0, boom), (Counted("b"), lambda s: 1 / 0, None))
    np.testing.assert_array_equal(op(x_of(2), 1.0).numpy(), x_of(2))
    e = D.explain(op, x_of(2), 1.0)
    assert a.calls == 0 and b.calls == 1 and "supports() raised RuntimeError" in e.rows[0]["why_not"]


def test_scalar_operands_and_unhashable_params_are_planned_once(op):
    (a,) = kernels(op, (Counted("a"), 1.0, lambda sig: True))
    for _ in range(3):
        op(x_of(3), 2.0)
    assert D.stats()["planned"] == 1
    d = op.kernels[CPU]
    assert d.select((x_of(3), np.float64(2.0)), {"list": [1, 2]}) is a
    assert d.select((x_of(3), np.float64(2.0)), {"list": [1, 2]}) is a
    assert D.stats()["planned"] == 2


class _DeviceIndex:
    """An index array whose contents must not be read (a device array: repr would download it)."""

    def __init__(self, shape):
        self.shape, self.dtype = shape, np.dtype(np.int64)

    def __repr__(self):
        raise AssertionError("the dispatcher read an array parameter's values")

    __hash__ = None


def test_array_parameters_key_decisions_by_shape_and_dtype_without_reading_them(op):
    (a,) = kernels(op, (Counted("a"), 1.0, lambda sig: True))
    d = op.kernels[CPU]
    for _ in range(3):
        assert d.select((x_of(3), np.float64(2.0)), {"key": (_DeviceIndex((5,)), slice(None))}) is a
    assert D.stats()["planned"] == 1
    d.select((x_of(3), np.float64(2.0)), {"key": (_DeviceIndex((6,)), slice(None))})
    assert D.stats()["planned"] == 2
    sig = D.Signature.of(op, [(3,)], params={"key": _DeviceIndex((2, 4)), "axis": np.int64(1)})
    assert '["array",[2,4],"int64"]' in sig.key() and repr(np.int64(1)) in sig.key()


# ---------------------------------------------------------------- out of resources


@pytest.mark.parametrize("error", [OutOfResourcesError, MemoryError])
def test_a_kernel_out_of_resources_hands_the_call_to_the_next(op, error):
    a, b = kernels(op, (Counted("big", fail_from=8, error=error), 1.0, None), (Counted("safe"), 2.0, None))
    np.testing.assert_array_equal(op(x_of(8), 2.0).numpy(), x_of(8) * 2)
    assert (a.calls, b.calls) == (1, 1)
    op(x_of(8), 2.0)
    assert (a.calls, b.calls) == (1, 2)            # remembered: the first choice does not fit this call
    op(x_of(4), 2.0)
    assert a.calls == 2                            # other signatures still get the cheapest
    assert D.stats()["fallbacks"] == 1


def test_every_kernel_out_of_resources_is_one_clear_error(op):
    kernels(op, (Counted("a", fail_from=0), 1.0, None), (Counted("b", fail_from=0), 2.0, None),
            )
    op.kernels[CPU].generic = D.Kernel(op.name, "cpu", Counted("g", fail_from=0), name="generic")
    with pytest.raises(OutOfResourcesError, match=r"every kernel ran out of resources \(a, b, generic\)"):
        op(x_of(2), 1.0)


# ---------------------------------------------------------------- gradients use the dispatcher


def test_backward_and_forward_mode_call_kernels_through_the_dispatcher(op):
    (a,) = kernels(op, (Counted("a"), 1.0, lambda sig: True))
    x = xg.asarray(x_of(3), requires_grad=True)
    y = op(x, 3.0)
    xg.sum(y).backward()
    assert a.calls == 2                             # the forward, and the VJP's call of the op
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])
    _, t = xg.jvp(lambda v: op(v, 2.0), (xg.asarray(x_of(3)),), (xg.ones(3, dtype=xg.float64),))
    assert a.calls == 4
    np.testing.assert_array_equal(t.numpy(), [2.0, 2.0, 2.0])


# ---------------------------------------------------------------- preferences


def test_prefer_as_a_context_manager_and_globally(op):
    a, b = kernels(op, (Counted("a"), 1.0, None), (Counted("b"), 2.0, None))
    op(x_of(2), 1.0)
    with D.prefer(op, "b"):
        op(x_of(2), 1.0)
        assert "preferred" in D.explain(op, x_of(2), 1.0).reason
    op(x_of(2), 1.0)
    assert (a.calls, b.calls) == (2, 1)
    D.prefer(op.name, "b")
    op(x_of(2), 1.0)
    D.prefer(op.name, None)
    op(x_of(2), 1.0)
    assert (a.calls, b.calls) == (3, 2)
    with D.prefer(op, "b", device="opencl:0"):    # another device: no effect here
        op(x_of(2), 1.0)
    assert (a.calls, b.calls) == (4, 2)
    with D.prefer(op, "generic"):
        op(x_of(2), 1.0)
    assert (a.calls, b.calls) == (4, 2)


def test_preferring_an_unknown_kernel_names_the_known_ones(op):
    kernels(op, (Counted("a"), 1.0, None))
    with pytest.raises(RegistryError, match="has no kernel 'fast'; its kernels are a, generic"):
        D.prefer(op, "fast")


def test_a_preferred_kernel_that_declines_the_call_is_passed_over(op):
    a, b = kernels(op, (Counted("a"), 1.0, None), (Counted("b"), 2.0, lambda s: "needs a GPU"))
    with D.prefer(op, "b"):
        op(x_of(2), 1.0)
        e = D.explain(op, x_of(2), 1.0)
    assert (a.calls, b.calls) == (1, 0)
    assert e.choice == "a" and "preferred kernel 'b' does not support this call (needs a GPU)" in e.reason


# ---------------------------------------------------------------- explain


def test_explain_lists_every_candidate_with_costs_and_the_reason(op):
    kernels(op, (Counted("a"), 2e-3, None), (Counted("b"), 1e-6, None), (Counted("c"), 1.0, lambda s: "odd"))
    e = D.explain(op, xg.asarray(x_of(5)), 1.0)
    assert e.choice == "b" and e.order == ["b", "a", "generic"]
    assert [r["kernel"] for r in e.rows] == ["a", "b", "c", "generic"]
    assert [r["supported"] for r in e.rows] == [True, True, False, True]
    assert e.rows[0]["estimate"] == 2e-3 and e.rows[2]["why_not"] == "odd"
    assert e.reason == "estimate: lowest modelled cost (1 µs vs a 2 ms)"
    text = str(e)
    assert "← chosen" in text and "no: odd" in text and "float64[5]" in text
    json.dumps(e.to_dict())
    assert e.to_dict()["candidates"][1]["chosen"] is True


def test_explain_with_a_fake_profile_and_no_arrays(op):
    def cost(sig, profile):
        return sig.shapes[0][0] / profile.speed

    D.register(D.Kernel(op.name, "cpu", Counted("slow"), name="slow", cost=cost))
    D.register(D.Kernel(op.name, "cpu", Counted("fixed"), name="fixed", cost=lambda s, p: 1.0))
    sig = D.Signature.of(op, [(100,), ()], "float32")

    class Fast:
        speed = 1e3

    class Slow:
        speed = 10.0

    assert D.choose(sig, profile=Fast()).choice == "slow"
    assert D.choose(sig, profile=Slow()).choice == "fixed"


def test_explain_for_an_op_without_a_choice():
    e = xg.dispatch.explain("add", xg.ones(3), xg.ones(3))
    assert e.choice == "generic" and len(e.rows) == 1 and "generic Array API forward" in e.reason


# ---------------------------------------------------------------- planning levels and wisdom


def test_measure_times_the_candidates_saves_wisdom_and_a_second_run_times_nothing(op):
    slow, fast = kernels(op, (Counted("slow", sleep=4e-3), 1e-9, None),
                         (Counted("fast", sleep=2e-4), 1.0, None))
    with D.set_level("measure"):
        np.testing.assert_array_equal(op(x_of(3), 2.0).numpy(), x_of(3) * 2)
        e = D.explain(op, x_of(3), 2.0, level="estimate")
    assert e.choice == "fast" and e.reason.startswith("wisdom: measured fastest")
    measured = {r["kernel"]: r["measured"] for r in e.rows}
    assert measured["slow"] > 5 * measured["fast"]
    assert slow.calls <= 2                          # warm-up and one timed run: then 3x slower, dropped
    assert D.stats()["timed"] == 2
    saved = json.load(open(D.wisdom_path()))
    (entry,) = saved["entries"].values()
    assert entry["kernel"] == "fast" and set(entry["times"]) == {"slow", "fast"}
    # a new process: nothing in memory, the file on disk
    D.forget()
    D.stats(reset=True)
    calls = fast.calls
    with D.set_level("measure"):
        op(x_of(3), 2.0)
    assert D.stats()["timed"] == 0 and D.stats()["wisdom"] == 1 and fast.calls == calls + 1


def test_wisdom_only_uses_the_default_kernel_and_never_times(op):
    a, b = kernels(op, (Counted("cheap"), 1e-6, None), (Counted("default"), 1.0, None, True))
    with D.set_level("wisdom-only"):
        op(x_of(2), 1.0)
        assert "wisdom-only" in D.explain(op, x_of(2), 1.0).reason
    assert (a.calls, b.calls) == (0, 1) and D.stats()["timed"] == 0
    with D.set_level("measure"):            # learn that "cheap" is not faster... it is: both instant
        op(x_of(2), 1.0)
    D.forget()
    with D.set_level("wisdom-only"):
        e = D.explain(op, x_of(2), 1.0)
    assert e.reason.startswith("wisdom:")


def test_wisdom_keys_hold_kernel_versions(op):
    kernels(op, (Counted("a", sleep=2e-3), 1e-9, None), (Counted("b"), 1.0, None))
    with D.set_level("measure"):
        op(x_of(2), 1.0)
    assert D.explain(op, x_of(2), 1.0).choice == "b"
    D.register(D.Kernel(op.name, "cpu", Counted("a", sleep=2e-3), name="a", version="2",
                        cost=lambda s, p: 1e-9))
    D.forget()
    e = D.explain(op, x_of(2), 1.0)        # a new version of 'a': the old timing no longer applies
    assert e.choice == "a" and e.reason.startswith("estimate")


@pytest.mark.parametrize("content, why", [
    ("{not json", "not readable JSON"),
    ('{"format": "something else", "entries": {}}', "not an xpgrad wisdom file"),
    ('{"format": "xpgrad-wisdom", "version": 0, "entries": {}}', "format version 0"),
])
def test_a_corrupt_or_stale_wisdom_file_is_ignored_with_a_warning_and_rebuilt(op, content, why):
    kernels(op, (Counted("a", sleep=2e-3), 1e-9, None), (Counted("b"), 1.0, None))
    os.makedirs(os.path.dirname(D.wisdom_path()), exist_ok=True)
    with open(D.wisdom_path(), "w") as f:
        f.write(content)
    with pytest.warns(UserWarning, match=why), D.set_level("measure"):
        np.testing.assert_array_equal(op(x_of(2), 1.0).numpy(), x_of(2))
    data = json.load(open(D.wisdom_path()))
    assert data["format"] == "xpgrad-wisdom" and len(data["entries"]) == 1


def test_export_and_import_wisdom(op, tmp_path):
    kernels(op, (Counted("a", sleep=2e-3), 1e-9, None), (Counted("b"), 1.0, None))
    with D.set_level("measure"):
        op(x_of(2), 1.0)
    out = tmp_path / "exported.json"
    assert D.export_wisdom(str(out)) == 1
    os.remove(D.wisdom_path())
    D.forget()
    assert D.explain(op, x_of(2), 1.0).choice == "a"
    assert D.import_wisdom(str(out)) == 1
    assert D.explain(op, x_of(2), 1.0).choice == "b"
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(ValueError, match="not an xpgrad wisdom file"):
        D.import_wisdom(str(bad))


def test_wisdom_writes_are_atomic(op, monkeypatch):
    kernels(op, (Counted("a", sleep=2e-3), 1e-9, None), (Counted("b"), 1.0, None))
    with D.set_level("measure"):
        op(x_of(2), 1.0)
    before = open(D.wisdom_path()).read()

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)   # the new file is written, then the swap fails
    with D.set_level("measure"), pytest.warns(UserWarning, match="could not save dispatch wisdom"):
        op(x_of(5), 1.0)
    assert open(D.wisdom_path()).read() == before            # the old file, whole
    assert not [f for f in os.listdir(os.path.dirname(D.wisdom_path())) if f.endswith(".tmp")]


def test_the_level_comes_from_the_environment():
    code = "import xpgrad as xg; print(xg.dispatch.get_level())"
    env = dict(os.environ, XPGRAD_DISPATCH="wisdom-only")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "wisdom-only"
    env["XPGRAD_DISPATCH"] = "fastest"
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "estimate" and "not a planning level" in out.stderr
    with pytest.raises(ValueError, match="must be one of estimate, measure, wisdom-only"):
        D.set_level("fast")


PROGRAM = textwrap.dedent("""
    import time, numpy as np, xpgrad as xg
    from xpgrad.core import dispatch as D

    @xg.defop("twice_program")
    def twice(xp, x, /):
        return 2 * x
    twice.defvjp(lambda xp, g, out, x: 2 * g)

    def slow(xp, x, /):
        time.sleep(0.003)
        return 2 * x

    D.register(D.Kernel("twice_program", "cpu", slow, name="slow", cost=lambda s, p: 1e-9))
    D.register(D.Kernel("twice_program", "cpu", lambda xp, x: x + x, name="fast", cost=lambda s, p: 1.0))
    for n in (3, 4, 3):
        twice(xg.ones(n))
    print(D.stats()["timed"], D.stats()["wisdom"], D.explain("twice_program", xg.ones(3)).choice)
""")


def test_a_second_run_under_measure_reuses_the_saved_decisions(tmp_path):
    env = dict(os.environ, XPGRAD_DISPATCH="measure", XPGRAD_CACHE_DIR=str(tmp_path))
    def once():
        argv = [sys.executable, "-c", PROGRAM]
        return subprocess.run(argv, env=env, capture_output=True, text=True, check=True)

    first, second = once(), once()
    assert first.stdout.split() == ["4", "0", "fast"]     # two signatures, two kernels each
    assert second.stdout.split() == ["0", "2", "fast"]    # nothing timed: both decisions from the file


# ---------------------------------------------------------------- signatures and cost helpers


def test_signatures_record_shapes_dtypes_layouts_and_params():
    a = np.ones((3, 4), dtype=np.float32)
    s = D.Signature.from_call("matmul", "cpu", (a, a.T, a[:, ::2], 2.0), {"axis": [0, 1]})
    assert s.shapes == ((3, 4), (4, 3), (3, 2), ())
    assert s.dtypes == ("float32", "float32", "float32", "float")
    assert s.layouts == ("C", "F", "strided", "scalar") and s.itemsize == 4
    assert json.loads(s.key())[4] == [["axis", [0, 1]]]
    assert str(D.Signature.of("conv2d", [(1, 3, 8, 8)], "float64", {"padding": 1})) == \
        "conv2d(float64[1, 3, 8, 8], padding=1) on cpu"


def test_cost_helpers_follow_the_profile():
    class P:
        peak_flops = 1e11
        peak_flops_f64 = 5e10
        memory_bandwidth = 1e10
        launch_latency = 1e-5
        host_bandwidth = 1e9

    p = P()
    assert D.launch_time(p, 3) == pytest.approx(3e-5)
    assert D.memory_time(p, 1e10) == pytest.approx(1.0)
    assert D.transfer_time(p, 1e9) == pytest.approx(1.0 + 1e-5)
    big = D.gemm_time(p, 4096, 4096, 4096)
    assert big == pytest.approx(2 * 4096 ** 3 / (1e11 * D.gemm_efficiency(p, 4096, 4096, 4096)) + 1e-5)
    assert D.gemm_time(p, 4096, 4096, 4096, itemsize=8) > 1.9 * big
    assert D.gemm_efficiency(p, 8, 8, 8) < 0.05 < 0.9 < D.gemm_efficiency(p, 4096, 4096, 4096)
    assert D.fft_time(p, 1024, 10) > D.fft_time(p, 512, 10) > 0
    p.host_bandwidth = float("inf")
    assert D.transfer_time(p, 1e9) == 0.0


def test_calibrated_profiles_are_stored_and_applied_once_per_backend(monkeypatch):
    class Prof:
        def __init__(self):
            self.measured = {}
            self.peak_flops = 1.0

    class B:
        device = "fake:0"
        profile = Prof()

        def identity(self):
            return "fake:0 rev A"

    b = B()
    b.profile.measured = {"peak_flops": 5e9}
    path = D.save_profile(b)
    assert json.load(open(path))["entries"]["fake:0 rev A"]["measured"] == {"peak_flops": 5e9}
    b2 = B()
    b2.profile = Prof()
    assert D.load_profile(b2) and b2.profile.peak_flops == 5e9 and not D.load_profile(b2)
    with open(path, "w") as f:
        f.write("garbage")
    b3 = B()
    b3.profile = Prof()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert not D.load_profile(b3)
    assert "not readable JSON" in str(w[0].message)


def test_figures_measured_on_first_use_are_kept_so_later_runs_choose_alike(tmp_path):
    """Launch latency and bandwidth, measured afresh in each process, would differ a little and could
    flip a near-tie between kernels from run to run; the first process writes them, later ones read them."""
    code = ("import json, numpy as np, xpgrad as xg; from xpgrad.nn import functional as F\n"
            "x = xg.asarray(np.ones((8, 4, 8, 8), np.float32))\n"
            "w = xg.asarray(np.ones((6, 4, 3, 3), np.float32))\n"
            "F.conv2d(x, w, padding=1)\n"
            "print(json.dumps(xg.get_backend('cpu').profile.measured, sort_keys=True))")
    env = dict(os.environ, XPGRAD_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    first, second = (json.loads(r.stdout) for r in runs)
    assert {"launch_latency", "memory_bandwidth"} <= first.keys()
    assert first == second
    assert (tmp_path / "profiles.json").exists()
