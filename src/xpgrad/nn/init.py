"""Weight initialisation: fill a tensor in place with values of a chosen scale.

Every function writes into the tensor it is given (under ``no_grad``, so it
works on parameters) and returns it. Values come from :mod:`xpgrad.random`
(``generator=`` picks a stream; by default the one ``xpgrad.manual_seed``
seeds), so construction is reproducible bit for bit and does not depend on the
device.

The schemes keep the variance of activations (or gradients) roughly constant
from layer to layer:

* Xavier/Glorot: ``Var(w) = gain² · 2 / (fan_in + fan_out)``;
* Kaiming/He: ``Var(w) = gain² / fan``, ``fan`` being ``fan_in`` or ``fan_out``;
* orthogonal: rows (or columns) orthonormal, times ``gain``.

>>> import xpgrad as xg
>>> from xpgrad.nn import init
>>> w = init.kaiming_uniform_(xg.empty((4, 9)), a=5 ** 0.5)
>>> bool(xg.all(xg.abs(w) <= 1 / 3))
True
"""

from __future__ import annotations

import math
from typing import Any

from ..core.errors import OpError, ShapeError
from ..core.tape import no_grad
from ..core.tensor import Tensor
from ..random import Generator, default_generator

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "glorot_uniform_", "glorot_normal_", "he_uniform_", "he_normal_"]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which ``nonlinearity`` should scale the standard deviation of the weights.

    ``param`` is the negative slope of ``leaky_relu`` (default 0.01).

    >>> round(calculate_gain("relu"), 6), calculate_gain("tanh")
    (1.414214, 1.6666666666666667)
    """
    linear = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise OpError(f"calculate_gain: the negative slope must be a number, got {param!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise OpError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; expected one of "
                  f"{', '.join(linear)}, tanh, relu, leaky_relu, selu")


def _fans(tensor: Tensor, op: str) -> tuple[int, int]:
    """``(fan_in, fan_out)``: inputs and outputs per unit; a conv kernel counts its window."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ShapeError(f"{op}: fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {shape}; use uniform_ or normal_ for vectors")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Tensor, mode: str, op: str) -> int:
    fan_in, fan_out = _fans(tensor, op)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise OpError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")


def _gen(generator: Generator | None) -> Generator:
    return default_generator() if generator is None else generator


def _write(tensor: Tensor, values: Tensor) -> Tensor:
    with no_grad():
        tensor[...] = values
    return tensor


def _check(tensor: Any, op: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op} fills an xpgrad Tensor in place, got {type(tensor).__name__}")
    if not tensor._b.is_floating(tensor.dtype):
        raise OpError(f"{op}: cannot fill a tensor of dtype {tensor.dtype} with random values; "
                      "initialise floating-point tensors")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill ``tensor`` with draws from U(a, b)."""
    _check(tensor, "uniform_")
    return _write(tensor, _gen(generator).uniform(tensor.shape, low=a, high=b, dtype=tensor.dtype,
                                                  device=tensor.device))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Generator | None = None) -> Tensor:
    """Fill ``tensor`` with draws from N(mean, std²)."""
    _check(tensor, "normal_")
    return _write(tensor, _gen(generator).normal(tensor.shape, mean=mean, std=std, dtype=tensor.dtype,
                                                 device=tensor.device))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val``."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"constant_ fills an xpgrad Tensor in place, got {type(tensor).__name__}")
    with no_grad():
        tensor[...] = val
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with zeros."""
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with ones."""
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): U(−b, b) with ``b = gain · √(6 / (fan_in + fan_out))``."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator=generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): N(0, σ²) with ``σ = gain · √(2 / (fan_in + fan_out))``."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    """He et al. (2015): U(−b, b) with ``b = gain · √(3 / fan)``; ``a`` is the leaky_relu slope.

    ``a=√5`` with the default ``leaky_relu`` gives ``b = 1/√fan_in``, PyTorch's
    default for Linear and Conv weights.
    """
    _check(tensor, "kaiming_uniform_")
    fan = _fan(tensor, mode, "kaiming_uniform_")
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, generator=generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    """He et al. (2015): N(0, σ²) with ``σ = gain / √fan``."""
    _check(tensor, "kaiming_normal_")
    fan = _fan(tensor, mode, "kaiming_normal_")
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator=generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Saxe et al. (2014): a (semi-)orthogonal matrix, times ``gain``, reshaped to ``tensor``.

    The first dimension is the rows, the others are flattened into columns.
    Computed on the host with NumPy's QR of a Gaussian matrix (initialisation
    only; ``xpgrad`` has no QR op), with the signs fixed so that the result is
    uniformly distributed over orthogonal matrices.
    """
    import numpy as np

    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ShapeError(f"orthogonal_: needs a tensor with at least 2 dimensions, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = math.prod(tensor.shape[1:])
    g = _gen(generator).normal((rows, cols), dtype="float64").numpy()
    if rows < cols:
        g = g.T
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))  # R's diagonal made positive: Haar-distributed Q
    if rows < cols:
        q = q.T
    values = Tensor(np.ascontiguousarray(gain * q).reshape(tensor.shape), dtype=tensor.dtype,
                    device=tensor.device)
    return _write(tensor, values)


# The other names the literature uses.
glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_
