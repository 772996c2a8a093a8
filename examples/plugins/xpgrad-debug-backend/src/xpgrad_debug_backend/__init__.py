"""A debug device for xpgrad: ``debug:0``, float64-only NumPy that raises on the first NaN.

Run a computation on ``debug:0`` to find where a NaN is born: the first
function or operator whose result holds a NaN raises :class:`NaNError`
naming it::

    >>> import xpgrad as xg
    >>> x = xg.asarray([1.0, -1.0], device="debug:0")
    >>> xg.log(x)                                   # doctest: +SKIP
    OpError: log failed ...: debug:0: log() produced NaN at index (1,) of a (2,) result

Arrays on the device have their own type, :class:`DebugArray` (a thin
``numpy.ndarray`` subclass), so xpgrad routes every op on them to this backend.
"""

from .array import DebugArray, NaNError

__all__ = ["DebugArray", "NaNError"]
