"""PatDNN candidate masks and library selection."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadnn_jax._patterns import candidate_patterns, select_patterns
from cadnn_jax._projections import projection_patterns

fast = settings(max_examples=30, deadline=None)


def test_default_candidates_are_every_four_tap_mask_with_centre():
    candidates = candidate_patterns()
    assert candidates.shape == (56, 3, 3) and candidates.dtype == np.float32
    # Brute force over all 2**9 masks.
    expected = {
        bits for bits in itertools.product((0, 1), repeat=9) if sum(bits) == 4 and bits[4] == 1
    }
    found = {tuple(int(v) for v in c.reshape(-1)) for c in candidates}
    assert found == expected and len(found) == 56
    np.testing.assert_array_equal(candidates[0], [[1, 1, 1], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(candidate_patterns(), candidates)


@pytest.mark.parametrize(("taps", "size", "count"), [(1, 3, 1), (2, 3, 8), (9, 3, 1), (2, 5, 24)])
def test_candidate_counts(taps, size, count):
    candidates = candidate_patterns(taps, size)
    assert candidates.shape == (count, size, size)
    assert np.all(candidates[:, size // 2, size // 2] == 1)
    assert np.all(candidates.sum(axis=(1, 2)) == taps)


@pytest.mark.parametrize(
    ("taps", "size", "message"), [(0, 3, "taps"), (10, 3, "taps"), (2, 4, "odd")]
)
def test_bad_candidate_arguments_raise(taps, size, message):
    with pytest.raises(ValueError, match=message):
        candidate_patterns(taps, size)


def kernels_following(indices: list[int], seed: int) -> np.ndarray:
    """One (3, 3, 1, len(indices)) weight whose kernel j lies exactly on candidate indices[j]."""
    candidates = candidate_patterns()
    rng = np.random.default_rng(seed)
    magnitudes = rng.uniform(1.0, 2.0, (len(indices), 3, 3)) * rng.choice(
        [-1, 1], (len(indices), 3, 3)
    )
    # A kernel supported on a 4-tap candidate keeps all its energy only under that candidate.
    kernels = candidates[indices] * magnitudes
    return np.transpose(kernels, (1, 2, 0))[:, :, None, :].astype(np.float32)


@fast
@given(
    votes=st.dictionaries(st.integers(0, 55), st.integers(1, 4), min_size=1, max_size=6),
    num_patterns=st.integers(1, 6),
    seed=st.integers(0, 2**31),
)
def test_select_patterns_ranks_by_votes_then_candidate_order(votes, num_patterns, seed):
    indices = [i for i, count in votes.items() for _ in range(count)]
    np.random.default_rng(seed).shuffle(indices)
    # Split the kernels over two weights: votes add up across layers.
    half = len(indices) // 2
    weights = [kernels_following(part, seed) for part in (indices[:half], indices[half:]) if part]
    library = select_patterns(weights, num_patterns=num_patterns)
    assert library.shape == (num_patterns, 3, 3) and library.dtype == np.float32
    counts = np.zeros(56, int)
    for i, count in votes.items():
        counts[i] = count
    expected = sorted(range(56), key=lambda i: (-counts[i], i))[:num_patterns]
    np.testing.assert_array_equal(library, candidate_patterns()[expected])


@fast
@given(seed=st.integers(0, 2**31), num_patterns=st.integers(1, 8))
def test_select_patterns_matches_a_loop_over_kernels(seed, num_patterns):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((3, 3, 2, 3)), rng.standard_normal((3, 3, 3, 2))]
    candidates = candidate_patterns()
    counts = np.zeros(len(candidates), int)
    for w in weights:
        for i, o in itertools.product(range(w.shape[2]), range(w.shape[3])):
            kernel = w[:, :, i, o]
            energies = [np.sum((kernel * c) ** 2) for c in candidates]
            counts[int(np.argmax(energies))] += 1
    expected = sorted(range(len(candidates)), key=lambda i: (-counts[i], i))[:num_patterns]
    np.testing.assert_array_equal(select_patterns(weights, num_patterns), candidates[expected])


def test_projected_kernels_follow_the_selected_library():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    library = select_patterns([w], num_patterns=4)
    p = np.asarray(projection_patterns(w, library))
    for i, o in itertools.product(range(4), range(5)):
        support = p[:, :, i, o] != 0
        assert any(np.all(pattern[support] == 1) for pattern in library)


@pytest.mark.parametrize(
    ("kernels", "num_patterns", "message"),
    [
        ([], 8, "at least one"),
        ([np.zeros((3, 3, 2))], 8, r"got shape \(3, 3, 2\) at kernels\[0\]"),
        ([np.zeros((3, 3, 1, 1)), np.zeros((5, 5, 1, 1))], 8, r"kernels\[1\]"),
        ([np.zeros((3, 3, 1, 1))], 0, r"num_patterns must be an integer in \[1, 56\]"),
        ([np.zeros((3, 3, 1, 1))], 57, "got 57"),
    ],
)
def test_bad_selection_arguments_raise(kernels, num_patterns, message):
    with pytest.raises(ValueError, match=message):
        select_patterns(kernels, num_patterns)
