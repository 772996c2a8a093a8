"""The conformance suite as pytest tests: one test per (op, check), for a vendor's own CI.

    pytest --pyargs xpgrad.conformance --xpgrad-device fpga:0

xpgrad registers this plugin under pytest's ``pytest11`` entry-point group, so
its options exist before pytest parses the command line (pytest reads options
before it imports a ``--pyargs`` package); the tests themselves are collected
from the package (``xpgrad/conformance/test_conformance.py``). Where xpgrad is
not installed as a distribution, set the options through the environment:
``XPGRAD_CONFORMANCE_DEVICE=fpga:0 pytest --pyargs xpgrad.conformance`` (the
package's ``conftest.py`` registers this plugin when it is collected).
"""

from __future__ import annotations

import os
from typing import Any
import warnings

import pytest

__all__ = ["pytest_addoption", "add_options", "settings", "collect_cases", "outcome", "pytest_sessionfinish",
           "pytest_terminal_summary", "ENV"]

ENV = {"device": "XPGRAD_CONFORMANCE_DEVICE", "ops": "XPGRAD_CONFORMANCE_OPS",
       "checks": "XPGRAD_CONFORMANCE_CHECKS", "seed": "XPGRAD_CONFORMANCE_SEED",
       "known_failures": "XPGRAD_CONFORMANCE_KNOWN_FAILURES", "report": "XPGRAD_CONFORMANCE_REPORT",
       "strict": "XPGRAD_CONFORMANCE_STRICT"}
_KEY = "_xpgrad_conformance"


def add_options(parser: Any) -> None:
    group = parser.getgroup("xpgrad-conformance",
                            "xpgrad conformance suite (pytest --pyargs xpgrad.conformance)")
    opts = [("--xpgrad-device",
             dict(help=f"device or family to check (default ${ENV['device']}, else 'cpu')")),
            ("--xpgrad-ops", dict(help="comma-separated ops to check (default: every registered op)")),
            ("--xpgrad-checks", dict(help="comma-separated checks (default: all)")),
            ("--xpgrad-seed", dict(type=int, help="seed of the sample values (default 0)")),
            ("--xpgrad-known-failures",
             dict(help="TOML/JSON known-failures file (default: the family's built-in list); "
                       "'none' for none")),
            ("--xpgrad-report", dict(help="write report.md/.html/.json and junit.xml into this directory")),
            ("--xpgrad-strict", dict(action="store_true", default=None,
                                     help="known failures that pass, and untested ops, fail"))]
    for name, kw in opts:
        try:
            group.addoption(name, **kw)
        except ValueError:  # already added (the plugin registered twice under different names)
            pass


def pytest_addoption(parser: Any) -> None:
    add_options(parser)


def _opt(config: Any, name: str) -> Any:
    v = config.getoption(f"xpgrad_{name}", default=None)
    if v is None:
        v = os.environ.get(ENV[name]) or None
    return v


def settings(config: Any) -> dict[str, Any]:
    """The run's settings: command-line options first, then ``XPGRAD_CONFORMANCE_*`` variables."""
    def split(v: Any) -> list[str] | None:
        return [x for x in str(v).replace(" ", ",").split(",") if x] if v else None
    known = _opt(config, "known_failures")
    strict = _opt(config, "strict")
    return {"device": _opt(config, "device") or "cpu", "ops": split(_opt(config, "ops")),
            "checks": split(_opt(config, "checks")), "seed": int(_opt(config, "seed") or 0),
            "known_failures": None if str(known).lower() == "none" else (known or "auto"),
            "report": _opt(config, "report"),
            "strict": bool(strict) and str(strict).lower() not in ("0", "false", "no")}


def _state(config: Any) -> dict[str, Any]:
    st = getattr(config, _KEY, None)
    if st is None:
        st = {"settings": settings(config), "suites": {}, "error": None}
        setattr(config, _KEY, st)
    return st


def _suite(config: Any, device: str) -> Any:
    from .runner import Suite

    st = _state(config)
    if device not in st["suites"]:
        s = st["settings"]
        st["suites"][device] = Suite(device, checks=s["checks"], seed=s["seed"],
                                     known_failures=s["known_failures"])
    return st["suites"][device]


def collect_cases(config: Any) -> list[tuple[str, str, str]]:
    """``(device, op, check)`` for every check that can apply; ``(device, "(device)", "profile")`` first.

    A device that is not usable gives one case, ``(target, "(device)", "usable")``, which fails saying why.
    """
    import xpgrad as xg

    from .known import DEVICE_ROW
    from .runner import devices_of

    st = _state(config)
    s = st["settings"]
    try:
        devices = devices_of(s["device"])
    except xg.XpgradError as exc:
        st["error"] = str(exc)
        return [(s["device"], DEVICE_ROW, "usable")]
    table = xg.registered_ops()
    names = sorted(table) if s["ops"] is None else s["ops"]
    out = []
    for d in devices:
        suite = _suite(config, d)
        out += [(d, DEVICE_ROW, c) for c in suite.dev_checks]
        for name in names:
            if name not in table:
                out.append((d, name, "registered"))
                continue
            out += [(d, name, c) for c in suite.applicable(name)]
    return out


def outcome(config: Any, device: str, op: str, check: str) -> None:
    """Run (or look up) one check and turn its result into a pytest outcome."""
    import xpgrad as xg

    from . import checks as K
    from .known import DEVICE_ROW

    st = _state(config)
    if check == "usable":
        pytest.fail(f"xpgrad conformance: {st['error']}", pytrace=False)
    if check == "registered":
        pytest.fail(f"no op named {op!r} is registered (registered: {len(xg.registered_ops())} ops)",
                    pytrace=False)
    suite = _suite(config, device)
    row = suite.device_results() if op == DEVICE_ROW else suite.op_results(op)
    r = row.get(check)
    if r is None:
        pytest.skip(f"{check} was not run")
    strict = st["settings"]["strict"]
    if r.status == K.PASS:
        return
    if r.status == K.FAIL:
        text = [f"{op} / {check} on {device}: {r.message}", *(f"  {f}" for f in r.failures)]
        if r.repro:
            text += ["", "Reproduce:", r.repro]
        pytest.fail("\n".join(text), pytrace=False)
    if r.status == K.XFAIL:
        pytest.xfail(f"known failure: {r.known}")
    if r.status == K.XPASS:
        if strict:
            pytest.fail(r.message, pytrace=False)
        warnings.warn(r.message, UserWarning, stacklevel=1)
        return
    if r.status == K.UNTESTED:
        if strict:
            pytest.fail(f"UNTESTED: {r.message}", pytrace=False)
        pytest.skip(f"UNTESTED: {op}: {r.message}")
    pytest.skip(f"not applicable: {r.message}")


def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    st = getattr(session.config, _KEY, None)
    if not st or not st["settings"]["report"] or not st["suites"]:
        return
    from .report import write_reports

    reports = [s.report() for s in st["suites"].values() if s.results]
    if reports:
        write_reports(reports, st["settings"]["report"])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    st = getattr(terminalreporter.config, _KEY, None)
    if not st or not st["suites"]:
        return
    terminalreporter.write_sep("-", "xpgrad conformance")
    for suite in st["suites"].values():
        if suite.results:
            terminalreporter.write_line(suite.report().summary_line())
    if st["settings"]["report"]:
        terminalreporter.write_line(f"reports in {st['settings']['report']}")
