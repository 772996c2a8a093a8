"""Loaded by pytest when it collects this package (``pytest --pyargs xpgrad.conformance``).

Registers :mod:`xpgrad.conformance.pytest_plugin` unless ``-p`` or an entry point
already did (its options then come from ``XPGRAD_CONFORMANCE_*`` variables,
since pytest parsed the command line before it got here).
"""

from __future__ import annotations

from typing import Any


def _register(pluginmanager: Any) -> None:
    from xpgrad.conformance import pytest_plugin

    if not pluginmanager.is_registered(pytest_plugin):
        pluginmanager.register(pytest_plugin, "xpgrad.conformance.pytest_plugin")


def pytest_addoption(parser: Any, pluginmanager: Any) -> None:  # this directory given as a path
    _register(pluginmanager)


def pytest_configure(config: Any) -> None:
    _register(config.pluginmanager)
