"""The contract a plugin implements: pluggy hook specifications of project ``xpgrad``.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose
names are those below. Built-in backends are plugins like any other; a third
party ships one from its own distribution with an entry point::

    # pyproject.toml of the third party
    [project.entry-points.xpgrad]
    my_chip = "my_chip_xpgrad.plugin"

and ``import xpgrad`` finds it. A plugin that fails to import, or returns
something malformed, is reported by name with the reason and skipped
(``python -m xpgrad info`` lists it); it never breaks ``import xpgrad``.

Every hook returns a list, so one plugin can contribute several things, and
the host knows which plugin each item came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pluggy

from ..core.device import Backend
from ..core.dispatch import Kernel
from ..core.registry import Op

__all__ = ["hookspec", "hookimpl", "BackendFamily", "Kernel", "XpgradSpec", "PROJECT"]

PROJECT = "xpgrad"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass
class BackendFamily:
    """A family of devices (``opencl:0``, ``opencl:1``...) and how to discover them.

    ``load()`` is called once, on first use of a device string with this
    ``prefix`` (or by ``xpgrad.devices()``), not at import, so that a heavy
    driver library costs nothing until it is needed. It returns the usable
    devices as :class:`~xpgrad.core.device.Backend` objects of this family, in
    index order (the host registers them), and raises ``ImportError`` when its
    library is not installed; the host then tells the user to install
    ``install_hint``. When the library imports but a device cannot be used
    (no driver, no card), ``load()`` leaves it out and appends
    ``(device, why)`` to ``unusable``; errors and ``python -m xpgrad info``
    quote the reason.

    >>> BackendFamily("mychip", load_my_chip, description="My accelerator",
    ...               install_hint="pip install my-chip-xpgrad")          # doctest: +SKIP
    """

    prefix: str
    load: Callable[[], list[Backend]]
    description: str = ""
    install_hint: str | None = None  # e.g. "pip install xpgrad[opencl]"
    unusable: list[tuple[str, str]] = field(default_factory=list)  # (device, why) found by load()


# A kernel (one algorithm of an op on a family) is the dispatcher's Kernel: re-exported here.


class XpgradSpec:
    """Hook specifications. Implement any subset; each returns a list."""

    @hookspec
    def xpgrad_backend_families(self) -> list[BackendFamily]:
        """Device families this plugin provides.

        Return :class:`BackendFamily` objects. A prefix already taken by another
        plugin is refused (the first registered wins) and reported.
        """

    @hookspec
    def xpgrad_ops(self) -> list[Op]:
        """New differentiable ops, with their rules and sample inputs.

        Build them with ``xpgrad.defop(name, registry={})`` (a private registry,
        so nothing is registered before the host checks it) and give each a VJP
        or a JVP (or declare ``differentiable=False``) and samples. The host
        refuses, and reports, an op whose name is taken, one without rules, and
        one without samples is registered but reported as *untested*.
        """

    @hookspec
    def xpgrad_kernels(self) -> list[Kernel]:
        """Implementations of existing ops on a backend family: :class:`Kernel` objects.

        Several kernels of one op on one family compete through the cost-model
        dispatcher: give each a ``supports(signature)`` and a ``cost(signature,
        profile)`` (see :mod:`xpgrad.core.dispatch`). A kernel whose result may
        differ from run to run (float atomics) declares ``deterministic=False``:
        ``xpgrad.use_deterministic(True)`` then sets it aside. An op in
        :meth:`xpgrad_ops` whose own forward is not deterministic on some family
        says so with ``defop(..., deterministic={"family"})``. A kernel for an op
        that no plugin defines is refused and reported.
        """
