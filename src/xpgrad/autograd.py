"""PyTorch's ``torch.autograd`` spellings over the same engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .core.tape import backward as _backward
from .core.tape import enable_grad, no_grad, set_grad_enabled  # noqa: F401
from .core.tensor import Tensor
from .testing import gradcheck, gradgradcheck  # noqa: F401  (torch.autograd.gradcheck's place)

__all__ = ["grad", "backward", "gradcheck", "gradgradcheck", "detect_anomaly",  # noqa: F822 (lazy)
           "set_detect_anomaly"]  # noqa: F822


def __getattr__(name: str) -> Any:
    if name in ("detect_anomaly", "set_detect_anomaly"):
        from . import anomaly

        return getattr(anomaly, name)
    raise AttributeError(f"module 'xpgrad.autograd' has no attribute {name!r}")


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` is not touched).

    >>> import xpgrad as xg
    >>> x = xg.asarray(3.0, requires_grad=True)
    >>> (g,) = xg.autograd.grad(x * x, x)
    >>> float(g)
    6.0
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        gos = [None] * len(outs)
    elif isinstance(grad_outputs, Tensor):
        gos = [grad_outputs]
    else:
        gos = list(grad_outputs)
    return tuple(_backward(outs, gos, inputs=ins, retain_graph=retain_graph,
                           create_graph=create_graph, allow_unused=allow_unused))


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None,
             retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate gradients of several outputs at once into the leaves' ``.grad``."""
    outs = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    gos = [None] * len(outs) if grad_tensors is None else (
        [grad_tensors] if isinstance(grad_tensors, Tensor) else list(grad_tensors))
    _backward(outs, gos, retain_graph=retain_graph, create_graph=create_graph)
