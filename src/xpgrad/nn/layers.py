"""Layers with parameters (and a few without): linear, convolution, pooling, normalisation, attention.

Each layer holds its parameters, checks the shape of its input (shape
comparisons only, so the check costs nothing measurable) and hands the work to
:mod:`xpgrad.nn.functional`, whose ops carry VJP and JVP rules on every device.
Defaults follow PyTorch: float32 parameters, the same initialisations (drawn
from :mod:`xpgrad.random`, so ``xpgrad.manual_seed`` makes construction
reproducible), the same names, so state dicts line up.

>>> import xpgrad as xg
>>> from xpgrad import nn
>>> lin = nn.Linear(784, 10)
>>> lin(xg.ones((32, 100)))
Traceback (most recent call last):
...
xpgrad.core.errors.ShapeError: Linear(in_features=784, out_features=10): expected input of shape (*, 784), \
got (32, 100); the last dimension must be in_features
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..core.errors import DTypeError, OpError, ShapeError
from ..core.tape import no_grad
from ..core.tensor import Tensor
from ..ops.nn import int_tuple
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Identity", "Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d",
           "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout",
           "Embedding", "Flatten", "MultiheadAttention"]

DEFAULT_DTYPE = "float32"


def _empty(shape: tuple[int, ...], device: Any, dtype: Any) -> Parameter:
    from .. import empty

    return Parameter(empty(shape, dtype=dtype or DEFAULT_DTYPE, device=device))


def _shape_str(shape: Sequence[Any]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _positive(layer: str, **values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise OpError(f"{layer}: {name} must be a positive int, got {v!r}")


def _weight_and_bias(m: Module, shape: tuple, n_bias: int, device: Any, dtype: Any) -> None:
    """Give ``m`` a weight of ``shape`` and a bias of ``n_bias`` entries (none for 0), then initialise."""
    m.weight = _empty(shape, device, dtype)
    if n_bias:
        m.bias = _empty((n_bias,), device, dtype)
    else:
        m.register_parameter("bias", None)
    m.reset_parameters()


def _default_init(m: Module, fan_in: int) -> None:
    """PyTorch's default for Linear and convolutions: Kaiming-uniform weights (``a=√5``) and biases
    ``U(±1/√fan_in)``."""
    init.kaiming_uniform_(m.weight, a=math.sqrt(5))
    if m.bias is not None and fan_in:
        bound = 1 / math.sqrt(fan_in)
        init.uniform_(m.bias, -bound, bound)


class Identity(Module):
    """Returns its input; a placeholder that accepts and ignores any constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


# ------------------------------------------------------------------ linear

class Linear(Module):
    """``y = x Wᵀ + b`` over the last dimension; ``W`` has shape ``(out_features, in_features)``.

    Initialised as in PyTorch: ``W, b ~ U(−1/√in_features, 1/√in_features)``.

    >>> import xpgrad as xg
    >>> Linear(3, 2)(xg.ones((5, 3), dtype=xg.float32)).shape
    (5, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        _positive("Linear", in_features=in_features, out_features=out_features)
        self.in_features = in_features
        self.out_features = out_features
        _weight_and_bias(self, (out_features, in_features), out_features if bias else 0, device, dtype)

    def reset_parameters(self) -> None:
        """Draw fresh weights: Kaiming-uniform with ``a=√5`` (bound ``1/√fan_in``), bias alike."""
        _default_init(self, self.in_features)

    def forward(self, input: Tensor) -> Tensor:
        s = input.shape
        if not s or s[-1] != self.in_features or (input.dtype != self.weight.dtype
                                                  and not F._autocasting(input, self.weight)):
            brief = f"Linear(in_features={self.in_features}, out_features={self.out_features})"
            if s and s[-1] == self.in_features:
                _dtype_mismatch(brief, input, self.weight)
            raise ShapeError(f"{brief}: expected input of shape (*, {self.in_features}), got "
                             f"{_shape_str(s)}; the last dimension must be in_features")
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _dtype_mismatch(brief: str, input: Tensor, weight: Tensor) -> None:
    """Raise the error of a layer given an input of another dtype than its parameters."""
    model = (f" or the model (model.to(dtype=xpgrad.{input.dtype}))"
             if input._b.is_floating(input.dtype) else "")
    raise DTypeError(f"{brief}: the input is {input.dtype} but the layer's parameters are {weight.dtype}; "
                     f"cast the input (xpgrad.astype(x, xpgrad.{weight.dtype})){model}. Layers default to "
                     f"float32, like PyTorch; xpgrad.asarray and xpgrad.ones default to float64, like NumPy")


# ------------------------------------------------------------------ convolution

class _ConvNd(Module):
    _dims = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, groups: int, bias: bool, padding_mode: str, device: Any, dtype: Any,
                 output_padding: Any = 0) -> None:
        super().__init__()
        name = type(self).__name__
        n = self._dims
        _positive(name, in_channels=in_channels, out_channels=out_channels, groups=groups)
        if in_channels % groups or out_channels % groups:
            raise OpError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both "
                          f"be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise OpError(f"{name}: padding_mode {padding_mode!r} is not supported; only 'zeros'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, n, 1)
        self.stride = int_tuple(name, "stride", stride, n, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise OpError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise OpError(f"{name}: padding='same' needs stride 1, got stride={self.stride}")
            self.padding = padding
        else:
            self.padding = int_tuple(name, "padding", padding, n, 0)
        self.dilation = int_tuple(name, "dilation", dilation, n, 1)
        # What the functional gets: symmetric padding, plus one trailing zero where 'same' needs an odd total.
        self._pad, self._extra = self.padding, None
        if padding == "valid":
            self._pad = (0,) * n
        elif padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            self._pad = tuple(t // 2 for t in total)
            if any(t % 2 for t in total):
                self._extra = tuple(t % 2 for t in total)
        self.output_padding = int_tuple(name, "output_padding", output_padding, n, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        _weight_and_bias(self, shape, out_channels if bias else 0, device, dtype)

    def reset_parameters(self) -> None:
        """Kaiming-uniform weights with ``a=√5`` and ``U(±1/√fan_in)`` biases, as in PyTorch."""
        _default_init(self, self.weight.shape[1] * math.prod(self.kernel_size))

    def _brief(self) -> str:
        name = type(self).__name__
        return f"{name}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"

    def _check(self, input: Tensor) -> Tensor:
        s = input.shape
        n = self._dims
        if len(s) in (n + 1, n + 2) and s[-n - 1] == self.in_channels:
            if input.dtype != self.weight.dtype and not F._autocasting(input, self.weight):
                _dtype_mismatch(self._brief(), input, self.weight)
            return input if self._extra is None else self._pad_end(input)
        space = ("L",) if n == 1 else ("H", "W")
        batched = _shape_str(("N", self.in_channels) + space)
        single = _shape_str((self.in_channels,) + space)
        hint = (f"; it has {s[-n - 1]} channels, the layer expects {self.in_channels}"
                if len(s) in (n + 1, n + 2) else f"; a {len(s)}-d input cannot be a batch of images")
        raise ShapeError(f"{self._brief()}: expected input of shape {batched} or {single}, "
                         f"got {_shape_str(s)}{hint}")

    def _pad_end(self, input: Tensor) -> Tensor:
        from .. import concat, zeros

        for i, extra in enumerate(self._extra):
            if extra:
                axis = input.ndim - self._dims + i
                shape = input.shape[:axis] + (extra,) + input.shape[axis + 1:]
                input = concat([input, zeros(shape, dtype=input.dtype, device=input.device)], axis=axis)
        return input

    def extra_repr(self) -> str:
        n = self._dims
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding!r}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation) over ``(N, C, L)`` or ``(C, L)`` inputs.

    >>> import xpgrad as xg
    >>> Conv1d(2, 4, 3, padding=1)(xg.ones((1, 2, 10), dtype=xg.float32)).shape
    (1, 4, 10)
    """

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        input = self._check(input)
        return F.conv1d(input, self.weight, self.bias, self.stride[0], self._pad[0], self.dilation[0],
                        self.groups)


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) over ``(N, C, H, W)`` or ``(C, H, W)`` inputs.

    >>> import xpgrad as xg
    >>> Conv2d(3, 8, 3, stride=2)(xg.ones((2, 3, 9, 9), dtype=xg.float32)).shape
    (2, 8, 4, 4)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        input = self._check(input)
        return F.conv2d(input, self.weight, self.bias, self.stride, self._pad, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """The transpose (gradient) of a 2-D convolution: upsamples ``(N, C, H, W)`` inputs.

    Output size per axis: ``(in − 1)·stride − 2·padding + dilation·(kernel − 1) + output_padding + 1``.

    >>> import xpgrad as xg
    >>> up = ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    >>> up(xg.ones((1, 4, 5, 5), dtype=xg.float32)).shape
    (1, 2, 10, 10)
    """

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if isinstance(padding, str):
            raise OpError(f"ConvTranspose2d: padding must be an int or a tuple, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype, output_padding)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise OpError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than "
                              f"stride {self.stride} or dilation {self.dilation}")

    def forward(self, input: Tensor) -> Tensor:
        self._check(input)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


# ------------------------------------------------------------------ pooling

def _unsupported(layer: str, **options: tuple[Any, Any]) -> None:
    for name, (value, default) in options.items():
        F._unsupported(layer, name, value, default)


def _check_pool(layer: str, kernel_size: Any, stride: Any, padding: Any) -> None:
    """Refuse bad pooling parameters when the layer is built, not at its first call."""
    k = int_tuple(layer, "kernel_size", kernel_size, 2, 1)
    p = int_tuple(layer, "padding", padding, 2, 0)
    int_tuple(layer, "stride", stride, 2, 1)
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise OpError(f"{layer}: padding {padding} must be at most half the kernel size {kernel_size}")


def _check_images(layer: Module, input: Tensor) -> None:
    s = input.shape
    if len(s) not in (3, 4):
        raise ShapeError(f"{layer!r}: expected input of shape (N, C, H, W) or (C, H, W), got {_shape_str(s)}")


class MaxPool2d(Module):
    """The maximum over each ``kernel_size`` window (stride defaults to the kernel size)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        _unsupported("MaxPool2d", dilation=(int_tuple("MaxPool2d", "dilation", dilation, 2, 1), (1, 1)),
                     return_indices=(return_indices, False),
                     ceil_mode=(ceil_mode, False))
        _check_pool("MaxPool2d", kernel_size, self.stride, padding)

    def forward(self, input: Tensor) -> Tensor:
        _check_images(self, input)
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean over each ``kernel_size`` window (stride defaults to the kernel size)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        _unsupported("AvgPool2d", ceil_mode=(ceil_mode, False), divisor_override=(divisor_override, None))
        _check_pool("AvgPool2d", kernel_size, self.stride, padding)

    def forward(self, input: Tensor) -> Tensor:
        _check_images(self, input)
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding,
                            count_include_pad=self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` (an int, or ``(H, W)``; ``None`` keeps that axis)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        _check_images(self, input)
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ------------------------------------------------------------------ normalisation

class _BatchNorm(Module):
    _expects = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        _positive(type(self).__name__, num_features=num_features)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = _empty((num_features,), device, dtype)
            self.bias = _empty((num_features,), device, dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            from .. import ones, zeros

            dt = dtype or DEFAULT_DTYPE
            self.register_buffer("running_mean", zeros((num_features,), dtype=dt, device=device))
            self.register_buffer("running_var", ones((num_features,), dtype=dt, device=device))
            self.register_buffer("num_batches_tracked", zeros((), dtype="int64", device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        """Running statistics reset; scale 1 and shift 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _bad_input(self, s: tuple) -> ShapeError:
        return ShapeError(f"{type(self).__name__}({self.num_features}): expected input of shape "
                          f"{self._expects}, got {_shape_str(s)}; dimension 1 holds the features")

    def forward(self, input: Tensor) -> Tensor:
        self._check(input.shape)
        factor = 0.0 if self.momentum is None else self.momentum
        counting = self.training and self.track_running_stats
        if counting and self.momentum is None:  # cumulative moving average over every batch seen
            factor = 1.0 / (int(self.num_batches_tracked) + 1)
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        out = F.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                           self.weight, self.bias, use_batch, factor, self.eps)
        if counting:   # after the functional accepted the batch: a refused batch is not counted
            with no_grad():
                self.num_batches_tracked += 1
        return out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs over the batch (and length).

    Training normalises with the batch statistics and updates ``running_mean``
    and ``running_var`` (unbiased) by ``momentum`` (``None``: a cumulative
    average); evaluation uses the running statistics.
    """

    _expects = "(N, C) or (N, C, L) with C = num_features"

    def _check(self, s: tuple) -> None:
        if len(s) not in (2, 3) or s[1] != self.num_features:
            raise self._bad_input(s)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` inputs over the batch and the image."""

    _expects = "(N, C, H, W) with C = num_features"

    def _check(self, s: tuple) -> None:
        if len(s) != 4 or s[1] != self.num_features:
            raise self._bad_input(s)


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dimensions of each sample, then scale and shift."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        _positive("LayerNorm", **{f"normalized_shape[{i}]": s for i, s in enumerate(shape)})
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = _empty(shape, device, dtype)
            if bias:
                self.bias = _empty(shape, device, dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Scale 1, shift 0."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        s = input.shape
        n = len(self.normalized_shape)
        if len(s) < n or s[len(s) - n:] != self.normalized_shape:
            want = _shape_str(("*",) + self.normalized_shape)
            raise ShapeError(f"LayerNorm({self.normalized_shape}): expected input of shape {want}, got "
                             f"{_shape_str(s)}; the trailing dimensions must equal normalized_shape")
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Normalise each sample over groups of ``num_channels // num_groups`` channels."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        _positive("GroupNorm", num_groups=num_groups, num_channels=num_channels)
        if num_channels % num_groups:
            raise OpError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                          f"({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = _empty((num_channels,), device, dtype)
            self.bias = _empty((num_channels,), device, dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Scale 1, shift 0."""
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        s = input.shape
        if len(s) < 2 or s[1] != self.num_channels:
            raise ShapeError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected input of shape "
                             f"(N, {self.num_channels}, *), got {_shape_str(s)}; dimension 1 holds the "
                             "channels")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


# ------------------------------------------------------------------ others

class Dropout(Module):
    """Zero each element with probability ``p`` in training and scale the rest by ``1/(1−p)``.

    The identity in evaluation mode. Masks come from :mod:`xpgrad.random`.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = F._prob("Dropout", "p", p)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return input
        return F.dropout(input, self.p, True)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Embedding(Module):
    """A lookup table: integer indices of any shape → rows of ``weight`` ``(num_embeddings, embedding_dim)``.

    Rows start as N(0, 1) draws; the row ``padding_idx`` starts at zero and
    receives no gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        _positive("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise OpError(f"Embedding: padding_idx {padding_idx} is outside [-{num_embeddings}, "
                              f"{num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.weight = _empty((num_embeddings, embedding_dim), device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, 1) rows; the padding row zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    def forward(self, input: Tensor) -> Tensor:
        if not input._b.xp.isdtype(input.dtype, "integral"):
            raise DTypeError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): expected integer "
                             f"indices, got dtype {input.dtype}; convert with xpgrad.astype(x, xpgrad.int64)")
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s if self.padding_idx is None else s + f", padding_idx={self.padding_idx}"


class Flatten(Module):
    """Flatten dimensions ``start_dim`` … ``end_dim`` into one (by default all but the batch)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class MultiheadAttention(Module):
    """Multi-head scaled dot-product attention, with PyTorch's parameters and calling convention.

    Parameters: ``in_proj_weight`` ``(3E, E)`` (query, key and value
    projections stacked; Xavier-uniform), ``in_proj_bias`` ``(3E,)`` (zeros)
    and ``out_proj`` (a Linear with zero bias). Inputs are
    ``(L, N, E)`` — ``(N, L, E)`` with ``batch_first=True`` — or unbatched
    ``(L, E)``. Returns ``(output, weights)``; ``weights`` averaged over heads
    unless ``average_attn_weights=False``, ``None`` if ``need_weights=False``.
    ``kdim``/``vdim`` other than ``embed_dim`` are not supported.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        _positive("MultiheadAttention", embed_dim=embed_dim, num_heads=num_heads)
        if embed_dim % num_heads:
            raise OpError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                          f"({num_heads})")
        for name, v in (("kdim", kdim), ("vdim", vdim)):
            if v is not None and v != embed_dim:
                raise OpError(f"MultiheadAttention: {name}={v} different from embed_dim={embed_dim} is not "
                              "supported; project keys and values to embed_dim first")
        if add_bias_kv or add_zero_attn:
            raise OpError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        F._prob("MultiheadAttention", "dropout", dropout)
        self.embed_dim = embed_dim
        self.kdim = self.vdim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.in_proj_weight = _empty((3 * embed_dim, embed_dim), device, dtype)
        if bias:
            self.in_proj_bias = _empty((3 * embed_dim,), device, dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform input projection, zero biases (the output weight keeps Linear's default)."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = True, attn_mask: Tensor | None = None,
                average_attn_weights: bool = True, is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        e = self.embed_dim
        qs, ks, vs = query.shape, key.shape, value.shape
        if len(qs) not in (2, 3) or qs[-1] != e or ks[-1:] != (e,) or vs[-1:] != (e,) \
                or len(ks) != len(qs) or len(vs) != len(qs) or ks[:-1] != vs[:-1]:
            form = "(N, L, E)" if self.batch_first else "(L, N, E)"
            raise ShapeError(f"MultiheadAttention(embed_dim={e}, num_heads={self.num_heads}): expected "
                             f"query, key and value of shape {form} or (L, E) with E = {e}, key and value "
                             f"of one shape; got query {_shape_str(qs)}, key {_shape_str(ks)}, "
                             f"value {_shape_str(vs)}")
        return F.multi_head_attention(
            query, key, value, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.out_proj.weight, self.out_proj.bias, key_padding_mask=key_padding_mask,
            need_weights=need_weights, attn_mask=attn_mask, average_attn_weights=average_attn_weights,
            dropout_p=self.dropout, training=self.training, batch_first=self.batch_first, is_causal=is_causal)

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.batch_first:
            s += ", batch_first=True"
        return s
