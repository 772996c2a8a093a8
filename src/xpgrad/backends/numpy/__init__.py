"""The NumPy backend: the default ``cpu`` device.

Its namespace is ``array_api_compat.numpy``, NumPy seen through the Array API.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xp_numpy
import numpy as np

from ...core.device import Backend, register_backend

__all__ = ["NumpyBackend", "register"]


class NumpyBackend(Backend):
    """``cpu``: NumPy arrays in host memory."""

    def wrap(self, x: Any) -> Any:
        return x if type(x) is np.ndarray else np.asarray(x)

    def to_host(self, x: Any) -> Any:
        return x

    def from_host(self, x: Any) -> Any:
        return np.asarray(x)


def register() -> NumpyBackend:
    return register_backend(NumpyBackend("cpu", xp_numpy, (np.ndarray,)), default=True)
