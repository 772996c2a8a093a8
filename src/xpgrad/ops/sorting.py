"""Searching, sorting and set functions: sort, argsort, searchsorted, nonzero, unique_*, isin.

Names listed in ``NAMESPACE`` that are not ops themselves (wrappers returning
tuples or named tuples) are exported by ``xpgrad._namespace``.
"""

from __future__ import annotations

NAMESPACE: tuple[str, ...] = ()
