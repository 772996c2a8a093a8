"""Choosing kernels: ``xpgrad.dispatch`` is the user-facing side of the cost-model dispatcher.

For ops with several kernels on a device (``conv2d``: direct, im2col, FFT,
Winograd; ``matmul`` on OpenCL: naive, tiled, host...) xpgrad runs the one
its cost model says is cheapest for the call's shapes, dtypes and device.

* :func:`explain` — every candidate for a call, whether it supports it and why
  not, estimated and measured cost, the choice and the reason.
* :func:`prefer` — force a kernel for an op (a ``with`` block, or globally);
  :func:`stay_on_device` sets aside kernels that compute on the host by design.
* :func:`set_level` — ``estimate`` (default), ``measure`` (time candidates on
  first sight, save the winner), ``wisdom-only`` (saved decisions or the
  default kernel; never time). ``XPGRAD_DISPATCH`` sets it for a process.
* :func:`export_wisdom` / :func:`import_wisdom` — move saved decisions between
  machines of the same kind; :func:`wisdom_path` says where they live
  (``XPGRAD_WISDOM``, ``XPGRAD_CACHE_DIR``).
* :func:`calibrate` — measure a device's profile (what the cost models read)
  and store it; ``python -m xpgrad calibrate`` does the same.
* ``xpgrad.use_deterministic(True)`` — set aside kernels declared
  ``deterministic=False`` (float atomics), never time (``measure`` plans as
  ``estimate``) and ignore saved timings; a call with no deterministic kernel
  raises ``DeterminismError`` (``explain`` shows ``choice: none`` and why).

>>> import xpgrad as xg
>>> x, w = xg.ones((1, 3, 16, 16)), xg.ones((8, 3, 3, 3))
>>> e = xg.dispatch.explain("conv2d", x, w, padding=1)
>>> e.choice in [r["kernel"] for r in e.rows]
True
"""

from __future__ import annotations

import time
from typing import Any

from .core.dispatch import (LEVELS, Explanation, Kernel, Signature, cache_dir, choose, explain, export_wisdom,
                            forget, get_level, import_wisdom, kernels_of, prefer, save_profile,
                            set_level, stats, stay_on_device, wisdom_path)
from .core import dispatch as _core
from .core.device import get_backend

__all__ = ["explain", "choose", "prefer", "stay_on_device", "set_level", "get_level", "LEVELS",
           "Signature", "Kernel", "Explanation", "export_wisdom", "import_wisdom", "wisdom_path", "cache_dir",
           "forget", "stats", "kernels_of", "calibrate"]


def calibrate(device: Any = None, *, save: bool = True) -> dict[str, Any]:
    """Measure ``device``'s profile (GEMM FLOP/s at several sizes, memory bandwidth, launch latency,
    host↔device bandwidth, FFT rate) and store it for later processes; returns what was measured.

    Decisions made before are forgotten, so the next calls plan with the new figures.

    >>> figures = calibrate("cpu", save=False)       # doctest: +SKIP
    """
    b = get_backend(device)
    prof = b.profile
    if prof is None or not callable(getattr(prof, "calibrate", None)):
        raise ValueError(f"device {b.device!r} has no profile to calibrate")
    t0 = time.perf_counter()
    _core._PROFILES_APPLIED.add(b)   # a stored calibration must not be loaded over this one
    prof.calibrate()
    measured = dict(getattr(prof, "measured", {}) or {})
    out = {"device": b.device, "identity": b.identity(), "seconds": time.perf_counter() - t0,
           "measured": measured}
    if save:
        out["file"] = save_profile(b)
    forget()
    return out
