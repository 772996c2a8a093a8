"""``scatter_add`` on CUDA with ``cupyx.scatter_add``: one pass of atomicAdd, fast and not deterministic.

The op's generic forward (``ops/indexing.py``) sums repeated positions by
sorting them: about 6·log2(m) small kernels for m contributions, and the same
bits every run. ``cupyx.scatter_add`` adds every contribution to its
destination with ``atomicAdd`` in one launch; where indices repeat, the order in
which threads land (and so the float rounding) varies from run to run. The kernel
is registered with ``deterministic=False`` and a cost model: the dispatcher runs it
wherever it supports the call (as PyTorch runs its atomic ``index_add`` by
default), the generic forward taking the rest, and ``xpgrad.use_deterministic(True)``
leaves every call to the generic forward.

Importing this module imports no CuPy: the forward does, when it first runs.
Support and cost are pure Python (tested without a GPU).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["scatter_add_atomic", "supports", "atomic_cost", "sizes", "DTYPES"]

# dtypes cupyx.scatter_add adds with atomicAdd (float16: compute capability 7.0 or later)
DTYPES = ("float16", "float32", "float64")
_ATOMIC_TIME = 2e-9     # seconds per atomicAdd on one address when contributions to it serialise (L2)


def _is_int(k: Any) -> bool:
    return isinstance(k, numbers.Integral) and not isinstance(k, bool)


def _basic(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, slice) or _is_int(k) for k in keys)


def _masks(key: Any) -> int:
    keys = key if isinstance(key, tuple) else (key,)
    return sum(1 for k in keys if isinstance(k, bool) or "bool" in str(getattr(k, "dtype", ""))
               or (isinstance(k, list) and bool(k) and isinstance(k[0], bool)))


def sizes(signature: Any) -> tuple[int, int, int]:
    """``(destinations, contributions, itemsize)`` of a scatter_add signature ``(z, g, key=...)``."""
    zshape = signature.shapes[0] if signature.shapes else ()
    gshape = signature.shapes[1] if len(signature.shapes) > 1 else ()
    nout = math.prod(zshape)
    n = math.prod(gshape)
    if n <= 1:   # a broadcast addend: the selection is at least as large as the largest index array
        key = signature.params.get("key")
        for k in (key if isinstance(key, tuple) else (key,)):
            shape = getattr(k, "shape", None)
            n = max(n, math.prod(shape) if shape is not None else len(k) if isinstance(k, list) else 1)
    isz = {"float16": 2, "float32": 4, "float64": 8}.get(signature.dtypes[0] if signature.dtypes else "", 4)
    return nout, n, isz


def supports(signature: Any) -> bool | str:
    """Float destinations (float16/32/64) with an addend of the same dtype, and a key with index arrays
    (a basic key selects each element once: no atomics to race) and at most one boolean mask."""
    key = signature.params.get("key")
    if _basic(key):
        return "a basic key selects each element once: the generic forward adds in place"
    if _masks(key) > 1:
        return "cupyx.scatter_add takes at most one boolean mask in a key"
    dts = list(signature.dtypes)
    if not dts or dts[0] not in DTYPES:
        return f"atomicAdd here adds {', '.join(DTYPES)}, not {dts[0] if dts else '?'}"
    if len(dts) > 1 and dts[1] != dts[0]:
        return f"the addend ({dts[1]}) is not of the destination's dtype ({dts[0]}): the generic forward"
    if dts[0] == "float16" and _capability(signature.device) < (7, 0):
        return "float16 atomicAdd needs compute capability 7.0"
    return True


def _capability(device: str) -> tuple[int, int]:
    """The device's compute capability from its profile; (99, 0) when unknown (CuPy then decides)."""
    from ...core.device import get_backend

    try:
        return tuple(get_backend(device).profile.compute_capability)
    except Exception:  # noqa: BLE001 - no such device here, or a profile without it
        return (99, 0)


def atomic_cost(signature: Any, profile: Any) -> float:
    """Seconds: three launches (copy, index preparation, the atomic kernel), the copy of ``z`` and the
    reads of indices and addend with a read-modify-write each, or the contributions to one destination
    one after another (``n / destinations`` atomics), whichever is slower."""
    from ...core.dispatch import launch_time, memory_time

    nout, n, isz = sizes(signature)
    traffic = memory_time(profile, 2 * nout * isz + n * (8 + 3 * isz))
    contended = (n / max(nout, 1)) * _ATOMIC_TIME
    return launch_time(profile, 3) + max(traffic, contended)


def _device_key(cupy: Any, key: Any) -> Any:
    """The key with host index arrays and lists moved to the current device (scalars, slices as given)."""
    def one(k: Any) -> Any:
        if k is None or k is Ellipsis or isinstance(k, slice) or _is_int(k):
            return k
        if isinstance(k, cupy.ndarray):
            return k
        return cupy.asarray(k)
    return tuple(one(k) for k in key) if isinstance(key, tuple) else one(key)


def scatter_add_atomic(xp: Any, z: Any, g: Any, /, *, key: Any) -> Any:
    """``z`` with ``g`` added at ``z[key]`` (a new array), by ``cupyx.scatter_add``: repeated indices
    accumulate with atomicAdd, in an order that varies from run to run."""
    import cupy
    import cupyx

    from ...core.tensor import unwrap

    with z.device:
        out = z.copy()
        k = _device_key(cupy, unwrap(key))
        cupyx.scatter_add(out, k, g)
    return out
