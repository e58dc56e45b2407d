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


def patch_data(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28, 1) where each class lights its own 6x6 patch over faint noise:
    learnable by ``models.SmallCNN`` in a couple of epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.int32)
    images = 0.1 * rng.random((n, 28, 28, 1), dtype=np.float32)
    for i, c in enumerate(labels):
        r, col = 2 + 12 * (c // 5), 1 + 5 * (c % 5)
        images[i, r : r + 6, col : col + 6, 0] += 0.9
    return images, labels


@pytest.fixture
def tree_allclose():
    return assert_tree_allclose
