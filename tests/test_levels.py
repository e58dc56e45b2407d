"""Quantization levels: the level sets, nearest-level rounding against brute force, the scale."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadnn_jax._levels import (
    _candidate_scales,
    best_scale,
    power_of_two_levels,
    projection_levels,
    projection_power_of_two_levels,
    projection_uniform_levels,
    uniform_levels,
)

fast = settings(max_examples=30, deadline=None)

LEVELS = {"uniform": uniform_levels, "power_of_two": power_of_two_levels}
PROJECTIONS = {
    "uniform": jax.jit(projection_uniform_levels, static_argnums=1),
    "power_of_two": jax.jit(projection_power_of_two_levels, static_argnums=1),
}
levels_jit = jax.jit(projection_levels)
best_scale_jit = jax.jit(best_scale)


def normal(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def squared_error(w: np.ndarray, q: jax.Array) -> float:
    return float(np.square(np.asarray(q, np.float64) - w).sum())


# --- the level sets -----------------------------------------------------------------------------


def test_uniform_levels():
    np.testing.assert_array_equal(uniform_levels(2), [-1, 0, 1])
    np.testing.assert_array_equal(uniform_levels(3), [-3, -2, -1, 0, 1, 2, 3])
    assert uniform_levels(8).dtype == np.float32


def test_power_of_two_levels():
    np.testing.assert_array_equal(power_of_two_levels(2), [-1, 0, 1])
    np.testing.assert_array_equal(power_of_two_levels(3), [-1, -0.5, -0.25, 0, 0.25, 0.5, 1])
    assert power_of_two_levels(8).min() == -1.0
    assert power_of_two_levels(8)[128] == 2.0**-126


@pytest.mark.parametrize("family", LEVELS)
@pytest.mark.parametrize("bits", [2, 3, 4, 5])
def test_level_sets_are_sorted_symmetric_with_zero(family, bits):
    levels = LEVELS[family](bits)
    assert levels.shape == (2**bits - 1,)
    assert np.all(np.diff(levels) > 0)
    np.testing.assert_array_equal(levels, -levels[::-1])
    assert 0.0 in levels


@pytest.mark.parametrize("bits", [1, 0, 2.0, True])
def test_bad_bits_raise(bits):
    with pytest.raises(ValueError, match=rf"bits must be an integer .*got {bits!r}"):
        uniform_levels(bits)


def test_power_of_two_bits_beyond_float32_raise():
    with pytest.raises(ValueError, match=r"in \[2, 8\].*got 9"):
        power_of_two_levels(9)


@pytest.mark.parametrize("bits", [25, 64])
def test_uniform_bits_beyond_float32_raise(bits):
    # From 25 bits float32 cannot hold the integer levels (26 gave a top level of 100663296,
    # not 33554431); at 64 the array would not fit in memory.
    with pytest.raises(ValueError, match=rf"in \[2, 24\].*got {bits}"):
        uniform_levels(bits)


# --- rounding for a fixed scale -----------------------------------------------------------------


@fast
@given(
    seed=st.integers(0, 2**31),
    family=st.sampled_from(list(LEVELS)),
    bits=st.sampled_from([2, 3]),
    size=st.integers(1, 3),
    scale=st.floats(0.05, 3.0),
)
def test_projection_levels_brute_force(seed, family, bits, size, scale):
    levels = LEVELS[family](bits)
    w = normal(seed, (3,))[:size] * 2
    q = np.asarray(levels_jit(w, levels, scale))
    grid = np.float32(scale) * levels
    assert np.all(np.isin(q, grid))
    # Every assignment of levels to the entries, the literal definition of the projection.
    best = min(squared_error(w, np.array(z)) for z in itertools.product(grid, repeat=size))
    assert squared_error(w, q) == pytest.approx(best, abs=1e-5)


@fast
@given(
    seed=st.integers(0, 2**31),
    family=st.sampled_from(list(LEVELS)),
    bits=st.sampled_from([2, 4]),
    scale=st.floats(0.01, 2.0),
)
def test_projection_levels_is_nearest_entrywise(seed, family, bits, scale):
    levels = LEVELS[family](bits)
    w = normal(seed, (5, 8))
    q = np.asarray(levels_jit(w, levels, scale))
    grid = np.float32(scale) * levels
    nearest = np.abs(w[..., None] - grid).min(axis=-1)
    np.testing.assert_allclose(np.abs(w - q), nearest, rtol=1e-6, atol=1e-7)


def test_projection_levels_halfway_goes_towards_zero_and_clips():
    levels = uniform_levels(3)
    w = np.array([0.5, -0.5, 1.5, -2.5, 100.0, -100.0, 0.0], np.float32)
    expected = [0.0, 0.0, 1.0, -2.0, 3.0, -3.0, 0.0]
    np.testing.assert_array_equal(projection_levels(w, levels, 1.0), expected)


def test_projection_levels_rejects_bad_levels():
    with pytest.raises(ValueError, match=r"non-empty 1-D array, got shape \(2, 2\)"):
        projection_levels(np.ones(3, np.float32), np.zeros((2, 2)), 1.0)


# --- the scale, and the full projections ---------------------------------------------------------


@fast
@given(
    seed=st.integers(0, 2**31),
    family=st.sampled_from(list(LEVELS)),
    bits=st.sampled_from([2, 4]),
)
def test_best_scale_beats_every_grid_candidate(seed, family, bits):
    levels = LEVELS[family](bits)
    w = normal(seed, (6, 5))
    scale = float(best_scale_jit(w, levels))
    candidates = np.asarray(_candidate_scales(jnp.asarray(w), jnp.asarray(levels), 64))
    assert np.isclose(candidates, scale).any()
    # The scale that clips nothing is one of the candidates, computed here independently, up to
    # the rounding of candidates to 8 significant bits (at most 2**-8 of the value).
    naive = np.abs(w).max() / np.abs(levels).max()
    assert np.isclose(candidates, naive, rtol=2**-8, atol=0).any()
    significand = np.frexp(candidates)[0] * 2**8  # in [2**7, 2**8]: an integer if 8 bits
    np.testing.assert_array_equal(significand, np.round(significand))
    # Errors of nearest-level rounding, brute force over levels, in float64.
    grids = np.concatenate([candidates, [scale]])[:, None] * levels.astype(np.float64)
    errors = np.square(w.reshape(-1)[None, :, None] - grids[:, None, :]).min(axis=-1).sum(-1)
    assert errors[-1] <= errors[:-1].min() + 1e-6


@fast
@given(
    seed=st.integers(0, 2**31),
    family=st.sampled_from(list(LEVELS)),
    bits=st.sampled_from([2, 4]),
    zero_fraction=st.floats(0.0, 0.9),
)
def test_projection_is_on_the_grid_and_keeps_zeros(seed, family, bits, zero_fraction):
    levels = LEVELS[family](bits)
    rng = np.random.default_rng(seed)
    w = normal(seed, (4, 6)) * (rng.random((4, 6)) >= zero_fraction)
    q = np.asarray(PROJECTIONS[family](w, bits))
    assert np.all(q[w == 0] == 0)
    if not w.any():
        return
    # A scale from the grid never exceeds max|w| / max(levels), so the top level is always used.
    scale = np.abs(q).max() / levels.max()
    on_grid = np.isclose(q[..., None] / scale, levels, rtol=1e-5, atol=1e-6).any(axis=-1)
    assert on_grid.all()
    # For the chosen scale it is the exact entrywise projection.
    nearest = np.abs(w[..., None] - np.float32(scale) * levels).min(axis=-1)
    np.testing.assert_allclose(np.abs(w - q), nearest, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", LEVELS)
def test_zeros_do_not_pull_the_scale(family):
    levels = LEVELS[family](3)
    w = normal(1, (30,))
    padded = np.concatenate([w, np.zeros(1000, np.float32)])
    assert float(best_scale_jit(padded, levels)) == pytest.approx(float(best_scale_jit(w, levels)))


@pytest.mark.parametrize("family", LEVELS)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_all_zero_layer_has_finite_positive_scale(family, dtype):
    levels = LEVELS[family](4)
    w = jnp.zeros((3, 5), dtype)
    scale = best_scale_jit(w, levels)
    assert np.isfinite(float(scale)) and float(scale) > 0
    q = PROJECTIONS[family](w, 4)
    assert q.dtype == dtype
    np.testing.assert_array_equal(q, np.zeros((3, 5)))


def test_jit_matches_eager():
    # One family only: the eager run compiles every primitive of best_scale separately.
    w = jnp.asarray(normal(2, (6, 7)))
    np.testing.assert_array_equal(PROJECTIONS["uniform"](w, 3), projection_uniform_levels(w, 3))


@pytest.mark.parametrize("family", LEVELS)
def test_bfloat16_stays_bfloat16(family):
    q = PROJECTIONS[family](jnp.asarray(normal(2, (6, 7)), jnp.bfloat16), 3)
    assert q.dtype == jnp.bfloat16


@pytest.mark.parametrize(("family", "bits", "window"), [("uniform", 4, 0.15), ("uniform", 8, 0.01)])
def test_quantization_error_window(family, bits, window):
    # Gaussian weights: 4-bit uniform keeps the error near 10%, 8-bit near 0.6% (relative L2).
    w = normal(3, (64, 64))
    q = PROJECTIONS[family](w, bits)
    assert np.sqrt(squared_error(w, q) / np.square(w).sum()) < window


@fast
@given(
    seed=st.integers(0, 2**31),
    family_bits=st.sampled_from([("uniform", 3), ("uniform", 8), ("power_of_two", 5)]),
)
def test_moving_between_levels_is_exact(seed, family_bits):
    # Retraining on the levels moves a weight w = s*a to q = s*b by adding q - w: that must land
    # on q exactly, for every pair of levels (uniform up to 16 bits, power of two up to 5).
    family, bits = family_bits
    levels = LEVELS[family](bits)
    scale = np.float32(best_scale_jit(normal(seed, (8, 8)), levels))
    grid = scale * levels
    w, q = grid[:, None], grid[None, :]
    np.testing.assert_array_equal(w + (q - w), np.broadcast_to(q, (len(grid), len(grid))))


@pytest.mark.parametrize("bits", [2, 3])
def test_idempotent(bits):
    w = jnp.asarray(normal(4, (6, 7)))
    for project in PROJECTIONS.values():
        once = project(w, bits)
        np.testing.assert_allclose(project(once, bits), once, rtol=1e-6, atol=1e-7)


def test_best_scale_rejects_bad_candidate_count():
    with pytest.raises(ValueError, match="num_candidates must be an integer >= 1, got 0"):
        best_scale(np.ones(3, np.float32), uniform_levels(2), num_candidates=0)
