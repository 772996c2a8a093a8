"""xpgrad: automatic differentiation for any Array API namespace.

``import xpgrad as xp`` gives an Array API namespace whose arrays are
:class:`Tensor` objects that record what is needed to differentiate through
them, plus the functional transforms (``grad``, ``jvp``, ``vjp``, ...).

>>> import xpgrad as xg
>>> x = xg.asarray([1.0, 2.0], requires_grad=True)
>>> y = xg.sum(xg.exp(x))
>>> y.backward()
>>> bool(xg.all(xg.abs(x.grad - xg.exp(x)) < 1e-12))
True
"""

from __future__ import annotations

import sys as _sys

from .core import tensor as _tensor
from .core.device import devices, get_backend
from .core.errors import (BackwardError, DeviceError, DeviceMismatchError, DTypeError,
                          GraphFreedError, IndexOutOfBoundsError, InplaceError,
                          NotDifferentiableError, OpError, OutOfResourcesError, RegistryError, ShapeError,
                          XpgradError, CheckpointError, AnomalyError, DeterminismError)
from .core.registry import Sample, defop, get_op
from .core.registry import ops as registered_ops
from .core.tape import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .core.tensor import Tensor
from .plugins import manager as _plugins

__version__ = "0.1.0"
__array_api_version__ = "2024.12"

# Order matters below: the default backend and the namespace exist before any op is defined,
# and plugins' ops and kernels come after the built-in ops.
_plugins.start()  # the built-in NumPy plugin registers the default `cpu` device
_tensor._NAMESPACE[0] = _sys.modules[__name__]

from . import ops as _ops  # noqa: E402,F401,I001  (registers every op)
from . import autograd, dispatch, fft, linalg, random, testing  # noqa: E402,F401,I001
from .random import manual_seed  # noqa: E402,I001
from ._namespace import *  # noqa: E402,F401,F403,I001
from ._namespace import __all__ as _ns_all  # noqa: E402,I001
from .core.transforms import (custom_jvp, custom_vjp, grad, hessian, hvp, jacfwd,  # noqa: E402,I001
                              jacobian, jacrev, jvp, linearize, value_and_grad, vjp)

__all__ = [
    "Tensor", "defop", "get_op", "registered_ops", "Sample", "devices", "get_backend",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacrev", "jacfwd", "jacobian",
    "hessian", "hvp", "custom_vjp", "custom_jvp", "autograd", "testing", "dispatch",
    "XpgradError", "ShapeError", "DTypeError", "DeviceError", "DeviceMismatchError", "OpError",
    "NotDifferentiableError", "GraphFreedError", "IndexOutOfBoundsError", "InplaceError",
    "BackwardError", "RegistryError", "OutOfResourcesError", "CheckpointError", "AnomalyError",
    "DeterminismError",
    "random", "manual_seed", "linalg", "fft", "save", "load", "nn", "optim", "data",  # noqa: F405  (module __getattr__ below)
    *_ns_all,
]



# Loaded on first use, so ``import xpgrad`` stays light: name -> (module, attribute or None for the module).
_LAZY = {
    "nn": ("nn", None), "optim": ("optim", None), "data": ("data", None),
    "save": ("serialization", "save"), "load": ("serialization", "load"),
    "checkpoint": ("checkpointing", "checkpoint"),
    "checkpoint_sequential": ("checkpointing", "checkpoint_sequential"),
    "amp": ("amp", None), "autocast": ("amp", "autocast"), "GradScaler": ("amp", "GradScaler"),
    "use_deterministic": ("determinism", "use_deterministic"),
    "is_deterministic": ("determinism", "is_deterministic"),
    "detect_anomaly": ("anomaly", "detect_anomaly"), "set_detect_anomaly": ("anomaly", "set_detect_anomaly"),
    "profiler": ("profiler", None), "viz": ("viz", None),
}
__all__ += [n for n in _LAZY if n not in __all__]


def __getattr__(name: str):
    """The names in ``_LAZY`` load on first use."""
    import importlib

    if name in _LAZY:
        mod, attr = _LAZY[name]
        m = importlib.import_module(f"{__name__}.{mod}")
        return m if attr is None else getattr(m, attr)
    raise AttributeError(f"module 'xpgrad' has no attribute {name!r}")


# Other built-in backends (their devices load on first use) and third-party plugins; never raises.
_plugins.finish()
