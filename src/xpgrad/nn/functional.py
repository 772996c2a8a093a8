"""The layers as functions, with the names and signatures of PyTorch's ``torch.nn.functional``.

Each function checks its inputs (a wrong shape or dtype names the function, what
it got and what it expected) and then composes registered ops, each with its own
VJP and JVP rules: everything here runs on every device and differentiates to any
order. Convolutions and pooling are ops of their own (``xpgrad.ops.nn``); the
norms, dropout, embedding and attention are compositions of elementwise ops and
reductions. The activations and losses are re-exported from their op files.

>>> import xpgrad as xg
>>> import xpgrad.nn.functional as F
>>> F.linear(xg.ones((2, 3)), xg.ones((4, 3)), xg.zeros((4,))).shape
(2, 4)
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Sequence
from typing import Any

import xpgrad as xg

from ..core.errors import DTypeError, IndexOutOfBoundsError, OpError, ShapeError, describe
from ..core.tensor import Tensor
from ..ops import activations as _A
from ..ops import losses as _Lo
from ..ops import nn as _N
from ..ops.activations import *  # noqa: F401,F403
from ..ops.linalg import affine as _affine   # x Wᵀ + b in one op
from ..ops.linalg import linear as _linear   # x Wᵀ, its weight gradient in the weight's own layout
from ..ops.losses import *  # noqa: F401,F403
from ..random import Generator
from ..random import bernoulli as _bernoulli

__all__ = [
    "linear", "conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "batch_norm", "layer_norm", "group_norm", "dropout", "embedding", "one_hot", "flatten", "softmax",
    "log_softmax", "scaled_dot_product_attention", "multi_head_attention",
    *_A.__all__, *_Lo.__all__,
]


# ---------------------------------------------------------------- checks


def _tensor(fn: str, name: str, x: Any) -> Tensor:
    """``x`` as a Tensor (arrays and nested lists are converted); anything else is refused."""
    return x if isinstance(x, Tensor) else _Lo._as_tensor(fn, name, x, None)


def _floating(fn: str, name: str, x: Tensor) -> None:
    if not xg.isdtype(x.dtype, "real floating"):
        raise DTypeError(f"{fn}: {name} {describe(x)} must be floating point; convert it with "
                         f"xg.astype({name}, xg.float32)")


def _autocasting(a: Tensor, b: Tensor) -> bool:
    """Under ``xpgrad.autocast`` a half-precision activation meets float32 weights by design."""
    amp = sys.modules.get("xpgrad.amp")   # loaded by whoever entered autocast; never imported here
    return (amp is not None and amp.is_autocast_enabled()
            and a._b.is_floating(a.dtype) and b._b.is_floating(b.dtype))


def _same_dtype(fn: str, a: Tensor, b: Tensor, an: str, bn: str) -> None:
    if a.dtype != b.dtype and not _autocasting(a, b):
        raise DTypeError(f"{fn}: {an} is {a.dtype} but {bn} is {b.dtype}; they must match "
                         f"(cast one with xg.astype)")


def _ndim(fn: str, name: str, x: Tensor, allowed: Sequence[int], expect: str) -> None:
    if x.ndim not in allowed:
        raise ShapeError(f"{fn}: {name} {describe(x)} has {x.ndim} dimension(s); expected {expect}")


def _channel_vector(fn: str, name: str, v: Any, c: int, x: Tensor, what: str = "channels") -> Tensor | None:
    """A per-channel parameter (weight, bias, running statistic) of shape (c,), or None."""
    if v is None:
        return None
    v = _tensor(fn, name, v)
    if tuple(v.shape) != (c,):
        raise ShapeError(f"{fn}: {name} {describe(v)} must have shape ({c},), one entry per {what} of "
                         f"input {describe(x)}")
    return v


def _per_channel(v: Tensor, ndim: int) -> Tensor:
    """A (C,) vector shaped (1, C, 1, …) to broadcast against an input of ``ndim`` axes."""
    return v if ndim == 2 else xg.reshape(v, (1, v.shape[0]) + (1,) * (ndim - 2))


def _prob(fn: str, name: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise OpError(f"{fn}: {name} must be a probability in [0, 1], got {p!r}")
    return float(p)


# ---------------------------------------------------------------- linear and convolutions


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:
    """``input @ weightᵀ + bias`` with ``weight`` of shape (out_features, in_features), as PyTorch.

    >>> import xpgrad as xg
    >>> w = xg.asarray([[1.0, 1.0], [0.0, 1.0]])
    >>> linear(xg.asarray([[1.0, 2.0]]), w, xg.asarray([0.5, 0.0])).tolist()
    [[3.5, 2.0]]
    """
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        input, weight = _tensor("linear", "input", input), _tensor("linear", "weight", weight)
    ws = weight.shape
    if len(ws) != 2 or not input.ndim or input.shape[-1] != ws[1]:
        if len(ws) != 2:
            raise ShapeError(f"linear: weight {describe(weight)} must be 2-D, (out_features, in_features)")
        raise ShapeError(f"linear: input {tuple(input.shape)} does not match weight {tuple(ws)}: the last "
                         f"axis of input must be {ws[1]} (in_features)")
    if input.dtype != weight.dtype:
        _same_dtype("linear", input, weight, "input", "weight")
    if bias is None:
        return _linear(input, weight)
    if not isinstance(bias, Tensor) or bias.shape != (ws[0],):
        bias = _tensor("linear", "bias", bias)
        if tuple(bias.shape) != (ws[0],):
            raise ShapeError(f"linear: bias {describe(bias)} must have shape ({ws[0]},), one entry per "
                             f"output feature of weight {tuple(ws)}")
    return _affine(input, weight, bias)


def _conv_inputs(fn: str, input: Any, weight: Any, bias: Any, nd: int
                 ) -> tuple[Tensor, Tensor, Tensor | None]:
    input, weight = _tensor(fn, "input", input), _tensor(fn, "weight", weight)
    spatial = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    _ndim(fn, "input", input, (nd + 1, nd + 2), f"{spatial} or unbatched {spatial.replace('N, ', '')}")
    _ndim(fn, "weight", weight, (nd + 2,), f"{nd + 2}-D")
    _floating(fn, "input", input)
    _same_dtype(fn, input, weight, "input", "weight")
    return input, weight, bias if bias is None else _tensor(fn, "bias", bias)


def _with_bias(fn: str, y: Tensor, bias: Tensor | None, channels: int) -> Tensor:
    if bias is None:
        return y
    if tuple(bias.shape) != (channels,):
        raise ShapeError(f"{fn}: bias {describe(bias)} must have shape ({channels},), one entry per output "
                         "channel")
    if bias.dtype != y.dtype and _autocasting(y, bias):   # a low-precision product keeps its dtype
        bias = xg.astype(bias, y.dtype)
    return y + _per_channel(bias, y.ndim)


def _batched(x: Tensor, nd: int) -> tuple[Tensor, bool]:
    """``x`` with a batch axis (added when it is unbatched: ``nd + 1`` axes)."""
    return (xg.expand_dims(x, axis=0), True) if x.ndim == nd + 1 else (x, False)


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """1-D cross-correlation of ``input`` (N, C, L) with ``weight`` (O, C // groups, k), as PyTorch.

    Computed as a conv2d on images of height 1.

    >>> import xpgrad as xg
    >>> conv1d(xg.asarray([[[1.0, 2.0, 3.0]]]), xg.asarray([[[1.0, -1.0]]])).tolist()
    [[[-1.0, -1.0]]]
    """
    input, weight, bias = _conv_inputs("conv1d", input, weight, bias, 1)
    s, p, d = (_N.int_tuple("conv1d", n, v, 1, lo)[0]
               for n, v, lo in (("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1)))
    x, added = _batched(input, 1)
    y = _N.conv2d(xg.expand_dims(x, axis=2), xg.expand_dims(weight, axis=2), stride=(1, s), padding=(0, p),
                  dilation=(1, d), groups=groups)
    y = xg.squeeze(y, axis=2)
    y = _with_bias("conv1d", y, bias, weight.shape[0])
    return xg.squeeze(y, axis=0) if added else y


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation of ``input`` (N, C, H, W) with ``weight`` (O, C // groups, kh, kw), plus bias.

    >>> import xpgrad as xg
    >>> conv2d(xg.ones((1, 1, 3, 3)), xg.ones((2, 1, 2, 2)), xg.asarray([0.0, 1.0])).shape
    (1, 2, 2, 2)
    """
    input, weight, bias = _conv_inputs("conv2d", input, weight, bias, 2)
    x, added = _batched(input, 2)
    y = _N.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = _with_bias("conv2d", y, bias, weight.shape[0])
    return xg.squeeze(y, axis=0) if added else y


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """Transposed convolution of ``input`` (N, C_in, H, W) with ``weight`` (C_in, C_out // groups, kh, kw).

    The adjoint of :func:`conv2d` with the same parameters, plus ``bias`` (C_out,).

    >>> import xpgrad as xg
    >>> conv_transpose2d(xg.ones((1, 2, 3, 3)), xg.ones((2, 1, 3, 3)), stride=2, output_padding=1).shape
    (1, 1, 8, 8)
    """
    input, weight, bias = _conv_inputs("conv_transpose2d", input, weight, bias, 2)
    x, added = _batched(input, 2)
    y = _N.conv_transpose2d(x, weight, stride=stride, padding=padding, output_padding=output_padding,
                            groups=groups, dilation=dilation)
    y = _with_bias("conv_transpose2d", y, bias, y.shape[1])
    return xg.squeeze(y, axis=0) if added else y


# ---------------------------------------------------------------- pooling


def _pool_input(fn: str, input: Any) -> Tensor:
    input = _tensor(fn, "input", input)
    _ndim(fn, "input", input, (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
    return input


def _unsupported(fn: str, name: str, value: Any, default: Any) -> None:
    if value != default:
        raise OpError(f"{fn}: {name}={value!r} is not supported; only {name}={default!r}")


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """Maximum over ``kernel_size`` windows of ``input`` (N, C, H, W); ``stride`` defaults to the kernel.

    Padding is −inf. ``dilation``, ``ceil_mode`` and ``return_indices`` exist for PyTorch's
    signature and accept only their defaults.

    >>> import xpgrad as xg
    >>> max_pool2d(xg.reshape(xg.arange(16.0), (1, 1, 4, 4)), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    input = _pool_input("max_pool2d", input)
    for name, v, d in (("dilation", dilation, 1), ("ceil_mode", ceil_mode, False),
                       ("return_indices", return_indices, False)):
        _unsupported("max_pool2d", name, v, d)
    x, added = _batched(input, 2)
    y = _N.max_pool2d(x, kernel_size=kernel_size, stride=stride, padding=padding)
    return xg.squeeze(y, axis=0) if added else y


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over ``kernel_size`` windows of ``input`` (N, C, H, W); ``stride`` defaults to the kernel.

    ``count_include_pad=False`` divides each window by the number of input pixels in
    it instead of by the kernel's size.

    >>> import xpgrad as xg
    >>> avg_pool2d(xg.ones((1, 1, 2, 2)), 2, stride=1, padding=1, count_include_pad=False).tolist()
    [[[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]]
    """
    input = _pool_input("avg_pool2d", input)
    _unsupported("avg_pool2d", "ceil_mode", ceil_mode, False)
    x, added = _batched(input, 2)
    y = _N.avg_pool2d(x, kernel_size=kernel_size, stride=stride, padding=padding)
    if not count_include_pad and padding != 0:
        # the share of each window that lies on the input: the mean of a ones image
        ones = xg.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
        y = y / _N.avg_pool2d(ones, kernel_size=kernel_size, stride=stride, padding=padding)
    return xg.squeeze(y, axis=0) if added else y


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:
    """Average ``input`` (N, C, H, W) or (C, H, W) over bins that give ``output_size`` (an int or a pair).

    A ``None`` entry keeps that axis; bins follow PyTorch (``[⌊i·n/m⌋, ⌈(i+1)·n/m⌉)``).

    >>> import xpgrad as xg
    >>> adaptive_avg_pool2d(xg.ones((2, 3, 5, 7)), 1).shape
    (2, 3, 1, 1)
    """
    input = _pool_input("adaptive_avg_pool2d", input)
    if isinstance(output_size, list):
        output_size = tuple(output_size)
    return _N.adaptive_avg_pool2d(input, output_size=output_size)


# ---------------------------------------------------------------- normalisation


def _normalise(x: Tensor, axes: tuple[int, ...], eps: float, weight: Tensor | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
    """``(x − mean) · weight / √(var + ε)`` over ``axes`` (biased variance), with the mean and variance.

    The scale is folded into a small array first, so only one product runs over all of ``x``.
    """
    mean = xg.mean(x, axis=axes, keepdims=True)
    xc = x - mean
    var = xg.mean(xg.square(xc), axis=axes, keepdims=True)
    scale = 1.0 / xg.sqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    return xc * scale, mean, var


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise ``input`` (N, C, …) per channel (axis 1), then scale by ``weight`` and shift by ``bias``.

    Training: the batch's mean and biased variance over every axis but 1; the running
    buffers (when given) are updated in place, outside the graph, with the unbiased
    variance: ``r ← (1 − momentum)·r + momentum·batch``. Evaluation: the running statistics.

    >>> import xpgrad as xg
    >>> x = xg.asarray([[1.0], [3.0]])
    >>> rm, rv = xg.zeros((1,)), xg.ones((1,))
    >>> batch_norm(x, rm, rv, training=True, eps=0.0).tolist(), rm.tolist(), rv.tolist()
    ([[-1.0], [1.0]], [0.2], [1.1])
    """
    fn = "batch_norm"
    input = _tensor(fn, "input", input)
    if input.ndim < 2:
        raise ShapeError(f"{fn}: input {describe(input)} must be (N, C) or (N, C, …) with channels on axis 1")
    _floating(fn, "input", input)
    c = input.shape[1]
    running_mean = _channel_vector(fn, "running_mean", running_mean, c, input)
    running_var = _channel_vector(fn, "running_var", running_var, c, input)
    weight = _channel_vector(fn, "weight", weight, c, input)
    bias = _channel_vector(fn, "bias", bias, c, input)
    if (running_mean is None) != (running_var is None):
        raise OpError(f"{fn}: give both running_mean and running_var, or neither")
    nd = input.ndim
    if training:
        axes = (0,) + tuple(range(2, nd))
        n = input.size // c if c else 0
        if n < 2:
            raise ShapeError(f"{fn}: training needs more than one value per channel to estimate a variance, "
                             f"got input {describe(input)}")
        y, mean, var = _normalise(input, axes, eps, None if weight is None else _per_channel(weight, nd))
        if running_mean is not None:
            _update_running(running_mean, running_var, mean, var, n, momentum)
        return y if bias is None else y + _per_channel(bias, nd)
    if running_mean is None:
        raise OpError(f"{fn}: evaluation (training=False) needs running_mean and running_var; pass "
                      "training=True to normalise with the batch's statistics")
    # y = x·scale + shift with scale = w / √(rv + ε), shift = b − rm·scale: two passes over x
    scale = 1.0 / xg.sqrt(xg.astype(running_var, input.dtype) + eps)
    if weight is not None:
        scale = scale * weight
    shift = -xg.astype(running_mean, input.dtype) * scale
    if bias is not None:
        shift = shift + bias
    return input * _per_channel(scale, nd) + _per_channel(shift, nd)


def _update_running(running_mean: Tensor, running_var: Tensor, mean: Tensor, var: Tensor, n: int,
                    momentum: float) -> None:
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        raise OpError(f"batch_norm: momentum must be a number, got {momentum!r}")
    with xg.no_grad():
        m = xg.astype(xg.reshape(mean.detach(), (-1,)), running_mean.dtype)
        v = xg.astype(xg.reshape(var.detach(), (-1,)), running_var.dtype) * (n / (n - 1))   # unbiased
        running_mean *= 1.0 - momentum
        running_mean += momentum * m
        running_var *= 1.0 - momentum
        running_var += momentum * v


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing axes ``normalized_shape`` (mean 0, biased variance 1), then scale, shift.

    >>> import xpgrad as xg
    >>> layer_norm(xg.asarray([[1.0, 3.0]]), 2, eps=0.0).tolist()
    [[-1.0, 1.0]]
    """
    fn = "layer_norm"
    input = _tensor(fn, "input", input)
    _floating(fn, "input", input)
    shape = _N.int_tuple(fn, "normalized_shape", normalized_shape,
                  len(normalized_shape) if isinstance(normalized_shape, (tuple, list)) else 1, 1)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ShapeError(f"{fn}: input {describe(input)} does not end in normalized_shape {shape}; its last "
                         f"{k} axis/axes must be {shape}")
    for name, v in (("weight", weight), ("bias", bias)):
        if v is not None and tuple(_tensor(fn, name, v).shape) != shape:
            raise ShapeError(f"{fn}: {name} {describe(v)} must have normalized_shape {shape}")
    y = _normalise(input, tuple(range(input.ndim - k, input.ndim)), eps)[0]
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise ``input`` (N, C, …) over each group of ``C // num_groups`` channels and the other axes.

    ``weight`` and ``bias`` are per channel (C,).

    >>> import xpgrad as xg
    >>> group_norm(xg.asarray([[1.0, 3.0, 4.0, 6.0]]), 2, eps=0.0).tolist()
    [[-1.0, 1.0, -1.0, 1.0]]
    """
    fn = "group_norm"
    input = _tensor(fn, "input", input)
    if input.ndim < 2:
        raise ShapeError(f"{fn}: input {describe(input)} must be (N, C, …) with channels on axis 1")
    _floating(fn, "input", input)
    n, c = input.shape[:2]
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1 or c % num_groups:
        raise ShapeError(f"{fn}: num_groups={num_groups!r} must be a positive int dividing the {c} channels "
                         f"of input {describe(input)}")
    weight = _channel_vector(fn, "weight", weight, c, input)
    bias = _channel_vector(fn, "bias", bias, c, input)
    g = xg.reshape(input, (n, num_groups, -1)) if input.size else xg.reshape(input, (n, num_groups, 0))
    y = xg.reshape(_normalise(g, (2,), eps)[0], input.shape)
    if weight is not None:
        y = y * _per_channel(weight, input.ndim)
    return y if bias is None else y + _per_channel(bias, input.ndim)


# ---------------------------------------------------------------- dropout


def dropout(input: Any, p: float = 0.5, training: bool = True, generator: Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 − p)`` (inverted dropout).

    The identity when not training or ``p == 0``; zeros when ``p == 1``. The mask is a
    :func:`xpgrad.random.bernoulli` draw from ``generator`` (default: the global one),
    in the input's dtype and on its device, so a seed repeats it exactly.

    >>> import xpgrad as xg
    >>> x = xg.ones((4,))
    >>> dropout(x, 0.5, training=False) is x
    True
    """
    fn = "dropout"
    p = _prob(fn, "p", p)
    input = _tensor(fn, "input", input)
    if not training or p == 0.0:
        return input
    _floating(fn, "input", input)
    if p == 1.0:
        return input * 0.0   # zeros that keep the graph: the gradient is zero, not missing
    mask = _bernoulli(1.0 - p, tuple(input.shape), dtype=input.dtype, device=input.device,
                      generator=generator)
    return input * (mask * (1.0 / (1.0 - p)))


# ---------------------------------------------------------------- embedding, one_hot, flatten


def _integer(fn: str, name: str, x: Tensor) -> None:
    if not xg.isdtype(x.dtype, "integral"):
        raise DTypeError(f"{fn}: {name} {describe(x)} must hold integer indices (an integer dtype)")


def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) at the integer indices ``input``: shape (…, dim).

    The gradient reaches ``weight`` by a scatter-add of the output's cotangent (repeated
    indices accumulate); the row ``padding_idx`` gets none.

    >>> import xpgrad as xg
    >>> embedding(xg.asarray([[2, 0]]), xg.asarray([[0.0, 0.0], [1.0, 1.0], [2.0, 4.0]])).tolist()
    [[[2.0, 4.0], [0.0, 0.0]]]
    """
    fn = "embedding"
    input, weight = _tensor(fn, "input", input), _tensor(fn, "weight", weight)
    _integer(fn, "input", input)
    _ndim(fn, "weight", weight, (2,), "2-D (num_embeddings, embedding_dim)")
    num = weight.shape[0]
    if input.size:
        lo, hi = int(xg.min(input)), int(xg.max(input))
        if lo < 0 or hi >= num:
            bad = lo if lo < 0 else hi
            raise IndexOutOfBoundsError(f"{fn}: index {bad} in input {describe(input)} is out of range for "
                                        f"weight {describe(weight)}: indices must lie in [0, {num})")
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, int) or not -num <= padding_idx < num:
            raise OpError(f"{fn}: padding_idx={padding_idx!r} must be an int in [{-num}, {num}) for weight "
                          f"{describe(weight)}")
        padding_idx %= num
    out = weight[input]
    if padding_idx is None:
        return out
    # the padding row's value, with its gradient cut: where selects it at padded positions
    keep = xg.expand_dims(input != padding_idx, axis=-1)
    return xg.where(keep, out, weight.detach()[padding_idx])


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """``tensor``'s integer classes as one-hot rows (…, num_classes) of int64; -1 infers max + 1.

    >>> import xpgrad as xg
    >>> one_hot(xg.asarray([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    fn = "one_hot"
    tensor = _tensor(fn, "tensor", tensor)
    _integer(fn, "tensor", tensor)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < -1:
        raise OpError(f"{fn}: num_classes must be a non-negative int or -1 (infer), got {num_classes!r}")
    lo, hi = (int(xg.min(tensor)), int(xg.max(tensor))) if tensor.size else (0, -1)
    if num_classes == -1:
        num_classes = hi + 1
    if lo < 0 or hi >= num_classes:
        raise IndexOutOfBoundsError(f"{fn}: class {lo if lo < 0 else hi} in tensor {describe(tensor)} is out "
                                    f"of range: classes must lie in [0, {num_classes})")
    classes = xg.arange(num_classes, dtype=tensor.dtype, device=tensor.device)
    return xg.astype(xg.expand_dims(tensor, axis=-1) == classes, xg.int64)


def flatten(input: Any, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """``input`` with the axes ``start_dim … end_dim`` (inclusive) merged into one.

    >>> import xpgrad as xg
    >>> flatten(xg.ones((2, 3, 4))).shape
    (2, 12)
    """
    input = _tensor("flatten", "input", input)
    nd = max(input.ndim, 1)
    try:
        a, b = operator.index(start_dim), operator.index(end_dim)
    except TypeError:
        raise OpError(f"flatten: start_dim and end_dim must be ints, got {start_dim!r}, "
                      f"{end_dim!r}") from None
    if not (-nd <= a < nd and -nd <= b < nd) or a % nd > b % nd:
        raise ShapeError(f"flatten: start_dim={start_dim}, end_dim={end_dim} do not name a range of the axes "
                         f"of input {describe(input)}")
    if input.ndim == 0:
        return xg.reshape(input, (1,))
    a, b = a % nd, b % nd
    shape = tuple(input.shape)
    return xg.reshape(input, shape[:a] + (math.prod(shape[a:b + 1]),) + shape[b + 1:])


# ---------------------------------------------------------------- softmax


def _axis(fn: str, input: Tensor, dim: Any) -> int:
    try:
        d = operator.index(dim)
    except TypeError:
        raise OpError(f"{fn}: dim must be an int, got {dim!r}") from None
    nd = max(input.ndim, 1)
    if not -nd <= d < nd:
        raise ShapeError(f"{fn}: dim={dim} is out of range for input {describe(input)}")
    return d


def softmax(input: Any, dim: int, dtype: Any = None) -> Tensor:
    """``exp(x) / Σ exp(x)`` along ``dim`` (required), shifted by the maximum so large logits stay finite.

    >>> import xpgrad as xg
    >>> softmax(xg.asarray([0.0, 0.0]), dim=0).tolist()
    [0.5, 0.5]
    """
    input = _tensor("softmax", "input", input)
    if dtype is not None:
        input = xg.astype(input, dtype)
    _floating("softmax", "input", input)
    return _N.softmax(input, axis=_axis("softmax", input, dim))


def log_softmax(input: Any, dim: int, dtype: Any = None) -> Tensor:
    """``x − logsumexp(x)`` along ``dim`` (required); finite for logits of ±1e4.

    >>> import xpgrad as xg
    >>> round(float(log_softmax(xg.asarray([0.0, 0.0]), dim=0)[0]), 4)
    -0.6931
    """
    input = _tensor("log_softmax", "input", input)
    if dtype is not None:
        input = xg.astype(input, dtype)
    _floating("log_softmax", "input", input)
    return _N.log_softmax(input, axis=_axis("log_softmax", input, dim))


# ---------------------------------------------------------------- attention


def _additive(fn: str, name: str, mask: Any, like: Tensor, masked: bool) -> Tensor:
    """A mask as the float added to attention scores: 0 where attending, −inf where not.

    ``masked``: True entries of a boolean mask are the ones *not* attended (MultiheadAttention's
    convention) rather than the attended ones (scaled_dot_product_attention's).
    """
    mask = _tensor(fn, name, mask)
    if mask.dtype == xg.bool:
        zero = xg.zeros((), dtype=like.dtype, device=like.device)
        ninf = xg.full((), -math.inf, dtype=like.dtype, device=like.device)
        return xg.where(mask, ninf, zero) if masked else xg.where(mask, zero, ninf)
    if not xg.isdtype(mask.dtype, "real floating"):
        raise DTypeError(f"{fn}: {name} {describe(mask)} must be boolean or floating (added to the scores)")
    return xg.astype(mask, like.dtype) if mask.dtype != like.dtype else mask


def _causal(l: int, s: int, like: Tensor) -> Tensor:
    """The additive causal mask (L, S): query i attends to keys j ≤ i."""
    i = xg.reshape(xg.arange(l, device=like.device), (l, 1))
    ok = i >= xg.arange(s, device=like.device)
    return xg.where(ok, xg.zeros((), dtype=like.dtype, device=like.device),
                    xg.full((), -math.inf, dtype=like.dtype, device=like.device))


def _attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout_p: float, scale: float,
            generator: Generator | None = None) -> tuple[Tensor, Tensor]:
    """softmax(q kᵀ · scale + mask), dropped out, times v: (output, weights)."""
    scores = (q @ k.mT) * scale
    if mask is not None:
        scores = scores + mask
    w = _N.softmax(scores, axis=-1)
    if dropout_p > 0.0:
        w = dropout(w, dropout_p, training=True, generator=generator)
    return w @ v, w


def _broadcastable(fn: str, name: str, shape: tuple, target: tuple) -> None:
    ok = len(shape) <= len(target) and all(a in (1, b) for a, b in zip(shape[::-1], target[::-1]))
    if not ok:
        raise ShapeError(f"{fn}: {name} of shape {shape} does not broadcast to the attention scores "
                         f"{target} (…, L, S)")


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None) -> Tensor:
    """``softmax(Q Kᵀ · scale + mask) V`` for Q (…, L, E), K (…, S, E), V (…, S, Ev), as PyTorch.

    ``scale`` defaults to 1/√E. A boolean ``attn_mask`` is True where a query may
    attend; a float mask is added to the scores. ``is_causal`` lets query i see keys
    j ≤ i only. ``dropout_p`` drops attention weights (always, as PyTorch's function;
    pass 0 in evaluation). A query row with every key masked gives NaN.

    >>> import xpgrad as xg
    >>> q = k = v = xg.eye(2)[None]
    >>> scaled_dot_product_attention(q, k, v, is_causal=True).tolist()[0][0]
    [1.0, 0.0]
    """
    fn = "scaled_dot_product_attention"
    q, k, v = (_tensor(fn, n, a) for n, a in (("query", query), ("key", key), ("value", value)))
    for n, a in (("query", q), ("key", k), ("value", v)):
        if a.ndim < 2:
            raise ShapeError(f"{fn}: {n} {describe(a)} must be at least 2-D (…, length, features)")
        _floating(fn, n, a)
    _same_dtype(fn, q, k, "query", "key")
    _same_dtype(fn, q, v, "query", "value")
    if q.shape[-1] != k.shape[-1]:
        raise ShapeError(f"{fn}: query {describe(q)} and key {describe(k)} must have the same last axis "
                         "(embedding size E)")
    if k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"{fn}: key {describe(k)} and value {describe(v)} must have the same length S "
                         "(second-to-last axis)")
    dropout_p = _prob(fn, "dropout_p", dropout_p)
    l, s = q.shape[-2], k.shape[-2]
    mask = None
    if is_causal:
        if attn_mask is not None:
            raise OpError(f"{fn}: give attn_mask or is_causal=True, not both")
        mask = _causal(l, s, q)
    elif attn_mask is not None:
        mask = _additive(fn, "attn_mask", attn_mask, q, masked=False)
        _broadcastable(fn, "attn_mask", tuple(mask.shape), tuple(q.shape[:-2]) + (l, s))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return _attend(q, k, v, mask, dropout_p, scale)[0]


def _project(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return _linear(x, w) if b is None else _affine(x, w, b)


def multi_head_attention(query: Any, key: Any, value: Any, num_heads: int, in_proj_weight: Any,
                         in_proj_bias: Any, out_proj_weight: Any, out_proj_bias: Any,
                         key_padding_mask: Any = None, need_weights: bool = True, attn_mask: Any = None,
                         average_attn_weights: bool = True, dropout_p: float = 0.0, training: bool = True,
                         batch_first: bool = False, is_causal: bool = False, q_proj_weight: Any = None,
                         k_proj_weight: Any = None, v_proj_weight: Any = None,
                         generator: Generator | None = None) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention as ``nn.MultiheadAttention`` computes it; returns ``(output, weights or None)``.

    Shapes (batch_first=False): query (L, N, E), key (S, N, Ek), value (S, N, Ev); with
    ``batch_first`` the batch comes first; unbatched inputs drop N. Queries, keys and
    values are projected by ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) — or,
    when ``in_proj_weight`` is None, by ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, Ek)
    and ``v_proj_weight`` (E, Ev) — split into ``num_heads`` heads of E // num_heads,
    attended with scale 1/√(E / heads) and projected back by ``out_proj_weight`` (E, E)
    and ``out_proj_bias``. Masks follow the module: a boolean ``key_padding_mask`` (N, S)
    or ``attn_mask`` (L, S) or (N·heads, L, S) is True where attention is *not* allowed;
    float masks are added to the scores. ``is_causal`` masks keys after each query when no
    ``attn_mask`` is given (with one, it is only a hint, as in PyTorch). Attention weights are
    dropped out with ``dropout_p`` when ``training``; ``weights`` are (N, L, S) averaged over
    heads, or (N, heads, L, S).

    >>> import xpgrad as xg
    >>> x = xg.ones((3, 2, 4))
    >>> w, b = xg.ones((12, 4)), xg.zeros((12,))
    >>> out, att = multi_head_attention(x, x, x, 2, w, b, xg.eye(4), None)
    >>> out.shape, att.shape
    ((3, 2, 4), (2, 3, 3))
    """
    fn = "multi_head_attention"
    q, k, v = (_tensor(fn, n, a) for n, a in (("query", query), ("key", key), ("value", value)))
    if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ShapeError(f"{fn}: query {describe(q)}, key {describe(k)} and value {describe(v)} must all be "
                         "3-D (batched) or all 2-D (unbatched)")
    for n, a in (("query", q), ("key", k), ("value", v)):
        _floating(fn, n, a)
    batched = q.ndim == 3
    if not batched:
        q, k, v = (xg.expand_dims(a, axis=0) for a in (q, k, v))
    elif not batch_first:
        q, k, v = (xg.permute_dims(a, (1, 0, 2)) for a in (q, k, v))
    # now (N, L, E), (N, S, Ek), (N, S, Ev)
    n, l, e = q.shape
    s = k.shape[1]
    if k.shape[0] != n or v.shape[0] != n or v.shape[1] != s:
        raise ShapeError(f"{fn}: query {describe(query)}, key {describe(key)} and value {describe(value)} "
                         f"disagree on the batch size or on the source length (batch_first={batch_first})")
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1 or e % num_heads:
        raise ShapeError(f"{fn}: num_heads={num_heads!r} must be a positive int dividing the embedding size "
                         f"{e} of query {describe(query)}")
    d = e // num_heads
    q, k, v = _in_projections(fn, q, k, v, query is key and key is value, in_proj_weight, in_proj_bias,
                              q_proj_weight, k_proj_weight, v_proj_weight)

    def heads(a: Tensor) -> Tensor:   # (N, len, E) -> (N, heads, len, E / heads)
        return xg.permute_dims(xg.reshape(a, (n, a.shape[1], num_heads, d)), (0, 2, 1, 3))
    q, k, v = heads(q), heads(k), heads(v)
    mask = _mha_mask(fn, attn_mask, key_padding_mask, is_causal, n, num_heads, l, s, batched, q)
    p = _prob(fn, "dropout_p", dropout_p) if training else 0.0
    out, w = _attend(q, k, v, mask, p, 1.0 / math.sqrt(d), generator)
    out = xg.reshape(xg.permute_dims(out, (0, 2, 1, 3)), (n, l, e))
    out_w = _tensor(fn, "out_proj_weight", out_proj_weight)
    if tuple(out_w.shape) != (e, e):
        raise ShapeError(f"{fn}: out_proj_weight {describe(out_w)} must be ({e}, {e})")
    out_b = None if out_proj_bias is None else _tensor(fn, "out_proj_bias", out_proj_bias)
    if out_b is not None and tuple(out_b.shape) != (e,):
        raise ShapeError(f"{fn}: out_proj_bias {describe(out_b)} must be ({e},)")
    out = _project(out, out_w, out_b)
    if not batched:
        out = xg.squeeze(out, axis=0)
    elif not batch_first:
        out = xg.permute_dims(out, (1, 0, 2))
    if not need_weights:
        return out, None
    if average_attn_weights:
        w = xg.mean(w, axis=1)
    return out, (xg.squeeze(w, axis=0) if not batched else w)


def _in_projections(fn: str, q: Tensor, k: Tensor, v: Tensor, same: bool, in_w: Any, in_b: Any, qw: Any,
                    kw: Any, vw: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Queries, keys and values (N, len, E) projected by the packed or the separate weights, checked."""
    e, ek, ev = q.shape[-1], k.shape[-1], v.shape[-1]
    if in_b is not None:
        in_b = _tensor(fn, "in_proj_bias", in_b)
        if tuple(in_b.shape) != (3 * e,):
            raise ShapeError(f"{fn}: in_proj_bias {describe(in_b)} must be ({3 * e},)")
    bs = (None,) * 3 if in_b is None else (in_b[:e], in_b[e:2 * e], in_b[2 * e:])
    if in_w is not None:
        in_w = _tensor(fn, "in_proj_weight", in_w)
        if tuple(in_w.shape) != (3 * e, e) or ek != e or ev != e:
            raise ShapeError(f"{fn}: in_proj_weight {describe(in_w)} must be ({3 * e}, {e}) and key and "
                             f"value must have {e} features (got {ek}, {ev}); for other key/value sizes pass "
                             "q_proj_weight, k_proj_weight and v_proj_weight")
        if same:   # self-attention: one product for all three
            qkv = _project(q, in_w, in_b)
            return qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
        ws = in_w[:e], in_w[e:2 * e], in_w[2 * e:]
    else:
        ws = tuple(None if a is None else _tensor(fn, n, a)
                   for n, a in (("q_proj_weight", qw), ("k_proj_weight", kw), ("v_proj_weight", vw)))
        for n, a, cols in zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), ws, (e, ek, ev)):
            if a is None or tuple(a.shape) != (e, cols):
                raise ShapeError(f"{fn}: {n} {describe(a)} must be ({e}, {cols}) when in_proj_weight is None")
    return tuple(_project(x, w, b) for x, w, b in zip((q, k, v), ws, bs))


def _mha_mask(fn: str, attn_mask: Any, key_padding_mask: Any, is_causal: bool, n: int, h: int, l: int, s: int,
              batched: bool, like: Tensor) -> Tensor | None:
    """attn_mask and key_padding_mask combined into one additive mask broadcasting to (N, heads, L, S)."""
    mask = None
    if attn_mask is not None:
        m = _additive(fn, "attn_mask", attn_mask, like, masked=True)
        if m.ndim == 2 and tuple(m.shape) == (l, s):
            mask = m
        elif m.ndim == 3 and tuple(m.shape) == (n * h, l, s):
            mask = xg.reshape(m, (n, h, l, s))
        else:
            raise ShapeError(f"{fn}: attn_mask {describe(attn_mask)} must be ({l}, {s}) or "
                             f"({n * h}, {l}, {s}) (batch·heads, L, S)")
    elif is_causal:
        mask = _causal(l, s, like)
    if key_padding_mask is not None:
        kp = _additive(fn, "key_padding_mask", key_padding_mask, like, masked=True)
        want = (n, s) if batched else (s,)
        if tuple(kp.shape) != want:
            raise ShapeError(f"{fn}: key_padding_mask {describe(key_padding_mask)} must be {want} "
                             "(batch, source length)")
        kp = xg.reshape(kp, (n, 1, 1, s))
        mask = kp if mask is None else mask + kp
    return mask
