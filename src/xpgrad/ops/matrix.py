"""The linalg extension's matrix and vector functions, with gradients.

Exported under ``xpgrad.linalg`` (the names in ``LINALG``), not in the main namespace.
"""

from __future__ import annotations

LINALG: tuple[str, ...] = ()
