"""One usable OpenCL device: its context, in-order queue, memory pool and compiled programs.

Every array on a device is allocated from its pool and every kernel runs on
its single in-order queue. In-order execution is what makes the pool safe:
a buffer freed while a kernel that reads it is still queued can only be
handed to work queued *after* that kernel.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["Device", "DeviceProfile", "devices", "default_device", "get_device"]


@dataclass
class DeviceProfile:
    """What the cost model needs to know about a device; estimated from its own report until calibrated.

    Field names are those of the other backends' profiles. :meth:`calibrate`
    replaces the estimates by measurements (about three seconds); :meth:`describe`
    is the line ``python -m xpgrad info`` prints; :meth:`apply_measured`
    restores a stored calibration.

    The cost models of ``choices.py`` (matmul: tiled, naive, host; reductions:
    single-pass, two-stage) and ``conv.py`` read, besides the peak rates and
    bandwidths:

    * ``gemm_half`` — the tiled GEMM's ``gemm_efficiency`` (``core.dispatch``),
      fit to timed tiled GEMMs of tile-rounded shapes; ``gemm_latency`` — the
      fixed seconds of one matmul call (launch, arguments, allocation);
    * ``naive_*`` — the one-work-item-per-element matmul: fixed seconds, seconds
      per output element, and the bytes/s at which it reads B's columns when
      they stay in cache (``naive_bandwidth``) or not (``naive_bandwidth_far``);
    * ``transfer_latency`` — fixed seconds of one host↔device copy;
    * ``reduce_*`` — reductions: fixed seconds of one launch, elements/s one
      work-item walks (``reduce_lane_rate``), how many such walks run at once
      (``reduce_lanes``), elements/s of the two-stage tree with every lane busy
      (``reduce_rate``), and ``workgroup_time``, the device's seconds per
      work-group beyond its elements (scheduling, barriers, the local tree);
    * ``conv_direct_efficiency`` (``conv.py``'s direct kernel) and ``fft_flops``
      (``fft.py``'s transforms, which the FFT convolution's cost reads);
    * the geometry: ``compute_units``, ``is_gpu``, ``local_size``, ``cache_bytes``.

    >>> DeviceProfile(1e12, 5e11, 1e11, 1e-5, 1e10, 1e10).host_bandwidth
    10000000000.0
    """

    peak_flops: float        # float32 FLOP/s (calibrated: the tiled GEMM's asymptotic rate)
    peak_flops_f64: float    # float64 FLOP/s (0 without double support)
    memory_bandwidth: float  # device memory, bytes/s
    launch_latency: float    # seconds from enqueue to a tiny kernel's end, host overhead included
    h2d_bandwidth: float     # host to device, bytes/s
    d2h_bandwidth: float     # device to host, bytes/s
    label: str = ""
    # geometry (from the device's report)
    compute_units: int = 1
    is_gpu: bool = False
    local_size: int = 128             # work-group size of the elementwise, naive-matmul and reduction kernels
    cache_bytes: float = float(1 << 20)   # global memory cache
    # matmul
    gemm_half: float = 24.0           # gemm_efficiency's half-rate size, of tile-rounded shapes
    gemm_latency: float = 6e-5        # seconds of fixed cost of one matmul call (tiled)
    naive_latency: float = 6e-5       # the same, naive kernel
    naive_output_time: float = 3e-9   # device seconds per output element of the naive kernel
    naive_bandwidth: float = 1e10     # bytes/s of B's columns, read from cache, naive kernel
    naive_bandwidth_far: float = 3e9  # the same when they do not stay in cache
    transfer_latency: float = 5e-6    # seconds of fixed cost of one host<->device copy
    # reductions
    reduce_latency: float = 4e-5      # seconds of fixed cost of one reduction launch
    reduce_lane_rate: float = 1.5e9   # elements/s one work-item of the single-pass kernel walks
    reduce_lanes: float = 1.0         # single-pass walks that run at that rate at once
    reduce_rate: float = 3e9          # elements/s of the two-stage first pass, every lane busy
    workgroup_time: float = 3e-7      # device seconds per work-group beyond its elements
    # convolution (conv.py, fft.py)
    conv_direct_efficiency: float = 1.35   # the direct conv kernel's rate against its FMA count at peak
    fft_flops: float = 0.0                 # FLOP/s (5·N·log2 N per transform) of fft.py; 0: 5 % of peak
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

    @property
    def host(self) -> Any:
        """The host's profile (``cpu``): what the ``host`` kernels pay for their NumPy part."""
        from ...core.device import get_backend

        return get_backend("cpu").profile

    # What conv.py's GEMM model reads, in its terms.
    @property
    def matmul_overhead(self) -> float:
        """A matmul call's fixed cost in launches (``gemm_latency / launch_latency``)."""
        return self.gemm_latency / self.launch_latency if self.launch_latency > 0 else 3.0

    @property
    def matmul_naive_efficiency(self) -> float:
        """The naive matmul's FLOP rate (float32, B in cache) as a fraction of ``peak_flops``."""
        return min(1.0, 2.0 * self.naive_bandwidth / 4 / self.peak_flops) if self.peak_flops > 0 else 0.02

    def apply_measured(self, d: dict) -> "DeviceProfile":
        """Restore a stored calibration: each figure of ``d`` goes into :attr:`measured` and, when it
        is one of the profile's fields, onto the profile (unknown names are kept in ``measured`` only)."""
        names = {f.name for f in fields(self)} - {"label", "measured", "device"}
        for k, v in dict(d).items():
            self.measured[k] = v
            if k in names and isinstance(v, (int, float)):
                setattr(self, k, type(getattr(self, k))(v))
        return self

    def describe(self) -> str:
        """One line: device, FLOP/s, bandwidths and launch latency (``~`` marks estimates)."""
        e = "" if self.calibrated else "~"
        f64 = f" / {e}{self.peak_flops_f64 / 1e9:.0f} fp64" if self.peak_flops_f64 else ", no fp64"
        return (f"{self.label}: {e}{self.peak_flops / 1e9:.0f} GFLOP/s fp32{f64}, "
                f"{e}{self.memory_bandwidth / 1e9:.0f} GB/s, "
                f"host link {e}{self.host_bandwidth / 1e9:.0f} GB/s, "
                f"{e}{self.launch_latency * 1e6:.0f} µs/launch" + ("" if self.calibrated else " (estimated)"))

    def calibrate(self) -> "DeviceProfile":
        """Measure every figure on the device (about three seconds).

        Launch latency, memory and host-link bandwidth as before; then the
        tiled GEMM at square and skinny shapes, fit by ``gemm_efficiency`` of
        the tile-rounded shape (``peak_flops``, ``gemm_half``; float64 at one
        size); the naive matmul's fixed, per-output and per-byte costs; the
        fixed cost of a host copy; the reductions' rates (one work-item, many
        outputs, the two-stage tree) and their per-work-group cost; the direct
        convolution's efficiency and the FFT's rate.
        """
        self.apply_measured(_measure(self))
        from . import conv, fft

        # the median of three: on a shared machine a single measurement can land in an odd moment
        extra = {"conv_direct_efficiency": _median3(lambda: conv.calibrate_direct(self)),
                 "fft_flops": _median3(lambda: fft.measure_fft_flops(self.device))}
        self.apply_measured(extra)
        return self


def _median3(fn: Any) -> float:
    return sorted(fn() for _ in range(3))[1]


def _fit_gemm(samples: list[tuple[int, int, int, float]], latency: float, tiles: tuple,
              compute_units: int = 1) -> tuple[float, float]:
    """``(peak, gemm_half)`` that fit ``latency + 2·m·k·n / (peak · gemm_efficiency · fill)`` of the
    tile-rounded shapes to the timed ``(m, k, n, seconds)`` best, in relative (log) error (``fill``:
    the fraction of compute units the tiles occupy, as ``choices.tiled_matmul_cost`` has it)."""
    TM, TN, TK = tiles[:3]
    work, t = [], []
    for m, k, n, s in samples:
        mp, kp, np_ = -(-m // TM) * TM, -(-k // TK) * TK, -(-n // TN) * TN
        work.append((mp, kp, np_, min(1.0, (mp // TM) * (np_ // TN) / max(compute_units, 1))))
        t.append(s)
    t_ = np.array(t)
    busy = np.maximum(t_ - latency, 0.2 * t_)
    best = (np.inf, 0.0, 24.0)
    for h in np.geomspace(0.25, 2048, 97):
        w = np.array([2.0 * m * k * n / ((m / (m + h)) * (k / (k + h)) * (n / (n + h))) / f
                      for m, k, n, f in work])
        peak = float(np.exp(np.mean(np.log(w / busy))))
        err = float(np.sqrt(np.mean(np.log((latency + w / peak) / t_) ** 2)))
        if err < best[0]:
            best = (err, peak, float(h))
    return best[1], best[2]


def _measure(p: DeviceProfile, seconds: float = 2.5, rounds: tuple[int, int] = (3, 40)) -> dict[str, float]:
    """Everything :meth:`DeviceProfile.calibrate` measures, as a dict of figures.

    Every timed call is first run once (compilation, first touch), then all of
    them are timed in interleaved rounds, a few runs in a row each (the first
    wakes the runtime's threads), for about ``seconds`` (at least and at most
    ``rounds``), and each keeps its fastest run. Figures taken seconds apart on
    a machine whose speed drifts (a shared host whose neighbours take a core
    for a second or two, turbo) then all describe the machine at its best, as
    the minimum of repeated timings does.
    """
    import time

    import pyopencl as cl

    from . import kernels as K
    from .array import empty
    from .choices import naive_far, naive_parallel

    dev = p.device
    q = dev.queue
    f32 = np.dtype(np.float32)
    jobs: dict[str, tuple[Any, int]] = {}     # name -> (call, runs per round)

    def full(shape: tuple[int, ...], dt: np.dtype = f32) -> Any:
        return K.elementwise(dev, "a0", [dt.type(1)], [dt], dt, shape=shape)

    def mm(m: int, k: int, nn: int, algorithm: str, dt: np.dtype = f32) -> Any:
        a, b = full((m, k), dt), full((k, nn), dt)
        return lambda: K.matmul(dev, a, b, dt, algorithm=algorithm)

    def red(shape: tuple[int, ...], axes: tuple[int, ...], stage: str) -> Any:
        x = full(shape)
        return lambda: K.reduce(dev, x, axes, "sum", f32, f32, stage=stage)

    # -- launches, memory, host link
    one = empty((1,), f32, dev)
    jobs["launch"] = (lambda: K.elementwise(dev, "a0", [one], [f32], f32, out=one), 10)
    n = 8 << 20
    big, dst = empty((n,), f32, dev), empty((n,), f32, dev)
    host = np.zeros(n, f32)
    small = host[:16]
    jobs["copy"] = (lambda: K.elementwise(dev, "a0", [big], [f32], f32, out=dst), 1)
    jobs["h2d"] = (lambda: cl.enqueue_copy(q, big._buf, host, is_blocking=True), 1)
    jobs["d2h"] = (lambda: cl.enqueue_copy(q, host, big._buf, is_blocking=True), 1)
    jobs["h2d small"] = (lambda: cl.enqueue_copy(q, big._buf, small, is_blocking=True), 5)
    jobs["d2h small"] = (lambda: cl.enqueue_copy(q, small, big._buf, is_blocking=True), 5)
    # -- the tiled GEMM at square and skinny shapes
    tiles = K.matmul_tiles(dev)
    gemm_shapes = [(64, 64, 64), (128, 128, 128), (256, 256, 256), (384, 384, 384), (512, 512, 512),
                   (16, 512, 512), (512, 512, 16), (512, 16, 512), (1024, 64, 64), (64, 1024, 64),
                   (64, 64, 1024), (256, 1024, 128)]
    f64 = np.dtype(np.float64)
    tiled = K.tiled_fits(dev, 4) is None
    tiled64 = tiled and dev.fp64 and K.tiled_fits(dev, 8) is None
    if tiled:
        jobs["tiled tiny"] = (mm(4, 4, 4, "tiled"), 5)
        for s in gemm_shapes:
            jobs[f"tiled {s}"] = (mm(*s, "tiled"), 1)
        if tiled64:
            jobs["tiled f64"] = (mm(384, 384, 384, "tiled", f64), 1)
    # -- the naive matmul: fixed cost, per output, B's columns in cache and not
    # far: a CPU's 2 KiB-aliased rows; a GPU's B twice its cache
    kf = 512 if not p.is_gpu else int(min(8192, max(512, 2 * p.cache_bytes // (1024 * 4))))
    naive_shapes = {"naive_bandwidth": (128, 128, 128), "naive_bandwidth_far": (16, kf, 1024)}
    jobs["naive tiny"] = (mm(4, 4, 4, "naive"), 5)
    jobs["naive outputs"] = (mm(256, 1, 256, "naive"), 1)
    for name, s in naive_shapes.items():
        jobs[name] = (mm(*s, "naive"), 1)
    # -- reductions: fixed cost, one work-item, many outputs, the tree, many work-groups
    k1, m1 = 1 << 20, 1 << 15
    jobs["reduce tiny"] = (red((16,), (0,), "single"), 5)
    jobs["single 1"] = (red((k1,), (0,), "single"), 1)
    # (rows of 1000, not 1024: a walk down a column whose rows are a power of two apart thrashes the cache)
    jobs["single rows"] = (red((1000, 1000), (1,), "single"), 1)
    jobs["single cols"] = (red((1000, 1000), (0,), "single"), 1)
    jobs["tree 1"] = (red((k1,), (0,), "two-stage"), 1)
    jobs["tree many"] = (red((m1, 8), (1,), "two-stage"), 1)

    t: dict[str, float] = {}
    for name, (fn, _) in jobs.items():
        fn()
        q.finish()
        t[name] = float("inf")
    t_end = time.perf_counter() + seconds
    for r in range(rounds[1]):
        if r >= rounds[0] and time.perf_counter() > t_end:
            break
        for name, (fn, reps) in jobs.items():
            for _ in range(max(reps, 2)):
                t0 = time.perf_counter()
                fn()
                q.finish()
                t[name] = min(t[name], time.perf_counter() - t0)

    def busy(name: str, fixed: float) -> float:
        return max(t[name] - fixed, 0.2 * t[name])

    got: dict[str, float] = {
        "launch_latency": t["launch"], "memory_bandwidth": 8 * n / t["copy"],
        "h2d_bandwidth": 4 * n / t["h2d"], "d2h_bandwidth": 4 * n / t["d2h"],
        "transfer_latency": (t["h2d small"] + t["d2h small"]) / 2}
    if tiled:
        lat = got["gemm_latency"] = t["tiled tiny"]
        peak, half = _fit_gemm([(*s, t[f"tiled {s}"]) for s in gemm_shapes], lat, tiles, dev.compute_units)
        got["peak_flops"], got["gemm_half"] = peak, half
        if tiled64:
            TM, TN, TK = tiles[:3]
            mp, kp, np_ = -(-384 // TM) * TM, -(-384 // TK) * TK, -(-384 // TN) * TN
            eff = (mp / (mp + half)) * (kp / (kp + half)) * (np_ / (np_ + half))
            got["peak_flops_f64"] = 2.0 * mp * kp * np_ / eff / busy("tiled f64", lat)
    view = {f.name: getattr(p, f.name) for f in fields(p) if f.name not in ("measured", "device")}
    geo = type("Geometry", (), {**view, **got})()
    lat = got["naive_latency"] = t["naive tiny"]
    out_t = got["naive_output_time"] = busy("naive outputs", lat) * naive_parallel(geo, 256 * 256, 1) / 65536
    for name, (m, k, nn) in naive_shapes.items():
        work = busy(name, lat) * naive_parallel(geo, m * nn, 1) - m * nn * out_t
        got[name] = m * k * nn * 4 / max(work, 0.2 * t[name])
    if not naive_far(geo, kf, 1024, 4):   # B's columns cannot leave this device's cache
        got["naive_bandwidth_far"] = got["naive_bandwidth"]
    r_lat = got["reduce_latency"] = t["reduce tiny"]
    lane = got["reduce_lane_rate"] = k1 / busy("single 1", r_lat)
    many = float(np.sqrt(1e6 / busy("single rows", r_lat) * 1e6 / busy("single cols", r_lat)))
    lanes = got["reduce_lanes"] = max(1.0, many / lane)
    G = K.reduce_groups(dev, 1, k1)
    rate = got["reduce_rate"] = k1 / max(t["tree 1"] - 2 * r_lat - G / lane, 0.2 * t["tree 1"])
    rest = 2 * r_lat + m1 * 8 / rate + m1 / (lane * min(m1, lanes))
    got["workgroup_time"] = max(t["tree many"] - rest, 0.0) / m1
    return got


def estimate_profile(dev: Any, cl: Any, label: str = "") -> DeviceProfile:
    """Defaults from the device's own report: compute units, clock, SIMD width, memory kind."""
    is_gpu = bool(dev.type & cl.device_type.GPU)
    cu = max(1, dev.max_compute_units)
    clock = (dev.max_clock_frequency or (1500 if is_gpu else 2500)) * 1e6
    if is_gpu:
        lanes = 128 if "nvidia" in dev.vendor.lower() else 64
    else:
        # an OpenCL CPU runtime runs work-items on the SIMD lanes, one FMA per lane and cycle at best
        lanes = max(4, dev.native_vector_width_float)
    peak = cu * clock * lanes * 2                          # an FMA is two FLOPs
    fp64 = bool(dev.double_fp_config)
    unified = bool(getattr(dev, "host_unified_memory", not is_gpu))
    mem = 500e9 if is_gpu else min(100e9, 10e9 * cu)
    link = mem if unified else 12e9
    kind = "GPU" if is_gpu else "CPU"
    f64 = float(peak / (32 if is_gpu else 2)) if fp64 else 0.0   # consumer GPUs: 1/32 rate
    launch = 2e-5
    cache = float(getattr(dev, "global_mem_cache_size", 0) or (4 << 20 if is_gpu else 1 << 20))
    local = min(256 if is_gpu else 128, int(dev.max_work_group_size))
    if is_gpu:
        # thousands of lanes, coalesced loads; launches are the host's cost only
        extra = dict(gemm_half=48.0, gemm_latency=2 * launch, naive_latency=2 * launch,
                     naive_output_time=1e-11, naive_bandwidth=float(mem), naive_bandwidth_far=mem / 4,
                     transfer_latency=1e-5, reduce_latency=1.5 * launch, reduce_lane_rate=1e8,
                     reduce_lanes=float(cu * lanes), reduce_rate=mem / 8, workgroup_time=2e-9)
    else:
        # one core walks a reduction or a naive dot product at about a clock per element
        extra = dict(gemm_half=24.0, gemm_latency=3 * launch, naive_latency=3 * launch,
                     naive_output_time=6e-9 / cu, naive_bandwidth=5e9 * cu, naive_bandwidth_far=1.5e9 * cu,
                     transfer_latency=5e-6, reduce_latency=2 * launch, reduce_lane_rate=clock / 2,
                     reduce_lanes=float(cu), reduce_rate=cu * clock / 2, workgroup_time=6e-7 / cu)
    return DeviceProfile(peak_flops=float(peak), peak_flops_f64=f64, memory_bandwidth=float(mem),
                         launch_latency=launch,
                         h2d_bandwidth=float(link), d2h_bandwidth=float(link),
                         label=f"{label or dev.name.strip()} ({kind}, {cu} compute units)",
                         compute_units=cu, is_gpu=is_gpu, local_size=local, cache_bytes=cache, **extra)


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
