"""``xpgrad.nn``: modules, layers, activations and losses that feel like ``torch.nn``, on every device.

>>> import xpgrad as xg
>>> from xpgrad import nn
>>> _ = xg.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
>>> loss = nn.CrossEntropyLoss()(model(xg.ones((2, 4), dtype=xg.float32)), xg.asarray([0, 2]))
>>> loss.backward()
>>> model[0].weight.grad.shape
(8, 4)

``nn.functional`` holds the same computations as functions, ``nn.init`` the
weight initialisations and ``nn.utils`` gradient clipping and parameter
vectors.
"""

from . import functional, init, utils
from .activation import (ELU, GELU, LeakyReLU, LogSoftmax, Mish, ReLU, Sigmoid, SiLU, Softmax, Softplus,
                         Swish, Tanh)
from .containers import ModuleDict, ModuleList, Sequential
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose2d,
                     Dropout, Embedding, Flatten, GroupNorm, Identity, LayerNorm, Linear, MaxPool2d,
                     MultiheadAttention)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss,
                   NLLLoss, SmoothL1Loss)
from .module import IncompatibleKeys, Module, Parameter, StateDictError, functional_call

__all__ = [
    "functional", "init", "utils",
    "Module", "Parameter", "StateDictError", "IncompatibleKeys", "functional_call",
    "Sequential", "ModuleList", "ModuleDict",
    "Identity", "Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout", "Embedding", "Flatten",
    "MultiheadAttention",
    "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Swish", "Mish", "Softplus", "Sigmoid", "Tanh", "Softmax",
    "LogSoftmax",
    "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
    "BCEWithLogitsLoss", "KLDivLoss",
]
