"""Fixtures of the conformance tests: a sandbox for deliberately broken plugins, and run times.

``sandbox`` snapshots every table a plugin registered at run time can touch (the
op registry, kernels by family and per op, backends by device and by array type,
device loaders, the plugin host's records, the fpga profile cache) and restores
them afterwards, so a mutation never leaks into another test. It checks the
restoration too.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.core import device, dispatch, registry
from xpgrad.plugins import BackendFamily, hookimpl
from xpgrad.plugins import manager

TIMES: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter):
    if TIMES:
        terminalreporter.write_sep("-", "xpgrad conformance: full run per device")
        for d, s in TIMES.items():
            terminalreporter.write_line(f"{d:<10} {s:6.1f} s")


class Plugin:
    """An in-process plugin: ``Plugin(families=[...], ops=[...], kernels=[...])``."""

    def __init__(self, *, families=(), ops=(), kernels=()):
        self._families, self._ops, self._kernels = list(families), list(ops), list(kernels)

    @hookimpl
    def xpgrad_backend_families(self):
        return self._families

    @hookimpl
    def xpgrad_ops(self):
        return self._ops

    @hookimpl
    def xpgrad_kernels(self):
        return self._kernels


def _snapshot():
    h = manager.host()
    from xpgrad.backends.fpga import cost as fpga_cost

    return {
        "ops": dict(registry._OPS),
        "op_kernels": {n: dict(op.kernels) for n, op in registry._OPS.items()},
        "kernels": {k: list(v) for k, v in dispatch._REG.items()},
        "by_device": dict(device._BY_DEVICE), "by_type": dict(device._BY_TYPE),
        "shared": {t: list(v) for t, v in device._SHARED.items()}, "default": list(device._DEFAULT),
        "loaders": dict(device._LOADERS), "on_register": list(device._ON_REGISTER),
        "plugins": dict(h.plugins), "families": dict(h.families), "problems": list(h.problems),
        "untested": list(h.untested), "host_kernels": list(h.kernels),
        "collected": {k: set(v) for k, v in h._collected.items()},
        "pm": {name for name, _ in h.pm.list_name_plugin()},
        "fpga_profiles": dict(fpga_cost._PROFILES),
    }


def _restore(s):
    h = manager.host()
    from xpgrad.backends.fpga import cost as fpga_cost

    for name, plugin in list(h.pm.list_name_plugin()):
        if name not in s["pm"]:
            h.pm.unregister(plugin=plugin, name=name)
    for table, saved in ((registry._OPS, s["ops"]), (device._BY_DEVICE, s["by_device"]),
                         (device._BY_TYPE, s["by_type"]), (device._SHARED, s["shared"]),
                         (device._LOADERS, s["loaders"]), (h.plugins, s["plugins"]),
                         (h.families, s["families"]), (fpga_cost._PROFILES, s["fpga_profiles"])):
        table.clear()
        table.update(saved)
    device._DEFAULT[:] = s["default"]
    device._ON_REGISTER[:] = s["on_register"]
    dispatch._REG.clear()
    dispatch._REG.update({k: list(v) for k, v in s["kernels"].items()})
    for name, op in registry._OPS.items():
        op.kernels.clear()
        op.kernels.update(s["op_kernels"].get(name, {}))
    h.problems[:] = s["problems"]
    h.untested[:] = s["untested"]
    h.kernels[:] = s["host_kernels"]
    for k, v in s["collected"].items():
        h._collected[k].clear()
        h._collected[k].update(v)


class Sandbox:
    """Register in-process plugins; everything is undone when the test ends."""

    def register(self, name, **parts):
        problems = manager.register(Plugin(**parts), name)
        refused = [str(p) for p in problems if "untested" not in p.reason]
        assert not refused, refused
        return problems

    def mutcpu(self, name="mutcpu", profile=None):
        """A fake family ``name`` whose one device is a copy of the cpu backend (NumPy arrays)."""
        from xpgrad.backends.numpy import NumpyBackend
        from xpgrad.backends.numpy import namespace as xp_numpy

        cpu = xg.get_backend("cpu")
        prof = cpu.profile if profile is None else profile
        return BackendFamily(name, lambda: [NumpyBackend(f"{name}:0", xp_numpy, (np.ndarray,), family=name,
                                                         profile=prof)])

    def f32only(self, name="f32only"):
        """A fake family ``name`` whose device has no float64: the cpu namespace refusing it (and not listing
        it in ``__array_namespace_info__``), as a float32-only accelerator would."""
        import types

        from xpgrad.backends.numpy import NumpyBackend
        from xpgrad.backends.numpy import namespace as xp_numpy

        xp = types.ModuleType(f"{name}_namespace")
        xp.__dict__.update({k: v for k, v in vars(xp_numpy).items() if not k.startswith("__")})

        class Info:
            def __getattr__(self, attr):
                return getattr(xp_numpy.__array_namespace_info__(), attr)

            def dtypes(self, *, device=None, kind=None):
                found = xp_numpy.__array_namespace_info__().dtypes(device=device, kind=kind)
                return {k: v for k, v in found.items() if k not in ("float64", "complex128")}

        def refuse(dtype):
            if dtype is not None and np.dtype(dtype) in (np.float64, np.complex128):
                raise TypeError(f"float64 is not supported on {name}:0")

        def asarray(obj, /, *, dtype=None, device=None, copy=None):
            refuse(dtype)
            out = xp_numpy.asarray(obj, dtype=dtype, device=device, copy=copy)
            return out.astype(np.float32) if out.dtype == np.float64 else out

        def astype(x, dtype, /, *, copy=True, device=None):
            refuse(dtype)
            return xp_numpy.astype(x, dtype, copy=copy)
        xp.__array_namespace_info__, xp.asarray, xp.astype = Info, asarray, astype
        prof = xg.get_backend("cpu").profile
        return BackendFamily(name, lambda: [NumpyBackend(f"{name}:0", xp, (np.ndarray,), family=name,
                                                         profile=prof)])

    def mutfpga(self, name="mutfpga"):
        """A fake family ``name`` whose one device is a copy of the fpga template (a card of its own)."""
        from xpgrad.backends.fpga.array import FPGADevice
        from xpgrad.backends.fpga.backend import FPGABackend

        def load():
            dev = FPGADevice(97)      # not in the fpga template's device table: nothing global changes
            dev.name = f"{name}:0"
            b = FPGABackend(dev)
            b.family = name
            return [b]
        return BackendFamily(name, load)


@pytest.fixture
def sandbox():
    before = _snapshot()
    try:
        yield Sandbox()
    finally:
        _restore(before)
    after = _snapshot()
    for key in ("ops", "kernels", "by_device", "loaders", "plugins", "families"):
        assert after[key] == before[key], f"the sandbox leaked into {key}"
    assert after["op_kernels"] == before["op_kernels"], "the sandbox leaked kernels into op.kernels"


@pytest.fixture(scope="session")
def timed():
    """``timed(device, fn)``: ``fn()``, its time recorded for the summary at the end of the session."""
    def call(device, fn):
        t0 = time.perf_counter()
        out = fn()
        TIMES[device] = time.perf_counter() - t0
        return out
    return call
