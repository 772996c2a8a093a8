"""Helpers around parameters: gradient clipping, flattening into one vector, calling with new values.

``clip_grad_norm_`` and ``clip_grad_value_`` live in :mod:`xpgrad.optim` and are
re-exported here (where PyTorch users look for them), loaded on first use.

>>> import xpgrad as xg
>>> from xpgrad import nn
>>> lin = nn.Linear(3, 2)
>>> parameters_to_vector(lin.parameters()).shape
(8,)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.errors import ShapeError
from ..core.tape import no_grad
from ..core.tensor import Tensor
from .module import functional_call

__all__ = ["clip_grad_norm_", "clip_grad_value_",  # noqa: F822 (loaded on first use by __getattr__)
           "parameters_to_vector", "vector_to_parameters", "functional_call"]


def __getattr__(name: str) -> Any:
    if name in ("clip_grad_norm_", "clip_grad_value_"):
        from ..optim import clip

        return getattr(clip, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Every parameter flattened and concatenated into one 1-D tensor (differentiable)."""
    from .. import concat, reshape

    params = list(parameters)
    if not params:
        raise ShapeError("parameters_to_vector: no parameters given")
    return concat([reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Write consecutive slices of the 1-D ``vec`` into ``parameters`` in place (the inverse of above)."""
    from .. import reshape

    params = list(parameters)
    total = sum(p.size for p in params)
    if not isinstance(vec, Tensor) or vec.ndim != 1 or vec.shape[0] != total:
        got = vec.shape if isinstance(vec, Tensor) else type(vec).__name__
        raise ShapeError(f"vector_to_parameters: expected a 1-D tensor of {total} elements for "
                         f"{len(params)} parameters, got {got}")
    start = 0
    with no_grad():
        for p in params:
            n = p.size
            piece = reshape(vec[start:start + n], p.shape)
            if piece.device != p.device or piece.dtype != p.dtype:
                from .. import asarray

                piece = asarray(piece, device=p.device, dtype=p.dtype)
            p[...] = piece
            start += n
