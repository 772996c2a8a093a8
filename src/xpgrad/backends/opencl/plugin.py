"""The OpenCL backend as a plugin: the ``opencl`` device family and its kernels.

Importing this module costs nothing: pyopencl is imported, runtimes are
located and devices probed only when an ``opencl:N`` device is first used
(or ``xpgrad.devices()`` is called).
"""

from __future__ import annotations

from typing import Any

from ...core.device import Backend
from ...plugins.hookspecs import BackendFamily, Kernel, hookimpl

__all__ = ["load", "UNUSABLE", "xpgrad_backend_families", "xpgrad_kernels"]

# (device, why) for every device found but not usable; filled by load(), shown by `python -m xpgrad info`.
UNUSABLE: list[tuple[str, str]] = []


def load() -> list[Backend]:
    """The usable OpenCL devices as backends, GPUs first; ImportError when pyopencl is missing.

    >>> [b.device for b in load()]        # doctest: +SKIP
    ['opencl:0']
    """
    import pyopencl  # noqa: F401  (ImportError here tells the host to suggest the install hint)

    from .backend import backends
    from .driver import discover

    out = backends()
    UNUSABLE[:] = discover()[1]
    return list(out)


def _scatter_add(xp: Any, z: Any, g: Any, /, *, key: Any) -> Any:
    from .backend import scatter_add

    return scatter_add(xp, z, g, key=key)


@hookimpl
def xpgrad_backend_families() -> list[BackendFamily]:
    """``opencl:N``: every OpenCL device that compiles and runs a probe kernel here."""
    return [BackendFamily("opencl", load,
                          description="OpenCL devices through pyopencl (GPUs first, then accelerators, CPUs)",
                          install_hint="pip install xpgrad[opencl]", unusable=UNUSABLE)]


@hookimpl
def xpgrad_kernels() -> list[Kernel]:
    """scatter_add (getitem's VJP), and the algorithms the dispatcher chooses among per call:
    conv2d (direct, im2col, Winograd, FFT), matmul (naive, tiled, host), reductions
    (single-pass, two-stage). Importing their modules imports no OpenCL library."""
    from . import choices, conv, fft

    return [Kernel("scatter_add", "opencl", _scatter_add, name="deterministic bucketed sum"),
            *conv.kernels(), *fft.kernels(), *choices.kernels()]
