import os
import tempfile

# SciPy reads SCIPY_ARRAY_API once, at its first import, and only then dispatches on other namespaces
# (xpgrad's): set it before anything can import SciPy. tests/test_third_party.py fails if it did not
# take effect (a pytest plugin that imports SciPy, loaded before this file, would do that).
os.environ["SCIPY_ARRAY_API"] = "1"

# Dispatch wisdom and calibrated profiles go to a private directory, never the user's cache.
os.environ.setdefault("XPGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="xpgrad-test-cache-"))
os.environ.pop("XPGRAD_WISDOM", None)
os.environ.pop("XPGRAD_DISPATCH", None)

# One BLAS thread: OpenBLAS's threaded kernels may sum in a different order from run to run (seen:
# 1 run in 6 of the digits demo), and the tests check bit-for-bit reruns and resumes. NumPy is loaded
# before this file (the conformance pytest plugin imports xpgrad), so the limit is set at run time.
import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402
import pytest  # noqa: E402

import xpgrad as xg  # noqa: E402

threadpoolctl.threadpool_limits(1, user_api="blas")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_report_header(config):
    return f"xpgrad devices: {', '.join(xg.devices())}"


@pytest.fixture(params=["cpu", "opencl:0", "fpga:0", "cuda:0"])
def device(request):
    """Each device in turn: skipped with the reason where it is not usable, failed where CI requires it."""
    try:
        return xg.get_backend(request.param).device
    except xg.XpgradError as exc:
        if request.param in os.environ.get("XPGRAD_REQUIRE_DEVICES", "").split(","):
            pytest.fail(f"{request.param} is required (XPGRAD_REQUIRE_DEVICES) but not usable: {exc}")
        pytest.skip(f"{request.param} is not usable here: {exc}")
