"""Small-map matmuls: which 1x1 convolutions become tiled matmuls, and that they still compute
what JAX does on the host."""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowering.compiler import apply_passes, compile_module, compile_to_input
from lowering.passes.small_map_matmuls import (
    AVX2_TILES,
    VECMAT_TILES,
    MatmulTiles,
    small_map_matmuls,
    vecmat_tiles,
)
from lowering.runtime import run_in_process
from tests.lowering.conftest import run_pass

RTOL, ATOL = 1e-5, 1e-4


def _net(k: int, m: int, stride: int = 1):
    """`relu(conv1x1(x, W) + b)` in NHWC with `W[K, M]` and `b` baked in."""
    rng = np.random.default_rng(k * 1000 + m)
    w = jnp.asarray(rng.standard_normal((1, 1, k, m)).astype(np.float32))
    b = jnp.asarray(rng.standard_normal(m).astype(np.float32))

    def net(x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(
            x, w, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return jax.nn.relu(y + b)

    return net


@pytest.mark.parametrize(
    ("side", "k", "m", "stride", "rewritten"),
    [
        (7, 24, 64, 1, 1),  # 49 pixels, 64 channels: a tiled matmul
        (14, 24, 64, 1, 0),  # 196 pixels: IREE's own tiles
        (7, 24, 40, 1, 0),  # 40 output channels: no whole 16-column tiles
        (13, 24, 64, 2, 0),  # strided
    ],
)
def test_sites(side: int, k: int, m: int, stride: int, rewritten: int) -> None:
    x = np.zeros((1, side, side, k), np.float32)
    text, count = run_pass(
        small_map_matmuls, compile_to_input(_net(k, m, stride), example_args=(x,))
    )
    assert count == rewritten
    assert ("linalg.conv_2d_nhwc_hwcf" in text) == (rewritten == 0)
    assert (
        "distribution = [49, 64, 0], vector_common_parallel = [7, 64, 0], "
        "vector_reduction = [0, 0, 1]" in text
    ) == (rewritten == 1)


@pytest.mark.parametrize(
    ("m", "vector", "workgroup"),
    [
        (2048, 64, 128),  # ResNet-50's 512->2048 layers
        (512, 64, 128),
        (960, 64, 64),  # MobileNet-V2: 960 = 15 x 64, and 128 does not divide it
        (320, 64, 64),
        (160, 32, 32),  # 64 does not divide 160: two registers per vector tile
        (48, 48, 48),
        (16, 16, 16),
    ],
)
def test_tiles_divide_the_output_channels(m: int, vector: int, workgroup: int) -> None:
    """Every tile divides `M` (no partial tiles, whose loads IREE masks), the vector tile
    is whole registers of at most `cols` channels, the workgroup spans the map."""
    expected = (
        f"distribution = [49, {workgroup}, 0], vector_common_parallel = [7, {vector}, 0], "
        "vector_reduction = [0, 0, 1]"
    )
    assert expected in MatmulTiles().attribute(49, m)
    x = np.zeros((1, 7, 7, 8), np.float32)
    text, count = run_pass(small_map_matmuls, compile_to_input(_net(8, m), example_args=(x,)))
    assert count == 1 and expected in text


@pytest.mark.parametrize("k", [16, 96])
def test_matches_jax(k: int, tmp_path: Path) -> None:
    net = _net(k, 96)
    x = np.random.default_rng(k).standard_normal((1, 7, 7, k)).astype(np.float32)
    linalg = compile_to_input(net, example_args=(x,))
    rewritten = apply_passes(linalg, [small_map_matmuls])
    assert "linalg.matmul" in rewritten
    module = compile_module(rewritten, "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(net)(x), rtol=RTOL, atol=ATOL)


def test_batch_one_fully_connected_gets_vecmat_tiles(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    w = rng.standard_normal((300, 40)).astype(np.float32)
    x = rng.standard_normal(40).astype(np.float32)

    def net(x: jax.Array) -> jax.Array:
        return x @ w.T

    linalg = compile_to_input(net, example_args=(x,))
    text, count = run_pass(small_map_matmuls, linalg)
    assert count == 1
    assert "distribution = [64, 0], vector_common_parallel = [8, 0]" in text
    assert run_pass(small_map_matmuls, text)[1] == 0  # already tiled: left alone
    module = compile_module(apply_passes(linalg, [small_map_matmuls]), "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(net)(x), rtol=RTOL, atol=ATOL)


def test_avx2_tiles_leave_convolutions_to_iree_and_tile_vecmats() -> None:
    """`AVX2_TILES` (`max_pixels=0`): the 7x7 1x1 convolution `test_sites` rewrites stays a
    convolution; a batch-1 fully connected layer still gets its vecmat tiles."""
    avx2 = functools.partial(small_map_matmuls, tiles=AVX2_TILES)
    x = np.zeros((1, 7, 7, 24), np.float32)
    text, count = run_pass(avx2, compile_to_input(_net(24, 64), example_args=(x,)))
    assert count == 0 and "linalg.conv_2d_nhwc_hwcf" in text
    w = np.ones((64, 40), np.float32)
    linalg = compile_to_input(lambda v: v @ w.T, example_args=(np.zeros(40, np.float32),))
    text, count = run_pass(avx2, linalg)
    assert count == 1 and "distribution = [64, 0], vector_common_parallel = [8, 0]" in text


def test_other_tiles_and_bad_tiles() -> None:
    x = np.zeros((1, 14, 14, 8), np.float32)
    linalg = compile_to_input(_net(8, 32), example_args=(x,))
    tiles = MatmulTiles(rows=14, cols=16, workgroup_cols=16, reduction=4, max_pixels=196)
    text, count = run_pass(functools.partial(small_map_matmuls, tiles=tiles), linalg)
    assert count == 1
    assert (
        "distribution = [196, 16, 0], vector_common_parallel = [14, 16, 0], "
        "vector_reduction = [0, 0, 4]" in text
    )
    for bad in (MatmulTiles(rows=0), MatmulTiles(workgroup_cols=0)):
        with pytest.raises(ValueError, match="tiles must be at least 1"):
            run_pass(functools.partial(small_map_matmuls, tiles=bad), linalg)
    with pytest.raises(ValueError, match=r"at least COLUMN_UNIT \(16\), got cols=8"):
        run_pass(functools.partial(small_map_matmuls, tiles=MatmulTiles(cols=8)), linalg)


def test_half_precision(tmp_path: Path) -> None:
    """Element types come from the operands: an f16 convolution stays f16."""
    rng = np.random.default_rng(9)
    w = jnp.asarray((rng.standard_normal((1, 1, 16, 32)) / 4).astype(np.float16))

    def net(x: jax.Array) -> jax.Array:
        return jax.lax.conv_general_dilated(
            x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    x = rng.standard_normal((1, 7, 7, 16)).astype(np.float16)
    linalg = compile_to_input(net, example_args=(x,))
    text, count = run_pass(small_map_matmuls, linalg)
    assert count == 1 and "tensor<49x16xf16>" in text
    module = compile_module(apply_passes(linalg, [small_map_matmuls]), "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    expected = np.asarray(jax.jit(net)(x), np.float32)
    np.testing.assert_allclose(np.asarray(y, np.float32), expected, rtol=2e-2, atol=2e-2)


def test_vecmat_tiles_divide_the_outputs() -> None:
    # Whole registers of outputs get a vector and workgroups that divide them (no masked
    # loads); others keep VECMAT_TILES.
    assert vecmat_tiles(1000) == (40, 8, 8)
    assert vecmat_tiles(1024) == (64, 8, 8)
    assert vecmat_tiles(96) == (48, 8, 8)
    assert vecmat_tiles(300) == VECMAT_TILES
    for m in range(8, 4096, 8):
        workgroup, vector, _ = vecmat_tiles(m)
        assert vector % 8 == 0 and vector <= 64 and m % workgroup == 0 and workgroup % vector == 0
        assert workgroup <= max(64, vector)
