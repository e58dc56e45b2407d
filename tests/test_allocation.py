"""Per-layer allocation turns one rate into a spec tree, with per-path overrides."""

import jax.numpy as jnp
import pytest

import cadnn_jax as cj


def _params():
    return {
        "conv1": {"kernel": jnp.ones((5, 5, 1, 20)), "bias": jnp.ones((20,))},
        "fc1": {"kernel": jnp.ones((800, 500)), "bias": jnp.ones((500,))},
        "fc2": {"kernel": jnp.ones((500, 10)), "bias": jnp.ones((10,))},
    }


def test_uniform_with_overrides():
    tree = cj.allocate(
        _params(), cj.Unstructured(0.99), overrides={"conv1/*": None, "fc2/kernel": cj.Filters(0.5)}
    )
    assert tree["conv1"] == {"kernel": None, "bias": None}
    assert tree["fc1"] == {"kernel": cj.Unstructured(0.99), "bias": None}
    assert tree["fc2"]["kernel"] == cj.Filters(0.5)


def test_factory_sees_path_and_shape():
    seen = {}

    def factory(path, shape):
        seen[path] = shape
        return cj.Unstructured(0.5) if path.endswith("kernel") and shape[-1] > 10 else None

    tree = cj.allocate(_params(), factory)
    assert seen["fc2/kernel"] == (500, 10)
    assert tree["fc2"]["kernel"] is None and tree["fc1"]["kernel"] == cj.Unstructured(0.5)


def test_unknown_override_pattern_is_an_error():
    with pytest.raises(ValueError, match="'conv9/\\*' matches no parameter"):
        cj.allocate(_params(), cj.Unstructured(0.5), overrides={"conv9/*": None})
