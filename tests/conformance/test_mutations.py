"""Mutation tests: deliberately wrong ops, kernels and backends, registered through the plugin mechanism.

Each must be reported as a failure of the right op and the right check, and
nothing else of that op may be blamed for it. The ``sandbox`` fixture
(conftest.py) registers in-process plugins with the plugin host and undoes
every registration afterwards.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad as xg
from xpgrad import Sample
from xpgrad.conformance import run
from xpgrad.plugins import Kernel


def _failed(report, op):
    return {c for c, r in report.results[op].items() if r.status == "fail"}


def _status(report, op, check):
    return report.results[op][check].status


# ---------------------------------------------------------------- wrong rules (plugin ops)


def _sin_op(name, *, vjp_sign=1.0):
    op = xg.defop(name, registry={})(lambda xp, x, /: xp.sin(x))
    op.defvjp(lambda xp, g, out, x: vjp_sign * g * xp.cos(x))
    op.defjvp(lambda xp, t, out, x: t * xp.cos(x))
    op.defsamples(Sample((("randn", (3, 4)),)), Sample((("randn", ()),)))
    return op


def test_a_vjp_with_a_sign_error_fails_vjp(sandbox):
    sandbox.register("mut-vjp-sign", ops=[_sin_op("mut_vjp_sign", vjp_sign=-1.0)])
    r = run("cpu", ops=["mut_vjp_sign"])
    assert _failed(r, "mut_vjp_sign") == {"vjp"}
    res = r.results["mut_vjp_sign"]["vjp"]
    assert "<u, J v>" in res.failures[0] and res.repro and "check_grads" in res.repro
    assert _status(r, "mut_vjp_sign", "jvp") == "pass"
    assert not r.ok()


def test_a_jvp_missing_a_term_fails_jvp(sandbox):
    op = xg.defop("mut_jvp_term", broadcasting=True, registry={})(lambda xp, x, y, /: x * y)
    op.defvjp(lambda xp, g, out, x, y: g * y, lambda xp, g, out, x, y: g * x)
    op.defjvp(lambda xp, tx, ty, out, x, y: tx * y)          # forgets x * ty
    op.defsamples(Sample((("randn", (3, 4)), ("randn", (3, 4)))))
    sandbox.register("mut-jvp-term", ops=[op])
    r = run("cpu", ops=["mut_jvp_term"])
    assert _failed(r, "mut_jvp_term") == {"jvp"}
    assert "JVP vs central differences" in r.results["mut_jvp_term"]["jvp"].failures[0]
    assert _status(r, "mut_jvp_term", "vjp") == "pass"


def test_an_op_computing_in_float32_inside_fails_its_derivatives(sandbox):
    """An op whose forward claims float64 but rounds to float32: the reference is the op itself, so only
    central differences (float64, on the CPU) can tell."""
    op = xg.defop("mut_f32_inside", registry={})(
        lambda xp, x, /: xp.astype(xp.sin(xp.astype(x, xp.float32)), x.dtype))
    op.defvjp(lambda xp, g, out, x: g * xp.cos(x))
    op.defjvp(lambda xp, t, out, x: t * xp.cos(x))
    op.defsamples(Sample((("randn", (3, 4)),)))
    sandbox.register("mut-f32-inside", ops=[op])
    r = run("cpu", ops=["mut_f32_inside"])
    assert {"jvp", "vjp"} <= _failed(r, "mut_f32_inside")
    assert _status(r, "mut_f32_inside", "forward32") == "pass"


# ---------------------------------------------------------------- wrong kernels on a copy of the cpu backend


def test_a_kernel_wrong_by_1e_3_in_float32_fails_forward32_and_kernels(sandbox):
    def exp(xp, x, /):
        y = xp.exp(x)
        return y * (1 + 1e-3) if x.dtype == xp.float32 else y
    sandbox.register("mut-exp", families=[sandbox.mutcpu()],
                     kernels=[Kernel("exp", "mutcpu", exp, name="off")])
    r = run("mutcpu:0", ops=["exp"])
    failed = _failed(r, "exp")
    assert {"forward32", "kernels"} <= failed and "forward64" not in failed
    assert "kernel 'off'" in r.results["exp"]["kernels"].failures[0]
    assert "rtol=1e-05" in r.results["exp"]["forward32"].failures[0]
    assert [k["status"] for k in r.kernels] == ["fail"]
    # the real cpu device is untouched
    assert run("cpu", ops=["exp"]).ok()


def test_a_kernel_wrong_only_for_broadcast_shapes_fails_broadcast_and_kernels(sandbox):
    def multiply(xp, x, y, /):
        if getattr(x, "shape", ()) != getattr(y, "shape", ()):
            return x * y + 0.01
        return x * y
    sandbox.register("mut-bcast", families=[sandbox.mutcpu()],
                     kernels=[Kernel("multiply", "mutcpu", multiply, name="no-broadcast")])
    r = run("mutcpu:0", ops=["multiply"])
    failed = _failed(r, "multiply")
    assert {"broadcast", "kernels"} <= failed
    assert _status(r, "multiply", "edge") == "pass"         # same-shape inputs are fine
    for line in r.results["multiply"]["forward32"].failures:  # only the samples that broadcast fail
        sample = int(line.split()[1])
        shapes = [a[1] for a in xg.get_op("multiply").all_samples()[sample].args if isinstance(a, tuple)]
        assert len(shapes) < 2 or len(set(shapes)) > 1, line


def test_a_backend_claiming_float64_but_computing_in_float32_fails_forward64(sandbox):
    def sin(xp, x, /):  # single precision inside, whatever the input claims (complex samples too)
        low = xp.complex64 if xp.isdtype(x.dtype, "complex floating") else xp.float32
        return xp.astype(xp.sin(xp.astype(x, low)), x.dtype)
    sandbox.register("mut-f64", families=[sandbox.mutcpu()],
                     kernels=[Kernel("sin", "mutcpu", sin, name="f32")])
    r = run("mutcpu:0", ops=["sin"])
    failed = _failed(r, "sin")
    assert "forward64" in failed and "forward32" not in failed and "dtypes" not in failed
    assert "rtol=1e-11" in r.results["sin"]["forward64"].failures[0]


def test_a_cost_function_that_decreases_with_size_fails_cost(sandbox):
    def cost(signature, profile):
        return 1.0 / (1 + sum(np.prod(s) for s in signature.shapes))
    sandbox.register("mut-cost", families=[sandbox.mutcpu()],
                     kernels=[Kernel("exp", "mutcpu", lambda xp, x, /: xp.exp(x), name="cheap-when-big",
                                     cost=cost)])
    r = run("mutcpu:0", ops=["exp"])
    assert _failed(r, "exp") == {"cost"}
    assert "cost decreases with size" in r.results["exp"]["cost"].failures[0]


def test_an_insane_profile_fails_profile(sandbox):
    class Profile:
        peak_flops = -1.0
        memory_bandwidth = float("nan")
        launch_latency = 1e-6
        host_bandwidth = float("inf")
    sandbox.register("mut-profile", families=[sandbox.mutcpu(profile=Profile())])
    r = run("mutcpu:0", ops=["exp"])
    prof = r.device_results["profile"]
    assert prof.status == "fail"
    assert any("peak_flops" in f for f in prof.failures)
    assert any("memory_bandwidth" in f for f in prof.failures)
    assert not r.ok() and _failed(r, "exp") == set()


def test_a_namespace_claiming_float64_it_cannot_make_fails_claims(sandbox):
    import types

    from xpgrad.backends.numpy import NumpyBackend
    from xpgrad.backends.numpy import namespace as xp_numpy
    from xpgrad.plugins import BackendFamily

    xp = types.ModuleType("no_float64")
    xp.__dict__.update({k: v for k, v in vars(xp_numpy).items() if not k.startswith("__")})
    xp.__array_namespace_info__ = xp_numpy.__array_namespace_info__   # still lists float64

    def asarray(obj, /, *, dtype=None, device=None, copy=None):
        if dtype is not None and np.dtype(dtype) == np.float64:
            raise TypeError("float64 is not supported on this device")
        return xp_numpy.asarray(obj, dtype=dtype, device=device, copy=copy)
    xp.asarray = asarray
    fam = BackendFamily("mutno64", lambda: [NumpyBackend("mutno64:0", xp, (np.ndarray,), family="mutno64",
                                                         profile=xg.get_backend("cpu").profile)])
    sandbox.register("mut-no64", families=[fam])
    r = run("mutno64:0", ops=["exp"])
    claims = r.device_results["claims"]
    assert claims.status == "fail" and "claims float64" in claims.failures[0]
    assert "forward64" in _failed(r, "exp") and "forward32" not in _failed(r, "exp")


# ---------------------------------------------------------------- wrong kernels on a copy of the fpga card


def test_a_kernel_returning_host_arrays_fails_residency(sandbox):
    from xpgrad.backends.fpga.array import host_copy

    sandbox.register("mut-host", families=[sandbox.mutfpga()],
                     kernels=[Kernel("exp", "mutfpga", lambda xp, x, /: np.exp(host_copy(x)),
                                     name="on-host")])
    r = run("mutfpga:0", ops=["exp"])
    res = r.results["exp"]["residency"]
    assert res.status == "fail"
    assert "numpy.ndarray, not FPGAArray" in res.failures[0]
    assert "residency" in _failed(r, "exp") and "kernels" in _failed(r, "exp")


def test_a_kernel_making_a_host_round_trip_fails_residency_only(sandbox):
    from xpgrad.backends.fpga.array import host_copy, upload

    def sin(xp, x, /):  # right values, right array type, but through the host
        return upload(np.sin(host_copy(x)), x._dev)
    sandbox.register("mut-trip", families=[sandbox.mutfpga()],
                     kernels=[Kernel("sin", "mutfpga", sin, name="round-trip")])
    r = run("mutfpga:0", ops=["sin"])
    assert _failed(r, "sin") == {"residency"}
    assert "device-to-host read" in r.results["sin"]["residency"].failures[0]
    assert r.meta["transfer_counter"].startswith("xpgrad.backends.fpga.backend.transfer_counts")


def test_the_fake_card_itself_conforms(sandbox):
    """The copy of the fpga template the mutations run on is sound: only the mutations fail."""
    sandbox.register("mut-none", families=[sandbox.mutfpga()])
    r = run("mutfpga:0", ops=["exp", "sin", "matmul", "sum"])
    assert r.ok(strict=True), [f"{x.op}/{x.check}: {x.message}" for x in r.failures()]


# ---------------------------------------------------------------- untested and non-differentiable ops


def test_an_op_without_samples_is_untested_never_passed(sandbox):
    op = xg.defop("mut_nosamples", registry={})(lambda xp, x, /: 2 * x)
    op.defvjp(lambda xp, g, out, x: 2 * g)
    op.defjvp(lambda xp, t, out, x: 2 * t)
    sandbox.register("mut-nosamples", ops=[op])
    r = run("cpu", ops=["mut_nosamples", "exp"])
    statuses = {res.status for res in r.results["mut_nosamples"].values()}
    assert statuses == {"untested"}
    assert r.untested() == ["mut_nosamples"]
    assert r.ok() and not r.ok(strict=True)


def test_a_non_differentiable_plugin_op_is_checked(sandbox):
    op = xg.defop("mut_step", differentiable=False, registry={})(lambda xp, x, /: xp.floor(x))
    op.defsamples(Sample((("randn", (3, 4)),)))
    sandbox.register("mut-step", ops=[op])
    r = run("cpu", ops=["mut_step"])
    row = r.results["mut_step"]
    assert row["nondiff"].status == "pass" and row["nondiff"].cases == 1
    assert row["jvp"].status == row["vjp"].status == "n/a"


def test_mutations_do_not_leak():
    """After the tests above, no trace of them: ops, families and kernels are those of xpgrad."""
    assert not [n for n in xg.registered_ops() if n.startswith("mut_")]
    assert not [d for d in xg.devices() if d.startswith("mut")]
    from xpgrad.backends import kernels

    assert not [k for k in kernels() if k[1].startswith("mut")]


@pytest.mark.parametrize("device", ["cpu", "fpga:0"])
def test_a_mutated_vjp_is_caught_on_every_device(sandbox, device):
    sandbox.register("mut-vjp-sign2", ops=[_sin_op("mut_vjp_sign2", vjp_sign=-1.0)])
    try:
        xg.get_backend(device)
    except xg.XpgradError as exc:
        pytest.skip(f"{device} is not usable here: {exc}")
    r = run(device, ops=["mut_vjp_sign2"])
    assert _failed(r, "mut_vjp_sign2") == {"vjp"}
