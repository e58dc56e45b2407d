"""Storage accounting: relative indices with fillers, Huffman code lengths, per-layer bytes."""

import heapq
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cadnn_jax._storage import (
    huffman_code_lengths,
    position_bits_bound,
    relative_index,
    storage_report,
)


def _reference_huffman_bits(counts):
    """Textbook Huffman, one pair at a time: the total cost is the sum of all merged weights."""
    heap = list(map(int, counts))
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        total += merged
        heapq.heappush(heap, merged)
    return total


def _kraft_sum_is_one(length_counts):
    longest = max(length_counts)
    return sum(n << (longest - length) for length, n in length_counts.items()) == 1 << longest


def _decode(stream, size):
    flat = np.zeros(size, np.float32)
    positions = np.cumsum(stream.gaps + 1) - 1
    flat[positions] = stream.values
    return flat


# Flat positions 0, 3, 4, 300, 599 of a (2, 300) array. Zeros skipped before each survivor:
#   0 - (-1) - 1 = 0,  3 - 0 - 1 = 2,  4 - 3 - 1 = 0,  300 - 4 - 1 = 295,  599 - 300 - 1 = 298.
# With index_bits = 8 a gap holds at most 255: 295 = 255 + 1 (the filler's own slot) + 39 and
# 298 = 255 + 1 + 42, so one filler each. Stream: gaps [0, 2, 0, 255, 39, 255, 42],
# values [1, -2, 1, 0, .5, 0, 1]: 5 survivors + 2 fillers = 7 entries.
_POSITIONS = [0, 3, 4, 300, 599]
_VALUES = [1.0, -2.0, 1.0, 0.5, 1.0]


def _handmade():
    flat = np.zeros(600, np.float32)
    flat[_POSITIONS] = _VALUES
    return flat.reshape(2, 300)


def test_relative_index_inserts_fillers_for_long_gaps():
    stream = relative_index(_handmade(), index_bits=8)
    np.testing.assert_array_equal(stream.gaps, [0, 2, 0, 255, 39, 255, 42])
    np.testing.assert_array_equal(stream.values, [1, -2, 1, 0, 0.5, 0, 1])
    np.testing.assert_array_equal(_decode(stream, 600), _handmade().reshape(-1))


def test_gap_of_exactly_255_needs_no_filler_and_256_needs_one():
    # 255 zeros fit in 8 bits; 256 zeros are 255 + the filler's slot + 0.
    for run, gaps in [(255, [255]), (256, [255, 0]), (511, [255, 255]), (512, [255, 255, 0])]:
        x = np.zeros(run + 1, np.float32)
        x[run] = 3.0
        stream = relative_index(x, index_bits=8)
        np.testing.assert_array_equal(stream.gaps, gaps, err_msg=f"run of {run} zeros")
        np.testing.assert_array_equal(_decode(stream, run + 1), x)


def test_one_bit_indices_round_trip():
    # index_bits = 1: a gap holds 0 or 1, so 4 zeros before position 5 take 2 fillers:
    # gaps [0, 1, 1, 0] put entries at 0, 2 (filler), 4 (filler), 5.
    x = np.array([7.0, 0, 0, 0, 0, 8.0], np.float32)
    stream = relative_index(x, index_bits=1)
    np.testing.assert_array_equal(stream.gaps, [0, 1, 1, 0])
    np.testing.assert_array_equal(_decode(stream, 6), x)


def test_random_sparse_round_trip_and_filler_count():
    rng = np.random.default_rng(0)
    x = np.where(rng.random(20_000) < 0.005, rng.normal(size=20_000), 0).astype(np.float32)
    for bits in (2, 5, 8):
        stream = relative_index(x, index_bits=bits)
        np.testing.assert_array_equal(_decode(stream, x.size), x)
        runs = np.diff(np.flatnonzero(x), prepend=-1) - 1
        assert stream.gaps.size == np.count_nonzero(x) + np.sum(runs // 2**bits)
        assert stream.gaps.max() <= 2**bits - 1


def test_handmade_layer_bytes_fp32():
    report = storage_report({"w": _handmade()}, index_bits=8)
    (layer,) = report.layers
    assert (layer.size, layer.nonzeros, layer.fillers, layer.entries) == (600, 5, 2, 7)
    assert layer.sparsity == pytest.approx(1 - 5 / 600)
    assert layer.dense_bytes == 2400  # 600 * 4
    assert layer.value_bytes == 28  # 7 entries * 32 bits / 8
    assert layer.index_bytes == 7  # 7 entries * 8 bits / 8
    assert layer.table_bytes == 0  # fp32 survivors need no table of levels
    assert layer.compression_rate == pytest.approx(2400 / 35)
    assert layer.pruning_rate == pytest.approx(600 / 5)


def test_handmade_layer_huffman_bits_4bit_values():
    report = storage_report({"w": _handmade()}, value_bits=4, index_bits=8)
    (layer,) = report.layers
    # Values: 1.0 x3, 0 x2 (fillers), -2.0 x1, 0.5 x1 -> merges 1+1=2, 2+2=4, 3+4=7: 13 bits;
    # codebook 4 symbols * (4 + 8) = 48; total 61.
    assert layer.levels == 4
    assert layer.huffman_value_bits == 13 + 48
    # Gaps: 0 x2, 255 x2, 2, 39, 42 x1 -> merges 1+1=2, 1+2=3, 2+2=4, 3+4=7: 16 bits;
    # codebook 5 symbols * (8 + 8) = 80; total 96.
    assert layer.huffman_index_bits == 16 + 80
    # Raw: 7 * 4 / 8 = 3.5 value bytes, 7 index bytes, table 4 levels * 4 = 16 bytes.
    assert layer.compressed_bytes == 3.5 + 7 + 16
    assert layer.huffman_bytes == (61 + 96) / 8 + 16
    assert layer.huffman_compression_rate == pytest.approx(2400 / 35.625)


def test_fully_dense_layer():
    report = storage_report({"w": jnp.ones((4, 8))}, index_bits=8)
    (layer,) = report.layers
    assert (layer.nonzeros, layer.fillers, layer.sparsity) == (32, 0, 0.0)
    # 32 entries * (32 + 8) bits = 160 bytes against 128 dense: indices make dense storage worse.
    assert layer.compressed_bytes == 160
    assert layer.compression_rate == pytest.approx(0.8)
    # One value and one gap symbol: 1 bit per entry each, plus codebooks (32 + 8) and (8 + 8).
    assert layer.huffman_value_bits == 32 + 40
    assert layer.huffman_index_bits == 32 + 16
    assert report.pruning_rate == 1.0


def test_all_zero_layer():
    report = storage_report({"w": jnp.zeros((3, 3))})
    (layer,) = report.layers
    assert (layer.nonzeros, layer.fillers, layer.entries, layer.sparsity) == (0, 0, 0, 1.0)
    assert layer.compressed_bytes == 0 and layer.huffman_bytes == 0
    assert math.isinf(layer.compression_rate) and math.isinf(report.pruning_rate)
    d = report.to_dict()
    assert d["pruning_rate"] is None and d["layers"][0]["compression_rate"] is None
    json.dumps(d, allow_nan=False)


def test_huffman_matches_textbook_cost_and_kraft_equality():
    rng = np.random.default_rng(1)
    cases = [
        [3, 2, 1, 1],
        [1] * 1000,  # equal counts, bulk-merged
        rng.integers(1, 4, size=300),  # many ties
        rng.geometric(0.05, size=200),  # skewed
        [1, 1, 2, 3, 5, 8, 13, 21, 34],  # Fibonacci: the deepest tree
    ]
    for counts in cases:
        code = huffman_code_lengths(counts)
        assert code.coded_bits == _reference_huffman_bits(counts)
        assert sum(code.length_counts.values()) == len(counts)
        assert _kraft_sum_is_one(code.length_counts)


def test_huffman_within_one_bit_of_entropy():
    rng = np.random.default_rng(2)
    for counts in [rng.integers(1, 100, size=50), rng.geometric(0.3, size=20), [9, 1]]:
        p = np.asarray(counts) / np.sum(counts)
        entropy = -np.sum(p * np.log2(p))
        mean_length = huffman_code_lengths(counts).coded_bits / np.sum(counts)
        assert entropy - 1e-9 <= mean_length < entropy + 1


def test_huffman_edge_cases():
    assert huffman_code_lengths([5]) == (5, {1: 1})  # convention: 1 bit per entry
    assert huffman_code_lengths([]) == (0, {})
    assert huffman_code_lengths([1, 1]) == (2, {1: 2})
    with pytest.raises(ValueError, match="positive integers"):
        huffman_code_lengths([3, 0])


def test_huffman_of_a_million_distinct_values_is_fast():
    # Every fp32 survivor its own symbol: 2**20 equal counts give a complete tree of depth 20.
    code = huffman_code_lengths(np.ones(2**20, np.int64))
    assert code == (20 * 2**20, {20: 2**20})


def test_ninety_nine_percent_sparse_layer():
    rng = np.random.default_rng(3)
    size, keep = 1_000_000, 10_000
    flat = np.zeros(size, np.float32)
    positions = np.sort(rng.choice(size, keep, replace=False))
    flat[positions] = rng.normal(size=keep).astype(np.float32) + 10.0  # never exactly 0
    report = storage_report({"fc": {"kernel": flat.reshape(1000, 1000)}}, index_bits=8)
    runs = np.diff(positions, prepend=-1) - 1
    fillers = int(np.sum(runs // 256))
    assert report.pruning_rate == 100.0
    assert report.fillers == fillers
    # Each entry costs 32 + 8 bits = 5 bytes.
    assert report.compressed_bytes == 5 * (keep + fillers)
    # Gaps are about geometric(0.01): a filler per P(gap >= 256) = 0.99**256 ~ 7.6% of
    # survivors, plus 0.99**512 ~ 0.6% for a second, so about 1.083 entries per survivor and a
    # rate near 4e6 / (5 * 10_830) ~ 74 -- far below the 100x pruning rate.
    assert 70 < report.compression_rate < 78
    assert report.compression_rate == pytest.approx(4e6 / (5 * (keep + fillers)))


def test_position_bound_counts_masks():
    # Small cases by counting: C(5, 2) = 10 masks, C(n, 0) = C(n, n) = 1 (nothing to say).
    assert position_bits_bound(5, 2) == pytest.approx(math.log2(10))
    assert position_bits_bound(64, 0) == 0.0
    assert position_bits_bound(64, 64) == 0.0
    assert position_bits_bound(1000, 10) == pytest.approx(math.log2(math.comb(1000, 10)))
    with pytest.raises(ValueError, match=r"0 <= nonzeros <= size, got size=4, nonzeros=5"):
        position_bits_bound(4, 5)
    with pytest.raises(ValueError, match=r"needs integers .*got size=10.5, nonzeros=3"):
        position_bits_bound(10.5, 3)


def test_huffman_indices_stay_above_the_position_bound():
    # Random 99%-sparse masks: relative indices, even Huffman-coded, spend more bits on
    # positions than log2 C(size, n), which is ~n * (log2(size / n) + 1.44) bits here.
    rng = np.random.default_rng(5)
    size, keep = 400_000, 4_000
    flat = np.zeros(size, np.float32)
    flat[rng.choice(size, keep, replace=False)] = 1.0
    report = storage_report({"fc": {"kernel": flat.reshape(800, 500)}}, index_bits=8)
    (layer,) = report.layers
    bound = layer.position_bound_bits
    assert bound == pytest.approx(math.log2(math.comb(size, keep)))
    assert keep * (math.log2(size / keep) + 1.3) < bound < keep * (math.log2(size / keep) + 1.5)
    assert report.position_bound_bits == bound
    assert layer.huffman_index_bits > bound
    assert layer.to_dict()["position_bound_bits"] == pytest.approx(bound)


def test_value_bits_mapping_by_path_and_others_counted_dense():
    params = {
        "conv": {"kernel": jnp.zeros((3, 3, 2, 4)).at[0, 0, 0, 0].set(1.0), "bias": jnp.ones(4)},
        "fc": {"kernel": jnp.eye(8), "bias": jnp.ones(8)},
    }
    report = storage_report(params, value_bits={"fc/kernel": 4}, index_bits=8)
    conv, fc = report.layers
    assert (conv.path, conv.value_bits, fc.path, fc.value_bits) == (
        "conv/kernel",
        32,
        "fc/kernel",
        4,
    )
    # fc: 8 survivors on the diagonal, gaps 0 then 8 (< 255): 8 entries * 4 bits = 4 bytes,
    # 8 index bytes, a table of one level (1.0) = 4 bytes.
    assert fc.compressed_bytes == 4 + 8 + 4
    # conv: one survivor at flat position 0: 4 + 1 bytes.
    assert conv.compressed_bytes == 5
    assert report.other_paths == ("conv/bias", "fc/bias")
    assert (report.other_size, report.other_bytes) == (12, 48)
    dense = 4 * (72 + 64)
    assert report.compression_rate == pytest.approx(dense / 21)
    assert report.compression_rate_with_others == pytest.approx((dense + 48) / (21 + 48))


def test_explicit_leaves_and_nnx_state():
    model = nnx.Linear(20, 10, rngs=nnx.Rngs(0))
    state = nnx.state(model)
    default = storage_report(state)
    assert [layer.path for layer in default.layers] == ["kernel"]
    assert default.other_paths == ("bias",)
    both = storage_report(state, leaves=["kernel", "bias"])
    assert [layer.path for layer in both.layers] == ["bias", "kernel"]
    assert both.other_size == 0


def test_too_many_values_for_value_bits():
    x = jnp.arange(1.0, 18.0).reshape(1, 17)  # 17 distinct values, 4 bits name 16
    with pytest.raises(ValueError, match="value_bits for 'w' is 4.*16 values.*17 distinct"):
        storage_report({"w": x}, value_bits=4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"index_bits": 0}, r"index_bits must be an integer in \[1, 32\], got 0"),
        ({"index_bits": 33}, r"index_bits must be an integer in \[1, 32\], got 33"),
        ({"value_bits": 0}, r"value_bits must be an integer in \[1, 32\], got 0"),
        ({"value_bits": {"w": 2.5}}, r"value_bits\['w'\] must be an integer in \[1, 32\], got 2.5"),
        ({"value_bits": {"nope": 4}}, r"value_bits names \['nope'\].*weight paths are \['w'\]"),
        ({"value_bits": {"b": 4}}, r"value_bits names \['b'\].*weight paths are \['w'\]"),
        ({"leaves": ["nope"]}, r"leaves names \['nope'\].*paths are \['b', 'w'\]"),
    ],
)
def test_bad_arguments(kwargs, match):
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    with pytest.raises(ValueError, match=match):
        storage_report(params, **kwargs)


def test_leaves_as_one_string_is_named():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    with pytest.raises(TypeError, match="leaves must be a collection of paths, got the string 'w'"):
        storage_report(params, leaves="w")


def test_non_floating_leaves_are_not_parameters():
    params = {"w": jnp.ones((2, 2)), "key": jax.random.key(0), "step": jnp.array(3, jnp.int32)}
    report = storage_report(params)
    assert [layer.path for layer in report.layers] == ["w"]
    assert (report.other_paths, report.other_size) == ((), 0)
