"""The OpenCL backend: devices ``opencl:0``, ``opencl:1``, ... through pyopencl.

Its namespace (``namespace.py``) is an Array API namespace over device arrays
(``OpenCLArray``) whose functions are OpenCL C kernels generated from a few
templates (``kernels.py``). ``driver.py`` finds the OpenCL runtimes installed
here (the system's, PoCL and Intel's CPU runtime from PyPI), and keeps only
devices that build and run a probe kernel; the others are reported with the
reason by ``python -m xpgrad info``.

Nothing here imports pyopencl until a device is used::

    import xpgrad
    x = xpgrad.asarray([1.0, 2.0], device="opencl:0")

Submodules are loaded on first access (``xpgrad.backends.opencl.namespace``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .plugin import UNUSABLE, load

__all__ = ["load", "UNUSABLE", "OpenCLBackend", "OpenCLArray", "namespace", "fallback_counts",
           "host_transfers", "reset_counters"]


def __getattr__(name: str) -> Any:
    if name in ("namespace", "array", "kernels", "indexing", "driver", "device", "backend"):
        return importlib.import_module(f".{name}", __name__)
    if name == "OpenCLBackend":
        from .backend import OpenCLBackend

        return OpenCLBackend
    if name == "OpenCLArray":
        from .array import OpenCLArray

        return OpenCLArray
    if name in ("fallback_counts", "host_transfers", "reset_counters"):
        from . import namespace

        return getattr(namespace, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
