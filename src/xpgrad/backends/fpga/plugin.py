"""Section 6. Registering: the plugin hook.

xpgrad finds backends through pluggy hooks (``xpgrad.plugins.hookspecs``). A
plugin is a module with ``@hookimpl`` functions; a third party lists it under
the ``xpgrad`` entry-point group of its own ``pyproject.toml``::

    [project.entry-points.xpgrad]
    my_fpga = "my_fpga_xpgrad.plugin"

and ``import xpgrad`` finds it. This one implements two hooks:

* ``xpgrad_backend_families()`` — the ``fpga`` family. Its ``load()`` runs on
  first use of a device string ``fpga:N`` (not at import: a driver may be slow
  to open) and returns one Backend per card.
* ``xpgrad_kernels()`` — the kernels of section 4 with their ``supports`` and
  ``cost`` (section 5): for ``matmul`` and ``conv2d`` the systolic kernel and the
  "host" one, and the cost-model dispatcher (``xpgrad.dispatch``) runs the
  cheaper for each call: the host for tiny products, the array for large ones.

    VENDOR: ``load()`` is where you open the driver, enumerate cards, load
    bitstreams, and raise ``ImportError`` when your runtime library is missing
    (then set ``install_hint`` to the pip command that installs it).
"""

from __future__ import annotations

from ...core.device import Backend, devices, get_backend, register_backend
from ...core.registry import ops
from ...plugins.hookspecs import BackendFamily, Kernel, hookimpl
from .. import kernels as registered_kernels
from ...core import dispatch
from . import cost, systolic
from .array import device_count, get_device
from .backend import FPGABackend

__all__ = ["load", "register", "kernels", "xpgrad_backend_families", "xpgrad_kernels"]

DESCRIPTION = "emulated FPGA card: a systolic array with cycle counts (the vendor template)"

_BACKENDS: list[FPGABackend] = []
_REGISTERED_KERNELS = [False]


def load() -> list[Backend]:
    """One Backend per card (``$XPGRAD_FPGA_DEVICES``, default 1), in index order; the same objects always."""
    n = device_count()
    while len(_BACKENDS) < n:
        _BACKENDS.append(FPGABackend(get_device(len(_BACKENDS))))
    return list(_BACKENDS[:n])


def register() -> list[Backend]:
    """Register the cards with xpgrad now (what the plugin manager does with ``load()``); idempotent.

    >>> import xpgrad
    >>> from xpgrad.backends import fpga
    >>> _ = fpga.register()
    >>> "fpga:0" in xpgrad.devices()
    True
    """
    out = load()
    if not _REGISTERED_KERNELS[0] and not any(f == "fpga" for _, f, _ in registered_kernels()):
        # Without the plugin manager (which registers kernels() through the hook), do it here.
        _REGISTERED_KERNELS[0] = True
        for k in kernels():
            dispatch.register(k, plugin="xpgrad.backends.fpga")
    have = set(devices())
    for b in out:
        if b.device not in have or get_backend(b.device) is not b:
            register_backend(b)
    return out


def kernels() -> list[Kernel]:
    """This family's kernels: for matmul and conv2d, the host and the systolic array, each with its cost."""
    out = [Kernel("matmul", "fpga", systolic.host_matmul, name="host",
                  supports=lambda signature: True, cost=cost.host_matmul_kernel_cost),
           Kernel("matmul", "fpga", systolic.matmul, name="systolic", default=True,
                  supports=cost.matmul_supported, cost=cost.matmul_kernel_cost)]
    if "conv2d" in ops():  # a kernel for an op nobody defines would be refused
        out += [Kernel("conv2d", "fpga", systolic.host_conv2d, name="host",
                       supports=lambda signature: True, cost=cost.host_conv2d_kernel_cost),
                Kernel("conv2d", "fpga", systolic.conv2d, name="systolic", default=True,
                       supports=cost.conv2d_supported, cost=cost.conv2d_kernel_cost)]
    return out


@hookimpl
def xpgrad_backend_families() -> list[BackendFamily]:
    return [BackendFamily("fpga", load, description=DESCRIPTION, install_hint=None)]


@hookimpl
def xpgrad_kernels() -> list[Kernel]:
    return kernels()
