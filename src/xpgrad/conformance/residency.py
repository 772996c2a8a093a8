"""Host transfers: the optional protocol a backend implements so the suite can prove device residency.

A backend whose memory is not the host's *claims device residency*: an op on
arrays of the device runs on the device, and its result stays there. The suite
checks the result's place directly (``tensor.device``, the backend's array type,
``Backend.owns``); to see the round trips a kernel might hide (download the
operands, compute with NumPy, upload the result), it also reads a counter of
**device-to-host reads** before and after each call. The protocol, in the order
the suite looks for it:

1. a method of the Backend: ``backend.transfer_count() -> int`` — device-to-host
   reads of this device so far (monotone; the suite only takes differences);
   optionally ``backend.fallback_counts() -> dict[str, int]`` — functions that ran
   on the host because the device has no kernel for them (name -> calls);
2. module-level functions of the backend's module or package (``type(backend).__module__``
   and its parent): ``transfer_count(device) -> int``, or ``transfer_counts(device) ->
   dict`` with a ``"to_host"`` key (the fpga template's form), or ``host_transfers() -> int``
   (process-wide, the opencl backend's form); and ``fallback_counts()``;
3. adapters for the built-in families (``opencl``, ``fpga``), which use 2.

A backend with none of these is checked for placement only, and the report says
that residency could not be measured. The ``cpu`` family is the host: there is
nothing to count.

Uploads (host-to-device) are not violations: keys of ``x[key]`` are host data, and
inputs must get to the device somehow. Only reads back from the device are.
"""

from __future__ import annotations

from collections.abc import Callable
import sys
from typing import Any

__all__ = ["TransferCounter", "counter_for"]


class TransferCounter:
    """Reads one device's device-to-host transfer count and host-fallback counts."""

    def __init__(self, source: str, reads: Callable[[], int], fallbacks: Callable[[], dict] | None = None
                 ) -> None:
        self.source = source          # where the numbers come from, for the report
        self._reads = reads
        self._fallbacks = fallbacks

    def __repr__(self) -> str:
        return f"TransferCounter({self.source})"

    def reads(self) -> int:
        return int(self._reads())

    def fallbacks(self) -> dict[str, int]:
        if self._fallbacks is None:
            return {}
        out = self._fallbacks()
        return dict(out) if not isinstance(out, int) else {"all functions": int(out)}

    def snapshot(self) -> tuple[int, dict[str, int]]:
        return self.reads(), self.fallbacks()

    def since(self, snap: tuple[int, dict[str, int]]) -> tuple[int, dict[str, int]]:
        """Reads and fallbacks since ``snap`` (from :meth:`snapshot`)."""
        reads, fb = self.snapshot()
        new = {k: v - snap[1].get(k, 0) for k, v in fb.items() if v - snap[1].get(k, 0) > 0}
        return reads - snap[0], new


def _modules(backend: Any) -> list[Any]:
    name = type(backend).__module__
    out = [sys.modules.get(name)]
    while "." in name:
        name = name.rpartition(".")[0]
        out.append(sys.modules.get(name))
        if len(out) >= 3:
            break
    return [m for m in out if m is not None]


def _from_method(backend: Any) -> TransferCounter | None:
    fn = getattr(backend, "transfer_count", None)
    if not callable(fn):
        return None
    fb = getattr(backend, "fallback_counts", None)
    return TransferCounter(f"{type(backend).__name__}.transfer_count()", fn, fb if callable(fb) else None)


def _from_modules(backend: Any) -> TransferCounter | None:
    mods = _modules(backend)
    fb = next((m.fallback_counts for m in mods if callable(getattr(m, "fallback_counts", None))),
              None)
    for m in mods:
        fn = getattr(m, "transfer_count", None)
        if callable(fn):
            return TransferCounter(f"{m.__name__}.transfer_count(device)", lambda fn=fn: fn(backend), fb)
        fn = getattr(m, "transfer_counts", None)
        if callable(fn):
            return TransferCounter(f"{m.__name__}.transfer_counts(device)['to_host']",
                                   lambda fn=fn: fn(backend)["to_host"], fb)
        fn = getattr(m, "host_transfers", None)
        if callable(fn):
            return TransferCounter(f"{m.__name__}.host_transfers() (every device of the process)", fn, fb)
    return None


def _opencl(backend: Any) -> TransferCounter | None:
    from ..backends.opencl import namespace as ns

    return TransferCounter("xpgrad.backends.opencl.host_transfers() (every device of the process)",
                           ns.host_transfers, ns.fallback_counts)


def _fpga(backend: Any) -> TransferCounter | None:
    from ..backends import fpga

    return TransferCounter("xpgrad.backends.fpga.transfer_counts(device)['to_host']",
                           lambda: fpga.transfer_counts(backend)["to_host"])


#: Built-in families whose counters are module-level functions (the protocol's form 2, spelled out).
FAMILY_ADAPTERS: dict[str, Callable[[Any], TransferCounter | None]] = {"opencl": _opencl, "fpga": _fpga}


def counter_for(backend: Any) -> TransferCounter | None:
    """The transfer counter of ``backend``, or ``None`` if it exposes none (or is the host)."""
    found = _from_method(backend)
    if found is not None:
        return found
    if backend.family == "cpu":
        return None
    adapter = FAMILY_ADAPTERS.get(backend.family)
    if adapter is not None and type(backend).__module__.startswith(f"xpgrad.backends.{backend.family}"):
        try:
            found = adapter(backend)
        except Exception:
            found = None
        if found is not None:
            return found
    return _from_modules(backend)
