import pytest

import xpgrad as xg

DEVICES = ["cpu", "opencl:0", "fpga:0"]


@pytest.fixture(params=DEVICES[1:])
def accel(request):
    """An accelerator device (opencl:0, fpga:0), skipped with the reason when it is not usable here."""
    try:
        b = xg.get_backend(request.param)
    except xg.XpgradError as exc:
        pytest.skip(f"{request.param} is not usable here: {exc}")
    return b.device
