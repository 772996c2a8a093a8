"""``xpgrad.fft``: the Array API fft extension, differentiable.

>>> import xpgrad as xg
>>> xg.fft.fft(xg.asarray([1.0, 0.0, 0.0, 0.0])).shape
(4,)
"""

from __future__ import annotations

from .ops import fft as _F

__all__: list[str] = []
for _name in _F.FFT:
    globals()[_name] = getattr(_F, _name)
    __all__.append(_name)
globals().pop("_name", None)
