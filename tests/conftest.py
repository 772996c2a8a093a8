import numpy as np
import pytest

import xpgrad as xg


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_report_header(config):
    return f"xpgrad devices: {', '.join(xg.devices())}"
