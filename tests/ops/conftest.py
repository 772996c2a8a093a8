"""Fixtures shared by the op tests."""

import pytest

import xpgrad as xg


@pytest.fixture(params=["cpu", "opencl:0", "fpga:0"])
def device(request):
    try:
        return xg.get_backend(request.param).device
    except xg.XpgradError as exc:
        pytest.skip(f"{request.param} is not usable here: {exc}")
