"""The NumPy backend as a plugin: the ``cpu`` device family.

xpgrad loads this family at import, before any op is defined, since ``cpu`` is
the default device. The NumPy kernels are registered by :func:`register`.
"""

from __future__ import annotations

from ...core.device import Backend
from ...plugins.hookspecs import BackendFamily, hookimpl


def _load() -> list[Backend]:
    from . import register

    return [register()]


@hookimpl
def xpgrad_backend_families() -> list[BackendFamily]:
    """``cpu``: NumPy arrays in host memory, the default device."""
    return [BackendFamily("cpu", _load, description="NumPy arrays in host memory (array_api_compat.numpy)")]
