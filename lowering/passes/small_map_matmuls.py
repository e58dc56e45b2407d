"""Small-map matmuls: dense 1x1 convolutions on small maps as matmuls with their own CPU tiles.

Precondition: input-phase linalg IR (`iree-compile --compile-to=input`) with NHWC maps, as
the dense build has it.

IREE turns a 1x1 `linalg.conv_2d_nhwc_hwcf` into a matmul `x[P, K] @ W[K, M]` over the map's
`P` pixels and configures it itself. On MobileNet-V2's 7x7 maps (`P` = 49) it chose workgroups
of 32 rows with vectors of 7 rows; 32 is no multiple of 7, and the 49x960 by 960x320 matmul ran
in 0.69-1.0 ms alone on one thread, against 0.32-0.36 ms with workgroups and vectors of 7 rows
by 32 columns and no unrolled reduction (`iree-benchmark-module`, session 9). This pass writes
each such convolution (stride 1, batch 1, at most `max_pixels` pixels, `P` a multiple of the row
tile and `M` of 16) as a `linalg.matmul` between reshapes, with `MatmulTiles` as its
`compilation_info`; IREE still fuses the bias and activation after it. The whole dense
MobileNet-V2 then spent 15% less time in its dispatches, on one thread and on two (its eight
7x7 1x1 convolutions; doing the same on the 14x14 ones, `P` = 196, was slower: their default
tiles stay).

Session 28 (a Zen 4 EPYC, 1 MB of L2 per core) widened the tiles: a workgroup spans the whole
map and up to 128 output channels, a vector tile 7 rows by up to 64 columns (28 of AVX-512's
32 registers). With workgroups of 7 rows, each of a map's seven row workgroups read the
layer's weights again (4 MB for ResNet-50's 512x2048 layers, four times the L2); spanning the
map reads them once. In back-to-back profiles of the dense ResNet-50 (`benchmarks/
dispatch_timeline.py --model resnet50 --build dense --threads 1 2`, tags `s28-zen4-main`
and `s28-zen4-wide`) its five such layers took 10.4 ms with 7x32 workgroups and 8.3 ms with
these tiles on one thread (the whole inference 103.0 ms in both: the other dispatches ran 2%
slower in the second run), 5.05 and 4.18 ms on two. Interleaved whole-model runs
(`benchmarks/compare_revisions.py --build dense`, `compare_revisions-*-dense-s28-zen4-wide-*`)
had ResNet-50 0.97x the time on one thread (paired 0.99x) and level on two, MobileNet-V2 level
on one thread and 0.99x (paired 0.95x) on two: a small gain. Workgroups of 7 rows by 64
columns, with the same vector tiles, gained less (docs/results-log.md, "Session 28").

A batch-1 fully connected layer (`linalg.vecmat`, a 1x1 convolution on a one-pixel map) gets
tiles from `VECMAT_TILES` the same way (`vecmat_tiles`; `sparse_dispatch` gives them to the
ones it leaves dense).

Postcondition: the rewritten convolutions are `linalg.matmul`s with a `compilation_info`, the
vecmats carry one; results are unchanged up to float rounding.
"""

import dataclasses

from iree.compiler import ir

from lowering.passes._linalg import (
    conv_stride,
    cpu_compilation_info,
    element_type,
    inputs,
    largest_dividing_multiple,
    replace_conv_by_matmul,
    rewrite_each,
    run_pass_main,
    shape,
)

__all__ = [
    "AVX2_TILES",
    "COLUMN_UNIT",
    "VECMAT_TILES",
    "MatmulTiles",
    "small_map_matmuls",
    "tile_vecmat",
    "vecmat_tiles",
]


VECMAT_TILES = (64, 8, 8)
"""CPU tiles of a fully connected layer at batch 1 left dense (`linalg.vecmat x[K] @ B[K, M]`):
workgroups of up to 64 outputs, vectors of 8 (one AVX2 register), the reduction unrolled by 8
(8 registers of accumulators). Session 9 (AVX-512) chose (256, 32, 8) over IREE's own
workgroups of 50 outputs with vectors of 25 (0.48-0.60 ms against 0.71-0.80 for MobileNet-V2's
1280->1000 classifier, one thread). On the Zen 1 EPYC of session 13 (AVX2), vectors of 32-40
with the 8-way unrolled reduction are 32-40 registers of accumulators, twice the register
file: four 1280->1000 classifiers in a row (weights streamed from memory, as in a model) took
3.4-3.8 ms with (200, 40, 8), 2.3-2.5 with (40, 8, 8), (200, 8, 8), (1000, 8, 8) or IREE's own
choice here (40, 8, 8), 2.6-2.8 with (40, 8, 1) and 5.8-11.8 with (40, 16, 4)
(`iree-benchmark-module`, one thread, three rounds, by hand); inside the sparse MobileNet-V2
the classifier took 0.47-0.67 ms with IREE's tiles against 0.87-0.98 with (200, 40, 8) (two
pairs of `benchmarks/dispatch_timeline.py` runs). Workgroups of 64 (40 for 1000 outputs) leave
two workers 25 workgroups to share. Not re-measured with AVX-512."""


def vecmat_tiles(m: int) -> tuple[int, int, int]:
    """`(workgroup, vector, reduction)` tiles of a vecmat with `m` outputs: `VECMAT_TILES`
    with the most vectors, up to its workgroup, that divide `m` when `m` is whole vectors.

    A partial workgroup or vector makes IREE mask every load of the kernel, which costs
    little with AVX-512 but is slow on AVX2 (MobileNet-V2's 1280->1000 classifier in
    workgroups of 256 took 3.1 ms on a Zen 1 EPYC, one thread, session 12, against 0.5 ms on
    the AVX-512 machine).
    """
    columns, vector, reduction = VECMAT_TILES
    if m % vector:
        return VECMAT_TILES
    return largest_dividing_multiple(m, vector, columns), vector, reduction


def tile_vecmat(op: ir.Operation) -> tuple[int, int, int] | None:
    """Gives a `linalg.vecmat` without a `compilation_info` the tiles `vecmat_tiles` chooses
    for its outputs; returns them, or `None` when it gave none."""
    if op.name != "linalg.vecmat" or "compilation_info" in op.attributes:
        return None
    (m,) = shape(op.results[0])
    columns, vector, reduction = vecmat_tiles(m)
    op.attributes["compilation_info"] = ir.Attribute.parse(
        cpu_compilation_info([columns, 0], [vector, 0], [0, reduction])
    )
    return columns, vector, reduction


@dataclasses.dataclass(frozen=True)
class MatmulTiles:
    """CPU tiles of a small-map matmul `x[P, K] @ W[K, M]`; a workgroup spans all `P`
    pixels, so each of its weights is read once.

    Attributes:
      rows: pixels per vector tile (a divisor of `P`).
      cols: the most output channels per vector tile; the tile takes the largest multiple of
        `COLUMN_UNIT` up to it that divides `M`.
      workgroup_cols: the most output channels per workgroup; the workgroup takes the largest
        multiple of the vector tile's columns up to it that divides `M`.
      reduction: input channels per step of the innermost loop.
      max_pixels: the largest map, in pixels, rewritten; 0 rewrites none (only the vecmats
        are tiled: `AVX2_TILES`).
    """

    rows: int = 7
    cols: int = 64
    workgroup_cols: int = 128
    reduction: int = 1
    max_pixels: int = 49

    def attribute(self, pixels: int, m: int) -> str:
        """The `#iree_codegen.compilation_info` attribute of a `pixels` x `m` matmul (`m` a
        multiple of `COLUMN_UNIT`), as MLIR text."""
        vector = largest_dividing_multiple(m, COLUMN_UNIT, self.cols)
        workgroup = largest_dividing_multiple(m, vector, self.workgroup_cols)
        return cpu_compilation_info(
            [pixels, workgroup, 0], [self.rows, vector, 0], [0, 0, self.reduction]
        )


COLUMN_UNIT = 16
"""Output channels a small-map matmul's column tiles come in: one AVX-512 register of f32."""


AVX2_TILES = MatmulTiles(max_pixels=0)
"""For x86 CPUs without AVX-512: IREE's own tiles for every 1x1 convolution. A vector tile of
7 rows by 32 columns (`MatmulTiles` before session 28) is 28 of AVX2's 16 registers. On a Zen
1 EPYC (session 13, one thread, `benchmarks/dispatch_timeline.py`) ResNet-50's 7x7 1x1 layers
(with `--iree-opt-data-tiling`) took 8.6-11.1 ms each with those tiles against 4.1-4.7 ms with
IREE's; columns of 8 or 16 were no better (7.7-12.7 ms); the dense MobileNet-V2 (no data
tiling) ran 35.4 ms per inference without the rewrite against 40.0 with it (36.8 with 16
columns)."""


def _lhs(x: ir.Value) -> list[str]:
    """`%lhs = x[1, H, W, K]` as the `[H*W, K]` matrix a 1x1 convolution multiplies."""
    _, h, w, k = shape(x)
    return [
        f"%lhs = tensor.collapse_shape %x [[0, 1, 2], [3]] : {x.type} "
        f"into tensor<{h * w}x{k}x{element_type(x)}>"
    ]


def _matmul_info(op: ir.Operation, tiles: MatmulTiles) -> str | None:
    """The `compilation_info` of the matmul that replaces `op` if it is a 1x1, stride-1,
    batch-1 NHWC convolution `small_map_matmuls` rewrites, else `None`."""
    if op.name != "linalg.conv_2d_nhwc_hwcf" or len(inputs(op)) != 2:
        return None
    if conv_stride(op) != 1:
        return None
    x, f = inputs(op)
    n, h, w, _ = shape(x)
    kh, kw, _, m = shape(f)
    if (n, kh, kw) != (1, 1, 1) or h * w > tiles.max_pixels:
        return None
    if (h * w) % tiles.rows or m % COLUMN_UNIT:
        return None
    return tiles.attribute(h * w, m)


def small_map_matmuls(module: ir.Module, *, tiles: MatmulTiles = MatmulTiles()) -> int:
    """Rewrites dense 1x1 convolutions on small maps as tiled matmuls and tiles vecmats (see
    the module docstring); returns how many ops it changed.

    Raises:
      ValueError: a tile is below 1, or a column tile below `COLUMN_UNIT`.
    """
    if min(tiles.rows, tiles.cols, tiles.workgroup_cols, tiles.reduction) < 1:
        raise ValueError(f"tiles must be at least 1, got {tiles}")
    if min(tiles.cols, tiles.workgroup_cols) < COLUMN_UNIT:
        raise ValueError(
            f"MatmulTiles.cols and workgroup_cols must be at least COLUMN_UNIT ({COLUMN_UNIT}), "
            f"got cols={tiles.cols}, workgroup_cols={tiles.workgroup_cols}"
        )

    def rewrite(op: ir.Operation) -> bool:
        if tile_vecmat(op) is not None:
            return True
        info = _matmul_info(op, tiles)
        if info is None:
            return False
        replace_conv_by_matmul(op, _lhs(inputs(op)[0]), info)
        return True

    return rewrite_each(module, ("linalg.vecmat", "linalg.conv_2d_nhwc_hwcf"), rewrite)


if __name__ == "__main__":
    run_pass_main(small_map_matmuls, __doc__.splitlines()[0])
