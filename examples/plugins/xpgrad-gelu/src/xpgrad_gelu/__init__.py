"""``gelu_fused``: GELU (tanh approximation) as one xpgrad op.

>>> import xpgrad as xg
>>> from xpgrad_gelu import gelu_fused
>>> round(float(gelu_fused(xg.asarray(1.0))), 6)
0.841192
"""

from .plugin import gelu_fused

__all__ = ["gelu_fused"]
