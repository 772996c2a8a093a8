"""Section 4. Kernels: what your chip accelerates.

The emulated chip is one weight-stationary systolic array of ``rows × cols``
processing elements (PEs) with an on-chip buffer, clocked at ``clock_mhz``.
It runs two kernels, registered for the ``matmul`` and ``conv2d`` ops (and
used by the namespace's ``matmul``, ``tensordot`` and the ``@`` operator, so
backward passes run on it too):

* ``matmul(xp, x1, x2, /)`` — Array API semantics: 1-D operands are promoted
  (a row on the left, a column on the right) and the added axis dropped;
  batch dimensions broadcast.
* ``conv2d(xp, x, w, /, *, stride=1, padding=0, dilation=1, groups=1)`` —
  ``x`` (N, C, H, W), ``w`` (O, C/groups, kh, kw), zero padding, PyTorch's
  ``conv2d`` without bias, computed as im2col (the buffer's address generator
  gathers the patches) followed by the systolic matmul.

Each call computes its result **in the configured arithmetic** and appends a
:class:`KernelReport` (cycles, tiles, buffer reloads, utilisation) to the
device's log: :func:`last_report`, :func:`total_cycles`, :func:`reports`.

Number formats (``SystolicConfig.arithmetic``); they apply to real floating
operands (integer operands are computed exactly, complex ones exactly too, as
four real products would be):

* ``"float32"`` (default) — IEEE binary floating point at the operands' own
  precision (float32 data in float32, float64 data in float64): results are
  NumPy's, so conformance and float64 gradient checks pass exactly as on the CPU.
* ``"bfloat16"`` — operands rounded to bfloat16 (8 significant bits, float32's
  exponent range, round to nearest even); products are exact in float32 and
  accumulate in float32; results leave the array at accumulator precision.
* ``"fixed"`` — Qm.n two's complement (1 sign + ``int_bits`` + ``frac_bits``):
  operands are scaled by 2ⁿ, rounded (``rounding``) and saturated; products
  accumulate exactly in an ``acc_bits`` accumulator that saturates where partial
  sums leave the array (after each K-tile); the sum is shifted back by n bits
  with the same rounding and saturated to Qm.n.

The cycle model (:func:`count_cycles`), for ``(M×K) @ (K×N)`` on R×C PEs,
weights (the right operand) stationary, activation rows streamed:

* the right operand is cut into ``⌈K/R⌉ · ⌈N/C⌉`` weight tiles (per batch
  element; a right operand without batch dimensions is loaded once and the
  batch is folded into M);
* per tile: loading weights takes R cycles (one PE row per cycle); streaming M
  activation rows takes M cycles, plus ``R + C − 2`` cycles of pipeline fill and
  drain (row i is skewed by i cycles; partial sums go down R rows, results leave
  column j j cycles late);
* the buffer holds the weight tile (R·C operands) plus, per activation row, its
  R operands and C partial sums; when M rows do not fit, M is streamed in
  ``passes`` chunks and the weight tile is reloaded (with its fill and drain) for
  every chunk: ``cycles = tiles · (passes · (2R + C − 2) + M)``.

    VENDOR: this file is your chip. Replace ``_compute`` with a call into your
    runtime (enqueue the kernel on the card, wait, return the buffer) and
    ``count_cycles`` with your own performance model — or with the cycle counter
    your bitstream reports. Keep the kernel signatures: they are the ops'.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from .array import FPGAArray, FPGADevice, _new, device_error, get_device, mixing_error

__all__ = ["SystolicConfig", "KernelReport", "CycleCount", "configure", "configured", "default_config",
           "count_cycles", "last_report", "reports", "total_cycles", "reset_reports",
           "round_to_bfloat16", "round_to_float", "quantize_fixed", "matmul", "conv2d",
           "host_matmul", "host_conv2d", "conv2d_geometry"]

ARITHMETICS = ("float32", "bfloat16", "fixed")
ENV_CONFIG = "XPGRAD_FPGA_CONFIG"


# ---------------------------------------------------------------- the chip's description


@dataclass(frozen=True)
class SystolicConfig:
    """What the card is: the systolic array, its number format, its buffer, its host link.

    >>> SystolicConfig(rows=4, cols=4, arithmetic="bfloat16").peak_flops  # 2 FLOPs · 16 PEs · 250 MHz
    8000000000.0
    """

    rows: int = 32                  # PE rows: the contraction (K) extent of one weight tile
    cols: int = 32                  # PE columns: the output (N) extent of one weight tile
    clock_mhz: float = 250.0
    buffer_bytes: int = 2 * 2**20   # on-chip buffer (BRAM/URAM) for weights, activations, partial sums
    arithmetic: str = "float32"     # "float32" | "bfloat16" | "fixed"
    int_bits: int = 7               # fixed point Qm.n: m integer bits (plus a sign bit)
    frac_bits: int = 8              # ... and n fractional bits
    acc_bits: int = 48              # fixed point accumulator width (a DSP48 slice's)
    rounding: str = "nearest"       # fixed point: "nearest" (ties up, add-half-and-shift) or "truncate"
    link_bandwidth: float = 8e9     # host link, bytes/s (PCIe Gen3 x8)
    link_latency: float = 5e-6      # s per transfer, and per kernel launch
    host_flops: float = 1e11        # what the "host" kernel assumes of the CPU, FLOP/s

    def __post_init__(self) -> None:
        def bad(msg: str) -> ValueError:
            return ValueError(f"SystolicConfig: {msg}")
        if self.rows < 1 or self.cols < 1:
            raise bad(f"the array needs at least one PE (rows={self.rows}, cols={self.cols})")
        if not self.clock_mhz > 0 or not self.link_bandwidth > 0 or self.link_latency < 0 \
                or not self.host_flops > 0:
            raise bad("clock_mhz, link_bandwidth and host_flops must be positive, link_latency >= 0")
        if self.arithmetic not in ARITHMETICS:
            raise bad(f"arithmetic {self.arithmetic!r} is not one of {ARITHMETICS}")
        if self.rounding not in ("nearest", "truncate"):
            raise bad(f"rounding {self.rounding!r} is not 'nearest' or 'truncate'")
        width = 1 + self.int_bits + self.frac_bits
        if self.int_bits < 0 or self.frac_bits < 1 or width > 31:
            raise bad(f"fixed point Q{self.int_bits}.{self.frac_bits} needs frac_bits >= 1 and at most "
                      "31 bits in all")
        if not 2 * width - 1 <= self.acc_bits <= 62:
            raise bad(f"acc_bits={self.acc_bits} must hold a product ({2 * width - 1} bits) and be <= 62")
        if 2 * (width - 1) + math.log2(self.rows) >= 62:
            raise bad("a K-tile of fixed point products would overflow the 64-bit emulation")
        need = self.min_buffer_bytes(4)
        if self.buffer_bytes < need:
            raise bad(f"buffer_bytes={self.buffer_bytes} cannot hold one weight tile and one activation "
                      f"row ({need} bytes for 4-byte operands)")

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @property
    def peak_flops(self) -> float:
        """Two FLOPs (multiply, add) per PE per cycle."""
        return 2.0 * self.rows * self.cols * self.clock_hz

    def element_bytes(self, itemsize: int = 4) -> tuple[int, int]:
        """Bytes of one operand and of one partial sum in the buffer, for operands of ``itemsize``."""
        if self.arithmetic == "bfloat16":
            return 2, 4
        if self.arithmetic == "fixed":
            return -(-(1 + self.int_bits + self.frac_bits) // 8), -(-self.acc_bits // 8)
        return itemsize, itemsize

    def min_buffer_bytes(self, itemsize: int = 4) -> int:
        op, acc = self.element_bytes(itemsize)
        return self.rows * self.cols * op + self.rows * op + self.cols * acc

    def rows_per_pass(self, itemsize: int = 4) -> int:
        """How many activation rows (with their partial sums) fit beside one weight tile."""
        op, acc = self.element_bytes(itemsize)
        fit = (self.buffer_bytes - self.rows * self.cols * op) // (self.rows * op + self.cols * acc)
        if fit < 1:
            raise ValueError(f"the {self.buffer_bytes}-byte buffer cannot hold a {self.rows}x{self.cols} "
                             f"weight tile and one activation row of {itemsize}-byte operands "
                             f"({self.min_buffer_bytes(itemsize)} bytes needed)")
        return int(fit)


def config_from_env(text: str | None = None) -> SystolicConfig:
    """The config ``$XPGRAD_FPGA_CONFIG`` describes: ``"rows=8,cols=8,arithmetic=bfloat16"`` or JSON."""
    text = os.environ.get(ENV_CONFIG, "") if text is None else text
    text = text.strip()
    if not text:
        return SystolicConfig()
    if text.startswith("{"):
        items = json.loads(text)
    else:
        items = dict(part.split("=", 1) for part in text.replace(";", ",").split(",") if part.strip())
    types = {f.name: f.type for f in fields(SystolicConfig)}
    out: dict[str, Any] = {}
    for key, value in items.items():
        key = key.strip()
        if key not in types:
            raise ValueError(f"${ENV_CONFIG}: unknown field {key!r}; fields are {', '.join(types)}")
        kind = {"int": int, "float": float, "str": str}[str(types[key])]
        out[key] = kind(value.strip()) if isinstance(value, str) else kind(value)
    return SystolicConfig(**out)


_DEFAULT: list[SystolicConfig | None] = [None]


def default_config() -> SystolicConfig:
    """The config new devices start with: ``$XPGRAD_FPGA_CONFIG``, or the defaults above."""
    if _DEFAULT[0] is None:
        _DEFAULT[0] = config_from_env()
    return _DEFAULT[0]


def _devices(device: Any) -> list[FPGADevice]:
    from .array import _DEVICES
    from .namespace import as_device

    if device is None:
        return list(_DEVICES.values())
    return [as_device(device, "configure")]


def configure(config: SystolicConfig | None = None, /, *, device: Any = None,
              **changes: Any) -> SystolicConfig:
    """Change the card's description; returns the previous config (of ``device``, or of new devices).

    ``device=None`` changes every device and the default for devices created later.

    >>> from xpgrad.backends import fpga
    >>> old = fpga.configure(rows=4, cols=4, arithmetic="bfloat16")
    >>> _ = fpga.configure(old)
    """
    old = default_config() if device is None else _devices(device)[0].config
    if device is None:
        _DEFAULT[0] = config if config is not None and not changes else replace(config or old, **changes)
    for dev in _devices(device):
        dev.config = config if config is not None and not changes else replace(config or dev.config,
                                                                                **changes)
    from ...core import dispatch

    dispatch.forget()   # decisions made under the old configuration's costs no longer hold
    return old


@contextmanager
def configured(config: SystolicConfig | None = None, /, *, device: Any = None,
               **changes: Any) -> Iterator[SystolicConfig]:
    """``configure`` for a ``with`` block; every device's config comes back afterwards."""
    from .array import _DEVICES

    saved = (_DEFAULT[0], {i: d.config for i, d in _DEVICES.items()})
    configure(config, device=device, **changes)
    try:
        yield default_config() if device is None else _devices(device)[0].config
    finally:
        _DEFAULT[0] = saved[0]
        for i, c in saved[1].items():
            _DEVICES[i].config = c


# ---------------------------------------------------------------- number formats


def round_to_float(x: Any, precision: int, emin: int, emax: int) -> np.ndarray:
    """``x`` rounded to nearest-even in a binary format of ``precision`` significant bits (float64 result).

    ``emin``/``emax`` are the format's exponent range (subnormals below 2**emin,
    overflow to ±inf above its largest finite number). Exact: every step scales
    by a power of two in float64, so there is one rounding, not two.
    """
    x = np.asarray(x, dtype=np.float64)
    _, e = np.frexp(x)                                    # |x| = m·2**e with m in [0.5, 1)
    q = np.maximum(e - 1, emin) - (precision - 1)         # weight of the last kept significand bit
    y = np.ldexp(np.rint(np.ldexp(x, -q)), q)
    y = np.where(np.isfinite(x), y, x)
    biggest = (2.0 - 2.0 ** (1 - precision)) * 2.0 ** emax
    return np.where(np.abs(y) > biggest, np.copysign(np.inf, x), y)


def round_to_bfloat16(x: Any) -> np.ndarray:
    """``x`` rounded to bfloat16 (8 significant bits, float32's exponent range), as float32 values.

    >>> round_to_bfloat16([1.0 + 2**-8, 1.0 + 3 * 2**-8]).tolist()
    [1.0, 1.015625]
    """
    return round_to_float(x, 8, -126, 127).astype(np.float32)


def quantize_fixed(x: Any, cfg: SystolicConfig) -> np.ndarray:
    """``x`` as Q(int_bits).(frac_bits) integers (int64): scaled, rounded, saturated; NaN becomes 0."""
    scaled = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0) * 2.0 ** cfg.frac_bits
    q = np.floor(scaled + 0.5) if cfg.rounding == "nearest" else np.floor(scaled)
    top = 2.0 ** (cfg.int_bits + cfg.frac_bits)
    return np.clip(q, -top, top - 1).astype(np.int64)


def _fixed_matmul(a: np.ndarray, b: np.ndarray, cfg: SystolicConfig) -> np.ndarray:
    qa, qb = quantize_fixed(a, cfg), quantize_fixed(b, cfg)
    n = cfg.frac_bits
    acc_top = 2 ** (cfg.acc_bits - 1)
    k = qa.shape[-1]
    acc = np.matmul(qa[..., :0], qb[..., :0, :])  # zeros of the result's (broadcast) shape
    for k0 in range(0, k, cfg.rows):  # one K-tile per pass down the array; the accumulator saturates
        acc = np.clip(acc + np.matmul(qa[..., k0:k0 + cfg.rows], qb[..., k0:k0 + cfg.rows, :]),
                      -acc_top, acc_top - 1)
    out = (acc + (1 << (n - 1))) >> n if cfg.rounding == "nearest" else acc >> n
    top = 2 ** (cfg.int_bits + n)
    return np.clip(out, -top, top - 1).astype(np.float64) * 2.0 ** -n


def _compute(a: np.ndarray, b: np.ndarray, cfg: SystolicConfig) -> np.ndarray:
    """``a @ b`` for operands of at least 2-D, in the configured arithmetic.

    VENDOR: this is where your card computes. Replace it with your runtime's call.
    """
    dtype = np.result_type(a.dtype, b.dtype)
    if cfg.arithmetic == "float32" or dtype.kind != "f":
        return np.matmul(a, b)
    if cfg.arithmetic == "bfloat16":
        out = np.matmul(round_to_bfloat16(a), round_to_bfloat16(b))  # products exact, float32 sums
    else:
        out = _fixed_matmul(a, b, cfg)
    return out.astype(dtype, copy=False)


# ---------------------------------------------------------------- the cycle model


@dataclass(frozen=True)
class CycleCount:
    """What one systolic matmul costs on the array (see the module docstring for the model)."""

    weight_tiles: int   # weight tiles loaded for the first pass: batch·⌈K/R⌉·⌈N/C⌉
    passes: int         # activation chunks per weight tile (> 1 when M rows overflow the buffer)
    reloads: int        # weight-tile loads beyond the first, caused by the buffer
    cycles: int
    macs: int


def count_cycles(batch: int, m: int, k: int, n: int, cfg: SystolicConfig, itemsize: int = 4) -> CycleCount:
    """Cycles of ``batch`` products ``(m×k) @ (k×n)`` with distinct weights on the array ``cfg``.

    >>> count_cycles(1, 4, 4, 4, SystolicConfig(rows=4, cols=4)).cycles  # 4 load + 4 rows + 6 fill/drain
    14
    """
    if min(batch, m, k, n) <= 0:
        return CycleCount(0, 0, 0, 0, 0)
    r, c = cfg.rows, cfg.cols
    tiles = batch * -(-k // r) * -(-n // c)
    passes = -(-m // cfg.rows_per_pass(itemsize))
    cycles = tiles * (passes * (r + (r + c - 2)) + m)  # per chunk: load R, fill/drain R+C-2; rows: M
    return CycleCount(tiles, passes, tiles * (passes - 1), cycles, batch * m * k * n)


@dataclass(frozen=True)
class KernelReport:
    """One kernel call on the card: its problem, its arithmetic and what it cost."""

    op: str
    device: str
    batch: int
    m: int
    k: int
    n: int
    arithmetic: str
    weight_tiles: int
    passes: int
    reloads: int
    cycles: int
    macs: int
    seconds: float       # cycles / clock: time on the array (transfers are the cost model's, section 5)
    utilization: float   # MACs / (cycles · rows · cols)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _report(op: str, dev: FPGADevice, batch: int, m: int, k: int, n: int, itemsize: int) -> KernelReport:
    cfg = dev.config
    cc = count_cycles(batch, m, k, n, cfg, itemsize)
    rep = KernelReport(op, dev.name, batch, m, k, n, cfg.arithmetic, cc.weight_tiles, cc.passes,
                       cc.reloads, cc.cycles, cc.macs, cc.cycles / cfg.clock_hz,
                       cc.macs / (cc.cycles * cfg.rows * cfg.cols) if cc.cycles else 0.0)
    dev.reports.append(rep)
    dev.cycles += cc.cycles
    dev.kernel_calls += 1
    return rep


def _dev(device: Any) -> FPGADevice:
    from .namespace import as_device

    return as_device(device, "fpga")


def last_report(device: Any = "fpga:0") -> KernelReport | None:
    """The report of the latest kernel call on ``device`` (``None`` before the first)."""
    reps = _dev(device).reports
    return reps[-1] if reps else None


def reports(device: Any = "fpga:0") -> list[KernelReport]:
    """The latest kernel reports of ``device`` (up to 1000), oldest first."""
    return list(_dev(device).reports)


def total_cycles(device: Any = "fpga:0") -> int:
    """Cycles of every kernel call on ``device`` since the last :func:`reset_reports`."""
    return _dev(device).cycles


def reset_reports(device: Any = None) -> None:
    """Clear the kernel log and cycle total of ``device`` (every device when ``None``)."""
    from .array import _DEVICES

    for dev in _DEVICES.values() if device is None else [_dev(device)]:
        dev.reports.clear()
        dev.cycles = 0
        dev.kernel_calls = 0


# ---------------------------------------------------------------- the kernels


def _operands(where: str, *xs: Any) -> FPGADevice:
    """The device all of ``xs`` live on; refuses host arrays and other cards' arrays."""
    first = None
    for x in xs:
        if type(x) is not FPGAArray:
            raise mixing_error(where, first if first is not None else next(
                (y for y in xs if type(y) is FPGAArray), get_device(0)), x)
        if first is None:
            first = x
        elif x._dev is not first._dev:
            raise device_error(where, first, x)
    return first._dev


def _matmul_raw(a: np.ndarray, b: np.ndarray, dev: FPGADevice, op: str = "matmul") -> np.ndarray:
    """Array API matmul of device memory ``a @ b`` on the array of ``dev``, logged."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: matmul needs at least 1-D operands")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: the inner dimensions differ "
                         f"({a2.shape[-1]} vs {b2.shape[-2]})")
    batch_shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    batch = math.prod(batch_shape)
    m, k, n = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    if b2.ndim == 2:  # one weight matrix for the whole batch: stream every row through it
        m, batch = m * batch, 1
    out = _compute(a2, b2, dev.config)
    _report(op, dev, batch, m, k, n, np.result_type(a.dtype, b.dtype).itemsize)
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return np.asarray(out)


def run_matmul(x1: FPGAArray, x2: FPGAArray) -> FPGAArray:
    """``x1 @ x2`` on the systolic array of their card (the ``@`` operator, ``xp.matmul``)."""
    dev = _operands("matmul", x1, x2)
    return _new(_matmul_raw(x1._a, x2._a, dev), dev)


def matmul(xp: Any, x1: Any, x2: Any, /) -> FPGAArray:
    """The ``matmul`` op's kernel: Array API matmul on the systolic array, in its arithmetic."""
    return run_matmul(x1, x2)


def conv2d_geometry(x_shape: tuple, w_shape: tuple, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                    groups: int = 1) -> dict[str, Any]:
    """A conv2d's output shape and its im2col matmul ``(groups, M, K) @ (groups, K, O/groups)``.

    The call is checked by the op's own ``conv2d_geometry`` (same errors as on every device).

    >>> g = conv2d_geometry((2, 3, 5, 5), (4, 3, 3, 3), padding=1)
    >>> g["out"], (g["batch"], g["m"], g["k"], g["n"])
    ((2, 4, 5, 5), (1, 50, 27, 4))
    """
    from ...ops.nn import conv2d_geometry as check  # ops load after backends

    geo = check(tuple(x_shape), tuple(w_shape), stride, padding, dilation, groups)
    n, (o, cg, kh, kw), (ho, wo) = x_shape[0], tuple(w_shape), geo.out
    return {"geo": geo, "out": (n, o, ho, wo), "batch": geo.groups, "m": n * ho * wo, "k": cg * kh * kw,
            "n": o // geo.groups}


def _im2col(x: np.ndarray, kh: int, kw: int, geo: dict, groups: int) -> np.ndarray:
    """Patches of ``x`` as ``(groups, N·Ho·Wo, C/groups·kh·kw)``: what the address generator streams."""
    (sh, sw), (ph, pw), (dh, dw) = geo["geo"].stride, geo["geo"].padding, geo["geo"].dilation
    n, c = x.shape[:2]
    ho, wo = geo["out"][2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :ho, :wo]               # (N, C, Ho, Wo, kh, kw)
    win = win.reshape(n, groups, c // groups, ho, wo, kh, kw)
    return win.transpose(1, 0, 3, 4, 2, 5, 6).reshape(groups, n * ho * wo, (c // groups) * kh * kw)


def _conv2d_raw(x: np.ndarray, w: np.ndarray, stride: Any, padding: Any, dilation: Any, groups: int,
                mm: Any) -> np.ndarray:
    geo = conv2d_geometry(x.shape, w.shape, stride, padding, dilation, groups)
    groups = geo["batch"]
    o, _, kh, kw = w.shape
    n, _, ho, wo = geo["out"]
    cols = _im2col(x, kh, kw, geo, groups)                                 # (G, M, K)
    wmat = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)          # (G, K, O/G)
    out = mm(cols, wmat)                                                   # (G, M, O/G)
    out = out.reshape(groups, n, ho, wo, o // groups).transpose(1, 0, 4, 2, 3)
    return np.ascontiguousarray(out.reshape(n, o, ho, wo))


def conv2d(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> FPGAArray:
    """The ``conv2d`` op's kernel: im2col, then the systolic matmul (one report, op ``"conv2d"``)."""
    dev = _operands("conv2d", x, w)

    def mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _matmul_raw(a, b, dev, op="conv2d")
    return _new(_conv2d_raw(x._a, w._a, stride, padding, dilation, groups, mm), dev)


# ---------------------------------------------------------------- the "host" kernels
# The alternative a cost-model dispatcher weighs against the array: copy the
# operands to the host, compute with NumPy, copy the result back. Their
# transfers are counted like any other.


def host_matmul(xp: Any, x1: Any, x2: Any, /) -> FPGAArray:
    """``matmul`` on the host CPU: two downloads, NumPy's matmul, one upload."""
    from .array import host_copy, upload

    dev = _operands("matmul", x1, x2)
    return upload(np.matmul(host_copy(x1), host_copy(x2)), dev)


def host_conv2d(xp: Any, x: Any, w: Any, /, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                groups: int = 1) -> FPGAArray:
    """``conv2d`` on the host CPU (im2col and NumPy's matmul), with its transfers."""
    from .array import host_copy, upload

    dev = _operands("conv2d", x, w)
    return upload(_conv2d_raw(host_copy(x), host_copy(w), stride, padding, dilation, groups, np.matmul), dev)
