"""``python -m xpgrad info``, in process and as a command."""

from __future__ import annotations

import subprocess
import sys

import xpgrad as xg
from xpgrad.__main__ import info, main

SECTIONS = ["device families:", "devices:", "unusable devices:", "plugins:", "failed or skipped plugins:",
            "refused from plugins:", "untested ops (no sample inputs):", "ops: "]


def test_info_has_every_section_in_order():
    out = info()
    at = [out.index(s) for s in SECTIONS]
    assert at == sorted(at)
    assert out.startswith(f"xpgrad {xg.__version__} (Array API {xg.__array_api_version__})")
    assert "xpgrad.backends.numpy.plugin" in out and "built-in: xpgrad.backends.numpy.plugin" in out
    n = len(xg.registered_ops())
    assert f"ops: {n} registered" in out


def test_info_lists_devices_with_their_profile_and_families_with_their_state():
    out = info()
    devices = out.split("\ndevices:\n")[1].split("\n\n")[0]
    assert devices.splitlines()[0].split()[0] == "cpu"
    cpu = xg.get_backend("cpu")
    if getattr(cpu.profile, "describe", None):
        assert f"profile: {cpu.profile.describe()}"[:100] in devices
    families = out.split("device families:\n")[1].split("\n\n")[0]
    assert families.splitlines()[0].split()[:3] == ["cpu", "1", "device"]
    assert "cuda" in families


def test_info_shows_host_fallbacks_when_a_backend_counts_them(monkeypatch):
    cpu = xg.get_backend("cpu")
    monkeypatch.setattr(cpu, "fallback_counts", lambda: {"sort": 3, "cumulative_sum": 1}, raising=False)
    out = info()
    assert "host fallbacks" in out and "cpu        4 host fallbacks (sort 3, cumulative_sum 1)" in out


def test_main_prints_info(capsys):
    assert main(["info"]) == 0
    assert "device families:" in capsys.readouterr().out


def test_python_dash_m_xpgrad_info_runs():
    r = subprocess.run([sys.executable, "-m", "xpgrad", "info"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "plugins:" in r.stdout
