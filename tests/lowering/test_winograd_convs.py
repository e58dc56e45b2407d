"""Winograd convolutions: the transform matrices, which convolutions the pass takes, the IR it
writes, and that the result still computes what JAX does on the host."""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from iree.compiler import ir

from lowering import passes
from lowering.compiler import apply_passes, compile_module, compile_to_input
from lowering.passes.winograd_convs import POINTS, winograd_convs, winograd_matrices
from lowering.runtime import run_in_process
from tests.lowering.conftest import run_pass
from tests.lowering.test_dense_convs import _net

# Float32 through the transforms: the worst error measured on these nets is 3e-5 absolute
# (F(6, 3)) and 1.2e-5 (F(4, 3)) on outputs up to about 5, against 5e-6 for the plain
# convolution (conftest); these bounds leave 3-8x room.
RTOL, ATOL = 1e-4, 1e-4


@pytest.mark.parametrize("m", sorted(POINTS))
def test_matrices_compute_the_correlation(m: int) -> None:
    """`AT ((G g) * (BT d))` is the 1-D correlation of `d` with `g`, and the nested 2-D form
    `AT [(G g G^T) * (BT d B)] A` the 2-D one, in float64 to rounding."""
    at, g, bt = winograd_matrices(m)
    n = m + 2
    assert (at.shape, g.shape, bt.shape) == ((m, n), (n, 3), (n, n))
    rng = np.random.default_rng(m)
    d, w = rng.standard_normal(n), rng.standard_normal(3)
    expected = np.array([w @ d[i : i + 3] for i in range(m)])
    np.testing.assert_allclose(at @ ((g @ w) * (bt @ d)), expected, atol=1e-12)
    d2, w2 = rng.standard_normal((n, n)), rng.standard_normal((3, 3))
    expected2 = np.array(
        [[np.sum(w2 * d2[i : i + 3, j : j + 3]) for j in range(m)] for i in range(m)]
    )
    got2 = at @ ((g @ w2 @ g.T) * (bt @ d2 @ bt.T)) @ at.T
    np.testing.assert_allclose(got2, expected2, atol=1e-11)


def test_matrices_reject_unknown_tiles() -> None:
    with pytest.raises(ValueError, match=r"m must be one of \[2, 4, 6\] with r = 3, got m=3"):
        winograd_matrices(3)
    with pytest.raises(ValueError, match="got m=4, r=5"):
        winograd_matrices(4, 5)


SMALL = functools.partial(winograd_convs, min_pixels=16)

# (window, stride, padding, input height and width, channels in, out, dilation, rewritten?)
CASES = [
    (3, 1, "SAME", (16, 16), 8, 32, 1, True),  # whole 4x4 tiles
    (3, 1, "SAME", (17, 23), 8, 16, 1, True),  # partial tiles: padded, then cropped
    (3, 1, "VALID", (18, 14), 5, 7, 1, True),  # no padding in the model; odd channels
    (3, 1, "SAME", (3, 3), 8, 16, 1, False),  # 9 pixels: below min_pixels
    (3, 2, "SAME", (16, 16), 8, 32, 1, False),  # strided
    (3, 1, "SAME", (16, 16), 8, 32, 2, False),  # dilated
    (5, 1, "SAME", (16, 16), 8, 32, 1, False),  # a 5x5 window
    (1, 1, "VALID", (16, 16), 8, 32, 1, False),  # 1x1
    ((3, 1), 1, "SAME", (16, 16), 8, 32, 1, False),  # 3x1
]


@pytest.mark.parametrize(("k", "stride", "padding", "hw", "c", "mo", "dilation", "taken"), CASES)
def test_sites(k, stride, padding, hw, c: int, mo: int, dilation: int, taken: bool) -> None:
    x = np.zeros((1, *hw, c), np.float32)
    linalg = compile_to_input(_net(k, c, mo, stride, padding, dilation), example_args=(x,))
    text, count = run_pass(SMALL, linalg)
    assert count == int(taken)
    assert ("linalg.batch_matmul" in text) == taken
    assert ("linalg.conv_2d_nhwc_hwcf" in text) == (not taken)
    if taken:
        assert run_pass(SMALL, text)[1] == 0  # nothing left to rewrite


def test_generics_read_through_projected_permutations() -> None:
    """IREE vectorizes a generic along its channels only when every map is a projected
    permutation; with `a * m + k` in a map its transforms ran as scalar code (session 30)."""
    x = np.zeros((1, 17, 23, 8), np.float32)
    linalg = compile_to_input(_net(3, 8, 16, 1, "SAME"), example_args=(x,))
    text, _ = run_pass(SMALL, linalg)
    generics = 0
    with ir.Context():
        module = ir.Module.parse(text)
        for function in module.body.operations:
            for op in function.regions[0].blocks[0].operations:
                if op.operation.name != "linalg.generic":
                    continue
                generics += 1
                maps = [ir.AffineMapAttr(a).value for a in op.operation.attributes["indexing_maps"]]
                assert all(m.is_projected_permutation for m in maps), maps
    assert generics >= 5  # four transforms and the init's addition (plus the model's bias)


@pytest.mark.parametrize("m", sorted(POINTS))
@pytest.mark.parametrize(
    ("hw", "c", "mo", "padding"),
    [((16, 16), 8, 32, "SAME"), ((17, 23), 8, 16, "SAME"), ((18, 14), 5, 7, "VALID")],
)
def test_matches_jax(m: int, hw, c: int, mo: int, padding: str, tmp_path: Path) -> None:
    net = _net(3, c, mo, 1, padding)
    x = np.random.default_rng(sum(hw) + m).standard_normal((1, *hw, c)).astype(np.float32)
    linalg = compile_to_input(net, example_args=(x,))
    rewritten = apply_passes(linalg, [functools.partial(winograd_convs, m=m, min_pixels=16)])
    assert "linalg.batch_matmul" in rewritten
    module = compile_module(rewritten, "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(net)(x), rtol=RTOL, atol=ATOL)


def test_filter_size_and_constness() -> None:
    """A transformed filter above `max_filter_bytes` (36 * 8 * 32 floats = 36,864 bytes), or
    a filter that is an argument rather than a constant, leaves the convolution alone."""
    x = np.zeros((1, 16, 16, 8), np.float32)
    linalg = compile_to_input(_net(3, 8, 32, 1, "SAME"), example_args=(x,))
    assert run_pass(SMALL, linalg, max_filter_bytes=36 * 8 * 32 * 4)[1] == 1
    assert run_pass(SMALL, linalg, max_filter_bytes=36 * 8 * 32 * 4 - 1)[1] == 0

    def conv(x: jax.Array, w: jax.Array) -> jax.Array:
        return jax.lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    w = jnp.zeros((3, 3, 8, 32), jnp.float32)
    assert run_pass(SMALL, compile_to_input(conv, example_args=(x, w)))[1] == 0


def test_half_precision_is_left_alone() -> None:
    x = np.zeros((1, 16, 16, 8), np.float16)
    linalg = compile_to_input(_net(3, 8, 32, 1, "SAME", dtype=np.float16), example_args=(x,))
    assert run_pass(SMALL, linalg)[1] == 0


def test_bad_options() -> None:
    x = np.zeros((1, 8, 8, 4), np.float32)
    linalg = compile_to_input(_net(3, 4, 16, 1, "SAME"), example_args=(x,))
    with pytest.raises(ValueError, match=r"m must be one of \[2, 4, 6\], got 5"):
        run_pass(winograd_convs, linalg, m=5)
    with pytest.raises(ValueError, match="min_pixels must be at least 1, got 0"):
        run_pass(winograd_convs, linalg, min_pixels=0)
    with pytest.raises(ValueError, match="max_filter_bytes must be at least 1, got -1"):
        run_pass(winograd_convs, linalg, max_filter_bytes=-1)


@pytest.mark.parametrize("host", ["HOST_DENSE", "HOST_DENSE_AVX2"])
def test_host_dense_takes_resnet_sized_layers(host: str, tmp_path: Path) -> None:
    """Both host pass sets' defaults: 3x3 layers on 14x14 maps and larger go through
    Winograd (before `dense_convs` could tile them), 7x7 ones stay im2col matmuls."""
    for side, winograd in ((14, True), (7, False)):
        net = _net(3, 16, 64, 1, "SAME")
        x = np.random.default_rng(side).standard_normal((1, side, side, 16)).astype(np.float32)
        text = apply_passes(compile_to_input(net, example_args=(x,)), getattr(passes, host))
        assert ("linalg.batch_matmul" in text) == winograd
        assert "linalg.conv_2d_nhwc_hwcf" not in text
        if winograd:
            module = compile_module(text, "host", tmp_path / f"m{side}.vmfb")
            (y,) = run_in_process(module.path, [x])
            np.testing.assert_allclose(y, jax.jit(net)(x), rtol=RTOL, atol=ATOL)
