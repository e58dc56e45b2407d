"""Dense convolutions: which ones run direct with our tiles, which become im2col matmuls, and
that both still compute what JAX does on the host."""

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowering import passes
from lowering.compiler import apply_passes, compile_module, compile_to_input
from lowering.passes.dense_convs import ConvTiles, dense_convs
from lowering.runtime import run_in_process
from tests.lowering.conftest import run_pass

RTOL, ATOL = 1e-4, 1e-4
# Small tiles, so that maps a test compiles in a second take the direct path.
SMALL = ConvTiles(rows=2, channels=16, columns=4, vector_channels=16, min_pixels=64)


def _net(k, c: int, m: int, stride, padding, dilation=1, dtype=np.float32):
    """`relu(conv(x, W) + b)` in NHWC with a `k` (or `(kh, kw)`) window, `W[kh, kw, c, m]`
    baked in, `stride` an int or a pair."""
    kh, kw = (k, k) if isinstance(k, int) else k
    strides = (stride, stride) if isinstance(stride, int) else stride
    rng = np.random.default_rng(100 * kh + 10 * kw + m)
    w = rng.standard_normal((kh, kw, c, m)) / np.sqrt(kh * kw * c)
    w, b = jnp.asarray(w.astype(dtype)), jnp.asarray(rng.standard_normal(m).astype(dtype))

    def net(x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(
            x,
            w,
            strides,
            padding,
            rhs_dilation=(dilation, dilation),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return jax.nn.relu(y + b)

    return net


# (window, stride, padding, input height and width, channels in, out, what the pass makes of it)
CASES = [
    (3, 1, "SAME", (16, 16), 8, 32, "direct"),  # 256 pixels, width 16 = 4 x 4 columns
    (3, 1, "SAME", (6, 6), 8, 32, "im2col"),  # 36 pixels: below min_pixels
    (3, 1, "SAME", (10, 10), 8, 32, "im2col"),  # width 10: no whole 4-column tiles
    (3, 1, "SAME", (16, 16), 8, 24, "im2col"),  # 24 output channels: no whole 16-channel tiles
    (3, 2, "SAME", (16, 16), 8, 32, "im2col"),  # strided on 8 channels: not a stem
    (7, 2, ((3, 3), (3, 3)), (16, 16), 3, 16, "direct"),  # a 7x7 stem on 3 channels
    (7, 2, ((3, 3), (3, 3)), (20, 20), 3, 16, "im2col"),  # ... whose 10x10 map has no 4-tiles
    (1, 2, "VALID", (16, 16), 8, 32, "im2col"),  # strided 1x1 (a ResNet shortcut)
    (1, 1, "VALID", (16, 16), 8, 32, "kept"),  # stride-1 1x1: IREE's own matmul
    (2, 1, "VALID", (17, 17), 4, 16, "direct"),  # even window, no padding
    ((3, 5), 1, "SAME", (12, 16), 8, 32, "direct"),  # non-square window and map
    ((5, 3), 2, ((1, 0), (2, 1)), (15, 22), 8, 32, "im2col"),  # ... strided, uneven padding
    (3, (1, 2), "SAME", (16, 16), 8, 32, "kept"),  # different strides: left to IREE
]


@pytest.mark.parametrize(("k", "stride", "padding", "hw", "c", "m", "path"), CASES)
def test_sites(k, stride, padding, hw: tuple[int, int], c: int, m: int, path: str) -> None:
    x = np.zeros((1, *hw, c), np.float32)
    linalg = compile_to_input(_net(k, c, m, stride, padding), example_args=(x,))
    text, count = run_pass(functools.partial(dense_convs, tiles=SMALL), linalg)
    assert count == (path != "kept")
    assert ("ConvTileAndDecomposeExpert" in text) == (path == "direct")
    assert ("linalg.conv_2d_nhwc_hwcf" in text) == (path != "im2col")
    assert ("linalg.matmul" in text) == (path == "im2col")
    if path == "direct":
        kw = k if isinstance(k, int) else k[1]
        assert f"vector_reduction = [0, 0, 0, 0, 1, {kw}, 1]" in text
        assert run_pass(functools.partial(dense_convs, tiles=SMALL), text)[1] == 0  # tiled once


@pytest.mark.parametrize(("k", "stride", "padding", "hw", "c", "m", "path"), CASES)
def test_matches_jax(k, stride, padding, hw, c: int, m: int, path: str, tmp_path: Path) -> None:
    net = _net(k, c, m, stride, padding)
    x = np.random.default_rng(sum(hw) + m).standard_normal((1, *hw, c)).astype(np.float32)
    linalg = apply_passes(
        compile_to_input(net, example_args=(x,)), [functools.partial(dense_convs, tiles=SMALL)]
    )
    module = compile_module(linalg, "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(net)(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("side", [28, 14, 7])
def test_default_tiles_on_resnet_sized_maps(side: int, tmp_path: Path) -> None:
    """The tiles the benchmarks use: 28x28 maps (784+ pixels) direct, 14x14 and 7x7 im2col."""
    net = _net(3, 16, 64, 1, "SAME")
    x = np.random.default_rng(side).standard_normal((1, side, side, 16)).astype(np.float32)
    linalg = compile_to_input(net, example_args=(x,))
    text, count = run_pass(dense_convs, linalg)
    assert count == 1
    direct = f"distribution = [0, 7, {side}, 64, 0, 0, 0]" in text
    assert direct == (side * side >= 784)
    assert ("vector_common_parallel = [1, 1, 7, 64, 0, 0, 0]" in text) == direct
    module = compile_module(apply_passes(linalg, [dense_convs]), "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(net)(x), rtol=RTOL, atol=ATOL)


def test_batches_and_dilations_are_left_to_iree() -> None:
    for net, batch in ((_net(3, 8, 32, 1, "SAME"), 2), (_net(3, 8, 32, 1, "SAME", 2), 1)):
        x = np.zeros((batch, 16, 16, 8), np.float32)
        linalg = compile_to_input(net, example_args=(x,))
        assert run_pass(functools.partial(dense_convs, tiles=SMALL), linalg)[1] == 0


@pytest.mark.parametrize("stride", [1, 2])
def test_half_precision(stride: int, tmp_path: Path) -> None:
    """Element types come from the operands (an f16 im2col matmul, an f16 direct conv)."""
    net = _net(3, 8, 32, stride, "SAME", dtype=np.float16)
    x = np.random.default_rng(stride).standard_normal((1, 16, 16, 8)).astype(np.float16)
    linalg = compile_to_input(net, example_args=(x,))
    text, count = run_pass(functools.partial(dense_convs, tiles=SMALL), linalg)
    assert count == 1 and ("linalg.matmul" in text) == (stride == 2)
    rewritten = apply_passes(linalg, [functools.partial(dense_convs, tiles=SMALL)])
    module = compile_module(rewritten, "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    expected = np.asarray(jax.jit(net)(x), np.float32)
    np.testing.assert_allclose(np.asarray(y, np.float32), expected, rtol=2e-2, atol=2e-2)


def test_bad_tiles() -> None:
    x = np.zeros((1, 8, 8, 4), np.float32)
    linalg = compile_to_input(_net(3, 4, 16, 1, "SAME"), example_args=(x,))
    with pytest.raises(ValueError, match="tiles must be at least 1, got columns=0"):
        run_pass(functools.partial(dense_convs, tiles=ConvTiles(columns=0)), linalg)
    with pytest.raises(ValueError, match=r"channels \(64\) must be a multiple of vector_channels"):
        run_pass(functools.partial(dense_convs, tiles=ConvTiles(vector_channels=48)), linalg)


@pytest.mark.parametrize(("k", "stride", "padding", "hw", "c", "m", "path"), CASES)
def test_without_stride_1_tiles_only_stems_run_direct(
    k, stride, padding, hw: tuple[int, int], c: int, m: int, path: str
) -> None:
    """`stride_1=False` (`AVX2_TILES`): every direct case above but the stems (at most
    `stem_channels` input channels) becomes an im2col matmul; the rest is decided as before."""
    x = np.zeros((1, *hw, c), np.float32)
    linalg = compile_to_input(_net(k, c, m, stride, padding), example_args=(x,))
    tiles = dataclasses.replace(SMALL, stride_1=False)
    text, _ = run_pass(functools.partial(dense_convs, tiles=tiles), linalg)
    expected = "im2col" if path == "direct" and c > tiles.stem_channels else path
    assert ("ConvTileAndDecomposeExpert" in text) == (expected == "direct")
    assert ("linalg.matmul" in text) == (expected == "im2col")


def test_host_dense_picks_the_tiles_of_the_cpu(tmp_path: Path) -> None:
    """AVX-512 gets `HOST_DENSE`; AVX2, Arm or an unreadable cpuinfo get `HOST_DENSE_AVX2`,
    whose stride-1 3x3 convolution is an im2col matmul; the first processor decides."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma avx512f\n\nflags\t\t: sse\n")
    assert passes.host_dense(cpuinfo) is passes.HOST_DENSE
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx avx2 fma\n")
    assert passes.host_dense(cpuinfo) is passes.HOST_DENSE_AVX2
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd\n")
    assert passes.host_dense(cpuinfo) is passes.HOST_DENSE_AVX2
    assert passes.host_dense(tmp_path / "missing") is passes.HOST_DENSE_AVX2
    # A 5x5 window: a 3x3 one on this map would go through `winograd_convs` in HOST_DENSE.
    x = np.zeros((1, 28, 28, 16), np.float32)
    linalg = compile_to_input(_net(5, 16, 64, 1, "SAME"), example_args=(x,))
    assert "ConvTileAndDecomposeExpert" in apply_passes(linalg, passes.HOST_DENSE)
    assert "linalg.matmul" in apply_passes(linalg, passes.HOST_DENSE_AVX2)
