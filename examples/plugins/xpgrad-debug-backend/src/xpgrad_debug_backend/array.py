"""``DebugArray``: an ndarray subclass whose every arithmetic result is checked."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DebugArray", "NaNError", "checked", "plain"]


class NaNError(FloatingPointError):
    """A result on ``debug:0`` holds a NaN."""


def plain(x: Any) -> Any:
    """``x`` as a plain ndarray (sequences element by element): numpy runs unchecked inside a function."""
    if isinstance(x, DebugArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)) and any(isinstance(v, DebugArray) for v in x):
        return type(x)(plain(v) for v in x)
    return x


def checked(name: str, result: Any) -> Any:
    """``result`` as DebugArrays, after checking it is float64-only and NaN-free."""
    if isinstance(result, tuple):
        items = [checked(name, r) for r in result]
        return type(result)(*items) if hasattr(result, "_fields") else tuple(items)
    if not isinstance(result, (np.ndarray, np.generic)):
        return result
    arr = np.asarray(result)
    if arr.dtype.kind in "fc" and arr.dtype != np.float64:
        raise TypeError(f"debug:0 computes in float64 only: {name}() gave a {arr.dtype} result")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(arr))[0])
        raise NaNError(f"debug:0: {name}() produced NaN at index {where} of a {arr.shape} result")
    return arr.view(DebugArray)


class DebugArray(np.ndarray):
    """A float64 ndarray on ``debug:0``: operators and ufuncs check their results for NaN."""

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(plain(o) for o in out)
        with np.errstate(all="ignore"):  # NaNError, not a RuntimeWarning, tells what happened
            result = getattr(ufunc, method)(*(plain(x) for x in inputs), **kwargs)
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        checked(name, result)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return checked(name, result)

    def __array_namespace__(self, *, api_version: str | None = None) -> Any:
        from .namespace import namespace

        return namespace()
