"""``xpgrad.linalg``: the Array API linalg extension, differentiable, plus ``lu``, ``lstsq``,
``matrix_exp``, ``matrix_log`` and ``matrix_sqrt``.

>>> import xpgrad as xg
>>> a = xg.asarray([[2.0, 1.0], [1.0, 3.0]], requires_grad=True)
>>> round(float(xg.linalg.det(a)), 12)
5.0
"""

from __future__ import annotations

from .ops import decomp as _D
from .ops import linalg as _L
from .ops import matrix as _X

__all__: list[str] = []
for _m in (_L, _X, _D):
    for _name in getattr(_m, "LINALG", ()):
        globals()[_name] = getattr(_m, _name)
        __all__.append(_name)
globals().pop("_m", None)
globals().pop("_name", None)
