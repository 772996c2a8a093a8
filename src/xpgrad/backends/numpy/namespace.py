"""The NumPy backend's Array API namespace.

It is ``array_api_compat.numpy`` — NumPy seen through the standard — with a
few hot functions replaced by faster equivalents of the same semantics. On
tiny arrays NumPy's own ``broadcast_to`` and ``ones_like`` spend microseconds
in Python-level argument handling, which dominates a backward pass over small
tensors; the versions here allocate and fill instead (for small results only:
large broadcasts stay views, which cost no memory).
"""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as _compat
import numpy as np
from array_api_compat.numpy import *  # noqa: F401,F403

_SMALL = 4096  # elements; below this, materialising beats np.broadcast_to's overhead


def broadcast_to(x: Any, /, shape: Any) -> Any:
    shape = tuple(shape)
    if type(x) is not np.ndarray:
        return _compat.broadcast_to(x, shape)
    if x.shape == shape:
        return x
    n = 1
    for s in shape:
        n *= s
    if n > _SMALL:
        return np.broadcast_to(x, shape)
    out = np.empty(shape, dtype=x.dtype)
    out[...] = x  # raises like np.broadcast_to when the shapes do not broadcast
    out.flags.writeable = False  # read-only like the view np.broadcast_to returns, whatever the size
    return out


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    if type(x) is not np.ndarray:
        return _compat.ones_like(x, dtype=dtype, device=device)
    out = np.empty(x.shape, dtype=x.dtype if dtype is None else dtype)
    out.fill(1)
    return out


def __getattr__(name: str) -> Any:  # everything else: array_api_compat.numpy's
    return getattr(_compat, name)
