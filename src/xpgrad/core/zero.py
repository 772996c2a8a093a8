"""The symbolic zero tangent used by single-function JVP rules."""

from __future__ import annotations

from typing import Any

__all__ = ["ZERO"]


class _Zero:
    """A symbolic zero tangent for single-function JVP rules: absorbs products, vanishes in sums."""

    __slots__ = ()
    __array_ufunc__ = None
    __array_priority__ = 10_000

    def __repr__(self) -> str:
        return "ZERO"

    def __mul__(self, other: Any) -> "_Zero":
        return self
    __rmul__ = __truediv__ = __matmul__ = __rmatmul__ = __mul__

    def __add__(self, other: Any) -> Any:
        return other
    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        return other if other is self else -other

    def __rsub__(self, other: Any) -> Any:
        return other

    def __neg__(self) -> "_Zero":
        return self

    def __bool__(self) -> bool:
        return False


ZERO = _Zero()
