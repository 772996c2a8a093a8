"""The device profile of ``cpu``: what NumPy runs on, in the terms the cost model reads.

Building a :class:`NumpyProfile` costs nothing; each figure is found on first
access and kept:

* ``simd`` and ``blas`` — what NumPy reports about itself (its SIMD dispatch for
  this CPU, the BLAS it links), as ``numpy.show_runtime()`` and
  ``numpy.show_config()`` print them;
* ``peak_flops`` (float32) and ``peak_flops_f64`` — estimates from the CPU
  count, clock and the widest SIMD FMA NumPy found (no benchmark), unless
  :meth:`NumpyProfile.calibrate` measured them;
* ``memory_bandwidth`` and ``launch_latency`` — two micro-benchmarks of a few
  milliseconds (a 32 MiB copy, a one-element ufunc call), run on first access;
* ``host_bandwidth`` — ``inf``: the arrays already live in host memory.

>>> import xpgrad as xg
>>> p = xg.get_backend("cpu").profile
>>> p.host_bandwidth
inf
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

__all__ = ["NumpyProfile", "SimdInfo"]


@dataclass(frozen=True)
class SimdInfo:
    """NumPy's SIMD dispatch on this CPU (``numpy.show_runtime()``'s "SIMD Extensions").

    ``baseline``: extensions NumPy was compiled to require; ``dispatched``: the
    extra ones it has kernels for and found on this CPU; ``unavailable``: those it
    has kernels for but this CPU lacks; ``features``: every CPU feature NumPy detected.
    """

    baseline: tuple[str, ...]
    dispatched: tuple[str, ...]
    unavailable: tuple[str, ...]
    features: tuple[str, ...]

    def has(self, feature: str) -> bool:
        return feature in self.features


def _simd() -> SimdInfo:
    try:
        from numpy._core import _multiarray_umath as umath   # NumPy 2
    except ImportError:  # pragma: no cover - NumPy 1.26
        from numpy.core import _multiarray_umath as umath
    features = getattr(umath, "__cpu_features__", {})
    dispatch = list(getattr(umath, "__cpu_dispatch__", []))
    return SimdInfo(tuple(getattr(umath, "__cpu_baseline__", [])),
                    tuple(d for d in dispatch if features.get(d)),
                    tuple(d for d in dispatch if not features.get(d)),
                    tuple(k for k, v in features.items() if v))


def _blas() -> dict[str, Any]:
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
    except Exception:  # pragma: no cover - a NumPy without build information
        return {"name": "unknown"}
    blas = dict(deps.get("blas", {}))
    return {k: blas[k] for k in ("name", "version", "openblas configuration", "found") if k in blas} \
        or {"name": "unknown"}


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _clock_hz() -> tuple[float, str]:
    """The CPU clock and where it came from (the kernel's maximum, /proc/cpuinfo, or a guess)."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return float(f.read()) * 1e3, "cpufreq maximum"
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) * 1e6, "/proc/cpuinfo"
    except (OSError, ValueError, IndexError):
        pass
    return 2.5e9, "guessed"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _float64_lanes(simd: SimdInfo) -> tuple[int, bool]:
    """float64 lanes of the widest vector unit NumPy found, and whether it has fused multiply-add."""
    if simd.has("AVX512F"):
        return 8, True
    if simd.has("AVX2") or simd.has("AVX"):
        return 4, simd.has("FMA3")
    if simd.has("ASIMD") or simd.has("NEON") or simd.has("VSX") or simd.has("VX"):
        return 2, True
    return 2, False   # SSE2 or unknown


@dataclass
class NumpyProfile:
    """The ``cpu`` device as the cost model sees it: FLOP/s, bandwidths, per-call latency, SIMD, BLAS.

    The field names are those of the other backends' profiles (``peak_flops``,
    ``memory_bandwidth``, ``launch_latency``, ``host_bandwidth``). Figures are
    found lazily (see the module docstring); :meth:`describe` sums them up in one
    line for ``python -m xpgrad info``, :meth:`details` lists them.

    >>> NumpyProfile().launch_latency < 1e-3
    True
    """

    device: str = "cpu"
    host_bandwidth: float = math.inf   # bytes/s between host and device: the device is the host
    measured: dict[str, float] = field(default_factory=dict)   # figures calibrate() measured

    # ---------------------------------------------------------------- what NumPy reports
    @cached_property
    def simd(self) -> SimdInfo:
        """NumPy's SIMD dispatch on this CPU: baseline, dispatched and unavailable extensions."""
        return _simd()

    @cached_property
    def blas(self) -> dict[str, Any]:
        """The BLAS NumPy links: name, version and (OpenBLAS) build configuration."""
        return _blas()

    @cached_property
    def cpus(self) -> int:
        """Logical CPUs this process may run on."""
        return _cpus()

    @cached_property
    def cpu(self) -> str:
        return _cpu_name()

    @cached_property
    def clock(self) -> tuple[float, str]:
        """Clock in Hz, and its source."""
        return _clock_hz()

    # ---------------------------------------------------------------- cost-model figures
    @property
    def flops_per_cycle(self) -> int:
        """float64 FLOP per cycle and CPU: 2 vector pipes × lanes × 2 with FMA (float32: twice that)."""
        lanes, fma = _float64_lanes(self.simd)
        return 2 * lanes * (2 if fma else 1)

    @property
    def peak_flops_f64(self) -> float:
        """float64 FLOP/s: measured by :meth:`calibrate`, else CPUs × clock × FLOP per cycle."""
        if "peak_flops_f64" in self.measured:
            return self.measured["peak_flops_f64"]
        return self.cpus * self.clock[0] * self.flops_per_cycle

    @property
    def peak_flops(self) -> float:
        """float32 FLOP/s (twice the float64 lanes): measured by :meth:`calibrate`, else estimated."""
        if "peak_flops" in self.measured:
            return self.measured["peak_flops"]
        return 2 * self.cpus * self.clock[0] * self.flops_per_cycle

    @property
    def memory_bandwidth(self) -> float:
        """Bytes/s main memory sustains: a 32 MiB copy, timed once on first access."""
        if "memory_bandwidth" not in self.measured:
            self.measured["memory_bandwidth"] = _copy_bandwidth()
        return self.measured["memory_bandwidth"]

    @property
    def launch_latency(self) -> float:
        """Seconds of per-call overhead: a one-element ufunc call, timed once on first access."""
        if "launch_latency" not in self.measured:
            self.measured["launch_latency"] = _call_overhead()
        return self.measured["launch_latency"]

    def calibrate(self) -> NumpyProfile:
        """Measure every figure now (about 0.2 s): peak FLOP/s by matmuls, the rest as on first access."""
        self.measured["peak_flops"] = _matmul_flops(np.float32)
        self.measured["peak_flops_f64"] = _matmul_flops(np.float64)
        self.measured["memory_bandwidth"] = _copy_bandwidth()
        self.measured["launch_latency"] = _call_overhead()
        return self

    def describe(self) -> str:
        """One line for ``python -m xpgrad info`` (times bandwidth and latency if not yet done).

        :meth:`details` gives the full report, one fact per line.
        """
        s, blas = self.simd, self.blas
        est = "" if "peak_flops" in self.measured else "~"
        return (f"NumPy {np.__version__}, {self.cpus} CPU(s) at {self.clock[0] / 1e9:.2f} GHz, "
                f"SIMD {'+'.join(s.baseline + s.dispatched) or 'none'}, "
                f"BLAS {blas.get('name', 'unknown')} {blas.get('version', '')}".rstrip()
                + f", {est}{self.peak_flops / 1e9:.0f} GFLOP/s fp32, "
                f"{self.memory_bandwidth / 1e9:.0f} GB/s, {self.launch_latency * 1e6:.1f} µs/call")

    def details(self) -> list[str]:
        """Readable lines: CPU, SIMD dispatch, BLAS, peak FLOP/s, bandwidths, per-call latency."""
        s, blas = self.simd, self.blas
        hz, src = self.clock
        lines = [f"{self.device}: NumPy {np.__version__} on {self.cpus} CPU(s), {self.cpu}, "
                 f"{hz / 1e9:.2f} GHz ({src})",
                 f"  SIMD: baseline {' '.join(s.baseline) or 'none'}; dispatched "
                 f"{' '.join(s.dispatched) or 'none'}"
                 + (f" (not on this CPU: {' '.join(s.unavailable)})" if s.unavailable else ""),
                 f"  BLAS: {blas.get('name', 'unknown')} {blas.get('version', '')}".rstrip()
                 + (f" ({' '.join(blas['openblas configuration'].split())})"
                    if blas.get("openblas configuration") else "")]
        if "peak_flops" in self.measured:
            lines.append(f"  peak: {self.peak_flops / 1e9:.1f} GFLOP/s float32, "
                         f"{self.peak_flops_f64 / 1e9:.1f} GFLOP/s float64 (measured: matmul)")
        else:
            lines.append(f"  peak: ~{self.peak_flops / 1e9:.0f} GFLOP/s float32, "
                         f"~{self.peak_flops_f64 / 1e9:.0f} GFLOP/s float64 (estimate: {self.cpus} "
                         f"CPU(s) × {hz / 1e9:.2f} GHz × {self.flops_per_cycle} float64 FLOP/cycle)")
        lines += [f"  memory bandwidth: {self.memory_bandwidth / 1e9:.1f} GB/s (measured: 32 MiB copy)",
                  f"  launch latency: {self.launch_latency * 1e6:.2f} µs (measured: one-element ufunc call)",
                  "  host↔device: n/a (arrays live in host memory)"]
        return lines


# ---------------------------------------------------------------- micro-benchmarks


def _best(fn: Any, repeats: int) -> float:
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _copy_bandwidth(nbytes: int = 32 << 20) -> float:
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    t = _best(lambda: np.copyto(dst, src), 3)
    return 2 * nbytes / t   # read + write


def _call_overhead(calls: int = 200) -> float:
    a, b = np.ones(1), np.ones(1)
    add = np.add
    for _ in range(calls):   # warm up
        add(a, b)
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            add(a, b)
        samples.append((time.perf_counter() - t0) / calls)
    return statistics.median(samples)


def _matmul_flops(dtype: Any, n: int = 512) -> float:
    a = np.ones((n, n), dtype=dtype)
    return 2 * n ** 3 / _best(lambda: a @ a, 5)
