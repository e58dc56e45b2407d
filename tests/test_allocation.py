"""Per-layer allocation turns one rate into a spec tree, with per-path overrides."""

import jax.numpy as jnp
import numpy as np
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


def test_lamp_scores_by_hand_and_scale_invariance():
    # Layer a: squares 1, 4, 9, 16, LAMP scores 1/30, 4/29, 9/25, 1. Layer b: squares 0.01,
    # 100, 100, 100, scores 0.01/300.01, 100/300, 100/200, 1. Keeping 4 of 8 keeps the scores
    # 1, 1, 0.5 and 0.36: two weights per layer, where one threshold on magnitudes keeps b's
    # three 10s and a's 4.
    params = {
        "a": {"kernel": jnp.array([[1.0, 2.0], [3.0, 4.0]])},
        "b": {"kernel": jnp.array([[0.1, 10.0], [10.0, 10.0]])},
    }
    assert cj.lamp_rates(params, 0.5) == {"a/kernel": 0.5, "b/kernel": 0.5}
    assert cj.global_magnitude_rates(params, 0.5) == {"a/kernel": 0.75, "b/kernel": 0.25}
    # Scores do not depend on a layer's scale, so neither do the rates.
    scaled = {"a": params["a"], "b": {"kernel": 1e3 * params["b"]["kernel"]}}
    assert cj.lamp_rates(scaled, 0.5) == cj.lamp_rates(params, 0.5)


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99])
def test_lamp_keeps_the_overall_count(sparsity):
    rng = np.random.default_rng(3)
    params = {
        "conv": {"kernel": jnp.asarray(rng.normal(size=(5, 5, 1, 20)))},
        "fc": {"kernel": jnp.asarray(0.1 * rng.normal(size=(800, 50)))},
        "out": {"kernel": jnp.asarray(rng.normal(size=(50, 10))), "bias": jnp.zeros(10)},
    }
    rates = cj.lamp_rates(params, sparsity)
    assert set(rates) == {"conv/kernel", "fc/kernel", "out/kernel"}  # rank >= 2 only
    sizes = {"conv/kernel": 500, "fc/kernel": 40000, "out/kernel": 500}
    kept = sum(round((1 - r) * sizes[p]) for p, r in rates.items())
    assert kept == round((1 - sparsity) * sum(sizes.values()))


def test_lamp_keeps_a_weight_per_layer_and_checks_its_arguments():
    params = {"a": {"kernel": jnp.ones((10, 10))}, "b": {"kernel": jnp.zeros((3, 3))}}
    rates = cj.lamp_rates(params, 0.999)
    assert rates["a/kernel"] <= 0.99 and rates["b/kernel"] <= 1 - 1 / 9
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\), got 1.0"):
        cj.lamp_rates(params, 1.0)
    with pytest.raises(ValueError, match=r"no parameters at \['c/kernel'\]"):
        cj.lamp_rates(params, 0.5, paths=["c/kernel"])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p: cj.lamp_rates(p, "0.5"), ValueError, r"sparsity must be in \[0, 1\), got '0.5'"),
        (
            lambda p: cj.global_magnitude_rates(p, None),
            ValueError,
            r"sparsity must be in \[0, 1\), got None",
        ),
        (lambda p: cj.lamp_rates(p, 0.5, paths=[]), ValueError, "no leaves to allocate over"),
        (
            lambda p: cj.global_magnitude_rates({"b": p["fc1"]["bias"]}, 0.5),
            ValueError,
            "no leaves to allocate over",
        ),
        (
            lambda p: cj.lamp_rates(p, 0.5, paths="fc1/kernel"),
            TypeError,
            "paths must be a collection of paths, got the string 'fc1/kernel'",
        ),
        (
            lambda p: cj.allocate(p, cj.Unstructured(0.5), overrides=["conv1/*"]),
            TypeError,
            r"overrides must be a mapping .*got \['conv1/\*'\]",
        ),
    ],
)
def test_bad_arguments_name_what_is_wrong(call, error, match):
    with pytest.raises(error, match=match):
        call(_params())


def test_numpy_scalar_sparsities_are_taken():
    # The audit's checks took only int and float: np.float32(0.9) was refused as "must be in
    # [0, 1)", where the library had taken it before.
    for rates in (cj.lamp_rates, cj.global_magnitude_rates):
        assert rates(_params(), np.float32(0.9)) == rates(_params(), float(np.float32(0.9)))
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\), got np.True_"):
        cj.lamp_rates(_params(), np.bool_(True))
