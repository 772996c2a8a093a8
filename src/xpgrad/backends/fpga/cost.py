"""Section 5. The cost model.

What a dispatcher needs to decide where an op runs, derived from the card's
description (section 4) rather than measured:

* :class:`FPGAProfile` — the device profile a Backend carries
  (``xpgrad.get_backend("fpga:0").profile``): peak FLOP/s = 2 · rows · cols ·
  clock, buffer size, host link bandwidth and latency.
* :func:`matmul_cost` / :func:`conv2d_cost` — seconds for one call:
  ``launch + cycles / clock`` (the cycle model of section 4) plus, unless the
  operands already live on the card (``transfer=False``), moving the operands
  in and the result out: ``latency + bytes / bandwidth`` per array.
* :func:`host_matmul_cost` / :func:`host_conv2d_cost` — the alternative: copy
  to the host, compute there at ``host_flops``, copy back.
* ``*_kernel_cost(signature, profile)`` — the same, in the form
  :class:`~xpgrad.plugins.hookspecs.Kernel` wants for its ``cost`` field.

    VENDOR: calibrate ``link_bandwidth``/``link_latency`` with a ping-pong
    benchmark of your DMA, and check the cycle model against your bitstream's
    cycle counter; the dispatcher trusts these numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .array import FPGADevice
from .systolic import SystolicConfig, conv2d_geometry, count_cycles

__all__ = ["FPGAProfile", "profile_of", "transfer_time", "matmul_cost", "conv2d_cost", "host_matmul_cost",
           "host_conv2d_cost", "matmul_kernel_cost", "host_matmul_kernel_cost", "conv2d_kernel_cost",
           "host_conv2d_kernel_cost", "matmul_supported", "conv2d_supported"]


@dataclass(frozen=True)
class FPGAProfile:
    """The numbers a cost model reads about one card.

    >>> profile_of(SystolicConfig(rows=4, cols=4, clock_mhz=100)).peak_flops  # 2·4·4·100 MHz
    3200000000.0
    """

    device: str
    rows: int
    cols: int
    clock_hz: float
    peak_flops: float       # 2 · rows · cols · clock
    buffer_bytes: int
    link_bandwidth: float   # bytes/s, host <-> card
    link_latency: float     # s per transfer or kernel launch
    host_flops: float       # what the host kernels assume of the CPU
    config: SystolicConfig

    # The names other backends' profiles use, for a dispatcher that reads any of them.
    @property
    def host_bandwidth(self) -> float:
        return self.link_bandwidth

    @property
    def launch_latency(self) -> float:
        return self.link_latency

    @property
    def memory_bandwidth(self) -> float:
        """What the buffer feeds the array per second: a row of operands in, a row of results out."""
        op, acc = self.config.element_bytes(4)
        return (self.rows * op + self.cols * acc) * self.clock_hz

    def describe(self) -> str:
        """One line for ``python -m xpgrad info``."""
        c = self.config
        fmt = f"Q{c.int_bits}.{c.frac_bits}" if c.arithmetic == "fixed" else c.arithmetic
        return (f"emulated {self.rows}x{self.cols} systolic array, {fmt}, {c.clock_mhz:g} MHz, "
                f"{self.peak_flops / 1e9:.4g} GFLOP/s peak, {self.buffer_bytes / 2**20:.4g} MiB buffer, "
                f"link {self.link_bandwidth / 1e9:.3g} GB/s + {self.link_latency * 1e6:.3g} us")


_PROFILES: dict[tuple[str, SystolicConfig], FPGAProfile] = {}


def profile_of(device: Any = "fpga:0") -> FPGAProfile:
    """The profile of a card (an FPGADevice or device string) or of a :class:`SystolicConfig`."""
    if isinstance(device, SystolicConfig):
        name, cfg = "fpga", device
    else:
        dev = device if isinstance(device, FPGADevice) else _device(device)
        name, cfg = dev.name, dev.config
    p = _PROFILES.get((name, cfg))
    if p is None:
        p = _PROFILES[(name, cfg)] = FPGAProfile(name, cfg.rows, cfg.cols, cfg.clock_hz, cfg.peak_flops,
                                                 cfg.buffer_bytes, cfg.link_bandwidth, cfg.link_latency,
                                                 cfg.host_flops, cfg)
    return p


def _device(device: Any) -> FPGADevice:
    from .namespace import as_device

    return as_device(device, "cost model")


def _config(device: Any, config: SystolicConfig | FPGAProfile | None) -> SystolicConfig:
    if isinstance(config, FPGAProfile):
        return config.config
    return config if config is not None else _device(device).config


def transfer_time(nbytes: int, config: SystolicConfig | FPGAProfile) -> float:
    """Seconds to move one array of ``nbytes`` over the host link (nothing to move costs nothing)."""
    cfg = config.config if isinstance(config, FPGAProfile) else config
    return 0.0 if nbytes <= 0 else cfg.link_latency + nbytes / cfg.link_bandwidth


def matmul_cost(m: int, k: int, n: int, *, batch: int = 1, itemsize: int = 4, device: Any = "fpga:0",
                config: SystolicConfig | FPGAProfile | None = None, transfer: bool = True) -> float:
    """Seconds for ``batch`` products ``(m×k) @ (k×n)`` on the systolic array.

    Launch latency + cycles / clock, plus (``transfer=True``) both operands in and
    the result out over the host link.

    >>> matmul_cost(64, 64, 64) > matmul_cost(64, 64, 64, transfer=False) > 0
    True
    """
    cfg = _config(device, config)
    t = cfg.link_latency + count_cycles(batch, m, k, n, cfg, itemsize).cycles / cfg.clock_hz
    if transfer:
        t += (transfer_time(batch * m * k * itemsize, cfg) + transfer_time(batch * k * n * itemsize, cfg)
              + transfer_time(batch * m * n * itemsize, cfg))
    return t


def host_matmul_cost(m: int, k: int, n: int, *, batch: int = 1, itemsize: int = 4, device: Any = "fpga:0",
                     config: SystolicConfig | FPGAProfile | None = None) -> float:
    """Seconds for the "host" kernel: operands out to the host, 2·m·k·n FLOPs there, the result back."""
    cfg = _config(device, config)
    return (transfer_time(batch * m * k * itemsize, cfg) + transfer_time(batch * k * n * itemsize, cfg)
            + 2.0 * batch * m * k * n / cfg.host_flops + transfer_time(batch * m * n * itemsize, cfg))


def conv2d_cost(x_shape: tuple, w_shape: tuple, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                groups: int = 1, itemsize: int = 4, device: Any = "fpga:0",
                config: SystolicConfig | FPGAProfile | None = None, transfer: bool = True) -> float:
    """Seconds for one conv2d on the card: im2col feeds ``groups`` systolic matmuls.

    >>> conv2d_cost((1, 3, 32, 32), (16, 3, 3, 3), padding=1) > 0
    True
    """
    cfg = _config(device, config)
    g = conv2d_geometry(tuple(x_shape), tuple(w_shape), stride, padding, dilation, groups)
    cycles = count_cycles(g["batch"], g["m"], g["k"], g["n"], cfg, itemsize).cycles
    t = cfg.link_latency + cycles / cfg.clock_hz
    if transfer:
        t += _conv2d_traffic(x_shape, w_shape, g, itemsize, cfg)
    return t


def _conv2d_traffic(x_shape: tuple, w_shape: tuple, g: dict, itemsize: int, cfg: SystolicConfig) -> float:
    """x and w over the link to the card, the result back."""
    return sum(transfer_time(math.prod(shape) * itemsize, cfg) for shape in (x_shape, w_shape, g["out"]))


def host_conv2d_cost(x_shape: tuple, w_shape: tuple, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                     groups: int = 1, itemsize: int = 4, device: Any = "fpga:0",
                     config: SystolicConfig | FPGAProfile | None = None) -> float:
    """Seconds for the "host" conv2d: x and w to the host, 2·M·K·N FLOPs per group, the result back."""
    cfg = _config(device, config)
    g = conv2d_geometry(tuple(x_shape), tuple(w_shape), stride, padding, dilation, groups)
    return (_conv2d_traffic(x_shape, w_shape, g, itemsize, cfg)
            + 2.0 * g["batch"] * g["m"] * g["k"] * g["n"] / cfg.host_flops)


# ---------------------------------------------------------------- for Kernel(cost=..., supports=...)
# The dispatcher's signature is not fixed yet. These read, in order: attributes
# ``shapes``/``dtypes``/``params``, the same keys of a mapping, or a sequence of
# arrays (or of shapes) followed by nothing.


def _signature(signature: Any) -> tuple[list[tuple], list[Any], dict]:
    def get(name: str) -> Any:
        if isinstance(signature, Mapping):
            return signature.get(name)
        return getattr(signature, name, None)
    shapes, dtypes, params = get("shapes"), get("dtypes"), get("params") or {}
    if shapes is None and isinstance(signature, (tuple, list)):
        if all(hasattr(a, "shape") for a in signature):
            shapes, dtypes = [a.shape for a in signature], [a.dtype for a in signature]
        else:
            shapes = signature
    return [tuple(s) for s in shapes or ()], list(dtypes or ()), dict(params)


def _itemsize(dtypes: list) -> int:
    try:
        return max(np.dtype(d).itemsize for d in dtypes) if dtypes else 4
    except TypeError:
        return 4


def _mkn(shapes: list[tuple]) -> tuple[int, int, int, int]:
    a, b = shapes[0], shapes[1]
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    batch = math.prod(np.broadcast_shapes(a2[:-2], b2[:-2]))
    m, k, n = a2[-2], a2[-1], b2[-1]
    return (1, batch * m, k, n) if len(b2) == 2 else (batch, m, k, n)


def matmul_supported(signature: Any) -> bool:
    """The array multiplies real and integer operands of at least one dimension."""
    shapes, dtypes, _ = _signature(signature)
    if any(np.dtype(d).kind in "cb" for d in dtypes if _is_dtype(d)):
        return False
    return len(shapes) != 2 or (len(shapes[0]) >= 1 and len(shapes[1]) >= 1)


def conv2d_supported(signature: Any) -> bool:
    shapes, dtypes, params = _signature(signature)
    if any(np.dtype(d).kind in "cb" for d in dtypes if _is_dtype(d)):
        return False
    if len(shapes) != 2:
        return True
    try:
        conv2d_geometry(shapes[0], shapes[1], **params)
    except (ValueError, TypeError):
        return False
    return True


def _is_dtype(d: Any) -> bool:
    try:
        np.dtype(d)
    except TypeError:
        return False
    return True


def matmul_kernel_cost(signature: Any, profile: FPGAProfile) -> float:
    """The systolic matmul with its operands already on the card."""
    shapes, dtypes, _ = _signature(signature)
    batch, m, k, n = _mkn(shapes)
    return matmul_cost(m, k, n, batch=batch, itemsize=_itemsize(dtypes), config=profile, transfer=False)


def host_matmul_kernel_cost(signature: Any, profile: FPGAProfile) -> float:
    shapes, dtypes, _ = _signature(signature)
    batch, m, k, n = _mkn(shapes)
    return host_matmul_cost(m, k, n, batch=batch, itemsize=_itemsize(dtypes), config=profile)


def conv2d_kernel_cost(signature: Any, profile: FPGAProfile) -> float:
    shapes, dtypes, params = _signature(signature)
    return conv2d_cost(shapes[0], shapes[1], itemsize=_itemsize(dtypes), config=profile, transfer=False,
                       **params)


def host_conv2d_kernel_cost(signature: Any, profile: FPGAProfile) -> float:
    shapes, dtypes, params = _signature(signature)
    return host_conv2d_cost(shapes[0], shapes[1], itemsize=_itemsize(dtypes), config=profile, **params)
