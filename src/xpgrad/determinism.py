"""Deterministic mode: the same inputs give the same bits on every run, or a clear error.

Some kernels are fast because they let the device choose the order of their
additions: a scatter-add (the VJP of indexing, of ``take``, of embeddings) with
float atomics adds the contributions to one element in whatever order the
threads arrive, and float addition rounds differently in each order. The
dispatcher's ``measure`` level has the same effect one level up: it times
candidates and keeps the fastest, and a near-tie can go either way from one run
(or machine) to the next, with kernels that round differently.

``use_deterministic(True)`` (like ``torch.use_deterministic_algorithms``) makes
every such choice deterministic, process-wide:

* kernels declared ``Kernel.deterministic=False`` are set aside wherever a
  deterministic candidate exists (``xpgrad.dispatch.explain`` says
  "set aside: not deterministic (use_deterministic)");
* the dispatcher never times candidates (``measure`` plans as ``estimate``) and
  ignores saved timings (wisdom), so choices follow the cost model alone;
* a call with no deterministic candidate at all (the op's own forward is not
  deterministic on that device, ``Op.deterministic``, and no deterministic kernel
  supports the call) raises :class:`~xpgrad.core.errors.DeterminismError` naming
  the op, device, shapes and the ways out; with ``warn_only=True`` it warns once
  per op (:class:`DeterminismWarning`) and runs;
* a kernel forced with ``xpgrad.dispatch.prefer`` that is not deterministic
  raises the same error (or warns, with ``warn_only``).

Planning decisions cached before the mode changes are forgotten when it changes.
``XPGRAD_DETERMINISTIC=1`` (or ``warn``) turns the mode on at import. The check
runs once per call signature, when the dispatcher plans it: the cached path
costs what it always does, and with the mode off nothing is checked at all.

What it covers and what not: the built-in kernels that differ run to run are
the float atomic scatter-adds (OpenCL's one-pass kernel, CUDA's
``cupyx.scatter_add``); their deterministic counterparts (OpenCL's bucketed sum,
which sorts each destination's contributions, NumPy's ``add.at``, the generic
sort-based forward) sum in selection order. Seeded random streams
(``xpgrad.random``) are reproducible in any mode. Bits are reproducible on one
device with one software stack, not across devices or library versions. The
cost model reads the device profile; a figure a profile times on first use
(the ``cpu`` profile's bandwidth and call overhead) is stored in the cache
directory so that later runs estimate, and choose, alike; ``calibrate()``
changes the figures and may change choices. A kernel that runs out of memory
hands the call to the next deterministic candidate, which may round differently.
"""

from __future__ import annotations

from typing import Any

from .core.dispatch import DeterminismWarning, deterministic_mode, op_deterministic, set_deterministic
from .core.errors import DeterminismError

__all__ = ["use_deterministic", "is_deterministic", "is_warn_only", "DeterminismError", "DeterminismWarning",
           "op_deterministic"]


class use_deterministic:
    """Turn deterministic mode on (or off) for the whole process; also a context manager that restores
    the previous mode on exit.

    ``warn_only=True`` warns (once per op, :class:`DeterminismWarning`) instead of
    raising :class:`DeterminismError` where no deterministic kernel exists; the
    nondeterministic kernels are still set aside wherever a deterministic one can
    run the call.

    >>> import xpgrad as xg
    >>> with xg.use_deterministic():
    ...     xg.is_deterministic()
    True
    >>> xg.is_deterministic()
    False
    """

    def __init__(self, mode: bool = True, *, warn_only: bool = False) -> None:
        self._old = deterministic_mode()
        set_deterministic(bool(mode), bool(warn_only))

    def __enter__(self) -> "use_deterministic":
        return self

    def __exit__(self, *exc: Any) -> None:
        set_deterministic(*self._old)

    def __repr__(self) -> str:
        on, warn = deterministic_mode()
        return f"<use_deterministic: {'on' if on else 'off'}{', warn_only' if warn else ''}>"


def is_deterministic() -> bool:
    """Whether deterministic mode is on (with or without ``warn_only``).

    >>> is_deterministic()
    False
    """
    return deterministic_mode()[0]


def is_warn_only() -> bool:
    """Whether deterministic mode only warns where no deterministic kernel exists.

    >>> is_warn_only()
    False
    """
    return deterministic_mode()[1]
