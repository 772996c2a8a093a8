"""Built-in backends. Each subpackage registers one device family.

A backend family may also give faster kernels for ops: :func:`register_kernel`
records them by family (``"cpu"``, ``"opencl"``, ``"fpga"``...), and each kernel
is attached to an op for every backend of that family, whenever both the op and
the backend exist (backends can register before the ops are defined, and
lazily-loaded devices long after).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["register_kernel", "install_kernels", "kernels"]

_KERNELS: list[tuple[str, str, Callable]] = []
_INSTALLED = [False]


def register_kernel(op_name: str, family: Any, forward: Callable) -> None:
    """Run ``forward`` for op ``op_name`` on every backend of ``family`` instead of the generic forward.

    ``forward`` has the signature of the op's forward rule, ``(xp, *arrays, **params)``.
    ``family`` is a family name (``"opencl"``) or a Backend (its family is used).

    >>> register_kernel("scatter_add", "cpu", my_scatter_add)  # doctest: +SKIP
    """
    fam = family if isinstance(family, str) else family.family
    _KERNELS.append((op_name, fam, forward))
    if _INSTALLED[0]:
        _attach(op_name, fam, forward)


def kernels() -> list[tuple[str, str, Callable]]:
    """Every registered kernel as ``(op name, family, forward)``."""
    return list(_KERNELS)


def _attach(op_name: str, family: str, forward: Callable, backend: Any = None) -> None:
    from ..core.device import _BY_DEVICE
    from ..core.registry import ops

    op = ops().get(op_name)
    if op is None:
        return
    for b in ([backend] if backend is not None else list(_BY_DEVICE.values())):
        if b.family == family:
            op.kernels[b] = forward


def install_kernels() -> None:
    """Attach every recorded kernel to its op (called by ``xpgrad.ops`` once the ops exist)."""
    from ..core.device import on_register

    _INSTALLED[0] = True
    for name, fam, fwd in _KERNELS:
        _attach(name, fam, fwd)
    on_register(lambda b: [_attach(n, f, fwd, b) for n, f, fwd in _KERNELS if f == b.family])
