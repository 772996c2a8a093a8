"""A CUDA device's profile for the cost model, estimated from its attributes.

Peak FP32 FLOP/s = multiprocessors × FP32 lanes per multiprocessor × 2 (fused
multiply-add) × clock; memory bandwidth = 2 (double data rate) × memory clock ×
bus width. Both are upper bounds, the usual starting point before calibration
measures the device. Pure Python: testable without CuPy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["CudaProfile", "profile_from_attributes", "fp32_lanes"]


@dataclass(frozen=True)
class CudaProfile:
    """What the cost model needs to know about one CUDA device.

    >>> p = profile_from_attributes("GPU", {"MultiProcessorCount": 2, "ClockRate": 1_000_000,
    ...     "ComputeCapabilityMajor": 8, "ComputeCapabilityMinor": 0}, 2**30)
    >>> p.peak_flops
    256000000000.0
    """

    name: str
    compute_capability: tuple[int, int]
    multiprocessors: int
    memory: int                          # bytes of device memory
    peak_flops: float                    # FP32 FLOP/s
    memory_bandwidth: float              # device memory, bytes/s
    launch_latency: float = 5e-6         # seconds per kernel launch
    host_bandwidth: float = 25e9         # host <-> device, bytes/s (PCIe 4 x16)

    def describe(self) -> str:
        """One line for ``python -m xpgrad info``."""
        major, minor = self.compute_capability
        return (f"{self.name}, compute capability {major}.{minor}, {self.multiprocessors} SMs, "
                f"{self.memory / 1e9:.0f} GB, ~{self.peak_flops / 1e12:.1f} TFLOP/s fp32, "
                f"~{self.memory_bandwidth / 1e12:.2f} TB/s")


def fp32_lanes(major: int, minor: int) -> int:
    """FP32 lanes per multiprocessor of a compute capability (CUDA programming guide)."""
    if (major, minor) in ((6, 0), (7, 0), (7, 2), (7, 5), (8, 0)):
        return 64
    return 128 if major >= 5 else 192


def profile_from_attributes(name: str, attributes: Mapping[str, int], memory: int) -> CudaProfile:
    """A profile from ``cupy.cuda.Device(i).attributes`` (clock rates in kHz, bus width in bits)."""
    major = int(attributes.get("ComputeCapabilityMajor", 0))
    minor = int(attributes.get("ComputeCapabilityMinor", 0))
    sms = int(attributes.get("MultiProcessorCount", 0))
    clock_hz = attributes.get("ClockRate", 0) * 1e3
    mem_clock_hz = attributes.get("MemoryClockRate", 0) * 1e3
    bus_bytes = attributes.get("GlobalMemoryBusWidth", 0) / 8
    return CudaProfile(name=name, compute_capability=(major, minor), multiprocessors=sms, memory=int(memory),
                       peak_flops=float(sms * fp32_lanes(major, minor) * 2 * clock_hz),
                       memory_bandwidth=float(2 * mem_clock_hz * bus_bytes))
