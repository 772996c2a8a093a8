"""The NumPy backend: the default ``cpu`` device.

Its namespace is ``array_api_compat.numpy``, NumPy seen through the Array API
(with a few hot functions made faster, see ``namespace.py``),
and it brings NumPy kernels for ops whose generic Array API forward is slow
(here and in ``kernels.py``; conv2d's four, chosen per call by their cost models,
in ``conv.py``). Its device profile (``profile.py``) says what NumPy runs on:
SIMD extensions, BLAS, FLOP/s and bandwidth, and what those cost models read.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as compat_numpy
import numpy as np

from ...core.device import Backend, register_backend
from ...core.tensor import unwrap
from .. import register_kernel
from . import conv
from . import namespace as xp_numpy
from .kernels import KERNELS
from .profile import NumpyProfile

__all__ = ["NumpyBackend", "register"]


class NumpyBackend(Backend):
    """``cpu``: NumPy arrays in host memory."""

    def wrap(self, x: Any) -> Any:
        return x if type(x) is np.ndarray else np.asarray(x)

    def to_host(self, x: Any) -> Any:
        return x

    def from_host(self, x: Any) -> Any:
        return np.asarray(x)

    def ones_like(self, x: Any) -> Any:
        return xp_numpy.ones_like(x)

    def copy(self, x: Any) -> Any:
        # NumPy's 0-d arithmetic returns scalars (np.float32): a gradient must be an array.
        return x.copy() if type(x) is np.ndarray else np.array(x)

    def adoptable(self, x: Any) -> bool:
        return type(x) is np.ndarray and x.base is None and x.flags.writeable

    def identity(self) -> str:
        """The CPU, its count, NumPy's version and the BLAS it links: what kernel timings depend on."""
        p = self.profile
        blas = p.blas
        return (f"cpu {p.cpu} x{p.cpus} | numpy {np.__version__} | "
                f"blas {blas.get('name', '?')} {blas.get('version', '')}".rstrip())


def scatter_add(xp: Any, z: Any, g: Any, /, *, key: Any) -> Any:
    """``scatter_add`` in O(m + n): ``np.add.at`` accumulates repeated indices."""
    out = np.array(z, copy=True)
    np.add.at(out, unwrap(key), g)
    return out


def einsum(xp: Any, *operands: Any, subscripts: str) -> Any:
    """``einsum`` by ``np.einsum`` (contraction order optimised for three or more operands)."""
    out = np.einsum(subscripts, *operands, optimize=len(operands) > 2)
    return np.array(out, copy=True) if np.may_share_memory(out, operands[0]) else out


def sum_(xp: Any, x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    """``sum`` through the ndarray method: half the call overhead of the namespace function."""
    return x.sum(axis=axis, dtype=dtype, keepdims=keepdims)


def register() -> NumpyBackend:
    b = register_backend(NumpyBackend("cpu", xp_numpy, (np.ndarray,), base_xp=compat_numpy,
                                      profile=NumpyProfile()), default=True)
    # First: a kernel without a cost model that supports a call claims it, in registration order.
    xp_numpy.register_half_kernels(b)      # float16/bfloat16 matmul, einsum, conv2d in float32 BLAS
    register_kernel("scatter_add", b, scatter_add)
    register_kernel("einsum", b, einsum)
    register_kernel("sum", b, sum_)
    for name, kernel in KERNELS.items():   # pooling, the softmax family (kernels.py)
        register_kernel(name, b, kernel)
    for k in conv.kernels():               # conv2d: four algorithms, the cheapest by cost model (conv.py)
        register_kernel("conv2d", b, k.pop("forward"), **k)
    return b
