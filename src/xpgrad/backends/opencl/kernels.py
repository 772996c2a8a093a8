"""OpenCL C kernels, generated from a few templates, and the Python that launches them.

* **elementwise**: one template for every elementwise function. An operand is
  an array (general strides, or, after dimensions are merged, contiguous or a
  single broadcast element) or a scalar kernel argument. Shapes and strides
  travel as one by-value struct argument, so a compiled kernel serves every
  shape and rank; programs are cached per (expression, dtypes, layout).
* **reduction**: one work-item per output (serial over the reduced extent), or
  a two-stage tree (work-groups reduce chunks in local memory, a serial pass
  combines the partials) when the outputs are too few to fill the device
  (``stage=`` forces one; ``choices.py`` prices both for the dispatcher).
* **scan**: one work-item per line, or three passes (chunk totals, their scan,
  chunks with carries) when lines are few and long.
* **matmul**: tiles of A and B staged in local memory, each work-item computing
  a WM x WN block of C, batch dimensions (broadcast ones too) as the third
  NDRange dimension; a plain kernel for small or skinny products
  (``algorithm=`` forces tiled, naive or NumPy on the host; ``choices.py``
  prices the three for the dispatcher).
* **indexing**: gather, scatter (deterministic last-write-wins), scatter-add
  (deterministic: contributions to one element are summed in selection order;
  or one pass of float atomics, fast and not deterministic: the dispatcher
  chooses, ``use_deterministic`` rules the atomics out) and the compaction
  behind boolean masks.

Index arithmetic uses ``int`` when every buffer involved has fewer than 2^31
elements (64-bit division is several times slower on CPUs and GPUs), ``long``
otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ...core.errors import OutOfResourcesError
from .array import OpenCLArray, download, empty, upload

__all__ = ["MAXD", "ctype", "broadcast_shapes", "broadcast_strides", "elementwise", "reduce", "scan",
           "matmul", "gather", "scatter", "scatter_add", "scatter_add_atomic", "atomic_add_support",
           "mask_coords", "MATMUL_ALGORITHMS", "REDUCE_STAGES",
           "matmul_tiles", "tiled_fits", "reduce_group_size", "reduce_groups"]

MAXD = 8  # dimensions a kernel handles after merging; more is refused with a clear message

_CT = {np.dtype(np.bool_): "uchar", np.dtype(np.int8): "char", np.dtype(np.uint8): "uchar",
       np.dtype(np.int16): "short", np.dtype(np.uint16): "ushort", np.dtype(np.int32): "int",
       np.dtype(np.uint32): "uint", np.dtype(np.int64): "long", np.dtype(np.uint64): "ulong",
       np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_I32 = 2 ** 31 - 1


def ctype(dt: np.dtype) -> str:
    """The OpenCL C type that stores NumPy dtype ``dt`` (bool is a byte holding 0 or 1)."""
    return _CT[dt]


# pyopencl status codes that mean "not enough of something" rather than a bug
RESOURCE_CODES = {-4: "MEM_OBJECT_ALLOCATION_FAILURE", -5: "OUT_OF_RESOURCES", -6: "OUT_OF_HOST_MEMORY",
                  -61: "INVALID_BUFFER_SIZE"}


@contextmanager
def resource_errors(describe: Callable[[], str]) -> Iterator[None]:
    """Raise pyopencl's out-of-memory / out-of-resources failures inside the block as
    :class:`OutOfResourcesError` (which the dispatcher answers by trying the next kernel);
    ``describe()`` names the kernel, shapes and dtypes for the message."""
    import pyopencl as cl

    try:
        yield
    except OutOfResourcesError:
        raise
    except (MemoryError, cl.MemoryError, cl.Error) as exc:
        if isinstance(exc, cl.Error) and not isinstance(exc, cl.MemoryError):
            code = getattr(exc, "code", None)
            if code not in RESOURCE_CODES and not any(n in str(exc) for n in RESOURCE_CODES.values()):
                raise
        what = getattr(exc, "what", None)
        what = what() if callable(what) else (what or str(exc) or type(exc).__name__)
        msg = f"{describe()}: the device ran out of memory or resources ({what})"
        raise OutOfResourcesError(msg) from exc


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _idx(*arrays: OpenCLArray, extra: int = 0) -> str:
    """``int`` when every index into these buffers fits 32 bits, else ``long``."""
    if extra > _I32 or any(a._bufn > _I32 for a in arrays):
        return "long"
    return "int"


def _np_idx(I: str) -> Any:
    return np.int32 if I == "int" else np.int64


def _too_many_dims(what: str, nd: int) -> ValueError:
    return ValueError(f"{what}: the OpenCL backend handles up to {MAXD} dimensions after merging "
                      f"contiguous ones, got {nd}")


# ---------------------------------------------------------------- helpers in OpenCL C

_FLOATS = ("float", "double")
_SIGNED = ("char", "short", "int", "long")
_UNSIGNED = ("uchar", "ushort", "uint", "ulong")
_BITS = {"char": 8, "uchar": 8, "short": 16, "ushort": 16, "int": 32, "uint": 32, "long": 64, "ulong": 64}

_HELPERS_FLOAT = {
    # NumPy's remainder and floor_divide (npy_divmod): the sign follows the divisor.
    "mod": """inline T xp_mod_T(T a, T b) {
    if (b == 0) return fmod(a, b);
    T m = fmod(a, b);
    if (m != 0) { if ((b < 0) != (m < 0)) m += b; } else m = copysign((T)0, b);
    return m; }""",
    "floordiv": """inline T xp_floordiv_T(T a, T b) {
    if (b == 0) return a / b;
    T m = fmod(a, b);
    T d = (a - m) / b;
    if (m != 0 && ((b < 0) != (m < 0))) d -= 1;
    T f;
    if (d != 0) { f = floor(d); if (d - f > (T)0.5) f += 1; } else f = copysign((T)0, a / b);
    return f; }""",
    # NumPy's maximum/minimum propagate NaN from either side.
    "max": "inline T xp_max_T(T a, T b) { return (a >= b || isnan(a)) ? a : b; }",
    "min": "inline T xp_min_T(T a, T b) { return (a <= b || isnan(a)) ? a : b; }",
    "sign": "inline T xp_sign_T(T a) { return a > 0 ? (T)1 : (a < 0 ? (T)-1 : a); }",
    "logaddexp": """inline T xp_logaddexp_T(T a, T b) {
    if (a == b) return a + (T)0.6931471805599453094172321;
    T t = a - b;
    if (t > 0) return a + log1p(exp(-t));
    if (t <= 0) return b + log1p(exp(t));
    return t; }""",
    "pow": "inline T xp_pow_T(T a, T b) { return pow(a, b); }",
    "amax": """inline int xp_amax_T(T vb, long ib, T va, long ia) {
    if (ib < 0) return 0;
    if (ia < 0) return 1;
    if (isnan(va)) return isnan(vb) && ib < ia;
    if (isnan(vb)) return 1;
    return vb > va || (vb == va && ib < ia); }""",
    "amin": """inline int xp_amin_T(T vb, long ib, T va, long ia) {
    if (ib < 0) return 0;
    if (ia < 0) return 1;
    if (isnan(va)) return isnan(vb) && ib < ia;
    if (isnan(vb)) return 1;
    return vb < va || (vb == va && ib < ia); }""",
}
_HELPERS_SIGNED = {
    # Python's floor division and modulo; x / 0 gives 0 as in NumPy (and never traps), MIN / -1 wraps.
    "floordiv": """inline T xp_floordiv_T(T a, T b) {
    if (b == 0) return 0;
    if (b == -1) return (T)(-a);
    T q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
    return q; }""",
    "mod": """inline T xp_mod_T(T a, T b) {
    if (b == 0 || b == -1) return 0;
    T r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r; }""",
    "pow": """inline T xp_pow_T(T a, T b) {
    if (b < 0) return (a == 1) ? (T)1 : ((a == -1) ? ((b & 1) ? (T)-1 : (T)1) : (T)0);
    T r = 1;
    while (b) { if (b & 1) r *= a; a *= a; b >>= 1; }
    return r; }""",
    "shl": "inline T xp_shl_T(T a, T b) { return (b < 0 || b >= BITS) ? (T)0 : (T)(a << b); }",
    "shr": "inline T xp_shr_T(T a, T b) { "
           "return (b < 0 || b >= BITS) ? (a < 0 ? (T)-1 : (T)0) : (T)(a >> b); }",
    "max": "inline T xp_max_T(T a, T b) { return a >= b ? a : b; }",
    "min": "inline T xp_min_T(T a, T b) { return a <= b ? a : b; }",
    "sign": "inline T xp_sign_T(T a) { return a > 0 ? (T)1 : (a < 0 ? (T)-1 : (T)0); }",
    "wrap": """inline T xp_wrap_T(T i, T n) {
    i = i < 0 ? i + n : i;
    return i < 0 ? (T)0 : (i >= n ? n - 1 : i); }""",
    "amax": "inline int xp_amax_T(T vb, long ib, T va, long ia) { "
            "if (ib < 0) return 0; if (ia < 0) return 1; return vb > va || (vb == va && ib < ia); }",
    "amin": "inline int xp_amin_T(T vb, long ib, T va, long ia) { "
            "if (ib < 0) return 0; if (ia < 0) return 1; return vb < va || (vb == va && ib < ia); }",
}
_HELPERS_UNSIGNED = {
    "floordiv": "inline T xp_floordiv_T(T a, T b) { return b == 0 ? (T)0 : (T)(a / b); }",
    "mod": "inline T xp_mod_T(T a, T b) { return b == 0 ? (T)0 : (T)(a % b); }",
    "pow": """inline T xp_pow_T(T a, T b) {
    T r = 1;
    while (b) { if (b & 1) r *= a; a *= a; b >>= 1; }
    return r; }""",
    "shl": "inline T xp_shl_T(T a, T b) { return (b >= BITS) ? (T)0 : (T)(a << b); }",
    "shr": "inline T xp_shr_T(T a, T b) { return (b >= BITS) ? (T)0 : (T)(a >> b); }",
    "max": "inline T xp_max_T(T a, T b) { return a >= b ? a : b; }",
    "min": "inline T xp_min_T(T a, T b) { return a <= b ? a : b; }",
    "sign": "inline T xp_sign_T(T a) { return a > 0 ? (T)1 : (T)0; }",
    "amax": _HELPERS_SIGNED["amax"],
    "amin": _HELPERS_SIGNED["amin"],
}
_HELPER_RE = re.compile(r"\bxp_([a-z0-9]+)_(float|double|char|uchar|short|ushort|int|uint|long|ulong)\b")


def _preamble(src: str) -> str:
    """The pragma and the ``xp_*`` helpers that ``src`` uses, each defined for its type."""
    out = []
    if "double" in src:
        out.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable")
    done = set()
    for name, t in _HELPER_RE.findall(src):
        if (name, t) in done:
            continue
        done.add((name, t))
        table = _HELPERS_FLOAT if t in _FLOATS else _HELPERS_SIGNED if t in _SIGNED else _HELPERS_UNSIGNED
        body = table.get(name)
        if body is None:
            raise KeyError(f"no OpenCL helper xp_{name} for type {t}")
        out.append(body.replace("_T(", f"_{t}(").replace("(T)", f"({t})").replace("T ", f"{t} ")
                   .replace("BITS", str(_BITS.get(t, 0))))
    return "\n".join(out) + "\n" + src


def _offset_macro(I: str) -> str:
    return f"""
#define XP_OFFSET(res, idx, nd, shp, st) {{ {I} r_ = (idx); res = 0; \\
    for (int d_ = (nd) - 1; d_ > 0; --d_) {{ {I} c_ = r_ % shp[d_]; r_ /= shp[d_]; res += c_ * st[d_]; }} \\
    res += r_ * st[0]; }}
"""


# ---------------------------------------------------------------- elementwise


def _ew_source(expr: str, ops: tuple, out_t: str, variant: str, I: str) -> str:
    narr = 1 + sum(k != "s" for k, _, _ in ops)
    out_bool = out_t == "bool"
    out_t = "uchar" if out_bool else out_t
    params = [f"__global {out_t}* out", f"{I} oo"]
    for j, (kind, st, ct) in enumerate(ops):
        if kind == "s":
            params.append(f"{ct} s{j}")
        else:
            params += [f"__global const {st}* p{j}", f"{I} o{j}"]
    if variant == "g":
        params += ["meta_t m", "int nd"]
    params.append(f"{I} n")
    body = [f"{I} i = ({I})get_global_id(0);", "if (i >= n) return;"]
    if variant == "g":
        arr = [j for j, (k, _, _) in enumerate(ops) if k != "s"]
        body.append(f"{I} q = oo; " + " ".join(f"{I} q{j} = o{j};" for j in arr))
        body.append(f"{{ {I} r = i;")
        body.append(" for (int d = nd - 1; d > 0; --d) {")
        body.append(f"  {I} c = r % m.shape[d]; r /= m.shape[d]; q += c * m.st[0][d];")
        body += [f"  q{j} += c * m.st[{a + 1}][d];" for a, j in enumerate(arr)]
        body.append(" }")
        body.append(" q += r * m.st[0][0];")
        body += [f" q{j} += r * m.st[{a + 1}][0];" for a, j in enumerate(arr)]
        body.append("}")
    else:
        body.append(f"{I} q = oo + i;")
    for j, (kind, _, ct) in enumerate(ops):
        if kind == "s":
            body.append(f"{ct} a{j} = s{j};")
        elif kind == "c":
            body.append(f"{ct} a{j} = ({ct})p{j}[o{j} + i];")
        elif kind == "z":
            body.append(f"{ct} a{j} = ({ct})p{j}[o{j}];")
        else:
            body.append(f"{ct} a{j} = ({ct})p{j}[q{j}];")
    if out_bool:  # any nonzero value stores as 1: NumPy's bools are bytes holding 0 or 1
        body.append(f"out[q] = (uchar)(({expr}) != 0);")
    else:
        body.append(f"out[q] = ({out_t})({expr});")
    meta = ""
    if variant == "g":
        meta = f"typedef struct {{ {I} shape[{MAXD}]; {I} st[{narr}][{MAXD}]; }} meta_t;\n"
    src = meta + f"__kernel void ew({', '.join(params)}) {{\n  " + "\n  ".join(body) + "\n}\n"
    return _preamble(src)


def _merge_dims(shape: list[int], strides: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 axes and merge neighbours that every operand walks contiguously."""
    keep = [d for d, n in enumerate(shape) if n != 1]
    shp = [shape[d] for d in keep]
    sts = [[s[d] for d in keep] for s in strides]
    if not shp:
        return [1], [[0] for _ in strides]
    out_s = [shp[-1]]
    out_t = [[s[-1]] for s in sts]
    for d in range(len(shp) - 2, -1, -1):
        if all(s[d] == t[0] * out_s[0] for s, t in zip(sts, out_t)):
            out_s[0] *= shp[d]
        else:
            out_s.insert(0, shp[d])
            for s, t in zip(sts, out_t):
                t.insert(0, s[d])
    return out_s, out_t


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast of ``shapes`` (Array API rules), or ``ValueError`` naming the axis."""
    nd = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(nd, 0, -1):
        n = 1
        for s in shapes:
            if len(s) >= k:
                m = s[-k]
                if m != 1:
                    if n != 1 and n != m:
                        raise ValueError(f"shapes {', '.join(map(str, shapes))} cannot be broadcast "
                                         f"together (axis -{k} has sizes {n} and {m})")
                    n = m
        out.append(n)
    return tuple(out)


def _bstrides(a: OpenCLArray, shape: tuple[int, ...]) -> list[int]:
    """``a``'s strides when broadcast to ``shape`` (0 along broadcast axes)."""
    return broadcast_strides(a._shape, a._strides, shape)


def broadcast_strides(ashape: tuple[int, ...], astrides: tuple[int, ...],
                      shape: tuple[int, ...]) -> list[int]:
    """Strides of an array of ``ashape``/``astrides`` broadcast to ``shape`` (0 along broadcast axes)."""
    pad = len(shape) - len(ashape)
    return [0] * pad + [0 if ashape[d] == 1 and shape[pad + d] != 1 else astrides[d]
                        for d in range(len(ashape))]


def elementwise(dev: Any, expr: str, operands: list, compute: list, out_dtype: np.dtype, *,
                out: OpenCLArray | None = None, shape: tuple[int, ...] | None = None) -> OpenCLArray:
    """``out = expr(a0, a1, ...)`` elementwise with broadcasting.

    ``operands`` are arrays of ``dev`` or NumPy scalars; ``compute`` gives the
    dtype each is read as (``a{j}`` in ``expr``); ``i``, the flat output index,
    is available too. Writes into ``out`` (any strides) when given.
    """
    arrays = [a for a in operands if isinstance(a, OpenCLArray)]
    if out is not None:
        shape = out._shape
    elif shape is None:
        shape = broadcast_shapes(*(a._shape for a in arrays))
    if out is None:
        out = empty(shape, out_dtype, dev)
    n = out.size
    if n == 0:
        return out
    strides = [list(out._strides)] + [_bstrides(a, shape) for a in arrays]
    mshape, msts = _merge_dims(list(shape), strides)
    # One merged axis, the output contiguous, every input contiguous or one broadcast element:
    # the "flat" variant, whose loads the compiler can vectorise.
    flat = len(mshape) == 1 and (mshape[0] == 1 or (msts[0][0] == 1
                                                    and all(s[0] in (0, 1) for s in msts[1:])))
    if not flat and len(mshape) > MAXD:
        raise _too_many_dims(expr, len(mshape))
    I = _idx(out, *arrays, extra=n)
    ops = []
    args: list[Any] = [out._buf, _np_idx(I)(out._offset)]
    k = 1
    for a, ct in zip(operands, compute):
        if isinstance(a, OpenCLArray):
            kind = ("c" if msts[k][0] == 1 else "z") if flat else "g"
            k += 1
            ops.append((kind, _CT[a._dtype], _CT[ct]))
            args += [a._buf, _np_idx(I)(a._offset)]
        else:
            ops.append(("s", "", _CT[ct]))
            args.append(ct.type(a))
    variant = "f" if flat else "g"
    if not flat:
        meta = np.zeros((1 + len(msts), MAXD), dtype=_np_idx(I))
        meta[0, :len(mshape)] = mshape
        for r, st in enumerate(msts):
            meta[1 + r, :len(st)] = st
        args += [meta, np.int32(len(mshape))]
    args.append(_np_idx(I)(n))
    out_t = "bool" if out_dtype == np.bool_ else _CT[out_dtype]
    ops_t = tuple(ops)
    key = ("ew", expr, ops_t, out_t, variant, I)
    knl = dev.kernel(key, lambda: _ew_source(expr, ops_t, out_t, variant, I), "ew")
    L = dev.local_size
    knl(dev.queue, (_round_up(n, L),), (L,), *args)
    return out


# ---------------------------------------------------------------- reductions

_RED = {
    # kind: (identity, combine(acc, v), map(x) on the input)
    "sum": ("0", "{a} + {b}", "({A})({x})"),
    "prod": ("1", "{a} * {b}", "({A})({x})"),
    "max": (None, "xp_max_{A}({a}, {b})", "({A})({x})"),
    "min": (None, "xp_min_{A}({a}, {b})", "({A})({x})"),
    "any": ("0", "{a} | {b}", "(uchar)({x} != 0)"),
    "all": ("1", "{a} & {b}", "(uchar)({x} != 0)"),
}


def _lowest(dt: np.dtype, highest: bool) -> str:
    if dt.kind == "f":
        return "INFINITY" if highest else "-INFINITY"
    if dt.kind == "b":
        return "1" if highest else "0"
    info = np.iinfo(dt)
    v = int(info.max if highest else info.min)
    if dt == np.int64 and not highest:
        return "(-9223372036854775807L - 1)"
    return f"{v}{'UL' if dt.kind == 'u' and dt.itemsize == 8 else 'L' if dt.itemsize == 8 else ''}"


def _red_source(kind: str, in_t: str, acc_dt: np.dtype, out_t: str, stage: str, first: bool,
                I: str, L: int, final: str) -> str:
    """A reduction kernel ``red``.

    ``serial``: one work-item per output walks the whole reduced extent and
    writes ``final(acc)``. ``tree``: work-group ``g`` of output ``mi`` reduces
    chunk ``g`` in local memory and writes a partial. ``first`` says whether the
    input is the original array (mapped, e.g. ``x != 0`` for any) or partials;
    arg-reductions carry the flat index beside the value (``xidx`` for partials).
    """
    A = _CT[acc_dt]
    arg = kind in ("argmax", "argmin")
    if arg:
        better = f"xp_a{kind[3:]}_{A}"
        index = "(long)k" if first else "xidx[q]"
        step = (f"{{ {A} v_ = ({A})x[q]; long i_ = {index}; "
                f"if ({better}(v_, i_, acc, bi)) {{ acc = v_; bi = i_; }} }}")
        init = f"{A} acc = ({A})0; long bi = -1;"
        merge = (f"if ({better}(sh[lid + s], si[lid + s], sh[lid], si[lid])) "
                 "{ sh[lid] = sh[lid + s]; si[lid] = si[lid + s]; }")
    else:
        ident, comb, mp = _RED[kind]
        if ident is None:
            ident = _lowest(acc_dt, kind == "min")
        v = mp.format(A=A, x="x[q]") if first else "x[q]"
        step = "acc = " + comb.format(A=A, a="acc", b=v) + ";"
        init = f"{A} acc = ({A})({ident});"
        merge = "sh[lid] = " + comb.format(A=A, a="sh[lid]", b="sh[lid + s]") + ";"
    src = (f"typedef struct {{ {I} ks[{MAXD}]; {I} kst[{MAXD}]; {I} rs[{MAXD}]; {I} rst[{MAXD}]; }}"
           " rmeta_t;\n" + _offset_macro(I))
    xidx = ", __global const long* xidx" if arg and not first else ""
    common = f"__global const {in_t}* x{xidx}, {I} xo, rmeta_t m, int nk, int nr, {I} M, {I} K"

    def loop(k0: str, k1: str, ks: str) -> str:
        return f"""
    if (nr == 1) {{ {I} s_ = m.rst[0];
        for ({I} k = {k0}; k < {k1}; k += {ks}) {{ {I} q = base + k * s_; {step} }} }}
    else {{
        for ({I} k = {k0}; k < {k1}; k += {ks}) {{
            {I} q; XP_OFFSET(q, k, nr, m.rs, m.rst); q += base; {step} }} }}"""
    head = f"""{I} base; XP_OFFSET(base, mi, nk, m.ks, m.kst); base += xo;
    {init}"""
    if stage == "serial":
        write = "out[mi] = bi;" if arg else f"out[mi] = ({out_t})({final or 'acc'});"
        src += f"""
__kernel void red(__global {out_t}* out, {common}, {I} cnt) {{
    {I} mi = ({I})get_global_id(0);
    if (mi >= M) return;
    {head}
    {loop("0", "K", "1")}
    {write}
}}
"""
    else:
        pidx = ", __global long* pidx" if arg else ""
        src += f"""
__kernel __attribute__((reqd_work_group_size({L}, 1, 1)))
void red(__global {A}* part{pidx}, {common}, {I} chunk) {{
    int lid = get_local_id(0);
    {I} g = get_group_id(0), G = get_num_groups(0), mi = get_global_id(1);
    __local {A} sh[{L}];
    {f"__local long si[{L}];" if arg else ""}
    {head}
    {I} k1 = g * chunk + chunk; if (k1 > K) k1 = K;
    {loop("g * chunk + lid", "k1", str(L))}
    sh[lid] = acc; {"si[lid] = bi;" if arg else ""}
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = {L} / 2; s > 0; s >>= 1) {{
        if (lid < s) {{ {merge} }}
        barrier(CLK_LOCAL_MEM_FENCE);
    }}
    if (lid == 0) {{ part[mi * G + g] = sh[0]; {"pidx[mi * G + g] = si[0];" if arg else ""} }}
}}
"""
    return _preamble(src)


def _split_axes(a: OpenCLArray, axes: tuple[int, ...]) -> tuple[list[int], list[int], list[int], list[int]]:
    """Kept and reduced (shape, strides) of ``a``, each with contiguous runs merged."""
    kept = [d for d in range(a.ndim) if d not in axes]
    ks, kst = _merge_dims([a._shape[d] for d in kept], [[a._strides[d] for d in kept]])
    rs, rst = _merge_dims([a._shape[d] for d in axes], [[a._strides[d] for d in axes]])
    return ks, kst[0], rs, rst[0]


def _rmeta(I: str, ks: list, kst: list, rs: list, rst: list) -> np.ndarray:
    m = np.zeros((4, MAXD), dtype=_np_idx(I))
    for r, v in enumerate((ks, kst, rs, rst)):
        m[r, :len(v)] = v
    return m


REDUCE_STAGES = ("single", "two-stage")


def reduce_group_size(dev: Any) -> int:
    """Work-items per work-group of the two-stage reduction (a power of two)."""
    return 64 if not dev.is_gpu else 1 << (min(256, dev.max_work_group).bit_length() - 1)


def reduce_groups(dev: Any, M: int, K: int) -> int:
    """Work-groups per output of the two-stage reduction's first pass: enough to fill the device."""
    L = reduce_group_size(dev)
    return max(1, min(-(-dev.compute_units * (8 if dev.is_gpu else 4) // max(M, 1)), -(-K // (L * 4)), 1024))


def _reduce_auto(dev: Any, M: int, K: int) -> str:
    """The fixed heuristic used without an explicit stage: one pass when outputs fill the device."""
    if K <= 64 or M >= dev.compute_units * (256 if dev.is_gpu else 32):
        return "single"
    return "two-stage"


def reduce(dev: Any, x: OpenCLArray, axes: tuple[int, ...], kind: str, out_dtype: np.dtype,
           acc_dtype: np.dtype, *, final: str = "", stage: str | None = None) -> OpenCLArray:
    """Reduce ``x`` over ``axes`` (sorted, distinct) into a new contiguous array of the kept axes.

    ``kind`` is sum, prod, max, min, any, all, argmax or argmin; ``final`` is an
    expression of ``acc`` and ``cnt`` (the reduced count) applied to each result
    (``"acc / cnt"`` makes a mean). argmax/argmin give the flat index over ``axes``.
    ``stage``: ``"single"`` (one work-item per output walks the reduced extent),
    ``"two-stage"`` (work-groups reduce chunks in local memory into partials, a
    second pass combines them), or ``None``: single when the outputs fill the
    device or the extent is short, else two-stage.
    """
    if stage not in (None, *REDUCE_STAGES):
        raise ValueError(f"reduce: stage must be one of {', '.join(REDUCE_STAGES)} or None, not {stage!r}")
    out_shape = tuple(n for d, n in enumerate(x._shape) if d not in axes)
    M = 1
    for n in out_shape:
        M *= n
    K = 1
    for d in axes:
        K *= x._shape[d]
    out = empty(out_shape, out_dtype, dev)
    if M == 0:
        return out
    ks, kst, rs, rst = _split_axes(x, axes)
    if len(ks) > MAXD or len(rs) > MAXD:
        raise _too_many_dims(kind, max(len(ks), len(rs)))
    if K == 0:
        rs, rst = [0], [0]
    I = _idx(x, extra=M * max(K, 1))
    npI = _np_idx(I)
    arg = kind in ("argmax", "argmin")
    in_t, A = _CT[x._dtype], _CT[acc_dtype]
    out_t = "long" if arg else _CT[out_dtype]
    fin = final.replace("cnt", f"({A})cnt")
    L = reduce_group_size(dev)
    meta = _rmeta(I, ks, kst, rs, rst)
    if stage is None:
        stage = _reduce_auto(dev, M, K)
    if stage == "single" or K == 0:
        key = ("red", kind, in_t, A, out_t, "serial", True, I, fin)
        knl = dev.kernel(key, lambda: _red_source(kind, in_t, acc_dtype, out_t, "serial", True, I, L, fin),
                         "red")
        knl(dev.queue, (_round_up(M, 64),), None, out._buf, x._buf, npI(x._offset), meta,
            np.int32(len(ks)), np.int32(len(rs)), npI(M), npI(K), npI(K))
        return out
    # Two stages: G chunks per output reduced by work-groups into partials, then a serial pass.
    G = reduce_groups(dev, M, K)
    chunk = -(-K // G)
    G = -(-K // chunk)
    part = empty((M, G), acc_dtype, dev)
    pidx = empty((M, G), np.dtype(np.int64), dev) if arg else None
    key = ("red", kind, in_t, A, "tree", True, I, L)
    knl = dev.kernel(key, lambda: _red_source(kind, in_t, acc_dtype, A, "tree", True, I, L, ""), "red")
    extra = [pidx._buf] if arg else []
    knl(dev.queue, (G * L, M), (L, 1), part._buf, *extra, x._buf, npI(x._offset), meta, np.int32(len(ks)),
        np.int32(len(rs)), npI(M), npI(K), npI(chunk))
    I2 = _idx(part)
    npI2 = _np_idx(I2)
    key2 = ("red", kind, A, A, out_t, "serial", False, I2, fin)
    knl2 = dev.kernel(key2, lambda: _red_source(kind, A, acc_dtype, out_t, "serial", False, I2, L, fin),
                      "red")
    knl2(dev.queue, (_round_up(M, 64),), None, out._buf, part._buf, *extra, npI2(0),
         _rmeta(I2, [M], [G], [G], [1]), np.int32(1), np.int32(1), npI2(M), npI2(G), npI2(K))
    return out


# ---------------------------------------------------------------- scans


def _scan_source(in_t: str, out_t: str, op: str, I: str, mode: str, carry: bool) -> str:
    m = f"typedef struct {{ {I} ks[{MAXD}]; {I} kst[{MAXD}]; {I} okst[{MAXD}]; }} smeta_t;\n"
    comb = "acc + v" if op == "sum" else "acc * v"
    ident = "0" if op == "sum" else "1"
    head = f"""
__kernel void scan(__global {out_t}* out, __global const {in_t}* x, {I} xo, smeta_t m, int nk,
                   {I} xs, {I} os, {I} M, {I} K, {I} chunk, {I} C, int incl,
                   __global const {out_t}* carry, {I} cst) {{
    {I} c = get_global_id(0), mi = get_global_id(1);
    if (c >= C || mi >= M) return;
    {I} base, obase;
    XP_OFFSET(base, mi, nk, m.ks, m.kst); base += xo;
    XP_OFFSET(obase, mi, nk, m.ks, m.okst);
    {I} k0 = c * chunk, k1 = k0 + chunk; if (k1 > K) k1 = K;
    {out_t} acc = {"carry[mi * cst + c]" if carry else f"({out_t}){ident}"};
"""
    if mode == "total":
        body = f"""
    for ({I} k = k0; k < k1; ++k) {{ {out_t} v = ({out_t})x[base + k * xs]; acc = {comb}; }}
    out[mi * C + c] = acc;
}}
"""
    else:
        body = f"""
    if (incl && c == 0) out[obase] = ({out_t}){ident};
    for ({I} k = k0; k < k1; ++k) {{
        {out_t} v = ({out_t})x[base + k * xs]; acc = {comb};
        out[obase + (k + incl) * os] = acc;
    }}
}}
"""
    return _preamble(m + _offset_macro(I) + head + body)


def scan(dev: Any, x: OpenCLArray, axis: int, out_dtype: np.dtype, include_initial: bool,
         op: str = "sum") -> OpenCLArray:
    """Cumulative sum (or product) of ``x`` along ``axis`` into a new contiguous array."""
    K = x._shape[axis]
    out_shape = list(x._shape)
    out_shape[axis] = K + int(include_initial)
    out = empty(tuple(out_shape), out_dtype, dev)
    if out.size == 0:
        return out
    kept = [d for d in range(x.ndim) if d != axis]
    ks, (kst, okst) = _merge_dims([x._shape[d] for d in kept],
                                  [[x._strides[d] for d in kept], [out._strides[d] for d in kept]])
    if len(ks) > MAXD:
        raise _too_many_dims("cumulative_sum", len(ks))
    M = 1
    for n in ks:
        M *= n
    I = _idx(x, out)
    npI = _np_idx(I)
    meta = np.zeros((3, MAXD), dtype=npI)
    for r, v in enumerate((ks, kst, okst)):
        meta[r, :len(v)] = v
    in_t, out_t = _CT[x._dtype], _CT[out_dtype]
    xs, os_ = x._strides[axis], out._strides[axis]
    parallel = dev.compute_units * (256 if dev.is_gpu else 32)
    if M >= parallel or K <= 4096:
        C, chunk, carry = 1, max(K, 1), None
    else:
        C = max(2, min(-(-parallel // M), -(-K // 256)))
        chunk = -(-K // C)
        C = -(-K // chunk)
        key = ("scan", in_t, out_t, op, I, "total", False)
        knl = dev.kernel(key, lambda: _scan_source(in_t, out_t, op, I, "total", False), "scan")
        tot = empty((M, C), out_dtype, dev)
        knl(dev.queue, (C, M), None, tot._buf, x._buf, npI(x._offset), meta, np.int32(len(ks)), npI(xs),
            npI(os_), npI(M), npI(K), npI(chunk), npI(C), np.int32(0), None, npI(0))
        carry = scan(dev, tot, 1, out_dtype, True, op)   # exclusive scan of the totals: (M, C + 1)
    key = ("scan", in_t, out_t, op, I, "write", carry is not None)
    knl = dev.kernel(key, lambda: _scan_source(in_t, out_t, op, I, "write", carry is not None), "scan")
    knl(dev.queue, (C, M), None, out._buf, x._buf, npI(x._offset), meta, np.int32(len(ks)), npI(xs),
        npI(os_), npI(M), npI(K), npI(chunk), npI(C), np.int32(int(include_initial)),
        None if carry is None else carry._buf, npI(0 if carry is None else C + 1))
    return out


# ---------------------------------------------------------------- matmul

# Tiles: (TM, TN, TK, WM, WN): a work-group computes a TM x TN block of C in steps of TK along K,
# each work-item a WM x WN sub-block whose columns are TN/WN apart (so that neighbouring
# work-items touch neighbouring columns: coalesced on GPUs, one SIMD vector on CPUs).
_TILES_CPU = (64, 64, 32, 8, 2)
_TILES_GPU = (64, 64, 16, 4, 4)


def _mm_source(T: str, I: str, tiles: tuple, alay: str, blay: str, even: bool) -> str:
    TM, TN, TK, WM, WN = tiles
    LX, LY = TN // WN, TM // WM
    a_idx = {"r": "(m) * sam + (k)", "c": "(m) + (k) * sak", "g": "(m) * sam + (k) * sak"}[alay]
    b_idx = {"r": "(k) * sbk + (n)", "c": "(k) + (n) * sbn", "g": "(k) * sbk + (n) * sbn"}[blay]
    # fma: one instruction, and 20 % faster on CPUs where the compiler does not contract a*b + c itself
    madd = "fma(av, bv[j], acc[i][j])" if T in _FLOATS else "acc[i][j] + av * bv[j]"
    guard_a = "1" if even else "(gm < M && gk < K)"
    guard_b = "1" if even else "(gk < K && gn < N)"
    # Walk each tile along the operand's contiguous direction.
    a_rc = "int r = t / TK, c = t % TK;" if alay != "c" else "int c = t / TM, r = t % TM;"
    b_rc = "int r = t / TN, c = t % TN;" if blay != "c" else "int c = t / TK, r = t % TK;"
    return _preamble(f"""
#define TM {TM}
#define TN {TN}
#define TK {TK}
#define WM {WM}
#define WN {WN}
#define LX {LX}
#define LY {LY}
#define AT(m, k) A[aoff + {a_idx}]
#define BT(k, n) B[boff + {b_idx}]
typedef struct {{ {I} bs[{MAXD}]; {I} ast[{MAXD}]; {I} bst[{MAXD}]; }} bmeta_t;
__kernel __attribute__((reqd_work_group_size(LX, LY, 1)))
void mm(__global {T}* C, __global const {T}* A, {I} ao, {I} sam, {I} sak,
        __global const {T}* B, {I} bo, {I} sbk, {I} sbn, {I} M, {I} N, {I} K, bmeta_t bm, int nb) {{
    __local {T} As[TK][TM];
    __local {T} Bs[TK][TN];
    {I} b = get_global_id(2);
    {I} aoff = ao, boff = bo;
    {{ {I} r_ = b; for (int d = nb - 1; d >= 0; --d) {{ {I} c_ = r_ % bm.bs[d]; r_ /= bm.bs[d];
        aoff += c_ * bm.ast[d]; boff += c_ * bm.bst[d]; }} }}
    C += b * M * N;
    int lx = get_local_id(0), ly = get_local_id(1);
    {I} n0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM;
    int tid = ly * LX + lx;
    {T} acc[WM][WN];
    for (int i = 0; i < WM; ++i) for (int j = 0; j < WN; ++j) acc[i][j] = 0;
    for ({I} k0 = 0; k0 < K; k0 += TK) {{
        for (int t = tid; t < TM * TK; t += LX * LY) {{
            {a_rc}
            {I} gm = m0 + r, gk = k0 + c;
            As[c][r] = {guard_a} ? AT(gm, gk) : ({T})0;
        }}
        for (int t = tid; t < TK * TN; t += LX * LY) {{
            {b_rc}
            {I} gk = k0 + r, gn = n0 + c;
            Bs[r][c] = {guard_b} ? BT(gk, gn) : ({T})0;
        }}
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TK; ++k) {{
            {T} bv[WN];
            for (int j = 0; j < WN; ++j) bv[j] = Bs[k][lx + j * LX];
            for (int i = 0; i < WM; ++i) {{
                {T} av = As[k][ly * WM + i];
                for (int j = 0; j < WN; ++j) acc[i][j] = {madd};
            }}
        }}
        barrier(CLK_LOCAL_MEM_FENCE);
    }}
    for (int i = 0; i < WM; ++i) {{
        {I} gm = m0 + ly * WM + i;
        for (int j = 0; j < WN; ++j) {{
            {I} gn = n0 + lx + j * LX;
            if ({"1" if even else "gm < M && gn < N"}) C[gm * N + gn] = acc[i][j];
        }}
    }}
}}
""")


def _mm_small_source(T: str, I: str) -> str:
    return _preamble(f"""
typedef struct {{ {I} bs[{MAXD}]; {I} ast[{MAXD}]; {I} bst[{MAXD}]; }} bmeta_t;
__kernel void mm(__global {T}* C, __global const {T}* A, {I} ao, {I} sam, {I} sak,
                 __global const {T}* B, {I} bo, {I} sbk, {I} sbn, {I} M, {I} N, {I} K, bmeta_t bm, int nb) {{
    {I} i = get_global_id(0), b = get_global_id(1);
    if (i >= M * N) return;
    {I} m = i / N, n = i % N;
    {I} aoff = ao, boff = bo;
    {{ {I} r_ = b; for (int d = nb - 1; d >= 0; --d) {{ {I} c_ = r_ % bm.bs[d]; r_ /= bm.bs[d];
        aoff += c_ * bm.ast[d]; boff += c_ * bm.bst[d]; }} }}
    {T} acc = 0;
    __global const {T}* a = A + aoff + m * sam;
    __global const {T}* bp = B + boff + n * sbn;
    for ({I} k = 0; k < K; ++k) acc += a[k * sak] * bp[k * sbk];
    C[b * M * N + i] = acc;
}}
""")


def _layout(s_major: int, s_minor: int, minor_len: int, major_len: int) -> str:
    if s_minor == 1 or minor_len == 1:
        return "r"
    if s_major == 1 or major_len == 1:
        return "c"
    return "g"


MATMUL_ALGORITHMS = ("tiled", "naive", "host")


def matmul_tiles(dev: Any) -> tuple[int, int, int, int, int]:
    """The tiled kernel's (TM, TN, TK, WM, WN) on ``dev``."""
    return _TILES_GPU if dev.is_gpu else _TILES_CPU


def tiled_fits(dev: Any, itemsize: int) -> str | None:
    """``None`` when the tiled kernel runs on ``dev`` for elements of ``itemsize`` bytes, else why not."""
    TM, TN, TK, WM, WN = matmul_tiles(dev)
    need = (TM + TN) * TK * itemsize
    if need > dev.local_mem:
        return f"its tiles need {need} bytes of local memory, the device has {dev.local_mem}"
    wg = (TN // WN) * (TM // WM)
    if wg > dev.max_work_group:
        return f"its work-groups have {wg} work-items, the device allows {dev.max_work_group}"
    return None


def _matmul_auto(dev: Any, M: int, N: int, K: int, itemsize: int) -> str:
    """The fixed heuristic used without an explicit algorithm: tiled for large enough products."""
    if tiled_fits(dev, itemsize) is None and M >= 32 and N >= 32 and M * N * K >= 64 ** 3:
        return "tiled"
    return "naive"


def matmul(dev: Any, a: OpenCLArray, b: OpenCLArray, out_dtype: np.dtype, *,
           algorithm: str | None = None) -> OpenCLArray:
    """``a @ b`` for arrays of at least 2 dimensions with broadcast batch dimensions.

    ``algorithm``: ``"tiled"`` (tiles of A and B in local memory; raises
    :class:`~xpgrad.core.errors.OutOfResourcesError` where they do not fit),
    ``"naive"`` (one work-item per element of C, walking a row of A and a column
    of B), ``"host"`` (both operands read back, NumPy's matmul, the product
    uploaded), or ``None``: tiled for large enough products, else naive.
    """
    M, K = a._shape[-2:]
    K2, N = b._shape[-2:]
    if K != K2:
        raise ValueError(f"matmul: {a._shape} @ {b._shape}: the inner dimensions differ ({K} vs {K2})")
    if algorithm not in (None, *MATMUL_ALGORITHMS):
        raise ValueError(f"matmul: algorithm must be one of {', '.join(MATMUL_ALGORITHMS)} or None, "
                         f"not {algorithm!r}")
    batch = broadcast_shapes(a._shape[:-2], b._shape[:-2])
    if algorithm == "host":
        return upload(np.matmul(download(a), download(b), dtype=out_dtype), dev, out_dtype)
    out = empty(batch + (M, N), out_dtype, dev)
    nbatch = 1
    for n in batch:
        nbatch *= n
    if out.size == 0:
        return out
    if K == 0:
        return elementwise(dev, "a0", [out_dtype.type(0)], [out_dtype], out_dtype, out=out)
    if algorithm is None:
        algorithm = _matmul_auto(dev, M, N, K, out_dtype.itemsize)
    elif algorithm == "tiled":
        why = tiled_fits(dev, out_dtype.itemsize)
        if why is not None:
            raise OutOfResourcesError(f"matmul: the tiled kernel does not fit on {dev.name}: {why}")
    bsa = broadcast_strides(a._shape[:-2], a._strides[:-2], batch)
    bsb = broadcast_strides(b._shape[:-2], b._strides[:-2], batch)
    bshape, (bsa, bsb) = _merge_dims(list(batch), [bsa, bsb]) if batch else ([1], [[0], [0]])
    if len(bshape) > MAXD:
        raise _too_many_dims("matmul", len(bshape))
    I = _idx(a, b, out)
    npI = _np_idx(I)
    meta = np.zeros((3, MAXD), dtype=npI)
    meta[0, :len(bshape)], meta[1, :len(bsa)], meta[2, :len(bsb)] = bshape, bsa, bsb
    sam, sak = a._strides[-2:]
    sbk, sbn = b._strides[-2:]
    T = _CT[out_dtype]
    args = (a._buf, npI(a._offset), npI(sam), npI(sak), b._buf, npI(b._offset), npI(sbk), npI(sbn),
            npI(M), npI(N), npI(K), meta, np.int32(len(bshape)))
    if algorithm == "tiled":
        tiles = matmul_tiles(dev)
        TM, TN, TK, WM, WN = tiles
        alay = _layout(sam, sak, K, M)
        blay = _layout(sbk, sbn, N, K)
        even = M % TM == 0 and N % TN == 0 and K % TK == 0
        key = ("mm", T, I, tiles, alay, blay, even)
        knl = dev.kernel(key, lambda: _mm_source(T, I, tiles, alay, blay, even), "mm")
        knl(dev.queue, (_round_up(N, TN) // WN, _round_up(M, TM) // WM, nbatch), (TN // WN, TM // WM, 1),
            out._buf, *args)
    else:
        key = ("mm_small", T, I)
        knl = dev.kernel(key, lambda: _mm_small_source(T, I), "mm")
        L = dev.local_size
        knl(dev.queue, (_round_up(M * N, L), nbatch), (L, 1), out._buf, *args)
    return out


# ---------------------------------------------------------------- indexing


def _sel_header(I: str, has_offs: bool) -> str:
    """The selection walk shared by the indexing kernels: ``SEL(i)`` sets ``vq`` and ``gq``."""
    return f"""
typedef struct {{ {I} sz[{MAXD}]; {I} vst[{MAXD}]; {I} ost[{MAXD}]; {I} gst[{MAXD}]; }} smeta_t;
#define SEL(i) {I} vq = vo, oq = 0, gq = go; {{ {I} r_ = (i); \\
    for (int d_ = nd - 1; d_ > 0; --d_) {{ {I} c_ = r_ % m.sz[d_]; r_ /= m.sz[d_]; \\
        vq += c_ * m.vst[d_]; oq += c_ * m.ost[d_]; gq += c_ * m.gst[d_]; }} \\
    vq += r_ * m.vst[0]; oq += r_ * m.ost[0]; gq += r_ * m.gst[0]; }} \\
    {"vq += (" + I + ")offs[oq];" if has_offs else "(void)oq;"}
#define SELARGS {I} vo, __global const long* offs, smeta_t m, int nd, {I} n
"""


def _sel_source(T: str, I: str, has_offs: bool, G: str = "") -> str:
    """Gather, scatter and scatter-add over one selection (see ``indexing.Selection``)."""
    g_t = G or T
    sel = _sel_header(I, has_offs) + """
inline void xp_sift(__global int* p, int root, int end) {
    for (;;) {
        int child = 2 * root + 1;
        if (child >= end) return;
        if (child + 1 < end && p[child] < p[child + 1]) ++child;
        if (p[root] >= p[child]) return;
        int t = p[root]; p[root] = p[child]; p[child] = t; root = child;
    }
}
"""
    return _preamble(sel + f"""
__kernel void gather(__global {T}* out, __global const {T}* v, {I} go, SELARGS) {{
    {I} i = get_global_id(0); if (i >= n) return;
    SEL(i)
    out[i] = v[vq];
}}
__kernel void win(__global int* w, {I} go, SELARGS) {{
    {I} i = get_global_id(0); if (i >= n) return;
    SEL(i)
    atomic_max(&w[vq], (int)i);
}}
__kernel void put(__global {T}* v, __global const {g_t}* g, __global const int* w, int use_w, {I} go,
                  SELARGS) {{
    {I} i = get_global_id(0); if (i >= n) return;
    SEL(i)
    if (!use_w || w[vq] == (int)i) v[vq] = ({T})g[gq];
}}
__kernel void sa_count(__global int* cnt, {I} go, SELARGS) {{
    {I} i = get_global_id(0); if (i >= n) return;
    SEL(i)
    atomic_inc(&cnt[vq]);
}}
__kernel void sa_fill(__global int* cur, __global int* perm, {I} go, SELARGS) {{
    {I} i = get_global_id(0); if (i >= n) return;
    SEL(i)
    perm[atomic_inc(&cur[vq])] = (int)i;
}}
__kernel void sa_apply(__global {T}* out, __global const int* starts, __global int* perm,
                       __global const {g_t}* g, {I} nout, {I} go, SELARGS) {{
    {I} d = get_global_id(0); if (d >= nout) return;
    int s = starts[d], e = starts[d + 1];
    if (s == e) return;
    __global int* p = perm + s;
    int len = e - s;
    // The fill order depends on the atomics; sorting each segment makes the sum order (and the
    // rounding) that of the selection, every run: insertion sort for short segments, heapsort else.
    if (len <= 32) {{
        for (int a = 1; a < len; ++a) {{ int v = p[a]; int b = a - 1;
            while (b >= 0 && p[b] > v) {{ p[b + 1] = p[b]; --b; }} p[b + 1] = v; }}
    }} else {{
        for (int r = len / 2 - 1; r >= 0; --r) xp_sift(p, r, len);
        for (int end = len - 1; end > 0; --end) {{
            int t = p[0]; p[0] = p[end]; p[end] = t; xp_sift(p, 0, end); }}
    }}
    {T} acc = out[d];
    // In selection order, one addition at a time: some compilers (Intel's CPU runtime) otherwise
    // vectorize this loop into partial sums, which rounds differently from numpy.add.at.
    #pragma clang loop vectorize(disable) interleave(disable)
    for (int j = 0; j < len; ++j) {{
        {I} i = p[j];
        {I} gq = go; {{ {I} r_ = i;
            for (int d_ = nd - 1; d_ > 0; --d_) {{
                {I} c_ = r_ % m.sz[d_]; r_ /= m.sz[d_]; gq += c_ * m.gst[d_]; }}
            gq += r_ * m.gst[0]; }}
        acc += ({T})g[gq];
    }}
    out[d] = acc;
}}
""")


def _smeta(I: str, dims: list[tuple[int, int, int, int]]) -> np.ndarray:
    m = np.zeros((4, MAXD), dtype=_np_idx(I))
    for d, dim in enumerate(dims):
        m[:, d] = dim
    return m


def _sel_dims(sel: Any, gstrides: list[int] | None) -> list[tuple[int, int, int, int]]:
    """The selection's (size, view stride, offsets stride, value stride) per axis, merged where possible."""
    sizes = [d[0] for d in sel.dims]
    sts = [[d[1] for d in sel.dims], [d[2] for d in sel.dims],
           gstrides if gstrides is not None else [0] * len(sizes)]
    shp, (vs, os_, gs) = _merge_dims(sizes, sts)
    if len(shp) > MAXD:
        raise _too_many_dims("indexing", len(shp))
    return list(zip(shp, vs, os_, gs))


def _sel_kernel(dev: Any, sel: Any, name: str, T: np.dtype, I: str, G: np.dtype | None = None) -> Any:
    t, g = _CT[T], _CT[G] if G is not None else ""
    has = sel.offsets is not None
    return dev.kernel(("sel", t, g, I, has), lambda: _sel_source(t, I, has, g), name)


def gather(dev: Any, sel: Any) -> OpenCLArray:
    """A new array holding the selected elements of ``sel.view``."""
    v = sel.view
    out = empty(sel.shape, v._dtype, dev)
    n = out.size
    if n == 0:
        return out
    I = _idx(v, out, *( [sel.offsets] if sel.offsets is not None else []))
    npI = _np_idx(I)
    dims = _sel_dims(sel, None)
    knl = _sel_kernel(dev, sel, "gather", v._dtype, I)
    offs = sel.offsets._buf if sel.offsets is not None else None
    L = dev.local_size
    knl(dev.queue, (_round_up(n, L),), (L,), out._buf, v._buf, npI(0), npI(v._offset), offs,
        _smeta(I, dims), np.int32(len(dims)), npI(n))
    return out


def scatter(dev: Any, sel: Any, value: OpenCLArray, gstrides: list[int], unique: bool) -> None:
    """``sel.view[selection] = value`` (broadcast by ``gstrides``); with repeats, the last write wins."""
    v = sel.view
    n = 1
    for d in sel.dims:
        n *= d[0]
    if n == 0:
        return
    I = _idx(v, value, *([sel.offsets] if sel.offsets is not None else []), extra=n)
    npI = _np_idx(I)
    dims = _sel_dims(sel, gstrides)
    meta = _smeta(I, dims)
    offs = sel.offsets._buf if sel.offsets is not None else None
    L = dev.local_size
    gsize = (_round_up(n, L),)
    w = None
    if not unique:  # which write wins each element: the highest selection index, as NumPy's last
        w = elementwise(dev, "a0", [np.int32(-1)], [np.dtype(np.int32)], np.dtype(np.int32),
                        shape=(v._bufn,))
        _sel_kernel(dev, sel, "win", v._dtype, I, value._dtype)(
            dev.queue, gsize, (L,), w._buf, npI(value._offset), npI(v._offset), offs, meta,
            np.int32(len(dims)), npI(n))
    knl = _sel_kernel(dev, sel, "put", v._dtype, I, value._dtype)
    knl(dev.queue, gsize, (L,), v._buf, value._buf, None if w is None else w._buf, np.int32(w is not None),
        npI(value._offset), npI(v._offset), offs, meta, np.int32(len(dims)), npI(n))


def scatter_add(dev: Any, out: OpenCLArray, sel: Any, value: OpenCLArray, gstrides: list[int]) -> None:
    """``out[selection] += value`` for a contiguous ``out``, repeats accumulating, deterministically.

    Contributions are bucketed by destination (count, scan, fill), each bucket
    is sorted by selection index and summed in that order: the same order, and
    so the same rounding, as ``numpy.add.at``, on every run.
    """
    n = 1
    for d in sel.dims:
        n *= d[0]
    if n == 0:
        return
    if n > _I32 or out.size >= _I32:
        raise ValueError("scatter_add: the OpenCL backend accumulates at most 2^31 - 1 elements at once")
    I = _idx(out, value, *([sel.offsets] if sel.offsets is not None else []), extra=n)
    npI = _np_idx(I)
    dims = _sel_dims(sel, gstrides)
    meta = _smeta(I, dims)
    offs = sel.offsets._buf if sel.offsets is not None else None
    L = dev.local_size
    gsize = (_round_up(n, L),)
    int32 = np.dtype(np.int32)
    nout = out.size
    cnt = elementwise(dev, "a0", [np.int32(0)], [int32], int32, shape=(nout,))
    tail = (npI(sel.view._offset), offs, meta, np.int32(len(dims)), npI(n))
    _sel_kernel(dev, sel, "sa_count", out._dtype, I, value._dtype)(
        dev.queue, gsize, (L,), cnt._buf, npI(value._offset), *tail)
    starts = scan(dev, cnt, 0, int32, True)                       # (nout + 1,) exclusive starts
    cur = elementwise(dev, "a0", [_head(starts, nout)], [int32], int32)   # fill cursors
    perm = empty((n,), int32, dev)
    _sel_kernel(dev, sel, "sa_fill", out._dtype, I, value._dtype)(
        dev.queue, gsize, (L,), cur._buf, perm._buf, npI(value._offset), *tail)
    _sel_kernel(dev, sel, "sa_apply", out._dtype, I, value._dtype)(
        dev.queue, (_round_up(nout, L),), (L,), out._buf, starts._buf, perm._buf, value._buf, npI(nout),
        npI(value._offset), *tail)


# One pass of float atomics: a compare-and-swap loop on the value's bit pattern (OpenCL 1.2 has no
# float atomic add). The order in which work-items win the swap varies, and with it the rounding.
_CAS_ADD = {
    "float": """
inline void sa_cas_add(volatile __global float* p, float v) {
    union { uint u; float f; } cur, nxt;
    cur.f = *p;
    for (;;) {
        nxt.f = cur.f + v;
        uint seen = atomic_cmpxchg((volatile __global uint*)p, cur.u, nxt.u);
        if (seen == cur.u) return;
        cur.u = seen;
    }
}
""",
    "double": """
#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable
inline void sa_cas_add(volatile __global double* p, double v) {
    union { ulong u; double f; } cur, nxt;
    cur.f = *p;
    for (;;) {
        nxt.f = cur.f + v;
        ulong seen = atom_cmpxchg((volatile __global ulong*)p, cur.u, nxt.u);
        if (seen == cur.u) return;
        cur.u = seen;
    }
}
""",
}


def _atomic_source(T: str, I: str, has_offs: bool, G: str) -> str:
    return _preamble(_sel_header(I, has_offs) + _CAS_ADD[T] + f"""
__kernel void sa_atomic(__global {T}* out, __global const {G}* g, {I} go, SELARGS) {{
    {I} i = get_global_id(0); if (i >= n) return;
    SEL(i)
    sa_cas_add(out + vq, ({T})g[gq]);
}}
""")


def atomic_add_support(dev: Any, dtype: Any) -> str | None:
    """``None`` when the atomic scatter-add handles ``dtype`` on ``dev``, else why not."""
    dt = np.dtype(dtype)
    if dt == np.float32:
        return None
    if dt == np.float64:
        if not dev.fp64:
            return f"{dev.name} has no float64"
        ext = str(getattr(dev.cl_device, "extensions", "")).split()
        if "cl_khr_int64_base_atomics" not in ext:
            return f"{dev.name} has no 64-bit atomics (cl_khr_int64_base_atomics) for float64"
        return None
    return f"atomics here add float32 and float64 only, not {dt} (integer sums are exact in any order)"


def scatter_add_atomic(dev: Any, out: OpenCLArray, sel: Any, value: OpenCLArray, gstrides: list[int]) -> None:
    """``out[selection] += value`` in one pass of float atomics (contiguous ``out``): fast, and the sum
    order (so the last bits) varies from run to run where indices repeat. float32 and float64 only."""
    why = atomic_add_support(dev, out._dtype)
    if why is not None:
        raise TypeError(f"scatter_add (atomic): {why}")
    n = 1
    for d in sel.dims:
        n *= d[0]
    if n == 0:
        return
    I = _idx(out, value, *([sel.offsets] if sel.offsets is not None else []), extra=n)
    npI = _np_idx(I)
    dims = _sel_dims(sel, gstrides)
    t, g = _CT[out._dtype], _CT[value._dtype]
    has = sel.offsets is not None
    knl = dev.kernel(("sa_atomic", t, g, I, has), lambda: _atomic_source(t, I, has, g), "sa_atomic")
    L = dev.local_size
    knl(dev.queue, (_round_up(n, L),), (L,), out._buf, value._buf, npI(value._offset), npI(sel.view._offset),
        sel.offsets._buf if has else None, _smeta(I, dims), np.int32(len(dims)), npI(n))


def _head(a: OpenCLArray, n: int) -> OpenCLArray:
    return a._view((n,), (a._strides[0],), a._offset)


def _mask_source(I: str) -> str:
    return _preamble(f"""
typedef struct {{ {I} sz[{MAXD}]; }} mmeta_t;
__kernel void nz(__global long* out, __global const uchar* mask, __global const long* cs, {I} count,
                 mmeta_t m, int k, {I} n) {{
    {I} i = get_global_id(0);
    if (i >= n || !mask[i]) return;
    {I} p = ({I})cs[i] - 1, r = i;
    for (int d = k - 1; d >= 0; --d) {{ out[d * count + p] = r % m.sz[d]; r /= m.sz[d]; }}
}}
""")


def mask_coords(dev: Any, mask: OpenCLArray, cs: OpenCLArray, count: int) -> OpenCLArray:
    """``(mask.ndim, count)`` int64 coordinates of the true elements of a contiguous bool ``mask``.

    ``cs`` is the inclusive cumulative sum of the flattened mask (int64).
    """
    k = mask.ndim
    out = empty((k, count), np.dtype(np.int64), dev)
    n = mask.size
    if n == 0 or count == 0:
        return out
    I = _idx(mask, cs, out)
    npI = _np_idx(I)
    m = np.zeros((1, MAXD), dtype=npI)
    if k > MAXD:
        raise _too_many_dims("boolean mask", k)
    m[0, :k] = mask._shape
    knl = dev.kernel(("nz", I), lambda: _mask_source(I), "nz")
    L = dev.local_size
    knl(dev.queue, (_round_up(n, L),), (L,), out._buf, mask._buf, cs._buf, npI(count), m, np.int32(k), npI(n))
    return out

