"""``conv2d`` on NumPy by four algorithms, each a dispatcher kernel with its own cost model.

* ``direct``: one batched GEMM per kernel tap, ``w[:, :, i, j]`` times a shifted
  view of the input, summed. A strided input is split into its stride phases
  once (a polyphase copy), so every tap reads a contiguous window of a flattened
  phase: no per-tap copy, at the price of ``(kw − 1)·dw // sw`` junk columns per
  output row (cropped at the end).
* ``im2col`` (the default): one ``as_strided`` view of the padded input, one copy
  into columns, one batched GEMM (kh·kw·C/G deep).
* ``fft``: real FFTs of the input, the kernel's spectrum by two small DFT GEMMs,
  a per-frequency complex GEMM over channels, one inverse FFT; stride by
  subsampling the stride-1 result. Sizes are rounded up to 2·3·5-smooth lengths.
* ``winograd``: F(2×2, 3×3) (Lavin & Gray 2015) for 3×3 kernels at stride and
  dilation 1: 16 batched GEMMs over channels instead of 36 multiplications per
  2×2 output tile.

Each ``cost(signature, profile)`` prices what its forward does, step by step:
:func:`~xpgrad.core.dispatch.gemm_time` for each GEMM with its true m, k, n and
batch (plus the profile's ``gemm_latency`` per ``matmul`` call),
:func:`~xpgrad.core.dispatch.fft_time` for FFTs, and for each copy or
elementwise pass its memory traffic plus NumPy's cost per inner loop
(``loop_overhead``: a strided pass over rows of 8 elements costs several times
a contiguous one). The figures come from
:meth:`~xpgrad.backends.numpy.profile.NumpyProfile.calibrate`.

Large temporaries come from a per-thread scratch arena, reused from call to
call: on virtual machines a first touch of fresh pages costs about 1 µs per
4 KiB page, more than the arithmetic done on them. Results are always fresh arrays.

Accuracy: direct and im2col sum in another order than the generic forward (a
few ulps); FFT and Winograd round differently (about 1e-6 of the output's
largest magnitude in float32, 1e-14 in float64).
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ...core.dispatch import fft_time, gemm_time, launch_time, memory_time

__all__ = ["direct", "im2col", "fft", "winograd", "kernels", "KERNELS"]


def _nn() -> Any:
    """The op module (geometry checks); imported late, as ops load after backends."""
    from ...ops import nn

    return nn


# ================================================================ what a call is


class _Conv(NamedTuple):
    """A conv2d call's sizes, normalised: what both the forwards and the cost models read."""

    n: int
    c: int
    h: int
    w: int
    o: int
    cg: int
    kh: int
    kw: int
    ho: int
    wo: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    dtype: np.dtype      # the result's: what the generic forward's matmul promotes to

    @property
    def og(self) -> int:
        return self.o // self.groups

    @property
    def reach(self) -> tuple[int, int]:
        """Rows and columns one window spans (the dilated kernel)."""
        return (self.kh - 1) * self.dilation[0] + 1, (self.kw - 1) * self.dilation[1] + 1

    @property
    def empty(self) -> bool:
        return 0 in (self.n, self.o, self.cg, self.ho, self.wo)


def _dtype(d: Any) -> np.dtype:
    return np.dtype(getattr(d, "name", None) or str(d).rsplit(".", 1)[-1])


def _conv(x_shape: Any, w_shape: Any, dtypes: Any, params: dict) -> _Conv:
    """Validate through the op's own geometry check (same errors) and normalise."""
    geo = _nn().conv2d_geometry(x_shape, w_shape, **params)
    (n, c, h, w), (o, cg, kh, kw) = tuple(x_shape), tuple(w_shape)
    dt = np.result_type(*(_dtype(d) for d in dtypes))
    return _Conv(n, c, h, w, o, cg, kh, kw, *geo.out, geo.stride, geo.padding, geo.dilation, geo.groups, dt)


@functools.lru_cache(maxsize=512)
def _cached(x_shape: tuple, w_shape: tuple, x_dtype: Any, w_dtype: Any, stride: Any, padding: Any,
            dilation: Any, groups: Any) -> _Conv:
    return _conv(x_shape, w_shape, (x_dtype, w_dtype),
                 {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups})


def _call(x: Any, w: Any, stride: Any, padding: Any, dilation: Any, groups: Any) -> _Conv:
    """The sizes of a call on arrays: checked once per distinct call (the check costs microseconds)."""
    try:
        return _cached(x.shape, w.shape, x.dtype, w.dtype, stride, padding, dilation, groups)
    except TypeError:   # unhashable parameters (lists): check every time
        return _conv(x.shape, w.shape, (x.dtype, w.dtype),
                     {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups})


def _of(sig: Any) -> _Conv:
    return _conv(sig.shapes[0], sig.shapes[1], sig.dtypes[:2], dict(sig.params))


def _check(sig: Any, kinds: str) -> _Conv | str:
    """The call's sizes, or why a kernel taking dtype kinds ``kinds`` declines it."""
    if len(sig.shapes) != 2:
        return "conv2d takes two arrays"
    try:
        cv = _of(sig)
    except TypeError as exc:   # a parameter conv2d does not have
        return f"not a conv2d call: {exc}"
    except Exception as exc:  # noqa: BLE001 - invalid geometry: the generic forward raises the op's error
        return f"invalid conv2d call: {exc}"
    if cv.dtype.kind not in kinds:
        names = {"b": "bool", "i": "integer", "u": "integer", "f": "real floating", "c": "complex"}
        return f"does not handle {names.get(cv.dtype.kind, cv.dtype.name)} dtype {cv.dtype.name}"
    return cv


def _zeros(cv: _Conv) -> np.ndarray:
    return np.zeros((cv.n, cv.o, cv.ho, cv.wo), dtype=cv.dtype)


# ================================================================ scratch arena

_SCRATCH_MIN = 1 << 16      # smaller arrays come from NumPy's own cache or the heap
_SCRATCH_MAX = 1 << 26      # larger ones are rare enough to allocate each time
_SCRATCH_TOTAL = 1 << 27    # what one thread keeps at most, over all slots


class _Arena(threading.local):
    def __init__(self) -> None:
        self.slots: dict[str, np.ndarray] = {}


_ARENA = _Arena()


def _scratch(slot: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised temporary from this thread's reusable buffer ``slot`` (never return one).

    Each slot holds one buffer, grown as needed: live temporaries need distinct slots.
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if not _SCRATCH_MIN <= nbytes <= _SCRATCH_MAX:
        return np.empty(shape, dtype)
    buf = _ARENA.slots.get(slot)
    if buf is None or buf.nbytes < nbytes:
        kept = sum(b.nbytes for k, b in _ARENA.slots.items() if k != slot)
        if kept + nbytes > _SCRATCH_TOTAL:
            return np.empty(shape, dtype)
        buf = _ARENA.slots[slot] = np.empty(nbytes, np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def _fresh(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy that owns its memory: what a kernel returns when ``a`` may view scratch."""
    return np.array(a, order="C", copy=True)


def clear_scratch() -> None:
    """Release this thread's scratch buffers (they are kept for the next call otherwise)."""
    _ARENA.slots.clear()


# ================================================================ cost-model pieces


#: Python-level steps of each forward beyond the passes priced below (argument checks, views,
#: scratch buffers, the tap loop), in launches: counted as the time of a 1×1×4×4 call over the
#: profile's launch latency, so the fixed cost of a small call scales with the machine.
_STEPS = {"im2col": 18, "im2col padding": 11, "direct": 20, "direct per tap": 4, "fft": 110,
          "winograd": 120}


def _real_itemsize(dt: np.dtype) -> int:
    return dt.itemsize // 2 if dt.kind == "c" else dt.itemsize


def _gemm(p: Any, m: int, k: int, n: int, batch: int, dt: np.dtype, calls: int = 1) -> float:
    """``calls`` batched GEMMs in ``dt``; a complex one is the real (2m × 2k)·(2k × n): 4× the FLOPs."""
    isz, cplx = _real_itemsize(dt), dt.kind == "c"
    t = gemm_time(p, 2 * m if cplx else m, 2 * k if cplx else k, n, batch=batch, itemsize=isz, launches=0)
    if min(m, n) == 1:   # NumPy calls gemv for a vector operand: less fixed cost per matrix than gemm
        saved = float(getattr(p, "gemm_overhead", 0.0)) - float(getattr(p, "gemv_overhead", 0.0))
        t -= batch * max(saved, 0.0)
    # BLAS first zeroes C (β = 0), then reads and writes it back per block of k: two more passes
    # over C, from memory where C is larger than the cache
    spill = dt.itemsize * m * n - float(getattr(p, "cache_bytes", 1 << 20))
    if spill > 0:
        t += batch * memory_time(p, 2 * spill)
    if dt.kind in "biu":   # NumPy's matmul has no BLAS for integers: its own loop, far below peak
        t *= 8
    latency = float(getattr(p, "gemm_latency", 0.0)) or launch_time(p, 4)
    return calls * (t + latency)


def _pass(p: Any, elements: float, itemsize: int, operands: int = 2, row: float = 0.0,
          calls: int = 1) -> float:
    """A NumPy copy or elementwise pass over ``elements`` (``operands`` arrays read or written),
    whose innermost loop runs over ``row`` elements (0: the whole pass is one loop)."""
    loops = elements / row if row else calls
    per_loop = float(getattr(p, "loop_overhead", 5e-9)) * operands / 2
    nbytes = elements * itemsize * operands
    if nbytes <= float(getattr(p, "cache_bytes", 0.0)):   # it all stays in the core's cache
        stream = nbytes / float(getattr(p, "cache_bandwidth", 0.0) or p.memory_bandwidth)
    else:
        stream = memory_time(p, nbytes)
    return stream + loops * per_loop + launch_time(p, calls)


def _fft(p: Any, points: int, batch: int, isz: int, real: bool = False, inverse: bool = False) -> float:
    """``batch`` 1-D FFTs of ``points`` points (a real one costs half a complex one), one NumPy call.

    ``fft_time`` prices them at the profile's forward rate; float64 and the inverse (in place,
    no zero padding to copy) run at their own.
    """
    t = fft_time(p, points, batch / 2 if real else batch, itemsize=isz)
    f32 = float(getattr(p, "fft_flops", 0.0) or 0.0)
    if f32:
        if isz >= 8:
            t *= f32 / float(getattr(p, "fft_flops_f64", 0.0) or f32)
        if inverse:
            t *= f32 / float(getattr(p, "ifft_flops", 0.0) or f32)
    return t + batch * float(getattr(p, "fft_overhead", 0.0))


def _cast(p: Any, sig: Any, cv: _Conv) -> float:
    """Converting operands of another dtype to the result's, or copying strided ones to contiguous."""
    t = 0.0
    layouts = tuple(getattr(sig, "layouts", ()) or ()) + ("C", "C")
    for shape, d, layout in zip(sig.shapes[:2], sig.dtypes[:2], layouts[:2]):
        if _dtype(d) != cv.dtype or layout in ("F", "strided"):
            t += _pass(p, math.prod(shape), cv.dtype.itemsize, row=shape[-1] if layout == "strided" else 0)
    return t


# ================================================================ direct


class _Phases(NamedTuple):
    """The polyphase layout of ``direct``: each stride phase of the padded input, hq × wq."""

    hq: int
    wq: int
    phases: tuple[tuple[int, int], ...]   # the (row, column) phases some tap reads
    copy: bool                              # False: the input itself is the one phase


def _phases(cv: _Conv) -> _Phases:
    (sh, sw), (dh, dw), (ph, pw) = cv.stride, cv.dilation, cv.padding
    hq, wq = cv.ho + (cv.kh - 1) * dh // sh, cv.wo + (cv.kw - 1) * dw // sw
    phases = tuple(sorted({(i * dh % sh, j * dw % sw) for i in range(cv.kh) for j in range(cv.kw)}))
    copy = not (sh == sw == 1 and ph == pw == 0)
    return _Phases(hq, wq, phases, copy)


def _phase_buffer(x: np.ndarray, cv: _Conv, pl: _Phases) -> np.ndarray:
    """(P, N, C, hq, wq): ``buf[p, :, :, a, b] = xpadded[a·sh + ri, b·sw + rj]`` for phase p = (ri, rj)."""
    (sh, sw), (ph, pw) = cv.stride, cv.padding
    buf = _scratch("direct.phases", (len(pl.phases), cv.n, cv.c, pl.hq, pl.wq), cv.dtype)
    buf.fill(0)
    for k, (ri, rj) in enumerate(pl.phases):
        a0, b0 = -(-(ph - ri) // sh) if ph > ri else 0, -(-(pw - rj) // sw) if pw > rj else 0
        r0, c0 = a0 * sh + ri - ph, b0 * sw + rj - pw          # the first input row and column read
        na = min(pl.hq - a0, -(-(cv.h - r0) // sh)) if r0 < cv.h else 0
        nb = min(pl.wq - b0, -(-(cv.w - c0) // sw)) if c0 < cv.w else 0
        if na > 0 and nb > 0:
            buf[k, :, :, a0:a0 + na, b0:b0 + nb] = x[:, :, r0:r0 + (na - 1) * sh + 1:sh,
                                                     c0:c0 + (nb - 1) * sw + 1:sw]
    return buf


def direct(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Any:
    """``conv2d`` as one batched GEMM per kernel tap on shifted views of the stride phases.

    Output row a, column b of tap (i, j) reads phase (i·dh mod sh, j·dw mod sw) at
    (a + i·dh // sh, b + j·dw // sw): in the flattened phase, a window starting at
    a fixed offset, so the GEMM's right operand is a view.
    """
    cv = _call(x, w, stride, padding, dilation, groups)
    if cv.empty:
        return _zeros(cv)
    (sh, sw), (dh, dw), g, og, cg = cv.stride, cv.dilation, cv.groups, cv.og, cv.cg
    pl = _phases(cv)
    x = x.astype(cv.dtype, copy=False)
    buf = _phase_buffer(x, cv, pl) if pl.copy else np.ascontiguousarray(x)[None]
    flat = buf.reshape(len(pl.phases), cv.n, g, cg, pl.hq * pl.wq)
    # one contiguous (G, O/G, C/G) matrix per tap: BLAS needs a unit stride
    taps = np.ascontiguousarray(w.astype(cv.dtype, copy=False).reshape(g, og, cg, cv.kh, cv.kw)
                                .transpose(3, 4, 0, 1, 2))
    span = (cv.ho - 1) * pl.wq + cv.wo    # flat output positions computed; columns ≥ wo are junk
    shape = (cv.n, g, og, cv.ho * pl.wq)
    acc = np.empty(shape, cv.dtype) if pl.wq == cv.wo else _scratch("direct.acc", shape, cv.dtype)
    out = acc[..., :span]
    tmp = _scratch("direct.tap", out.shape, cv.dtype) if cv.kh * cv.kw > 1 else None
    index = {p: k for k, p in enumerate(pl.phases)}
    for i in range(cv.kh):
        for j in range(cv.kw):
            off = (i * dh // sh) * pl.wq + j * dw // sw
            view = flat[index[(i * dh % sh, j * dw % sw)], ..., off:off + span]
            if i == j == 0:
                np.matmul(taps[i, j], view, out=out)
            else:
                np.matmul(taps[i, j], view, out=tmp)
                out += tmp
    acc = acc.reshape(cv.n, cv.o, cv.ho, pl.wq)
    return acc if pl.wq == cv.wo else _fresh(acc[..., :cv.wo])


def direct_supports(sig: Any) -> bool | str:
    """Any geometry; numeric dtypes (not bool)."""
    cv = _check(sig, "iufc")
    return cv if isinstance(cv, str) else True


def direct_cost(sig: Any, p: Any) -> float:
    """The polyphase copy, kh·kw GEMMs (O/G × C/G × span, batch N·G), kh·kw − 1 sums, the crop."""
    cv = _of(sig)
    if cv.empty:
        return launch_time(p, 2)
    isz, taps, pl = cv.dtype.itemsize, cv.kh * cv.kw, _phases(cv)
    span = (cv.ho - 1) * pl.wq + cv.wo
    t = _cast(p, sig, cv) + _pass(p, cv.o * cv.cg * taps, isz, row=cv.kw, calls=3)
    t += launch_time(p, _STEPS["direct"] + _STEPS["direct per tap"] * taps)
    if pl.copy:
        nph = len(pl.phases)
        t += _pass(p, nph * cv.n * cv.c * pl.hq * pl.wq, isz, 1)
        t += _pass(p, cv.n * cv.c * min(cv.h * cv.w, nph * pl.hq * pl.wq), isz,
                   row=min(cv.w, pl.wq), calls=2 * nph)
    t += _gemm(p, cv.og, cv.cg, span, cv.n * cv.groups, cv.dtype, calls=taps)
    t += (taps - 1) * _pass(p, cv.n * cv.o * span, isz, 3, row=span)
    if pl.wq != cv.wo:
        t += _pass(p, cv.n * cv.o * cv.ho * cv.wo, isz, row=cv.wo)
    return t


# ================================================================ im2col


def im2col(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Any:
    """``conv2d`` as one strided im2col copy and one batched matmul (BLAS)."""
    cv = _call(x, w, stride, padding, dilation, groups)
    (n, c, h, wd), (o, cg, kh, kw), (ho, wo) = x.shape, w.shape, (cv.ho, cv.wo)
    (sh, sw), (ph, pw), (dh, dw), groups = cv.stride, cv.padding, cv.dilation, cv.groups
    if ph or pw:
        xpad = _scratch("im2col.pad", (n, c, h + 2 * ph, wd + 2 * pw), x.dtype)
        xpad.fill(0)
        xpad[:, :, ph:ph + h, pw:pw + wd] = x
        x = xpad
    s = x.strides
    # (N, C, kh, kw, Ho, Wo): a view; copied once into the columns (a view itself when it can be)
    win = as_strided(x, (n, c, kh, kw, ho, wo),
                     (s[0], s[1], dh * s[2], dw * s[3], sh * s[2], sw * s[3]), writeable=False)
    cols = _matrix_view(win, (n, groups, cg * kh * kw, ho * wo))
    if cols is None:
        cols = _scratch("im2col.cols", (n, c, kh, kw, ho, wo), x.dtype)
        np.copyto(cols, win)
        cols = cols.reshape(n, groups, cg * kh * kw, ho * wo)
    # a contiguous kernel: the VJP's flipped one would reshape to a view with negative strides,
    # which NumPy's matmul cannot hand to BLAS (its own loop is 30× slower)
    w = np.ascontiguousarray(w).reshape(groups, o // groups, cg * kh * kw)
    out = np.matmul(w, cols)                                              # (N, G, O/G, Ho·Wo)
    return out.reshape(n, o, ho, wo)


def _matrix_view(win: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """``win`` reshaped to ``shape`` without a copy, if NumPy can and BLAS takes the last two axes
    as a matrix (unit stride along rows, rows apart); else ``None``."""
    try:
        cols = win.reshape(shape, copy=False)
    except (ValueError, TypeError):   # TypeError: NumPy < 2.1 has no copy= in reshape
        return None
    m, n = cols.shape[-2:]
    if (n > 1 and cols.strides[-1] != cols.itemsize) or (m > 1 and cols.strides[-2] < n * cols.itemsize):
        return None                   # a transposed or flipped input: NumPy's matmul would not use BLAS
    return cols


def _cols_are_a_view(cv: _Conv, itemsize: int) -> bool:
    """Whether im2col's columns are a reshaped view of the (padded, contiguous) input: no copy.

    Asks NumPy itself, on a view of one element of memory with the call's shape and strides.
    """
    (sh, sw), (dh, dw), (ph, pw) = cv.stride, cv.dilation, cv.padding
    hp, wp = cv.h + 2 * ph, cv.w + 2 * pw
    s = (cv.c * hp * wp * itemsize, hp * wp * itemsize, wp * itemsize, itemsize)
    win = as_strided(np.empty(1, np.dtype((np.void, itemsize))), (cv.n, cv.c, cv.kh, cv.kw, cv.ho, cv.wo),
                     (s[0], s[1], dh * s[2], dw * s[3], sh * s[2], sw * s[3]), writeable=False)
    return _matrix_view(win, (cv.n, cv.groups, cv.cg * cv.kh * cv.kw, cv.ho * cv.wo)) is not None


def im2col_supports(sig: Any) -> bool | str:
    """Any geometry, any dtype NumPy's matmul takes."""
    cv = _check(sig, "biufc")
    return cv if isinstance(cv, str) else True


def im2col_cost(sig: Any, p: Any) -> float:
    """The padding copy, the column copy (N·C·kh·kw·Ho·Wo), one GEMM (O/G × C/G·kh·kw × Ho·Wo, batch N·G)."""
    cv = _of(sig)
    if cv.empty:
        return launch_time(p, 2)
    isz = _dtype(sig.dtypes[0]).itemsize
    (ph, pw), k = cv.padding, cv.cg * cv.kh * cv.kw
    hp, wp = cv.h + 2 * ph, cv.w + 2 * pw
    t = _cast(p, sig, cv) + launch_time(p, _STEPS["im2col"] + (_STEPS["im2col padding"] if ph or pw else 0))
    if ph or pw:
        t += _pass(p, cv.n * cv.c * hp * wp, isz, 1) + _pass(p, cv.n * cv.c * cv.h * cv.w, isz, row=cv.w)
    if not _cols_are_a_view(cv, isz):
        t += _pass(p, cv.n * cv.c * cv.kh * cv.kw * cv.ho * cv.wo, isz, row=cv.wo)
    return t + _gemm(p, cv.og, k, cv.ho * cv.wo, cv.n * cv.groups, cv.dtype)


# ================================================================ fft

_SMOOTH = sorted(2 ** a * 3 ** b * 5 ** c for a in range(16) for b in range(11) for c in range(8)
                 if 2 ** a * 3 ** b * 5 ** c <= 1 << 15)


def _fast_len(n: int) -> int:
    """The least 2·3·5-smooth length ≥ ``n`` (pocketfft's fast sizes)."""
    if n > _SMOOTH[-1]:
        return 1 << (n - 1).bit_length()
    lo, hi = 0, len(_SMOOTH) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if _SMOOTH[mid] < n else (lo, mid)
    return _SMOOTH[lo]


def _fft_sizes(cv: _Conv) -> tuple[int, int]:
    """FFT rows and columns: the input plus its leading padding, and room for the kernel.

    The trailing padding is the FFT's own zeros; the leading padding wraps around
    (the kernel is placed shifted by −padding, circularly), which is alias-free
    when the length holds the input and its leading padding, the kernel's reach,
    and the last output position (a padding wider than the kernel reaches).
    """
    (ph, pw), (rh, rw), (sh, sw) = cv.padding, cv.reach, cv.stride
    return (_fast_len(max(cv.h + ph, rh, (cv.ho - 1) * sh + 1)),
            _fast_len(max(cv.w + pw, rw, (cv.wo - 1) * sw + 1)))


@functools.lru_cache(maxsize=64)
def _twiddles(f: int, first: int, step: int, count: int, dt: np.dtype, half: bool = False) -> np.ndarray:
    """``exp(+2πi·k·t/f)`` for frequencies k (rows; the first f//2 + 1 if ``half``) and positions
    t = first, first + step, ... (``count`` of them); read-only, cached."""
    k = np.arange(f // 2 + 1 if half else f)
    e = np.exp(2j * np.pi * (np.outer(k, first + step * np.arange(count)) % f) / f).astype(dt)
    if half:
        e = np.ascontiguousarray(e.T)   # (count, f//2 + 1): the right operand of the row GEMM
    e.flags.writeable = False
    return e


def _kernel_spectrum(w: np.ndarray, cv: _Conv, fh: int, fw: int) -> np.ndarray:
    """conj(rfft2) of the kernel placed at ((i·dh − ph) mod fh, (j·dw − pw) mod fw), as (G, F, C/G, O/G).

    A kernel of kh × kw taps has a spectrum of fh × (fw/2+1) points: two small DFTs
    by GEMM (kw deep along rows, then kh deep along columns) beat two FFTs of mostly
    zeros. Conjugate twiddles give conj(K) directly: correlation, not convolution.
    """
    (dh, dw), (ph, pw), g, og, cg, nw = cv.dilation, cv.padding, cv.groups, cv.og, cv.cg, fw // 2 + 1
    cdt = np.result_type(w.dtype, np.complex64)
    ew = _twiddles(fw, -pw, dw, cv.kw, cdt, half=True)                                      # (kw, nw)
    eh = _twiddles(fh, -ph, dh, cv.kh, cdt)                                                 # (fh, kh)
    # real × complex as one real GEMM: the twiddles' real and imaginary parts interleaved
    t = (w.reshape(-1, cv.kw) @ ew.view(w.dtype)).view(cdt)                   # (O·C/G·kh, nw)
    tt = _scratch("fft.kt", (g, cv.kh, nw, cg, og), cdt)
    np.copyto(tt, t.reshape(g, og, cg, cv.kh, nw).transpose(0, 3, 4, 2, 1))
    k = _scratch("fft.k", (g, fh, nw * cg * og), cdt)
    np.matmul(eh, tt.reshape(g, cv.kh, nw * cg * og), out=k)
    return k.reshape(g, fh * nw, cg, og)


def _fft_into(transform: Any, a: np.ndarray, n: int, axis: int, out: np.ndarray) -> np.ndarray:
    """``transform(a, n, axis)`` written into ``out`` (NumPy ≥ 2.0), else computed and cast to its dtype."""
    try:
        return transform(a, n=n, axis=axis, out=out)
    except TypeError:   # NumPy 1.26: no out=, and float32 comes back as complex128 / float64
        return transform(a, n=n, axis=axis).astype(out.dtype, copy=False)


def fft(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
        groups: int = 1) -> Any:
    """``conv2d`` by real FFTs: ``Y(f) = Σ_c X(f) · conj(K(f))`` per frequency, stride by subsampling.

    One axis at a time: the row FFTs skip the zero rows below the input, and the
    inverse row FFTs run only on the output rows kept (every stride-th).
    """
    cv = _call(x, w, stride, padding, dilation, groups)
    if cv.empty:
        return _zeros(cv)
    fh, fw = _fft_sizes(cv)
    n, c, nw, (sh, sw), g, og, cg = cv.n, cv.c, fw // 2 + 1, cv.stride, cv.groups, cv.og, cv.cg
    x, w = x.astype(cv.dtype, copy=False), np.ascontiguousarray(w, dtype=cv.dtype)   # BLAS needs unit strides
    cdt = np.result_type(cv.dtype, np.complex64)
    fx = _fft_into(np.fft.rfft, x, fw, -1, _scratch("fft.r", (n, c, cv.h, nw), cdt))
    fx = _fft_into(np.fft.fft, fx, fh, -2, _scratch("fft.x", (n, c, fh, nw), cdt))
    # per frequency and group, (N × C/G) @ (C/G × O/G): frequencies and groups are the GEMM batch
    a = _scratch("fft.a", (g, fh * nw, n, cg), cdt)
    np.copyto(a, fx.reshape(n, g, cg, fh * nw).transpose(1, 3, 0, 2))
    y = _scratch("fft.y", (g, fh * nw, n, og), cdt)
    np.matmul(a, _kernel_spectrum(w, cv, fh, fw), out=y)
    fy = _scratch("fft.x", (n, g, og, fh * nw), cdt)      # fx is spent: its slot is free again
    np.copyto(fy, y.transpose(2, 0, 3, 1))
    fy = fy.reshape(n, cv.o, fh, nw)
    fy = _fft_into(np.fft.ifft, fy, fh, -2, fy)
    out = _fft_into(np.fft.irfft, fy[:, :, :(cv.ho - 1) * sh + 1:sh], fw, -1,
                    _scratch("fft.out", (n, cv.o, cv.ho, fw), cv.dtype))
    return _fresh(out[..., :(cv.wo - 1) * sw + 1:sw])


def fft_supports(sig: Any) -> bool | str:
    """Any geometry; real floating dtypes (rounding would make integer results inexact)."""
    cv = _check(sig, "biuf")
    if isinstance(cv, str):
        return cv
    if cv.dtype.kind in "biu":
        return f"FFT rounding would make integer results inexact ({cv.dtype.name})"
    if cv.dtype.itemsize < 4:
        return f"NumPy's FFT has no {cv.dtype.name}"
    return True


def fft_cost(sig: Any, p: Any) -> float:
    """Row and column FFTs of the input, the kernel's spectrum (two GEMMs), the layout copies, the
    per-frequency complex GEMM (N × C/G × O/G, batch G·F), the inverse FFTs of the rows kept."""
    cv = _of(sig)
    if cv.empty:
        return launch_time(p, 2)
    fh, fw = _fft_sizes(cv)
    isz, nw, n, c, o = cv.dtype.itemsize, fw // 2 + 1, cv.n, cv.c, cv.o
    nf, csz = fh * nw, 2 * isz
    cdt = np.dtype(np.complex64 if isz == 4 else np.complex128)
    m = o * cv.cg
    t = _cast(p, sig, cv) + launch_time(p, _STEPS["fft"])
    t += _fft(p, fw, n * c * cv.h, isz, real=True) + _fft(p, fh, n * c * nw, isz)
    t += _gemm(p, m * cv.kh, cv.kw, 2 * nw, 1, cv.dtype)         # kernel rows: real × twiddles
    t += _pass(p, m * cv.kh * nw, csz, row=cv.og)                # to (G, kh, nw, C/G, O/G)
    t += _gemm(p, fh, cv.kh, nw * m // cv.groups, cv.groups, cdt)   # kernel columns
    t += _pass(p, n * c * nf, csz, row=cv.cg)                    # to (G, F, N, C/G)
    t += _gemm(p, n, cv.cg, cv.og, cv.groups * nf, cdt)
    t += _pass(p, n * o * nf, csz, row=nf)                       # to (N, O, F)
    t += _fft(p, fh, n * o * nw, isz, inverse=True) + _fft(p, fw, n * o * cv.ho, isz, real=True, inverse=True)
    return t + _pass(p, n * o * cv.ho * cv.wo, isz, row=cv.wo)


# ================================================================ winograd

# F(2×2, 3×3): Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A on 4×4 input tiles d overlapping by 2
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def _winograd_weights(w: np.ndarray, cv: _Conv) -> np.ndarray:
    """G g Gᵀ for every (output, input) channel pair, as (16, G, C/G, O/G): two small GEMMs."""
    g, og, cg, m = cv.groups, cv.og, cv.cg, cv.o * cv.cg
    gm = _G.astype(w.dtype)
    u = w.reshape(m * 3, 3) @ gm.T                                                   # g Gᵀ: (O·C/G·3, 4)
    u = gm @ np.ascontiguousarray(u.reshape(m, 3, 4).transpose(1, 0, 2)).reshape(3, m * 4)   # (4, O·C/G·4)
    return np.ascontiguousarray(u.reshape(4, g, og, cg, 4).transpose(0, 4, 1, 3, 2)).reshape(16, g, cg, og)


def _in_blocks(dst: np.ndarray, src: np.ndarray, axis: int, block: int) -> None:
    """``dst[...] = src``, ``block`` indices of ``axis`` at a time."""
    index = [slice(None)] * dst.ndim
    for i in range(0, dst.shape[axis], block):
        index[axis] = slice(i, i + block)
        np.copyto(dst[tuple(index)], src[tuple(index)])


def _run(stride: int) -> int:
    """Elements a transposing copy should read per row when ``src`` jumps ``stride`` bytes between them.

    NumPy copies in ``dst``'s memory order, so a row of ``dst`` reads one cache line
    (or page) of a transposed ``src`` per element; short rows of about 16 pages keep
    them cached while the neighbouring rows reuse them (6× faster on 4 KiB strides).
    """
    return max(8, (1 << 16) // max(abs(stride), 1))


def _to_channels_last(dst: np.ndarray, x: np.ndarray) -> None:
    """``dst (H, W, B) = x (B, H, W)`` transposed, in blocks of B."""
    run = _run(x.strides[0])
    if run < x.shape[0]:
        _in_blocks(dst, x.transpose(1, 2, 0), 2, run)
    else:
        np.copyto(dst, x.transpose(1, 2, 0))


def _to_channels_first(dst: np.ndarray, y: np.ndarray) -> None:
    """``dst (B, H, W) = y (H, W, B)`` transposed, in blocks of rows (or of columns of one row)."""
    src, run = y.transpose(2, 0, 1), _run(y.strides[2] * y.shape[2])
    h, w = dst.shape[1:]
    if run >= h * w:
        np.copyto(dst, src)
    elif run >= w:
        _in_blocks(dst, src, 1, run // w)
    else:
        for i in range(h):
            _in_blocks(dst[:, i], src[:, i], 1, run)


def winograd(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
             groups: int = 1) -> Any:
    """``conv2d`` for 3×3 kernels by Winograd's F(2×2, 3×3): 16 batched GEMMs over channels.

    The image is laid out (H, W, N, C), batch and channels innermost, so that every
    transform runs along long contiguous rows (NumPy's strided loops pay per row).
    """
    cv = _call(x, w, stride, padding, dilation, groups)
    if cv.kh != 3 or cv.kw != 3 or cv.stride != (1, 1) or cv.dilation != (1, 1):
        raise ValueError("winograd conv2d takes 3×3 kernels at stride 1 and dilation 1")
    if cv.empty:
        return _zeros(cv)
    n, c, o, g, og, cg, dt = cv.n, cv.c, cv.o, cv.groups, cv.og, cv.cg, cv.dtype
    th, tw = -(-cv.ho // 2), -(-cv.wo // 2)
    (ph, pw), hp, wp = cv.padding, 2 * th + 2, 2 * tw + 2
    # the padded input as (hp, wp, N, C), every 4×4 tile inside it: one transposing copy
    xb = _scratch("winograd.x", (hp, wp, n, c), dt)
    xb.fill(0)
    _to_channels_last(xb.reshape(hp, wp, n * c)[ph:ph + cv.h, pw:pw + cv.w], x.reshape(n * c, cv.h, cv.w))
    # Bᵀ d: rows 2a + r of every tile, combined four ways: (4, th, wp, N, C)
    d = [xb[r:r + 2 * th - 1:2] for r in range(4)]
    t = _scratch("winograd.t", (4, th, wp, n, c), dt)
    np.subtract(d[0], d[2], out=t[0])
    np.add(d[1], d[2], out=t[1])
    np.subtract(d[2], d[1], out=t[2])
    np.subtract(d[1], d[3], out=t[3])
    # (Bᵀ d) B: columns likewise, into V (4, 4, th, tw, N, C)
    e = [t[:, :, j:j + 2 * tw - 1:2] for j in range(4)]
    v = _scratch("winograd.v", (4, 4, th, tw, n, c), dt)
    np.subtract(e[0], e[2], out=v[:, 0])
    np.add(e[1], e[2], out=v[:, 1])
    np.subtract(e[2], e[1], out=v[:, 2])
    np.subtract(e[1], e[3], out=v[:, 3])
    # 16·G GEMMs (tiles·N × C/G) @ (C/G × O/G), written as M (16, tiles·N, O)
    p = th * tw * n
    m = _scratch("winograd.m", (16, p, g, og), dt)
    u = _winograd_weights(np.ascontiguousarray(w, dtype=dt), cv)     # BLAS needs unit strides
    np.matmul(v.reshape(16, p, g, cg).transpose(0, 2, 1, 3), u, out=m.transpose(0, 2, 1, 3))
    m = m.reshape(4, 4, th, tw, n, o)
    # Aᵀ M A: rows, then columns, into the 2×2 blocks of Y (th, 2, tw, 2, N, O)
    r = _scratch("winograd.t", (2, 4, th, tw, n, o), dt)     # t is spent: its slot is free again
    np.add(m[0], m[1], out=r[0])
    r[0] += m[2]
    np.subtract(m[1], m[2], out=r[1])
    r[1] -= m[3]
    y = _scratch("winograd.v", (th, 2, tw, 2, n, o), dt)     # and so is v
    yc = y.transpose(3, 1, 0, 2, 4, 5)                        # (2 col, 2 row, th, tw, N, O) view of it
    np.add(r[:, 0], r[:, 1], out=yc[0])
    yc[0] += r[:, 2]
    np.subtract(r[:, 1], r[:, 2], out=yc[1])
    yc[1] -= r[:, 3]
    out = np.empty((n, o, cv.ho, cv.wo), dtype=dt)
    _to_channels_first(out.reshape(n * o, cv.ho, cv.wo), y.reshape(2 * th, 2 * tw, n * o)[:cv.ho, :cv.wo])
    return out


def winograd_supports(sig: Any) -> bool | str:
    """3×3 kernels at stride 1, dilation 1; any padding and groups; real floating dtypes."""
    cv = _check(sig, "f")
    if isinstance(cv, str):
        return cv
    if (cv.kh, cv.kw) != (3, 3):
        return f"F(2×2, 3×3) takes 3×3 kernels, not {cv.kh}×{cv.kw}"
    if cv.stride != (1, 1):
        return f"F(2×2, 3×3) computes stride 1, not {cv.stride}"
    if cv.dilation != (1, 1):
        return f"F(2×2, 3×3) computes dilation 1, not {cv.dilation}"
    if cv.dtype.itemsize < 4:
        return f"{cv.dtype.name} is too coarse for Winograd's transforms"
    return True


def winograd_cost(sig: Any, p: Any) -> float:
    """The transposing copy in, the input transform (8 passes), 16·G GEMMs (N·tiles × C/G × O/G),
    the output transform (8 passes), the transposing copy out."""
    cv = _of(sig)
    if cv.empty:
        return launch_time(p, 2)
    isz, n, c, o = cv.dtype.itemsize, cv.n, cv.c, cv.o
    th, tw = -(-cv.ho // 2), -(-cv.wo // 2)
    hp, wp, tiles = 2 * th + 2, 2 * tw + 2, th * tw
    t = _cast(p, sig, cv) + launch_time(p, _STEPS["winograd"])
    t += _pass(p, hp * wp * n * c, isz, 1) + _pass(p, n * c * cv.h * cv.w, isz, row=c)
    t += _pass(p, 4 * th * wp * n * c, isz, 3, row=wp * n * c, calls=4)      # rows
    t += _pass(p, 16 * tiles * n * c, isz, 3, row=n * c, calls=4)            # columns
    t += _gemm(p, cv.o * cv.cg * 3, 3, 4, 1, cv.dtype, calls=2) + _pass(p, 16 * o * cv.cg, isz, calls=2)
    t += _gemm(p, tiles * n, cv.cg, cv.og, 16 * cv.groups, cv.dtype)
    t += _pass(p, 8 * tiles * n * o, isz, 3, calls=4)                        # rows
    t += _pass(p, 4 * tiles * n * o, isz, 3, row=n * o, calls=4)             # columns
    return t + _pass(p, n * o * cv.ho * cv.wo, isz, row=cv.wo)               # to (N, O, Ho, Wo)


# ================================================================ registration

#: (name, forward, supports, cost, default): the conv2d kernels of ``cpu``.
KERNELS = [
    ("im2col", im2col, im2col_supports, im2col_cost, True),
    ("direct", direct, direct_supports, direct_cost, False),
    ("fft", fft, fft_supports, fft_cost, False),
    ("winograd", winograd, winograd_supports, winograd_cost, False),
]


def kernels() -> list[dict[str, Any]]:
    """The conv2d kernels as keyword arguments of :func:`~xpgrad.backends.register_kernel`.

    >>> [k["name"] for k in kernels()]
    ['im2col', 'direct', 'fft', 'winograd']
    """
    return [{"name": name, "forward": fwd, "supports": sup, "cost": cost, "default": default}
            for name, fwd, sup, cost, default in KERNELS]
