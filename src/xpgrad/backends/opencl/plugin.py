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


def _scatter_add_atomic(xp: Any, z: Any, g: Any, /, *, key: Any) -> Any:
    """``scatter_add`` in one pass of float atomics: fast, not deterministic where indices repeat."""
    from ...core.tensor import unwrap
    from .indexing import scatter_add

    return scatter_add(z, unwrap(key), g, atomic=True)


@hookimpl
def xpgrad_backend_families() -> list[BackendFamily]:
    """``opencl:N``: every OpenCL device that compiles and runs a probe kernel here."""
    return [BackendFamily("opencl", load,
                          description="OpenCL devices through pyopencl (GPUs first, then accelerators, CPUs)",
                          install_hint="pip install xpgrad[opencl]", unusable=UNUSABLE)]


@hookimpl
def xpgrad_kernels() -> list[Kernel]:
    """The algorithms the dispatcher chooses among per call: scatter_add (getitem's VJP: deterministic
    bucketed sum, or one pass of float atomics, not deterministic), conv2d (direct, im2col, Winograd,
    FFT), matmul (naive, tiled, host), reductions (single-pass, two-stage). Importing their modules
    imports no OpenCL library."""
    from . import choices, conv, fft, indexing

    return [Kernel("scatter_add", "opencl", _scatter_add, name="deterministic bucketed sum",
                   cost=indexing.bucketed_cost, version="2"),
            Kernel("scatter_add", "opencl", _scatter_add_atomic, name="atomic",
                   supports=indexing.atomic_supports, cost=indexing.atomic_cost, deterministic=False),
            *conv.kernels(), *fft.kernels(), *choices.kernels()]
