"""One exception hierarchy for xpgrad.

Every error derives from :class:`XpgradError` *and* from the built-in exception
a Python programmer would expect (``ValueError``, ``TypeError``,
``RuntimeError``), so existing ``except ValueError:`` code keeps working.
Messages name the op, the shapes, dtypes and devices involved, and what to do.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "XpgradError",
    "ShapeError",
    "DTypeError",
    "DeviceError",
    "DeviceMismatchError",
    "OpError",
    "IndexOutOfBoundsError",
    "NotDifferentiableError",
    "GraphFreedError",
    "InplaceError",
    "BackwardError",
    "RegistryError",
    "OutOfResourcesError",
    "CheckpointError",
    "AnomalyError",
    "DeterminismError",
    "describe",
]


class XpgradError(Exception):
    """Base class of every exception raised by xpgrad."""


class ShapeError(XpgradError, ValueError):
    """Operands have shapes the op cannot combine."""


class DTypeError(XpgradError, TypeError):
    """An operand has a dtype the op or transform does not accept."""


class DeviceError(XpgradError, ValueError):
    """An unknown device string, or a device that does not exist here."""


class DeviceMismatchError(XpgradError, ValueError):
    """Operands of one op live on different devices."""


class OpError(XpgradError, ValueError):
    """The backend refused an op's inputs; the message says which op and why."""


class IndexOutOfBoundsError(XpgradError, IndexError):
    """An index lies outside the array it indexes."""


class NotDifferentiableError(XpgradError, TypeError):
    """A gradient was asked of something that has none (integer input, non-differentiable op)."""


class GraphFreedError(XpgradError, RuntimeError):
    """``backward`` reached a node whose saved values were already released."""


class InplaceError(XpgradError, RuntimeError):
    """An in-place change would corrupt, or already corrupted, a recorded graph."""


class BackwardError(XpgradError, RuntimeError):
    """``backward`` was called in a way that cannot produce gradients."""


class RegistryError(XpgradError, ValueError):
    """An op or rule was defined incorrectly (duplicate name, missing rule, bad signature)."""


class OutOfResourcesError(XpgradError, MemoryError):
    """A kernel could not get the memory, registers or local memory it needs for this call.

    Kernels raise it (or ``MemoryError``) so that the dispatcher can fall back to
    the next-cheapest candidate, as PyTorch's cuDNN algorithm loop does.
    """


class CheckpointError(XpgradError, ValueError):
    """A file given to :func:`xpgrad.load` is not a complete, intact safetensors checkpoint, or
    :func:`xpgrad.save` was given something it cannot store (it then writes nothing)."""


class AnomalyError(XpgradError, FloatingPointError):
    """Under :func:`xpgrad.detect_anomaly`, an op's forward or VJP produced NaN or Inf.

    The message names the op and the stack where it was called; ``.op``, ``.phase``
    (``"forward"`` or ``"backward"``) and ``.stack`` hold the same for programs.
    """

    def __init__(self, message: str, *, op: str = "", phase: str = "", stack: Any = None) -> None:
        super().__init__(message)
        self.op = op
        self.phase = phase
        self.stack = stack


class DeterminismError(XpgradError, RuntimeError):
    """Under :func:`xpgrad.use_deterministic`, a call has no kernel that gives the same bits every run."""


def describe(value: Any) -> str:
    """A short ``shape dtype device`` description of an operand for error messages."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return f"{type(value).__name__} {value!r}"
    dtype = getattr(value, "dtype", "?")
    device = getattr(value, "device", None)
    where = f" on {device}" if device is not None else ""
    return f"{tuple(shape)} {dtype}{where}"
