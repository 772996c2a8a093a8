"""Batched complex FFTs on an OpenCL device, and conv2d by FFT (the ``fft`` dispatcher kernel).

Complex data
------------
The OpenCL backend has no complex dtypes, so a complex array of shape ``S`` is
a real ``float32``/``float64`` array of shape ``S + (2,)``: real and imaginary
parts interleaved (``float2``/``double2`` in the kernels), NumPy's memory layout
of ``complex64``/``complex128`` (``z.view(np.float32).reshape(z.shape + (2,))``).

FFTs: :func:`fft`, :func:`ifft`, :func:`fft2`, :func:`ifft2`, :func:`rfft2`, :func:`irfft2`
-------------------------------------------------------------------------------
* Lengths: every length. Those whose prime factors are 2, 3, 5, 7 (1 included)
  directly; others by Bluestein's chirp-z algorithm (a circular convolution of
  length ``fast_len(2n − 1)``, the chirp filter's spectrum cached per device).
  ``rfft2``/``irfft2`` take smooth lengths up to :data:`MAX_UNROLLED` a side.
* Axes: any one axis (``fft``), the last two (``fft2``, ``rfft2``), batched over
  all the others; non-contiguous inputs are copied first. Forward is
  ``exp(−2πi·jk/n)``; inverse is scaled by ``1/n`` (NumPy's ``norm="backward"``).
* dtypes: float32 and float64 pairs (float64 where the device has it).

Structure. Up to :data:`MAX_UNROLLED` points a line is one launch: one work-item
transforms one whole line in private memory; lines of up to 16 points fully
unrolled (Stockham autosort passes of radix 8, 4, 2, 3, 5, 7, twiddles as
literal constants), longer ones in two steps (``n = n1·n2``: ``n2`` unrolled
``n1``-point transforms, twiddles from a constant table, a private array, ``n1``
unrolled ``n2``-point transforms), so the generated code stays small and quick
to compile. Work-items run along the batch: on a CPU the lanes of a SIMD vector
are neighbouring lines, so a strided axis (the column pass of a 2-D transform)
is read with contiguous vector loads. Longer lines take one launch per Stockham
pass through global memory (a work-item per butterfly, twiddles by ``sincospi``),
ping-ponging between two buffers. 2-D transforms are rows then columns.
``rfft2`` transforms two real images as one complex one and separates the two
half spectra by Hermitian symmetry (``irfft2`` the reverse): half the work.

The per-line kernel also does the loads and stores a convolution needs (zero
padding, a circular flip, dilation, cropping, subsampling, two real images as
one complex one, and back), so none of them costs a pass of its own.

conv2d by FFT: :func:`conv2d_fft`, the ``fft`` :class:`~xpgrad.core.dispatch.Kernel`
-------------------------------------------------------------------------------
PyTorch's cross-correlation (stride, zero padding, dilation, groups) as a
circular correlation on a ``P × Q`` grid, ``P``, ``Q`` the smallest 2,3,5,7-smooth
sizes covering the rows and columns of the padded input the output reads
(``P ≥ (Ho−1)·sh + (kh−1)·dh + 1``), so nothing wraps around. The input sits at
offset ``padding`` (the rest of the grid is the zero padding), the dilated
kernel is flipped circularly (its spectrum is then the conjugate of the
kernel's: correlation becomes a product). Eight launches, no host round trip:

1. x: rows (only x's rows, read in place with zero fill), then columns;
2. w: rows, then columns (flip and dilation in the loads);
3. separation of the operand transformed as pairs of unrelated images;
4. per frequency and group, a complex GEMM contracting C/groups (``cgemm``:
   work-items along the frequencies, a tile of up to 4 × 4 outputs each);
5. inverse columns (storing only the rows the stride keeps), inverse rows
   (storing the kept columns, real and imaginary parts into two outputs).

Two real images are always transformed as one complex one. Along the batch
(``x[2i] + i·x[2i+1]``; the output's real and imaginary parts are then the two
results) or along the output channels (``w[2j] + i·w[2j+1]``), whichever the
cost model prices lower (:func:`conv2d_fft_plan`); the other operand is paired
too, and separated (step 3). The column passes skip the first-step transforms
whose inputs are all zero (the padding rows, the rows of a small kernel). Float32
results match the generic forward to about 1e-6 of ``max(|y|, max|x|·max|w|)``
(the tests bound it by 1e-4); float64 to about 1e-14 (bound 1e-10). Integer
dtypes are declined (the FFT would round them); so are grids over
:data:`MAX_UNROLLED` a side and invalid geometries (the generic forward raises
conv2d's own error). Out of memory or resources raises :class:`OutOfResourcesError`.

Cost model and calibration
--------------------------
:func:`conv2d_fft_cost` sums the launches of the plan: each line pass is
``fft_time`` at the rate the profile's ``fft_flops`` gives for its length
(:func:`measure_fft_flops` measures it; without it, 0.3 × ``peak_flops``), its
traffic at a fraction of ``memory_bandwidth`` once it outgrows the cache; the
separation is ``memory_time``; the frequency GEMM is its FLOPs at
``fft_cgemm_flops`` (default 0.45 × ``peak_flops``) or its traffic, whichever is
slower; every launch adds ``launch_time``; a strided operand adds a copy. The
constants below were fitted on opencl:0 (Intel's CPU runtime on 2 cores) against
the conv2d signatures of ``benchmarks/dispatch_signatures.py``: the estimates
are within ±30 % of the measured times there (float32).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import numpy as np

from ...core.dispatch import Kernel, fft_time, launch_time, memory_time
from ...core.errors import OutOfResourcesError
from .array import OpenCLArray, _prod, empty, is_contiguous
from .kernels import _round_up, resource_errors

__all__ = ["fft", "ifft", "fft2", "ifft2", "rfft2", "irfft2", "fast_len", "radices", "MAX_UNROLLED",
           "conv2d_fft", "conv2d_fft_supports", "conv2d_fft_cost", "conv2d_fft_plan", "measure_fft_flops",
           "kernels"]

_UNROLL_MAX = 16          # lines up to this length are transformed fully unrolled, in registers
MAX_UNROLLED = 512        # longest line one work-item transforms in private memory (one launch)
_I32 = 2 ** 31 - 1


# ================================================================ sizes


def radices(n: int) -> list[int] | None:
    """The Stockham passes for length ``n`` (radices 8, 4, 2, 3, 5, 7), or ``None`` when ``n`` has a
    prime factor above 7.

    >>> radices(120)
    [8, 3, 5]
    """
    if n < 1:
        return None
    plan: list[int] = []
    m = n
    twos = 0
    while m % 2 == 0:
        m //= 2
        twos += 1
    for p in (3, 5, 7):
        while m % p == 0:
            m //= p
            plan.append(p)
    if m != 1:
        return None
    pw: list[int] = []
    while twos >= 3:
        pw.append(8)
        twos -= 3
    if twos:
        pw.append(2 ** twos)
    return pw + plan


@functools.cache
def fast_len(n: int) -> int:
    """The smallest length ≥ ``n`` whose prime factors are 2, 3, 5 and 7 (what the FFT runs fastest).

    >>> fast_len(69), fast_len(129)
    (70, 135)
    """
    m = max(int(n), 1)
    while radices(m) is None:
        m += 1
    return m


# ================================================================ code generation


def _lit(v: float, T: str) -> str:
    s = repr(float(v))
    if "e" not in s and "." not in s and "inf" not in s:
        s += ".0"
    return s + ("f" if T == "float" else "")


class _Emit:
    """Collects the lines of an unrolled transform, naming each new value."""

    def __init__(self, T: str) -> None:
        self.T = T
        self.lines: list[str] = []
        self.n = 0

    def let(self, expr: str) -> str:
        name = f"t{self.n}"
        self.n += 1
        self.lines.append(f"{self.T}2 {name} = {expr};")
        return name


def _rot(z: str, sign: int) -> str:
    """``z · (sign·i)``."""
    return f"(({{T}}2)({z}.y, -{z}.x))" if sign < 0 else f"(({{T}}2)(-{z}.y, {z}.x))"


def _twiddle(e: _Emit, v: str, frac: Fraction, sign: int) -> str:
    """``v · exp(sign · 2πi · frac)``, with the multiples of 1/8 turn done without a general product."""
    frac = frac - math.floor(frac)
    T = e.T
    if frac == 0:
        return v
    if frac == Fraction(1, 2):
        return e.let(f"-{v}")
    if frac in (Fraction(1, 4), Fraction(3, 4)):
        s = sign if frac == Fraction(1, 4) else -sign
        return e.let(_rot(v, s).replace("{T}", T))
    ang = 2 * math.pi * float(frac)
    c, s = math.cos(ang), sign * math.sin(ang)
    if frac.denominator == 8:
        h = _lit(math.sqrt(0.5), T)
        cs, ss = ("" if c > 0 else "-"), ("" if s > 0 else "-")
        # (c + i s) v with |c| = |s| = h: h·(±x ∓ y, ±x ± y)
        re = f"{cs}{v}.x - ({ss}{v}.y)"
        im = f"{ss}{v}.x + ({cs}{v}.y)"
        return e.let(f"{h} * ({T}2)({re}, {im})")
    cl, sl = _lit(c, T), _lit(s, T)
    return e.let(f"({T}2)({v}.x * {cl} - {v}.y * {sl}, {v}.x * {sl} + {v}.y * {cl})")


def _butterfly(e: _Emit, v: list[str], sign: int) -> list[str]:
    """The DFT of the ``len(v)`` values ``v`` (radix 2, 4, 8 or an odd prime), unrolled."""
    r = len(v)
    T = e.T
    if r == 1:
        return v
    if r == 2:
        return [e.let(f"{v[0]} + {v[1]}"), e.let(f"{v[0]} - {v[1]}")]
    if r == 4:
        s0, d0 = e.let(f"{v[0]} + {v[2]}"), e.let(f"{v[0]} - {v[2]}")
        s1, d1 = e.let(f"{v[1]} + {v[3]}"), e.let(f"{v[1]} - {v[3]}")
        rd = e.let(_rot(d1, sign).replace("{T}", T))
        return [e.let(f"{s0} + {s1}"), e.let(f"{d0} + {rd}"), e.let(f"{s0} - {s1}"), e.let(f"{d0} - {rd}")]
    if r % 2 == 0:    # 8: Stockham passes on the values themselves
        return _passes(e, v, [4, 2] if r == 8 else radices(r) or [], sign)
    # odd prime: y_k = v0 + Σ_t (v_t + v_{r−t}) cos(2πtk/r) + sign·i·(v_t − v_{r−t}) sin(2πtk/r)
    h = (r - 1) // 2
    sums = [e.let(f"{v[t]} + {v[r - t]}") for t in range(1, h + 1)]
    difs = [e.let(f"{v[t]} - {v[r - t]}") for t in range(1, h + 1)]
    out = [""] * r
    out[0] = e.let(" + ".join([v[0]] + sums))
    for k in range(1, h + 1):
        a = " + ".join([v[0]] + [f"{_lit(math.cos(2 * math.pi * t * k / r), T)} * {sums[t - 1]}"
                                 for t in range(1, h + 1)])
        b = " + ".join(f"{_lit(math.sin(2 * math.pi * t * k / r), T)} * {difs[t - 1]}"
                       for t in range(1, h + 1))
        A, B = e.let(a), e.let(f"({b})")
        rb = e.let(_rot(B, sign).replace("{T}", T))
        out[k], out[r - k] = e.let(f"{A} + {rb}"), e.let(f"{A} - {rb}")
    return out


def _passes(e: _Emit, x: list[str], plan: list[int], sign: int) -> list[str]:
    """Stockham autosort passes over the values ``x``: the DFT of ``x`` in natural order."""
    n = len(x)
    ns = 1
    for r in plan:
        y = [""] * n
        for j in range(n // r):
            k = j % ns
            v = [_twiddle(e, x[j + t * n // r], Fraction(k * t, ns * r), sign) for t in range(r)]
            out = _butterfly(e, v, sign)
            base = (j // ns) * ns * r + k
            for t in range(r):
                y[base + t * ns] = out[t]
        x = y
        ns *= r
    return x


# The parameters of a line transform, one by-value struct of ints:
#   nb: lines; s1..s3: the sizes of batch dimensions 1..3 (dimension 0 is nb / (s1·s2·s3));
#   is0..is3 / os0..os3: input / output strides (elements) of the batch dimensions; isa / osa: along the line;
#   ioff / ooff: offsets; nin, lo: element m is read at (m_eff − lo) / DIL when that is one of nin
#   elements (else zero); nout: elements stored (element j·OSTEP); pn, pis, pos: pairs of real lines
#   (lines 2·b0 and 2·b0 + 1 of the pair dimension 0, the second one pis / pos further, present when
#   2·b0 + 1 < pn).
_FIELDS = ("nb", "s1", "s2", "s3", "is0", "is1", "is2", "is3", "isa", "os0", "os1", "os2", "os3", "osa",
           "ioff", "ooff", "nin", "lo", "nout", "pn", "pis", "pos")


def _split(n: int) -> tuple[int, int]:
    """``n = n1 · n2`` for the two-step line transform: ``n2 = 1`` (fully unrolled) up to
    ``_UNROLL_MAX`` points, else ``n1`` the largest divisor ≤ √n."""
    if n <= _UNROLL_MAX:
        return n, 1
    n1 = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return n1, n // n1


def _where(m: Any, n: int, dil: int, rev: bool, full: bool) -> tuple[str | None, str]:
    """Whether element ``m`` (an int, or the text of an int expression) of a line is read (``None``:
    always), and the source index it reads."""
    const = isinstance(m, int)
    if rev:
        me = str((n - m) % n) if const else f"(({m}) == 0 ? 0 : {n} - ({m}))"
    else:
        me = str(m) if const else f"({m})"
    if full:
        return None, me
    u = f"({me} - p.lo)"
    if dil == 1:
        return f"{u} >= 0 && {u} < p.nin", u
    return f"{u} >= 0 && {u} < p.nin * {dil} && {u} % {dil} == 0", f"({u} / {dil})"


def _load(m: Any, n: int, T: str, imode: str, dil: int, rev: bool, full: bool) -> str:
    """The expression of element ``m`` (an int, or the text of an int expression) of a line."""
    cond, idx = _where(m, n, dil, rev, full)
    addr = f"ib + {idx} * p.isa"
    if imode == "c":
        val = f"in[{addr}]"
    elif imode == "r":
        val = f"({T}2)(in[{addr}], 0)"
    else:
        val = f"({T}2)(in[{addr}], partner ? in[{addr} + p.pis] : ({T})0)"
    return val if cond is None else f"({cond}) ? {val} : ({T}2)(0)"


def _store(k: Any, v: str, omode: str, allout: bool, ostep: int) -> str:
    """The statement storing value ``v`` of output element ``k`` (an int or int expression)."""
    const = isinstance(k, int)
    if ostep == 1:
        j, cond = f"({k})", (None if allout else f"({k}) < p.nout")
    elif const:
        if k % ostep:
            return ""
        j, cond = str(k // ostep), f"{k // ostep} < p.nout"
    else:
        j, cond = f"(({k}) / {ostep})", f"({k}) % {ostep} == 0 && ({k}) / {ostep} < p.nout"
    addr = f"ob + {j} * p.osa"
    if omode == "c":
        st = f"out[{addr}] = {v} * scale;"
    elif omode == "r":
        st = f"out[{addr}] = {v}.x * scale;"
    else:
        st = f"out[{addr}] = {v}.x * scale; if (partner) out[{addr} + p.pos] = {v}.y * scale;"
    return st if cond is None else f"if ({cond}) {{ {st} }}"


def _divmod(fast: bool) -> str:
    """``DIVMOD(q, r, a, s, inv)``: ``q = a / s``, ``r = a % s`` (``inv = 1.0f / s``)."""
    if not fast:
        return "#define DIVMOD(q, r, a, s, inv) { int a_ = (a); q = a_ / (s); r = a_ - q * (s); }\n"
    # a < 2^22: a·inv is within 0.5 of a / s, so the truncated quotient is off by at most one
    return ("#define DIVMOD(q, r, a, s, inv) { int a_ = (a); q = convert_int_rtz((float)a_ * (inv)); "
            "r = a_ - q * (s); if (r < 0) { q -= 1; r += (s); } else if (r >= (s)) { q += 1; r -= (s); } }\n")


def _line_source(n: int, sign: int, T: str, imode: str, omode: str, dil: int, rev: bool, full: bool,
                 ostep: int, allout: bool, fast: bool = True) -> str:
    """One work-item transforms one line of ``n`` points (``n ≤ MAX_UNROLLED``).

    ``imode``/``omode``: ``"c"`` complex (``T2``), ``"r"`` real (imaginary part zero / dropped), ``"p"``
    a pair of real lines packed as real and imaginary parts. ``rev``: element m reads the source at
    ``(n − m) mod n`` (a circular flip); ``dil``: the source is dilated by ``dil`` (zeros between);
    ``full``: every element is read (no bounds checks); ``ostep``: element ``j`` stored is ``j·ostep``;
    ``allout``: every element is stored (``ostep`` 1, ``nout = n``: no bounds checks); ``fast``: the line
    index is split into batch coordinates by float reciprocals (fewer than 2^22 lines; CPUs have no
    vector integer division), else by integer division.

    Up to ``_UNROLL_MAX`` points the whole transform is unrolled (values in registers, twiddles literal).
    Longer lines take two steps (``n = n1·n2``, Cooley-Tukey): ``n2`` unrolled transforms of ``n1``
    points, each followed by its twiddles (a constant table) into a private array, then ``n1``
    unrolled transforms of ``n2`` points; the code stays small (fast to compile) and the data
    crosses private memory once.
    """
    IT = f"{T}2" if imode == "c" else T
    OT = f"{T}2" if omode == "c" else T
    n1, n2 = _split(n)
    pre = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n" if T == "double" else ""
    if n2 == 1:
        e = _Emit(T)
        xs = [e.let(_load(m, n, T, imode, dil, rev, full)) for m in range(n)]
        ys = _passes(e, xs, radices(n) or [], sign)
        lines = e.lines + [s for s in (_store(k, ys[k], omode, allout, ostep) for k in range(n)) if s]
        table = ""
    else:
        tw = [np.exp(sign * 2j * np.pi * ((q * k1) % n) / n) for q in range(n2) for k1 in range(n1)]
        table = (f"__constant {T}2 TW[{n}] = {{ "
                 + ", ".join(f"({T}2)({_lit(z.real, T)}, {_lit(z.imag, T)})" for z in tw) + " };\n")
        e1 = _Emit(T)
        if not full:   # a step whose elements all lie outside the data (padding, a kernel's zeros) is zero
            conds = " || ".join(f"({_where(f'q + {n2 * s}', n, dil, rev, full)[0]})" for s in range(n1))
            e1.lines.append(f"if (!({conds})) {{ for (int k = 0; k < {n1}; ++k) "
                            f"mid[k * {n2} + q] = ({T}2)(0); continue; }}")
        xs = [e1.let(_load(f"q + {n2 * s}", n, T, imode, dil, rev, full)) for s in range(n1)]
        ys = _passes(e1, xs, radices(n1) or [], sign)
        e1.lines.append(f"mid[q] = {ys[0]};")
        for k1 in range(1, n1):
            y = ys[k1]
            w = f"TW[q * {n1} + {k1}]"
            e1.lines.append(f"mid[{k1 * n2} + q] = ({T}2)({y}.x * {w}.x - {y}.y * {w}.y, "
                            f"{y}.x * {w}.y + {y}.y * {w}.x);")
        e2 = _Emit(T)
        e2.n = e1.n
        vs = [e2.let(f"mid[k1 * {n2} + {t}]") for t in range(n2)]
        zs = _passes(e2, vs, radices(n2) or [], sign)
        stores = (_store(f"k1 + {n1 * k2}", zs[k2], omode, allout, ostep) for k2 in range(n2))
        e2.lines += [s for s in stores if s]
        step1 = "\n        ".join(e1.lines)
        step2 = "\n        ".join(e2.lines)
        lines = [f"{T}2 mid[{n}];",
                 f"for (int q = 0; q < {n2}; ++q) {{\n        {step1}\n    }}",
                 f"for (int k1 = 0; k1 < {n1}; ++k1) {{\n        {step2}\n    }}"]
    fields = " ".join(f"int {f};" for f in _FIELDS)
    body = "\n    ".join(lines)
    return f"""{pre}typedef struct {{ {fields} }} lp_t;
{table}{_divmod(fast)}__kernel void line(__global {OT}* out, __global const {IT}* in, lp_t p, {T} scale,
                   float v1, float v2, float v3) {{
    int b = get_global_id(0);
    if (b >= p.nb) return;
    int r = b, b0, b1, b2, b3;
    DIVMOD(r, b3, r, p.s3, v3);
    DIVMOD(r, b2, r, p.s2, v2);
    DIVMOD(b0, b1, r, p.s1, v1);
    int ib = p.ioff + b0 * p.is0 + b1 * p.is1 + b2 * p.is2 + b3 * p.is3;
    int ob = p.ooff + b0 * p.os0 + b1 * p.os1 + b2 * p.os2 + b3 * p.os3;
    int partner = 2 * b0 + 1 < p.pn;
    (void)partner;
    {body}
}}
"""


def _pass_source(r: int, sign: int, T: str) -> str:
    """One radix-``r`` Stockham pass through global memory, a work-item per butterfly (long lines)."""
    e = _Emit(T)
    vs = [e.let(f"in[ib + (j + {t} * m) * B2]") for t in range(r)]
    tw = []
    for t, v in enumerate(vs):
        if t == 0:
            tw.append(v)
            continue
        tw.append(e.let(f"cmulx({v}, {sign * 2} * ({T})(k * {t}) / ({T})(ns * {r}))"))
    ys = _butterfly(e, tw, sign)
    stores = [f"out[ob + (base + {t} * ns) * B2] = {y} * scale;" for t, y in enumerate(ys)]
    pre = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n" if T == "double" else ""
    body = "\n    ".join(e.lines + stores)
    return f"""{pre}inline {T}2 cmulx({T}2 v, {T} a) {{
    {T} c = cospi(a), s = sinpi(a);
    return ({T}2)(v.x * c - v.y * s, v.x * s + v.y * c);
}}
__kernel void pass(__global {T}2* out, __global const {T}2* in, int n, int ns, int B2, int total,
                   {T} scale) {{
    int g = get_global_id(0);
    if (g >= total) return;
    int m = n / {r};
    int b2 = g % B2; int q = g / B2;
    int j = q % m; int b1 = q / m;
    int k = j % ns;
    int ib = b1 * n * B2 + b2, ob = ib;
    int base = (j / ns) * ns * {r} + k;
    {body}
}}
"""


# ================================================================ launching


def _ctype(dt: np.dtype) -> str:
    return "double" if dt == np.float64 else "float"


def _local(dev: Any) -> int:
    """Work-group size of the line transforms (heavy work-items: small groups balance the cores)."""
    return 64 if dev.is_gpu else 16


def _grid2(dev: Any, nx: int, ny: int, nz: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Global and local sizes of an elementwise kernel over a (nz, ny, nx) grid, x fastest."""
    lx = 16
    ly = max(1, min(16, int(dev.max_work_group) // lx))
    return (_round_up(nx, lx), _round_up(ny, ly), nz), (lx, ly, 1)


def _local_ew(dev: Any) -> int:
    """Work-group size of the elementwise helpers (light work-items: large groups, less overhead)."""
    return min(256, int(dev.max_work_group))


def _line(dev: Any, out: Any, inp: Any, n: int, *, sign: int, dtype: np.dtype,
          batch: list[tuple[int, int, int]], isa: int, osa: int, ioff: int = 0, ooff: int = 0,
          imode: str = "c", omode: str = "c", nin: int | None = None, lo: int = 0, dil: int = 1,
          rev: bool = False, nout: int | None = None, ostep: int = 1,
          pair: tuple[int, int, int] = (0, 0, 0), scale: float = 1.0) -> None:
    """Launch the per-line transform. ``batch``: up to 4 (size, in stride, out stride), slowest first;
    dimension 0 is the pair dimension in pair modes. Strides and offsets count elements of the
    buffers' own types (``T2`` for complex, ``T`` for real)."""
    batch = list(batch[:1]) + [(1, 0, 0)] * (4 - len(batch)) + list(batch[1:])   # dimension 0 stays first
    nb = 1
    for s, _, _ in batch:
        nb *= s
    if nb == 0:
        return
    nin = n if nin is None else nin
    nout = -(-n // ostep) if nout is None else nout
    full = lo == 0 and nin == n and dil == 1 and not rev
    allout = ostep == 1 and nout == n
    T = _ctype(dtype)
    fast = nb < (1 << 22)
    key = ("fft-line", n, sign, T, imode, omode, dil, rev, full, ostep, allout, fast)
    knl = dev.kernel(key, lambda: _line_source(n, sign, T, imode, omode, dil, rev, full, ostep, allout, fast),
                     "line")
    vals = {"nb": nb, "s1": batch[1][0], "s2": batch[2][0], "s3": batch[3][0],
            "is0": batch[0][1], "is1": batch[1][1], "is2": batch[2][1], "is3": batch[3][1], "isa": isa,
            "os0": batch[0][2], "os1": batch[1][2], "os2": batch[2][2], "os3": batch[3][2], "osa": osa,
            "ioff": ioff, "ooff": ooff, "nin": nin, "lo": lo, "nout": nout,
            "pn": pair[0], "pis": pair[1], "pos": pair[2]}
    p = np.array([vals[f] for f in _FIELDS], dtype=np.int32)
    L = _local(dev)
    inv = [np.float32(1.0 / batch[d][0]) for d in (1, 2, 3)]
    knl(dev.queue, (_round_up(nb, L),), (L,), out, inp, p, dtype.type(scale), *inv)


def _passes_global(dev: Any, src: Any, dst: Any, tmp: Any, n: int, b1: int, b2: int, sign: int,
                   dtype: np.dtype, scale: float) -> None:
    """A long-line transform of contiguous ``(b1, n, b2)`` complex data ``src`` into ``dst``: one
    launch per pass, ping-ponging between ``dst`` and ``tmp`` so that the last lands in ``dst``."""
    plan = radices(n) or []
    T = _ctype(dtype)
    L = _local_ew(dev)
    bufs = [dst, tmp] if len(plan) % 2 == 1 else [tmp, dst]
    cur = src
    ns = 1
    for i, r in enumerate(plan):
        knl = dev.kernel(("fft-pass", r, sign, T), lambda r=r: _pass_source(r, sign, T), "pass")
        total = b1 * (n // r) * b2
        out = bufs[i % 2]
        knl(dev.queue, (_round_up(total, L),), (L,), out, cur, np.int32(n), np.int32(ns), np.int32(b2),
            np.int32(total), dtype.type(scale if i == len(plan) - 1 else 1.0))
        cur = out
        ns *= r


def _check_complex(a: Any, what: str) -> tuple[np.dtype, tuple[int, ...]]:
    if not isinstance(a, OpenCLArray):
        raise TypeError(f"{what}: expected an OpenCL array (a complex array as a real one with a trailing "
                        f"axis of 2), got {type(a).__name__}")
    if a._dtype not in (np.float32, np.float64):
        raise TypeError(f"{what}: complex data is float32 or float64 pairs (a trailing axis of 2), "
                        f"got {a._dtype}")
    if a.ndim < 2 or a._shape[-1] != 2:
        raise ValueError(f"{what}: complex data is a real array with a trailing axis of 2 (real, imaginary), "
                         f"got shape {a._shape}")
    return a._dtype, a._shape[:-1]


def _contiguous(a: OpenCLArray) -> OpenCLArray:
    """``a`` if it is C-contiguous at an even offset (so that complex pairs are aligned), else a copy."""
    if is_contiguous(a) and a._offset % 2 == 0:
        return a
    from .namespace import _copy

    return _copy(a)


def fft(a: OpenCLArray, axis: int = -1, *, inverse: bool = False) -> OpenCLArray:
    """The DFT of complex ``a`` (shape ``S + (2,)``) along ``axis`` of ``S``; a new contiguous array.

    ``inverse=True``: the inverse DFT, scaled by ``1/N`` (``numpy.fft.ifft``).
    """
    dt, cs = _check_complex(a, "fft")
    axis = axis % len(cs) if -len(cs) <= axis < len(cs) else None
    if axis is None:
        raise ValueError(f"fft: axis out of range for a complex array of {len(cs)} dimension(s)")
    dev = a._dev
    n = cs[axis]
    b1, b2 = _prod(cs[:axis]), _prod(cs[axis + 1:])
    a = _contiguous(a)
    out = empty(a._shape, dt, dev)
    if out.size == 0:
        return out
    if 2 * out.size > _I32:
        raise ValueError("fft: the OpenCL FFT handles arrays of fewer than 2^30 complex elements")
    sign = 1 if inverse else -1
    scale = 1.0 / n if inverse else 1.0
    if radices(n) is None:
        _bluestein(dev, a._buf, a._offset // 2, out._buf, n, b1, b2, sign, dt, scale)
    else:
        _transform(dev, a._buf, a._offset // 2, out._buf, n, b1, b2, sign, dt, scale)
    return out


def _transform(dev: Any, src: Any, soff: int, dst: Any, n: int, b1: int, b2: int, sign: int, dt: np.dtype,
               scale: float) -> None:
    """Contiguous complex ``(b1, n, b2)`` at ``src`` (offset ``soff`` pairs) → ``dst``, ``n`` smooth."""
    if n <= MAX_UNROLLED:
        _line(dev, dst, src, n, sign=sign, dtype=dt, batch=[(b1, n * b2, n * b2), (b2, 1, 1)],
              isa=b2, osa=b2, ioff=soff, scale=scale)
        return
    if soff:
        from .namespace import _copy

        whole = OpenCLArray(src, (b1 * n * b2 * 2,), (1,), 2 * soff, dt, dev, 2 * (soff + b1 * n * b2))
        src = _copy(whole)._buf
    tmp = dev.alloc(b1 * n * b2 * 2 * dt.itemsize)
    _passes_global(dev, src, dst, tmp, n, b1, b2, sign, dt, scale)


def _aux_source(T: str) -> str:
    """Elementwise helpers: pair separation, Hermitian packing, Bluestein's chirps, the frequency GEMM."""
    pre = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n" if T == "double" else ""
    return pre + f"""
inline {T}2 cmul({T}2 a, {T}2 b) {{ return ({T}2)(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }}
inline {T}2 conj2({T}2 a) {{ return ({T}2)(a.x, -a.y); }}
// Z holds pairs of spectra of real images, Z = X0 + i X1, each P x Q with row pitch Q; writes X0 and X1
// (items of them in all) as columns [0, qo) of V, image stride vs.
__kernel void sep(__global {T}2* V, __global const {T}2* Z, int P, int Q, int qo, int items, int vs) {{
    int fq = get_global_id(0), fp = get_global_id(1), t = get_global_id(2);
    if (fq >= qo || fp >= P) return;
    int mp = fp == 0 ? 0 : P - fp, mq = fq == 0 ? 0 : Q - fq;
    int f = fp * qo + fq;
    {T}2 z = Z[t * P * Q + fp * Q + fq], zm = conj2(Z[t * P * Q + mp * Q + mq]);
    {T}2 s = (z + zm) * ({T})0.5, d = (z - zm) * ({T})0.5;
    V[2 * t * vs + f] = s;
    if (2 * t + 1 < items) V[(2 * t + 1) * vs + f] = ({T}2)(d.y, -d.x);
}}
// The inverse of sep for half spectra: Z = H0 + i H1 on the full P x Q grid, H the Hermitian part of the
// spectrum whose columns [0, qh) X holds (image stride xs, items of them).
inline {T}2 herm(__global const {T}2* X, int fp, int fq, int P, int Q, int qh) {{
    int mp = fp == 0 ? 0 : P - fp, mq = fq == 0 ? 0 : Q - fq;
    if (fq == mq) return (X[fp * qh + fq] + conj2(X[mp * qh + fq])) * ({T})0.5;
    return fq < qh ? X[fp * qh + fq] : conj2(X[mp * qh + mq]);
}}
__kernel void pack(__global {T}2* Z, __global const {T}2* X, int P, int Q, int qh, int items, int xs) {{
    int fq = get_global_id(0), fp = get_global_id(1), t = get_global_id(2);
    if (fq >= Q || fp >= P) return;
    int f = fp * Q + fq;
    {T}2 h0 = herm(X + 2 * t * xs, fp, fq, P, Q, qh);
    {T}2 h1 = 2 * t + 1 < items ? herm(X + (2 * t + 1) * xs, fp, fq, P, Q, qh) : ({T}2)(0);
    Z[t * P * Q + f] = ({T}2)(h0.x - h1.y, h0.y + h1.x);
}}
// Bluestein: c[j] = exp(sign·πi·j²/n)
inline {T}2 chirp(long j, int n, int sign) {{
    long q = (j * j) % (2 * (long)n);
    {T} a = sign * ({T})q / ({T})n;
    return ({T}2)(cospi(a), sinpi(a));
}}
// a[b1, j, b2] = x[b1, j, b2]·c[j] for j < n, 0 for n ≤ j < m
__kernel void bl_pre(__global {T}2* a, __global const {T}2* x, int xoff, int n, int m, int b2, int total,
                     int sign) {{
    int g = get_global_id(0);
    if (g >= total) return;
    int k = g % b2, q = g / b2, j = q % m, b = q / m;
    a[g] = j < n ? cmul(x[xoff + (b * n + j) * b2 + k], chirp(j, n, sign)) : ({T}2)(0);
}}
// the chirp filter: conj(c[j]) for j < n and at m − j, 0 between
__kernel void bl_filter(__global {T}2* h, int n, int m, int sign) {{
    int j = get_global_id(0);
    if (j >= m) return;
    int d = j < n ? j : (m - j < n ? m - j : -1);
    h[j] = d >= 0 ? conj2(chirp(d, n, sign)) : ({T}2)(0);
}}
__kernel void bl_mul(__global {T}2* a, __global const {T}2* h, int m, int b2, int total) {{
    int g = get_global_id(0);
    if (g >= total) return;
    a[g] = cmul(a[g], h[(g / b2) % m]);
}}
__kernel void bl_post(__global {T}2* y, __global const {T}2* a, int n, int m, int b2, int total, int sign,
                      {T} scale) {{
    int g = get_global_id(0);
    if (g >= total) return;
    int k = g % b2, q = g / b2, j = q % n, b = q / n;
    y[g] = cmul(a[(b * m + j) * b2 + k], chirp(j, n, sign)) * scale;
}}
"""


def _aux(dev: Any, dt: np.dtype, name: str) -> Any:
    T = _ctype(dt)
    return dev.kernel(("fft-aux", T), lambda: _aux_source(T), name)


_FILTERS: dict[Any, Any] = {}


def _bluestein(dev: Any, src: Any, soff: int, dst: Any, n: int, b1: int, b2: int, sign: int, dt: np.dtype,
               scale: float) -> None:
    """Length ``n`` with a prime factor above 7: Bluestein's chirp-z, a circular convolution of length
    ``m = fast_len(2n − 1)`` by FFTs (the chirp filter's spectrum is cached per device)."""
    m = fast_len(2 * n - 1)
    L = _local_ew(dev)
    key = (id(dev), n, m, sign, dt.str)
    h = _FILTERS.get(key)
    if h is None:
        h0 = dev.alloc(m * 2 * dt.itemsize)
        _aux(dev, dt, "bl_filter")(dev.queue, (_round_up(m, L),), (L,), h0, np.int32(n), np.int32(m),
                                   np.int32(sign))
        h = dev.alloc(m * 2 * dt.itemsize)
        _transform(dev, h0, 0, h, m, 1, 1, -1, dt, 1.0 / m)   # scaled: the inverse below is unscaled
        _FILTERS[key] = h
    total = b1 * m * b2
    a = dev.alloc(total * 2 * dt.itemsize)
    fa = dev.alloc(total * 2 * dt.itemsize)
    _aux(dev, dt, "bl_pre")(dev.queue, (_round_up(total, L),), (L,), a, src, np.int32(soff), np.int32(n),
                            np.int32(m), np.int32(b2), np.int32(total), np.int32(sign))
    _transform(dev, a, 0, fa, m, b1, b2, -1, dt, 1.0)
    _aux(dev, dt, "bl_mul")(dev.queue, (_round_up(total, L),), (L,), fa, h, np.int32(m), np.int32(b2),
                            np.int32(total))
    _transform(dev, fa, 0, a, m, b1, b2, 1, dt, 1.0)
    tot = b1 * n * b2
    _aux(dev, dt, "bl_post")(dev.queue, (_round_up(tot, L),), (L,), dst, a, np.int32(n), np.int32(m),
                             np.int32(b2), np.int32(tot), np.int32(sign), dt.type(scale))


def ifft(a: OpenCLArray, axis: int = -1) -> OpenCLArray:
    """The inverse DFT of complex ``a`` along ``axis``, scaled by ``1/N``."""
    return fft(a, axis, inverse=True)


def fft2(a: OpenCLArray, *, inverse: bool = False) -> OpenCLArray:
    """The 2-D DFT of complex ``a`` over its last two (complex) axes: rows, then columns."""
    _, cs = _check_complex(a, "fft2")
    if len(cs) < 2:
        raise ValueError(f"fft2: needs a complex array of at least 2 dimensions, got shape {cs}")
    return fft(fft(a, -1, inverse=inverse), -2, inverse=inverse)


def ifft2(a: OpenCLArray) -> OpenCLArray:
    """The inverse 2-D DFT over the last two complex axes, scaled by ``1/(P·Q)``."""
    return fft2(a, inverse=True)



def _check_real(x: Any, what: str) -> np.dtype:
    if not isinstance(x, OpenCLArray):
        raise TypeError(f"{what}: expected an OpenCL array, got {type(x).__name__}")
    if x._dtype not in (np.float32, np.float64):
        raise TypeError(f"{what}: takes float32 or float64 data, got {x._dtype}")
    return x._dtype


def _rows_cols(dev: Any, src: Any, dst: Any, bsz: int, P: int, Q: int, sign: int, dt: np.dtype, *,
               imode: str = "c", pair: tuple = (0, 0, 0), omode: str = "c", scale: float = 1.0,
               rows_first: bool = True) -> None:
    """A 2-D transform of ``bsz`` contiguous P×Q images (both lengths ≤ MAX_UNROLLED), through a
    temporary: rows then columns (``rows_first``) or columns then rows. Real-pair input (``imode="p"``)
    is read by the first pass, real-pair output (``omode="p"``) written by the second; ``bsz`` counts
    complex images, ``pair`` = (real images, their stride, output stride)."""
    tmp = dev.alloc(bsz * P * Q * 2 * dt.itemsize)
    ist = 2 * P * Q if imode == "p" else P * Q
    ost = 2 * P * Q if omode == "p" else P * Q
    if rows_first:
        _line(dev, tmp, src, Q, sign=sign, dtype=dt, batch=[(bsz, ist, P * Q), (P, Q, Q)], isa=1, osa=1,
              imode=imode, pair=(pair[0], pair[1], 0))
        _line(dev, dst, tmp, P, sign=sign, dtype=dt, batch=[(bsz, P * Q, ost), (Q, 1, 1)], isa=Q, osa=Q,
              omode=omode, pair=(pair[0], 0, pair[2]), scale=scale)
    else:
        _line(dev, tmp, src, P, sign=sign, dtype=dt, batch=[(bsz, ist, P * Q), (Q, 1, 1)], isa=Q, osa=Q,
              imode=imode, pair=(pair[0], pair[1], 0))
        _line(dev, dst, tmp, Q, sign=sign, dtype=dt, batch=[(bsz, P * Q, ost), (P, Q, Q)], isa=1, osa=1,
              omode=omode, pair=(pair[0], 0, pair[2]), scale=scale)


def rfft2(x: OpenCLArray) -> OpenCLArray:
    """The 2-D DFT of real ``x`` (``(..., P, Q)``) over its last two axes: the half spectrum
    ``(..., P, Q // 2 + 1, 2)``, as ``numpy.fft.rfft2``.

    Two real images are transformed as one complex one (real and imaginary parts) and separated by
    the spectrum's Hermitian symmetry: half the work of complex transforms. P and Q must be smooth
    (prime factors 2, 3, 5, 7) and at most :data:`MAX_UNROLLED`.
    """
    dt = _check_real(x, "rfft2")
    if x.ndim < 2:
        raise ValueError(f"rfft2: needs at least 2 dimensions, got shape {x._shape}")
    P, Q = x._shape[-2:]
    _check_len(P, "rfft2")
    _check_len(Q, "rfft2")
    dev = x._dev
    bsz = _prod(x._shape[:-2])
    qh = Q // 2 + 1
    out = empty(x._shape[:-1] + (qh, 2), dt, dev)
    if out.size == 0:
        return out
    x = _contiguous(x) if x._offset % 2 == 0 else _contiguous_any(x)
    pairs = -(-bsz // 2)
    z = dev.alloc(pairs * P * Q * 2 * dt.itemsize)
    src = x._buf if not x._offset else _flat_copy(x)
    _rows_cols(dev, src, z, pairs, P, Q, -1, dt, imode="p", pair=(bsz, P * Q, 0))
    _aux(dev, dt, "sep")(dev.queue, *_grid2(dev, qh, P, pairs), out._buf, z, np.int32(P), np.int32(Q),
                         np.int32(qh), np.int32(bsz), np.int32(P * qh))
    return out


def irfft2(X: OpenCLArray, s: tuple[int, int]) -> OpenCLArray:
    """The inverse of :func:`rfft2`: half spectra ``(..., P, Q // 2 + 1, 2)`` → real ``(..., P, Q)``,
    ``s = (P, Q)``, as ``numpy.fft.irfft2(X, s)`` (the Hermitian part of the spectrum is used)."""
    dt, cs = _check_complex(X, "irfft2")
    P, Q = (int(v) for v in s)
    if len(cs) < 2 or cs[-2] != P or cs[-1] != Q // 2 + 1:
        raise ValueError(f"irfft2: spectra of shape {cs} do not match s={s} "
                         f"(expected (..., {P}, {Q // 2 + 1}))")
    _check_len(P, "irfft2")
    _check_len(Q, "irfft2")
    dev = X._dev
    bsz = _prod(cs[:-2])
    out = empty(cs[:-2] + (P, Q), dt, dev)
    if out.size == 0:
        return out
    X = _contiguous(X)
    if X._offset:
        X = _contiguous_any(X)
    qh = Q // 2 + 1
    pairs = -(-bsz // 2)
    z = dev.alloc(pairs * P * Q * 2 * dt.itemsize)
    _aux(dev, dt, "pack")(dev.queue, *_grid2(dev, Q, P, pairs), z, X._buf, np.int32(P), np.int32(Q),
                          np.int32(qh), np.int32(bsz), np.int32(P * qh))
    _rows_cols(dev, z, out._buf, pairs, P, Q, 1, dt, omode="p", pair=(bsz, 0, P * Q), scale=1.0 / (P * Q),
               rows_first=False)
    return out


def _check_len(n: int, what: str) -> None:
    if radices(n) is None or n > MAX_UNROLLED:
        raise ValueError(f"{what}: length {n} is not supported: lengths up to {MAX_UNROLLED} whose prime "
                         "factors are 2, 3, 5 and 7 (fast_len(n) gives the next one)")


def _contiguous_any(a: OpenCLArray) -> OpenCLArray:
    from .namespace import _copy

    return _copy(a)


def _flat_copy(a: OpenCLArray) -> Any:
    return _contiguous_any(a)._buf


# ================================================================ conv2d by FFT


def _cgemm_source(T: str, TA: int, TB: int) -> str:
    """Per frequency f and group g: ``Y[a, g·nb + b, f] = Σ_c A[a, g·cg + c, f] · B[g·nb + b, c, f]``,
    complex; work-items along f (contiguous loads), each a TA × TB tile of (a, b)."""
    pre = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n" if T == "double" else ""
    decl = [f"__global const {T}2* pa{i} = A + min(a0 + {i}, p.na - 1) * p.sa + g * p.cg * F + f;"
            for i in range(TA)]
    decl += [f"__global const {T}2* pb{j} = B + (g * p.nb + min(b0 + {j}, p.nb - 1)) * p.cg * F + f;"
             for j in range(TB)]
    decl += [f"{T}2 c{i}_{j} = ({T}2)(0);" for i in range(TA) for j in range(TB)]
    loop = [f"{T}2 u{i} = pa{i}[o];" for i in range(TA)] + [f"{T}2 v{j} = pb{j}[o];" for j in range(TB)]
    loop += [f"c{i}_{j} += ({T}2)(u{i}.x * v{j}.x - u{i}.y * v{j}.y, u{i}.x * v{j}.y + u{i}.y * v{j}.x);"
             for i in range(TA) for j in range(TB)]
    store = [f"if (a0 + {i} < p.na && b0 + {j} < p.nb) "
             f"Y[(a0 + {i}) * p.sy + (g * p.nb + b0 + {j}) * F + f] = c{i}_{j};"
             for i in range(TA) for j in range(TB)]
    nl = "\n    "
    return f"""{pre}typedef struct {{ int F, cg, na, nb, ta, tb, sa, sy; }} gp_t;
__kernel void cgemm(__global {T}2* Y, __global const {T}2* A, __global const {T}2* B, gp_t p) {{
    int f = get_global_id(0);
    int F = p.F;
    if (f >= F) return;
    int t = get_global_id(1);
    int bt = t % p.tb; t /= p.tb;
    int at = t % p.ta; int g = t / p.ta;
    int a0 = at * {TA}, b0 = bt * {TB};
    {nl.join(decl)}
    for (int c = 0, o = 0; c < p.cg; ++c, o += F) {{
        {(nl + '    ').join(loop)}
    }}
    {nl.join(store)}
}}
"""


def _tiles(na: int, nb: int, isz: int = 4) -> tuple[int, int]:
    """The cgemm tile: fewest loads per FLOP, at most 16 complex accumulators (8 in double: they must
    stay in registers), little waste at the edges."""
    best = None
    most = 16 if isz <= 4 else 8
    for ta in (1, 2, 3, 4):
        for tb in (1, 2, 3, 4, 6, 8):
            if ta * tb > most or ta > max(na, 1) or tb > max(nb, 1):
                continue
            tiles = -(-na // ta) * -(-nb // tb)
            cost = tiles * (ta + tb) + 0.5 * tiles * ta * tb   # loads + arithmetic (wasted at the edges too)
            if best is None or cost < best[0]:
                best = (cost, ta, tb)
    return (best[1], best[2]) if best else (1, 1)


class _Plan:
    """Everything conv2d_fft does for one geometry (shapes, parameters): sizes, packing, launches."""

    def __init__(self, x_shape: tuple, w_shape: tuple, geo: Any, pack: str = "n") -> None:
        (N, C, H, W), (O, Cg, kh, kw) = x_shape, w_shape
        G = geo.groups
        (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = geo.stride, geo.padding, geo.dilation, geo.out
        self.N, self.C, self.H, self.W, self.G = N, C, H, W, G
        self.O, self.Cg, self.kh, self.kw = O, Cg, kh, kw
        self.Og = Og = O // G
        self.sh, self.sw, self.ph, self.pw = sh, sw, ph, pw
        self.dh, self.dw, self.Ho, self.Wo = dh, dw, Ho, Wo
        eh = (Ho - 1) * sh + (kh - 1) * dh + 1        # rows / columns of the padded input the output reads
        ew = (Wo - 1) * sw + (kw - 1) * dw + 1
        self.P, self.Q = fast_len(eh), fast_len(ew)
        self.Hx, self.Wx = min(H, eh - ph), min(W, ew - pw)   # rows / columns of x read
        self.F = self.P * self.Q
        # two real images as one complex one: along the batch ("n": x[2i] + i·x[2i+1], the weights
        # paired and separated) or along the output channels ("o": w[2j] + i·w[2j+1], x separated)
        self.pack = pack
        if pack == "n":
            self.na, self.nb = -(-N // 2), Og             # GEMM: A = packed x (na, C), B = separated w
            self.mx, self.mw = self.na * C, -(-(O * Cg) // 2)   # complex images transformed
            self.sep_items = O * Cg
        else:
            self.na, self.nb = N, -(-Og // 2)             # GEMM: A = separated x (N, C), B = packed w
            self.mx, self.mw = -(-(N * C) // 2), G * self.nb * Cg
            self.sep_items = N * C
        self.my = self.na * G * self.nb               # complex output images
        self.empty = self.Hx <= 0 or self.Wx <= 0     # the output reads only padding
        self.biggest = max(self.mx, self.mw, self.my, self.sep_items) * self.F * 2

    def lines(self) -> list[tuple[str, int, int, float]]:
        """The line passes as (name, length, lines, the fraction of a full transform's work done)."""
        P, Q = self.P, self.Q
        return [("x rows", Q, self.mx * self.Hx, _work(Q, self.Wx, self.pw, 1, False)),
                ("x cols", P, self.mx * Q, _work(P, self.Hx, self.ph, 1, False)),
                ("w rows", Q, self.mw * self.kh, _work(Q, self.kw, 0, self.dw, True)),
                ("w cols", P, self.mw * Q, _work(P, self.kh, 0, self.dh, True)),
                ("y cols", P, self.my * Q, 1.0), ("y rows", Q, self.my * self.Ho, 1.0)]


def _work(n: int, nin: int, lo: int, dil: int, rev: bool) -> float:
    """The fraction of a full transform a line of ``n`` points with ``nin`` elements read does: the
    two-step transform skips the first-step transforms whose elements all lie outside the data."""
    n1, n2 = _split(n)
    if n2 == 1:
        return 1.0
    active = 0
    for q in range(n2):
        for s in range(n1):
            m = q + n2 * s
            u = ((n - m) % n if rev else m) - lo
            if 0 <= u < nin * dil and u % dil == 0:
                active += 1
                break
    return 0.5 + 0.5 * active / n2


# The profile the packing is chosen with (plans do not depend on the device): opencl:0's, calibrated.
_NOMINAL = SimpleNamespace(peak_flops=1.3e11, peak_flops_f64=7e10, memory_bandwidth=4.5e10,
                           launch_latency=2.5e-5, fft_flops=4e10)


@functools.lru_cache(maxsize=512)
def conv2d_fft_plan(x_shape: tuple, w_shape: tuple, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                    groups: int = 1) -> _Plan:
    """The plan of a conv2d call: the packing with the lower modelled cost (raises conv2d's own errors
    for an invalid geometry)."""
    from ...ops.nn import conv2d_geometry

    geo = conv2d_geometry(tuple(x_shape), tuple(w_shape), stride, padding, dilation, groups)
    plans = [_Plan(tuple(x_shape), tuple(w_shape), geo, pack) for pack in ("n", "o")]
    if plans[0].empty:
        return plans[0]
    return min(plans, key=lambda pl: sum(c for _, c in _stage_costs(pl, _NOMINAL, 4)))


def conv2d_fft(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
               groups: int = 1) -> Any:
    """conv2d (PyTorch's cross-correlation) by FFT on an OpenCL device; see the module docstring.

    Out-of-memory and out-of-resources failures raise :class:`OutOfResourcesError`.
    """
    with resource_errors(lambda: f"conv2d (fft) on {x._dev.name}: x {tuple(x.shape)}, w {tuple(w.shape)} "
                                 f"{x.dtype}"):
        return _conv2d_fft(x, w, stride, padding, dilation, groups)


def _conv2d_fft(x: Any, w: Any, stride: Any, padding: Any, dilation: Any, groups: int,
                pack: str | None = None) -> Any:
    """conv2d_fft's work; ``pack`` forces the packing ("n" or "o", for tests), else the plan's."""
    from .namespace import zeros

    if not isinstance(x, OpenCLArray) or not isinstance(w, OpenCLArray):
        raise TypeError("conv2d (fft): x and w must be OpenCL arrays")
    if x._dev is not w._dev:
        raise ValueError(f"conv2d (fft): x is on {x._dev} and w on {w._dev}")
    if x._dtype != w._dtype or x._dtype not in (np.float32, np.float64):
        raise TypeError(f"conv2d (fft): takes float32 or float64 x and w of one dtype, got {x._dtype} "
                        f"and {w._dtype}")
    pl = conv2d_fft_plan(tuple(x.shape), tuple(w.shape), _hashable(stride), _hashable(padding),
                         _hashable(dilation), groups)
    if pack is not None and pack != pl.pack:
        from ...ops.nn import conv2d_geometry

        geo = conv2d_geometry(tuple(x.shape), tuple(w.shape), stride, padding, dilation, groups)
        pl = _Plan(tuple(x.shape), tuple(w.shape), geo, pack)
    dev, dt = x._dev, x._dtype
    N, O, Ho, Wo = pl.N, pl.O, pl.Ho, pl.Wo
    if pl.empty or x.size == 0 or w.size == 0:
        return zeros((N, O, Ho, Wo), dtype=dt, device=dev)
    if max(pl.P, pl.Q) > MAX_UNROLLED:
        raise ValueError(f"conv2d (fft): the transform grid {pl.P}×{pl.Q} exceeds {MAX_UNROLLED} points "
                         "a side")
    if pl.biggest > _I32 or x.size > _I32 or N * O * Ho * Wo > _I32:
        raise ValueError("conv2d (fft): an intermediate array would have 2^31 elements or more")
    limit = int(getattr(dev.cl_device, "max_mem_alloc_size", 0) or 0)
    if limit and pl.biggest * dt.itemsize > limit:
        raise OutOfResourcesError(
            f"conv2d (fft) on {dev.name}: x {tuple(x.shape)}, w {tuple(w.shape)} {dt}: the spectra need "
            f"{pl.biggest * dt.itemsize / 2**20:.0f} MiB in one buffer, the device allows "
            f"{limit / 2**20:.0f} MiB")
    x = x if is_contiguous(x) else _contiguous_any(x)
    w = w if is_contiguous(w) else _contiguous_any(w)
    C, H, W, Cg, kh, kw, G, Og = pl.C, pl.H, pl.W, pl.Cg, pl.kh, pl.kw, pl.G, pl.Og
    P, Q, F, Hx, Wx = pl.P, pl.Q, pl.F, pl.Hx, pl.Wx
    cbytes = 2 * dt.itemsize
    # ---- x: rows (read from x with zero fill), then columns (placed at row ph)
    tx = dev.alloc(pl.mx * Hx * Q * cbytes)
    if pl.pack == "n":
        xb = [(pl.na, 2 * C * H * W, C * Hx * Q), (C, H * W, Hx * Q), (Hx, W, Q)]
        xpair = (N, C * H * W, 0)
    else:
        xb = [(pl.mx, 2 * H * W, Hx * Q), (Hx, W, Q)]
        xpair = (N * C, H * W, 0)
    _line(dev, tx, x._buf, Q, sign=-1, dtype=dt, batch=xb, isa=1, osa=1, ioff=x._offset, imode="p",
          nin=Wx, lo=pl.pw, pair=xpair)
    sx = dev.alloc(pl.mx * F * cbytes)
    _line(dev, sx, tx, P, sign=-1, dtype=dt, batch=[(pl.mx, Hx * Q, F), (Q, 1, 1)], isa=Q, osa=Q,
          nin=Hx, lo=pl.ph)
    del tx
    # ---- w: flipped circularly and dilated, rows then columns
    tw = dev.alloc(pl.mw * kh * Q * cbytes)
    K = kh * kw
    if pl.pack == "n":
        wb = [(pl.mw, 2 * K, kh * Q), (kh, kw, Q)]
        wpair = (O * Cg, K, 0)
    else:
        ogp = pl.nb
        wb = [(ogp, 2 * Cg * K, Cg * kh * Q), (G, Og * Cg * K, ogp * Cg * kh * Q), (Cg, K, kh * Q),
              (kh, kw, Q)]
        wpair = (Og, Cg * K, 0)
    _line(dev, tw, w._buf, Q, sign=-1, dtype=dt, batch=wb, isa=1, osa=1, ioff=w._offset, imode="p",
          nin=kw, dil=pl.dw, rev=True, pair=wpair)
    sw = dev.alloc(pl.mw * F * cbytes)
    _line(dev, sw, tw, P, sign=-1, dtype=dt, batch=[(pl.mw, kh * Q, F), (Q, 1, 1)], isa=Q, osa=Q,
          nin=kh, dil=pl.dh, rev=True)
    del tw
    # ---- separate the operand transformed in pairs of unrelated images
    pairs = pl.mw if pl.pack == "n" else pl.mx
    v = dev.alloc(pl.sep_items * F * cbytes)
    _aux(dev, dt, "sep")(dev.queue, *_grid2(dev, Q, P, pairs), v, sw if pl.pack == "n" else sx,
                         np.int32(P), np.int32(Q), np.int32(Q), np.int32(pl.sep_items), np.int32(F))
    a_op, b_op = (sx, v) if pl.pack == "n" else (v, sw)
    del sx, sw
    # ---- contract the channels, per frequency and group
    y = dev.alloc(pl.my * F * cbytes)
    T = _ctype(dt)
    TA, TB = _tiles(pl.na, pl.nb, dt.itemsize)
    knl = dev.kernel(("fft-cgemm", T, TA, TB), lambda: _cgemm_source(T, TA, TB), "cgemm")
    ta, tb = -(-pl.na // TA), -(-pl.nb // TB)
    gp = np.array([F, Cg, pl.na, pl.nb, ta, tb, C * F, G * pl.nb * F], dtype=np.int32)
    Lg = 64 if F >= 64 else 16
    knl(dev.queue, (_round_up(F, Lg), G * ta * tb), (Lg, 1), y, a_op, b_op, gp)
    del a_op, b_op, v
    # ---- inverse: columns (keeping the rows the stride keeps), then rows into the output
    ty = dev.alloc(pl.my * Ho * Q * cbytes)
    _line(dev, ty, y, P, sign=1, dtype=dt, batch=[(pl.my, F, Ho * Q), (Q, 1, 1)], isa=Q, osa=Q,
          nout=Ho, ostep=pl.sh)
    del y
    out = empty((N, O, Ho, Wo), dt, dev)
    HW = Ho * Wo
    if pl.pack == "n":
        yb = [(pl.na, O * Ho * Q, 2 * O * HW), (O, Ho * Q, HW), (Ho, Q, Wo)]
        ypair = (N, 0, O * HW)
    else:
        ogp = pl.nb
        yb = [(ogp, Ho * Q, 2 * HW), (N, G * ogp * Ho * Q, O * HW), (G, ogp * Ho * Q, Og * HW), (Ho, Q, Wo)]
        ypair = (Og, 0, HW)
    _line(dev, out._buf, ty, Q, sign=1, dtype=dt, batch=yb, isa=1, osa=1, omode="p", nout=Wo, ostep=pl.sw,
          pair=ypair, scale=1.0 / F)
    return out


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


# ================================================================ dispatch: supports, cost, calibration

_FLOATS = ("float32", "float64")


def _device_of(signature: Any) -> Any:
    try:
        from .device import get_device

        return get_device(signature.device)
    except Exception:  # noqa: BLE001 - a signature of another device, or no OpenCL here
        return None


def _sig_plan(signature: Any) -> Any:
    """The plan of a signature's call, or the reason (a string) the fft kernel declines it."""
    shapes = tuple(signature.shapes)
    if len(shapes) != 2:
        return f"conv2d takes two arrays (x, w), got {len(shapes)} operands"
    dx, dw = signature.dtypes
    if dx != dw:
        return f"x is {dx} and w is {dw}: mixed dtypes are left to the generic forward (it promotes)"
    if dx not in _FLOATS:
        return (f"dtype {dx}: the FFT computes in floating point and would round integer results "
                "(handles float32, float64)")
    params = {k: _hashable(v) for k, v in dict(signature.params).items()}
    unknown = set(params) - {"stride", "padding", "dilation", "groups"}
    if unknown:
        return f"unknown conv2d parameter(s) {', '.join(sorted(unknown))}"
    try:
        pl = conv2d_fft_plan(tuple(shapes[0]), tuple(shapes[1]), **params)
    except (ValueError, TypeError) as exc:
        return f"invalid conv2d call ({exc}); the generic forward reports it"
    if 0 in shapes[0] or 0 in shapes[1]:
        return "an empty operand: the generic forward handles it"
    if dx == "float64":
        dev = _device_of(signature)
        if dev is not None and not dev.fp64:
            return f"{dev.name} has no float64 support"
    if max(pl.P, pl.Q) > MAX_UNROLLED:
        return (f"the transform grid {pl.P}×{pl.Q} exceeds {MAX_UNROLLED} points a side (the per-line "
                "transforms it fuses padding and cropping into)")
    if pl.biggest > _I32 or _prod(shapes[0]) > _I32 or pl.N * pl.O * pl.Ho * pl.Wo > _I32:
        return "an intermediate array would have 2^31 elements or more (32-bit indexing)"
    return pl


def conv2d_fft_supports(signature: Any) -> Any:
    """``True`` for float32/float64 conv2d calls with a valid geometry and a grid of at most
    :data:`MAX_UNROLLED` points a side; else the reason."""
    pl = _sig_plan(signature)
    return pl if isinstance(pl, str) else True


# Cost-model constants (the device profile gives the seconds; these shape them). Fitted on opencl:0
# (Intel's CPU runtime, 2 cores) against timings of the signatures in benchmarks/dispatch_signatures.py.
_FFT_PEAK_FRACTION = 0.3    # fft_flops without calibration: this fraction of peak_flops
_CALIBRATION_N = 64         # the line length measure_fft_flops times (its rate is quoted for this length)
_FFT_OVERHEAD = 50.0        # per-point work besides 5·log2(n) FLOPs (loads, stores, index arithmetic): a
#                             line's time per point grows as (5·log2 n + this), nearly flat in n
_FUSED = 1.2                # the conv's passes (zero-filled, paired, cropped loads and stores) vs plain ones
_CACHE_BYTES = 16 << 20     # a pass whose data (read + written) exceed this streams from memory...
_ROW_STREAM = 0.25          # ...at this fraction of memory_bandwidth for contiguous lines,
_COL_STREAM = 0.2           # ...and this one for strided lines (a column pass)
_CGEMM_PEAK_FRACTION = 0.4  # the frequency GEMM's FLOP rate, as a fraction of peak_flops (fft_cgemm_flops)
_CGEMM_HOT = 0.65           # the fraction of memory_bandwidth it reads spectra at while they fit the cache,
_CGEMM_COLD = 0.07          # and beyond it (rows F apart: the prefetchers lose track)
_CGEMM_CACHE = 8 << 20
_F64 = 2.0                  # double's slowdown beyond the ratio of the profile's peaks (FFT and GEMM rates)
_SEP_STREAM = 1.0           # the pair separation's fraction of memory_bandwidth (mirrored reads)


class _Rated:
    """The profile with ``fft_flops`` and ``memory_bandwidth`` replaced (what ``fft_time`` reads)."""

    def __init__(self, profile: Any, rate: float, bandwidth: float) -> None:
        self._p = profile
        self.fft_flops = rate
        self.memory_bandwidth = bandwidth

    def __getattr__(self, name: str) -> Any:
        return getattr(self._p, name)


def _fft_rate(profile: Any, n: int, isize: int) -> float:
    """FLOP/s (5·n·log2 n per line) the line transform of ``n`` points reaches on this profile."""
    base = float(getattr(profile, "fft_flops", 0.0) or 0.0)
    if not base:
        base = _FFT_PEAK_FRACTION * float(profile.peak_flops)
    if isize >= 8:   # double: the ratio of the profile's peaks, and twice the registers and traffic
        base *= _f64_ratio(profile) / _F64

    def eff(m: int) -> float:
        lg = 5 * math.log2(max(m, 2))
        return lg / (lg + _FFT_OVERHEAD)
    return base * eff(n) / eff(_CALIBRATION_N)


def _pass_cost(profile: Any, n: int, lines: int, isz: int, strided: bool, work: float = 1.0,
               fused: bool = True) -> float:
    """Seconds of one line-transform launch: ``fft_time`` at the rate for ``n`` points (``work`` of a
    full transform's FLOPs each), its traffic at the bandwidth such a pass streams at when its data
    exceed the cache."""
    bw = float(profile.memory_bandwidth)
    if 2 * 2 * isz * n * lines > _CACHE_BYTES:
        bw *= _COL_STREAM if strided else _ROW_STREAM
    rate = _fft_rate(profile, n, isz) / (_FUSED if fused else 1.0) / work
    return fft_time(_Rated(profile, rate, bw), n, lines, itemsize=isz)


def _two_tier(profile: Any, nbytes: float, cache: float, hot: float, cold: float) -> float:
    """Seconds to read ``nbytes``: the first ``cache`` bytes at ``hot``, the rest at ``cold`` × bandwidth."""
    bw = float(profile.memory_bandwidth)
    return min(nbytes, cache) / (hot * bw) + max(nbytes - cache, 0.0) / (cold * bw)


def _stage_costs(pl: _Plan, profile: Any, isz: int) -> list[tuple[str, float]]:
    """Estimated seconds of each launch of the plan, in launch order (launch overhead included)."""
    F = pl.F
    cb = 2 * isz
    out = []
    lines = pl.lines()
    for name, n, count, work in lines[:4]:
        out.append((name, _pass_cost(profile, n, count, isz, name.endswith("cols"), work)))
    pairs = pl.mw if pl.pack == "n" else pl.mx
    out.append(("sep", memory_time(profile, (2 * pairs + pl.sep_items) * F * cb) / _SEP_STREAM
                + launch_time(profile)))
    flops = 8.0 * pl.na * pl.nb * pl.Cg * pl.G * F
    rate = float(getattr(profile, "fft_cgemm_flops", 0.0) or 0.0) \
        or _CGEMM_PEAK_FRACTION * float(profile.peak_flops)
    if isz >= 8:
        rate *= _f64_ratio(profile) / _F64
    # A and B are read once from memory, then again by every other tile row / column: from the cache
    # when they fit it, else from memory again
    ta, tb = _tiles(pl.na, pl.nb, isz)
    a_bytes, b_bytes = pl.na * pl.C * F * cb, pl.G * pl.nb * pl.Cg * F * cb
    stream = _two_tier(profile, a_bytes + b_bytes + pl.my * F * cb, _CGEMM_CACHE, _CGEMM_HOT, _CGEMM_COLD)
    for nbytes, again in ((a_bytes, -(-pl.nb // tb) - 1), (b_bytes, -(-pl.na // ta) - 1)):
        frac = _CGEMM_HOT if nbytes <= _CGEMM_CACHE else _CGEMM_COLD
        stream += again * nbytes / (frac * float(profile.memory_bandwidth))
    out.append(("cgemm", max(flops / rate, stream) + launch_time(profile)))
    for name, n, count, work in lines[4:]:
        out.append((name, _pass_cost(profile, n, count, isz, name.endswith("cols"), work)))
    return out


def _f64_ratio(profile: Any) -> float:
    f64 = float(getattr(profile, "peak_flops_f64", 0.0) or profile.peak_flops / 2)
    return f64 / float(profile.peak_flops)


def conv2d_fft_cost(signature: Any, profile: Any) -> float:
    """Estimated seconds of :func:`conv2d_fft` for ``signature`` on ``profile`` (see the module docstring)."""
    pl = _sig_plan(signature)
    if isinstance(pl, str):
        return math.inf
    isz = signature.itemsize
    if pl.empty:
        return launch_time(profile, 1) + memory_time(profile, pl.N * pl.O * pl.Ho * pl.Wo * isz)
    t = sum(c for _, c in _stage_costs(pl, profile, isz))
    if "strided" in tuple(getattr(signature, "layouts", ())):   # a contiguous copy first
        for shape, lay in zip(signature.shapes, signature.layouts):
            if lay == "strided":
                t += memory_time(profile, 2 * _prod(shape) * isz) + launch_time(profile)
    return t


def kernels() -> list[Kernel]:
    """The ``fft`` conv2d kernel for the OpenCL family, as the plugin registers it."""
    return [Kernel("conv2d", "opencl", conv2d_fft, name="fft", supports=conv2d_fft_supports,
                   cost=conv2d_fft_cost, version="1")]


def measure_fft_flops(dev: Any, *, repeats: int = 5) -> float:
    """FLOP/s (5·n·log2 n per line) of this module's line transform on ``dev``: float32 lines of
    ``_CALIBRATION_N`` points, 4096 of them along the contiguous axis and 4096 along a strided one
    (the two passes of a 2-D transform), the best of ``repeats`` runs after a warm-up. Store it as the
    profile's ``fft_flops`` (``profile.measured["fft_flops"] = ...``); the cost model scales it to
    other lengths and to float64.
    """
    import time

    n = _CALIBRATION_N
    dt = np.dtype(np.float32)
    b = 64
    rng = np.random.default_rng(0)
    from .array import upload

    a = upload(rng.standard_normal((b, n, n, 2)).astype(np.float32), dev)
    out = empty(a._shape, dt, dev)

    def run() -> None:
        _line(dev, out._buf, a._buf, n, sign=-1, dtype=dt, batch=[(b * n, n, n)], isa=1, osa=1)
        _line(dev, a._buf, out._buf, n, sign=-1, dtype=dt, batch=[(b, n * n, n * n), (n, 1, 1)], isa=n, osa=n)

    run()
    dev.queue.finish()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        dev.queue.finish()
        best = min(best, time.perf_counter() - t0)
    best -= 2 * float(getattr(dev.profile, "launch_latency", 0.0) or 0.0)   # fft_time adds the launches
    flops = 2 * 5.0 * n * math.log2(n) * b * n
    return flops / max(best, 1e-9)
