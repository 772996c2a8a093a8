"""The CuPy backend as a plugin: the ``cuda`` device family and its fused kernels.

Importing this module does not import CuPy: the family's ``load()`` does, on
first use of a ``cuda:N`` device (or ``xpgrad.devices()``). Without CuPy,
``load()`` raises ImportError and xpgrad says ``pip install xpgrad[cuda]``;
with CuPy but no usable device, it returns no device and says why.
"""

from __future__ import annotations

from ...core.device import Backend
from ...plugins.hookspecs import BackendFamily, Kernel, hookimpl
from . import fused, scatter


def _load(family: BackendFamily) -> list[Backend]:
    import cupy  # ImportError: CuPy is not installed

    from .backend import CupyBackend, device_profile

    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no device, driver too old for this CuPy
        family.unusable.append(("cuda", f"no CUDA device: {type(exc).__name__}: {exc}"))
        return []
    if count == 0:
        family.unusable.append(("cuda", "no CUDA device: the CUDA runtime reports 0 devices"))
        return []
    out: list[Backend] = []
    for i in range(count):
        try:
            out.append(CupyBackend(i, profile=device_profile(i)))
        except Exception as exc:
            family.unusable.append((f"cuda:{i}", f"{type(exc).__name__}: {exc}"))
    return out


@hookimpl
def xpgrad_backend_families() -> list[BackendFamily]:
    """``cuda``: NVIDIA GPUs through CuPy."""
    family = BackendFamily("cuda", lambda: _load(family), description="NVIDIA GPUs through CuPy "
                           "(array_api_compat.cupy), fused softmax/log_softmax/logsumexp kernels",
                           install_hint="pip install xpgrad[cuda]")
    return [family]


@hookimpl
def xpgrad_kernels() -> list[Kernel]:
    """One-launch ``softmax``, ``log_softmax`` and ``logsumexp`` along the last axis; ``scatter_add``
    (getitem's VJP) with ``cupyx.scatter_add``'s atomics, fast and not deterministic."""
    return [*(Kernel(op, "cuda", getattr(fused, op), name="cuda-fused")
              for op in ("softmax", "log_softmax", "logsumexp")),
            Kernel("scatter_add", "cuda", scatter.scatter_add_atomic, name="atomic",
                   supports=scatter.supports, cost=scatter.atomic_cost, deterministic=False)]
