"""The examples in xpgrad.optim's docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = ["xpgrad.optim", "xpgrad.optim.optimizer", "xpgrad.optim.sgd", "xpgrad.optim.adam",
           "xpgrad.optim.adagrad", "xpgrad.optim.rmsprop", "xpgrad.optim.lr_scheduler", "xpgrad.optim.clip"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
