"""Sparsity projections against brute force: feasible, and no feasible point is closer.

Every set here is a union of coordinate subspaces, so a brute force enumerates every support of
the set; the nearest point on a support S is ``w`` restricted to S, at squared distance
``sum(w**2 outside S)``. The projection must be feasible and reach the smallest such distance.
Weights are drawn from a seeded normal so that magnitudes (and norms) tie with probability zero.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadnn_jax._patterns import candidate_patterns
from cadnn_jax._projections import (
    projection_balanced_rows,
    projection_blocks,
    projection_filters,
    projection_input_channels,
    projection_n_of_m,
    projection_patterns,
    projection_topk,
)

fast = settings(max_examples=30, deadline=None)

# Jitted once per module so that hypothesis examples with the same shape and sizes reuse one
# compilation; eager dispatch would compile every primitive anew for each new size.
topk = jax.jit(projection_topk, static_argnums=1)
filters = jax.jit(projection_filters, static_argnums=1)
input_channels = jax.jit(projection_input_channels, static_argnums=1)
balanced_rows = jax.jit(projection_balanced_rows, static_argnums=1)
blocks = jax.jit(projection_blocks, static_argnums=(1, 2))
n_of_m = jax.jit(projection_n_of_m, static_argnums=(1, 2))
patterns_jit = jax.jit(projection_patterns, static_argnums=2)


def normal(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def brute_force_distance(w: np.ndarray, supports: list[np.ndarray]) -> float:
    """Smallest squared distance from ``w`` to a point supported inside one of ``supports``."""
    w2 = np.square(w.astype(np.float64))
    return min(float(w2[~s].sum()) for s in supports)


def product_supports(cells: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Every union of one alternative per cell (the supports of a product of small sets)."""
    return [np.logical_or.reduce(choice) for choice in itertools.product(*cells)]


def check_projection(w: np.ndarray, p: jax.Array, supports: list[np.ndarray]) -> None:
    p = np.asarray(p)
    assert p.shape == w.shape and p.dtype == w.dtype
    # Entries either survive untouched or become zero.
    assert np.all((p == w) | (p == 0))
    distance = float(np.square(p.astype(np.float64) - w).sum())
    assert distance == pytest.approx(brute_force_distance(w, supports), abs=1e-5)


def subsets(n: int, k: int) -> list[tuple[int, ...]]:
    return list(itertools.combinations(range(n), k))


# --- brute force, one per set -------------------------------------------------------------------


@fast
@given(
    seed=st.integers(0, 2**31),
    shape=st.sampled_from([(7,), (2, 1, 2, 2)]),
    data=st.data(),
)
def test_topk_brute_force(seed, shape, data):
    w = normal(seed, shape)
    k = data.draw(st.integers(0, w.size))
    p = topk(w, k)
    assert np.count_nonzero(p) == k
    supports = []
    for keep in subsets(w.size, k):
        s = np.zeros(w.size, bool)
        s[list(keep)] = True
        supports.append(s.reshape(shape))
    check_projection(w, p, supports)


@fast
@given(
    seed=st.integers(0, 2**31),
    shape=st.sampled_from([(5,), (2, 2, 1, 5)]),
    data=st.data(),
)
def test_filters_brute_force(seed, shape, data):
    w = normal(seed, shape)
    k = data.draw(st.integers(0, shape[-1]))
    p = np.asarray(filters(w, k))
    assert np.count_nonzero(p.reshape(-1, shape[-1]).any(axis=0)) == k
    supports = []
    for keep in subsets(shape[-1], k):
        s = np.zeros(shape, bool)
        s[..., list(keep)] = True
        supports.append(s)
    check_projection(w, p, supports)


@fast
@given(
    seed=st.integers(0, 2**31),
    shape=st.sampled_from([(5, 3), (2, 1, 4, 3)]),
    data=st.data(),
)
def test_input_channels_brute_force(seed, shape, data):
    w = normal(seed, shape)
    k = data.draw(st.integers(0, shape[-2]))
    p = np.asarray(input_channels(w, k))
    assert np.count_nonzero(np.moveaxis(p, -2, 0).reshape(shape[-2], -1).any(axis=1)) == k
    supports = []
    for keep in subsets(shape[-2], k):
        s = np.zeros(shape, bool)
        s[..., list(keep), :] = True
        supports.append(s)
    check_projection(w, p, supports)


@fast
@given(
    seed=st.integers(0, 2**31),
    shape=st.sampled_from([(4, 3), (1, 2, 2, 3)]),
    data=st.data(),
)
def test_balanced_rows_brute_force(seed, shape, data):
    w = normal(seed, shape)
    rows, out = math.prod(shape[:-1]), shape[-1]
    k = data.draw(st.integers(0, rows))
    p = np.asarray(balanced_rows(w, k))
    assert np.all(np.count_nonzero(p.reshape(rows, out), axis=0) == k)
    cells = []
    for o in range(out):
        options = []
        for keep in subsets(rows, k):
            s = np.zeros((rows, out), bool)
            s[list(keep), o] = True
            options.append(s.reshape(shape))
        cells.append(options)
    check_projection(w, p, product_supports(cells))


def block_groups(out: int, g: int) -> list[list[int]]:
    return [list(range(start, min(start + g, out))) for start in range(0, out, g)]


@fast
@given(
    seed=st.integers(0, 2**31),
    shape_g=st.sampled_from([((4, 5), 2), ((1, 2, 2, 5), 4), ((3, 3), 1)]),
    data=st.data(),
)
def test_blocks_brute_force(seed, shape_g, data):
    shape, g = shape_g
    w = normal(seed, shape)
    rows, out = math.prod(shape[:-1]), shape[-1]
    k = data.draw(st.integers(0, rows))
    p = np.asarray(blocks(w, k, g)).reshape(rows, out)
    cells = []
    for group in block_groups(out, g):
        # Feasible: the group's channels together use at most k positions.
        assert np.count_nonzero(p[:, group].any(axis=1)) <= k
        options = []
        for keep in subsets(rows, k):
            s = np.zeros((rows, out), bool)
            s[np.ix_(list(keep), group)] = True
            options.append(s.reshape(shape))
        cells.append(options)
    check_projection(w, p.reshape(shape), product_supports(cells))


@fast
@given(
    seed=st.integers(0, 2**31),
    shape_m=st.sampled_from([((4, 2), 2), ((6, 1), 3), ((1, 2, 4, 1), 4)]),
    data=st.data(),
)
def test_n_of_m_brute_force(seed, shape_m, data):
    shape, m = shape_m
    w = normal(seed, shape)
    n = data.draw(st.integers(0, m))
    p = np.asarray(n_of_m(w, n, m))
    moved = np.moveaxis(p, -2, -1)
    groups = moved.reshape(*moved.shape[:-1], -1, m)
    assert np.all(np.count_nonzero(groups, axis=-1) == n)
    cells = []
    for index in np.ndindex(*shape[:-2], shape[-1]):
        *lead, o = index
        for start in range(0, shape[-2], m):
            options = []
            for keep in subsets(m, n):
                s = np.zeros(shape, bool)
                for j in keep:
                    s[(*lead, start + j, o)] = True
                options.append(s)
            cells.append(options)
    check_projection(w, p, product_supports(cells))


@fast
@given(
    seed=st.integers(0, 2**31),
    channels=st.sampled_from([(2, 2), (1, 3)]),
    library=st.lists(st.integers(0, 55), min_size=3, max_size=3, unique=True),
    data=st.data(),
)
def test_patterns_brute_force(seed, channels, library, data):
    cin, cout = channels
    kernels = cin * cout
    keep = data.draw(st.one_of(st.none(), st.integers(0, kernels)))
    patterns = candidate_patterns()[library]
    w = normal(seed, (3, 3, cin, cout))
    # The library is a traced argument: a new library must not cost a compilation.
    p = np.asarray(patterns_jit(w, jnp.asarray(patterns), keep))

    nonzero = 0
    for i, o in itertools.product(range(cin), range(cout)):
        support = p[:, :, i, o] != 0
        assert any(np.all(patterns[j][support] == 1) for j in range(len(patterns)))
        nonzero += bool(support.any())
    if keep is not None:
        assert nonzero <= keep

    # Each kernel takes one pattern, or (with connectivity pruning) nothing.
    cells = []
    for i, o in itertools.product(range(cin), range(cout)):
        options = []
        for q in [*patterns, np.zeros((3, 3))] if keep is not None else patterns:
            s = np.zeros(w.shape, bool)
            s[:, :, i, o] = q == 1
            options.append(s)
        cells.append(options)
    supports = product_supports(cells)
    if keep is not None:
        supports = [s for s in supports if np.count_nonzero(s.any(axis=(0, 1))) <= keep]
    check_projection(w, p, supports)


# --- ties -------------------------------------------------------------------------------------


def test_topk_ties_keep_lower_flat_index():
    w = np.array([[1.0, -2.0, 2.0], [-2.0, 1.0, 2.0]], np.float32)
    expected = np.array([[0.0, -2.0, 2.0], [0.0, 0.0, 0.0]], np.float32)
    np.testing.assert_array_equal(projection_topk(w, 2), expected)


def test_filters_ties_keep_lower_channel():
    w = np.array([[3.0, 0.0, 4.0], [4.0, 5.0, 3.0]], np.float32)
    np.testing.assert_array_equal(projection_filters(w, 1), w * [1, 0, 0])


def test_n_of_m_ties_keep_lower_input():
    w = np.array([[1.0], [-1.0], [1.0], [0.5]], np.float32)
    np.testing.assert_array_equal(projection_n_of_m(w, 2, 4), [[1.0], [-1.0], [0.0], [0.0]])


# --- properties shared by every set -------------------------------------------------------------

SHAPE = (3, 3, 4, 6)
ROWS = 36
# name -> (function, arguments keeping nothing, arguments keeping everything, typical arguments)
CASES = {
    "topk": (projection_topk, (0,), (3 * 3 * 4 * 6,), (40,)),
    "filters": (projection_filters, (0,), (6,), (2,)),
    "input_channels": (projection_input_channels, (0,), (4,), (3,)),
    "balanced_rows": (projection_balanced_rows, (0,), (ROWS,), (7,)),
    "blocks": (projection_blocks, (0, 4), (ROWS, 4), (9, 4)),
    "blocks_partial_group": (projection_blocks, (0, 5), (ROWS, 5), (9, 5)),
    "n_of_m": (projection_n_of_m, (0, 4), (4, 4), (2, 4)),
}
STATIC = {"topk": (1,), "filters": (1,), "input_channels": (1,), "balanced_rows": (1,)}


@pytest.fixture(scope="module")
def weights() -> jax.Array:
    return jnp.asarray(normal(0, SHAPE))


@pytest.mark.parametrize("name", CASES)
def test_keeping_nothing_gives_zeros(name, weights):
    fn, nothing, _, _ = CASES[name]
    np.testing.assert_array_equal(fn(weights, *nothing), np.zeros(SHAPE))


@pytest.mark.parametrize("name", CASES)
def test_keeping_everything_is_identity(name, weights):
    fn, _, everything, _ = CASES[name]
    np.testing.assert_array_equal(fn(weights, *everything), weights)


@pytest.mark.parametrize("name", CASES)
def test_idempotent(name, weights):
    fn, _, _, args = CASES[name]
    once = fn(weights, *args)
    assert 0 < np.count_nonzero(once) < weights.size
    np.testing.assert_array_equal(fn(once, *args), once)


@pytest.mark.parametrize("name", CASES)
def test_jit_with_static_sizes_matches_eager(name, weights):
    fn, _, _, args = CASES[name]
    static = tuple(range(1, 1 + len(args)))
    jitted = jax.jit(fn, static_argnums=static)
    np.testing.assert_array_equal(jitted(weights, *args), fn(weights, *args))


@pytest.mark.parametrize("name", CASES)
def test_bfloat16_stays_bfloat16(name, weights):
    fn, _, _, args = CASES[name]
    w = weights.astype(jnp.bfloat16)
    p = fn(w, *args)
    assert p.dtype == jnp.bfloat16
    assert np.all((p == w) | (p == 0))


def test_patterns_properties(weights):
    w = weights[..., :3]
    library = candidate_patterns()[[0, 17, 40]]
    once = projection_patterns(w, library, 5)
    np.testing.assert_array_equal(projection_patterns(once, library, 5), once)
    assert np.count_nonzero(np.asarray(once).any(axis=(0, 1))) == 5
    np.testing.assert_array_equal(projection_patterns(w, library, 0), np.zeros(w.shape))
    everything = np.ones((1, 3, 3), np.float32)
    np.testing.assert_array_equal(projection_patterns(w, everything), w)
    jitted = jax.jit(projection_patterns, static_argnums=2)
    np.testing.assert_array_equal(jitted(w, jnp.asarray(library), 5), once)
    assert projection_patterns(w.astype(jnp.bfloat16), library, 5).dtype == jnp.bfloat16


# --- argument checking ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda w: projection_topk(w, -1), r"k must be an integer in \[0, 216\]"),
        (lambda w: projection_topk(w, 217), r"got 217"),
        (lambda w: projection_filters(w, 7), r"\[0, 6\].*got 7"),
        (lambda w: projection_input_channels(w[0, 0, :, 0], 1), r"at least 2 axes"),
        (lambda w: projection_balanced_rows(w, 2.0), r"got 2.0"),
        (lambda w: projection_blocks(w, 3, 0), r"g must be an integer >= 1, got 0"),
        (lambda w: projection_n_of_m(w, 2, 3), r"multiple of m=3, got shape \(3, 3, 4, 6\)"),
        (lambda w: projection_n_of_m(w, 5, 4), r"n must be an integer in \[0, 4\]"),
        (lambda w: projection_patterns(w, np.ones((2, 2, 2))), r"\(P, 3, 3\)"),
        (lambda w: projection_patterns(w, np.ones((1, 3, 3)), 25), r"keep_kernels"),
    ],
)
def test_bad_arguments_raise(call, message, weights):
    with pytest.raises(ValueError, match=message):
        call(weights)
