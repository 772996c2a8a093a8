"""The conformance suite: what works, op by op, on a device — for vendors bringing up new hardware.

One command checks every registered op (third-party plugin ops included, with
the samples they declare) and every kernel registered for the device's family,
and writes a report::

    python -m xpgrad.conformance --device opencl:0 --report build/conformance

or, in a vendor's own CI, one pytest test per (op, check)::

    pytest --pyargs xpgrad.conformance --xpgrad-device fpga:0

The checks (columns of the report, :data:`CHECKS`): forward results in float32
and float64 against a float64 CPU reference, result dtypes and type promotion,
broadcasting, 0-d/empty and non-contiguous inputs, JVP against central
differences, VJP against the JVP, second order, non-differentiable ops, kernels
against the op's generic forward, device residency, kernel cost functions; and
the device profile. Tolerances come from one table, :data:`TOLERANCES`.
``docs/conformance.md`` is the vendor's guide.

>>> from xpgrad.conformance import run
>>> report = run("cpu", ops=["multiply"])
>>> report.ok(), report.results["multiply"]["vjp"].status
(True, 'pass')
"""

from __future__ import annotations

from . import cases
from .checks import CHECK_DOCS, CHECKS, DEVICE_CHECKS, CheckResult
from .known import KnownFailures
from .known import load as load_known_failures
from .report import write_reports
from .runner import Report, devices_of, run, run_target
from .tolerances import FD_EPS, TOLERANCES, tolerance

__all__ = ["run", "run_target", "Report", "CheckResult", "CHECKS", "CHECK_DOCS", "DEVICE_CHECKS",
           "TOLERANCES", "FD_EPS", "tolerance", "KnownFailures", "load_known_failures", "write_reports",
           "devices_of", "cases"]
