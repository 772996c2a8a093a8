"""Plugins: how backends, kernels and ops reach xpgrad (pluggy, project ``xpgrad``).

A plugin is a module with ``@hookimpl`` functions named after the hooks in
:mod:`xpgrad.plugins.hookspecs`. The built-in backends are plugins; a third
party ships one from its own distribution with an entry point in the
``xpgrad`` group. ``import xpgrad`` loads them all; one that fails is reported
by name and skipped. :func:`report` says what was loaded and what was refused::

    # my_chip_xpgrad/plugin.py
    from xpgrad.plugins import BackendFamily, hookimpl

    @hookimpl
    def xpgrad_backend_families():
        return [BackendFamily("mychip", load_my_chip_devices, install_hint="pip install my-chip-xpgrad")]

>>> import xpgrad
>>> from xpgrad.plugins import report
>>> "cpu" in report().families
True
"""

from __future__ import annotations

from .hookspecs import BackendFamily, Kernel, hookimpl, hookspec
from .manager import FamilyInfo, PluginHost, PluginInfo, Problem, Report, report

__all__ = ["hookimpl", "hookspec", "BackendFamily", "Kernel", "report", "Report", "PluginInfo",
           "FamilyInfo", "Problem", "PluginHost"]
