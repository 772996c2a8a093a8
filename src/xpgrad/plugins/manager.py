"""The plugin host: finds plugins, checks what they return, registers it, and reports.

Plugins come from two places, in this order:

1. the built-in backends' ``plugin`` modules; ``xpgrad.backends.numpy.plugin``
   comes first, since it provides the default ``cpu`` device, which is loaded
   at import before any op is defined. A built-in module that does not exist
   is reported as *not built*;
2. every installed distribution with an entry point in the ``xpgrad`` group.

Two environment variables choose the third-party plugins (by entry-point or
distribution name, comma-separated):

* ``XPGRAD_PLUGINS=gelu,debug``     load only these;
* ``XPGRAD_DISABLE_PLUGINS=broken`` skip these; ``all`` skips every third-party plugin.

Each hook implementation is called on its own, so whatever it returns is
attributed to its plugin. What is malformed is refused and reported, by
plugin name with the reason, and the rest of that plugin still counts:

* a hook that raises, or returns something other than a list of the right objects;
* a device family whose prefix another plugin took first;
* an op whose name is taken, or with neither a VJP nor a JVP (and not ``differentiable=False``);
* a kernel for an op that no plugin defines.

An op without sample inputs is registered but reported as *untested*. Device
families are loaded lazily: on first use of one of their device strings, or by
``xpgrad.devices()``.

>>> from xpgrad.plugins import report
>>> report().plugins["xpgrad.backends.numpy.plugin"].status
'loaded'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
import importlib
import os
import re
import sys
import threading
from typing import Any

import pluggy

from ..core import dispatch as _dispatch
from ..core import registry
from ..core.device import _BY_DEVICE, Backend, register_backend, register_loader
from ..core.errors import DeviceError
from .hookspecs import PROJECT, BackendFamily, Kernel, XpgradSpec

__all__ = ["PluginHost", "PluginInfo", "FamilyInfo", "Problem", "Report", "report", "register", "host",
           "GROUP", "BUILTIN"]

GROUP = PROJECT  # the entry-point group of third-party distributions
BUILTIN = ("xpgrad.backends.numpy.plugin", "xpgrad.backends.opencl.plugin",
           "xpgrad.backends.fpga.plugin", "xpgrad.backends.cupy.plugin")
DEFAULT_FAMILY = "cpu"
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")

_LOAD_LOCK = threading.RLock()


@dataclass
class PluginInfo:
    """One plugin as the host saw it: where it came from, its status, what it contributed."""

    name: str
    module: str                    # module name (the entry point's value for third parties)
    source: str                    # "built-in", "entry point", or "registered at run time"
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"         # "loaded", "failed", "skipped", "not built"
    reason: str = ""
    path: str | None = None        # the module's file
    families: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    kernels: list[str] = field(default_factory=list)   # "op on family"


@dataclass
class Problem:
    """Something a plugin provided that was refused (or, for *untested*, accepted with a warning)."""

    plugin: str
    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.plugin}: {self.what}: {self.reason}"


@dataclass
class FamilyInfo:
    """A device family, the plugin that provides it, and what loading it found."""

    family: BackendFamily
    plugin: str
    state: str = "not loaded"      # "loading", "loaded", "not installed", "failed"
    devices: list[str] = field(default_factory=list)
    unusable: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None

    @property
    def prefix(self) -> str:
        return self.family.prefix

    @property
    def description(self) -> str:
        return self.family.description


@dataclass
class Report:
    """What :func:`report` returns: the state of every plugin, family and refusal."""

    plugins: dict[str, PluginInfo]
    families: dict[str, FamilyInfo]
    problems: list[Problem]
    untested: list[tuple[str, str]]        # (op, plugin)
    kernels: list[tuple[Kernel, str]]      # kernels accepted from plugins, with their plugin

    @property
    def failed(self) -> list[PluginInfo]:
        """Plugins that were not loaded: failed to import or register, or skipped by the environment."""
        return [p for p in self.plugins.values() if p.status in ("failed", "skipped")]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _names(value: str | None) -> set[str] | None:
    """``"a, b"`` -> ``{"a", "b"}``; unset or empty -> None."""
    if not value or not value.strip():
        return None
    return {_norm(n) for n in value.split(",") if n.strip()}


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class PluginHost:
    """A pluggy ``PluginManager`` for project ``xpgrad`` and the bookkeeping around it.

    ``import xpgrad`` runs one (see :func:`host`); tests make their own::

        h = PluginHost()
        h.add(my_plugin_module, "mine")
        h.collect()
        h.problems   # what was refused, by plugin
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(XpgradSpec)
        self.plugins: dict[str, PluginInfo] = {}
        self.families: dict[str, FamilyInfo] = {}
        self.problems: list[Problem] = []
        self.untested: list[tuple[str, str]] = []
        self.kernels: list[tuple[Kernel, str]] = []
        self._collected: dict[str, set[str]] = {"xpgrad_backend_families": set(), "xpgrad_ops": set(),
                                                "xpgrad_kernels": set()}

    # -- finding plugins -------------------------------------------------------
    def add(self, plugin: Any, name: str, *, source: str = "registered at run time",
            module: str | None = None, distribution: str | None = None,
            version: str | None = None) -> PluginInfo:
        """Register ``plugin`` (a module or an object with ``@hookimpl`` methods) under ``name``."""
        info = PluginInfo(name, module or getattr(plugin, "__name__", type(plugin).__name__), source,
                          distribution, version, path=getattr(plugin, "__file__", None))
        if name in self.plugins:
            info.status, info.reason = "failed", f"another plugin is already registered as {name!r}"
            self.plugins[f"{name} ({distribution or info.module})"] = info
            return info
        self.plugins[name] = info
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy.PluginValidationError, or the same object registered twice
            info.status, info.reason = "failed", _why(exc)
            if self.pm.get_plugin(name) is plugin:  # pluggy keeps the hooks it checked before failing
                self.pm.unregister(name=name)
            return info
        specs = ", ".join(n for n in vars(XpgradSpec) if n.startswith("xpgrad_"))
        callers = self.pm.get_hookcallers(plugin) or []
        for caller in callers:
            if not caller.has_spec():  # a typo such as xpgrad_kernel: it would silently never run
                self.problems.append(Problem(name, f"hook {caller.name}",
                                             f"is not a hook of xpgrad (the hooks are {specs}); ignored"))
        if not callers:
            self.problems.append(Problem(name, "plugin", "implements no xpgrad hook: is it the module with "
                                                         "the @hookimpl functions?"))
        return info

    def add_builtin(self, module_name: str) -> PluginInfo:
        """Import and register a built-in backend's plugin module; a missing one is *not built* yet."""
        name = module_name
        try:
            mod = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing and (module_name == missing or module_name.startswith(missing + ".")):
                info = PluginInfo(name, module_name, "built-in", "xpgrad", _version(), status="not built",
                                  reason=f"module {module_name} does not exist in this installation")
            else:  # the module exists but imports something that is not installed: a bug to report
                info = PluginInfo(name, module_name, "built-in", "xpgrad", _version(), status="failed",
                                  reason=_why(exc))
            self.plugins[name] = info
            return info
        except Exception as exc:
            info = self.plugins[name] = PluginInfo(name, module_name, "built-in", "xpgrad", _version(),
                                                   status="failed", reason=_why(exc))
            return info
        return self.add(mod, name, source="built-in", module=module_name, distribution="xpgrad",
                        version=_version())

    def add_entry_points(self, entry_points: Iterable[Any] | None = None,
                         environ: Mapping[str, str] | None = None) -> None:
        """Load the entry points of group ``xpgrad`` that ``XPGRAD_(DISABLE_)PLUGINS`` allow."""
        env = os.environ if environ is None else environ
        only = _names(env.get("XPGRAD_PLUGINS"))
        disabled = _names(env.get("XPGRAD_DISABLE_PLUGINS")) or set()
        if entry_points is None:
            from importlib.metadata import entry_points as _entry_points

            entry_points = _entry_points(group=GROUP)
        seen: set[tuple[str, str]] = set()
        found: set[str] = set()
        for ep in entry_points:
            if (ep.name, ep.value) in seen:  # one distribution seen twice on sys.path
                continue
            seen.add((ep.name, ep.value))
            dist = getattr(ep, "dist", None)
            dname = getattr(dist, "name", None) if dist is not None else None
            version = getattr(dist, "version", None) if dist is not None else None
            keys = {_norm(ep.name)} | ({_norm(dname)} if dname else set())
            found |= keys
            if "all" in disabled or keys & disabled:
                self._skip(ep.name, ep.value, dname, version, "disabled by XPGRAD_DISABLE_PLUGINS")
                continue
            if only is not None and not keys & only:
                self._skip(ep.name, ep.value, dname, version, "not listed in XPGRAD_PLUGINS")
                continue
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as exc:  # a plugin never breaks import xpgrad
                self._skip(ep.name, ep.value, dname, version, f"failed to import: {_why(exc)}", "failed")
                continue
            self.add(plugin, ep.name, source="entry point", module=ep.value, distribution=dname,
                     version=version)
        for missing in sorted((only or set()) - found):
            self.problems.append(Problem("XPGRAD_PLUGINS", repr(missing),
                                         "no installed distribution has an xpgrad entry point of that name"))

    def _skip(self, name: str, module: str, dist: str | None, version: str | None, reason: str,
              status: str = "skipped") -> None:
        key = name if name not in self.plugins else f"{name} ({dist or module})"
        self.plugins[key] = PluginInfo(name, module, "entry point", dist, version, status=status,
                                       reason=reason)

    # -- collecting what plugins provide ---------------------------------------------
    def collect(self, hooks: tuple[str, ...] = ("xpgrad_backend_families", "xpgrad_ops", "xpgrad_kernels")
                ) -> None:
        """Call ``hooks`` of every registered plugin not asked yet; check and register the results.

        Families come first, then ops, then kernels, so that a kernel may be for
        an op that a later plugin defines.
        """
        for name, plugin in self.pm.list_name_plugin():  # objects given straight to self.pm.register
            if name not in self.plugins and plugin is not None:
                module = getattr(plugin, "__name__", type(plugin).__name__)
                self.plugins[name] = PluginInfo(name, module, "registered at run time",
                                                path=getattr(plugin, "__file__", None))
        for hook, kind, add in (("xpgrad_backend_families", BackendFamily, self._add_family),
                                ("xpgrad_ops", registry.Op, self._add_op),
                                ("xpgrad_kernels", Kernel, self._add_kernel)):
            if hook not in hooks:
                continue
            for plugin, item in self._results(hook, kind):
                try:
                    add(plugin, item)
                except Exception as exc:  # e.g. an op whose name is not a string
                    self.problems.append(Problem(plugin, hook, f"{_why(exc)} while checking {item!r:.60}; "
                                                               f"skipped"))

    def _results(self, hook: str, kind: type) -> Iterator[tuple[str, Any]]:
        """``(plugin name, item)`` for each well-formed item, plugins in registration order."""
        order = {name: i for i, name in enumerate(self.plugins)}
        done = self._collected[hook]
        loaded = {n for n, p in self.plugins.items() if p.status == "loaded"}
        impls = [i for i in getattr(self.pm.hook, hook).get_hookimpls()
                 if i.plugin_name not in done and i.plugin_name in loaded]
        for impl in sorted(impls, key=lambda i: order.get(i.plugin_name, len(order))):
            name = impl.plugin_name
            done.add(name)
            try:
                out = impl.function()
            except Exception as exc:
                self.problems.append(Problem(name, hook, f"raised {_why(exc)}; nothing it provides is used"))
                continue
            if not isinstance(out, (list, tuple)):
                self.problems.append(Problem(name, hook, f"returned {type(out).__name__}, not a list of "
                                                         f"{kind.__name__}; nothing it provides is used"))
                continue
            for item in out:
                if isinstance(item, kind):
                    yield name, item
                else:
                    what = f"returned {_a(type(item).__name__)} ({item!r:.60}) in its list"
                    self.problems.append(Problem(name, hook, f"{what}, not {_a(kind.__name__)}; skipped"))

    def _add_family(self, plugin: str, fam: BackendFamily) -> None:
        what = f"device family {fam.prefix!r}"
        if not isinstance(fam.prefix, str) or not _PREFIX.fullmatch(fam.prefix):
            reason = "a prefix is a name without ':' such as 'opencl'"
        elif not callable(fam.load):
            reason = "its load is not callable"
        elif fam.prefix in self.families:
            reason = f"prefix {fam.prefix!r} is already taken by plugin {self.families[fam.prefix].plugin!r}"
        elif any(b.family == fam.prefix for b in _BY_DEVICE.values()):
            reason = f"prefix {fam.prefix!r} is already taken by a backend registered directly"
        else:
            info = self.families[fam.prefix] = FamilyInfo(fam, plugin)
            register_loader(fam.prefix, lambda: self.load_family(info))
            self._info(plugin).families.append(fam.prefix)
            return
        self.problems.append(Problem(plugin, what, f"refused: {reason}"))

    def _add_op(self, plugin: str, op: registry.Op) -> None:
        what = f"op {op.name!r}"
        existing = registry.ops().get(op.name)
        if existing is op:
            reason = (f"it is already registered: the plugin registered it itself at import; build it with "
                      f"defop({op.name!r}, registry={{}}) and return it from xpgrad_ops")
        elif existing is not None:
            reason = f"an op named {op.name!r} is already registered (from {existing.__module__})"
        elif op.differentiable and not op.has_vjp and not op.has_jvp:
            reason = ("it has neither a VJP nor a JVP rule; give one with .defvjp/.defjvp, "
                      "or declare it with differentiable=False")
        else:
            try:
                op._complete()  # derive the missing rule, if any, before anyone can call it
                registry.register_op(op)
            except Exception as exc:
                reason = _why(exc)
            else:
                self._info(plugin).ops.append(op.name)
                if not op.samples and op.sample_fn is None:
                    self.untested.append((op.name, plugin))
                    self.problems.append(Problem(plugin, what, "registered but untested: it declares no "
                                                               "sample inputs (op.defsamples)"))
                return
        self.problems.append(Problem(plugin, what, f"refused: {reason}"))

    def _add_kernel(self, plugin: str, k: Kernel) -> None:
        what = f"kernel {k.name!r} for op {k.op!r} on {k.family!r}"
        if not isinstance(k.op, str) or k.op not in registry.ops():
            reason = f"no op named {k.op!r} is registered (by xpgrad or any plugin)"
        elif not isinstance(k.family, str) or not _PREFIX.fullmatch(k.family):
            reason = "its family must be a family prefix such as 'opencl'"
        elif not callable(k.forward):
            reason = "its forward is not callable"
        else:
            _dispatch.register(k, plugin=plugin)
            self.kernels.append((k, plugin))
            self._info(plugin).kernels.append(f"{k.op} on {k.family}")
            return
        self.problems.append(Problem(plugin, what, f"refused: {reason}"))

    def _info(self, plugin: str) -> PluginInfo:
        info = self.plugins.get(plugin)
        if info is None:
            info = self.plugins[plugin] = PluginInfo(plugin, plugin, "registered at run time")
        return info

    # -- device families ---------------------------------------------------------------
    def load_family(self, info: FamilyInfo) -> str | None:
        """The loader behind ``register_loader``: load once, register the backends, remember why not.

        Raises :class:`DeviceError` when the family has no usable device here;
        returns a note on its unusable devices, if any.
        """
        prefix = info.prefix
        with _LOAD_LOCK:  # two threads asking for "opencl:0" at once: one loads, the other waits
            self._load_once(info)
        if info.error:
            raise DeviceError(info.error)
        note = "; ".join(f"{d} is unusable: {why}" for d, why in info.unusable) or None
        if info.state == "loaded" and not info.devices:
            raise DeviceError(f"no usable {prefix!r} device here" + (f" ({note})" if note else ""))
        return note

    def _load_once(self, info: FamilyInfo) -> None:
        prefix = info.prefix
        if info.state == "not loaded":
            info.state = "loading"
            try:
                backends = info.family.load()
            except ImportError as exc:
                info.state = "not installed"
                hint = info.family.install_hint
                info.error = (f"the {prefix!r} device family needs a library that is not installed here "
                              f"({exc})" + (f"; install it with: {hint}" if hint else ""))
            except Exception as exc:
                info.state = "failed"
                info.error = f"plugin {info.plugin!r} failed to load device family {prefix!r}: {_why(exc)}"
                self.problems.append(Problem(info.plugin, f"device family {prefix!r}", f"load() raised "
                                                                                        f"{_why(exc)}"))
            except BaseException:  # KeyboardInterrupt mid-load: let a later call try again
                info.state = "not loaded"
                raise
            else:
                info.state = "loaded"
                self._register_backends(info, backends)
            info.unusable = [(str(d), str(why)) for d, why in _pairs(info.family.unusable)]

    def _register_backends(self, info: FamilyInfo, backends: Any) -> None:
        prefix = info.prefix
        what = f"device family {prefix!r}"
        if not isinstance(backends, (list, tuple)):
            info.error = f"plugin {info.plugin!r}: load() of family {prefix!r} returned " \
                         f"{type(backends).__name__}, not a list of Backend"
            info.state = "failed"
            self.problems.append(Problem(info.plugin, what, info.error))
            return
        for b in backends:
            if not isinstance(b, Backend):
                self.problems.append(Problem(info.plugin, what, f"load() returned {_a(type(b).__name__)}, "
                                                                f"not a Backend; skipped"))
            elif b.family != prefix:
                self.problems.append(Problem(info.plugin, what, f"load() returned {b.device!r} of family "
                                                                f"{b.family!r}; skipped"))
            elif _BY_DEVICE.get(b.device) not in (None, b):
                self.problems.append(Problem(info.plugin, what, f"device {b.device!r} is already registered "
                                                                f"by another backend; skipped"))
            else:
                if _BY_DEVICE.get(b.device) is not b:  # load() may have registered it itself
                    register_backend(b)
                info.devices.append(b.device)

    def report(self) -> Report:
        return Report(dict(self.plugins), dict(self.families), list(self.problems), list(self.untested),
                      list(self.kernels))

    # -- the two steps of import xpgrad -------------------------------------------------
    def start(self) -> None:
        """Register the built-in NumPy plugin and load the default ``cpu`` device (before any op exists)."""
        info = self.add_builtin(BUILTIN[0])
        self.collect(("xpgrad_backend_families",))
        fam = self.families.get(DEFAULT_FAMILY)
        if fam is None:
            raise DeviceError(f"the built-in NumPy plugin did not provide the default 'cpu' device: "
                              f"{info.reason or '; '.join(map(str, self.problems)) or 'no family'}")
        self.load_family(fam)

    def finish(self, environ: Mapping[str, str] | None = None) -> None:
        """Register the other built-in backends and the third-party plugins, then collect everything."""
        for name in BUILTIN[1:]:
            self.add_builtin(name)
        self.add_entry_points(environ=environ)
        self.collect()


def _pairs(items: Any) -> list[tuple[Any, Any]]:
    out = []
    for it in items or ():
        if isinstance(it, (tuple, list)) and len(it) == 2:
            out.append((it[0], it[1]))
        else:
            out.append((it, "unusable"))
    return out


def _version() -> str | None:
    return getattr(sys.modules.get("xpgrad"), "__version__", None)  # read while xpgrad is importing


_HOST: list[PluginHost] = []


def host() -> PluginHost:
    """The host ``import xpgrad`` runs."""
    if not _HOST:
        _HOST.append(PluginHost())
    return _HOST[0]


def start() -> None:
    """First step of ``import xpgrad``: the default ``cpu`` device, before the ops are defined."""
    host().start()


def finish() -> None:
    """Last step of ``import xpgrad``: every other plugin. Never raises."""
    h = host()
    try:
        h.finish()
    except Exception as exc:  # a bug of the host itself must not break import xpgrad either
        h.problems.append(Problem("xpgrad", "plugin host", f"stopped early: {_why(exc)}"))


def register(plugin: Any, name: str) -> list[Problem]:
    """Register a plugin at run time (a module or object with ``@hookimpl`` functions).

    Returns the problems found with it; what is well formed is registered.

    >>> from xpgrad.plugins import hookimpl
    >>> class NoOps:
    ...     @hookimpl
    ...     def xpgrad_ops(self):
    ...         return []
    >>> register(NoOps(), "no-ops")
    []
    """
    h = host()
    before = len(h.problems)
    info = h.add(plugin, name)
    if info.status != "loaded":
        return [Problem(name, "plugin", info.reason)]
    h.collect()
    return h.problems[before:]


def report() -> Report:
    """What the plugins of this process provided, and what was refused and why.

    >>> import xpgrad
    >>> r = report()
    >>> sorted(r.families)[:1], r.plugins["xpgrad.backends.numpy.plugin"].source
    (['cpu'], 'built-in')
    """
    return host().report()
