"""The package layout DESIGN.md fixes: each top-level package imports and ships py.typed."""

import importlib
import pathlib

import pytest


@pytest.mark.parametrize("name", ["cadnn_jax", "models", "lowering", "tuning"])
def test_package_imports_and_is_typed(name: str) -> None:
    module = importlib.import_module(name)
    assert (pathlib.Path(module.__file__).parent / "py.typed").is_file()
