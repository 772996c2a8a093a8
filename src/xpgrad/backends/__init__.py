"""Built-in backends. Each subpackage registers one device family.

A backend may also give faster kernels for ops: :func:`register_kernel`
records them here, and ``xpgrad.ops`` installs them once the ops exist
(backends register before the ops are defined, so the table waits for them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["register_kernel", "install_kernels"]

_KERNELS: list[tuple[str, Any, Callable]] = []


def register_kernel(op_name: str, backend: Any, forward: Callable) -> None:
    """Run ``forward`` for op ``op_name`` on ``backend`` instead of the op's generic forward.

    ``forward`` has the signature of the op's forward rule, ``(xp, *arrays, **params)``.

    >>> register_kernel("scatter_add", cpu_backend, my_scatter_add)  # doctest: +SKIP
    """
    _KERNELS.append((op_name, backend, forward))
    from ..core.registry import ops

    op = ops().get(op_name)
    if op is not None:  # the ops are loaded already: a backend registered late
        op.kernels[backend] = forward


def install_kernels() -> None:
    """Attach every recorded kernel to its op (called by ``xpgrad.ops`` after defining them)."""
    from ..core.registry import get_op

    for name, backend, forward in _KERNELS:
        get_op(name).kernels[backend] = forward
