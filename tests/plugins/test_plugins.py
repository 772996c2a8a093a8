"""Third-party plugins, installed with pip and found through entry points by a fresh interpreter.

The example distributions of ``examples/plugins`` are pip-installed once
per session into a directory of their own (``pip install --target``), which the
subprocesses put on ``PYTHONPATH``: entry points are read at ``import xpgrad``,
so each check runs in a fresh interpreter, and the test environment itself is
left as it was (no other test sees ``debug:0`` or the broken plugin).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "plugins"
DISTS = ("xpgrad-gelu", "xpgrad-debug-backend", "xpgrad-broken", "xpgrad-pointwise-conv")


def _can_build_wheels() -> str | None:
    """Why pip cannot build the examples without build isolation here, or None."""
    try:
        import setuptools
    except ImportError:
        return "setuptools is not installed"
    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    if (major, minor) < (70, 1) and importlib.util.find_spec("wheel") is None:
        return (f"setuptools {setuptools.__version__} needs the 'wheel' package to build wheels "
                "(pip install wheel, or setuptools>=70.1)")
    return None


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """A directory holding the example distributions, installed by pip."""
    why = _can_build_wheels()
    if why:
        pytest.skip(f"cannot pip-install the example plugins: {why}")
    work = tmp_path_factory.mktemp("plugins")
    paths = []
    for name in DISTS:  # a copy: building in place would leave build/ and *.egg-info in the repository
        shutil.copytree(EXAMPLES / name, work / name,
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        paths.append(str(work / name))
    site = work / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
           "--target", str(site), *paths]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}"
    return site


def run(site: Path, code: str = "", *, args: list[str] | None = None, env: dict | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """Run ``code`` (or ``python args``) in a fresh interpreter that sees the installed plugins."""
    environ = {k: v for k, v in os.environ.items() if k not in ("XPGRAD_PLUGINS", "XPGRAD_DISABLE_PLUGINS")}
    environ["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    environ.update(env or {})
    argv = [sys.executable, *(args or ["-c", textwrap.dedent(code)])]
    r = subprocess.run(argv, capture_output=True, text=True, env=environ, timeout=300, cwd=str(ROOT))
    if check:
        assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


REPORT = """
import json, xpgrad as xg
from xpgrad.plugins import report
r = report()
print(json.dumps({
    "plugins": {p.name: [p.status, p.source, p.distribution, p.version, p.module, p.reason]
                for p in r.plugins.values()},
    "problems": [[p.plugin, p.what, p.reason] for p in r.problems],
    "ops": sorted(xg.registered_ops()),
    "devices": xg.devices(),
}))
"""


def _report(site: Path, env: dict | None = None) -> dict:
    return json.loads(run(site, REPORT, env=env).stdout)


def test_plugins_are_discovered_through_entry_points(plugin_site):
    r = _report(plugin_site)
    p = r["plugins"]
    assert p["gelu"][:5] == ["loaded", "entry point", "xpgrad-gelu", "0.1.0", "xpgrad_gelu.plugin"]
    assert p["debug"][:5] == ["loaded", "entry point", "xpgrad-debug-backend", "0.1.0",
                              "xpgrad_debug_backend.plugin"]
    assert p["broken_rules"][:3] == ["loaded", "entry point", "xpgrad-broken"]
    assert "gelu_fused" in r["ops"] and "debug:0" in r["devices"]


def test_a_broken_plugin_is_reported_by_name_and_skipped(plugin_site):
    r = _report(plugin_site)
    status, source, dist, _, module, reason = r["plugins"]["broken_import"]
    assert (status, source, dist) == ("failed", "entry point", "xpgrad-broken")
    assert module == "xpgrad_broken.plugin"
    assert reason.startswith("failed to import: ImportError: xpgrad-broken needs the 'quantum_chip' driver")
    problems = {(plugin, what): why for plugin, what, why in r["problems"]}
    assert problems[("broken_rules", "op 'broken_square'")].startswith(
        "refused: it has neither a VJP nor a JVP rule")
    assert problems[("broken_rules", "device family 'cpu'")] == (
        "refused: prefix 'cpu' is already taken by plugin 'xpgrad.backends.numpy.plugin'")
    assert problems[("broken_rules", "xpgrad_kernels")] == (
        "returned dict, not a list of Kernel; nothing it provides is used")
    assert "broken_square" not in r["ops"]


def test_gelu_fused_is_registered_with_correct_gradients(plugin_site):
    out = run(plugin_site, """
        import math
        import numpy as np
        import xpgrad as xg
        from xpgrad.testing import check_grads
        from xpgrad_gelu import gelu_fused

        op = xg.get_op("gelu_fused")
        assert op is gelu_fused and op.has_vjp and op.has_jvp and op.derived is None
        x = xg.asarray(np.random.default_rng(0).standard_normal((3, 4)))
        check_grads(op, [x], order=2)
        check_grads(op, [xg.asarray(0.7)], order=2)
        # by hand: gelu(1) = ½(1 + tanh(√(2/π)·1.044715)) = 0.8411919906
        assert abs(float(op(xg.asarray(1.0))) - 0.8411919906082768) < 1e-12
        # the NumPy kernel it ships runs on cpu, and agrees with the generic forward
        cpu = xg.get_backend("cpu")
        assert op.kernels[cpu].__name__ == "gelu_numpy"
        raw = np.linspace(-5, 5, 11)
        assert np.allclose(op.kernels[cpu](cpu.xp, raw), op.forward(cpu.xp, raw), rtol=1e-14, atol=0)
        # differentiable through the public transforms too
        g = xg.grad(lambda t: xg.sum(op(t)))(xg.asarray([0.0]))
        assert abs(float(g[0]) - 0.5) < 1e-12
        print("ok")
    """)
    assert out.stdout.strip() == "ok"


def test_a_third_party_kernel_competes_with_the_built_in_ones(plugin_site):
    out = run(plugin_site, """
        import json
        import numpy as np
        import xpgrad as xg
        from xpgrad.testing import check_grads

        rng = np.random.default_rng(0)
        x = xg.asarray(rng.standard_normal((8, 64, 16, 16)).astype(np.float32))
        w = xg.asarray(rng.standard_normal((32, 64, 1, 1)).astype(np.float32))
        e = xg.dispatch.explain("conv2d", x, w)
        rows = {r["kernel"]: r for r in e.rows}
        assert rows["pointwise-gemm"]["plugin"] == "pointwise" and rows["pointwise-gemm"]["supported"]
        assert rows["pointwise-gemm"]["estimate"] > 0
        w3 = xg.asarray(rng.standard_normal((32, 64, 3, 3)).astype(np.float32))
        e3 = xg.dispatch.explain("conv2d", x, w3, padding=1)
        r3 = next(r for r in e3.rows if r["kernel"] == "pointwise-gemm")
        assert r3["why_not"] == "only 1×1 kernels, not 3×3" and e3.choice != "pointwise-gemm"
        with xg.dispatch.prefer("conv2d", "pointwise-gemm"):
            for stride in (1, 2):
                want = xg.get_op("conv2d").forward(np, x.numpy(), w.numpy(), stride=stride)
                np.testing.assert_allclose(xg.conv2d(x, w, stride=stride).numpy(), want, rtol=1e-5, atol=1e-5)
            small = [xg.asarray(rng.standard_normal(s)) for s in ((2, 3, 5, 5), (4, 3, 1, 1))]
            check_grads(xg.conv2d, small, order=2)
            assert xg.dispatch.explain("conv2d", *small).choice == "pointwise-gemm"
        print(json.dumps({"choice": e.choice, "names": sorted(rows)}))
    """)
    r = json.loads(out.stdout)
    assert {"pointwise-gemm", "direct", "im2col", "fft", "winograd", "generic"} <= set(r["names"])


def test_the_debug_device_is_listed_and_used(plugin_site):
    out = run(plugin_site, """
        import numpy as np
        import xpgrad as xg
        from xpgrad_debug_backend import DebugArray, NaNError
        from xpgrad.testing import check_grads

        assert "debug:0" in xg.devices()
        f = lambda t: xg.sum(xg.sin(t) * t + xg.exp(t) / (1 + t * t))
        x = xg.asarray([0.5, 1.0, 2.0], device="debug:0", requires_grad=True)
        y = f(x)
        y.backward()
        assert type(x.data) is DebugArray and type(y.data) is DebugArray and type(x.grad.data) is DebugArray
        assert y.device == x.grad.device == "debug:0"
        xc = xg.asarray([0.5, 1.0, 2.0], requires_grad=True)
        f(xc).backward()
        assert abs(float(y) - float(f(xc))) < 1e-12
        assert np.allclose(x.grad.numpy(), xc.grad.numpy(), rtol=1e-12)
        check_grads(lambda t: xg.sum(xg.tanh(t) * t), [xg.asarray([0.3, -1.2], device="debug:0")], order=2)

        try:                                              # a NaN raises, naming the function
            xg.log(xg.asarray([1.0, -1.0], device="debug:0"))
        except xg.OpError as e:
            assert isinstance(e.__cause__, NaNError), repr(e.__cause__)
            assert "log() produced NaN at index (1,)" in str(e), str(e)
        else:
            raise AssertionError("log(-1) on debug:0 did not raise")
        try:                                              # float64 only
            xg.asarray([1.0], dtype=xg.float32, device="debug:0")
        except xg.DeviceError as e:
            assert "debug:0" in str(e)
        else:
            raise AssertionError("float32 on debug:0 did not raise")
        print("ok")
    """)
    assert out.stdout.strip() == "ok"


def test_info_reports_plugins_and_import_still_works(plugin_site):
    r = run(plugin_site, args=["-m", "xpgrad", "info"])
    out = r.stdout
    assert "debug:0" in out and "host CPU through NumPy, float64 only" in out   # device and its profile
    assert "gelu" in out and "xpgrad-gelu 0.1.0" in out and "entry point: xpgrad_gelu.plugin" in out
    failed = out.split("failed or skipped plugins:")[1].split("\n\n")[0]
    assert "broken_import [xpgrad-broken 0.1.0]" in failed
    assert "ImportError: xpgrad-broken needs the 'quantum_chip' driver" in failed
    refused = out.split("refused from plugins:")[1].split("\n\n")[0]
    assert "broken_rules: op 'broken_square': refused: it has neither a VJP nor a JVP rule" in refused
    assert "unusable devices:" in out and "plugins:" in out and "untested ops" in out


@pytest.mark.parametrize("env, loaded, skipped_why", [
    ({"XPGRAD_DISABLE_PLUGINS": "all"}, set(), "disabled by XPGRAD_DISABLE_PLUGINS"),
    ({"XPGRAD_DISABLE_PLUGINS": "xpgrad-broken"}, {"gelu", "debug", "pointwise"},
     "disabled by XPGRAD_DISABLE_PLUGINS"),
    ({"XPGRAD_PLUGINS": "gelu"}, {"gelu"}, "not listed in XPGRAD_PLUGINS"),
    ({"XPGRAD_PLUGINS": "gelu,debug", "XPGRAD_DISABLE_PLUGINS": "gelu"}, {"debug"}, None),
])
def test_the_environment_chooses_plugins(plugin_site, env, loaded, skipped_why):
    r = _report(plugin_site, env)
    third = {n: v for n, v in r["plugins"].items() if v[1] == "entry point"}
    assert {"gelu", "debug", "broken_import", "broken_rules"} <= set(third)
    assert {n for n, v in third.items() if v[0] == "loaded"} == loaded
    for name, v in third.items():
        if name not in loaded:
            assert v[0] == "skipped", (name, v)
            if skipped_why:
                assert v[5] == skipped_why
    assert ("gelu_fused" in r["ops"]) == ("gelu" in loaded)
    assert ("debug:0" in r["devices"]) == ("debug" in loaded)
    assert not any(p[0].startswith("broken") for p in r["problems"])   # a skipped plugin is not run


def test_import_xpgrad_loads_no_gpu_library(plugin_site):
    out = run(plugin_site, """
        import sys
        import xpgrad
        print(sorted(m for m in ("pyopencl", "cupy", "xpgrad_debug_backend.backend") if m in sys.modules))
    """)
    assert out.stdout.strip() == "[]"
