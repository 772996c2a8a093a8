"""``OpenCLBackend``: one usable OpenCL device as an xpgrad backend (``opencl:N``)."""

from __future__ import annotations

from typing import Any

from ...core.device import Backend
from ...core.tensor import unwrap
from . import namespace as ns
from .array import OpenCLArray, download
from .device import Device, devices
from .indexing import scatter_add as _scatter_add

__all__ = ["OpenCLBackend", "backends", "scatter_add"]


class OpenCLBackend(Backend):
    """``opencl:N``: arrays in an OpenCL device's memory, the namespace of ``namespace.py``.

    ``to_host`` returns a NumPy array (a counted device-to-host read);
    ``from_host`` uploads; ``copy`` and ``ones_like`` stay on the device.
    """

    def __init__(self, dev: Device) -> None:
        super().__init__(dev.name, ns, (OpenCLArray,), native_device=dev, family="opencl",
                         profile=dev.profile)
        self.cl_device = dev

    def __repr__(self) -> str:
        return f"<Backend {self.device}: {self.cl_device.label}>"

    def wrap(self, x: Any) -> Any:
        """``x`` if it is an OpenCL array, else uploaded."""
        if type(x) is OpenCLArray:
            return x
        return ns.asarray(x, device=self.cl_device)

    def owns(self, x: Any) -> bool:
        """Whether ``x`` lives on this device."""
        return isinstance(x, OpenCLArray) and x._dev is self.cl_device

    def to_host(self, x: Any) -> Any:
        """A NumPy copy of ``x`` (one counted device-to-host read)."""
        return download(x) if isinstance(x, OpenCLArray) else x

    def from_host(self, x: Any) -> Any:
        """``x`` (NumPy, nested lists, scalars) uploaded to this device."""
        return ns.asarray(x, device=self.cl_device)

    def ones_like(self, x: Any) -> Any:
        """Ones shaped like ``x``, made on the device."""
        return ns.ones_like(x)

    def copy(self, x: Any) -> Any:
        """A contiguous copy of ``x`` on the device."""
        return ns._copy(x)

    def synchronize(self) -> None:
        """Wait for the device's queue to drain."""
        self.cl_device.queue.finish()

    def identity(self) -> str:
        """Device, platform, driver and pyopencl versions: what kernel timings depend on."""
        import pyopencl as cl

        d = self.cl_device.cl_device
        return (f"{self.device} {d.name.strip()} | {d.platform.name.strip()} {d.platform.version.strip()} | "
                f"driver {d.driver_version.strip()} | pyopencl {cl.VERSION_TEXT}")


_BACKENDS: list[OpenCLBackend] = []


def backends() -> list[OpenCLBackend]:
    """One backend per usable device, in ``opencl:N`` order (the same objects on every call)."""
    if not _BACKENDS:
        _BACKENDS[:] = [OpenCLBackend(d) for d in devices()]
    return list(_BACKENDS)


def scatter_add(xp: Any, z: Any, g: Any, /, *, key: Any) -> Any:
    """``scatter_add`` on OpenCL: ``z`` with ``g`` added at ``z[key]``, repeats accumulating.

    Deterministic: the contributions to each element are summed in selection
    order (as ``numpy.add.at`` does), whatever order the device ran them in.
    """
    return _scatter_add(z, unwrap(key), g)
