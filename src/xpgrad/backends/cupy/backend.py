"""``CupyBackend``: one CUDA device seen through ``array_api_compat.cupy``. Importing this imports CuPy."""

from __future__ import annotations

from typing import Any

import array_api_compat.cupy as compat_cupy
import cupy

from ...core.device import Backend
from .profile import CudaProfile, profile_from_attributes

__all__ = ["CupyBackend", "device_profile"]


class CupyBackend(Backend):
    """``cuda:N``: CuPy arrays in the memory of CUDA device ``N``.

    >>> b = CupyBackend(0)                              # doctest: +SKIP
    >>> b.to_host(b.from_host(numpy.ones(3)))           # doctest: +SKIP
    array([1., 1., 1.])
    """

    def __init__(self, index: int, profile: Any = None) -> None:
        self.index = index
        self.cuda_device = cupy.cuda.Device(index)
        super().__init__(f"cuda:{index}", compat_cupy, (cupy.ndarray,), native_device=self.cuda_device,
                         family="cuda", profile=profile)

    def owns(self, x: Any) -> bool:
        return x.device.id == self.index

    def wrap(self, x: Any) -> Any:
        if type(x) is cupy.ndarray:
            return x
        with self.cuda_device:
            return cupy.asarray(x)

    def to_host(self, x: Any) -> Any:
        return x.get()

    def from_host(self, x: Any) -> Any:
        with self.cuda_device:
            return cupy.asarray(x)

    def ones_like(self, x: Any) -> Any:
        with x.device:
            return cupy.ones_like(x)

    def copy(self, x: Any) -> Any:
        with x.device:
            return x.copy()

    def adoptable(self, x: Any) -> bool:
        return type(x) is cupy.ndarray and x.base is None

    def synchronize(self) -> None:
        """Wait for every stream of the device."""
        self.cuda_device.synchronize()

    def identity(self) -> str:
        """Device name, CUDA driver and runtime versions, CuPy version."""
        props = cupy.cuda.runtime.getDeviceProperties(self.index)
        name = props.get("name", b"CUDA device")
        name = name.decode() if isinstance(name, bytes) else str(name)
        return (f"{self.device} {name} | driver {cupy.cuda.runtime.driverGetVersion()} | "
                f"runtime {cupy.cuda.runtime.runtimeGetVersion()} | cupy {cupy.__version__}")


def device_profile(index: int) -> CudaProfile:
    """The profile of CUDA device ``index``, from its attributes."""
    props = cupy.cuda.runtime.getDeviceProperties(index)
    name = props.get("name", b"CUDA device")
    name = name.decode() if isinstance(name, bytes) else str(name)
    attributes: dict[str, int] = {}
    try:
        attributes = dict(cupy.cuda.Device(index).attributes)
    except Exception:  # an attribute this CUDA version no longer has: estimate from what props give
        for key, prop in (("MultiProcessorCount", "multiProcessorCount"), ("ComputeCapabilityMajor", "major"),
                          ("ComputeCapabilityMinor", "minor")):
            if prop in props:
                attributes[key] = props[prop]
    return profile_from_attributes(name, attributes, props.get("totalGlobalMem", 0))
