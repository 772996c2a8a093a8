"""``DebugBackend``: the one device of family ``debug``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xpgrad.core.device import Backend

from .array import DebugArray
from .namespace import namespace

__all__ = ["DebugBackend", "DebugProfile"]


@dataclass(frozen=True)
class DebugProfile:
    """Host memory and host speed, plus the cost of checking every result."""

    peak_flops: float = 1e9
    memory_bandwidth: float = 5e9
    launch_latency: float = 2e-5
    host_bandwidth: float = 1e10

    def describe(self) -> str:
        return "host CPU through NumPy, float64 only, every result checked for NaN"


class DebugBackend(Backend):
    """``debug:0``: float64 DebugArrays in host memory."""

    def __init__(self) -> None:
        super().__init__("debug:0", namespace(), (DebugArray,), family="debug", profile=DebugProfile())

    def wrap(self, x: Any) -> Any:
        return x if type(x) is DebugArray else self.xp.asarray(x)

    def to_host(self, x: Any) -> Any:
        return x.view(np.ndarray)

    def from_host(self, x: Any) -> Any:
        return self.xp.asarray(np.asarray(x))

    def copy(self, x: Any) -> Any:
        return x.copy()
