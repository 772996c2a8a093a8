"""Optimizers, learning-rate schedules and gradient clipping, shaped like ``torch.optim``.

>>> import xpgrad as xg
>>> w = xg.asarray([3.0], requires_grad=True)
>>> opt = xg.optim.SGD([w], lr=0.25)
>>> for _ in range(3):
...     opt.zero_grad()
...     (w * w).sum().backward()
...     opt.step()
>>> w.tolist()
[0.375]

Every optimizer updates the raw backend arrays in place, on any device, with
no host round trip per step; see :mod:`xpgrad.optim.optimizer`.
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

AdaGrad = Adagrad   # the spelling; PyTorch's is Adagrad

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "AdaGrad", "RMSprop", "lr_scheduler",
           "clip_grad_norm_", "clip_grad_value_"]
