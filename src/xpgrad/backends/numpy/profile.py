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
* ``host_bandwidth`` — ``inf``: the arrays already live in host memory;
* what the GEMM, FFT and copy cost models read (``gemm_half``, ``gemm_overhead``,
  ``gemm_latency``, ``fft_flops``, ``ifft_flops``, ``loop_overhead``...): rules of
  thumb until :meth:`NumpyProfile.calibrate` fits them to timed GEMMs, FFTs and copies.

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


def _cache_bytes() -> int:
    """The size of the largest cache private to one CPU (Linux sysfs), else 1 MiB."""
    best = 0
    for i in range(8):
        base = f"/sys/devices/system/cpu/cpu0/cache/index{i}/"
        try:
            with open(base + "size") as f:
                text = f.read().strip()
            with open(base + "shared_cpu_list") as f:
                shared = f.read().strip()
        except OSError:
            continue
        if "," in shared or "-" in shared:   # shared between CPUs (the L3): not one core's to use
            continue
        unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        try:
            best = max(best, int(text.rstrip("KMG")) * unit)
        except ValueError:
            continue
    return best or 1 << 20


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

    # GEMM and FFT rates: what gemm_time() and fft_time() in core/dispatch.py read
    @property
    def gemm_half(self) -> float:
        """The size at which a GEMM dimension halves its rate (``gemm_efficiency``), fit by calibrate()."""
        return self.measured.get("gemm_half", 8.0)

    @property
    def gemm_overhead(self) -> float:
        """Seconds per matrix of a batched matmul (NumPy calls BLAS per matrix), fit by :meth:`calibrate`."""
        return self.measured.get("gemm_overhead", 1e-7)

    @property
    def gemm_latency(self) -> float:
        """Seconds of overhead of one ``numpy.matmul`` call (argument checks, dispatch, output allocation)."""
        return self.measured.get("gemm_latency", 4 * self.launch_latency)

    @property
    def gemv_overhead(self) -> float:
        """Seconds per matrix of a batched matmul with a vector operand (NumPy calls gemv instead of gemm)."""
        return self.measured.get("gemv_overhead", 0.5 * self.gemm_overhead)

    @cached_property
    def cache_bytes(self) -> float:
        """Bytes of the largest per-core cache (L2 on most CPUs): an array larger spills to memory."""
        return float(_cache_bytes())

    @property
    def cache_bandwidth(self) -> float:
        """Bytes/s of a copy that fits :attr:`cache_bytes` (source and copy): timed by :meth:`calibrate`."""
        return self.measured.get("cache_bandwidth", 2 * self.memory_bandwidth)

    @property
    def loop_overhead(self) -> float:
        """Seconds per inner loop of a strided NumPy copy (a pass over short rows pays it once per row)."""
        return self.measured.get("loop_overhead", 5e-9)

    @property
    def fft_flops(self) -> float:
        """FLOP/s NumPy's float32 FFT reaches (5·N·log2 N per complex FFT of N points), timed by
        :meth:`calibrate`; else 3 FLOP per cycle (pocketfft runs on one CPU, vectorised)."""
        return self.measured.get("fft_flops", 3 * self.clock[0])

    @property
    def fft_overhead(self) -> float:
        """Seconds per 1-D transform of NumPy's FFT beyond its FLOPs (it loops over them one by one)."""
        return self.measured.get("fft_overhead", 3e-8)

    @property
    def fft_flops_f64(self) -> float:
        """FLOP/s of NumPy's float64 FFT, as :attr:`fft_flops`."""
        return self.measured.get("fft_flops_f64", 0.7 * self.fft_flops)

    @property
    def ifft_flops(self) -> float:
        """FLOP/s of NumPy's inverse float32 FFT as the conv2d kernel runs it (in place, no zero
        padding: faster than the forward one, which pads)."""
        return self.measured.get("ifft_flops", 1.5 * self.fft_flops)

    def calibrate(self) -> NumpyProfile:
        """Measure every figure now (about 0.3 s): peak FLOP/s by matmuls, memory bandwidth, per-call
        latencies, the GEMM efficiency curve (``gemm_half``, ``gemm_overhead`` and the peaks' scale: least
        squares on 17 timed GEMMs of the shapes convolutions make), the cost per row of a strided copy,
        and the FFT rate and per-transform cost by timed batches of real 2-D FFTs."""
        _warm_up()
        self.measured["peak_flops"] = _matmul_flops(np.float32)
        self.measured["peak_flops_f64"] = _matmul_flops(np.float64)
        self.measured["memory_bandwidth"] = _copy_bandwidth()
        self.measured["launch_latency"] = _call_overhead()
        self.measured["cache_bandwidth"] = _copy_bandwidth(int(self.cache_bytes) // 2, 10)
        self.measured["gemm_latency"] = _matmul_overhead()
        self.measured["loop_overhead"] = _loop_overhead(self.memory_bandwidth)
        # the GEMM curve, fit to the shapes convolutions make; it rescales the peaks when they are off
        # the curve (a 512³ product that shares the CPUs with another process, say)
        self.measured.update(_fit_gemm(self.peak_flops, self.peak_flops_f64, self.memory_bandwidth,
                                       self.gemm_latency))
        self.measured["gemv_overhead"] = _gemv_overhead(self.gemm_latency)
        self.measured["fft_flops"], self.measured["ifft_flops"] = _fft_flops(np.float32)
        self.measured["fft_flops_f64"] = _fft_flops(np.float64)[0]
        self.measured["fft_overhead"] = _fft_overhead(self.measured["fft_flops"])
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
                         f"{self.peak_flops_f64 / 1e9:.1f} GFLOP/s float64 "
                         "(measured: matmul timings, fit to the GEMM curve)")
        else:
            lines.append(f"  peak: ~{self.peak_flops / 1e9:.0f} GFLOP/s float32, "
                         f"~{self.peak_flops_f64 / 1e9:.0f} GFLOP/s float64 (estimate: {self.cpus} "
                         f"CPU(s) × {hz / 1e9:.2f} GHz × {self.flops_per_cycle} float64 FLOP/cycle)")
        if "gemm_half" in self.measured:
            fit = math.exp(self.measured.get("gemm_fit_error", 0.0))
            lines.append(f"  GEMM: rate halves at {self.gemm_half:.1f} per dimension (fit to 17 timed "
                         f"GEMMs, rms error ×{fit:.2f}), {self.gemm_latency * 1e6:.2f} µs per matmul call, "
                         f"{self.gemm_overhead * 1e9:.0f} ns per matrix of a batch")
            lines.append(f"  FFT: {self.fft_flops / 1e9:.1f} GFLOP/s float32 ({self.ifft_flops / 1e9:.1f} "
                         f"inverse), {self.fft_flops_f64 / 1e9:.1f} GFLOP/s float64, "
                         f"{self.fft_overhead * 1e9:.0f} ns per 1-D transform; "
                         f"strided copy: {self.loop_overhead * 1e9:.1f} ns per row")
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


def _copy_bandwidth(nbytes: int = 32 << 20, repeats: int = 3) -> float:
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    t = _best(lambda: np.copyto(dst, src), repeats)
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


def _warm_up(seconds: float = 0.05) -> None:
    """Run BLAS for a moment first: the first GEMMs of a process wait for its threads and pages."""
    a = np.ones((256, 256), dtype=np.float32)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ a


def _matmul_flops(dtype: Any, n: int = 512) -> float:
    a = np.ones((n, n), dtype=dtype)
    return 2 * n ** 3 / _best(lambda: a @ a, 5)


def _matmul_overhead(calls: int = 200) -> float:
    """Seconds per ``numpy.matmul`` call on 2×2 matrices: the fixed cost of a GEMM call."""
    a, b, c = np.ones((2, 2)), np.ones((2, 2)), np.empty((2, 2))
    matmul = np.matmul
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            matmul(a, b, out=c)
        samples.append((time.perf_counter() - t0) / calls)
    return min(samples)


def _gemv_overhead(latency: float, batch: int = 1024) -> float:
    """Seconds per matrix of a batch of (1 × 8)·(8 × 8) products, beyond the call's fixed cost."""
    a, b = np.ones((batch, 1, 8), np.float32), np.ones((batch, 8, 8), np.float32)
    c = np.empty((batch, 1, 8), np.float32)
    return max(_best(lambda: np.matmul(a, b, out=c), 5) - latency, 0.0) / batch


def _loop_overhead(bandwidth: float, rows: int = 1 << 15, row: int = 4) -> float:
    """Seconds per inner loop of NumPy's strided copy: rows of 4 elements, less their memory traffic."""
    src = np.ones((rows, 2 * row), np.float32)[:, :row]
    dst = np.empty((rows, row), np.float32)
    t = _best(lambda: np.copyto(dst, src), 5)
    return max(t - 2 * dst.nbytes / bandwidth, 0.0) / rows


# (m, k, n, batch) as convolutions make them: few output channels (m), a depth of channels or
# channels × taps (k), many positions (n); and batches of small matrices (FFT, Winograd, groups)
_GEMM_SHAPES = [(8, 27, 1024, 1), (16, 16, 4096, 1), (16, 144, 1024, 1), (32, 9, 4096, 1),
                (32, 64, 1024, 1), (32, 288, 256, 1), (64, 16, 1024, 1), (64, 64, 256, 1),
                (64, 576, 64, 1), (128, 64, 256, 1), (128, 3, 1024, 1), (16, 16, 64, 16),
                (8, 8, 8, 256), (2, 8, 8, 256), (16, 3, 1024, 16), (32, 32, 256, 8)]


def _fit_gemm(peak: float, peak_f64: float, bandwidth: float, latency: float) -> dict[str, float]:
    """The GEMM figures that make ``gemm_time`` fit timed float32 GEMMs best: ``gemm_half``,
    ``gemm_overhead``, and the peaks scaled alike (least squares on the logarithm of the times, so
    every shape counts alike; the 512³ product that measured ``peak`` is one of them)."""
    from ...core.dispatch import gemm_time

    timed = []
    for m, k, n, batch in _GEMM_SHAPES + [(512, 512, 512, 1)]:
        a, b = np.ones((batch, m, k), np.float32), np.ones((batch, k, n), np.float32)
        c = np.empty((batch, m, n), np.float32)
        timed.append((m, k, n, batch, _best(lambda a=a, b=b, c=c: np.matmul(a, b, out=c), 3)))
    best = (math.inf, 1.0, 16.0, 1e-7)
    for scale in np.geomspace(0.25, 16.0, 19):
        for half in np.geomspace(1.0, 256.0, 25):
            for overhead in (0.0, 2.5e-8, 5e-8, 1e-7, 2e-7):
                prof = _Figures(peak * scale, peak_f64 * scale, bandwidth, 0.0, float(half), overhead)
                err = [math.log((gemm_time(prof, m, k, n, batch=bt, launches=0) + latency) / t)
                       for m, k, n, bt, t in timed]
                rms = math.sqrt(sum(e * e for e in err) / len(err))
                if rms < best[0]:
                    best = (rms, float(scale), float(half), overhead)
    rms, scale, half, overhead = best
    return {"peak_flops": peak * scale, "peak_flops_f64": peak_f64 * scale, "gemm_half": half,
            "gemm_overhead": overhead, "gemm_fit_error": rms}


@dataclass
class _Figures:
    """A profile's figures alone, for fitting the others."""

    peak_flops: float
    peak_flops_f64: float
    memory_bandwidth: float
    launch_latency: float
    gemm_half: float
    gemm_overhead: float


def _fft_overhead(rate: float, batch: int = 256, size: int = 16) -> float:
    """Seconds per 1-D transform beyond its FLOPs at ``rate``: 2-D FFTs of 16×16, rows then columns."""
    x = np.ones((batch, size, size), np.float32)
    t = _best(lambda: np.fft.rfft2(x), 3)
    transforms = batch * (size + size // 2 + 1)
    flops = 5 * size * size * math.log2(size * size) * batch / 2
    return max(t - flops / rate, 0.0) / transforms


def _fft_flops(dtype: Any, batch: int = 16, size: int = 60, fast: int = 64) -> tuple[float, float]:
    """FLOP/s of real 2-D FFTs as the conv2d kernel runs them (5·N·log2 N FLOPs per complex FFT of N
    points, half that for a real one): forward, rows then columns of arrays zero-padded from 60×60 to
    64×64; inverse, columns in place, then rows."""
    x = np.ones((batch, size, size), dtype=dtype)
    cdt = np.result_type(dtype, np.complex64)
    rows, full = np.empty((batch, size, fast // 2 + 1), cdt), np.empty((batch, fast, fast // 2 + 1), cdt)
    out = np.empty((batch, fast, fast), dtype)

    def forward() -> None:
        np.fft.fft(np.fft.rfft(x, n=fast, axis=-1, out=rows), n=fast, axis=-2, out=full)

    def inverse() -> None:
        np.fft.irfft(np.fft.ifft(full, axis=-2, out=full), n=fast, axis=-1, out=out)

    flops = 5 * fast * fast * math.log2(fast * fast) * batch / 2
    try:
        return flops / _best(forward, 3), flops / _best(inverse, 3)
    except TypeError:   # NumPy 1.26: no out= in its FFTs
        x2 = np.pad(x, ((0, 0), (0, fast - size), (0, fast - size)))
        f = np.fft.rfft2(x2)
        return flops / _best(lambda: np.fft.rfft2(x2), 3), flops / _best(lambda: np.fft.irfft2(f), 3)
