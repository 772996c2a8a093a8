"""Imports fine, but everything it returns is malformed."""

from __future__ import annotations

from xpgrad import defop
from xpgrad.plugins import BackendFamily, hookimpl


@defop("broken_square", registry={})
def broken_square(xp, x, /):
    return x * x        # neither .defvjp nor .defjvp: refused


@hookimpl
def xpgrad_ops() -> list:
    return [broken_square]


@hookimpl
def xpgrad_backend_families() -> list:
    return [BackendFamily("cpu", lambda: [], description="claims the prefix of the NumPy backend")]


@hookimpl
def xpgrad_kernels():
    return {"softmax": lambda xp, x, axis=-1: x}   # a dict, not a list of Kernel
