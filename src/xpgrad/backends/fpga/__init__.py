"""``fpga``: the template a hardware vendor copies for a chip that has no Python library yet.

It emulates a card with one weight-stationary systolic array, and it is
complete: ``xpgrad.asarray(a, device="fpga:0")`` gives tensors whose forward
and backward passes run "on the card", with every host <-> card transfer
counted and every matmul/conv2d computed in the card's arithmetic and
reported in cycles. Read it top to bottom, one file per section; every place
you replace is marked ``VENDOR:``.

1. The device array — ``array.py``: :class:`FPGAArray`, the array type that
   never mixes with host arrays, and :class:`FPGADevice`.
2. Moving data — ``backend.py``: the Backend's ``to_host``/``from_host``, the
   only doors to the host, counted (:func:`transfer_counts`).
3. The namespace — ``namespace.py``: the Array API, generated from the
   standard's function list over NumPy, with the no-mixing check at the boundary.
4. Kernels: what your chip accelerates — ``systolic.py``: :class:`SystolicConfig`,
   the number formats, the cycle model, the ``matmul`` and ``conv2d`` kernels,
   and the per-device log (:func:`last_report`, :func:`total_cycles`).
5. The cost model — ``cost.py``: the device profile, :func:`matmul_cost`,
   :func:`conv2d_cost`, and the costs the Kernel objects carry.
6. Registering: the plugin hook — ``plugin.py``: ``xpgrad_backend_families``
   and ``xpgrad_kernels``.

To start a backend for your chip: copy this package and ``tests/backends/test_fpga.py``,
rename the ``fpga`` prefix, list your plugin module under the ``xpgrad``
entry-point group, then replace what the ``VENDOR:`` notes point at, section
by section, keeping the tests green (those of the cycle model and the number formats
describe this emulated chip: rewrite them for yours).

Configuration: ``$XPGRAD_FPGA_DEVICES`` (number of cards, default 1),
``$XPGRAD_FPGA_CONFIG`` (``"rows=8,cols=8,arithmetic=bfloat16"`` or JSON), or
:func:`configure` / :func:`configured` at run time.

>>> import numpy as np, xpgrad as xg
>>> from xpgrad.backends import fpga
>>> _ = fpga.register()   # the plugin manager does this on first use of "fpga:0"
>>> x = xg.asarray(np.eye(4), device="fpga:0", requires_grad=True)
>>> xg.sum(x @ x).backward()
>>> x.grad.device, fpga.last_report().op
('fpga:0', 'matmul')
"""

from __future__ import annotations

from .array import FPGAArray, FPGADevice, device_count, get_device
from .backend import FPGABackend, reset_transfers, transfer_counts
from .cost import FPGAProfile, conv2d_cost, host_conv2d_cost, host_matmul_cost, matmul_cost, profile_of
from .plugin import kernels, load, register, xpgrad_backend_families, xpgrad_kernels
from .systolic import (CycleCount, KernelReport, SystolicConfig, configure, configured, count_cycles,
                       last_report, reports, reset_reports, round_to_bfloat16, total_cycles)

__all__ = ["FPGAArray", "FPGADevice", "FPGABackend", "SystolicConfig", "KernelReport", "CycleCount",
           "FPGAProfile", "configure", "configured", "count_cycles", "last_report", "reports", "total_cycles",
           "reset_reports", "transfer_counts", "reset_transfers", "reset", "matmul_cost", "conv2d_cost",
           "host_matmul_cost", "host_conv2d_cost", "profile_of", "round_to_bfloat16", "load", "register",
           "kernels", "device_count", "get_device", "xpgrad_backend_families", "xpgrad_kernels"]


def reset(device: object = None) -> None:
    """Zero the transfer counters and the kernel log of ``device`` (every card when ``None``)."""
    reset_transfers(device)
    reset_reports(device)
