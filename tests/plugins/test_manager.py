"""The plugin host's checks, with in-process fake plugins: each malformed case is reported and skipped."""

from __future__ import annotations

import array_api_compat.numpy as compat_numpy
import pytest

import xpgrad as xg
from xpgrad import backends
from xpgrad.core import device, dispatch, registry
from xpgrad.core.device import Backend
from xpgrad.plugins import BackendFamily, Kernel, PluginHost, hookimpl, report
from xpgrad.plugins import manager


@pytest.fixture
def host():
    """A fresh PluginHost; whatever it registers in the global tables is removed afterwards."""
    ops = dict(registry._OPS)
    kernels = {k: list(v) for k, v in dispatch._REG.items()}
    op_kernels = {name: dict(op.kernels) for name, op in ops.items()}
    by_device, by_type, default = dict(device._BY_DEVICE), dict(device._BY_TYPE), list(device._DEFAULT)
    shared = {t: list(v) for t, v in device._SHARED.items()}
    loaders = dict(device._LOADERS)
    yield PluginHost()
    for table, saved in ((registry._OPS, ops), (device._BY_DEVICE, by_device), (device._BY_TYPE, by_type),
                         (device._SHARED, shared), (device._LOADERS, loaders)):
        table.clear()
        table.update(saved)
    device._DEFAULT[:] = default
    dispatch._REG.clear()
    dispatch._REG.update(kernels)
    for name, op in ops.items():
        op.kernels.clear()
        op.kernels.update(op_kernels[name])


def _op(name, *, vjp=True, jvp=True, samples=True, differentiable=True):
    @xg.defop(name, registry={}, differentiable=differentiable)
    def op(xp, x, /):
        return 3 * x

    if vjp:
        op.defvjp(lambda xp, g, out, x: 3 * g)
    if jvp:
        op.defjvp(lambda xp, t, out, x: 3 * t)
    if samples:
        op.defsamples(xg.Sample((("randn", (3,)),)))
    return op


class Plugin:
    """A fake plugin: ``Plugin(ops=[...], kernels=[...], families=[...])``."""

    def __init__(self, *, ops=None, kernels=None, families=None):
        self._ops, self._kernels, self._families = ops, kernels, families

    @hookimpl
    def xpgrad_ops(self):
        return self._ops if self._ops is not None else []

    @hookimpl
    def xpgrad_kernels(self):
        return self._kernels if self._kernels is not None else []

    @hookimpl
    def xpgrad_backend_families(self):
        return self._families if self._families is not None else []


def _problems(h, plugin):
    return [f"{p.what}: {p.reason}" for p in h.problems if p.plugin == plugin]


def _collect(h, *plugins):
    for name, p in plugins:
        h.add(p, name)
    h.collect()


# -- ops ---------------------------------------------------------------------------------------------


def test_a_valid_op_is_registered_and_works(host):
    _collect(host, ("good", Plugin(ops=[_op("fake_triple")])))
    assert _problems(host, "good") == []
    op = xg.get_op("fake_triple")
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    xg.sum(op(x)).backward()
    assert x.grad.tolist() == [3.0, 3.0]
    assert host.plugins["good"].ops == ["fake_triple"]


def test_an_op_whose_name_is_taken_is_refused(host):
    _collect(host, ("dup", Plugin(ops=[_op("exp")])))
    assert _problems(host, "dup") == [
        "op 'exp': refused: an op named 'exp' is already registered (from xpgrad.ops.elementwise)"]
    assert xg.get_op("exp").__module__ == "xpgrad.ops.elementwise"


def test_the_first_of_two_plugins_defining_an_op_wins(host):
    first, second = _op("fake_twice"), _op("fake_twice")
    _collect(host, ("first", Plugin(ops=[first])), ("second", Plugin(ops=[second])))
    assert xg.get_op("fake_twice") is first
    assert "already registered" in _problems(host, "second")[0]


def test_an_op_registered_at_plugin_import_is_reported(host):
    op = xg.defop("fake_global")(lambda xp, x, /: x)   # no registry={}: registered before the host saw it
    _collect(host, ("eager", Plugin(ops=[op])))
    assert "registry={}" in _problems(host, "eager")[0]


def test_an_op_without_rules_is_refused(host):
    _collect(host, ("norules", Plugin(ops=[_op("fake_norules", vjp=False, jvp=False)])))
    assert _problems(host, "norules") == [
        "op 'fake_norules': refused: it has neither a VJP nor a JVP rule; give one with .defvjp/.defjvp, "
        "or declare it with differentiable=False"]
    assert "fake_norules" not in xg.registered_ops()


def test_a_non_differentiable_op_needs_no_rules(host):
    _collect(host, ("flat", Plugin(ops=[_op("fake_flat", vjp=False, jvp=False, differentiable=False)])))
    assert _problems(host, "flat") == []
    assert not xg.get_op("fake_flat").differentiable


def test_an_op_with_one_rule_gets_the_other_derived(host):
    _collect(host, ("half", Plugin(ops=[_op("fake_vjp_only", jvp=False)])))
    op = xg.get_op("fake_vjp_only")
    assert op.derived == "jvp"
    xg.testing.check_grads(op, [xg.asarray([0.5, -1.0])], order=1)


def test_an_op_without_samples_is_registered_but_untested(host):
    _collect(host, ("nosamples", Plugin(ops=[_op("fake_untested", samples=False)])))
    assert "fake_untested" in xg.registered_ops()
    assert host.untested == [("fake_untested", "nosamples")]
    assert "untested" in _problems(host, "nosamples")[0]


# -- hooks that return the wrong thing ------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ({"a": 1}, "xpgrad_ops: returned dict, not a list of Op; nothing it provides is used"),
    (None, "xpgrad_ops: returned NoneType, not a list of Op; nothing it provides is used"),
    ("exp", "xpgrad_ops: returned str, not a list of Op; nothing it provides is used"),
])
def test_a_hook_must_return_a_list(host, value, expected):
    class P:
        @hookimpl
        def xpgrad_ops(self):
            return value

    _collect(host, ("notalist", P()))
    assert _problems(host, "notalist") == [expected]


def test_wrong_items_are_skipped_and_the_right_ones_kept(host):
    _collect(host, ("mixed", Plugin(ops=[_op("fake_kept"), "gelu", 3])))
    assert "fake_kept" in xg.registered_ops()
    problems = _problems(host, "mixed")
    assert len(problems) == 2 and all("not an Op; skipped" in p for p in problems)
    assert "returned a str ('gelu')" in problems[0]


def test_a_hook_that_raises_is_reported(host):
    class P:
        @hookimpl
        def xpgrad_kernels(self):
            raise RuntimeError("driver exploded")

    _collect(host, ("raises", P()))
    assert _problems(host, "raises") == [
        "xpgrad_kernels: raised RuntimeError: driver exploded; nothing it provides is used"]


def test_a_misspelt_hook_is_reported(host):
    class P:
        @hookimpl
        def xpgrad_kernel(self):   # the hook is xpgrad_kernels
            return []

    _collect(host, ("typo", P()))
    assert _problems(host, "typo")[0].startswith("hook xpgrad_kernel: is not a hook of xpgrad")


def test_a_hookimpl_with_arguments_not_in_the_contract_fails_to_register(host):
    class P:
        @hookimpl
        def xpgrad_ops(self, registry):
            return []

    info = host.add(P(), "badargs")
    assert info.status == "failed"
    assert "PluginValidationError" in info.reason and "registry" in info.reason


# -- kernels ------------------------------------------------------------------------------------------


def test_a_kernel_for_an_unknown_op_is_refused(host):
    k = Kernel("no_such_op", "cpu", lambda xp, x: x)
    _collect(host, ("orphan", Plugin(kernels=[k])))
    assert _problems(host, "orphan") == [
        "kernel 'default' for op 'no_such_op' on 'cpu': refused: no op named 'no_such_op' is registered "
        "(by xpgrad or any plugin)"]
    assert all(name != "no_such_op" for name, _, _ in backends.kernels())


def test_a_kernel_may_be_for_an_op_of_a_later_plugin(host):
    fwd = lambda xp, x, /: 3.0 * x
    _collect(host, ("kernel-first", Plugin(kernels=[Kernel("fake_later", "cpu", fwd)])),
             ("op-later", Plugin(ops=[_op("fake_later")])))
    assert _problems(host, "kernel-first") == []
    assert xg.get_op("fake_later").kernels[xg.get_backend("cpu")] is fwd
    assert xg.get_op("fake_later")(xg.asarray([2.0])).tolist() == [6.0]


# -- device families ----------------------------------------------------------------------------------


class _FakeArray:
    pass


def _backends(prefix, n):
    return [Backend(f"{prefix}:{i}", compat_numpy, (_FakeArray,), family=prefix) for i in range(n)]


def test_a_family_loads_on_first_use_and_lists_its_devices_in_errors(host):
    calls = []

    def load():
        calls.append(1)
        return _backends("fakedev", 2)

    _collect(host, ("fam", Plugin(families=[BackendFamily("fakedev", load)])))
    assert calls == []                                  # nothing loaded at registration
    assert xg.get_backend("fakedev:1").device == "fakedev:1"
    with pytest.raises(xg.DeviceError, match=r"no device 'fakedev:7': the 'fakedev' family has 2 device\(s\) "
                                             r"here: fakedev:0, fakedev:1"):
        xg.get_backend("fakedev:7")
    assert calls == [1]                                 # loaded once
    assert host.families["fakedev"].state == "loaded"


def test_a_family_prefix_already_taken_is_refused(host):
    a = BackendFamily("fakedup", lambda: _backends("fakedup", 1))
    b = BackendFamily("fakedup", lambda: _backends("fakedup", 3))
    cpu = BackendFamily("cpu", lambda: [])
    _collect(host, ("a", Plugin(families=[a])), ("b", Plugin(families=[b, cpu])))
    assert _problems(host, "b") == [
        "device family 'fakedup': refused: prefix 'fakedup' is already taken by plugin 'a'",
        "device family 'cpu': refused: prefix 'cpu' is already taken by a backend registered directly"]
    assert host.families["fakedup"].family is a


def test_a_family_prefix_must_be_a_name(host):
    _collect(host, ("colon", Plugin(families=[BackendFamily("fake:0", lambda: [])])))
    assert "a prefix is a name without ':'" in _problems(host, "colon")[0]


def test_a_family_whose_library_is_missing_says_what_to_install(host):
    def load():
        raise ImportError("No module named 'quantum_driver'")

    fam = BackendFamily("fakeq", load, install_hint="pip install xpgrad[quantum]")
    _collect(host, ("q", Plugin(families=[fam])))
    with pytest.raises(xg.DeviceError) as e:
        xg.get_backend("fakeq:0")
    assert "device 'fakeq:0' is not available" in str(e.value)
    assert "No module named 'quantum_driver'" in str(e.value)
    assert str(e.value).endswith("install it with: pip install xpgrad[quantum]")
    assert host.families["fakeq"].state == "not installed"
    assert "fakeq:0" not in xg.devices()                # devices() skips it quietly


def test_a_family_without_usable_devices_says_why(host):
    fam = BackendFamily("fakenone", lambda: [])
    fam.unusable.append(("fakenone:0", "no device: driver too old"))
    _collect(host, ("none", Plugin(families=[fam])))
    with pytest.raises(xg.DeviceError, match="no usable 'fakenone' device here "
                                             r"\(fakenone:0 is unusable: no device: driver too old\)"):
        xg.get_backend("fakenone:0")
    assert host.families["fakenone"].unusable == [("fakenone:0", "no device: driver too old")]


def test_a_family_whose_load_fails_is_reported_by_plugin(host):
    def load():
        raise RuntimeError("segfault avoided")

    _collect(host, ("crashy", Plugin(families=[BackendFamily("fakecrash", load)])))
    with pytest.raises(xg.DeviceError, match="plugin 'crashy' failed to load device family 'fakecrash': "
                                             "RuntimeError: segfault avoided"):
        xg.get_backend("fakecrash:0")
    assert _problems(host, "crashy") == [
        "device family 'fakecrash': load() raised RuntimeError: segfault avoided"]


def test_a_family_returning_wrong_backends_keeps_the_right_ones(host):
    good = _backends("fakemix", 1)[0]
    other = _backends("fakeother", 1)[0]
    _collect(host, ("mix", Plugin(families=[BackendFamily("fakemix", lambda: [good, "gpu", other])])))
    assert xg.get_backend("fakemix:0") is good
    assert _problems(host, "mix") == [
        "device family 'fakemix': load() returned a str, not a Backend; skipped",
        "device family 'fakemix': load() returned 'fakeother:0' of family 'fakeother'; skipped"]


def test_an_unknown_device_family_lists_the_known_ones():
    with pytest.raises(xg.DeviceError) as e:
        xg.get_backend("tpu:0")
    msg = str(e.value)
    assert "no device family 'tpu'" in msg and "known families: " in msg and "cpu" in msg


# -- entry points and the environment -------------------------------------------------------------------


class _Dist:
    def __init__(self, name):
        self.name, self.version = name, "1.2.3"


class _EntryPoint:
    def __init__(self, name, obj, dist="fake-dist"):
        self.name, self.value, self.dist, self._obj = name, f"fake_{name}.plugin", _Dist(dist), obj

    def load(self):
        if isinstance(self._obj, BaseException):
            raise self._obj
        return self._obj


def _eps():
    return [_EntryPoint("alpha", Plugin(ops=[_op("fake_alpha")])),
            _EntryPoint("beta", Plugin(ops=[_op("fake_beta")]), dist="beta-dist"),
            _EntryPoint("gamma", ImportError("needs libgamma")),
            _EntryPoint("delta", SystemExit(3))]


def _status(h):
    return {p.name: (p.status, p.reason) for p in h.plugins.values()}


def test_entry_points_that_fail_to_import_are_reported_and_skipped(host):
    host.add_entry_points(_eps(), environ={})
    host.collect()
    s = _status(host)
    assert s["alpha"] == s["beta"] == ("loaded", "")
    assert s["gamma"] == ("failed", "failed to import: ImportError: needs libgamma")
    assert s["delta"] == ("failed", "failed to import: SystemExit: 3")
    assert host.plugins["beta"].distribution == "beta-dist" and host.plugins["beta"].version == "1.2.3"
    assert host.plugins["alpha"].source == "entry point"
    assert {"fake_alpha", "fake_beta"} <= set(xg.registered_ops())


@pytest.mark.parametrize("environ, loaded", [
    ({"XPGRAD_DISABLE_PLUGINS": "all"}, set()),
    ({"XPGRAD_DISABLE_PLUGINS": "gamma, delta"}, {"alpha", "beta"}),
    ({"XPGRAD_DISABLE_PLUGINS": "beta_dist"}, {"alpha"}),   # by distribution name, normalised
    ({"XPGRAD_PLUGINS": "beta"}, {"beta"}),
    ({"XPGRAD_PLUGINS": "alpha,beta", "XPGRAD_DISABLE_PLUGINS": "alpha"}, {"beta"}),
])
def test_the_environment_chooses_entry_points(host, environ, loaded):
    host.add_entry_points(_eps(), environ=environ)
    s = _status(host)
    assert {n for n, (st, _) in s.items() if st == "loaded"} == loaded
    for name, (st, why) in s.items():
        if name not in loaded and st == "skipped":
            assert why in ("disabled by XPGRAD_DISABLE_PLUGINS", "not listed in XPGRAD_PLUGINS")


def test_a_name_in_XPGRAD_PLUGINS_that_matches_nothing_is_reported(host):
    host.add_entry_points(_eps(), environ={"XPGRAD_PLUGINS": "alpha,omega"})
    assert [str(p) for p in host.problems] == [
        "XPGRAD_PLUGINS: 'omega': no installed distribution has an xpgrad entry point of that name"]


def test_a_missing_builtin_module_is_not_built(host):
    info = host.add_builtin("xpgrad.backends.no_such_backend.plugin")
    assert (info.status, info.source) == ("not built", "built-in")


def test_a_builtin_module_importing_a_missing_library_is_a_failure(host, tmp_path, monkeypatch):
    (tmp_path / "fake_builtin_plugin.py").write_text("import no_such_driver_library\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    info = host.add_builtin("fake_builtin_plugin")
    assert info.status == "failed" and "no_such_driver_library" in info.reason


# -- the host import xpgrad ran ----------------------------------------------------------------------------


def test_import_registered_the_builtin_plugins():
    r = report()
    numpy_plugin = r.plugins["xpgrad.backends.numpy.plugin"]
    assert (numpy_plugin.status, numpy_plugin.source) == ("loaded", "built-in")
    assert numpy_plugin.families == ["cpu"]
    assert r.families["cpu"].state == "loaded" and r.families["cpu"].devices == ["cpu"]
    assert "cuda" in r.families
    for name in manager.BUILTIN:
        assert r.plugins[name].status in ("loaded", "not built"), r.plugins[name]


def test_register_at_run_time(host, monkeypatch):
    monkeypatch.setattr(manager, "_HOST", [host])
    assert manager.register(Plugin(ops=[_op("fake_runtime")]), "runtime") == []
    assert "fake_runtime" in xg.registered_ops()
    problems = manager.register(Plugin(ops=[_op("fake_runtime")]), "runtime-again")
    assert [p.plugin for p in problems] == ["runtime-again"]


def test_a_plugin_that_fails_validation_leaves_no_hook_behind(host):
    class P:
        @hookimpl
        def xpgrad_backend_families(self):   # fine, and checked first
            return [BackendFamily("fakehalf", lambda: [])]

        @hookimpl
        def xpgrad_ops(self, registry):      # not in the contract
            return []

    assert host.add(P(), "half").status == "failed"
    host.collect()
    assert "fakehalf" not in host.families


def test_an_item_that_breaks_a_check_is_reported_and_the_rest_kept(host):
    weird = _op("fake_weird")
    weird.name = ["not", "hashable"]
    _collect(host, ("weird", Plugin(ops=[weird, _op("fake_after_weird")])))
    assert "fake_after_weird" in xg.registered_ops()
    assert _problems(host, "weird")[0].startswith("xpgrad_ops: TypeError")


def test_a_plugin_without_hooks_is_reported(host):
    _collect(host, ("empty", object()))
    assert _problems(host, "empty") == [
        "plugin: implements no xpgrad hook: is it the module with the @hookimpl functions?"]
