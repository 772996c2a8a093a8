"""The OpenCL backend's competing kernels for matmul and the reductions, with their cost models.

:func:`kernels` returns them as :class:`~xpgrad.core.dispatch.Kernel` objects of
family ``"opencl"``; the dispatcher runs the one whose cost model is lowest for
the call (or the one ``xpgrad.dispatch.prefer`` names).

**matmul** (the op's semantics exactly: 1-D operands promoted to a row or a
column, batch dimensions broadcast, dtypes promoted, as ``namespace.matmul``
does — each kernel is that function with its algorithm fixed):

* ``naive`` — one work-item per element of C walks a row of A and a column of
  B. Cost: a fixed ``naive_latency``, ``naive_output_time`` per element of C,
  and the column reads: every multiply-add reads one element of B (A's row is
  shared by neighbouring work-items), at ``naive_bandwidth`` while B's columns
  stay in cache, ``naive_bandwidth_far`` when they do not (on a GPU: B larger
  than the cache; on a CPU: B's rows a multiple of 2 KiB apart, so that a walk
  down a column thrashes a few cache sets); divided by the fraction of compute
  units its work-groups fill.
* ``tiled`` — tiles of A and B staged in local memory (``kernels.matmul_tiles``).
  Cost: ``gemm_time`` of the tile-rounded shape (the tiles compute the padding
  too) at ``peak_flops`` × ``gemm_efficiency`` (``gemm_half``), divided by the
  fraction of compute units its tiles fill, plus its fixed ``gemm_latency``.
  Declines where its tiles do not fit the device's local memory or work-group
  limit.
* ``host`` — both operands read back, NumPy's matmul, the product uploaded.
  Cost: three copies (``transfer_latency`` each, the bytes at the host link's
  bandwidth) plus the host's GEMM: ``gemm_time`` on the ``cpu`` backend's
  profile for floats, NumPy's integer loop (about 1 % of the host's peak) for
  integers. On a CPU device (the same cores, NumPy's BLAS several times faster
  than a portable OpenCL kernel) it is the fastest float matmul at every size;
  on a GPU only for tiny products. (On a CPU device NumPy's BLAS threads and
  the OpenCL runtime's share the cores; with few cores a call now and then
  waits a scheduler tick or more for one of them: the model does not price it.)

**sum, prod, max, min, mean** (keyword parameters, dtypes, ``keepdims``,
negative and tuple axes, empty arrays as the namespace's functions; each kernel
is that function with the stage fixed):

* ``single-pass`` — one work-item per output walks the reduced extent. Cost:
  ``reduce_latency`` plus the elements at ``reduce_lane_rate`` per work-item
  over ``min(outputs, reduce_lanes)`` of them (few outputs leave the device
  idle), or the memory traffic, whichever is slower.
* ``two-stage`` — work-groups reduce chunks in local memory into partials, a
  second pass combines them. Cost: two launches, the elements at
  ``reduce_rate`` (every lane busy, once there are enough work-groups for the
  compute units), ``workgroup_time`` per work-group (many short rows: one
  mostly idle work-group each), and the second pass over the partials.

Every figure is a :class:`~xpgrad.backends.opencl.device.DeviceProfile` field
(estimated from the device's report, measured by ``calibrate()``); a profile
that lacks one (a test's fake) gets the default written beside it here.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from ...core.dispatch import Kernel, gemm_time, launch_time, memory_time
from . import kernels as K
from . import namespace as cx
from .array import SUPPORTED

__all__ = ["kernels", "matmul_geometry", "reduce_geometry", "naive_matmul_cost", "tiled_matmul_cost",
           "host_matmul_cost", "single_pass_cost", "two_stage_cost", "naive_far", "naive_parallel",
           "REDUCTIONS"]

REDUCTIONS = ("sum", "prod", "max", "min", "mean")
HOST_INT_FRACTION = 0.012  # NumPy's integer matmul is a plain loop, not BLAS: about 1 % of the host's peak
_ALIAS = 2048          # bytes: rows this far apart (or a multiple) alias in a CPU's caches


def _fig(profile: Any, name: str, default: float) -> float:
    v = getattr(profile, name, None)
    return float(default if v is None else v)


def _geom(profile: Any) -> Any:
    """The device geometry the models read, from the profile (defaults for a fake one)."""
    return SimpleNamespace(compute_units=max(1, int(_fig(profile, "compute_units", 1))),
                           is_gpu=bool(getattr(profile, "is_gpu", False)),
                           local_size=max(1, int(_fig(profile, "local_size", 128))),
                           max_work_group=int(_fig(profile, "max_work_group", 256)))


def _device(signature: Any) -> Any:
    """The OpenCL device of ``signature``, or ``None`` (a signature made for another device)."""
    from .device import get_device

    try:
        return get_device(signature.device)
    except Exception:  # noqa: BLE001 - no such device here: device checks are skipped
        return None


def _dtype(signature: Any) -> np.dtype | str:
    """The promoted dtype of the operands, or why the OpenCL backend has none."""
    try:
        dt = np.result_type(*(np.dtype(d) for d in signature.dtypes))
    except TypeError:
        return f"operand dtypes {', '.join(signature.dtypes)} are not OpenCL dtypes"
    if dt not in SUPPORTED:
        return f"dtype {dt} is not supported by the OpenCL backend"
    dev = _device(signature)
    if dev is not None and dt == np.float64 and not dev.fp64:
        return f"{dev.name} has no float64"
    return dt


# ================================================================ matmul


def matmul_geometry(signature: Any) -> tuple[int, int, int, int] | str:
    """``(batch, m, k, n)`` of a matmul signature as the namespace computes it, or why it is no matmul."""
    if len(signature.shapes) != 2:
        return "matmul takes two arrays"
    a, b = signature.shapes
    if not a or not b:
        return "matmul needs operands of at least one dimension"
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        return f"the inner dimensions differ ({a2[-1]} vs {b2[-2]})"
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        return f"the batch dimensions {a2[:-2]} and {b2[:-2]} do not broadcast"
    if len(batch) > K.MAXD:
        return f"more than {K.MAXD} batch dimensions"
    return math.prod(batch), a2[-2], a2[-1], b2[-1]


def _mm_check(signature: Any) -> tuple | str:
    geo = matmul_geometry(signature)
    if isinstance(geo, str):
        return geo
    dt = _dtype(signature)
    if isinstance(dt, str):
        return dt
    if dt == np.bool_:
        return "boolean matmul is refused (cast to an integer dtype)"
    return geo, dt


def _ok(check: Any) -> bool | str:
    return check if isinstance(check, str) else True


def naive_supports(signature: Any) -> bool | str:
    return _ok(_mm_check(signature))


def host_supports(signature: Any) -> bool | str:
    return _ok(_mm_check(signature))


def tiled_supports(signature: Any) -> bool | str:
    c = _mm_check(signature)
    if isinstance(c, str):
        return c
    dev = _device(signature)
    if dev is not None:
        why = K.tiled_fits(dev, c[1].itemsize)
        if why is not None:
            return f"the tiled kernel does not fit {dev.name}: {why}"
    return True


def naive_far(profile: Any, k: int, n: int, itemsize: int) -> bool:
    """Whether the naive kernel's walk down B's columns misses the cache: on a GPU when B (k×n) is larger
    than the cache; on a CPU when B's rows are a multiple of 2 KiB apart (every step down a column
    lands in the same cache sets, which thrash: 2-4× slower than any other row length)."""
    if _geom(profile).is_gpu:
        return k * n * itemsize > _fig(profile, "cache_bytes", 1 << 20)
    row = n * itemsize
    return row >= _ALIAS and row % _ALIAS == 0


def naive_parallel(profile: Any, outputs: int, batch: int) -> float:
    """The fraction of compute units the naive kernel's work-groups fill (``outputs`` per product)."""
    g = _geom(profile)
    groups = batch * -(-outputs // g.local_size)
    return min(1.0, groups / g.compute_units)


def naive_matmul_cost(signature: Any, profile: Any) -> float:
    c = _mm_check(signature)
    if isinstance(c, str):
        return math.inf
    (batch, m, k, n), dt = c
    outputs = batch * m * n
    if outputs == 0:
        return 0.0
    if k == 0:
        return launch_time(profile)
    isz = dt.itemsize
    bw = _fig(profile, "naive_bandwidth_far" if naive_far(profile, k, n, isz) else "naive_bandwidth", 1e10)
    body = outputs * _fig(profile, "naive_output_time", 3e-9) + outputs * k * isz / bw
    fixed = _fig(profile, "naive_latency", 3 * profile.launch_latency)
    return fixed + body / naive_parallel(profile, m * n, batch)


def tiled_matmul_cost(signature: Any, profile: Any) -> float:
    c = _mm_check(signature)
    if isinstance(c, str):
        return math.inf
    (batch, m, k, n), dt = c
    if batch * m * n == 0:
        return 0.0
    if k == 0:
        return launch_time(profile)
    g = _geom(profile)
    TM, TN, TK = (K._TILES_GPU if g.is_gpu else K._TILES_CPU)[:3]
    fixed = _fig(profile, "gemm_latency", 3 * profile.launch_latency)
    # fewer tiles than compute units leave the rest idle
    fill = min(1.0, batch * -(-m // TM) * -(-n // TN) / g.compute_units)
    return fixed + gemm_time(profile, K._round_up(m, TM), K._round_up(k, TK), K._round_up(n, TN), batch=batch,
                             itemsize=dt.itemsize, launches=0) / fill


def _host_profile(profile: Any) -> Any:
    host = getattr(profile, "host", None)
    if host is None:
        from ...core.device import get_backend

        host = get_backend("cpu").profile
    return host


def host_matmul_cost(signature: Any, profile: Any) -> float:
    c = _mm_check(signature)
    if isinstance(c, str):
        return math.inf
    (batch, m, k, n), dt = c
    isz = dt.itemsize
    a, b = signature.shapes
    nbytes = isz * (math.prod(a) + math.prod(b) + batch * m * n)
    bw = float(getattr(profile, "host_bandwidth", math.inf))
    copies = 3 * _fig(profile, "transfer_latency", profile.launch_latency)
    copies += 0.0 if math.isinf(bw) else nbytes / bw
    hp = _host_profile(profile)
    fixed = _fig(hp, "gemm_latency", hp.launch_latency)
    if batch * m * n * k == 0:
        return copies + fixed
    if dt.kind == "f":
        return copies + fixed + gemm_time(hp, m, k, n, batch=batch, itemsize=isz, launches=0)
    return copies + fixed + 2.0 * batch * m * k * n / (HOST_INT_FRACTION * float(hp.peak_flops))


def _matmul_forward(algorithm: str) -> Any:
    def forward(xp: Any, x1: Any, x2: Any, /) -> Any:
        return cx._matmul(x1, x2, algorithm)
    forward.__name__ = f"matmul_{algorithm}"
    forward.__doc__ = f"``x1 @ x2`` on OpenCL by the {algorithm} algorithm (namespace.matmul's semantics)."
    return forward


# ================================================================ reductions


def reduce_geometry(signature: Any) -> tuple[int, int] | str:
    """``(outputs, reduced extent)`` of a reduction signature, or why it is none."""
    if len(signature.shapes) != 1:
        return "a reduction takes one array"
    shape = signature.shapes[0]
    try:
        axes = cx._axes(signature.params.get("axis"), len(shape))
    except (ValueError, TypeError) as exc:
        return str(exc)
    m = math.prod(n for d, n in enumerate(shape) if d not in axes)
    return m, math.prod(shape[d] for d in axes)


def _red_check(signature: Any) -> tuple[int, int] | str:
    geo = reduce_geometry(signature)
    if isinstance(geo, str):
        return geo
    dt = _dtype(signature)
    if isinstance(dt, str):
        return dt
    return geo


def single_pass_supports(signature: Any) -> bool | str:
    return _ok(_red_check(signature))


def two_stage_supports(signature: Any) -> bool | str:
    c = _red_check(signature)
    if isinstance(c, str):
        return c
    m, k = c
    if m == 0 or k == 0:
        return "an empty reduction has nothing to split (one pass writes the identity)"
    return True


def _lanes_time(profile: Any, outputs: int, elements: int) -> float:
    """Seconds for one work-item per output to walk ``elements`` in all, over min(outputs, lanes) lanes."""
    lanes = min(float(outputs), _fig(profile, "reduce_lanes", 1.0))
    return elements / (_fig(profile, "reduce_lane_rate", 1.5e9) * max(lanes, 1e-9))


def single_pass_cost(signature: Any, profile: Any) -> float:
    c = _red_check(signature)
    if isinstance(c, str):
        return math.inf
    m, k = c
    if m == 0:
        return 0.0
    walk = _lanes_time(profile, m, m * k)
    return _fig(profile, "reduce_latency", 2 * profile.launch_latency) + \
        max(walk, memory_time(profile, m * k * signature.itemsize))


def two_stage_cost(signature: Any, profile: Any) -> float:
    c = _red_check(signature)
    if isinstance(c, str):
        return math.inf
    m, k = c
    if m == 0 or k == 0:
        return single_pass_cost(signature, profile)
    g = _geom(profile)
    groups = K.reduce_groups(g, m, k)
    fill = min(1.0, m * groups / g.compute_units)
    first = max(m * k / (_fig(profile, "reduce_rate", 3e9) * fill),
                memory_time(profile, m * k * signature.itemsize))
    first += m * groups * _fig(profile, "workgroup_time", 3e-7)
    second = _lanes_time(profile, m, m * groups)
    return 2 * _fig(profile, "reduce_latency", 2 * profile.launch_latency) + first + second


def _reduce_forward(op: str, stage: str) -> Any:
    if op in ("sum", "prod"):
        def forward(xp: Any, x: Any, /, *, axis: Any = None, dtype: Any = None,
                    keepdims: bool = False) -> Any:
            dt = cx._sum_dtype(x, dtype)
            return cx._reduce(x, axis, keepdims, op, dt, dt, stage=stage)
    elif op in ("max", "min"):
        def forward(xp: Any, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:  # type: ignore[misc]
            cx._nonempty(x, axis, op)
            return cx._reduce(x, axis, keepdims, op, x._dtype, x._dtype, stage=stage)
    else:   # mean
        def forward(xp: Any, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:  # type: ignore[misc]
            dt = cx._float_of(x)
            return cx._reduce(x, axis, keepdims, "sum", dt, dt, final="acc / cnt", stage=stage)
    forward.__name__ = f"{op}_{stage.replace('-', '_')}"
    forward.__doc__ = f"``{op}`` on OpenCL, {stage} (namespace.{op}'s semantics)."
    return forward


# ================================================================ the kernels


def kernels() -> list[Kernel]:
    """matmul: naive, tiled (the default), host; the reductions: single-pass (the default), two-stage.

    The defaults (what ``wisdom-only`` planning runs without wisdom) are what the
    old fixed heuristics picked most often: the tiled product, and one pass per
    output (most reductions in a model have many outputs: per-row softmax and
    norms, bias gradients summed over the batch).
    """
    out = [Kernel("matmul", "opencl", _matmul_forward("naive"), name="naive", supports=naive_supports,
                  cost=naive_matmul_cost),
           Kernel("matmul", "opencl", _matmul_forward("tiled"), name="tiled", supports=tiled_supports,
                  cost=tiled_matmul_cost, default=True),
           Kernel("matmul", "opencl", _matmul_forward("host"), name="host", supports=host_supports,
                  cost=host_matmul_cost, transfers=True)]
    for op in REDUCTIONS:
        out += [Kernel(op, "opencl", _reduce_forward(op, "single"), name="single-pass",
                       supports=single_pass_supports, cost=single_pass_cost, default=True),
                Kernel(op, "opencl", _reduce_forward(op, "two-stage"), name="two-stage",
                       supports=two_stage_supports, cost=two_stage_cost)]
    return out
