"""Section 2. Moving data.

The :class:`~xpgrad.core.device.Backend` of a card is what xpgrad's engine
sees of it: the namespace (section 3), the array type (section 1), and the
only two doors between host and card memory:

* ``from_host(a)`` — host data into a new FPGAArray (``xpgrad.asarray(a,
  device="fpga:0")`` and ``tensor.to_device("fpga:0")`` end here);
* ``to_host(x)`` — an FPGAArray into a new NumPy array (``tensor.numpy()``,
  ``tensor.to_device("cpu")``, printing a Tensor).

Both copy (device memory is not host memory) and both are **counted**:
:func:`transfer_counts` lets a test assert that a forward and backward pass
ran without a single round trip to the host. ``wrap`` refuses a kernel result
that is not on the card, so a kernel that forgot to copy its result back to
the device is caught at once instead of silently computing on the host.

    VENDOR: ``upload``/``host_copy`` in ``array.py`` are your DMA calls (XRT
    ``bo.sync``, ``clEnqueueWriteBuffer``...). Keep the counting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.device import Backend
from . import namespace
from .array import _DEVICES, _PY_SCALARS, FPGAArray, FPGADevice, _new, _what, host_copy, upload

__all__ = ["FPGABackend", "transfer_counts", "reset_transfers"]


class FPGABackend(Backend):
    """One card (``fpga:0``): FPGAArrays in its memory, the fpga namespace, a cost profile."""

    def __init__(self, dev: FPGADevice) -> None:
        super().__init__(dev.name, namespace, (FPGAArray,), native_device=dev, family="fpga")

    # The profile follows the card's configuration (section 5), so configure() is seen at once.
    @property
    def profile(self) -> Any:
        from .cost import profile_of

        return profile_of(self.native_device)

    @profile.setter
    def profile(self, value: Any) -> None:
        if value is not None:
            raise AttributeError("the fpga profile follows the card's SystolicConfig; change it with "
                                 "xpgrad.backends.fpga.configure(...)")

    def owns(self, x: Any) -> bool:
        return type(x) is FPGAArray and x._dev is self.native_device

    def wrap(self, x: Any) -> FPGAArray:
        if type(x) is FPGAArray:
            if x._dev is not self.native_device:
                raise TypeError(f"a kernel on {self.device} returned {_what(x)}: results must stay on "
                                "the device that computed them")
            return x
        if type(x) in _PY_SCALARS:
            return _new(np.asarray(x), self.native_device)
        raise TypeError(f"a kernel on {self.device} returned {_what(x)}: results must be FPGAArrays on "
                        f"{self.device} (copy host results back with the backend's from_host)")

    def to_host(self, x: Any) -> np.ndarray:
        if not self.owns(x):
            raise TypeError(f"{self.device}.to_host: expected an FPGAArray on {self.device}, got {_what(x)}")
        return host_copy(x)

    def from_host(self, x: Any) -> FPGAArray:
        if type(x) is FPGAArray:
            raise TypeError(f"{self.device}.from_host: {_what(x)} is not host data; use to_host first "
                            "(or tensor.to_device)")
        return upload(np.asarray(x), self.native_device)

    def ones_like(self, x: Any) -> FPGAArray:
        return _new(np.ones_like(x._a), x._dev)

    def copy(self, x: Any) -> FPGAArray:
        return _new(x._a.copy(), x._dev)

    def identity(self) -> str:
        """The card and its systolic configuration: dispatch decisions depend on both.

        VENDOR: add the bitstream and driver versions of a real card here.
        """
        return f"{self.device} {self.native_device.config!r}"


def _dev(device: Any) -> FPGADevice:
    return namespace.as_device(device, "transfer_counts")


def transfer_counts(device: Any = "fpga:0") -> dict[str, int]:
    """Host <-> card transfers of ``device`` so far: counts and bytes each way.

    >>> transfer_counts()  # doctest: +SKIP
    {'to_host': 0, 'from_host': 1, 'bytes_to_host': 0, 'bytes_from_host': 96}
    """
    return dict(_dev(device).transfers)


def reset_transfers(device: Any = None) -> None:
    """Zero the transfer counters of ``device`` (of every device when ``None``)."""
    for dev in _DEVICES.values() if device is None else [_dev(device)]:
        for k in dev.transfers:
            dev.transfers[k] = 0
