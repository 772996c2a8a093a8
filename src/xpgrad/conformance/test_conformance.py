"""The conformance suite's tests: one per (device, op, check), generated from the op table.

Collected by ``pytest --pyargs xpgrad.conformance`` (see :mod:`xpgrad.conformance.pytest_plugin`).
"""

from __future__ import annotations

from typing import Any

from xpgrad.conformance import pytest_plugin as _plugin


def pytest_generate_tests(metafunc: Any) -> None:
    if "conformance_case" in metafunc.fixturenames:
        cases = _plugin.collect_cases(metafunc.config)
        metafunc.parametrize("conformance_case", cases, ids=[f"{d}-{op}-{c}" for d, op, c in cases])


def test_conformance(conformance_case: tuple[str, str, str], request: Any) -> None:
    _plugin.outcome(request.config, *conformance_case)
