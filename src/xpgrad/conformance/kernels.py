"""The kernels of a device family, which of them runs, and the sanity of profiles and cost functions.

Kernels reach xpgrad as :class:`~xpgrad.core.dispatch.Kernel` objects, from
the ``xpgrad_kernels`` hook or from ``register_kernel`` (the built-in backends'),
and the cost-model dispatcher (:mod:`xpgrad.core.dispatch`) chooses among those
of one op per call. :func:`family_kernels` lists them for a family with the
plugin that registered each; :func:`running_kernel` asks the dispatcher which
one runs a call, so the kernel check runs each kernel through the op on the
shapes where the dispatcher picks it, and calls it directly on the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
from typing import Any

from ..core.dispatch import Signature as _CoreSignature
from ..core.dispatch import _declined, get_level

__all__ = ["KernelInfo", "Signature", "family_kernels", "running_kernel", "declines",
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
    transfers: bool = False   # computes on the host by design (Kernel.transfers)


def Signature(shapes: list, dtypes: list, params: dict | None = None, op: str = "", device: str = "") -> Any:
    """What ``supports`` and ``cost`` are asked about: the dispatcher's own :class:`Signature` type."""
    return _CoreSignature.of(op, shapes, list(dtypes), params or {}, device or "cpu")


def family_kernels(family: str, op: str | None = None) -> list[KernelInfo]:
    """Every kernel registered for ``family`` (optionally for one op), in registration order."""
    from ..core.dispatch import registered

    return [KernelInfo(k.op, k.family, k.forward, k.name, k.plugin or "xpgrad", k.supports, k.cost,
                       k.transfers)
            for k in registered() if k.family == family and (op is None or k.op == op)]


def declines(k: KernelInfo, signature: Any) -> str | None:
    """``None`` when ``k`` supports ``signature``, else its reason (what the dispatcher reads)."""
    return None if k.supports is None else _declined(k.supports(signature))


def running_kernel(op: Any, backend: Any, signature: Any, args: Any = None) -> Callable[..., Any]:
    """The forward that runs ``op`` on ``backend`` for a call with ``signature`` (and raw ``args``)."""
    from ..core.dispatch import Dispatcher

    fwd = op.kernels.get(backend, op.forward) if op.kernels else op.forward
    if isinstance(fwd, Dispatcher):
        if args is not None:
            return fwd.select(tuple(args), dict(signature.params))
        level = "estimate" if get_level() == "measure" else None
        return fwd.plan(signature, level=level)[0][0].forward
    return fwd


def cost_model_choice(kernels: list[KernelInfo], signature: Any, profile: Any) -> KernelInfo | None:
    """The kernel a cost-model dispatcher would pick: the cheapest that supports ``signature``.

    ``None`` when no kernel has a cost function.
    """
    best, best_cost = None, math.inf
    for k in kernels:
        if k.cost is None:
            continue
        try:
            if declines(k, signature) is not None:
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


def cost_problems(k: KernelInfo, signatures: list[tuple[str, Any]], profile: Any
                  ) -> tuple[list[str], list[tuple[str, float]]]:
    """Why ``k.cost`` is not sane along ``signatures`` (valid calls of the op, ordered by size).

    Sane: a positive finite number of seconds for every signature the kernel supports,
    never smaller for a larger problem.
    """
    problems: list[str] = []
    costs: list[tuple[str, float]] = []
    for label, sig in signatures:
        try:
            if declines(k, sig) is not None:
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


def signature_of(raw_args: list[Any], params: dict[str, Any], op: str = "", device: str = "") -> Any:
    """The signature of a call with raw (backend) array arguments, as the dispatcher builds it."""
    return _CoreSignature.from_call(op, device, tuple(raw_args), dict(params))
