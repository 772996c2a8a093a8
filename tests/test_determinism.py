"""``xpgrad.use_deterministic``: nondeterministic kernels set aside, no timing, clear errors, bitwise repeats.

The dispatcher tests define their own ops on ``cpu`` with kernels whose costs they
set, so every choice is known in advance; the OpenCL test repeats a getitem VJP
with heavily repeated indices, where the default (atomic) kernel races and the
deterministic one must give the same bits every time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.core import dispatch as D
from xpgrad.core import registry
from xpgrad.determinism import DeterminismError, DeterminismWarning, is_warn_only, use_deterministic

CPU = xg.get_backend("cpu")


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """Each test: determinism off, its own wisdom file, the default level, no preferences."""
    monkeypatch.setenv("XPGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("XPGRAD_WISDOM", raising=False)
    D.set_deterministic(False)
    D._LEVEL[:] = ["estimate"]
    D.forget()
    D.stats(reset=True)
    yield
    D.set_deterministic(False)
    D._LEVEL[:] = []
    D._PREFER.clear()
    D.forget()


class Counted:
    """A kernel forward ``x * s`` that counts its calls (and may sleep)."""

    def __init__(self, name, sleep=0.0):
        self.name, self.sleep, self.calls = name, sleep, 0

    def __call__(self, xp, x, s, /):
        self.calls += 1
        if self.sleep:
            time.sleep(self.sleep)
        return x * s


@pytest.fixture
def make_op(request):
    """``make_op(deterministic=...)``: a fresh op ``scale(x, s) = x * s``, removed afterwards."""
    made = []

    def make(deterministic=True):
        name = f"det_{request.node.name}_{len(made)}".replace("[", "_").replace("]", "_")[:60]

        @xg.defop(name, deterministic=deterministic)
        def scale(xp, x, s, /):
            return x * s

        scale.defvjp(lambda xp, g, out, x, s: g * s, None)
        made.append(scale)
        return scale

    yield make
    for op in made:
        op.deterministic = True          # drops any guard
        registry._OPS.pop(op.name, None)
        for key in [k for k in D._REG if k[0] == op.name]:
            D._REG.pop(key)


def kernel(op, fwd, cost, *, deterministic=True, supports=None):
    D.register(D.Kernel(op.name, "cpu", fwd, name=fwd.name, cost=lambda sig, prof: cost,
                        supports=supports, deterministic=deterministic), plugin="tests")
    return fwd


def x_of(n):
    return np.arange(float(n))


# ---------------------------------------------------------------- the switch


def test_the_mode_is_process_wide_and_a_context_manager_restores_it():
    assert not xg.is_deterministic()
    xg.use_deterministic(True)
    assert xg.is_deterministic() and not is_warn_only()
    with xg.use_deterministic(True, warn_only=True):
        assert xg.is_deterministic() and is_warn_only()
        with xg.use_deterministic(False):
            assert not xg.is_deterministic()
        assert is_warn_only()
    assert xg.is_deterministic() and not is_warn_only()
    xg.use_deterministic(False)
    assert D.deterministic_mode() == (False, False)
    assert repr(use_deterministic(False)) == "<use_deterministic: off>"


@pytest.mark.parametrize("value, mode", [("1", [True, False]), ("true", [True, False]), ("ON", [True, False]),
                                         ("warn", [True, True]), ("0", [False, False]), ("", [False, False]),
                                         ("off", [False, False])])
def test_the_environment_variable(monkeypatch, value, mode):
    monkeypatch.setenv("XPGRAD_DETERMINISTIC", value)
    assert D._env_mode() == mode


def test_an_unknown_environment_value_warns_and_stays_off(monkeypatch):
    monkeypatch.setenv("XPGRAD_DETERMINISTIC", "always")
    with pytest.warns(UserWarning, match="XPGRAD_DETERMINISTIC='always' is not understood"):
        assert D._env_mode() == [False, False]


def test_the_environment_variable_sets_the_mode_at_import():
    code = "import xpgrad as xg; print(xg.is_deterministic(), xg.determinism.is_warn_only())"
    env = dict(os.environ, XPGRAD_DETERMINISTIC="warn")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


# ---------------------------------------------------------------- kernels set aside


def test_nondeterministic_kernels_are_set_aside_and_explain_says_so(make_op):
    op = make_op()
    fast = kernel(op, Counted("atomic"), 1e-6, deterministic=False)
    slow = kernel(op, Counted("sorted"), 1e-3)
    op(x_of(3), 2.0)
    assert (fast.calls, slow.calls) == (1, 0)
    with xg.use_deterministic():                                  # the decision made before is forgotten
        np.testing.assert_array_equal(op(x_of(3), 2.0).numpy(), x_of(3) * 2)
        assert (fast.calls, slow.calls) == (1, 1)
        e = D.explain(op, x_of(3), 2.0)
        rows = {r["kernel"]: r for r in e.rows}
        assert e.choice == "sorted" and e.order == ["sorted", "generic"]
        assert rows["atomic"]["why_not"] == "set aside: not deterministic (use_deterministic)"
        assert rows["atomic"]["deterministic"] is False and rows["sorted"]["deterministic"] is True
        assert "set aside as not deterministic: atomic" in e.reason
        assert "no: set aside: not deterministic (use_deterministic)" in str(e)
    op(x_of(3), 2.0)                                              # off again: planned afresh, atomics
    assert (fast.calls, slow.calls) == (2, 1)


def test_a_lone_nondeterministic_kernel_leaves_the_call_to_the_generic_forward(make_op):
    op = make_op()
    atomic = D.register(D.Kernel(op.name, "cpu", Counted("atomic"), name="atomic", deterministic=False))
    assert isinstance(op.kernels[CPU], D.Dispatcher)   # not wired in directly: the check needs a dispatcher
    op(x_of(2), 3.0)
    assert atomic.forward.calls == 1
    with xg.use_deterministic():
        np.testing.assert_array_equal(op(x_of(2), 3.0).numpy(), [0.0, 3.0])
        assert D.explain(op, x_of(2), 3.0).choice == "generic"
    assert atomic.forward.calls == 1


def test_measure_times_nothing_and_saved_timings_are_ignored(make_op):
    op = make_op()
    kernel(op, Counted("modelled-cheap", sleep=3e-3), 1e-9)
    kernel(op, Counted("really-fast"), 1.0)
    with xg.use_deterministic(), D.set_level("measure"):
        op(x_of(4), 1.0)
        assert D.stats()["timed"] == 0
        assert D.explain(op, x_of(4), 1.0).choice == "modelled-cheap"   # what estimate picks
        e = D.explain(op, x_of(4), 1.0, level="measure")
        assert e.level == "estimate" and D.stats()["timed"] == 0
    with D.set_level("measure"):                      # off: timed, the truly fastest saved as wisdom
        op(x_of(4), 1.0)
    assert D.stats()["timed"] == 2
    assert D.explain(op, x_of(4), 1.0).choice == "really-fast"
    with xg.use_deterministic():                      # the saved timings are set aside
        e = D.explain(op, x_of(4), 1.0)
        assert e.choice == "modelled-cheap" and "saved timings set aside" in e.reason
        with D.set_level("wisdom-only"):
            assert D.explain(op, x_of(4), 1.0).choice == "modelled-cheap"
    assert D.stats()["timed"] == 2


# ---------------------------------------------------------------- no deterministic candidate


def test_an_op_whose_forward_is_not_deterministic_raises_a_clear_error(make_op):
    op = make_op(deterministic={"cpu"})
    assert op.deterministic == frozenset({"cpu"}) and not D.op_deterministic(op, "cpu")
    assert op.kernels == {}                          # mode off: no guard, the forward runs directly
    np.testing.assert_array_equal(op(x_of(3), 2.0).numpy(), x_of(3) * 2)
    with xg.use_deterministic():
        assert type(op.kernels[CPU]) is D.Dispatcher and op.kernels[CPU].guard
        with pytest.raises(DeterminismError) as e:
            op(x_of(3), 2.0)
        msg = str(e.value)
        assert msg.startswith(f"{op.name}: use_deterministic(True) is in effect")
        assert f"{op.name}(float64[3], float) on cpu" in msg
        assert "not deterministic on cpu" in msg
        for way in ("xpgrad.use_deterministic(False)", "warn_only=True", "another device"):
            assert way in msg
        assert isinstance(e.value, RuntimeError) and isinstance(e.value, xg.XpgradError)
        ex = D.explain(op, x_of(3), 2.0)
        assert ex.choice == "none" and ex.reason.startswith("DeterminismError: ")
    assert op.kernels == {}                          # off again: the guard is gone
    op(x_of(3), 2.0)


def test_warn_only_warns_once_per_op_and_runs(make_op):
    op = make_op(deterministic=lambda family: family != "cpu")
    with xg.use_deterministic(warn_only=True):
        with pytest.warns(DeterminismWarning, match=f"{op.name}: use_deterministic.*runs anyway") as rec:
            np.testing.assert_array_equal(op(x_of(3), 2.0).numpy(), x_of(3) * 2)
        assert len(rec) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            op(x_of(5), 2.0)                         # a new signature: planned, but no second warning
        assert "warn_only" in D.explain(op, x_of(5), 2.0).reason


def test_a_deterministic_kernel_covers_the_calls_it_supports(make_op):
    op = make_op(deterministic={"cpu"})
    small = kernel(op, Counted("small"), 1e-6, supports=lambda sig: sig.shapes[0][0] <= 4 or "too big")
    with xg.use_deterministic():
        op(x_of(4), 1.0)
        assert small.calls == 1
        with pytest.raises(DeterminismError, match=r"'small' does not apply \(too big\)"):
            op(x_of(8), 1.0)


def test_the_error_reaches_backward_unchanged(make_op):
    inner = make_op(deterministic={"cpu"})
    outer = make_op()
    outer.defvjp(lambda xp, g, out, x, s: inner.kernels.get(CPU, inner.forward)(xp, g, s), None)
    x = xg.asarray(x_of(3), requires_grad=True)
    with xg.use_deterministic():
        y = xg.sum(outer(x, 2.0))
        with pytest.raises(DeterminismError, match=inner.name):
            y.backward()


def test_setting_the_flag_while_the_mode_is_on(make_op):
    op = make_op()
    with xg.use_deterministic():
        op(x_of(2), 1.0)
        op.deterministic = "cpu"                     # one family name
        with pytest.raises(DeterminismError):
            op(x_of(2), 1.0)
        op.deterministic = True
        assert op.kernels == {}
        op(x_of(2), 1.0)


@pytest.mark.parametrize("bad", [3, [1, 2], None])
def test_a_malformed_flag_is_refused(make_op, bad):
    op = make_op()
    with pytest.raises(xg.XpgradError, match="deterministic must be True, False, a set of backend family"):
        op.deterministic = bad


# ---------------------------------------------------------------- preferences


def test_preferring_a_nondeterministic_kernel_raises_or_warns(make_op):
    op = make_op()
    kernel(op, Counted("atomic"), 1e-6, deterministic=False)
    sorted_ = kernel(op, Counted("sorted"), 1e-3)
    with D.prefer(op, "atomic"), xg.use_deterministic():
        with pytest.raises(DeterminismError) as e:
            op(x_of(2), 1.0)
        msg = str(e.value)
        assert f"prefer({op.name!r}, 'atomic')" in msg and "on cpu" in msg and "not deterministic" in msg
        assert f"prefer({op.name!r}, None)" in msg and "'sorted'" in msg
    with D.prefer(op, "atomic"), xg.use_deterministic(warn_only=True):
        with pytest.warns(DeterminismWarning, match="names a kernel that is not deterministic"):
            op(x_of(2), 1.0)
        assert "runs anyway (warn_only=True)" in D.explain(op, x_of(2), 1.0).reason
    with D.prefer(op, "sorted"), xg.use_deterministic():
        op(x_of(2), 1.0)
    assert sorted_.calls == 1


# ---------------------------------------------------------------- OpenCL: atomics and the deterministic twin


def _opencl():
    try:
        return xg.get_backend("opencl:0")
    except xg.DeviceError as exc:
        if "opencl:0" in os.environ.get("XPGRAD_REQUIRE_DEVICES", "").split(","):
            pytest.fail(f"opencl:0 is required (XPGRAD_REQUIRE_DEVICES) but not usable: {exc}")
        pytest.skip(f"no usable OpenCL device: {exc}")


def test_repeated_getitem_vjps_on_opencl_are_bitwise_identical_under_determinism():
    b = _opencl()
    from xpgrad.backends.opencl import indexing

    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(64).astype(np.float32)
    idx = rng.integers(0, 64, 20000)            # about 300 contributions to every element
    w = rng.standard_normal(20000).astype(np.float32)
    wd = xg.asarray(w, device="opencl:0")
    g = xg.zeros(64, dtype=xg.float32, device="opencl:0")
    assert D.explain("scatter_add", g, wd, key=idx).choice == "atomic"   # the default: fast atomics
    reference = b.to_host(indexing.scatter_add(g.data, idx, wd.data))  # the bucketed kernel, directly
    want = np.zeros(64, np.float32)
    np.add.at(want, idx, w)
    np.testing.assert_array_equal(reference, want)   # bucketed: selection order, as numpy.add.at
    grads = []
    with xg.use_deterministic():
        assert D.explain("scatter_add", g, wd, key=idx).choice == "deterministic bucketed sum"
        for _ in range(20):
            x = xg.asarray(x0, device="opencl:0", requires_grad=True)
            xg.sum(x[idx] * wd).backward()
            grads.append(x.grad.numpy())
    for gr in grads:
        np.testing.assert_array_equal(gr, reference)
    x = xg.asarray(x0, device="opencl:0", requires_grad=True)    # off: atomics, the same sums up to rounding
    xg.sum(x[idx] * wd).backward()
    np.testing.assert_allclose(x.grad.numpy(), reference, rtol=1e-4, atol=1e-3)
