"""sparse_dispatch: format choice, before/expected IR per format, numerics against JAX on host
(1x1 and KxK convolutions, fully connected layers), arm64 under qemu and Vulkan on lavapipe."""

import collections
import contextlib
import functools
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowering import passes
from lowering.compiler import apply_passes, compile_module, compile_to_input
from lowering.dispatches import count_dispatches, dispatch_names
from lowering.export import channels_first_input
from lowering.layout import channels_first
from lowering.passes import host_sparse_tiles
from lowering.passes._sparse_conv_kernels import (
    Grid,
    conv_kernel_function,
    onto_padding,
    phase_split_tiles,
)
from lowering.passes._sparse_formats import (
    choose_layout,
    layout_for_blocks,
    layout_for_rows,
    layout_for_taps,
)
from lowering.passes._sparse_kernels import (
    AVX2_TILES,
    AVX512_TILES,
    DEFAULT_TILES,
    CpuTiles,
    GridOutput,
    KernelFunction,
    kernel_function,
    vector_multiple,
)
from lowering.passes.sparse_dispatch import sparse_dispatch
from lowering.run_module import run_module
from lowering.runtime import run_in_process
from tests.lowering.conftest import run_pass, without_comments

IR = Path(__file__).parent / "ir"
FORMATS = [
    "balanced",
    "ell",
    "blocks",
    "zero",
    "taps",
    "taps_blocks",
    "fused",
    "dense",
    "dense_nchw",
]

# Each output sums at most K <= 64 products of N(0, 1) weights and activations; XLA and the
# sparse kernel differ only in summation order, measured below 2e-6 absolute here.
RTOL = 1e-4
ATOL = 1e-4


def _rewrite(text: str, **kwargs: Any) -> tuple[str, int]:
    return run_pass(sparse_dispatch, text, **kwargs)


# --- formats ------------------------------------------------------------------------------


def _mask(structure: str, m: int, k: int, density: float, rng: np.random.Generator) -> np.ndarray:
    """A [M, K] nonzero pattern of the given structure and (about) the given density."""
    keep = max(1, round(density * k))
    if structure == "balanced":
        order = np.argsort(rng.random((m, k)), axis=1)
        mask = np.zeros((m, k), bool)
        np.put_along_axis(mask, order[:, :keep], True, axis=1)
        return mask
    if structure == "blocks":
        return np.repeat(_mask("balanced", m // 4, k, density, rng), 4, axis=0)
    mask = rng.random((m, k)) < density
    if structure == "zero_rows":
        mask[::3] = False
    return mask


def _tap_blocks(
    m: int, c: int, kernel: tuple[int, int], density: float, rng: np.random.Generator
) -> np.ndarray:
    """A [M, C, kh, kw] nonzero pattern in 4x1 blocks per kernel tap (`_mask("blocks")`,
    drawn tap by tap)."""
    taps = [_mask("blocks", m, c, density, rng) for _ in range(kernel[0] * kernel[1])]
    return np.stack(taps, -1).reshape(m, c, *kernel)


def test_formats_chosen_by_structure() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 64)).astype(np.float32)
    assert choose_layout(w * _mask("balanced", 64, 64, 0.1, rng)).kind == "balanced"
    assert choose_layout(w * _mask("blocks", 64, 64, 0.1, rng)).kind == "blocks"
    assert choose_layout(w * _mask("unstructured", 64, 64, 0.1, rng)).kind == "ell"
    assert choose_layout(np.zeros((8, 4))).kind == "zero"


def test_taps_share_one_format() -> None:
    rng = np.random.default_rng(2)
    w = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    blocks = _tap_blocks(8, 16, (3, 3), 0.2, rng)
    taps = layout_for_taps(w * blocks)
    assert [t for t, _ in taps] == [(dy, dx) for dy in range(3) for dx in range(3)]
    assert {layout.kind for _, layout in taps} == {"blocks"}
    rows = layout_for_taps(w * (rng.random(w.shape) < 0.1))
    assert {layout.block for _, layout in rows} == {1}
    # A tap without nonzeros gets no table; with blocks disallowed, rows are used.
    w[:, :, 1, 2] = 0
    taps = layout_for_taps(w * blocks, block_sizes=())
    assert (1, 2) not in [t for t, _ in taps] and len(taps) == 8
    assert {layout.block for _, layout in taps} == {1}
    for (dy, dx), layout in taps:
        np.testing.assert_array_equal(layout.dense(), (w * blocks)[:, :, dy, dx])


@pytest.mark.parametrize("structure", ["unstructured", "balanced", "blocks", "zero_rows"])
def test_tables_represent_the_matrix(structure: str) -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((16, 24)).astype(np.float32) * _mask(structure, 16, 24, 0.2, rng)
    for layout in (layout_for_rows(w), layout_for_blocks(w, 4), layout_for_blocks(w, 2)):
        np.testing.assert_array_equal(layout.dense(), w)
        assert layout.nnz == np.count_nonzero(w)
        assert layout.col.min(initial=0) >= 0 and layout.col.max(initial=0) < 24


def test_padding_waste() -> None:
    # Rows of 1, 3, 0 and 2 nonzeros padded to 3: 6 of 12 slots are padding.
    w = np.zeros((4, 8), np.float32)
    w[0, 2] = w[1, [0, 4, 7]] = w[3, [1, 6]] = 1
    layout = layout_for_rows(w)
    assert (layout.kind, layout.slots, layout.padding_waste) == ("ell", 3, 0.5)


def test_blocks_need_a_dividing_height() -> None:
    with pytest.raises(ValueError, match="g=3 must divide"):
        layout_for_blocks(np.ones((8, 4)), 3)


# --- IR -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FORMATS)
def test_before_expected(name: str) -> None:
    after, rewritten = _rewrite((IR / f"sparse_{name}.before.mlir").read_text())
    assert (rewritten > 0) == (name not in ("dense", "dense_nchw"))
    assert after == without_comments((IR / f"sparse_{name}.expected.mlir").read_text())


@pytest.mark.parametrize(
    ("name", "tables"),
    [
        # (format, the types of the constants the kernel reads: columns, values, bias)
        ("balanced", ["tensor<4x2xi32>", "tensor<4x2xf32>", "tensor<4xf32>"]),
        ("ell", ["tensor<4x3xi32>", "tensor<4x3xf32>", "tensor<4xf32>"]),
        ("blocks", ["tensor<2x2xi32>", "tensor<2x2x4xf32>", "tensor<2x4xf32>"]),
        ("zero", ["tensor<4xf32>"]),
        # 3x3 stride 2: four taps with nonzeros, one slot each.
        ("taps", ["tensor<2x4xi32>", "tensor<2x4xf32>", "tensor<2xf32>"]),
        # 3x3 stride 1, one 4-row block: three taps with one shared slot each.
        ("taps_blocks", ["tensor<1x3xi32>", "tensor<1x3x4xf32>", "tensor<1x4xf32>"]),
    ],
)
def test_kernel_structure(name: str, tables: list[str]) -> None:
    after, _ = _rewrite((IR / f"sparse_{name}.before.mlir").read_text())
    assert "linalg.matmul" not in after and "linalg.conv_2d" not in after
    # Stride 2: the split of the input into phase planes is a dispatch of its own, first.
    split = name == "taps"
    assert after.count("flow.dispatch.workgroups") == 1 + split
    # 64 pixels per row; a 4-row block keeps as many accumulators with 16. The stride-2 taps
    # kernel has 3x4 output pixels, rounded up to 16 (two registers) and a vector of 16.
    pixels = 16 if name in ("blocks", "taps_blocks", "taps") else 64
    assert f"vector_common_parallel = [1, {pixels}]" in after
    assert after.count("compilation_info = #compilation") == 1 + split
    dispatch = after[after.rindex("flow.dispatch.workgroups") :].split("\n")[0]
    assert dispatch.split(" : (")[1].split(") ->")[0].split(", ")[1:] == tables


def test_second_run_changes_nothing_more() -> None:
    for name in FORMATS:
        expected = (IR / f"sparse_{name}.expected.mlir").read_text()
        after, rewritten = _rewrite(expected)
        assert rewritten == 0
        assert after == without_comments(expected)


def test_threshold_decides() -> None:
    before = (IR / "sparse_balanced.before.mlir").read_text()  # density 0.25
    assert _rewrite(before, threshold=0.25)[1] == 0
    assert _rewrite(before, threshold=0.26)[1] == 1
    dense = (IR / "sparse_dense.before.mlir").read_text()
    assert _rewrite(dense, threshold=1.01)[1] == 1


def test_gpu_kernels_have_no_cpu_tiles() -> None:
    after, _ = _rewrite((IR / "sparse_blocks.before.mlir").read_text(), tiles=None)
    assert "flow.dispatch.workgroups" in after and "compilation_info" not in after


@pytest.mark.parametrize(
    ("c", "rows", "ws", "vector", "channels"),
    [
        # MobileNet-V2's splits: 57, 29 and 15 columns (odd), 8 columns; 256 KB workgroups.
        (16, 58, 57, 3, 4),
        (24, 30, 29, 1, 6),
        (32, 20, 15, 3, 8),
        (96, 9, 8, 8, 24),
        # Two channels cannot make 4 workgroups: one channel each.
        (2, 6, 4, 4, 1),
    ],
)
def test_phase_split_tiles_divide_the_planes(
    c: int, rows: int, ws: int, vector: int, channels: int
) -> None:
    distribution, vectors = phase_split_tiles(c, rows, ws, 2)
    assert distribution == [channels, rows, 2, ws, 2]
    assert vectors == [1, 1, 1, vector, 2]
    assert ws % vector == 0 and c % channels == 0
    assert channels * 4 * rows * ws * 4 <= 256 * 1024


def test_wide_workgroups_divide_the_pixels() -> None:
    # A last workgroup with fewer pixels masks every load of the kernel (vmaskmovps on AVX2):
    # wide workgroups take the most whole vectors, up to 448 pixels, that divide the map.
    tiles = CpuTiles()
    assert tiles.workgroup_pixels(1, 9, 3264) == 192  # 51 vectors = 3 * 17
    assert tiles.workgroup_pixels(1, 9, 832) == 64  # 13 vectors, a prime
    assert tiles.workgroup_pixels(4, 26, 3200) == 400  # 200 vectors of 16
    for g, v in ((1, 64), (4, 16)):
        for p in range(512, 20_000, v):
            wg = tiles.workgroup_pixels(g, 9, p)
            assert wg % v == 0 and p % wg == 0 and wg <= 448, (g, p, wg)
    assert tiles.workgroup_pixels(1, 9, 3250) == 448  # not whole vectors: masked anyway


def test_long_rows_and_small_maps_get_workgroups_of_one_pixel_vector() -> None:
    # A row whose hoisted values and addresses (32 bytes per value of a slot, 8 per address)
    # pass 16 KB gets one pixel vector per workgroup; shorter rows keep 448 pixels, unless
    # the map has fewer than 512 pixels.
    tiles = CpuTiles()
    assert tiles.workgroup_pixels(4, 26, 3136) == 448
    assert tiles.workgroup_pixels(4, 120, 3136) == 448  # 120 * 136 = 16,320 bytes
    assert tiles.workgroup_pixels(4, 121, 3136) == 16
    assert tiles.workgroup_pixels(4, 576, 3136) == 16
    assert tiles.workgroup_pixels(1, 409, 3136) == 448  # 409 * 40 = 16,360 bytes
    assert tiles.workgroup_pixels(1, 410, 3136) == 64
    assert tiles.workgroup_pixels(4, 26, 512) == 256  # 448 would leave a last one of 64
    assert tiles.workgroup_pixels(4, 26, 511) == 16
    assert tiles.workgroup_pixels(1, 8, 64) == 64
    assert "distribution = [8, 16], vector_common_parallel = [1, 16]" in tiles.attribute(
        4, 576, 3136
    )
    assert "distribution = [8, 448], vector_common_parallel = [1, 64]" in tiles.attribute(
        1, 8, 3136
    )


def test_pointwise_tiles_replace_the_others_for_1x1_kernels() -> None:
    # AVX-512: 4-row blocks on 64-pixel vectors where 64 divides the map (else the blocks'
    # 16-pixel vectors, with no padding copy), every output channel (up to 2048) in a
    # workgroup of one pixel vector (nothing hoisted); a matrix-vector product gets 8 row
    # blocks per workgroup (`rows`), so that its rows are spread over the workers.
    blocks = AVX512_TILES.for_pointwise(4, 3136)
    assert blocks.pixel_vector(4, 3136) == 64
    assert "distribution = [512, 64], vector_common_parallel = [1, 64]" in blocks.attribute(
        4, 26, 3136
    )
    assert AVX512_TILES.for_pointwise(4, 784).pixel_vector(4, 784) == 16
    assert "distribution = [2048, 64], vector_common_parallel = [1, 64]" in (
        AVX512_TILES.for_pointwise(1, 3136).attribute(1, 26, 3136)
    )
    assert "distribution = [8, 64]" in AVX512_TILES.for_pointwise(1, 1).attribute(1, 26, 1)
    # KxK kernels keep the others; tiles without pointwise fields are unchanged.
    assert "distribution = [8, 448]" in AVX512_TILES.attribute(4, 26, 3136)
    # With AVX-512 a KxK row hoisting more than 4 KB (72 slots of a 4-row block: 9.8 KB, a
    # 64-channel 3x3 layer at 1/8) gets workgroups of one pixel vector, where AVX2 hoists it;
    # 4-row blocks run on 64-pixel vectors there (16 with the others' tiles).
    assert "distribution = [8, 64], vector_common_parallel = [1, 64]" in (
        AVX512_TILES.attribute(4, 72, 3136)
    )
    assert "distribution = [8, 448], vector_common_parallel = [1, 16]" in (
        AVX2_TILES.attribute(4, 72, 3136)
    )
    assert AVX512_TILES.attribute(1, 72, 3136) == AVX2_TILES.attribute(1, 72, 3136)
    assert DEFAULT_TILES.for_pointwise(4, 3136) == DEFAULT_TILES
    assert AVX2_TILES.for_pointwise(1, 3136).vector == (1, 32)
    assert AVX2_TILES.for_pointwise(4, 3136) == AVX2_TILES


def test_1x1_kernels_carry_the_pointwise_tiles() -> None:
    w = np.ones((8, 16), np.float32)
    kernel = kernel_function(
        "k",
        layout_for_blocks(w, 4),
        np.zeros(8, np.float32),
        (16, 64),
        input_layout="cols",
        tiles=AVX512_TILES,
    )
    assert "distribution = [512, 64], vector_common_parallel = [1, 64]" in kernel.text


def test_host_sparse_tiles_follow_the_cpu(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma avx512f\n")
    assert host_sparse_tiles(cpuinfo) == AVX512_TILES
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx avx2 fma\n")
    assert host_sparse_tiles(cpuinfo) == AVX2_TILES
    assert host_sparse_tiles(tmp_path / "missing") == AVX2_TILES


def test_host_sparse_is_the_pass_with_the_cpus_tiles_then_host_dense(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    for flags in ("fpu avx2 fma avx512f", "fpu avx avx2 fma"):
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        first, *rest = passes.host_sparse(cpuinfo, threshold=0.3)
        assert first.func is sparse_dispatch
        assert first.keywords == {"tiles": host_sparse_tiles(cpuinfo), "threshold": 0.3}
        assert tuple(rest) == passes.host_dense(cpuinfo)


def test_dense_kxk_on_channel_major_maps_gets_the_dense_passes(tmp_path: Path) -> None:
    # A 3x3 convolution left dense between two sparse 1x1 layers of a channel-major model:
    # `host_sparse`'s dense passes rewrite it (stride 1 on a 14x14 map, on AVX2: Winograd's
    # batch matmul), instead of IREE's default direct convolution, and the result still
    # matches JAX.
    rng = np.random.default_rng(11)
    w1 = rng.standard_normal((16, 8)).astype(np.float32) * _mask("blocks", 16, 8, 0.25, rng)
    w3 = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((8, 16)).astype(np.float32) * _mask("blocks", 8, 16, 0.25, rng)
    first, conv, last = (
        _conv_net(w1, None, "relu", 1),
        _conv_net(w3, rng.standard_normal(16).astype(np.float32), "relu", 1, "SAME"),
        _conv_net(w2, None, "none", 1),
    )
    net = channels_first(lambda x: last(conv(first(x))))
    x = rng.standard_normal((1, 14, 14, 8)).astype(np.float32)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx avx2 fma\n")
    linalg = compile_to_input(net, example_args=(x,))
    rewritten = apply_passes(linalg, passes.host_sparse(cpuinfo))
    assert rewritten.count("flow.dispatch.workgroups") == 2
    assert "linalg.conv_2d_nhwc_hwcf" not in rewritten
    assert "linalg.batch_matmul" in rewritten
    module = compile_module(rewritten, "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(net)(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["balanced", "ell", "blocks", "taps", "taps_blocks"])
def test_avx2_tiles_change_only_the_pointwise_row_kernels(name: str) -> None:
    # 1x1 kernels in a row format get 32-pixel vectors; block and KxK kernels are unchanged.
    before = (IR / f"sparse_{name}.before.mlir").read_text()
    default, _ = _rewrite(before)
    avx2, _ = _rewrite(before, tiles=AVX2_TILES)
    if name in ("balanced", "ell"):
        # Only the tile configuration differs: its vector (and this small map's workgroup
        # of one vector) goes from 64 pixels to 32.
        changed = [
            (a, b) for a, b in zip(default.splitlines(), avx2.splitlines(), strict=True) if a != b
        ]
        assert len(changed) == 1
        a, b = changed[0]
        assert "vector_common_parallel = [1, 64]" in a and "vector_common_parallel = [1, 32]" in b
        assert a.replace("64]", "32]") == b
    else:
        assert avx2 == default


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="threshold"):
        _rewrite((IR / "sparse_ell.before.mlir").read_text(), threshold=-1)
    with pytest.raises(ValueError, match="block_sizes"):
        _rewrite((IR / "sparse_ell.before.mlir").read_text(), block_sizes=(0,))
    with pytest.raises(ValueError, match="grid_overhead must be >= 0, got -1"):
        _rewrite((IR / "sparse_ell.before.mlir").read_text(), grid_overhead=-1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # NaN compared False with every density: every layer went sparse, dense ones too.
        ({"threshold": float("nan")}, "threshold must be >= 0, got nan"),
        ({"grid_overhead": float("nan")}, "grid_overhead must be >= 0, got nan"),
        ({"block_sizes": 4}, "block_sizes must be a sequence of integers >= 1, got 4"),
        ({"block_sizes": (2.5,)}, r"block_sizes must be .* got \(2.5,\)"),
        ({"block_sizes": (True,)}, r"block_sizes must be .* got \(True,\)"),
        # A dict was an AttributeError.
        ({"tiles": {"rows": 8}}, r"tiles must be a CpuTiles or None, got \{'rows': 8\}"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _rewrite((IR / "sparse_dense.before.mlir").read_text(), **options)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # Tiles of 0 or below reached the IR (IREE reads 0 as "not tiled"), a vector of 0
        # became one register, a register of 0 was a ZeroDivisionError.
        ({"rows": 0}, "tiles.rows must be at least 1, got 0"),
        ({"pixels": -8}, "tiles.pixels must be at least 1, got -8"),
        ({"register": 0}, "tiles.register must be at least 1, got 0"),
        ({"vector": (1, 0)}, r"tiles.vector must be .* got \(1, 0\)"),
        ({"block_vector": 0}, "tiles.block_vector must be at least 1, got 0"),
        ({"pointwise_channels": 0}, "tiles.pointwise_channels must be at least 1, got 0"),
        ({"hoist_bytes": -1}, "tiles.hoist_bytes must be >= 0, got -1"),
        ({"pointwise_hoist_bytes": -1}, "tiles.pointwise_hoist_bytes must be >= 0, got -1"),
        # Sizes that are no integers reached the IR as such (True as 1).
        ({"rows": True}, "tiles.rows must be integers, got True"),
        ({"vector": (1, 2.5)}, r"tiles.vector must be integers, got \(1, 2.5\)"),
        ({"vector": 64}, "tiles.vector must be 2 sizes of at least 1, got 64"),
    ],
)
def test_tiles_no_kernel_can_use_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CpuTiles(**fields)
    assert CpuTiles(hoist_bytes=0, pointwise_hoist_bytes=0).hoist_bytes == 0


def test_host_sparse_checks_its_options_when_called(tmp_path: Path) -> None:
    # A misspelt option failed only when the pass ran, inside a compilation.
    with pytest.raises(
        TypeError, match=r"host_sparse options must be among \[.*'threshold'\], got \['treshold'\]"
    ):
        passes.host_sparse(treshold=0.1)
    # `passes=[host_sparse]` gave the pass the module as its cpuinfo: AttributeError 'exists'.
    with pytest.raises(
        TypeError, match=r"cpuinfo must be a path, got object; .*passes=host_dense\(\)"
    ):
        passes.host_sparse(object())
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu avx2 avx512f\n")
    assert passes.host_dense(str(cpuinfo)) == passes.host_dense(cpuinfo) == passes.HOST_DENSE


def test_command_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lowering.passes.sparse_dispatch",
            str(IR / "sparse_blocks.before.mlir"),
            "-o",
            str(tmp_path / "out.mlir"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    expected = (IR / "sparse_blocks.expected.mlir").read_text()
    assert without_comments((tmp_path / "out.mlir").read_text()) == without_comments(expected)
    assert "sparse blocks" in proc.stderr and "padding waste 0%" in proc.stderr


# --- numerics -----------------------------------------------------------------------------

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "none": lambda y: y,
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
}


def _conv_net(
    w: np.ndarray,
    bias: np.ndarray | None,
    activation: str,
    stride: int,
    padding: str = "VALID",
    groups: int = 1,
) -> Callable[[jax.Array], jax.Array]:
    """`act(conv(x, W) + bias)` in NHWC; `W[M, K]` is a 1x1 filter, `W[M, C, kh, kw]` a KxK
    one (`C` per group: `W[M, 1, kh, kw]` with `groups=M` is depthwise), baked in as a
    constant."""
    filters = jnp.asarray(w.T[None, None] if w.ndim == 2 else w.transpose(2, 3, 1, 0))

    def net(x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(
            x,
            filters,
            (stride, stride),
            padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=groups,
        )
        return _ACTIVATIONS[activation](y if bias is None else y + bias)

    return net


def _check_host(fn: Callable[..., Any], x: np.ndarray, tmp_path: Path, **kwargs: Any) -> str:
    linalg = compile_to_input(fn, example_args=(x,))
    rewritten = apply_passes(linalg, [functools.partial(sparse_dispatch, **kwargs)])
    module = compile_module(rewritten, "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(fn)(x), rtol=RTOL, atol=ATOL)
    return rewritten


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    structure=st.sampled_from(["unstructured", "balanced", "blocks", "zero_rows"]),
    k=st.integers(1, 12).map(lambda n: 4 * n),
    m=st.integers(1, 12).map(lambda n: 4 * n),
    size=st.integers(1, 9),
    stride=st.sampled_from([1, 2]),
    density=st.floats(0.02, 0.35),
    activation=st.sampled_from(sorted(_ACTIVATIONS)),
    nchw=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv1x1_matches_jax(
    tmp_path_factory: pytest.TempPathFactory,
    structure: str,
    k: int,
    m: int,
    size: int,
    stride: int,
    density: float,
    activation: str,
    nchw: bool,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, k)).astype(np.float32) * _mask(structure, m, k, density, rng)
    net = _conv_net(w, rng.standard_normal(m).astype(np.float32), activation, stride)
    x = rng.standard_normal((1, size, size + 1, k)).astype(np.float32)
    if nchw:
        net, x = channels_first_input(net), np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    text = _check_host(net, x, tmp_path_factory.mktemp("conv"), threshold=0.5)
    assert "linalg.conv_2d" not in text


@settings(max_examples=5, deadline=None, derandomize=True)
@given(
    # One input channel: the NHWC transpose of the map is a reshape, which IREE folds away.
    k=st.integers(2, 40),
    m=st.integers(1, 40),
    size=st.integers(1, 9),
    stride=st.sampled_from([1, 2]),
    bias=st.booleans(),
    activation=st.sampled_from(sorted(_ACTIVATIONS)),
    seed=st.integers(0, 2**16),
)
def test_dense_pointwise_on_channel_major_maps_is_a_matmul(
    tmp_path_factory: pytest.TempPathFactory,
    k: int,
    m: int,
    size: int,
    stride: int,
    bias: bool,
    activation: str,
    seed: int,
) -> None:
    # Above the threshold a 1x1 convolution of an NCHW map stays dense, as IREE's matmul of W
    # and the map (not the NHWC convolution of a transposed map, 4-16x slower in IREE).
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32) if bias else None
    net = channels_first_input(_conv_net(w, b, activation, stride))
    x = rng.standard_normal((1, k, size, size + 2)).astype(np.float32)
    text = _check_host(net, x, tmp_path_factory.mktemp("dense"), threshold=0.5)
    assert "linalg.conv_2d" not in text and "linalg.matmul" in text
    assert "flow.dispatch.workgroups" not in text  # IREE forms the matmul's dispatch


OTHER_TARGETS = [
    pytest.param("arm64-a76", marks=pytest.mark.arm64),
    pytest.param("vulkan", marks=pytest.mark.vulkan),
]


def _rewritten_for(target: str, net: Callable[..., Any], x: np.ndarray, **kwargs: Any) -> str:
    """`net`'s input IR for `target` after `sparse_dispatch(**kwargs)`, without CPU tiles on
    Vulkan."""
    gpu = target == "vulkan"
    rewrite = functools.partial(sparse_dispatch, **kwargs, **({"tiles": None} if gpu else {}))
    linalg = compile_to_input(net, example_args=(x,), target="vulkan" if gpu else "host")
    return apply_passes(linalg, [rewrite])


def _check_on(
    target: str, linalg: str, x: np.ndarray, expected: np.ndarray, tmp_path: Path
) -> None:
    """Compiles `linalg` for `target`, runs it on `x` there and compares with `expected`."""
    module = compile_module(linalg, target, tmp_path / "m.vmfb")
    (y,) = run_module(module.path, [x], target)
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


def _sparse_dense_sparse() -> tuple[Callable[..., Any], np.ndarray, np.ndarray]:
    """Three 1x1 layers on channel-major maps (`channels_first`): sparse (4x1 blocks), dense
    (60% of the weights, strided, bias + ReLU6), sparse (unstructured)."""
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((16, 8)).astype(np.float32) * _mask("blocks", 16, 8, 0.25, rng)
    w2 = rng.standard_normal((24, 16)).astype(np.float32) * (rng.random((24, 16)) < 0.6)
    w3 = rng.standard_normal((8, 24)).astype(np.float32) * _mask("unstructured", 8, 24, 0.2, rng)
    first = _conv_net(w1, None, "relu", 1)
    second = _conv_net(w2, rng.standard_normal(24).astype(np.float32), "relu6", 2)
    third = _conv_net(w3, None, "none", 1)
    net = channels_first(lambda x: third(second(first(x))))
    x = rng.standard_normal((1, 10, 12, 8)).astype(np.float32)
    return net, x, np.asarray(jax.jit(net)(x))


def test_dense_pointwise_between_sparse_ones_adds_no_layout_changes(tmp_path: Path) -> None:
    net, x, expected = _sparse_dense_sparse()
    linalg = compile_to_input(net, example_args=(x,))
    rewritten = apply_passes(linalg, [sparse_dispatch])
    assert rewritten.count("flow.dispatch.workgroups") == 2
    assert "linalg.transpose" not in rewritten and "linalg.conv_2d" not in rewritten
    # Two sparse kernels and the matmul (its bias and ReLU6 fused); the only layout changes are
    # the model's own, of its NHWC input and output. The sparse kernels' pixel padding and
    # the strided read are copies of their own.
    names = dispatch_names(rewritten)
    assert sum("_matmul_" in n for n in names) == 1
    assert [n for n in names if "transpose" in n] == [names[0], names[-1]]
    module = compile_module(rewritten, "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("target", OTHER_TARGETS)
def test_dense_pointwise_between_sparse_ones_on_other_backends(target: str, tmp_path: Path) -> None:
    net, x, expected = _sparse_dense_sparse()
    rewritten = _rewritten_for(target, net, x)
    assert "linalg.conv_2d" not in rewritten and "linalg.matmul" in rewritten
    _check_on(target, rewritten, x, expected, tmp_path)


@pytest.mark.parametrize("structure", ["balanced", "unstructured"])
def test_pointwise_rows_on_avx2_tiles_match_jax(structure: str, tmp_path: Path) -> None:
    """`AVX2_TILES`' 32-pixel row kernels, on a map of 3 vectors plus a remainder."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((24, 40)).astype(np.float32) * _mask(structure, 24, 40, 0.2, rng)
    net = channels_first_input(_conv_net(w, rng.standard_normal(24).astype(np.float32), "relu", 1))
    x = rng.standard_normal((1, 40, 10, 11)).astype(np.float32)
    text = _check_host(net, x, tmp_path, threshold=0.5, tiles=AVX2_TILES)
    assert "vector_common_parallel = [1, 32]" in text


@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    structure=st.sampled_from(["unstructured", "blocks"]),
    kernel=st.sampled_from([(3, 3), (5, 5), (1, 3), (3, 1)]),
    c=st.integers(1, 12),
    m=st.integers(1, 12),
    size=st.integers(5, 9),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from(["SAME", "VALID"]),
    density=st.floats(0.02, 0.35),
    activation=st.sampled_from(sorted(_ACTIVATIONS)),
    layout=st.sampled_from(["nhwc", "nchw", "channels_first"]),
    seed=st.integers(0, 2**16),
)
def test_kxk_conv_matches_jax(
    tmp_path_factory: pytest.TempPathFactory,
    structure: str,
    kernel: tuple[int, int],
    c: int,
    m: int,
    size: int,
    stride: int,
    padding: str,
    density: float,
    activation: str,
    layout: str,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    if structure == "blocks":
        # Per tap, blocks of 4 output channels share their input channels; at least 4 input
        # channels, so that one kept channel per tap stays under the threshold.
        m, c = 4 * -(-m // 4), max(c, 4)
        mask = _tap_blocks(m, c, kernel, density, rng)
    else:
        mask = rng.random((m, c, *kernel)) < density
    w = rng.standard_normal((m, c, *kernel)).astype(np.float32) * mask
    net = _conv_net(w, rng.standard_normal(m).astype(np.float32), activation, stride, padding)
    x = rng.standard_normal((1, size, size + 2, c)).astype(np.float32)
    if layout == "nchw":  # NCHW arguments, the padded NHWC map inside
        net, x = channels_first_input(net), np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if layout == "channels_first":  # an NCHW map inside, padded by the kernel
        net = channels_first(net)
    text = _check_host(net, x, tmp_path_factory.mktemp("kxk"), threshold=0.5)
    assert "linalg.conv_2d" not in text
    # Only an NHWC map is padded in 4-D (by JAX's tensor.pad, which the kernel then reads).
    padded_nhwc = re.search(r"tensor\.pad .* low\[\d+, \d+, \d+, \d+\]", text) is not None
    assert padded_nhwc == (padding == "SAME" and layout != "channels_first")


@settings(max_examples=5, deadline=None, derandomize=True)
@given(
    structure=st.sampled_from(["unstructured", "balanced", "blocks", "zero_rows"]),
    k=st.integers(1, 16).map(lambda n: 4 * n),
    m=st.integers(1, 8).map(lambda n: 4 * n),
    batch=st.integers(1, 5),
    form=st.sampled_from(["x @ W^T", "W @ x", "vector"]),
    seed=st.integers(0, 2**16),
)
def test_matmul_matches_jax(
    tmp_path_factory: pytest.TempPathFactory,
    structure: str,
    k: int,
    m: int,
    batch: int,
    form: str,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, k)).astype(np.float32) * _mask(structure, m, k, 0.15, rng)
    b = rng.standard_normal(m).astype(np.float32)
    if form == "W @ x":  # channel-major: y[M, N] = relu(W @ x[K, N] + b)
        x = rng.standard_normal((k, batch)).astype(np.float32)

        def net(x: jax.Array) -> jax.Array:
            return jax.nn.relu(jnp.dot(w, x) + b[:, None])
    elif form == "vector":  # batch 1 without a batch dimension: linalg.vecmat
        x = rng.standard_normal(k).astype(np.float32)

        def net(x: jax.Array) -> jax.Array:
            return jax.nn.relu(x @ w.T + b)
    else:
        x = rng.standard_normal((batch, k)).astype(np.float32)

        def net(x: jax.Array) -> jax.Array:
            return jax.nn.relu(x @ w.T + b)

    text = _check_host(net, x, tmp_path_factory.mktemp("matmul"))
    assert "linalg.matmul" not in text and "linalg.vecmat" not in text


@pytest.mark.parametrize("m", [1000, 36])
def test_dense_vecmat_gets_wide_tiles(m: int, tmp_path: Path) -> None:
    # A fully connected layer at batch 1 left dense keeps IREE's vecmat, tiled in workgroups
    # and vectors that divide its outputs when they are whole 8-float registers (1000: 25 of
    # 40 by vectors of 8; 36: one partial workgroup of 64), and still matches JAX;
    # on GPU (`tiles=None`) it is left to IREE.
    rng = np.random.default_rng(3)
    w = rng.standard_normal((m, 80)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    x = rng.standard_normal(80).astype(np.float32)

    def net(x: jax.Array) -> jax.Array:
        return x @ w.T + b

    text = _check_host(net, x, tmp_path, threshold=0.4)
    assert "linalg.vecmat" in text and "flow.dispatch.workgroups" not in text
    workgroup, vector, _ = {1000: (40, 8, 8), 36: (64, 8, 8)}[m]
    assert f"distribution = [{workgroup}, 0], vector_common_parallel = [{vector}, 0]" in text
    gpu, rewritten = _rewrite(compile_to_input(net, example_args=(x,)), tiles=None)
    assert rewritten == 0 and "compilation_info" not in gpu


@pytest.mark.parametrize(
    ("case", "threshold"),
    [("all_zero", 0.4), ("fully_dense", 1.01), ("above_threshold", 0.4)],
)
def test_edge_layers(case: str, threshold: float, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    w = rng.standard_normal((8, 12)).astype(np.float32)
    if case == "all_zero":
        w[:] = 0
    elif case == "above_threshold":
        w *= rng.random(w.shape) < 0.6
    net = _conv_net(w, rng.standard_normal(8).astype(np.float32), "relu", 1)
    x = rng.standard_normal((1, 5, 3, 12)).astype(np.float32)
    text = _check_host(net, x, tmp_path, threshold=threshold)
    assert ("flow.dispatch.workgroups" in text) == (case != "above_threshold")


@pytest.mark.parametrize("zero", ["expansion_rows", "depthwise"])
def test_fused_edge_layers(zero: str, tmp_path: Path) -> None:
    # An expansion with rows of zeros (a whole 4-row block, so a block with no slots), or a
    # depthwise layer that is entirely zero after it: the pair still matches JAX; an all-zero
    # depthwise layer is left to the KxK kernel's own zero form instead of fused.
    rng = np.random.default_rng(4)
    w = rng.standard_normal((16, 8)).astype(np.float32) * _mask("blocks", 16, 8, 0.25, rng)
    filters = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    if zero == "expansion_rows":
        w[4:8] = 0
    else:
        filters[:] = 0
    expansion = _conv_net(w, rng.standard_normal(16).astype(np.float32), "relu", 1)
    depthwise = _conv_net(filters, None, "relu", 1, "SAME", groups=16)
    x = rng.standard_normal((1, 8, 14, 8)).astype(np.float32)
    with _pass_log() as log:
        _check_host(channels_first(lambda x: depthwise(expansion(x))), x, tmp_path, threshold=0.5)
    assert ("layers 0 and 1 fused" in log.getvalue()) == (zero != "depthwise")


def test_fused_expansions_keep_their_vectors(tmp_path: Path) -> None:
    # AVX-512's `block_vector` is for KxK kernels: an expansion fused into a depthwise
    # kernel's dispatch keeps 16-pixel vectors for its 4-row blocks (64 was slower there).
    rng = np.random.default_rng(4)
    w = rng.standard_normal((16, 8)).astype(np.float32) * _mask("blocks", 16, 8, 0.25, rng)
    filters = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    expansion = _conv_net(w, rng.standard_normal(16).astype(np.float32), "relu", 1)
    depthwise = _conv_net(filters, None, "relu", 1, "SAME", groups=16)
    x = rng.standard_normal((1, 8, 14, 8)).astype(np.float32)
    net = channels_first(lambda x: depthwise(expansion(x)))
    with _pass_log() as log:
        text = _check_host(net, x, tmp_path, threshold=0.5, tiles=AVX512_TILES)
    assert "layers 0 and 1 fused" in log.getvalue()
    vectors = re.findall(r"vector_common_parallel = \[([\d, ]+)\]", text)
    assert vectors and all(v.endswith(", 16") for v in vectors), vectors


@pytest.mark.parametrize(
    ("kernel", "stride", "side", "layout"),
    [
        (1, 1, 7, "nhwc"),
        (3, 1, 7, "nhwc"),
        (1, 1, 7, "channels_first"),
        (3, 1, 7, "channels_first"),
        (1, 2, 13, "channels_first"),
        # 8x8 pixels are whole vectors already, but a strided NCHW map is padded by one more
        # vector: without a copy the kernel would read the strided view with gathers.
        (1, 2, 16, "channels_first"),
    ],
)
def test_pixels_padded_to_whole_vectors(
    kernel: int, stride: int, side: int, layout: str, tmp_path: Path
) -> None:
    # 7x7 outputs: 49 pixels (1x1) or a 7x9 grid of 63 (3x3 SAME), both computed as 64 by the
    # 4-row block kernel (16-pixel vectors) and sliced back.
    rng = np.random.default_rng(5)
    m, c = 16, 32
    mask = _tap_blocks(m, c, (kernel, kernel), 0.25, rng)
    w = rng.standard_normal((m, c, kernel, kernel)).astype(np.float32) * mask
    net = _conv_net(w[:, :, 0, 0] if kernel == 1 else w, None, "relu", stride, "SAME")
    if layout == "channels_first":
        # After a sparse 1x1 layer: a kernel reading the model's (transposed) input is not
        # padded, so that the transpose can cancel against its inverse.
        pre_w = rng.standard_normal((c, c)).astype(np.float32) * _mask("blocks", c, c, 0.25, rng)
        pre = _conv_net(pre_w, None, "relu", 1)
        net = channels_first(lambda x, net=net: net(pre(x)))
    x = rng.standard_normal((1, side, side, c)).astype(np.float32)
    text = _check_host(net, x, tmp_path)
    wide = 80 if side == 16 else 64
    assert f"-> tensor<4x4x{wide}xf32> =" in text
    assert "tensor.extract_slice" in text


def test_channel_major_chain_has_no_transposes() -> None:
    # Three sparse layers on an NCHW map: the layouts between them cancel, so there are as
    # many dispatches as dense IREE forms (one per layer, with its ReLU fused).
    rng = np.random.default_rng(3)
    nets = [
        _conv_net(rng.standard_normal((16, 16)) * (rng.random((16, 16)) < 0.2), None, "relu", 1)
        for _ in range(3)
    ]
    net = channels_first_input(lambda x: nets[2](nets[1](nets[0](x))))
    # 8x8: whole pixel vectors, so no layer pads its input (a pad is a copy, a dispatch).
    linalg = compile_to_input(net, example_args=(np.zeros((1, 16, 8, 8), np.float32),))
    rewritten = apply_passes(linalg, [sparse_dispatch])
    assert rewritten.count("flow.dispatch.workgroups") == 3
    assert count_dispatches(rewritten) == count_dispatches(linalg) == 3


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    c=st.integers(3, 12),  # density 1/c, under the threshold of 0.5
    # Odd squares: IREE 3.13 fails to lower a depthwise convolution whose strided window
    # leaves a remainder (a 3x4 map, stride 2, VALID), with or without this pass.
    size=st.sampled_from([3, 5, 7, 9]),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from(["SAME", "VALID"]),
    activation=st.sampled_from(sorted(_ACTIVATIONS)),
    seed=st.integers(0, 2**16),
)
def test_depthwise_on_channel_major_maps(
    tmp_path_factory: pytest.TempPathFactory,
    c: int,
    size: int,
    stride: int,
    padding: str,
    activation: str,
    seed: int,
) -> None:
    # Channel-major: a KxK kernel with diagonal taps, no layout change. NHWC: IREE's own.
    rng = np.random.default_rng(seed)
    filters = rng.standard_normal((c, 1, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(c).astype(np.float32)
    net = _conv_net(filters, bias, activation, stride, padding, groups=c)

    x = rng.standard_normal((1, size, size, c)).astype(np.float32)
    tmp = tmp_path_factory.mktemp("depthwise")
    text = _check_host(channels_first(net), x, tmp, threshold=0.5)
    assert "linalg.depthwise_conv" not in text
    # The kernel, and for stride 2 the split into phase planes on CPU (`_phase_split`).
    assert text.count("flow.dispatch.workgroups") == 1 + (stride > 1)
    assert "linalg.depthwise_conv" in _check_host(net, x, tmp, threshold=0.5)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    k=st.integers(1, 3).map(lambda n: 4 * n),
    expand=st.integers(2, 4),
    size=st.sampled_from([5, 7, 9, 16]),
    stride=st.sampled_from([1, 2]),
    depthwise=st.booleans(),
    structure=st.sampled_from(["unstructured", "blocks"]),
    # Not relu6: on this bare conv JAX's relu6 leaves an op between the two convolutions that
    # the epilogue fusion does not take (in MobileNet-V2 it does), so there is no pair.
    activation=st.sampled_from(["none", "relu"]),
    fuse=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_inverted_residual_computed_on_the_kxk_grids(
    tmp_path_factory: pytest.TempPathFactory,
    k: int,
    expand: int,
    size: int,
    stride: int,
    depthwise: bool,
    structure: str,
    activation: str,
    fuse: bool,
    seed: int,
) -> None:
    # An expanding 1x1 conv (K -> expand * K channels, bias, activation), a padded 3x3 (or
    # depthwise) conv and a projecting 1x1 conv back to K channels, on channel-major maps:
    # the expansion runs on the 3x3 kernel's input grid (its input is the one padded, its
    # output masked to zero on the border), the projection on the 3x3 kernel's output grid
    # (the map is cut from its output, not from its input). Before a depthwise conv the
    # expansion is computed in the depthwise kernel's own dispatch, band by band (`fuse`).
    rng = np.random.default_rng(seed)
    m = expand * k
    w = rng.standard_normal((m, k)).astype(np.float32) * _mask(structure, m, k, 0.3, rng)
    expansion = _conv_net(w, rng.standard_normal(m).astype(np.float32), activation, 1)
    if depthwise:
        filters = rng.standard_normal((m, 1, 3, 3)).astype(np.float32)
    else:
        filters = rng.standard_normal((m, m, 3, 3)).astype(np.float32)
        filters *= rng.random(filters.shape) < 0.2
    conv = _conv_net(filters, None, activation, stride, "SAME", groups=m if depthwise else 1)
    w2 = rng.standard_normal((k, m)).astype(np.float32) * _mask(structure, k, m, 0.3, rng)
    projection = _conv_net(w2, None, "none", 1)
    x = rng.standard_normal((1, size, size + 1, k)).astype(np.float32)
    with _pass_log() as log:
        text = _check_host(
            channels_first(lambda x: projection(conv(expansion(x)))),
            x,
            tmp_path_factory.mktemp("grid"),
            threshold=0.5,
            grid_overhead=10.0,  # any map, however small
            fuse_expansions=fuse,
        )
    fused = fuse and depthwise
    # Three kernels (two when fused), and for stride 2 the split of the K-channel input into
    # phase planes.
    assert text.count("flow.dispatch.workgroups") == 3 - fused + (stride > 1)
    assert ("layers 0 and 1 fused" in log.getvalue()) == fused
    assert ("layer 0 computed again on layer 1's grid" in log.getvalue()) == (not fused)
    assert "layer 2 computed on the previous KxK kernel's output grid" in log.getvalue()
    # The only pad left is the K-channel input's; the only map cut from a grid has K channels.
    assert _padded_channels(text) == [str(k)]
    assert _cut_channels(text) == [str(k)]


def _padded_channels(text: str) -> list[str]:
    """The channels of each map a `tensor.pad` in `text` pads, in order."""
    return re.findall(r"tensor\.pad .*?\} : tensor<(\d+)x", text, re.DOTALL)


def _cut_channels(text: str) -> list[str]:
    """The channels of each 3-D map a `tensor.extract_slice` in `text` cuts, in order."""
    return re.findall(r"tensor\.extract_slice .* to tensor<(\d+)x\d+x\d+xf32>", text)


def test_grids_only_within_the_overhead() -> None:
    # The inverted residual of the backend tests: on its 9x10 map the expansion's grid has
    # 168 pixels for 90 (1.87x) and the projection's 30 for 25 (1.2x), so 2.0 (the default)
    # takes both, 1.5 only the latter, and 0 neither: the 24-channel maps are then padded (for
    # the depthwise kernel, and to whole pixel vectors for the projection) and cut.
    net, x, _ = _inverted_residual()
    linalg = compile_to_input(net, example_args=(x,))
    cases = [(2.0, ["8"], ["8"]), (1.5, ["24"], ["8"]), (0.0, ["24", "24"], ["24"])]
    for overhead, pads, cuts in cases:
        text = apply_passes(linalg, [functools.partial(sparse_dispatch, grid_overhead=overhead)])
        assert _padded_channels(text) == pads, overhead
        assert _cut_channels(text) == cuts, overhead


@pytest.mark.parametrize(
    ("channels", "kernel", "ours"), [(3, 3, True), (8, 3, False), (3, 7, False)]
)
def test_dense_stem_gets_our_kernel(channels: int, kernel: int, ours: bool, tmp_path: Path) -> None:
    # A dense KxK convolution on a channel-major map stays IREE's, except a network's first
    # layer: at most 3x3 on at most `STEM_CHANNELS` input channels (the image's).
    rng = np.random.default_rng(channels + kernel)
    filters = rng.standard_normal((8, channels, kernel, kernel)).astype(np.float32)
    net = _conv_net(filters, rng.standard_normal(8).astype(np.float32), "relu", 2, "SAME")
    x = rng.standard_normal((1, 15, 16, channels)).astype(np.float32)
    with _pass_log() as log:
        text = _check_host(channels_first(net), x, tmp_path)
    assert ("our KxK kernel although dense" in log.getvalue()) == ours
    assert ("linalg.conv_2d_nhwc_hwcf" in text) == (not ours)


def _two_kxk_layers(
    size: tuple[int, int], stride: int, second: str
) -> tuple[Callable[..., Any], np.ndarray]:
    """A dense 3x3 layer on a 3-channel image (`stride`, bias well above 0, ReLU), then
    `second`: a 3x3 depthwise layer, or a 3x3 convolution at 30% of stride 1 ("conv") or 2
    ("conv_stride_two"), bias and ReLU; on channel-major maps, and an input."""
    rng = np.random.default_rng(size[0] + stride)
    filters = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32) + 3
    first = _conv_net(filters, bias, "relu", stride, "SAME")
    groups, next_stride = 1, 2 if second == "conv_stride_two" else 1
    if second == "depthwise":
        w = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
        groups = 8
    else:
        w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
        w *= _mask("unstructured", 8, 8, 0.3, rng)[..., None, None]
    then = _conv_net(
        w, rng.standard_normal(8).astype(np.float32), "relu", next_stride, "SAME", groups=groups
    )
    x = rng.standard_normal((1, *size, 3)).astype(np.float32)
    return channels_first(lambda v: then(first(v))), x


@pytest.mark.parametrize(
    ("size", "stride", "second", "onto"),
    [
        ((15, 16), 2, "depthwise", True),  # MobileNet-V2's stem and first depthwise layer
        ((9, 10), 1, "conv", True),  # two 3x3 layers, as in VGG or ResNet-18's blocks
        ((9, 10), 1, "conv_stride_two", False),  # a stride-2 reader: its input is cut and padded
    ],
)
def test_kxk_kernel_writes_the_next_kxk_kernels_grid(
    size: tuple[int, int], stride: int, second: str, onto: bool, tmp_path: Path
) -> None:
    # A KxK kernel whose map only a stride-1 KxK kernel reads computes straight onto that
    # kernel's padded input grid, its padding masked to zero (the ReLU of its bias, which the
    # kernel computes there, is not): the map is neither cut from its output grid nor padded
    # again. These small maps' grids have 2.5x their pixels, over the default overhead.
    net, x = _two_kxk_layers(size, stride, second)
    with _pass_log() as log:
        text = _check_host(net, x, tmp_path, threshold=0.5, grid_overhead=10.0)
    assert ("as the previous KxK kernel computed it" in log.getvalue()) == onto
    assert _padded_channels(text) == (["3"] if onto else ["3", "8"])
    assert _cut_channels(text) == (["8"] if onto else ["8", "8"])


@pytest.mark.parametrize(("size", "stride"), [((9, 10), 1), ((14, 14), 1), ((13, 15), 2)])
def test_kxk_block_kernels_take_the_block_vector(
    size: tuple[int, int], stride: int, tmp_path: Path
) -> None:
    # With AVX-512's tiles a KxK kernel in 4-row blocks runs on 64-pixel vectors (its output
    # grid rounded up to them, and a KxK kernel writing onto its input grid aligned to them),
    # where a 1x1 kernel in blocks keeps its own vectors: 16 pixels on a map 64 does not divide.
    rng = np.random.default_rng(size[0] + stride)
    c = 16
    pre_w = rng.standard_normal((c, c)).astype(np.float32) * _mask("blocks", c, c, 0.25, rng)
    pre = _conv_net(pre_w, rng.standard_normal(c).astype(np.float32), "relu", 1)
    convs = []
    for s in (1, stride):
        mask = _tap_blocks(c, c, (3, 3), 0.25, rng)
        w = rng.standard_normal((c, c, 3, 3)).astype(np.float32) * mask
        bias = rng.standard_normal(c).astype(np.float32)
        convs.append(_conv_net(w, bias, "relu", s, "SAME"))
    net = channels_first(lambda x: convs[1](convs[0](pre(x))))
    x = rng.standard_normal((1, *size, c)).astype(np.float32)
    with _pass_log() as log:
        text = _check_host(net, x, tmp_path, threshold=0.5, tiles=AVX512_TILES)
    # The 1x1 kernel's tiles, then the KxK kernels' (the same for both).
    assert re.findall(r"vector_common_parallel = \[1, (\d+)\]", text) == ["16", "64"]
    assert ("as the previous KxK kernel computed it" in log.getvalue()) == (stride == 1)


def test_small_grids_are_whole_vectors_of_the_kernel_without_the_block_vector(
    tmp_path: Path,
) -> None:
    # Above 64 pixels AVX-512's KxK block kernels round their grids to 64; below, to 16 as
    # before, so that a 1x1 kernel after a stride-2 3x3 one on a 7x7 map (a 7x8 grid, 56
    # pixels) still computes on that grid, which both make 64 pixels.
    assert [vector_multiple(p, AVX512_TILES, 4) for p in (56, 63, 65, 100, 12, 5)] == [
        64,
        64,
        128,
        128,
        16,
        5,
    ]
    assert vector_multiple(65, DEFAULT_TILES, 4) == 80
    rng = np.random.default_rng(6)
    mask = _tap_blocks(16, 16, (3, 3), 0.25, rng)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32) * mask
    conv = _conv_net(w, rng.standard_normal(16).astype(np.float32), "relu", 2, "SAME")
    w1 = rng.standard_normal((32, 16)).astype(np.float32) * _mask("blocks", 32, 16, 0.25, rng)
    pointwise = _conv_net(w1, None, "relu", 1)
    x = rng.standard_normal((1, 14, 14, 16)).astype(np.float32)
    with _pass_log() as log:
        _check_host(
            channels_first(lambda x: pointwise(conv(x))),
            x,
            tmp_path,
            threshold=0.5,
            tiles=AVX512_TILES,
        )
    assert "layer 1 computed on its input's grid (64 pixels for 49" in log.getvalue()


@pytest.mark.arm64
def test_kxk_kernel_onto_the_next_kernels_grid_under_qemu(tmp_path: Path) -> None:
    net, x = _two_kxk_layers((15, 16), 2, "depthwise")
    linalg = _rewritten_for("arm64-a76", net, x, threshold=0.5, grid_overhead=10.0)
    assert _padded_channels(linalg) == ["3"]
    _check_on("arm64-a76", linalg, x, np.asarray(jax.jit(net)(x)), tmp_path)


def _residual_chain(
    structure: str, blocks: int, seed: int = 0, size: int = 9, activation: str = "none"
) -> tuple[Callable[..., Any], np.ndarray]:
    """`blocks` inverted residual blocks on one map size, each `x + project(depthwise(
    expand(x)))` (8 -> 24 -> 8 channels, stride 1, biases, ReLU after the first two), on
    channel-major maps, and an input."""
    net, x = _residual_blocks(structure, blocks, seed, size, activation)
    return channels_first(net), x


def _residual_blocks(
    structure: str, blocks: int, seed: int, size: int, activation: str = "none"
) -> tuple[Callable[..., Any], np.ndarray]:
    """`_residual_chain` on NHWC maps (before `channels_first`)."""
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(blocks):
        w = rng.standard_normal((24, 8)).astype(np.float32) * _mask(structure, 24, 8, 0.3, rng)
        expand = _conv_net(w, rng.standard_normal(24).astype(np.float32), "relu", 1)
        filters = rng.standard_normal((24, 1, 3, 3)).astype(np.float32)
        bias = rng.standard_normal(24).astype(np.float32)
        depthwise = _conv_net(filters, bias, "relu", 1, "SAME", groups=24)
        w2 = rng.standard_normal((8, 24)).astype(np.float32) * _mask(structure, 8, 24, 0.3, rng)
        project = _conv_net(w2, rng.standard_normal(8).astype(np.float32), activation, 1)
        layers.append((expand, depthwise, project))

    def net(x: jax.Array) -> jax.Array:
        for expand, depthwise, project in layers:
            x = x + project(depthwise(expand(x)))
        return x

    x = rng.standard_normal((1, size, size + 1, 8)).astype(np.float32)
    return net, x


@pytest.mark.parametrize("structure", ["blocks", "unstructured"])
def test_residual_blocks_chain_their_grids(structure: str, tmp_path: Path) -> None:
    # Three stride-1 inverted residual blocks: each projection writes into the padded grid its
    # block's fused kernel read, adding the residual read from that grid, and the next block
    # reads the result as its own input grid. So the only pad is the first block's input, the
    # only cut the last block's output, and there are two dispatches per block (fused
    # expansion + depthwise, projection + residual), no elementwise add of their own.
    net, x = _residual_chain(structure, 3)
    with _pass_log() as log:
        text = _check_host(net, x, tmp_path, threshold=0.5, grid_overhead=10.0)
    assert text.count("flow.dispatch.workgroups") == 6
    assert _padded_channels(text) == ["8"]
    assert _cut_channels(text) == ["8"]
    assert log.getvalue().count("with the residual add") == 3
    assert log.getvalue().count("its input grid the previous projection's output") == 2
    # The adds are inside the projections' dispatches: none is left between them.
    dispatches = text.split("flow.dispatch.workgroups")
    assert not any("arith.addf %in, %in" in outside.split("count(")[-1] for outside in dispatches)


def test_residual_chain_stops_where_the_grids_differ(tmp_path: Path) -> None:
    # Without fusion (`fuse_expansions=False`) no projection writes into a grid: each block
    # pads its input and cuts its output, and the residual adds stay ops of their own.
    net, x = _residual_chain("blocks", 2)
    with _pass_log() as log:
        text = _check_host(
            net, x, tmp_path, threshold=0.5, grid_overhead=10.0, fuse_expansions=False
        )
    assert "with the residual add" not in log.getvalue()
    assert _padded_channels(text) == ["8", "8"]


def _bottleneck_tail(
    structure: str, size: tuple[int, int], projection: bool, activation: str, seed: int = 0
) -> tuple[Callable[..., Any], np.ndarray]:
    """The end of a ResNet bottleneck block on channel-major maps: a sparse 3x3 layer (16 ->
    16, ReLU) on the block's input `x`, then `act(conv1x1(.) + b + r)`, `r` being `x` itself
    or a sparse 1x1 projection of it; and an input."""
    rng = np.random.default_rng(seed)
    w3 = rng.standard_normal((16, 16, 3, 3)).astype(np.float32) * (rng.random((16, 16, 3, 3)) < 0.3)
    middle = _conv_net(w3, rng.standard_normal(16).astype(np.float32), "relu", 1, "SAME")
    w = rng.standard_normal((16, 16)).astype(np.float32) * _mask(structure, 16, 16, 0.3, rng)
    last = _conv_net(w, rng.standard_normal(16).astype(np.float32), "none", 1)
    ws = rng.standard_normal((16, 16)).astype(np.float32) * _mask("blocks", 16, 16, 0.3, rng)
    short = _conv_net(ws, None, "none", 1)

    def net(x: jax.Array) -> jax.Array:
        return _ACTIVATIONS[activation](last(middle(x)) + (short(x) if projection else x))

    x = rng.standard_normal((1, *size, 16)).astype(np.float32)
    return channels_first(net), x


def _adds_outside_dispatches(text: str) -> int:
    """How many adds of two maps (a residual's, or a bias broadcast to a map) are left outside
    the kernels' dispatches."""
    return sum(
        outside.split("count(")[-1].count("arith.addf %in, %in")
        for outside in text.split("flow.dispatch.workgroups")
    )


@pytest.mark.parametrize("structure", ["blocks", "balanced", "unstructured"])
@pytest.mark.parametrize("projection", [False, True])
def test_residual_add_fused_into_the_1x1_kernel(
    structure: str, projection: bool, tmp_path: Path
) -> None:
    # On an 8x8 map (whole vectors, nothing padded) the block's last 1x1 kernel reads the
    # residual and applies the ReLU after the add: no add of two maps is left to a dispatch of
    # its own (it read both maps and wrote a third: 15 in the sparse ResNet-50,
    # 7 of them now in its kernels).
    net, x = _bottleneck_tail(structure, (8, 8), projection, "relu")
    with _pass_log() as log:
        text = _check_host(net, x, tmp_path, threshold=0.5)
    assert log.getvalue().count("fused: bias + residual + relu") == 1
    assert _adds_outside_dispatches(text) == 0
    assert text.count("flow.dispatch.workgroups") == 2 + projection


def test_grid_residual_added_after_the_projections_activation(tmp_path: Path) -> None:
    # `x + relu(project(...))`: the grid path's add follows the projection's activation, and
    # stays after it in the kernel (b45d5bc had put every residual before the activation,
    # which made this `relu(project(...) + x)`: 711 of 720 outputs wrong).
    net, x = _residual_chain("blocks", 2, activation="relu")
    with _pass_log() as log:
        _check_host(net, x, tmp_path, threshold=0.5, grid_overhead=10.0)
    assert log.getvalue().count("with the residual add") == 2


def test_residual_add_log_names_only_what_was_fused(tmp_path: Path) -> None:
    # With the shortcut written first, its 1x1 kernel (no bias) comes first in the IR and
    # takes the add: the log must not claim a bias for it.
    rng = np.random.default_rng(5)
    ws = rng.standard_normal((16, 16)).astype(np.float32) * _mask("blocks", 16, 16, 0.3, rng)
    w = rng.standard_normal((16, 16)).astype(np.float32) * _mask("blocks", 16, 16, 0.3, rng)
    short = _conv_net(ws, None, "none", 1)
    main = _conv_net(w, rng.standard_normal(16).astype(np.float32), "relu", 1)
    net = channels_first(lambda x: jax.nn.relu(short(x) + main(x)))
    x = rng.standard_normal((1, 8, 8, 16)).astype(np.float32)
    with _pass_log() as log:
        _check_host(net, x, tmp_path, threshold=0.5)
    assert re.findall(r"fused: ([a-z0-9 +]+)", log.getvalue()) == ["residual + relu", "bias + relu"]


def test_residual_add_stays_where_pixels_are_padded(tmp_path: Path) -> None:
    # 9x10 = 90 pixels, padded to 96 for whole 16-pixel vectors: the kernel's rows are not
    # the residual's, so the add stays an op of its own, after the kernel.
    net, x = _bottleneck_tail("blocks", (9, 10), False, "relu")
    with _pass_log() as log:
        text = _check_host(net, x, tmp_path, threshold=0.5)
    assert "residual" not in log.getvalue()
    assert _adds_outside_dispatches(text) == 1


def _padded_stage(
    structure: str,
    blocks: int,
    activation: str = "relu",
    seed: int = 0,
    size: tuple[int, int] = (18, 20),
) -> tuple[Callable[..., Any], np.ndarray]:
    """A ResNet stage on channel-major maps whose 9x10 output map (90 pixels) the 1x1 kernels
    pad to 96: a 1x1 layer on the 18x20 input map (so that the maps after it are kernels'
    outputs, not the input's layout change), a first block halving the map
    (`relu(last(3x3 stride 2(x)) + proj(x))`, `proj` a strided 1x1 layer), then `blocks - 1`
    bottlenecks `act(last(3x3(first(y))) + y)` (16 -> 8 -> 8 -> 16 channels); and an input."""
    rng = np.random.default_rng(seed)

    # Weights scaled by one over the root of the nonzeros per output, so that the maps stay
    # near 1 through the blocks (the tolerances are absolute).
    def sparse(m: int, k: int, kind: str = structure) -> np.ndarray:
        w = rng.standard_normal((m, k)).astype(np.float32) / np.sqrt(0.3 * k)
        return w * _mask(kind, m, k, 0.3, rng)

    def kxk(m: int, k: int, stride: int) -> Callable[[jax.Array], jax.Array]:
        w = rng.standard_normal((m, k, 3, 3)).astype(np.float32) / np.sqrt(2.7 * k)
        w = w * (rng.random((m, k, 3, 3)) < 0.3)
        return _conv_net(w, rng.standard_normal(m).astype(np.float32), "relu", stride, "SAME")

    def bias(m: int) -> np.ndarray:
        return rng.standard_normal(m).astype(np.float32)

    stem = _conv_net(sparse(16, 16), bias(16), "relu", 1)
    middle = kxk(16, 16, 2)
    last = _conv_net(sparse(16, 16), bias(16), "none", 1)
    project = _conv_net(sparse(16, 16, "blocks"), bias(16), "none", 2)
    stages = [
        (
            _conv_net(sparse(8, 16), bias(8), "relu", 1),
            kxk(8, 8, 1),
            _conv_net(sparse(16, 8), bias(16), "none", 1),
        )
        for _ in range(blocks - 1)
    ]

    def net(x: jax.Array) -> jax.Array:
        x = stem(x)
        y = jax.nn.relu(last(middle(x)) + project(x))
        for first, kernel, end in stages:
            y = _ACTIVATIONS[activation](end(kernel(first(y))) + y)
        return y

    x = rng.standard_normal((1, *size, 16)).astype(np.float32)
    return channels_first(net), x


@pytest.mark.parametrize("tiles", [None, AVX512_TILES], ids=["default", "avx512"])
def test_padded_stage_chains_its_grids(tiles: CpuTiles | None, tmp_path: Path) -> None:
    # 90 pixels computed as 96: each block's last 1x1 kernel (the first block's strided
    # projection) reads the residual on the previous kernel's 96-pixel grid and writes its
    # own, and each next block's first 1x1 kernel computes on it: no add, cut or pad of the
    # 16-channel maps between the blocks (ResNet-50's 14x14 stage, 196 pixels as 208).
    # (The AVX-512 tiles of the host builds take all output channels in a workgroup.)
    net, x = _padded_stage("blocks", 3)
    with _pass_log() as log:
        text = _check_host(net, x, tmp_path, threshold=0.5, **({"tiles": tiles} if tiles else {}))
    got = log.getvalue()
    assert got.count("fused: bias + residual + relu") == 3
    assert got.count("computed on its input's grid (96 pixels for 90, rows 10 apart)") == 2
    assert _adds_outside_dispatches(text) == 0


@pytest.mark.parametrize(
    ("structure", "activation"),
    [("blocks", "none"), ("balanced", "relu"), ("unstructured", "relu")],
)
def test_padded_stage_matches_jax(structure: str, activation: str, tmp_path: Path) -> None:
    # Without an activation after the add, over four blocks; and row formats, where the
    # first block's last 1x1 kernel computes on its 3x3 kernel's grid (rows 11 apart), so
    # that the projection cannot take it as its residual: the chain never starts (each later
    # residual is an add, not a grid) and the adds stay.
    net, x = _padded_stage(structure, 4, activation, seed=3)
    with _pass_log() as log:
        text = _check_host(net, x, tmp_path, threshold=0.5)
    fused = log.getvalue().count("+ residual")
    assert fused == (4 if structure == "blocks" else 0)
    assert _adds_outside_dispatches(text) == 4 - fused


def test_padded_stage_keeps_adds_whose_grids_have_other_rows(tmp_path: Path) -> None:
    # A 5x5 map (25 pixels as 32): the 3x3 kernel's output grid has rows 6 apart, and the
    # last 1x1 kernel computes on it; its grid has the projection's 32 pixels but not its
    # rows, so the projection must not take it as its residual (taking it gave errors of
    # 1.5 in a review's check with the rows test removed).
    net, x = _padded_stage("blocks", 3, size=(10, 10))
    with _pass_log() as log:
        _check_host(net, x, tmp_path, threshold=0.5)
    assert "rows 6 apart" in log.getvalue()


@pytest.mark.parametrize("target", OTHER_TARGETS)
def test_padded_stage_on_other_backends(target: str, tmp_path: Path) -> None:
    # arm64 gets the host's kernels, padded grids included; Vulkan's kernels pad no pixels
    # (no CPU tiles), so there every add is fused as on whole vectors (the first block's
    # into its last stride-1 kernel, not its projection).
    net, x = _padded_stage("blocks", 3)
    with _pass_log() as log:
        rewritten = _rewritten_for(target, net, x, threshold=0.5)
    assert log.getvalue().count("+ residual") == 3
    _check_on(target, rewritten, x, np.asarray(jax.jit(net)(x)), tmp_path)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    structure=st.sampled_from(["unstructured", "balanced", "blocks"]),
    size=st.tuples(st.integers(1, 10), st.integers(1, 10)),
    projection=st.booleans(),
    activation=st.sampled_from(sorted(_ACTIVATIONS)),
    seed=st.integers(0, 2**16),
)
def test_residual_tails_match_jax(
    tmp_path_factory: pytest.TempPathFactory,
    structure: str,
    size: tuple[int, int],
    projection: bool,
    activation: str,
    seed: int,
) -> None:
    net, x = _bottleneck_tail(structure, size, projection, activation, seed)
    with _pass_log() as log:
        text = _check_host(net, x, tmp_path_factory.mktemp("tail"), threshold=0.5)
    # Where the pass fused the residual, no add of two maps is left outside the kernels.
    # (Elsewhere, as on maps of a pixel or two, layers may keep their bias adds as such.)
    if "+ residual" in log.getvalue():
        assert _adds_outside_dispatches(text) == 0


@pytest.mark.parametrize("target", OTHER_TARGETS)
def test_residual_add_fused_on_other_backends(target: str, tmp_path: Path) -> None:
    net, x = _bottleneck_tail("blocks", (8, 8), True, "relu")
    with _pass_log() as log:
        rewritten = _rewritten_for(target, net, x, threshold=0.5)
    assert "fused: bias + residual + relu" in log.getvalue()
    _check_on(target, rewritten, x, np.asarray(jax.jit(net)(x)), tmp_path)


def _stride_two_block(
    rng: np.random.Generator,
    density: float = 0.3,
    depthwise_activation: str = "relu",
    projection_bias: bool = True,
) -> Callable[[jax.Array], jax.Array]:
    """`project(depthwise(expand(x)))` without a residual: 8 -> 24 -> 8 channels in 4x1 blocks
    at `density`, the expansion with bias and ReLU, the depthwise layer of stride 2 with
    `depthwise_activation` (an inverted residual block that halves the map, in NHWC)."""
    w = rng.standard_normal((24, 8)).astype(np.float32) * _mask("blocks", 24, 8, density, rng)
    expand = _conv_net(w, rng.standard_normal(24).astype(np.float32), "relu", 1)
    filters = rng.standard_normal((24, 1, 3, 3)).astype(np.float32)
    depthwise = _conv_net(filters, None, depthwise_activation, 2, "SAME", groups=24)
    w2 = rng.standard_normal((8, 24)).astype(np.float32) * _mask("blocks", 8, 24, density, rng)
    bias = rng.standard_normal(8).astype(np.float32) if projection_bias else None
    project = _conv_net(w2, bias, "none", 1)
    return lambda x: project(depthwise(expand(x)))


def test_block_after_a_stride_two_block_reads_its_grid(tmp_path: Path) -> None:
    # A stride-2 inverted residual block (8 -> 24 -> 8 channels, 8x16 -> 4x8), then two
    # stride-1 residual blocks on the 4x8 map. The stride-2 block's projection, computed on its
    # depthwise kernel's output grid (10 columns), is computed again straight into the next
    # block's input grid (8 + 2 columns), and that block's residual is read from there: no cut
    # and no pad between the blocks, only the first input's grid and the last output's cut.
    rng = np.random.default_rng(8)
    block = _stride_two_block(rng)
    chain, _ = _residual_blocks("blocks", 2, seed=3, size=8)
    x = rng.standard_normal((1, 8, 16, 8)).astype(np.float32)

    def net(x: jax.Array) -> jax.Array:
        return chain(block(x))

    with _pass_log() as log:
        text = _check_host(channels_first(net), x, tmp_path, threshold=0.5, grid_overhead=10.0)
    assert log.getvalue().count("its input grid the previous projection's output") == 2
    assert log.getvalue().count("with the residual add") == 2
    assert _padded_channels(text) == ["8"]
    assert _cut_channels(text) == ["8"]


def test_pointwise_after_a_projection_on_its_grid(tmp_path: Path) -> None:
    # A stride-2 inverted residual block (14x14 -> 7x7), then a 1x1 conv 8 -> 16: its 49-pixel
    # map would be padded to 64 pixels, and the projection's output grid (7 rows of 8) is 64
    # pixels too, so the 1x1 kernel runs on that grid: no cut and no pad of its input.
    rng = np.random.default_rng(9)
    block = _stride_two_block(rng)
    w3 = rng.standard_normal((16, 8)).astype(np.float32) * _mask("blocks", 16, 8, 0.3, rng)
    last = _conv_net(w3, rng.standard_normal(16).astype(np.float32), "relu", 1)
    x = rng.standard_normal((1, 14, 14, 8)).astype(np.float32)

    def net(x: jax.Array) -> jax.Array:
        return last(block(x))

    with _pass_log() as log:
        text = _check_host(channels_first(net), x, tmp_path, threshold=0.5)
    assert "layer 3 computed on its input's grid (64 pixels for 49, rows 8 apart)" in log.getvalue()
    assert _cut_channels(text) == ["16"]
    assert _padded_channels(text) == ["8"]


@pytest.mark.arm64
def test_residual_chain_under_qemu(tmp_path: Path) -> None:
    net, x = _residual_chain("blocks", 2, seed=1)
    linalg = _rewritten_for("arm64-a76", net, x, grid_overhead=10.0)
    assert linalg.count("flow.dispatch.workgroups") == 4
    _check_on("arm64-a76", linalg, x, np.asarray(jax.jit(net)(x)), tmp_path)


def test_masked_columns_are_zero_whatever_they_hold(tmp_path: Path) -> None:
    # A kernel on grid columns with a mask selects zero where the mask is 0 instead of
    # multiplying by it: a chained grid's padding is undefined memory, and NaN * 0 is NaN.
    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 4)).astype(np.float32) * (rng.random((8, 4)) < 0.5)
    bias = rng.standard_normal(8).astype(np.float32)
    mask = (np.arange(16) % 3 != 0).astype(np.float32)
    kernel = kernel_function(
        "k", choose_layout(w), bias, (4, 16), input_layout="cols", mask=mask, tiles=DEFAULT_TILES
    )
    x = rng.standard_normal((4, 16)).astype(np.float32)
    x[:, mask == 0] = np.nan
    (y,) = run_in_process(_call_module(kernel, (4, 16), (8, 16), tmp_path), [x])
    expected = np.where(mask == 1, w @ np.nan_to_num(x) + bias[:, None], 0)
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


def test_grid_output_needs_room_and_columns() -> None:
    layout = choose_layout(np.eye(8, 4, dtype=np.float32))
    bias = np.zeros(8, np.float32)
    for kwargs in (
        {"input_shape": (4, 16), "input_layout": "cols", "into": GridOutput(10, 20)},
        {"input_shape": (1, 4, 4, 4), "input_layout": "nchw", "into": GridOutput(0, 20)},
    ):
        with pytest.raises(ValueError, match="into=GridOutput"):
            kernel_function("k", layout, bias, **kwargs)


def test_onto_grid_must_be_the_output_maps() -> None:
    # A 3x3 stride-2 kernel on 15x16 has a 8x8 output: a grid of another size, of stride 2,
    # or of an NHWC input is refused with the arguments named.
    taps = layout_for_taps(np.ones((8, 3, 3, 3), np.float32), (1,))
    bias = np.zeros(8, np.float32)
    same = ((1, 1), (1, 1))
    grids = [Grid(8, 9, 1, same, 0, 8), Grid(8, 8, 2, same, 0, 8)]
    for onto, layout, shape in [
        *((g, "nchw", (1, 3, 15, 16)) for g in grids),
        (Grid(8, 8, 1, same, 0, 8), "nhwc", (1, 17, 17, 3)),
    ]:
        with pytest.raises(ValueError, match="onto=Grid.*input_layout"):
            conv_kernel_function(
                "k",
                taps,
                8,
                (3, 3),
                bias,
                shape,
                stride=2,
                input_layout=layout,
                padding=same if layout == "nchw" else ((0, 0), (0, 0)),
                onto=onto,
            )
    assert onto_padding((1, 3, 15, 16), (3, 3), 2, same, Grid(8, 8, 1, same, 0, 8)) is not None


def _call_module(
    kernel: KernelFunction, x_shape: tuple[int, ...], y_shape: tuple[int, ...], tmp_path: Path
) -> Path:
    """A host module whose `main(x)` calls the kernel with its constants."""
    body = kernel.text.strip().removeprefix("module {").removesuffix("}")
    lines, names = [], []
    for i, array in enumerate(kernel.constants):
        element = "i32" if array.dtype == np.int32 else "f32"
        type_ = "tensor<" + "x".join(map(str, array.shape)) + f"x{element}>"
        lines.append(f"%k{i} = arith.constant dense<{json.dumps(array.tolist())}> : {type_}")
        names.append((f"%k{i}", type_))
    x_type = "tensor<" + "x".join(map(str, x_shape)) + "xf32>"
    y_type = "tensor<" + "x".join(map(str, y_shape)) + "xf32>"
    operands = ", ".join(["%x", *(n for n, _ in names)])
    types = ", ".join([x_type, *(t for _, t in names)])
    text = "\n".join(
        [
            "module {",
            f"util.func public @main(%x: {x_type}) -> {y_type} {{",
            *lines,
            f"%y = util.call @k({operands}) : ({types}) -> {y_type}",
            f"util.return %y : {y_type}",
            "}",
            body,
            "}",
        ]
    )
    return compile_module(text, "host", tmp_path / "k.vmfb").path


@contextlib.contextmanager
def _pass_log() -> Iterator[io.StringIO]:
    """The pass's INFO log while the block runs."""
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logger = logging.getLogger("lowering.passes.sparse_dispatch")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield log
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_channel_major_residual_block_has_no_layout_changes(tmp_path: Path) -> None:
    # A bottleneck with batch norm, ReLU and a residual add, every conv pruned: with its maps
    # channel-major inside, the only transposes left are the input's and the output's (the
    # residual add and ReLU fused into the latter); the rest are the three kernels and the
    # copies that pad their inputs. As written (NHWC), each kernel has its own.
    from tests.lowering.nets import bn_stats

    rng = np.random.default_rng(5)
    shapes = [(8, 16, 1, 1), (8, 8, 3, 3), (16, 8, 1, 1)]  # [M, C, kh, kw]
    ws = [rng.standard_normal(s).astype(np.float32) * (rng.random(s) < 0.2) for s in shapes]
    stats = [bn_stats(rng, s[0]) for s in shapes]

    def conv_bn(x: jax.Array, i: int) -> jax.Array:
        y = _conv_net(ws[i], None, "none", 1, "SAME")(x)
        st_ = stats[i]
        return (y - st_["mean"]) * jax.lax.rsqrt(st_["var"] + 1e-5) * st_["gamma"] + st_["beta"]

    def block(x: jax.Array) -> jax.Array:
        y = jax.nn.relu(conv_bn(x, 0))
        y = jax.nn.relu(conv_bn(y, 1))
        return jax.nn.relu(conv_bn(y, 2) + x)

    from lowering.passes.fold_batch_norm import fold_batch_norm

    x = rng.standard_normal((1, 6, 7, 16)).astype(np.float32)

    def kinds(fn: Callable[..., Any]) -> tuple[str, collections.Counter[str]]:
        linalg = compile_to_input(fn, example_args=(x,))
        rewritten = apply_passes(linalg, [fold_batch_norm, sparse_dispatch])
        assert rewritten.count("flow.dispatch.workgroups") == 3
        names = dispatch_names(rewritten)
        kind = {"elementwise_broadcast": "kernel", "transpose": "transpose", "memcpy": "copy"}
        return rewritten, collections.Counter(
            next((v for k, v in kind.items() if k in name), name) for name in names
        )

    rewritten, counts = kinds(channels_first(block))
    assert counts == {"kernel": 3, "transpose": 2, "copy": counts["copy"]}
    assert kinds(block)[1]["transpose"] > 2
    module = compile_module(rewritten, "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(block)(x), rtol=RTOL, atol=ATOL)


# --- other backends -----------------------------------------------------------------------


def _five_layer_net() -> tuple[Callable[..., Any], np.ndarray, np.ndarray]:
    """A padded 3x3 conv, a padded 3x3 conv in 4-row blocks per tap, a strided depthwise 3x3
    conv (left to IREE on NHWC maps), a strided 4x1-block 1x1 conv with bias + ReLU, then an
    unstructured fully connected layer at batch 1."""
    rng = np.random.default_rng(4)
    conv3_w = rng.standard_normal((12, 6, 3, 3)).astype(np.float32)
    conv3_w *= rng.random(conv3_w.shape) < 0.2
    block_mask = _tap_blocks(12, 12, (3, 3), 0.25, rng)
    block3_w = rng.standard_normal((12, 12, 3, 3)).astype(np.float32) * block_mask
    conv_w = rng.standard_normal((16, 12)).astype(np.float32) * _mask("blocks", 16, 12, 0.3, rng)
    fc_w = rng.standard_normal((10, 16 * 4 * 4)).astype(np.float32)
    fc_w *= _mask("unstructured", 10, 256, 0.1, rng)
    conv3 = _conv_net(conv3_w, None, "relu6", 1, "SAME")
    block3 = _conv_net(block3_w, rng.standard_normal(12).astype(np.float32), "relu", 1, "SAME")
    conv = _conv_net(conv_w, rng.standard_normal(16).astype(np.float32), "relu", 1)
    depthwise_w = rng.standard_normal((12, 1, 3, 3)).astype(np.float32)
    depthwise = _conv_net(depthwise_w, None, "none", 2, "SAME", groups=12)

    def net(x: jax.Array) -> jax.Array:
        return conv(depthwise(block3(conv3(x)))).reshape(1, -1) @ fc_w.T

    x = rng.standard_normal((1, 7, 8, 6)).astype(np.float32)
    return net, x, np.asarray(jax.jit(net)(x))


# As written (NHWC maps, the 3x3 convs reading JAX's padded maps) and channel-major inside
# (the 3x3 convs padding NCHW maps themselves, the depthwise conv as diagonal taps).
LAYOUTS = {"nhwc": lambda net: net, "channels_first": channels_first}


@pytest.mark.arm64
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_arm64_under_qemu(layout: str, tmp_path: Path) -> None:
    net, x, expected = _five_layer_net()
    net = LAYOUTS[layout](net)
    linalg = _rewritten_for("arm64-a76", net, x)
    # Channel-major: the depthwise kernel too, and its input's split into phase planes.
    assert linalg.count("flow.dispatch.workgroups") == (6 if layout == "channels_first" else 4)
    assert "tensor<3x27x4xf32>" in linalg  # the block conv's values: 3 blocks, 9 taps x 3, 4 rows
    _check_on("arm64-a76", linalg, x, expected, tmp_path)


@pytest.mark.vulkan
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_vulkan_on_lavapipe(layout: str, tmp_path: Path) -> None:
    # The generic Vulkan target: IREE's `valhall` code for dense reductions (such as the
    # batch-1 fully connected layer left dense) assumes Mali's subgroup size and computes
    # wrong results on lavapipe, with or without this pass.
    net, x, expected = _five_layer_net()
    net = LAYOUTS[layout](net)
    linalg = _rewritten_for("vulkan", net, x)
    assert linalg.count("flow.dispatch.workgroups") == (5 if layout == "channels_first" else 4)
    assert "tensor<3x27x4xf32>" in linalg
    _check_on("vulkan", linalg, x, expected, tmp_path)


def _inverted_residual() -> tuple[Callable[..., Any], np.ndarray, np.ndarray]:
    """`_stride_two_block` at 25%, nothing after its depthwise layer and no projection bias,
    on channel-major maps: the expansion kernel runs on the depthwise kernel's input grid, the
    projection on its output grid."""
    rng = np.random.default_rng(6)
    net = _stride_two_block(rng, 0.25, depthwise_activation="none", projection_bias=False)
    x = rng.standard_normal((1, 9, 10, 8)).astype(np.float32)
    return channels_first(net), x, np.asarray(jax.jit(net)(x))


@pytest.mark.parametrize("target", OTHER_TARGETS)
def test_inverted_residual_on_the_grids_on_other_backends(target: str, tmp_path: Path) -> None:
    net, x, expected = _inverted_residual()
    gpu = target == "vulkan"
    linalg = _rewritten_for(target, net, x, grid_overhead=10.0)
    # Three kernels on GPU; on CPU the expansion and the depthwise layer in one, and the split
    # of its input into phase planes.
    assert linalg.count("flow.dispatch.workgroups") == 3
    assert ("flow.dispatch.workgroup.id" in linalg) == (not gpu)
    assert _padded_channels(linalg) == ["8"]
    assert _cut_channels(linalg) == ["8"]
    _check_on(target, linalg, x, expected, tmp_path)
