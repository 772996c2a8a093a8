"""The devices CI must exercise are really there.

Device-parametrised tests skip a device that is not usable on the machine at
hand (a laptop without OpenCL, say). ``make test`` sets
``XPGRAD_REQUIRE_DEVICES``, so that in CI a device that silently stopped
working fails here instead of turning its tests into skips.
"""

import os

import pytest

import xpgrad as xg

REQUIRED = [d for d in os.environ.get("XPGRAD_REQUIRE_DEVICES", "cpu").split(",") if d]


@pytest.mark.parametrize("device", REQUIRED)
def test_required_device_is_usable(device):
    b = xg.get_backend(device)
    x = xg.asarray([1.0, 2.0, 3.0], device=device, dtype=xg.float32)
    assert (x * 2).device == b.device
    assert (x * 2).tolist() == [2.0, 4.0, 6.0]
