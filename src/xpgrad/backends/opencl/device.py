"""One usable OpenCL device: its context, in-order queue, memory pool and compiled programs.

Every array on a device is allocated from its pool and every kernel runs on
its single in-order queue. In-order execution is what makes the pool safe:
a buffer freed while a kernel that reads it is still queued can only be
handed to work queued *after* that kernel.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Device", "DeviceProfile", "devices", "default_device", "get_device"]


@dataclass
class DeviceProfile:
    """What the cost model needs to know about a device; estimated from its own report until calibrated.

    Field names are those of the other backends' profiles. :meth:`calibrate`
    replaces the estimates by measurements (about a second); :meth:`describe`
    is the line ``python -m xpgrad info`` prints.

    >>> DeviceProfile(1e12, 5e11, 1e11, 1e-5, 1e10, 1e10).host_bandwidth
    10000000000.0
    """

    peak_flops: float        # float32 FLOP/s
    peak_flops_f64: float    # float64 FLOP/s (0 without double support)
    memory_bandwidth: float  # device memory, bytes/s
    launch_latency: float    # seconds from enqueue to a tiny kernel's end, host overhead included
    h2d_bandwidth: float     # host to device, bytes/s
    d2h_bandwidth: float     # device to host, bytes/s
    label: str = ""
    measured: dict[str, float] = field(default_factory=dict)   # what calibrate() measured
    device: Any = field(default=None, repr=False, compare=False)

    @property
    def host_bandwidth(self) -> float:
        """Bytes/s between host and device, the slower direction."""
        return min(self.h2d_bandwidth, self.d2h_bandwidth)

    @property
    def calibrated(self) -> bool:
        """Whether :meth:`calibrate` has measured the figures."""
        return bool(self.measured)

    def describe(self) -> str:
        """One line: device, FLOP/s, bandwidths and launch latency (``~`` marks estimates)."""
        e = "" if self.calibrated else "~"
        f64 = f" / {e}{self.peak_flops_f64 / 1e9:.0f} fp64" if self.peak_flops_f64 else ", no fp64"
        return (f"{self.label}: {e}{self.peak_flops / 1e9:.0f} GFLOP/s fp32{f64}, "
                f"{e}{self.memory_bandwidth / 1e9:.0f} GB/s, "
                f"host link {e}{self.host_bandwidth / 1e9:.0f} GB/s, "
                f"{e}{self.launch_latency * 1e6:.0f} µs/launch" + ("" if self.calibrated else " (estimated)"))

    def calibrate(self) -> "DeviceProfile":
        """Measure every figure on the device (about a second): launch, copy, matmul, transfers."""
        import time

        import pyopencl as cl

        from . import kernels as K
        from .array import empty

        dev = self.device
        q = dev.queue

        def best(fn: Any, n: int) -> float:
            fn()
            q.finish()
            ts = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                q.finish()
                ts.append(time.perf_counter() - t0)
            return sorted(ts)[len(ts) // 2]

        f32 = np.dtype(np.float32)
        one = empty((1,), f32, dev)
        self.measured["launch_latency"] = best(
            lambda: K.elementwise(dev, "a0", [one], [f32], f32, out=one), 50)
        n = 8 << 20
        big, dst = empty((n,), f32, dev), empty((n,), f32, dev)
        self.measured["memory_bandwidth"] = 8 * n / best(
            lambda: K.elementwise(dev, "a0", [big], [f32], f32, out=dst), 5)
        host = np.zeros(n, f32)
        self.measured["h2d_bandwidth"] = 4 * n / best(
            lambda: cl.enqueue_copy(q, big._buf, host, is_blocking=True), 3)
        self.measured["d2h_bandwidth"] = 4 * n / best(
            lambda: cl.enqueue_copy(q, host, big._buf, is_blocking=True), 3)
        for name, dt in (("peak_flops", f32), ("peak_flops_f64", np.dtype(np.float64))):
            if dt == np.float64 and not dev.fp64:
                continue
            a = K.elementwise(dev, "a0", [dt.type(1)], [dt], dt, shape=(1024, 1024))
            self.measured[name] = 2 * 1024 ** 3 / best(lambda: K.matmul(dev, a, a, dt), 3)
        for k, v in self.measured.items():
            setattr(self, k, v)
        return self


def estimate_profile(dev: Any, cl: Any, label: str = "") -> DeviceProfile:
    """Defaults from the device's own report: compute units, clock, SIMD width, memory kind."""
    is_gpu = bool(dev.type & cl.device_type.GPU)
    cu = max(1, dev.max_compute_units)
    clock = (dev.max_clock_frequency or (1500 if is_gpu else 2500)) * 1e6
    if is_gpu:
        lanes = 128 if "nvidia" in dev.vendor.lower() else 64
    else:
        lanes = max(4, dev.native_vector_width_float) * 2   # two FMA pipes per core on current CPUs
    peak = cu * clock * lanes * 2                          # an FMA is two FLOPs
    fp64 = bool(dev.double_fp_config)
    unified = bool(getattr(dev, "host_unified_memory", not is_gpu))
    mem = 500e9 if is_gpu else min(100e9, 10e9 * cu)
    link = mem if unified else 12e9
    kind = "GPU" if is_gpu else "CPU"
    f64 = float(peak / (32 if is_gpu else 2)) if fp64 else 0.0   # consumer GPUs: 1/32 rate
    return DeviceProfile(peak_flops=float(peak), peak_flops_f64=f64, memory_bandwidth=float(mem),
                         launch_latency=2e-5,
                         h2d_bandwidth=float(link), d2h_bandwidth=float(link),
                         label=f"{label or dev.name.strip()} ({kind}, {cu} compute units)")


class Device:
    """``opencl:N``: a device, its context and queue, a memory pool, compiled programs.

    Compares equal to its device string, so ``x.device == "opencl:0"`` holds.
    """

    def __init__(self, index: int, found: Any) -> None:
        import pyopencl as cl
        import pyopencl.tools as cl_tools

        self.index = index
        self.name = f"opencl:{index}"
        self.label = found.label
        self.cl_device = found.device
        self.context = found.context
        self.queue = found.queue
        dev = found.device
        self.is_gpu = not bool(dev.type & cl.device_type.CPU)
        self.fp64 = bool(dev.double_fp_config)
        self.max_work_group = int(dev.max_work_group_size)
        self.local_mem = int(dev.local_mem_size)
        self.compute_units = max(1, int(dev.max_compute_units))
        self.default_float = np.dtype(np.float64 if self.fp64 else np.float32)
        # Elementwise and reduction work-group size: a few SIMD rows on a CPU, a few warps on a GPU.
        self.local_size = min(256 if self.is_gpu else 128, self.max_work_group)
        self.pool = cl_tools.MemoryPool(cl_tools.ImmediateAllocator(self.queue))
        self.profile = estimate_profile(dev, cl, found.label)
        self.profile.device = self
        opts = []
        if dev.single_fp_config & cl.device_fp_config.CORRECTLY_ROUNDED_DIVIDE_SQRT:
            opts.append("-cl-fp32-correctly-rounded-divide-sqrt")  # x / y and sqrt as NumPy rounds them
        self.build_options = opts
        self._programs: dict[Any, Any] = {}
        self._kernels: dict[Any, Any] = {}
        self._cl = cl

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<OpenCL device {self.name}: {self.label}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Device):
            return other is self
        if isinstance(other, str):
            return other == self.name
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def alloc(self, nbytes: int) -> Any:
        """A buffer of at least ``nbytes`` bytes from the pool (never empty: OpenCL refuses size 0)."""
        return self.pool.allocate(max(int(nbytes), 8))

    def kernel(self, key: Any, source: Any, name: str) -> Any:
        """Kernel ``name`` of the program ``source()``, compiled once per ``key`` on this device.

        pyopencl keeps the compiled binaries on disk too, so a later process
        only loads them.
        """
        k = self._kernels.get((key, name))
        if k is None:
            prg = self._programs.get(key)
            if prg is None:
                src = source()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # compiler remarks (pyopencl.CompilerWarning)
                    prg = self._cl.Program(self.context, src).build(options=self.build_options)
                self._programs[key] = prg
            k = self._kernels[(key, name)] = getattr(prg, name)
        return k

    def programs(self) -> int:
        """How many programs this device has compiled (or loaded from pyopencl's cache) in this process."""
        return len(self._programs)


_DEVICES: list[Device] = []
_LOADED = [False]


def devices() -> list[Device]:
    """The usable devices (discovers them on first call; ImportError without pyopencl)."""
    if not _LOADED[0]:
        from .driver import discover

        found, _ = discover()
        _DEVICES[:] = [Device(i, f) for i, f in enumerate(found)]
        _LOADED[0] = True
    return _DEVICES


def default_device() -> Device:
    """The first usable device (``opencl:0``), or a DeviceError saying why there is none."""
    devs = devices()
    if not devs:
        from ...core.errors import DeviceError
        from .driver import discover

        why = "; ".join(f"{d}: {r}" for d, r in discover()[1]) or "no OpenCL runtime found"
        raise DeviceError(f"no usable OpenCL device here ({why})")
    return devs[0]


def get_device(device: Any) -> Device:
    """The :class:`Device` for ``None`` (the first), a Device, ``"opencl:N"``, or ``N``."""
    if device is None:
        return default_device()
    if isinstance(device, Device):
        return device
    devs = devices()
    key = str(device)
    if isinstance(device, int):
        key = f"opencl:{device}"
    for d in devs:
        if d.name == key:
            return d
    from ...core.errors import DeviceError

    raise DeviceError(f"unknown OpenCL device {device!r}; usable here: "
                      f"{', '.join(d.name for d in devs) or 'none'}")
