"""The kernels of a device family, which of them runs, and the sanity of profiles and cost functions.

Kernels reach xpgrad two ways: ``Kernel`` objects from the ``xpgrad_kernels``
hook (with a name, ``supports`` and ``cost``; the plugin host records them) and
plain ``register_kernel(op, family, forward)`` calls (the NumPy backend's). The
suite checks both: :func:`family_kernels` lists every distinct forward
registered for a family, with what the plugin host knows about it.

Which kernel runs is :func:`running_kernel`'s answer. Today xpgrad's ``apply``
runs ``op.kernels[backend]`` (the last kernel registered for the family) and
that is what it returns. The cost-model dispatcher will choose per call; when it
exists, :func:`set_dispatcher` plugs it in (``dispatcher(op, backend,
signature) -> forward``) and the kernel check follows its choices: each kernel
is run through the op on the shapes where the dispatcher picks it, and called
directly on the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import math
from typing import Any

import numpy as np

__all__ = ["KernelInfo", "Signature", "family_kernels", "running_kernel", "set_dispatcher",
           "cost_model_choice", "profile_problems", "cost_problems", "PROFILE_FIELDS"]


@dataclass
class KernelInfo:
    """One kernel of a family: its forward and what the plugin that registered it declared."""

    op: str
    family: str
    forward: Callable[..., Any]
    name: str
    plugin: str
    supports: Callable[..., bool] | None = None
    cost: Callable[..., float] | None = None


@dataclass
class Signature:
    """What a kernel's ``supports`` and ``cost`` are asked about: shapes, dtypes and params of one call.

    Read as attributes (``signature.shapes``); ``signature["shapes"]`` works too.
    """

    shapes: list[tuple[int, ...]]
    dtypes: list[Any]
    params: dict[str, Any] = field(default_factory=dict)
    op: str = ""
    device: str = ""

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


def _fn_name(fn: Any) -> str:
    mod = getattr(fn, "__module__", "") or ""
    return f"{mod}.{getattr(fn, '__qualname__', repr(fn))}".lstrip(".")


def family_kernels(family: str, op: str | None = None) -> list[KernelInfo]:
    """Every distinct kernel registered for ``family`` (optionally for one op), in registration order."""
    from ..backends import kernels as registered
    from ..plugins import report

    declared: dict[tuple[str, int], tuple[Any, str]] = {}
    for k, plugin in report().kernels:
        if k.family == family:
            declared[(k.op, id(k.forward))] = (k, plugin)
    out: dict[tuple[str, int], KernelInfo] = {}
    for name, fam, fwd in registered():
        if fam != family or (op is not None and name != op) or (name, id(fwd)) in out:
            continue
        k, plugin = declared.get((name, id(fwd)), (None, None))
        if k is not None:
            info = KernelInfo(name, fam, fwd, k.name, plugin, k.supports, k.cost)
        else:
            info = KernelInfo(name, fam, fwd, _fn_name(fwd).rsplit(".", 1)[-1],
                              f"register_kernel from {getattr(fwd, '__module__', '?')}")
        out[(name, id(fwd))] = info
    # Kernel objects the host accepted but register_kernel no longer lists (should not happen; be safe)
    for (name, fid), (k, plugin) in declared.items():
        if (name, fid) not in out and (op is None or name == op):
            out[(name, fid)] = KernelInfo(name, family, k.forward, k.name, plugin, k.supports, k.cost)
    return list(out.values())


_DISPATCHER: list[Callable[..., Any]] = []


def set_dispatcher(dispatcher: Callable[..., Any] | None) -> None:
    """Let ``dispatcher(op, backend, signature) -> forward`` say which kernel runs (``None``: as today)."""
    _DISPATCHER[:] = [dispatcher] if dispatcher is not None else []


def running_kernel(op: Any, backend: Any, signature: Signature | None = None) -> Callable[..., Any]:
    """The forward that runs ``op`` on ``backend`` for a call with ``signature``."""
    if _DISPATCHER:
        return _DISPATCHER[0](op, backend, signature)
    return op.kernels.get(backend, op.forward) if op.kernels else op.forward


def cost_model_choice(kernels: list[KernelInfo], signature: Signature, profile: Any) -> KernelInfo | None:
    """The kernel a cost-model dispatcher would pick: the cheapest that supports ``signature``.

    ``None`` when no kernel has a cost function.
    """
    best, best_cost = None, math.inf
    for k in kernels:
        if k.cost is None:
            continue
        try:
            if k.supports is not None and not k.supports(signature):
                continue
            c = float(k.cost(signature, profile))
        except Exception:
            continue
        if c < best_cost:
            best, best_cost = k, c
    return best


# ---------------------------------------------------------------- profiles

#: What the cost model reads from a device profile, and what a sane value is.
PROFILE_FIELDS: dict[str, str] = {
    "peak_flops": "FLOP/s in float32: positive and finite",
    "memory_bandwidth": "bytes/s of device memory: positive and finite",
    "launch_latency": "seconds per kernel launch: zero or more, finite",
    "host_bandwidth": "bytes/s between host and device: positive (inf for host memory)",
}


def _number(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def profile_problems(profile: Any, *, has_float64: bool) -> tuple[list[str], dict[str, Any]]:
    """Why ``profile`` is not sane (empty: it is), and the values read."""
    if profile is None:
        return ["the backend has no device profile (Backend.profile is None): the cost model cannot "
                "place ops on it"], {}
    problems: list[str] = []
    seen: dict[str, Any] = {}
    for name, what in PROFILE_FIELDS.items():
        try:
            raw = getattr(profile, name)
        except AttributeError:
            problems.append(f"profile.{name} is missing ({what})")
            continue
        except Exception as exc:
            problems.append(f"reading profile.{name} raised {type(exc).__name__}: {exc}")
            continue
        v = _number(raw)
        seen[name] = v if v is not None else repr(raw)
        if v is None:
            problems.append(f"profile.{name} = {raw!r} is not a number ({what})")
        elif math.isnan(v):
            problems.append(f"profile.{name} is NaN ({what})")
        elif name == "launch_latency":
            if not (0 <= v < math.inf):
                problems.append(f"profile.{name} = {v!r} ({what})")
        elif name == "host_bandwidth":
            if not v > 0:
                problems.append(f"profile.{name} = {v!r} ({what})")
        elif not (0 < v < math.inf):
            problems.append(f"profile.{name} = {v!r} ({what})")
    if hasattr(profile, "peak_flops_f64"):
        v = _number(profile.peak_flops_f64)
        seen["peak_flops_f64"] = v
        if v is None or math.isnan(v) or not (0 <= v < math.inf):
            problems.append(f"profile.peak_flops_f64 = {v!r} (FLOP/s in float64: zero or more, finite)")
        elif has_float64 and v == 0:
            problems.append("profile.peak_flops_f64 is 0 but the device computes in float64")
    describe = getattr(profile, "describe", None)
    if callable(describe):
        try:
            text = describe()
        except Exception as exc:
            problems.append(f"profile.describe() raised {type(exc).__name__}: {exc}")
        else:
            if not isinstance(text, str) or not text.strip():
                problems.append(f"profile.describe() returned {text!r}, not a line of text")
            else:
                seen["describe"] = text
    return problems, seen


# ---------------------------------------------------------------- cost functions


def cost_problems(k: KernelInfo, signatures: list[tuple[str, Signature]], profile: Any
                  ) -> tuple[list[str], list[tuple[str, float]]]:
    """Why ``k.cost`` is not sane along ``signatures`` (valid calls of the op, ordered by size).

    Sane: a positive finite number of seconds for every signature the kernel supports,
    never smaller for a larger problem.
    """
    problems: list[str] = []
    costs: list[tuple[str, float]] = []
    for label, sig in signatures:
        try:
            if k.supports is not None and not k.supports(sig):
                continue
        except Exception as exc:
            problems.append(f"supports({label}) raised {type(exc).__name__}: {exc}")
            continue
        try:
            raw = k.cost(sig, profile)
        except Exception as exc:
            problems.append(f"cost({label}) raised {type(exc).__name__}: {exc}")
            continue
        c = _number(raw)
        if c is None or isinstance(raw, bool):
            problems.append(f"cost({label}) returned {raw!r}, not a number of seconds")
            continue
        if not (0 < c < math.inf):
            problems.append(f"cost({label}) = {c!r}: must be positive and finite")
        if costs and c < costs[-1][1] * (1 - 1e-12):
            problems.append(f"cost decreases with size: cost({label}) = {c:.4g} s < "
                            f"cost({costs[-1][0]}) = {costs[-1][1]:.4g} s")
        costs.append((label, c))
    return problems, costs


def signature_of(raw_args: list[Any], params: dict[str, Any], op: str = "", device: str = "") -> Signature:
    """The signature of a call with raw (backend) array arguments; scalars are left out."""
    shapes, dtypes = [], []
    for a in raw_args:
        if hasattr(a, "shape") and hasattr(a, "dtype"):
            shapes.append(tuple(a.shape))
            dtypes.append(_np_dtype(a.dtype))
    return Signature(shapes, dtypes, dict(params), op, device)


def _np_dtype(d: Any) -> Any:
    try:
        return np.dtype(d)
    except TypeError:
        return d
