"""Built-in backends. Each subpackage registers one device family.

A backend family may also give kernels for ops: :func:`register_kernel`
records them by family (``"cpu"``, ``"opencl"``, ``"fpga"``...), and each kernel
is attached to an op for every backend of that family, whenever both the op and
the backend exist (backends can register before the ops are defined, and
lazily-loaded devices long after). Several kernels for one op and family are
candidates of the cost-model dispatcher (:mod:`xpgrad.core.dispatch`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core import dispatch as _dispatch
from ..core.dispatch import Kernel

__all__ = ["register_kernel", "install_kernels", "kernels", "Kernel"]


def register_kernel(op_name: str, family: Any, forward: Callable, *, name: str = "default",
                    supports: Callable | None = None, cost: Callable | None = None, version: str = "1",
                    default: bool = False, deterministic: bool = True, plugin: str = "xpgrad") -> Kernel:
    """Run ``forward`` for op ``op_name`` on every backend of ``family`` (or let the dispatcher choose).

    ``forward`` has the signature of the op's forward rule, ``(xp, *arrays, **params)``.
    ``family`` is a family name (``"opencl"``) or a Backend (its family is used).
    With ``supports``/``cost`` (see :class:`~xpgrad.core.dispatch.Kernel`) the kernel
    competes with the other kernels of the op on that family. ``deterministic=False`` declares
    a kernel whose bits can differ run to run (atomics): ``xpgrad.use_deterministic`` sets it aside.

    >>> register_kernel("scatter_add", "cpu", my_scatter_add)  # doctest: +SKIP
    """
    fam = family if isinstance(family, str) else family.family
    return _dispatch.register(Kernel(op_name, fam, forward, name=name, supports=supports, cost=cost,
                                     version=version, default=default, deterministic=deterministic),
                             plugin=plugin)


def kernels() -> list[tuple[str, str, Callable]]:
    """Every registered kernel as ``(op name, family, forward)``."""
    return [(k.op, k.family, k.forward) for k in _dispatch.registered()]


def install_kernels() -> None:
    """Attach every recorded kernel to its op (called by ``xpgrad.ops`` once the ops exist)."""
    _dispatch.install()
