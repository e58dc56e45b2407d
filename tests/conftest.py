"""Shared test helpers."""

from typing import Any

import jax
import numpy as np
import pytest


def assert_tree_allclose(a: Any, b: Any, *, rtol: float = 1e-6, atol: float = 1e-6) -> None:
    """Same tree structure, then every leaf close within the stated tolerances."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.fixture
def tree_allclose():
    return assert_tree_allclose
