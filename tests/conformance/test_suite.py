"""The whole conformance suite on the built-in devices: every op, every check, all green.

Each device's full run is timed (``pytest`` prints the times at the end); it
must stay far below the 5 minutes a vendor's run may take on 2 cores.
"""

from __future__ import annotations

import pytest

import xpgrad as xg
from xpgrad.conformance import CHECKS, known, run

DEVICES = ["cpu", "opencl:0", "fpga:0"]
BUDGET_S = 300


@pytest.fixture(scope="module", params=DEVICES)
def report(request, timed):
    try:
        xg.get_backend(request.param)
    except xg.XpgradError as exc:
        print(f"\nconformance: skipping {request.param}: {exc}")
        pytest.skip(f"{request.param} is not usable here: {exc}")
    return timed(request.param, lambda: run(request.param))


def test_every_check_passes(report):
    failures = [f"{r.op} / {r.check}: {r.message}" for r in report.failures()]
    assert not failures, "\n".join(failures)
    assert report.ok(strict=True), (report.xpassed(), report.stale, report.untested(), report.known_problems)


def test_every_op_and_check_is_reported(report):
    ops = xg.registered_ops()
    assert set(report.results) == set(ops)
    for name, row in report.results.items():
        assert list(row) == list(CHECKS), name
        if not any(r.status == "pass" for r in row.values()):  # only an op all of whose samples are complex
            assert not _holds_complex(report.device), f"{name}: nothing was checked"
            assert any("needs complex dtypes" in r.message for r in row.values()), name
    assert {c: r.status for c, r in report.device_results.items()} == {"claims": "pass", "profile": "pass"}


def test_core_checks_cover_every_op(report):
    """Forward, dtype, layout and residency checks apply to every op; derivatives to every
    differentiable one; nondiff to the others."""
    for name, row in report.results.items():
        op = xg.get_op(name)
        if row["forward32"].status == "n/a" and "needs complex dtypes, which" in row["forward32"].message:
            # every sample of the op needs complex arrays (fft, eig) and the device has none: only then
            assert not _holds_complex(report.device), name
            continue
        checks = ("forward32", "dtypes", "layout", "residency")
        checks += ("jvp", "vjp", "order2") if op.differentiable else ("nondiff",)
        for check in checks:
            r = row[check]
            if r.status == "xfail":  # a documented gap of the family, with its reason (known.BUILTIN)
                assert known.BUILTIN.get(report.family, {}).get(name, {}).get(check), (name, check)
                continue
            assert r.status == "pass" and r.cases > 0, (name, check)


def _holds_complex(device):
    try:
        xg.zeros((1,), dtype=xg.complex64, device=device)
    except xg.XpgradError:
        return False
    return True


def test_kernels_of_the_family_are_all_checked(report):
    from xpgrad.conformance.kernels import family_kernels

    expected = {(k.op, k.name) for k in family_kernels(report.family)}
    assert {(k["op"], k["name"]) for k in report.kernels} == expected
    for k in report.kernels:
        assert k["status"] == "pass" and k["cases"] > 0, k


def test_run_time(report):
    assert report.seconds < BUDGET_S, f"{report.device}: {report.seconds:.0f} s"


def test_a_float32_only_device_is_checked_in_float32(sandbox):
    """Without float64, forward64 does not apply and derivatives are checked in float32 on the device
    against float64 central differences on the CPU (the "-float32" rows of the tolerance table)."""
    sandbox.register("f32only", families=[sandbox.f32only()])
    r = run("f32only:0")
    assert r.ok(strict=True), [f"{x.op}/{x.check}: {x.message}" for x in r.failures()]
    assert {row["forward64"].status for row in r.results.values()} == {"n/a"}
    assert r.results["exp"]["jvp"].status == "pass" and r.results["matmul"]["order2"].status == "pass"
    assert r.results["astype"]["forward32"].status == "n/a"     # its sample casts to float64
