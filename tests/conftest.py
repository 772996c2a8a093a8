import os
import tempfile

# Dispatch wisdom and calibrated profiles go to a private directory, never the user's cache.
os.environ.setdefault("XPGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="xpgrad-test-cache-"))
os.environ.pop("XPGRAD_WISDOM", None)
os.environ.pop("XPGRAD_DISPATCH", None)

import numpy as np
import pytest

import xpgrad as xg


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_report_header(config):
    return f"xpgrad devices: {', '.join(xg.devices())}"
