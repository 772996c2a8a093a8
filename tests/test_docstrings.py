"""The examples in the docstrings of the modules issues 6 to 8 added run as written."""

import doctest
import importlib

import pytest

MODULES = ["xpgrad.random", "xpgrad.data", "xpgrad.serialization", "xpgrad._atomic", "xpgrad.nn.module",
           "xpgrad.nn.containers", "xpgrad.nn.layers", "xpgrad.nn.activation", "xpgrad.nn.loss",
           "xpgrad.nn.init", "xpgrad.nn.functional", "xpgrad.ops.activations", "xpgrad.ops.losses",
           "xpgrad.ops.fft", "xpgrad.fft", "xpgrad.linalg", "xpgrad.core.device", "xpgrad.ops.elementwise",
           "xpgrad.checkpointing", "xpgrad.viz", "xpgrad.anomaly", "xpgrad.testing", "xpgrad.core.tensor",
           "xpgrad.determinism", "xpgrad.core.dispatch", "xpgrad.core.registry", "xpgrad.dispatch",
           "xpgrad.profiler", "xpgrad.amp", "xpgrad.backends.numpy.namespace"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
