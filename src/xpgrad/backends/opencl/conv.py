"""conv2d on OpenCL: three algorithms in OpenCL C, each a dispatcher :class:`Kernel` with a cost model.

* ``direct``: one kernel. A work-item computes one output position for a block
  of up to 16 output channels (``OB``), walking C/groups × kh × kw and reading
  ``x`` with zero padding by bounds checks (no padded copy); each load of x
  feeds OB FMAs. Along the SIMD dimension lie the output positions of all
  images, so a weight gradient's tiny (kh × kw) outputs still fill the vector,
  and the weights are the same for every lane. Every geometry, every real
  dtype (float and integer).
* ``im2col``: a kernel writes the (N, G, C/G·kh·kw, Ho·Wo) column buffer (zero
  padding by bounds checks, writes along output rows), then one batched GEMM
  (``kernels.matmul``) of w as (G, O/G, C/G·kh·kw), broadcast over N, viewed as
  (N, O, Ho, Wo). Where O/G is below ``kernels.matmul``'s tiling threshold (32
  rows) the weight matrix gets zero rows up to a whole tile, so that the
  product runs tiled (~20× the naive kernel's rate), and the result is
  cropped. Every geometry, every real dtype. The default kernel.
* ``winograd``: F(2×2, 3×3) (Lavin & Gray, 2015) for 3×3 kernels with stride 1
  and dilation 1, any padding and groups, float32/float64: an input transform
  (4×4 tiles → 16 matrices V of (C/G, P) per group, P = N·tilesH·tilesW), a
  filter transform (16 matrices U of (O/G, C/G) per group, zero rows as
  im2col's), 16·G batched GEMMs, an output transform writing (N, O, Ho, Wo)
  with the edge tiles cropped. The transforms round differently from a direct
  sum (F(2×2, 3×3)'s are mild: factors ½ and sums of up to 4 terms); in float32
  the error measured on unit-scale data stays below 1e-6 of the output's largest
  magnitude (C up to 256), the direct sum's is ~2e-6; the tests allow Winograd
  5e-5, the others 1e-5.

Inputs may have any strides and offset (transposed, flipped, sliced or
broadcast views, as the VJPs pass): every kernel reads them through their
strides and never copies them (im2col copies w only where its rows are padded
or it cannot be viewed as a matrix). Scalar kernel arguments are declared
once per kernel (``set_scalar_arg_dtypes``), so a launch costs ~8 µs rather
than pyopencl's generic ~100 µs for some twenty arguments.

Running out of device memory or resources (pyopencl's ``MemoryError``,
``OUT_OF_RESOURCES``, ``MEM_OBJECT_ALLOCATION_FAILURE``, a buffer beyond the
device's largest allocation) raises :class:`~xpgrad.core.errors.OutOfResourcesError`
naming the kernel, the shapes and what ran out, so the dispatcher hands the
call to the next kernel. Invalid geometry is declined in ``supports`` (the
generic forward then raises the standard error).

Cost models (seconds, from the device profile, with the core helpers):

* direct (:func:`direct_cost`): per SIMD lane, C/G·kh·(_ROW + kw·(_LOAD + OB))
  FMA-equivalents (a bounds-checked gather of x ≈ 10 FMAs, a kernel row ≈ 60:
  fitted to timings), at ``conv_direct_efficiency`` × ``peak_flops`` (default
  1.35: its FMAs run faster than the tiled GEMM's, from which the peak is
  calibrated; :func:`calibrate_direct` measures it); lanes counted with the
  padding of the channel block and of the work-group; fewer work-groups than
  2 × ``compute_units`` leave the device partly idle; a SIMD vector spanning
  several images (outputs of fewer than 8 positions, a weight gradient's) makes
  its loads dearer; the traffic of x, w and the output as a floor; one launch.
* im2col (:func:`im2col_cost`): the im2col pass (10 operations per buffer
  element at :func:`compute_time`'s vector rate, or its traffic), the GEMM
  as ``kernels.matmul`` runs it (:func:`_matmul_time`: tiled, ``gemm_time``
  of the tile-rounded shape plus ``matmul_overhead`` launches; naive,
  FLOPs at ``matmul_naive_efficiency`` of peak), and where rows are padded
  the padded weight matrix and the crop.
* winograd (:func:`winograd_cost`): input transform (7 operations per element
  of V), filter transform, 16·G GEMMs of (O/G × C/G)·(C/G × P) priced as
  above, output transform (11 operations per element of M).

Profile attributes read beyond the core ones (each with a default):
``conv_direct_efficiency`` (1.35), ``matmul_overhead`` (3 launches),
``matmul_naive_efficiency`` (0.02), ``compute_units`` (the device's, else 8),
and through the core helpers ``gemm_half`` and ``vector_efficiency``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.dispatch import Kernel, compute_time, gemm_time, launch_time, memory_time, peak_rate
from ...core.errors import OutOfResourcesError
from . import kernels as K

__all__ = ["kernels", "direct", "im2col", "winograd", "direct_cost", "im2col_cost", "winograd_cost",
           "direct_supports", "im2col_supports", "winograd_supports", "calibrate_direct"]

_FLOATS = ("float32", "float64")
_INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


# ================================================================ helpers


def _geometry(x_shape: Any, w_shape: Any, params: dict) -> Any:
    from ...ops.nn import conv2d_geometry

    return conv2d_geometry(tuple(x_shape), tuple(w_shape), **params)


def _check_call(signature: Any, dtypes: tuple[str, ...]) -> Any:
    """The geometry of a supported call, or the reason (a string) it is not supported."""
    shapes = tuple(signature.shapes)
    if len(shapes) != 2:
        return f"conv2d takes two arrays (x, w), got {len(shapes)} operands"
    dx, dw = signature.dtypes
    if dx != dw:
        return f"x is {dx} and w is {dw}: mixed dtypes are left to the generic forward (it promotes)"
    if dx not in dtypes:
        return f"dtype {dx} is not handled (handles {', '.join(dtypes)})"
    try:
        geo = _geometry(shapes[0], shapes[1], dict(signature.params))
    except (ValueError, TypeError) as exc:
        return f"invalid conv2d call ({exc}); the generic forward reports it"
    if dx == "float64":
        dev = _device_of(signature)
        if dev is not None and not dev.fp64:
            return f"{dev.name} has no float64 support"
    if 0 in shapes[0] or 0 in shapes[1]:
        return "an empty operand: the generic forward handles it"
    return geo


def _device_of(signature: Any) -> Any:
    try:
        from .device import get_device

        return get_device(signature.device)
    except Exception:  # noqa: BLE001 - a signature of another device, or no OpenCL here
        return None


def _guarded(kernel: str) -> Any:
    """The forward rule ``fn`` with pyopencl's out-of-memory / out-of-resources failures raised as
    :class:`OutOfResourcesError` (which the dispatcher answers by trying the next kernel)."""
    def wrap(fn: Any) -> Any:
        def forward(xp: Any, x: Any, w: Any, /, **params: Any) -> Any:
            if getattr(x, "_dev", None) is not getattr(w, "_dev", None):
                raise ValueError(f"conv2d: x and w live on different devices ({x.device} and {w.device})")
            with K.resource_errors(lambda: f"conv2d ({kernel}) on {x._dev.name}: x {tuple(x.shape)}, "
                                           f"w {tuple(w.shape)} {x.dtype}"):
                return fn(xp, x, w, **params)
        forward.__name__ = forward.__qualname__ = kernel
        forward.__doc__ = fn.__doc__
        forward.__wrapped__ = fn
        return forward
    return wrap


def _check_alloc(kernel: str, dev: Any, x: Any, w: Any, nbytes: int, what: str) -> None:
    limit = int(getattr(dev.cl_device, "max_mem_alloc_size", 0) or 0)
    if limit and nbytes > limit:
        raise OutOfResourcesError(
            f"conv2d ({kernel}) on {dev.name}: x {tuple(x.shape)}, w {tuple(w.shape)} {x.dtype}: {what} "
            f"needs {nbytes / 2**20:.0f} MiB in one buffer, the device allows {limit / 2**20:.0f} MiB")


def _launch(dev: Any, key: tuple, source: Any, name: str, gsize: tuple, lsize: tuple, *args: Any) -> None:
    """Run kernel ``name`` of program ``source()`` (compiled once per ``key``) over ``gsize``.

    The kernel's scalar argument types are declared once (from the NumPy scalars
    passed), so pyopencl packs them directly: untyped, each launch of a kernel
    with some twenty scalar arguments costs ~100 µs on a CPU runtime, typed ~8 µs.
    """
    knl = dev.kernel(key, source, name)
    if _TYPED.get(id(knl)) is not knl:
        knl.set_scalar_arg_dtypes([a.dtype if isinstance(a, np.generic) else None for a in args])
        _TYPED[id(knl)] = knl
    knl(dev.queue, gsize, lsize, *args)


_TYPED: dict[int, Any] = {}


def _row_group(dev: Any, wo: int, rows: int, items: int = 1024) -> tuple[int, int]:
    """A work-group over output rows: whole SIMD vectors (16 floats) along a row (up to 64) and
    rows enough for about ``items`` work-items: CPU runtimes pay per work-group, ~20 ns each."""
    items = min(items, dev.max_work_group)
    lx = min(64, K._round_up(wo, 16), items)
    return lx, max(1, min(rows, items // lx))


def _group(dev: Any, n: int) -> int:
    """Work-items per group of a 1-D range of ``n``: whole SIMD vectors, up to ``_LSZ``."""
    return max(1, min(_LSZ, dev.max_work_group, K._round_up(n, 16)))


def _strides(a: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in a._strides)


def _ix(*arrays: Any, extra: int = 0) -> tuple[str, Any]:

    I = K._idx(*arrays, extra=extra)
    return I, (np.int32 if I == "int" else np.int64)


def _reach_bytes(a: Any) -> int:
    """Elements a strided view can touch: its extent, for the index type's range."""
    return 1 + sum(abs(s) * (n - 1) for n, s in zip(a._shape, a._strides)) + a._offset


# ================================================================ direct

_OB = 16       # output channels per work-item (fewer when a group has fewer)
_LSZ = 256     # work-items per group along the output positions (CPU runtimes pay per group)


def _direct_source(T: str, I: str, OB: int) -> str:

    madd = "fma(v, wv, acc[j])" if T in ("float", "double") else "acc[j] + v * wv"
    return K._preamble(f"""
#define OB {OB}
__kernel void conv_direct(__global {T}* out,
                          __global const {T}* x, {I} xo, {I} sxn, {I} sxc, {I} sxh, {I} sxw,
                          __global const {T}* w, {I} wo, {I} swo, {I} swc, {I} swh, {I} sww,
                          int Cg, int H, int W, int KH, int KW, int Ho, int Wo, int Og, int G, {I} NL,
                          int sh, int sw, int ph, int pw, int dh, int dw) {{
    /* work-items: (n·Ho·Wo + oh·Wo + ow, block of OB output channels, group); along dimension 0
       (a SIMD vector on a CPU) the output positions of every image, so that small outputs (a
       weight gradient's kh × kw) still fill the vector, and the weights are the same for all */
    {I} q = get_global_id(0);
    int ob = get_global_id(1);
    int g = get_global_id(2);
    if (q >= NL) return;
    {I} L = ({I})Ho * Wo;
    {I} n = q / L;
    int l = (int)(q - n * L);
    int oh = l / Wo, ow = l - (l / Wo) * Wo;
    {I} ng = n * G + g;
    int oc0 = ob * OB;                       /* first channel of the block, within the group */
    {T} acc[OB];
    for (int j = 0; j < OB; ++j) acc[j] = 0;
    int ih0 = oh * sh - ph, iw0 = ow * sw - pw;
    __global const {T}* xg = x + xo + n * sxn + ({I})(g * Cg) * sxc;
    {I} wrow[OB];
    for (int j = 0; j < OB; ++j) {{             /* a last partial block reads its last channel again */
        int o = oc0 + j < Og ? oc0 + j : Og - 1;
        wrow[j] = wo + ({I})(g * Og + o) * swo;
    }}
    for (int c = 0; c < Cg; ++c) {{
        __global const {T}* xc = xg + ({I})c * sxc;
        for (int ky = 0; ky < KH; ++ky) {{
            int ih = ih0 + ky * dh;
            if (ih < 0 || ih >= H) continue;
            __global const {T}* xr = xc + ({I})ih * sxh;
            {I} wk = ({I})c * swc + ({I})ky * swh;
            for (int kx = 0; kx < KW; ++kx) {{
                int iw = iw0 + kx * dw;
                {T} v = (iw >= 0 && iw < W) ? xr[({I})iw * sxw] : ({T})0;
                {I} wq = wk + ({I})kx * sww;
                for (int j = 0; j < OB; ++j) {{ {T} wv = w[wrow[j] + wq]; acc[j] = {madd}; }}
            }}
        }}
    }}
    __global {T}* op = out + (ng * Og + oc0) * L + l;
    for (int j = 0; j < OB; ++j) if (oc0 + j < Og) op[({I})j * L] = acc[j];
}}
""")


@_guarded("direct")
def direct(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Any:
    """conv2d by one direct OpenCL kernel (see the module docstring)."""
    from .array import empty

    geo = _geometry(x.shape, w.shape, dict(stride=stride, padding=padding, dilation=dilation, groups=groups))
    dev = x._dev
    (n, _, h, wd), (o, cg, kh, kw), (ho, wo) = x.shape, w.shape, geo.out
    G = geo.groups
    og = o // G
    out = empty((n, o, ho, wo), x._dtype, dev)
    if out.size == 0:
        return out
    OB = _direct_ob(og)
    nob = -(-og // OB)
    L = ho * wo
    I, npI = _ix(x, w, out, extra=max(_reach_bytes(x), _reach_bytes(w), out.size))
    T = K.ctype(x._dtype)
    lsz = _direct_group(n * L, nob * G, dev.compute_units, dev.max_work_group)
    (sh, sw), (ph, pw), (dh, dw) = geo.stride, geo.padding, geo.dilation
    _launch(dev, ("conv_direct", T, I, OB), lambda: _direct_source(T, I, OB), "conv_direct",
            (K._round_up(n * L, lsz), nob, G), (lsz, 1, 1), out._buf,
            x._buf, npI(x._offset), *map(npI, _strides(x)), w._buf, npI(w._offset), *map(npI, _strides(w)),
            *map(np.int32, (cg, h, wd, kh, kw, ho, wo, og, G)), npI(n * L),
            *map(np.int32, (sh, sw, ph, pw, dh, dw)))
    return out


def _direct_group(nl: int, blocks: int, cu: int, limit: int = 1 << 30) -> int:
    """Work-items per group of the direct kernel: up to ``_LSZ`` output positions, fewer (down to
    one SIMD vector of 16) when that leaves fewer than two work-groups per compute unit."""
    lsz = max(1, min(_LSZ, limit, K._round_up(nl, 16)))
    while lsz > 16 and blocks * -(-nl // lsz) < 2 * cu:
        lsz = max(16, K._round_up(lsz // 2, 16))
    return lsz


def _direct_ob(og: int) -> int:
    return min(_OB, 1 << max(0, (og - 1).bit_length()))


def direct_supports(signature: Any) -> Any:
    geo = _check_call(signature, _FLOATS + _INTS)
    return True if not isinstance(geo, str) else geo


def direct_cost(signature: Any, profile: Any) -> float:
    """One launch; per lane (an output position, for a block of OB channels), C/G steps of kh rows
    of kw taps, each one bounds-checked load of x and OB FMAs.

    A load costs about ``_LOAD`` FMAs, a row ``_ROW`` and a channel ``_CHANNEL``
    (bounds checks, pointer arithmetic; fitted to timings), and FMAs run at
    ``conv_direct_efficiency`` of peak (default 1.35, :func:`calibrate_direct`):
    with 16-channel blocks and 3×3 taps the kernel reaches ~55 % of the tiled
    GEMM's peak, with single channels ~6 %. Channels padded up to the block
    and lanes up to the work-group count; fewer work-groups than twice the
    compute units leave the device partly idle.
    """
    (n, c, h, w), (o, cg, kh, kw) = signature.shapes
    geo = _geometry(signature.shapes[0], signature.shapes[1], dict(signature.params))
    G, (ho, wo) = geo.groups, geo.out
    isz = signature.itemsize
    og = o // G
    OB = _direct_ob(og)
    nob = -(-og // OB)
    NL = n * ho * wo
    cu = _compute_units(profile)
    lsz = _direct_group(NL, nob * G, cu)
    lanes = G * nob * K._round_up(NL, lsz)
    # A SIMD vector (64 bytes) spans 64/isz/L images when an image has L < that many outputs (a weight
    # gradient's 1×1 output): its gathers then touch as many distant cache lines, ~half a load each.
    scatter = max(1.0, 64 / isz / (2.0 * ho * wo))
    steps = cg * (_CHANNEL + kh * (_ROW + kw * (_LOAD * scatter + OB)))
    eff = float(getattr(profile, "conv_direct_efficiency", 1.35))
    fill = min(1.0, (lanes / lsz) / (2.0 * cu))
    nbytes = isz * (n * c * h * w + o * cg * kh * kw + n * o * ho * wo)
    compute = 2.0 * lanes * steps / (peak_rate(profile, isz) * eff * fill)
    return max(compute, memory_time(profile, nbytes)) + launch_time(profile, 1)


# the direct kernel's overheads in FMAs of one lane (fitted to timings on a CPU runtime)
_LOAD, _ROW, _CHANNEL = 10.0, 60.0, 0.0


def _compute_units(profile: Any) -> int:
    dev = getattr(profile, "device", None)
    return int(getattr(dev, "compute_units", 0) or getattr(profile, "compute_units", 0) or 8)


def _pass_time(profile: Any, elements: float, ops: float, nbytes: float, isz: int) -> float:
    """One launch of a data-movement kernel (im2col, a Winograd transform, a copy): ``ops``
    operations per element (index arithmetic, bounds checks, gathers) at the vector rate
    (:func:`compute_time`), or its traffic, whichever is slower."""
    return compute_time(profile, ops * elements, nbytes, itemsize=isz, launches=1)


# ================================================================ the GEMM as kernels.matmul runs it


def _tiles(dev: Any) -> tuple[int, int, int]:
    """(TM, TN, TK) of ``kernels.matmul``'s tiled kernel on ``dev`` (a CPU's when unknown)."""

    fn = getattr(K, "matmul_tiles", None)
    if dev is not None and callable(fn):
        return tuple(fn(dev)[:3])
    tiles = K._TILES_GPU if getattr(dev, "is_gpu", False) else K._TILES_CPU
    return tuple(tiles[:3])


def _tiled(m: int, k: int, n: int) -> bool:
    """Whether ``kernels.matmul`` runs its tiled kernel (else one work-item per element of C)."""
    return m >= 32 and n >= 32 and m * n * k >= 64 ** 3


def _gemm_rows(m: int, k: int, n: int, dev: Any = None) -> int:
    """Rows the GEMM computes: ``m``, or m rounded up to the tile height where zero rows make
    ``kernels.matmul`` tile the product (its tiles compute those rows anyway; a whole tile also
    spares its loads their bounds checks)."""
    if _tiled(m, k, n) or m < 4 or not _tiled(32, k, n):
        return m
    return max(32, K._round_up(m, _tiles(dev)[0]))


def _matmul_time(profile: Any, m: int, k: int, n: int, batch: int, isz: int) -> float:
    """``kernels.matmul`` of ``batch`` (m×k)(k×n) products, ``m`` padded as :func:`_gemm_rows` does.

    Tiled: :func:`gemm_time` of the tile-rounded shape (the tiles compute the
    padding too), with ``matmul_overhead`` launches of fixed cost (its Python
    side and argument packing: 3 by default). Naive: the FLOPs at
    ``matmul_naive_efficiency`` of peak (default 0.02: one work-item per
    element, gathers along k).
    """
    dev = getattr(profile, "device", None)
    launches = float(getattr(profile, "matmul_overhead", 3.0))
    mp = _gemm_rows(m, k, n, dev)
    if _tiled(mp, k, n):
        TM, TN, TK = _tiles(dev)
        return gemm_time(profile, K._round_up(mp, TM), K._round_up(k, TK), K._round_up(n, TN), batch=batch,
                         itemsize=isz, launches=0) + launch_time(profile, launches)
    eff = float(getattr(profile, "matmul_naive_efficiency", 0.02))
    flops = 2.0 * m * k * n * batch
    traffic = memory_time(profile, isz * batch * (m * k + k * n + m * n))
    return max(flops / (peak_rate(profile, isz) * eff), traffic) + launch_time(profile, launches)


# ================================================================ im2col


def _im2col_source(T: str, I: str, unit: bool = False) -> str:

    return K._preamble(f"""
#define UNIT {int(unit)}
__kernel void im2col(__global {T}* cols, __global const {T}* x, {I} xo, {I} sxn, {I} sxc, {I} sxh, {I} sxw,
                     int Cg, int H, int W, int KH, int KW, int Ho, int Wo, int G,
                     int sh, int sw, int ph, int pw, int dh, int dw) {{
    /* one work-item per element of the buffer, in its order: along dimension 0 the output column
       ow, so that neighbouring work-items (one SIMD vector on a CPU) write neighbouring elements
       and read neighbouring ones (unit strides: one vector load); no per-work-item division */
    int ow = get_global_id(0);
    {I} r = get_global_id(1);             /* kc·Ho + oh */
    {I} ng = get_global_id(2);
    {I} Kc = ({I})Cg * KH * KW;
    if (ow >= Wo || r >= Kc * Ho) return;
    int oh = (int)(r % Ho); {I} kc = r / Ho;
    int kx = (int)(kc % KW); {I} t = kc / KW; int ky = (int)(t % KH); int c = (int)(t / KH);
    int g = (int)(ng % G);
    {I} n = ng / G;
    int ih = oh * sh - ph + ky * dh;
#if UNIT
    int iw = ow - pw + kx * dw;
    __global const {T}* xr = x + xo + n * sxn + ({I})(g * Cg + c) * sxc + ({I})ih * sxh;
    {T} v = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xr[iw] : ({T})0;
#else
    int iw = ow * sw - pw + kx * dw;
    {T} v = 0;
    if (ih >= 0 && ih < H && iw >= 0 && iw < W)
        v = x[xo + n * sxn + ({I})(g * Cg + c) * sxc + ({I})ih * sxh + ({I})iw * sxw];
#endif
    cols[(ng * Kc + kc) * (({I})Ho * Wo) + ({I})oh * Wo + ow] = v;
}}

/* w (O, C/G, kh, kw), any strides, as the GEMM's (G, Mp, C/G·kh·kw), rows Og..Mp-1 of each group zero */
__kernel void wmat(__global {T}* a, __global const {T}* w, {I} wo, {I} swo, {I} swc, {I} swh, {I} sww,
                   int Cg, int KH, int KW, int Og, int Mp, {I} total) {{
    {I} i = get_global_id(0);
    if (i >= total) return;
    {I} Kc = ({I})Cg * KH * KW;
    {I} kc = i % Kc, r = i / Kc;
    int row = (int)(r % Mp), g = (int)(r / Mp);
    {T} v = 0;
    if (row < Og) {{
        int kx = (int)(kc % KW); {I} t = kc / KW; int ky = (int)(t % KH); int c = (int)(t / KH);
        v = w[wo + ({I})(g * Og + row) * swo + ({I})c * swc + ({I})ky * swh + ({I})kx * sww];
    }}
    a[i] = v;
}}
""")


@_guarded("im2col")
def im2col(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Any:
    """conv2d by an im2col kernel and one batched GEMM (see the module docstring)."""
    from . import namespace as ns
    from .array import empty

    geo = _geometry(x.shape, w.shape, dict(stride=stride, padding=padding, dilation=dilation, groups=groups))
    dev = x._dev
    (n, _, h, wd), (o, cg, kh, kw), (ho, wo) = x.shape, w.shape, geo.out
    G = geo.groups
    kc, L = cg * kh * kw, ho * wo
    if n * o * L == 0:
        return empty((n, o, ho, wo), x._dtype, dev)
    _check_alloc("im2col", dev, x, w, n * G * kc * L * x._dtype.itemsize, "the column buffer")
    cols = empty((n, G, kc, L), x._dtype, dev)
    I, npI = _ix(x, cols, extra=_reach_bytes(x))
    T = K.ctype(x._dtype)
    (sh, sw), (ph, pw), (dh, dw) = geo.stride, geo.padding, geo.dilation
    lx, ly = _row_group(dev, wo, kc * ho)
    unit = sw == 1 and x._strides[3] == 1
    _launch(dev, ("conv_im2col", T, I, unit), lambda: _im2col_source(T, I, unit), "im2col",
            (K._round_up(wo, lx), K._round_up(kc * ho, ly), n * G), (lx, ly, 1), cols._buf,
            x._buf, npI(x._offset), *map(npI, _strides(x)),
            *map(np.int32, (cg, h, wd, kh, kw, ho, wo, G, sh, sw, ph, pw, dh, dw)))
    og = o // G
    mp = _gemm_rows(og, kc, L, dev)
    wm = ns.reshape(w, (G, og, kc)) if mp == og and _w_viewable(w) else None
    if wm is None:   # a copy, with zero rows up to the tiled GEMM's threshold (its tiles compute them anyway)
        wm = empty((G, mp, kc), x._dtype, dev)
        Iw, npIw = _ix(w, wm, extra=_reach_bytes(w))
        g64 = _group(dev, 64)
        _launch(dev, ("conv_im2col", T, Iw, False), lambda: _im2col_source(T, Iw), "wmat",
                (K._round_up(wm.size, g64),), (g64,), wm._buf, w._buf, npIw(w._offset),
                *map(npIw, _strides(w)),
                *map(np.int32, (cg, kh, kw, og, mp)), npIw(wm.size))
    out = K.matmul(dev, wm, cols, x._dtype)          # (N, G, mp, L)
    if mp != og:
        out = out[:, :, :og, :]
    return ns.reshape(out, (n, o, ho, wo))


def _w_viewable(w: Any) -> bool:
    """Whether w's last three axes merge into one without a copy (C-contiguous within each filter)."""
    o, cg, kh, kw = w._shape
    st = w._strides
    want = [kh * kw, kw, 1]
    return all(n == 1 or s == e for n, s, e in zip((cg, kh, kw), st[1:], want))


def im2col_supports(signature: Any) -> Any:
    geo = _check_call(signature, _FLOATS + _INTS)
    return True if not isinstance(geo, str) else geo


def im2col_cost(signature: Any, profile: Any) -> float:
    """The im2col pass (about 8 operations per buffer element: index arithmetic, a bounds-checked
    gather), the GEMM as ``kernels.matmul`` runs it, and where the GEMM's rows are padded (or w is
    not viewable as a matrix) the padded weight matrix and the crop of the result."""
    (n, c, h, w), (o, cg, kh, kw) = signature.shapes
    geo = _geometry(signature.shapes[0], signature.shapes[1], dict(signature.params))
    G, (ho, wo) = geo.groups, geo.out
    isz = signature.itemsize
    og = o // G
    kc, L = cg * kh * kw, ho * wo
    cols = n * G * kc * L
    t = _pass_time(profile, cols, 10.0, isz * (n * c * h * w + cols), isz)
    t += _matmul_time(profile, og, kc, L, n * G, isz)
    mp = _gemm_rows(og, kc, L, getattr(profile, "device", None))
    layouts = tuple(getattr(signature, "layouts", ()) or ())
    if mp != og or (len(layouts) > 1 and layouts[1] not in ("C", "-")):
        t += _pass_time(profile, G * mp * kc, 8.0, isz * (o * kc + G * mp * kc), isz)
    if mp != og:
        t += _pass_time(profile, n * o * L, 4.0, 2 * isz * n * o * L, isz)
    return t


# ================================================================ winograd F(2×2, 3×3)


def _wino_source(T: str, I: str) -> str:

    return K._preamble(f"""
/* th = q / TW, tw = q % TW by a float reciprocal, corrected (SIMD units have no integer division) */
#define TILE_OF(q, th, tw) int th = (int)((float)(q) * inv_tw); \\
    while (th * TW > (q)) --th; \\
    while ((th + 1) * TW <= (q)) ++th; \\
    int tw = (q) - th * TW;

/* V = Bᵀ d B for each 4×4 input tile d (zero padding by bounds checks).
   V is (16, C, P): row xi·C + channel, column p = (n·TH + th)·TW + tw. Work-items:
   (th·TW + tw, n·C + ch): a SIMD vector of them covers neighbouring tiles of one image. */
__kernel void wino_in(__global {T}* V, __global const {T}* x, {I} xo, {I} sxn, {I} sxc, {I} sxh, {I} sxw,
                      int C, int H, int W, int ph, int pw, int TH, int TW, float inv_tw, {I} P) {{
    int q = get_global_id(0);
    {I} nc = get_global_id(1);
    if (q >= TH * TW) return;
    TILE_OF(q, th, tw)
    int ch = (int)(nc % C); {I} n = nc / C;
    {I} p = n * (TH * TW) + q;
    int h0 = 2 * th - ph, w0 = 2 * tw - pw;
    __global const {T}* xc = x + xo + n * sxn + ({I})ch * sxc;
    {T} d[4][4];
    for (int i = 0; i < 4; ++i) {{
        int ih = h0 + i;
        int okh = ih >= 0 && ih < H;
        for (int j = 0; j < 4; ++j) {{
            int iw = w0 + j;
            d[i][j] = (okh && iw >= 0 && iw < W) ? xc[({I})ih * sxh + ({I})iw * sxw] : ({T})0;
        }}
    }}
    {T} t[4][4];
    for (int j = 0; j < 4; ++j) {{
        t[0][j] = d[0][j] - d[2][j];
        t[1][j] = d[1][j] + d[2][j];
        t[2][j] = d[2][j] - d[1][j];
        t[3][j] = d[1][j] - d[3][j];
    }}
    __global {T}* v = V + ch * P + p;
    {I} step = ({I})C * P;
    for (int i = 0; i < 4; ++i) {{
        v[(4 * i + 0) * step] = t[i][0] - t[i][2];
        v[(4 * i + 1) * step] = t[i][1] + t[i][2];
        v[(4 * i + 2) * step] = t[i][2] - t[i][1];
        v[(4 * i + 3) * step] = t[i][1] - t[i][3];
    }}
}}

/* U = G g Gᵀ for each 3×3 filter g: U is (16, G, Mp, C/G), rows Og..Mp-1 of each group zero. */
__kernel void wino_filter(__global {T}* U, __global const {T}* w, {I} wo, {I} swo, {I} swc, {I} swh,
                          {I} sww, int G, int Og, int Mp, int Cg) {{
    {I} id = get_global_id(0);
    {I} step = ({I})G * Mp * Cg;
    if (id >= step) return;
    int c = (int)(id % Cg); {I} r = id / Cg; int row = (int)(r % Mp); int g = (int)(r / Mp);
    __global {T}* u = U + id;
    if (row >= Og) {{
        for (int i = 0; i < 16; ++i) u[i * step] = 0;
        return;
    }}
    __global const {T}* f = w + wo + ({I})(g * Og + row) * swo + ({I})c * swc;
    {T} g3[3][3];
    for (int i = 0; i < 3; ++i) for (int j = 0; j < 3; ++j) g3[i][j] = f[({I})i * swh + ({I})j * sww];
    {T} t[4][3];
    for (int j = 0; j < 3; ++j) {{
        t[0][j] = g3[0][j];
        t[1][j] = ({T})0.5 * (g3[0][j] + g3[1][j] + g3[2][j]);
        t[2][j] = ({T})0.5 * (g3[0][j] - g3[1][j] + g3[2][j]);
        t[3][j] = g3[2][j];
    }}
    for (int i = 0; i < 4; ++i) {{
        u[(4 * i + 0) * step] = t[i][0];
        u[(4 * i + 1) * step] = ({T})0.5 * (t[i][0] + t[i][1] + t[i][2]);
        u[(4 * i + 2) * step] = ({T})0.5 * (t[i][0] - t[i][1] + t[i][2]);
        u[(4 * i + 3) * step] = t[i][2];
    }}
}}

/* Y = Aᵀ m A for each tile's 16 products m (M is (16, G, Mp, P)), cropped to (Ho, Wo).
   Work-items: (th·TW + tw, n·O + o). */
__kernel void wino_out(__global {T}* out, __global const {T}* M, int G, int Og, int Mp, int TH, int TW,
                       float inv_tw, int Ho, int Wo, {I} P) {{
    int q = get_global_id(0);
    {I} no = get_global_id(1);
    if (q >= TH * TW) return;
    TILE_OF(q, th, tw)
    int O = G * Og;
    int o = (int)(no % O); {I} n = no / O;
    {I} p = n * (TH * TW) + q;
    __global const {T}* mp = M + (({I})(o / Og) * Mp + o % Og) * P + p;
    {I} step = ({I})G * Mp * P;
    {T} m[4][4];
    for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) m[i][j] = mp[(4 * i + j) * step];
    {T} t[2][4];
    for (int j = 0; j < 4; ++j) {{
        t[0][j] = m[0][j] + m[1][j] + m[2][j];
        t[1][j] = m[1][j] - m[2][j] - m[3][j];
    }}
    int oh = 2 * th, ow = 2 * tw;
    __global {T}* y = out + ((n * O + o) * Ho + oh) * ({I})Wo + ow;
    for (int i = 0; i < 2; ++i) {{
        if (oh + i >= Ho) break;
        y[({I})i * Wo] = t[i][0] + t[i][1] + t[i][2];
        if (ow + 1 < Wo) y[({I})i * Wo + 1] = t[i][1] - t[i][2] - t[i][3];
    }}
}}
""")


@_guarded("winograd")
def winograd(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
             groups: int = 1) -> Any:
    """conv2d by Winograd's F(2×2, 3×3) (see the module docstring)."""
    from .array import empty

    geo = _geometry(x.shape, w.shape, dict(stride=stride, padding=padding, dilation=dilation, groups=groups))
    why = _winograd_geometry(tuple(w.shape), geo)
    if why:
        raise ValueError(f"conv2d (winograd): {why}")
    dev = x._dev
    (n, c, h, wd), (o, cg, _, _), (ho, wo) = x.shape, w.shape, geo.out
    G, (ph, pw) = geo.groups, geo.padding
    og = o // G
    out = empty((n, o, ho, wo), x._dtype, dev)
    if out.size == 0:
        return out
    th, tw = -(-ho // 2), -(-wo // 2)
    P = n * th * tw
    mp = _gemm_rows(og, cg, P, dev)
    _check_alloc("winograd", dev, x, w, 16 * max(c, G * mp) * P * x._dtype.itemsize, "the transformed tiles")
    V = empty((16, G, cg, P), x._dtype, dev)
    U = empty((16, G, mp, cg), x._dtype, dev)
    I, npI = _ix(x, w, V, U, out, extra=max(_reach_bytes(x), _reach_bytes(w), 16 * max(c, G * mp) * P))
    T = K.ctype(x._dtype)
    src = lambda: _wino_source(T, I)  # noqa: E731
    key = ("conv_wino", T, I)
    lsz = _group(dev, th * tw)
    inv = np.float32(1.0 / tw)
    _launch(dev, key, src, "wino_in", (K._round_up(th * tw, lsz), n * c), (lsz, 1), V._buf,
            x._buf, npI(x._offset), *map(npI, _strides(x)),
            *map(np.int32, (c, h, wd, ph, pw, th, tw)), inv, npI(P))
    g64 = _group(dev, 64)
    _launch(dev, key, src, "wino_filter", (K._round_up(G * mp * cg, g64),), (g64,), U._buf,
            w._buf, npI(w._offset), *map(npI, _strides(w)), *map(np.int32, (G, og, mp, cg)))
    M = K.matmul(dev, U, V, x._dtype)                # (16, G, mp, P)
    _launch(dev, key, src, "wino_out", (K._round_up(th * tw, lsz), n * o), (lsz, 1), out._buf, M._buf,
            *map(np.int32, (G, og, mp, th, tw)), inv, np.int32(ho), np.int32(wo), npI(P))
    return out


def _winograd_geometry(w_shape: tuple, geo: Any) -> str:
    kh, kw = w_shape[2:]
    if (kh, kw) != (3, 3):
        return f"F(2×2, 3×3) needs a 3×3 kernel, not {kh}×{kw}"
    if geo.stride != (1, 1):
        return f"F(2×2, 3×3) needs stride 1, not {geo.stride}"
    if geo.dilation != (1, 1):
        return f"F(2×2, 3×3) needs dilation 1, not {geo.dilation}"
    return ""


def winograd_supports(signature: Any) -> Any:
    geo = _check_call(signature, _FLOATS)
    if isinstance(geo, str):
        return geo
    return _winograd_geometry(tuple(signature.shapes[1]), geo) or True


def winograd_cost(signature: Any, profile: Any) -> float:
    """Input transform (16·C·P elements of V written, ~5 operations each), filter transform,
    16·G GEMMs of (O/G × C/G)·(C/G × P) as ``kernels.matmul`` runs them, output transform
    (16·O·P elements of M read, ~8 operations each)."""
    (n, c, h, w), (o, cg, _, _) = signature.shapes
    geo = _geometry(signature.shapes[0], signature.shapes[1], dict(signature.params))
    G, (ho, wo) = geo.groups, geo.out
    isz = signature.itemsize
    og = o // G
    P = n * -(-ho // 2) * -(-wo // 2)
    mp = _gemm_rows(og, cg, P, getattr(profile, "device", None))
    v, m = 16 * c * P, 16 * G * mp * P
    t = _pass_time(profile, v, 7.0, isz * (n * c * h * w + v), isz)
    t += _pass_time(profile, 16 * G * mp * cg, 4.0, isz * (o * cg * 9 + 16 * G * mp * cg), isz)
    t += _matmul_time(profile, og, cg, P, 16 * G, isz)
    t += _pass_time(profile, m, 11.0, isz * (m + n * o * ho * wo), isz)
    return t


# ================================================================ calibration

# direct convolutions that calibrate_direct times: a forward 3×3 conv and a weight gradient's
_CALIBRATION = (((8, 64, 16, 16), (64, 64, 3, 3), {"padding": 1}), ((16, 8, 34, 34), (32, 8, 32, 32), {}))


def calibrate_direct(profile: Any, repeats: int = 5) -> float:
    """``conv_direct_efficiency`` for ``profile`` (whose peak and launch figures are calibrated
    already): the direct kernel timed on two convolutions (~10 ms in all on a CPU), against
    :func:`direct_cost` at efficiency 1; the geometric mean of the two ratios.

    >>> p.conv_direct_efficiency = calibrate_direct(p)        # doctest: +SKIP
    """
    import time
    from types import SimpleNamespace

    from . import namespace as ns

    dev = profile.device
    ratios = []
    for xs, ws, params in _CALIBRATION:
        x = ns.ones(xs, dtype=np.float32, device=dev)
        w = ns.ones(ws, dtype=np.float32, device=dev)
        direct(ns, x, w, **params)
        dev.queue.finish()
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            direct(ns, x, w, **params)
            dev.queue.finish()
            best = min(best, time.perf_counter() - t0)
        sig = SimpleNamespace(shapes=(xs, ws), dtypes=("float32", "float32"), params=params, itemsize=4)
        at_one = SimpleNamespace(**{k: getattr(profile, k) for k in ("peak_flops", "memory_bandwidth",
                                                                     "launch_latency")},
                                 conv_direct_efficiency=1.0, compute_units=_compute_units(profile))
        model = direct_cost(sig, at_one) - launch_time(profile, 1)
        ratios.append(model / max(best - launch_time(profile, 1), 1e-9))
    return float(np.exp(np.mean(np.log(ratios))))


# ================================================================ the kernels, for the plugin


def kernels() -> list[Kernel]:
    """conv2d on the ``opencl`` family: direct, im2col (the default) and Winograd F(2×2, 3×3)."""
    return [
        Kernel("conv2d", "opencl", direct, name="direct", supports=direct_supports, cost=direct_cost),
        Kernel("conv2d", "opencl", im2col, name="im2col", supports=im2col_supports, cost=im2col_cost,
               default=True),
        Kernel("conv2d", "opencl", winograd, name="winograd", supports=winograd_supports, cost=winograd_cost),
    ]
