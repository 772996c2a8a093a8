"""The xpgrad plugin of xpgrad-debug-backend: the ``debug`` device family."""

from __future__ import annotations

from xpgrad.plugins import BackendFamily, hookimpl


def _load() -> list:
    from .backend import DebugBackend

    return [DebugBackend()]


@hookimpl
def xpgrad_backend_families() -> list[BackendFamily]:
    return [BackendFamily("debug", _load, description="float64-only NumPy that raises on the first NaN "
                                                      "(xpgrad-debug-backend)",
                          install_hint="pip install xpgrad-debug-backend")]
