"""Every module imports, so no module fails on a missing name at import time."""

import importlib
import pkgutil

import pytest

import mmpo
import pipeline

MODULES = sorted(
    name
    for package in (mmpo, pipeline)
    for name in [package.__name__]
    + [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    assert importlib.import_module(name) is not None
