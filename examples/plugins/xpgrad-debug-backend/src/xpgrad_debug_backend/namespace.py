"""The Array API namespace of ``debug:0``: ``array_api_compat.numpy`` with every result checked.

Its only floating dtype is float64: asking for float32 on ``debug:0`` is an error.
"""

from __future__ import annotations

from functools import wraps
from types import ModuleType
from typing import Any

import array_api_compat.numpy as compat_numpy
import numpy as np

from .array import checked, plain

__all__ = ["namespace"]

_NOT_HERE = {"float16", "float32", "complex64", "complex128"}
_NS: list[ModuleType] = []


def _checking(name: str, fn: Any) -> Any:
    @wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            result = fn(*(plain(a) for a in args), **{k: plain(v) for k, v in kwargs.items()})
        return checked(name, result)
    return call


def _wrap_module(name: str, mod: Any) -> ModuleType:
    ns = ModuleType(name, f"{getattr(mod, '__name__', name)}, float64 only, every result checked for NaN")
    for attr in dir(mod):
        if attr.startswith("_") or attr in _NOT_HERE:
            continue
        value = getattr(mod, attr)
        if isinstance(value, ModuleType):
            if attr in ("linalg", "fft"):
                setattr(ns, attr, _wrap_module(f"{name}.{attr}", value))
        elif callable(value) and not isinstance(value, (type, np.dtype)):
            setattr(ns, attr, _checking(attr, value))
        else:
            setattr(ns, attr, value)  # dtypes, constants
    return ns


def namespace() -> ModuleType:
    """The namespace (built once)."""
    if not _NS:
        _NS.append(_wrap_module("xpgrad_debug_backend.xp", compat_numpy))
    return _NS[0]
