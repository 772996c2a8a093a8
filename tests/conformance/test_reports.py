"""Reports, reproduction snippets, known-failure files, the command line and the pytest plugin."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import xpgrad as xg
from xpgrad import Sample
from xpgrad.conformance import known as known_mod
from xpgrad.conformance import run, write_reports
from xpgrad.conformance.__main__ import main
from xpgrad.conformance.tolerances import TOLERANCES, Tol, assert_close, tolerance
from xpgrad.plugins import Kernel

ROOT = Path(__file__).resolve().parents[2]


def _broken_exp(sandbox):
    def exp(xp, x, /):
        y = xp.exp(x)
        return y * (1 + 1e-3) if x.dtype == xp.float32 else y
    sandbox.register("mut-exp", families=[sandbox.mutcpu()],
                     kernels=[Kernel("exp", "mutcpu", exp, name="off")])


# ---------------------------------------------------------------- the four files


def test_reports_say_the_same_thing_in_four_formats(sandbox, tmp_path):
    _broken_exp(sandbox)
    r = run("mutcpu:0", ops=["exp", "add"])
    paths = write_reports(r, tmp_path)
    assert sorted(p.name for p in paths) == ["junit.xml", "report.html", "report.json", "report.md"]
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["device"] == "mutcpu:0" and data["ok"] is False
    assert data["ops"]["exp"]["results"]["forward32"]["status"] == "fail"
    assert data["ops"]["add"]["results"]["forward32"]["status"] == "pass"
    assert data["ops"]["exp"]["results"]["forward32"]["max_abs"] > 0
    md = (tmp_path / "report.md").read_text()
    assert "| `exp` |" in md and "✗ **FAIL**" in md and "### `exp` / forward32: FAIL" in md
    assert "```python" in md and "## Tolerances" in md
    html = (tmp_path / "report.html").read_text()
    assert 'id="exp-forward32"' in html and "<pre><code>" in html
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    failures = {(c.get("classname"), c.get("name")) for c in suite.iter("testcase")
                if c.find("failure") is not None}
    assert ("xpgrad.conformance.mutcpu:0.exp", "forward32") in failures
    assert ("xpgrad.conformance.mutcpu:0.add", "forward32") not in failures
    assert int(suite.get("failures")) == len(failures)


def test_one_row_per_op_one_column_per_check(tmp_path):
    r = run("cpu", ops=["exp", "matmul", "floor"])
    write_reports(r, tmp_path)
    md = (tmp_path / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| op |"))
    assert header.count("|") == len(r.checks) + 2
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows[:3]] == ["exp", "floor", "matmul"]


def test_reproduction_snippets_run_and_fail_the_same_way(sandbox):
    _broken_exp(sandbox)
    r = run("mutcpu:0", ops=["exp"])
    for check in ("forward32", "kernels"):
        snippet = r.results["exp"][check].repro
        compile(snippet, "<repro>", "exec")
        with pytest.raises(AssertionError, match="max abs error"):
            exec(snippet, {})


def test_gradient_snippets_use_check_grads(sandbox):
    op = xg.defop("mut_badvjp", registry={})(lambda xp, x, /: xp.sin(x))
    op.defvjp(lambda xp, g, out, x: -g * xp.cos(x))
    op.defjvp(lambda xp, t, out, x: t * xp.cos(x))
    op.defsamples(Sample((("randn", (3,)),)))
    sandbox.register("mut-badvjp", ops=[op])
    r = run("cpu", ops=["mut_badvjp"])
    with pytest.raises(AssertionError, match="VJP vs JVP"):
        exec(r.results["mut_badvjp"]["vjp"].repro, {})


def test_every_case_is_reproducible_from_its_seed():
    from xpgrad.conformance import cases

    a, _ = cases.inputs("add", 1, "float32", "sample", device="cpu", seed=3)
    b, _ = cases.inputs("add", 1, "float32", "sample", device="cpu", seed=3)
    c, _ = cases.inputs("add", 1, "float32", "sample", device="cpu", seed=4)
    assert np.array_equal(a[0].numpy(), b[0].numpy()) and not np.array_equal(a[0].numpy(), c[0].numpy())
    ref = cases.reference("add", 1, "float32", seed=3)[0]
    assert ref.dtype == np.float64
    np.testing.assert_array_equal(ref, a[0].numpy().astype(np.float64) + a[1].numpy().astype(np.float64))


def test_non_contiguous_variants_are_views_with_the_same_values():
    from xpgrad.conformance import cases

    for variant in ("transposed", "strided"):
        args, _ = cases.inputs("exp", 0, "float32", variant, device="cpu")
        host, _ = cases.host_inputs(cases.Case("exp", 0, "float32", variant))
        raw = args[0].data
        assert not raw.flags.c_contiguous, variant
        np.testing.assert_array_equal(raw, host[0])


# ---------------------------------------------------------------- the tolerance table


def test_the_tolerance_table_is_one_dict_with_a_default_per_kind():
    for kind in ("float32", "float64", "jvp", "vjp", "order2",
                 "jvp-float32", "vjp-float32", "order2-float32"):
        assert (kind, "*") in TOLERANCES
    assert all(isinstance(t, Tol) and t.rtol > 0 and t.atol > 0 for t in TOLERANCES.values())
    assert tolerance("float32", "exp") == Tol(1e-5, 1e-6)
    assert tolerance("float32", "matmul").norm and tolerance("float32", "var").rtol > 1e-5
    # float32 arithmetic passed off as float64 fails
    assert tolerance("float64", "*").rtol < 1e-8 < tolerance("float32", "*").rtol
    text = (ROOT / "src/xpgrad/conformance/tolerances.py").read_text()
    src = text.split("TOLERANCES: dict")[1].split("\n}\n")[0]
    entries = [line for line in src.splitlines() if line.strip().startswith('("')]
    assert len(entries) == len(TOLERANCES)
    assert all("#" in line for line in entries), "comment each entry of TOLERANCES on its line"


def test_norm_wise_bounds_for_contractions():
    expected = np.array([100.0, 1e-3])
    assert_close(expected + [0.0, 1e-4], expected, "float32", "matmul")     # 1e-4 absolute next to 100: fine
    with pytest.raises(AssertionError):
        assert_close(expected + [0.0, 1e-4], expected, "float32", "exp")    # elementwise: 10% of 1e-3


# ---------------------------------------------------------------- known failures


def test_known_failures_from_toml_and_json(sandbox, tmp_path):
    _broken_exp(sandbox)
    toml = tmp_path / "known.toml"
    toml.write_text('[exp]\nforward32 = "the off kernel is 0.1% high in float32"\n'
                    'kernels = "same bug"\nedge = "same bug"\nlayout = "same bug"\n\n'
                    '[add]\nforward32 = "an old bug, fixed since"\n')
    r = run("mutcpu:0", ops=["exp", "add"], known_failures=toml)
    assert r.results["exp"]["forward32"].status == "xfail"
    assert r.results["exp"]["forward32"].known == "the off kernel is 0.1% high in float32"
    assert r.results["add"]["forward32"].status == "xpass"
    assert "known failure now passes: remove it" in r.results["add"]["forward32"].message
    assert r.ok() and not r.ok(strict=True)
    assert [k["status"] for k in r.kernels] == ["xfail"]
    js = tmp_path / "known.json"
    js.write_text(json.dumps({"exp": {"*": "every check of exp is off"}}))
    r = run("mutcpu:0", ops=["exp"], known_failures=js)
    assert {res.status for res in r.results["exp"].values()} >= {"xfail"} and r.ok(strict=True)


def test_a_stale_wildcard_and_entries_naming_nothing_are_reported(tmp_path):
    f = tmp_path / "known.toml"
    f.write_text('[exp]\n"*" = "was broken"\n\n[add]\nforwrd32 = "a typo"\n\n'
                 '[no_such_op]\nforward32 = "gone"\n')
    r = run("cpu", known_failures=f, ops=None, checks=["forward32"])
    assert r.stale and r.stale[0]["op"] == "exp" and "remove" in r.stale[0]["message"]
    assert any("add.forwrd32 is not a check" in p for p in r.known_problems)
    assert any("[no_such_op] names no op" in p for p in r.known_problems)
    assert r.ok() and not r.ok(strict=True)


def test_a_reason_is_required(tmp_path):
    f = tmp_path / "known.toml"
    f.write_text('[exp]\nforward32 = ""\n')
    with pytest.raises(ValueError, match="reason must be a non-empty string"):
        known_mod.load(f)


def test_builtin_known_failures_are_documented():
    for family, entries in known_mod.BUILTIN.items():
        kf = known_mod.builtin(family)
        assert kf is not None and all(len(r) > 20 for row in entries.values() for r in row.values())


# ---------------------------------------------------------------- the command


def test_the_command_writes_reports_and_exits_zero_when_green(tmp_path, capsys):
    code = main(["--device", "fpga:0", "--ops", "exp", "matmul", "--report", str(tmp_path), "-q"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "fpga:0: " in out and "0 failed" in out and "forward32" in out
    assert (tmp_path / "report.md").exists() and (tmp_path / "junit.xml").exists()


def test_the_command_exits_non_zero_on_a_failure(sandbox, capsys):
    _broken_exp(sandbox)
    assert main(["--device", "mutcpu:0", "--ops", "exp", "-q"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  exp / forward32" in out


def test_the_command_runs_every_device_of_a_family(sandbox, tmp_path, capsys):
    sandbox.register("mut-fam", families=[sandbox.mutcpu()])
    assert main(["--device", "mutcpu", "--ops", "exp", "--report", str(tmp_path), "-q"]) == 0
    assert (tmp_path / "mutcpu-0" / "report.json").exists() and (tmp_path / "junit.xml").exists()


def test_the_command_refuses_an_unknown_device(capsys):
    assert main(["--device", "nosuch:0"]) == 2
    assert "unknown device 'nosuch:0'" in capsys.readouterr().err


def test_python_dash_m_with_a_known_failures_file(tmp_path):
    f = tmp_path / "k.json"
    f.write_text(json.dumps({"exp": {"forward32": "not broken at all"}}))
    cmd = [sys.executable, "-m", "xpgrad.conformance", "--device", "cpu", "--ops", "exp",
           "--known-failures", str(f)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "known failures now passing" in r.stdout and "XPASS exp / forward32" in r.stdout
    assert r.stderr == ""  # no progress bar when not on a terminal
    r = subprocess.run(cmd + ["--strict"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 1


def test_the_progress_bar_draws_on_a_terminal_only():
    import io

    from xpgrad.conformance.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True
    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress(3, "cpu", stream=stream)
        bar("exp")
        bar("sin", failed=1)
        bar.close()
    assert "[" in tty.getvalue() and "2/3" in tty.getvalue() and "1 failing" in tty.getvalue()
    assert pipe.getvalue() == ""


# ---------------------------------------------------------------- the pytest plugin


def _pytest(args, tmp_path, env=None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XPGRAD_CONFORMANCE")}
    environ.update(env or {})
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfsx", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=environ)


def test_the_pytest_plugin_generates_one_test_per_op_and_check(tmp_path):
    r = _pytest(["--pyargs", "xpgrad.conformance",
                 "--xpgrad-device", "fpga:0", "--xpgrad-ops", "exp,floor",
                 "--xpgrad-report", str(tmp_path / "rep"),
                 "--junitxml", str(tmp_path / "pytest.xml")], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    names = {c.get("name") for c in ET.parse(tmp_path / "pytest.xml").getroot().iter("testcase")}
    assert "test_conformance[fpga:0-exp-vjp]" in names and "test_conformance[fpga:0-floor-nondiff]" in names
    assert "test_conformance[fpga:0-(device)-profile]" in names
    assert "test_conformance[fpga:0-floor-vjp]" not in names      # not differentiable: no such test
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["ok"] is True


def test_the_pytest_plugin_reads_the_environment_without_dash_p(tmp_path):
    r = _pytest(["--pyargs", "xpgrad.conformance"], tmp_path,
                {"XPGRAD_CONFORMANCE_DEVICE": "cpu", "XPGRAD_CONFORMANCE_OPS": "sin"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "passed" in r.stdout and "cpu-sin-forward32" not in r.stdout


def test_the_pytest_plugin_fails_and_xfails(tmp_path):
    plugin = tmp_path / "mutplugin.py"
    plugin.write_text(
        "import xpgrad as xg\nfrom xpgrad.plugins import Kernel, BackendFamily, hookimpl\n"
        "from xpgrad.plugins import manager\nfrom xpgrad.backends.numpy import NumpyBackend, namespace\n"
        "import numpy as np\n"
        "class P:\n"
        "    @hookimpl\n    def xpgrad_backend_families(self):\n"
        "        return [BackendFamily('mutcpu', lambda: [NumpyBackend('mutcpu:0', namespace, (np.ndarray,),"
        " family='mutcpu', profile=xg.get_backend('cpu').profile)])]\n"
        "    @hookimpl\n    def xpgrad_kernels(self):\n"
        "        return [Kernel('exp', 'mutcpu', lambda xp, x, /: xp.exp(x) * 1.001, name='off')]\n"
        "manager.register(P(), 'mut')\n")
    known = tmp_path / "known.toml"
    known.write_text('[exp]\nkernels = "the off kernel is 0.1% high"\n')
    args = ["-p", "mutplugin", "--pyargs", "xpgrad.conformance",
            "--xpgrad-device", "mutcpu:0", "--xpgrad-ops", "exp", "--xpgrad-known-failures", str(known)]
    r = _pytest(args, tmp_path, {"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED" in r.stdout and "mutcpu:0-exp-forward32" in r.stdout
    assert "XFAIL" in r.stdout and "mutcpu:0-exp-kernels" in r.stdout
    assert "the off kernel is 0.1% high" in r.stdout
    assert "Reproduce:" in r.stdout


# ---------------------------------------------------------------- the documentation and the example report


def test_the_guide_lists_every_row_of_the_tolerance_table():
    text = (ROOT / "docs/conformance.md").read_text()
    table = text.split("## Tolerances")[1].split("\n\n| kind")[1].split("\n\n")[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for op in cells[1].split(", "):
            rows[(cells[0], op)] = (float(cells[2]), float(cells[3]), cells[4] == "norm-wise")
    assert rows == {k: (t.rtol, t.atol, t.norm) for k, t in TOLERANCES.items()}


def test_the_guide_lists_every_check():
    from xpgrad.conformance import CHECKS, DEVICE_CHECKS

    text = (ROOT / "docs/conformance.md").read_text()
    for c in (*CHECKS, *DEVICE_CHECKS):
        assert f"| `{c}` |" in text, c


def test_the_example_report_of_fpga_is_there_and_green():
    d = ROOT / "docs/conformance/fpga"
    data = json.loads((d / "report.json").read_text())
    assert data["device"] == "fpga:0" and data["ok"] is True and data["summary"]["fail"] == 0
    assert data["meta"]["command"].startswith("python -m xpgrad.conformance --device fpga:0")
    md = (d / "report.md").read_text()
    for op in data["ops"]:
        assert f"| `{op}` |" in md
    assert "<table>" in (d / "report.html").read_text()
    suite = ET.parse(d / "junit.xml").getroot().find("testsuite")
    assert suite.get("name") == "xpgrad.conformance[fpga:0]" and suite.get("failures") == "0"


def test_the_example_known_failures_file_parses():
    kf = known_mod.load(ROOT / "docs/conformance/known-failures.example.toml")
    assert kf.reason("conv2d", "edge").startswith("batch-0")
    assert kf.reason("getitem", "vjp") == kf.entries["getitem"]["*"]
    assert "(device)" in kf.entries


def test_a_backend_ships_its_own_known_failures(sandbox):
    def exp(xp, x, /):
        return xp.exp(x) * 1.001
    fam = sandbox.mutcpu()
    load = fam.load

    def load_with_list():
        backends = load()
        backends[0].known_failures = {"exp": {"*": "the off kernel is 0.1% high (shipped with the backend)"}}
        return backends
    fam.load = load_with_list
    sandbox.register("mut-own", families=[fam], kernels=[Kernel("exp", "mutcpu", exp, name="off")])
    r = run("mutcpu:0", ops=["exp"])
    assert r.ok() and r.results["exp"]["forward32"].status == "xfail"
    assert r.known.source == "NumpyBackend.known_failures"
    assert not run("mutcpu:0", ops=["exp"], known_failures=None).ok()


def test_docstring_examples_of_the_package():
    import doctest
    import importlib

    for name in ("xpgrad.conformance", "xpgrad.conformance.cases", "xpgrad.conformance.tolerances",
                 "xpgrad.conformance.runner"):
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0 and result.attempted > 0, name
