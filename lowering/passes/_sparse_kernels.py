"""MLIR text of the sparse kernel for one layer, as a private `util.func` to be inlined.

The kernel is the shape `../shared/DESIGN.md` records as the one IREE vectorizes: one
all-parallel `linalg.generic` over (output row or row block, pixel), activations channel-major
(`X[K, P]`, pixels contiguous), the nonzeros of a row unrolled in the body as a `tensor.extract`
of the column from an index table followed by a contiguous `tensor.extract` of `X[col, p]`, a
per-row bias, the activation fused, and a `compilation_info` tile on CPU. It sits in an explicit
`flow.dispatch.workgroups`, because IREE's dispatch formation would otherwise collapse its two
dimensions into one and turn the index arithmetic into gathers (correct, 5x slower).

The function takes and returns the layer's own layout (NHWC or NCHW feature maps, `[N, K]`
rows, `[K, N]` columns, or a vector); the reshapes and transposes to and from channel-major are
in the function, outside the dispatch, where IREE fuses them with neighbouring elementwise work
and cancels a transpose that meets its inverse (a chain of sparse layers on NCHW maps has none
left between its kernels). Row formats write `Y[M, P]`; a block format writes `[M/g, g, P]`,
row `r` of every block with one strided store, which is `Y[M, P]` without a copy.
"""

import dataclasses
from typing import Literal

import numpy as np

from lowering._numbers import is_integer
from lowering.passes._linalg import cpu_compilation_info, largest_dividing_multiple
from lowering.passes._sparse_formats import SparseLayout

__all__ = [
    "AVX2_TILES",
    "AVX512_TILES",
    "DEFAULT_TILES",
    "DISPATCH_END",
    "Activation",
    "CpuTiles",
    "GridOutput",
    "KernelFunction",
    "Layout",
    "activate",
    "activation_constants",
    "binding_type",
    "block_sums",
    "block_values",
    "dense_kernel_function",
    "dispatch_header",
    "generic_and_store",
    "kernel_function",
    "mask_lines",
    "masked_results",
    "pad_lines",
    "tensor_type",
    "vector_multiple",
]

Activation = Literal["relu", "relu6"] | None
Layout = Literal["nhwc", "nchw", "rows", "cols", "vector"]


@dataclasses.dataclass(frozen=True)
class CpuTiles:
    """The `compilation_info` tile sizes of the kernel on CPU, over (row block, pixel).

    A workgroup computes `rows` row blocks on `pixels` pixels, looping over pixel vectors
    inside. LLVM hoists out of that loop everything that depends on the row only: each slot's
    `g` values, broadcast to a vector register (32 bytes each), and its column's address (8
    bytes). While that fits in L1 the loop reuses it; when it does not (a 3x3 block row of a
    512-channel layer has 576 slots: 78 KB), the loop reloads it from L2 and ran about half as
    fast as a workgroup of one pixel vector, which has no loop to hoist out of (timed alone
    during development; commit 0cb3fee). So a row with more than `hoist_bytes` of hoisted data
    gets workgroups of one pixel vector; a short one keeps wide workgroups, which reuse what
    was hoisted and keep the number of workgroups (and their fixed cost) down. A map of fewer
    than `wide_pixels` pixels also gets workgroups of one pixel vector: its loop is too short
    to pay for the hoisting, and its few wide workgroups leave a second worker idle (in
    MobileNet-V2, 320->1280 on a 7x7 map ran in half the time, the 14x14 layers 0.9x, while
    the maps of 832 pixels and more ran 1.0-1.5x slower; `benchmarks/dispatch_timeline.py`,
    session 9).

    Attributes:
      rows: row blocks per workgroup.
      pixels: pixels per workgroup when the row's hoisted data fit in `hoist_bytes`; a
        multiple of every pixel vector.
      vector: the innermost tile, for a one-row kernel; its pixel size is the length of the
        vectors the loads and multiply-adds run at (8 AVX2 registers of 8 lanes here).
      hoist_bytes: the most hoisted data per row kept in a wide workgroup (half of L1 here).
      wide_pixels: the fewest pixels of a map whose kernel gets wide workgroups.
      register: floats in one vector register (8 on AVX2): the shortest pixel vector, and
        the unit that grids and small maps are rounded up to.
      pointwise_row_vector: the pixels of the vector of a 1x1 kernel in a row format
        (`balanced`, `ell`) built by `kernel_function`, when not `vector`'s.
      pointwise_block_vector: the pixels of the vector of a 1x1 kernel in `g`-row blocks
        built by `kernel_function`, on maps (or grids) of a multiple of them, when not
        `for_block(g)`'s (on other maps it would add a padding copy).
      pointwise_channels: output channels per workgroup of a 1x1 kernel built by
        `kernel_function` on a map of more than one pixel (`pointwise_channels // g` row
        blocks), when not `rows`'; a matrix-vector product (one pixel) takes `rows` row
        blocks per workgroup instead, which spreads its rows over the workers.
      pointwise_hoist_bytes: `hoist_bytes` for a 1x1 kernel built by `kernel_function`.
      block_vector: the pixels of the vector of a KxK kernel in `g`-row blocks (`g` > 1),
        when not `vector`'s divided by `g` (`for_block`).
    The `pointwise_*` fields apply through `for_pointwise`, which drops `block_vector`; KxK
    kernels keep the others. An expansion computed inside a depthwise kernel's dispatch
    (`_sparse_fused_kernels`) takes neither: `sparse_dispatch` drops `block_vector` for it
    (64-pixel vectors there made MobileNet-V2 1.14x slower on two threads, by hand).
    """

    rows: int = 8
    pixels: int = 448
    vector: tuple[int, int] = (1, 64)
    hoist_bytes: int = 16 * 1024
    wide_pixels: int = 512
    register: int = 8
    pointwise_row_vector: int | None = None
    pointwise_block_vector: int | None = None
    pointwise_channels: int | None = None
    pointwise_hoist_bytes: int | None = None
    block_vector: int | None = None

    def __post_init__(self) -> None:
        # IREE reads a tile of 0 as "not tiled", `for_block` turns a vector of 0 into one
        # register, and a register of 0 divides by zero: refused here, where the tiles are made.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            sizes = value if isinstance(value, tuple) else () if value is None else (value,)
            # A size of 2.5 or True reached the IR as such.
            if not all(is_integer(v) for v in sizes):
                raise ValueError(f"tiles.{field.name} must be integers, got {value!r}")
            if field.name == "vector":
                if not isinstance(value, tuple) or len(value) != 2 or min(value) < 1:
                    raise ValueError(f"tiles.vector must be 2 sizes of at least 1, got {value}")
            elif field.name.endswith("hoist_bytes") or field.name == "wide_pixels":
                if value is not None and value < 0:
                    raise ValueError(f"tiles.{field.name} must be >= 0, got {value}")
            elif value is not None and value < 1:
                raise ValueError(f"tiles.{field.name} must be at least 1, got {value}")

    def for_block(self, g: int) -> "CpuTiles":
        """The tiles of a kernel computing `g` rows at once: the pixel tile is divided by `g`
        (at least 8), so the accumulators stay as many as a one-row kernel has.

        A 4-row block with 64 pixels would hold 32 AVX2 registers of accumulators, twice the
        register file, and ran 3x slower than with 16 pixels. A `block_vector` replaces that
        rule (AVX-512 has 32 registers of 16 floats).
        """
        v0, v1 = self.vector
        if g > 1 and self.block_vector is not None:
            return dataclasses.replace(self, vector=(v0, self.block_vector))
        return dataclasses.replace(self, vector=(v0, max(self.register, v1 // g)))

    def for_pointwise(self, g: int, p: int) -> "CpuTiles":
        """The tiles of a 1x1 kernel built by `kernel_function` with `g`-row blocks on `p`
        pixels: these with the `pointwise_*` fields that are set in place of the others."""
        tiles = dataclasses.replace(self, block_vector=None)
        if self.pointwise_channels is not None and p > 1:
            tiles = dataclasses.replace(tiles, rows=max(1, self.pointwise_channels // g))
        if self.pointwise_hoist_bytes is not None:
            tiles = dataclasses.replace(tiles, hoist_bytes=self.pointwise_hoist_bytes)
        pixels = self.pointwise_row_vector if g == 1 else self.pointwise_block_vector
        if pixels is None or (g > 1 and p % pixels):
            return tiles
        return dataclasses.replace(tiles, vector=(self.vector[0], pixels * g))

    def pixel_vector(self, g: int, p: int) -> int:
        """The pixel vector of a `g`-row kernel on `p` pixels: `for_block(g)`'s when it
        divides `p` (or `p` is not whole 8-float registers), else the most whole registers
        up to it that divide `p`, so that no load is masked (a KxK kernel's padded grid has
        whole registers of pixels, `_sparse_conv_kernels.Grid`, not always whole vectors)."""
        v = self.for_block(g).vector[1]
        if p % v == 0 or p % self.register:
            return v
        return largest_dividing_multiple(p, self.register, v)

    def workgroup_pixels(self, g: int, slots: int, p: int) -> int:
        """Pixels per workgroup of a `g`-row kernel with `slots` nonzeros (or blocks) per row
        on `p` pixels.

        A wide workgroup gets the most whole pixel vectors, up to `pixels`, that divide `p`
        (when `p` is a whole number of vectors): a last workgroup with fewer pixels makes
        IREE's CPU code mask every load of the kernel, not only the last ones. AVX-512 masks
        cost little, but AVX2 has only `vmaskmovps`, which on a Zen 1 EPYC made MobileNet-V2's
        sparse kernels 1.7x slower in all (29.7 ms against 17.3 ms per inference, one
        thread; its 144-channel 3x3 kernel on a 56x56 map 5.7x; `benchmarks/
        dispatch_timeline.py`, session 12), and NEON has no masked load at all.
        """
        v = self.pixel_vector(g, p)
        wide = slots * (32 * g + 8) <= self.hoist_bytes and p >= self.wide_pixels
        if not wide:
            return v
        if p % v:
            return self.pixels
        return largest_dividing_multiple(p, v, self.pixels)

    def attribute(self, g: int, slots: int, p: int) -> str:
        """The `#iree_codegen.compilation_info` attribute of a `g`-row kernel with `slots`
        nonzeros (or blocks) per row on `p` pixels, as MLIR text."""
        return cpu_compilation_info(
            [self.rows, self.workgroup_pixels(g, slots, p)],
            [self.for_block(g).vector[0], self.pixel_vector(g, p)],
        )


DEFAULT_TILES = CpuTiles()
"""Measured on the AVX-512 machine of sessions 1-11 (the loads and multiply-adds run at AVX2
width, 16 vector registers, 32 KB L1): 64-pixel vectors for row formats, 16 for 4-row blocks,
workgroups of 8 rows (or blocks) by up to 448 pixels (whole vectors dividing the map's), or by
one pixel vector for rows with more than 16 KB of hoisted data or maps of fewer than 512
pixels. Session 12's Zen 1 EPYC (AVX2 only) made the dividing rule and whole-register grids
necessary (`workgroup_pixels`); the other sizes were not tuned again there."""

AVX2_TILES = dataclasses.replace(DEFAULT_TILES, pointwise_row_vector=32)
"""`DEFAULT_TILES` for x86 CPUs without AVX-512: 1x1 kernels in a row format on vectors of 32
pixels (four AVX2 registers of accumulators) instead of 64. On a Zen 1 EPYC (session 16) the
256 -> 256 layer on 56x56 with balanced rows at 10% then took 0.20 of IREE dense on one thread
(`benchmarks/results/sparse_kernels-1x1-s16-zen1-2026-12-05.json`) against 0.31 with 64-pixel
vectors in session 15's run, unstructured rows 0.24 against 0.32; workgroups of 2 to 256 rows
by 32 to 1568 pixels measured within 0.18-0.23 (by hand). Block and KxK kernels, and with them
the pruned ResNet-50 and MobileNet-V2 builds, are unchanged."""

AVX512_TILES = dataclasses.replace(
    DEFAULT_TILES,
    hoist_bytes=4 * 1024,
    block_vector=64,
    pointwise_block_vector=64,
    pointwise_channels=2048,
    pointwise_hoist_bytes=0,
)
"""`DEFAULT_TILES` for x86 CPUs with AVX-512, where IREE's loads and multiply-adds run on
16-float registers (32 of them): a 1x1 kernel in 4-row blocks on vectors of 64 pixels (16
registers of accumulators, 16 independent chains of multiply-adds, each broadcast value
serving four registers) where they divide the map,
and every 1x1 kernel in workgroups of one pixel vector by all its output channels (up to
2048, the most of any convolution in the model zoo; AlexNet's and VGG-16's 4096-output
classifier layers, at a batch above 1, get two groups of channels), with nothing hoisted
(for a 448-pixel workgroup LLVM hoisted a block's broadcast values, 26 slots x 4 registers of
64 bytes at 10% density, more than the register file, and spilled them).
Measured on a Zen 4 EPYC (session 31): the 256 -> 256 layer on 56x56 at 10% took 0.123 of
IREE dense on one thread and 0.113 on two in 4x1 blocks, 0.211 and 0.214 in balanced rows
(`benchmarks/results/sparse_kernels-1x1-s31-zen4-2026-12-07.json`), against 0.153 / 0.195
and 0.281 / 0.324 with `DEFAULT_TILES` in session 29 (`-s29-zen4-`). Whole pruned models
(`benchmarks/compare_revisions.py --revisions 060d7a1 89cf8c3`, the commits before and
after): ResNet-50 0.949x the time on two threads (paired 0.934x) and 0.952x on one (paired
0.968x), MobileNet-V2 0.958x (paired 0.925x) and 0.998x (paired 0.980x)
(`compare_revisions-*-sparse-nchw-s31-zen4-pointwise-t2-` and `-t1-2026-12-07.json`). Other
sizes tried by hand: 128 or 256 channels per workgroup were as fast on one thread and
slower on two; 64-pixel block vectors on maps they do not divide added a padding copy per
layer and made both models slower.

All output channels in a workgroup (session 38, on an Intel Xeon with 2 MB of L2 per core,
instead of 64 channels): a workgroup then reads its pixels' input once for every output
channel, and two workers split the map's pixels rather than each reading the whole map,
half of it from the other core's L2, which costs more on this Xeon than on the Zen 4. (A
map of one pixel vector, such as ResNet-50's 7x7 maps on their 64-pixel grids, is then one
workgroup, run by one worker; those layers got slower, within the gain.) With
`benchmarks/compare_revisions.py` (4ff1ea6 with 64 channels against scratch commits with
2048 and 512): on two
threads ResNet-50 0.957x and 0.943x the time (paired 0.952x, 0.929x; 512 channels 0.946x)
and MobileNet-V2 0.870x and 0.880x (paired 0.892x, 0.921x; 512 channels 0.913x); on one
thread level, 0.999x and 1.003x (`compare_revisions-*-sparse-nchw-s38-xeon-ch2048-t1-`,
`-t2-` and `-s38-xeon-ch-t2-2026-12-08.json`). Not measured on the Zen 4 (gone), where the
256 -> 256 layer alone had been as fast with 128 or 256 channels on one thread and slower
on two (session 31).

KxK kernels keep wide workgroups only while a row's hoisted data stays within 4 KB (not 16):
LLVM spills larger hoists here too. (The count is `workgroup_pixels`' AVX2 one, 32 bytes per
broadcast value; an AVX-512 register holds 64, so counted in registers the limit is about
twice that, 7.4-7.8 KB. The 4 KB was measured with the count as it stands, and the sizes
below are in its terms.) The 3x3 64 -> 64 layer on 56x56 in 4x1 blocks per tap, on one
thread (session 33; `benchmarks/sparse_kernels.py --layers conv3x3_64_56x56`, the default
tiles then, `sparse_kernels-conv3x3-s33-zen4-2026-12-07.json`, against the same
command with `--tiles hoist_bytes=0 --rounds 5`, `-s33-zen4-hoist0-`, separate runs): at 20%
density (117 slots per 4-row block, 15.9 KB hoisted) 1.74 ms wide against 0.67 ms in workgroups of
one pixel vector, at 10% (54 slots, 7.3 KB) 0.47 against 0.38, at 5% (27 slots, 3.7 KB) 0.25
either way; with this limit 0.65, 0.40 and 0.26 (`-s33-zen4-b-`). The pruned ResNet-50's three
3x3 layers on 56x56 (72 slots, 9.8 KB) change: 0.59-0.61 ms each on one thread before, 0.40-0.44
after (`benchmarks/dispatch_timeline.py --model resnet50 --threads 1 --inferences 12`,
`dispatch_timeline-resnet50-sparse-nchw-s33-old-` and `-s33-new-2026-12-07.json`, run one
after the other), about 0.5 ms of its 20; whole-model runs put that within their noise
(`compare_revisions-resnet50-sparse-nchw-s33-kxk-hoist-t1-` and `-t2-2026-12-07.json`: 0.976x
and 1.076x the time, paired 1.027x and 1.011x). MobileNet-V2's two wide KxK kernels (the
stem, 3.7 KB, and the first depthwise, 0.4 KB) do not change.

KxK kernels in 4-row blocks run on 64-pixel vectors (`block_vector`; 16 accumulator
registers, as the 1x1 blocks have), not 16 (4 registers). Session 34, by hand: the 3x3
64 -> 64 layer (`benchmarks/sparse_kernels.py`'s pieces, five alternated rounds) at 10% and
20% density took 0.31 and 0.54 ms on one thread against 0.34 and 0.60, and MobileNet-V2,
whose only such kernel is its dense stem, was level (`benchmarks/compare_revisions.py`
against a scratch commit: 0.968x the time on one thread, 1.039x on two; paired 0.971x,
1.012x). The pruned ResNet-50 against the commit before
(`compare_revisions-resnet50-sparse-nchw-s34-kxk-vector-t1-` and `-t2-2026-12-07.json`):
0.949x the time on one thread (paired 0.950x), 0.984x on two (paired 0.990x; the vCPUs far
apart in most rounds); the README's table of the 3x3 layer is after this change
(`sparse_kernels-conv3x3-s34-zen4-2026-12-07.json`). An expansion fused into a depthwise
kernel's dispatch keeps 16: with 64 MobileNet-V2 took 1.14x the time on two threads."""


@dataclasses.dataclass(frozen=True)
class KernelFunction:
    """A generated kernel and the constants its arguments after the first must be bound to.

    Attributes:
      text: a module holding one `util.func private`, taking the layer's input `x` and then
        one argument per entry of `constants`, returning the layer's output.
      constants: the tables and bias, in argument order (int32 column tables, float32 rest).
    """

    text: str
    constants: tuple[np.ndarray, ...]


@dataclasses.dataclass(frozen=True)
class GridOutput:
    """Where a kernel on `[K, P]` columns writes its `[M, P]` result: into `[M, pixels]` from
    pixel `offset` on, the pixels outside left undefined, and with `residual`, plus the same
    rows of a further argument `[M, pixels]` read at `p + offset`: `act(y) + r` with
    `activation_first` (a model that adds after its activation), else `act(y + r)`.

    `sparse_dispatch` computes a projection on its depthwise kernel's output grid this way
    straight into the padded grid of the depthwise kernel's input (`offset` being the
    padding before the map), which the next inverted residual block then reads as its own
    input grid, with the residual add of the block done in the kernel.
    """

    offset: int
    pixels: int
    residual: bool = False
    activation_first: bool = False


def tensor_type(shape: tuple[int, ...], element: str = "f32") -> str:
    """`tensor<AxBxf32>` for `shape` and `element`."""
    return "tensor<" + "x".join(str(d) for d in shape) + f"x{element}>"


def binding_type(shape: tuple[int, ...], element: str, access: str) -> str:
    """The type of a dispatch argument bound to such a tensor, `access` being `readonly` or
    `writeonly`."""
    return f"!iree_tensor_ext.dispatch.tensor<{access}:{tensor_type(shape, element)}>"


def pad_lines(
    source: str,
    result: str,
    shape: tuple[int, ...],
    high: tuple[int, ...],
    low: tuple[int, ...] | None = None,
) -> list[str]:
    """A `tensor.pad` of `source` with zeros before (`low`, default none) and after each dim.

    The zero is defined inside the pad's region: the function is inlined op by op, and only
    top-level operands are remapped, so a region must not use values from outside it.
    """
    low = low or (0,) * len(shape)
    out = tuple(d + lo + h for d, lo, h in zip(shape, low, high, strict=True))
    indices = ", ".join(f"%i{d}: index" for d in range(len(shape)))
    lows = ", ".join(str(lo) for lo in low)
    highs = ", ".join(str(h) for h in high)
    return [
        f"{result} = tensor.pad {source} low[{lows}] high[{highs}] {{",
        f"^bb0({indices}):",
        f"{result}_zero = arith.constant 0.000000e+00 : f32",
        f"tensor.yield {result}_zero : f32",
        f"}} : {tensor_type(shape)} to {tensor_type(out)}",
    ]


def vector_multiple(p: int, tiles: CpuTiles | None, g: int) -> int:
    """`P` rounded up to a multiple of the kernel's pixel vector, when that is worth it.

    IREE's CPU code for a pixel count that the vector tile does not divide runs the remainder
    through a masked path as slow as a full vector (P = 49: 0.55 ms, P = 64: 0.47 ms for a
    512 -> 2048 block layer), so computing the padded pixels costs nothing and saves that
    path. Below one vector, `P` is rounded up to whole 8-float registers only (`CpuTiles.
    pixel_vector` then picks a vector that divides it), and not at all under one register
    (P = 1 of a batch-1 fully connected layer would do 8x the work); left alone on GPU
    (`tiles is None`).
    """
    if tiles is None:
        return p
    v = tiles.for_block(g).vector[1]
    if p > v:
        return -(-p // v) * v
    # Below a `block_vector`, whole vectors of the kernel without it: the grid other kernels
    # compute (a 1x1 kernel after a stride-2 KxK one on a 7x7 map computes on its 56-pixel
    # output grid only when both make it 64 pixels).
    u = dataclasses.replace(tiles, block_vector=None).for_block(g).vector[1]
    if p > u:
        return -(-p // u) * u
    r = tiles.register
    return -(-p // r) * r if p > r else p


def block_values(val: np.ndarray) -> np.ndarray:
    """A block format's values `[M/g, g, J]` as the kernel reads them, `[M/g, J, g]`.

    The `g` values of one slot are then adjacent, and a block's values are read front to back
    as one stream instead of `g` streams `J` floats apart (the layout of block-sparse formats
    such as BSR). In a whole model the tables come from memory rather than cache: the 7x7
    layers, whose tables are the largest for their work, took about twice their time alone
    (sampled with perf). On the pruned ResNet-50 the change was within this machine's noise
    (0.94-1.05x over interleaved runs).
    """
    return np.ascontiguousarray(np.swapaxes(val, 1, 2))


def activation_constants(*activations: Activation) -> list[str]:
    """The constants `activate` uses for these activations: `%zero` for any, `%six` for ReLU6."""
    lines = []
    if any(a is not None for a in activations):
        lines.append("%zero = arith.constant 0.000000e+00 : f32")
    if "relu6" in activations:
        lines.append("%six = arith.constant 6.000000e+00 : f32")
    return lines


def activate(value: str, activation: Activation, lines: list[str], tag: str) -> str:
    """Appends the ops applying `activation` to `value` (uses `%zero`, `%six`); returns the
    name of the result. `tag` keeps the names unique.

    Each clamp is a compare and a select (`x < 0 ? 0 : x`), which keeps a NaN as
    `arith.maximumf` does but which LLVM lowers to one or two AVX instructions, where
    `maximumf` / `minimumf` became a max, an unordered compare and a blend each (on Zen 1 the
    clamps of the fused expansion took as many instructions as its multiply-adds): the whole
    sparse MobileNet-V2 ran in 0.945x the time on one thread (16 interleaved pairs, session
    15)."""
    if activation is None:
        return value
    lines += [
        f"%below{tag} = arith.cmpf olt, {value}, %zero : f32",
        f"%relu{tag} = arith.select %below{tag}, %zero, {value} : f32",
    ]
    if activation == "relu":
        return f"%relu{tag}"
    lines += [
        f"%above{tag} = arith.cmpf ogt, %relu{tag}, %six : f32",
        f"%relu6{tag} = arith.select %above{tag}, %six, %relu{tag} : f32",
    ]
    return f"%relu6{tag}"


def mask_lines(mask: str, results: list[str], lines: list[str], tag: str = "") -> list[str]:
    """Appends the ops replacing each of `results` by 0 where the f32 `mask` is 0; returns the
    names of the new values. A select, not a product: a grid chained from a projection
    (`sparse_dispatch`) leaves its padding undefined, and `NaN * 0` is `NaN`."""
    lines += [
        f"%mask_zero{tag} = arith.constant 0.000000e+00 : f32",
        f"%mask_on{tag} = arith.cmpf one, {mask}, %mask_zero{tag} : f32",
    ]
    out = []
    for r, value in enumerate(results):
        lines.append(
            f"%masked{tag}{r} = arith.select %mask_on{tag}, {value}, %mask_zero{tag} : f32"
        )
        out.append(f"%masked{tag}{r}")
    return out


def masked_results(results: list[str], masked: bool, lines: list[str], p: int) -> list[str]:
    """Appends the ops zeroing `results` where the pixel's `%Mask[p]` is 0 (when `masked`)."""
    if not masked:
        return results
    lines.append(f"%mask_p = tensor.extract %Mask[%p] : {tensor_type((p,))}")
    return mask_lines("%mask_p", results, lines)


def _with_residual(
    results: list[str], residual: tuple[int, int] | None, lines: list[str], m: int, g: int
) -> list[str]:
    """Appends the ops adding `%Res[row, p + shift]` (`%Res` being `[m, pixels]`) to each of
    `results`, row `%m` of a row format or row `r` of block `%b`, when `residual` is
    `(shift, pixels)`; returns the sums' names."""
    if residual is None:
        return results
    shift, pixels = residual
    lines.append("%res_q = arith.addi %p, %res_shift : index")
    out = []
    for r, value in enumerate(results):
        row = "%m"
        if g > 1:
            lines += [
                f"%res_b{r} = arith.muli %b, %res_g : index",
                f"%res_row{r} = arith.addi %res_b{r}, %r{r} : index",
            ]
            row = f"%res_row{r}"
        lines += [
            f"%res_v{r} = tensor.extract %Res[{row}, %res_q] : {tensor_type((m, pixels))}",
            f"%res_sum{r} = arith.addf {value}, %res_v{r} : f32",
        ]
        out.append(f"%res_sum{r}")
    return out


def _row_body(
    layout: SparseLayout,
    k: int,
    p: int,
    activation: Activation,
    masked: bool = False,
    residual: tuple[int, int] | None = None,
    activation_first: bool = False,
) -> list[str]:
    """Body of the row-format generic: one output row `m`, all its slots unrolled; with
    `residual`, `act(y + r)`, or `act(y) + r` with `activation_first`."""
    m, j = layout.rows, layout.slots
    lines = ["^bb0(%bias_m: f32, %out: f32):", "%m = linalg.index 0 : index"]
    lines.append("%p = linalg.index 1 : index")
    acc = "%bias_m"
    for s in range(j):
        lines += [
            f"%c{s} = tensor.extract %C[%m, %j{s}] : {tensor_type((m, j), 'i32')}",
            f"%k{s} = arith.index_cast %c{s} : i32 to index",
            f"%v{s} = tensor.extract %V[%m, %j{s}] : {tensor_type((m, j))}",
            f"%x{s} = tensor.extract %X[%k{s}, %p] : {tensor_type((k, p))}",
            f"%t{s} = arith.mulf %v{s}, %x{s} : f32",
            f"%s{s} = arith.addf {acc}, %t{s} : f32",
        ]
        acc = f"%s{s}"
    # (A residual never comes with a mask, `kernel_function`.)
    if not activation_first:
        (acc,) = _with_residual([acc], residual, lines, m, 1)
    (result,) = masked_results([activate(acc, activation, lines, "")], masked, lines, p)
    if activation_first:
        (result,) = _with_residual([result], residual, lines, m, 1)
    return [*lines, f"linalg.yield {result} : f32"]


def block_sums(
    lines: list[str], start: list[str], slots: list[tuple[list[str], str, str]], tag: str = ""
) -> list[str]:
    """Appends the ops of a block's `g = len(start)` running sums, row `r` starting at
    `start[r]`, and returns the sums' names. Each slot `(loads, x, weight)` appends `loads`
    (the ops defining the activation `x`, loaded once for the `g` rows), then for each row the
    `tensor.extract` of `weight` (its operand and type, `{r}` standing for the row's index
    constant `%r<r>`) times `x`. `tag` keeps the names unique."""
    acc = list(start)
    for s, (loads, x, weight) in enumerate(slots):
        lines += loads
        for r in range(len(acc)):
            v, t, total = (f"%{tag}{name}{s}_{r}" for name in "vts")
            lines += [
                f"{v} = tensor.extract {weight.format(r=f'%r{r}')}",
                f"{t} = arith.mulf {v}, {x} : f32",
                f"{total} = arith.addf {acc[r]}, {t} : f32",
            ]
            acc[r] = total
    return acc


def _block_body(
    layout: SparseLayout,
    k: int,
    p: int,
    activation: Activation,
    masked: bool = False,
    residual: tuple[int, int] | None = None,
    activation_first: bool = False,
) -> list[str]:
    """Body of the block generic: `g` rows of block `b`, each activation loaded once; the
    residual as in `_row_body`."""
    g, j = layout.block, layout.slots
    blocks = layout.rows // g
    args = ", ".join(f"%out{r}: f32" for r in range(g))
    lines = [f"^bb0({args}):", "%b = linalg.index 0 : index", "%p = linalg.index 1 : index"]
    start = []
    for r in range(g):
        lines.append(f"%bias{r} = tensor.extract %Bias[%b, %r{r}] : {tensor_type((blocks, g))}")
        start.append(f"%bias{r}")
    slots = [
        (
            [
                f"%c{s} = tensor.extract %C[%b, %j{s}] : {tensor_type((blocks, j), 'i32')}",
                f"%k{s} = arith.index_cast %c{s} : i32 to index",
                f"%x{s} = tensor.extract %X[%k{s}, %p] : {tensor_type((k, p))}",
            ],
            f"%x{s}",
            f"%V[%b, %j{s}, {{r}}] : {tensor_type((blocks, j, g))}",
        )
        for s in range(j)
    ]
    acc = block_sums(lines, start, slots)
    if not activation_first:
        acc = _with_residual(acc, residual, lines, layout.rows, g)
    results = [activate(a, activation, lines, f"{r}") for r, a in enumerate(acc)]
    results = masked_results(results, masked, lines, p)
    if activation_first:
        results = _with_residual(results, residual, lines, layout.rows, g)
    return [*lines, f"linalg.yield {', '.join(results)} : {', '.join(['f32'] * g)}"]


def _input_glue(
    layout: Layout, shape: tuple[int, ...], stride: int
) -> tuple[list[str], str, int, tuple[int, int, int]]:
    """Ops turning the argument `%x` into channel-major `[K, P]`.

    Returns:
      The ops, the name of their `[K, P]` result, `K`, and the output's (batch, height,
      width), whose product is `P` (the columns of a matrix count as its batch).
    """
    if layout == "cols":
        k, n = shape
        return [], "%x", k, (n, 1, 1)
    if layout == "vector":
        (k,) = shape
        return (
            [
                f"%xc = tensor.expand_shape %x [[0, 1]] output_shape [{k}, 1] : "
                f"{tensor_type(shape)} into {tensor_type((k, 1))}"
            ],
            "%xc",
            k,
            (1, 1, 1),
        )
    if layout == "rows":
        n, k = shape
        xt = tensor_type((k, n))
        return (
            [
                f"%xc_init = tensor.empty() : {xt}",
                f"%xc = linalg.transpose ins(%x : {tensor_type(shape)}) outs(%xc_init : {xt}) "
                "permutation = [1, 0]",
            ],
            "%xc",
            k,
            (n, 1, 1),
        )
    lines = []
    source = "%x"
    if stride > 1:
        # A strided 1x1 convolution reads every stride-th pixel: slice them out first.
        if layout == "nhwc":
            n, h, w, k = shape
            sub = (n, -(-h // stride), -(-w // stride), k)
            steps = f"[1, {stride}, {stride}, 1]"
        else:
            n, k, h, w = shape
            sub = (n, k, -(-h // stride), -(-w // stride))
            steps = f"[1, 1, {stride}, {stride}]"
        sizes = ", ".join(str(d) for d in sub)
        lines.append(
            f"%x_sub = tensor.extract_slice %x[0, 0, 0, 0] [{sizes}] {steps} : "
            f"{tensor_type(shape)} to {tensor_type(sub)}"
        )
        source, shape = "%x_sub", sub
    if layout == "nchw":
        n, k, h, w = shape
        if n != 1:
            raise ValueError(f"an NCHW feature map must have batch 1, got shape {shape}")
        lines.append(
            f"%xc = tensor.collapse_shape {source} [[0, 1], [2, 3]] : {tensor_type(shape)} into "
            f"{tensor_type((k, h * w))}"
        )
        return lines, "%xc", k, (n, h, w)
    n, h, w, k = shape
    p = n * h * w
    lines += [
        f"%x_rows = tensor.collapse_shape {source} [[0, 1, 2], [3]] : {tensor_type(shape)} into "
        f"{tensor_type((p, k))}",
        f"%xc_init = tensor.empty() : {tensor_type((k, p))}",
        f"%xc = linalg.transpose ins(%x_rows : {tensor_type((p, k))}) outs(%xc_init : "
        f"{tensor_type((k, p))}) permutation = [1, 0]",
    ]
    return lines, "%xc", k, (n, h, w)


def _output_glue(
    layout: Layout, m: int, spatial: tuple[int, int, int]
) -> tuple[list[str], str, tuple[int, ...]]:
    """Ops turning the kernel's `%Y[M, P]` into the function's result (`P` the spatial
    product; a kernel computing padded pixels is sliced to `%Y` first).

    Returns:
      The ops, the name of the result and its shape.
    """
    n, h, w = spatial
    p = n * h * w
    if layout == "cols":
        return [], "%Y", (m, p)
    if layout == "vector":
        return (
            [
                f"%y = tensor.collapse_shape %Y [[0, 1]] : {tensor_type((m, 1))} into "
                f"{tensor_type((m,))}"
            ],
            "%y",
            (m,),
        )
    if layout == "nchw":
        if n != 1:
            raise ValueError(f"an NCHW feature map must have batch 1, got batch {n}")
        out = (n, m, h, w)
        return (
            [
                f"%y = tensor.expand_shape %Y [[0, 1], [2, 3]] output_shape {list(out)} : "
                f"{tensor_type((m, p))} into {tensor_type(out)}"
            ],
            "%y",
            out,
        )
    lines = [
        f"%y_init = tensor.empty() : {tensor_type((p, m))}",
        f"%y_rows = linalg.transpose ins(%Y : {tensor_type((m, p))}) outs(%y_init : "
        f"{tensor_type((p, m))}) permutation = [1, 0]",
    ]
    if layout == "rows":
        return lines, "%y_rows", (p, m)
    out = (n, h, w, m)
    return (
        [
            *lines,
            f"%y = tensor.expand_shape %y_rows [[0, 1, 2], [3]] output_shape {list(out)} : "
            f"{tensor_type((p, m))} into {tensor_type(out)}",
        ],
        "%y",
        out,
    )


DISPATCH_END = [
    "flow.return",
    "} count() -> (index, index, index) {",
    "%wx, %wy, %wz = iree_tensor_ext.dispatch.workgroup_count_from_slice()",
    "flow.return %wx, %wy, %wz : index, index, index",
    "}",
]
"""The end of a kernel's `flow.dispatch.workgroups` region, after its stores: workgroups
counted from the tiles (`compilation_info`)."""


def generic_and_store(
    body: list[str],
    m: int,
    g: int,
    p: int,
    tiles: CpuTiles | None,
    out_binding: str,
    slots: int,
    offset: int = 0,
) -> list[str]:
    """The kernel's all-parallel generic over (row or row block, pixel) with `body`, its
    `compilation_info`, and the stores to `%Y_out`, then the end of the dispatch region.

    One row (`g == 1`) reads `%Bias[M]` and writes `[M, P]`; a block kernel writes `g` results
    of `[M/g, P]`, row `r` of every block to `[b, r, :]` with one strided store, so that
    `[M/g, g, P]` is `[M, P]` in the original channel order without a copy. `slots`, the
    nonzeros (or blocks) per row, and `p` choose the workgroup tile (`CpuTiles.attribute`).
    The pixels are stored from `offset` on (into a wider output, `GridOutput`).
    """
    blocks = m // g
    tile = "" if tiles is None else f", compilation_info = {tiles.attribute(g, slots, p)}"
    parallel = 'iterator_types = ["parallel", "parallel"]'
    result_type = tensor_type((blocks, p))
    lines = [f"%init = tensor.empty() : {result_type}"]
    if g == 1:
        lines += [
            "%result = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, "
            f"affine_map<(d0, d1) -> (d0, d1)>], {parallel}{tile}}} "
            f"ins(%Bias : {tensor_type((m,))}) outs(%init : {result_type}) {{",
            *body,
            f"}} -> {result_type}",
            f"iree_tensor_ext.dispatch.tensor.store %result, %Y_out, offsets = [0, {offset}], "
            f"sizes = [{m}, {p}], strides = [1, 1] : {result_type} -> {out_binding}",
        ]
    else:
        maps = ", ".join(["affine_map<(d0, d1) -> (d0, d1)>"] * g)
        inits = ", ".join(["%init"] * g)
        init_types = ", ".join([result_type] * g)
        lines += [
            f"%result:{g} = linalg.generic {{indexing_maps = [{maps}], {parallel}{tile}}} "
            f"outs({inits} : {init_types}) {{",
            *body,
            f"}} -> ({init_types})",
        ]
        lines += [
            f"iree_tensor_ext.dispatch.tensor.store %result#{r}, %Y_out, "
            f"offsets = [0, {r}, {offset}], "
            f"sizes = [{blocks}, 1, {p}], strides = [1, 1, 1] : {result_type} -> {out_binding}"
            for r in range(g)
        ]
    return [*lines, *DISPATCH_END]


def dispatch_header(
    result: str,
    x: str,
    x_shape: tuple[int, ...],
    tables: list[tuple[str, np.ndarray, str]],
    kernel_out: tuple[int, ...],
) -> list[str]:
    """The opening of the kernel's `flow.dispatch.workgroups`: `result` from `x` and the
    tables (name, array, element type), each bound as a readonly argument and loaded whole as
    `%X`, `%C`... inside; `%Y_out` is the writeonly `kernel_out`."""
    out_binding = binding_type(kernel_out, "f32", "writeonly")
    types = ", ".join([tensor_type(x_shape), *(tensor_type(a.shape, e) for _, a, e in tables)])
    operands = ", ".join([x, *(f"%{n.lower()}" for n, _, _ in tables)])
    captures = ", ".join(
        [
            f"%X_in: {binding_type(x_shape, 'f32', 'readonly')}",
            *(f"%{n}_in: {binding_type(a.shape, e, 'readonly')}" for n, a, e in tables),
            f"%Y_out: {out_binding}",
        ]
    )
    lines = [
        f"{result} = flow.dispatch.workgroups({operands}) : ({types}) -> "
        f"{tensor_type(kernel_out)} =",
        f"({captures}) {{",
    ]
    for n, shape, e in [("X", x_shape, "f32"), *((n, a.shape, e) for n, a, e in tables)]:
        zeros = ", ".join("0" for _ in shape)
        ones = ", ".join("1" for _ in shape)
        sizes = ", ".join(str(d) for d in shape)
        lines.append(
            f"%{n} = iree_tensor_ext.dispatch.tensor.load %{n}_in, offsets = [{zeros}], "
            f"sizes = [{sizes}], strides = [{ones}] : {binding_type(shape, e, 'readonly')} -> "
            f"{tensor_type(shape, e)}"
        )
    return lines


def _dispatch(
    x: str,
    layout: SparseLayout,
    tables: list[tuple[str, np.ndarray, str]],
    k: int,
    p: int,
    activation: Activation,
    tiles: CpuTiles | None,
    result_name: str = "%Y",
    into: GridOutput | None = None,
) -> list[str]:
    """The `flow.dispatch.workgroups` computing `result_name[M, P]` (`[M, into.pixels]`) from
    `%X[K, P]` and the tables (the last `%Res` with `into.residual`)."""
    m, g, j = layout.rows, layout.block, layout.slots
    blocks = m // g
    row_format = g == 1
    total = p if into is None else into.pixels
    kernel_out = (m, total) if row_format else (blocks, g, total)
    out_binding = binding_type(kernel_out, "f32", "writeonly")
    lines = dispatch_header(
        result_name if row_format else "%Y_kernel", x, (k, p), tables, kernel_out
    )
    lines += [f"%j{s} = arith.constant {s} : index" for s in range(j)]
    if not row_format:
        lines += [f"%r{r} = arith.constant {r} : index" for r in range(g)]
    lines += activation_constants(activation)
    residual = None
    if into is not None and into.residual:
        residual = (into.offset, total)
        lines.append(f"%res_shift = arith.constant {into.offset} : index")
        if not row_format:
            lines.append(f"%res_g = arith.constant {g} : index")
    masked = any(name == "Mask" for name, _, _ in tables)
    first = into is not None and into.activation_first
    body = (
        _row_body(layout, k, p, activation, masked, residual, first)
        if row_format
        else _block_body(layout, k, p, activation, masked, residual, first)
    )
    offset = 0 if into is None else into.offset
    lines += generic_and_store(body, m, g, p, tiles, out_binding, j, offset)
    if not row_format:
        lines.append(
            f"{result_name} = tensor.collapse_shape %Y_kernel [[0, 1], [2]] : "
            f"{tensor_type(kernel_out)} into "
            f"{tensor_type((m, total))}"
        )
    return lines


def _slice_pixels(m: int, wide: int, p: int) -> list[str]:
    """Renames the kernel's `%Y_wide[M, wide]` to `%Y[M, P]`, slicing off padded pixels."""
    if wide == p:
        return []
    return [
        f"%Y = tensor.extract_slice %Y_wide[0, 0] [{m}, {p}] [1, 1] : "
        f"{tensor_type((m, wide))} to {tensor_type((m, p))}"
    ]


def kernel_function(
    name: str,
    layout: SparseLayout,
    bias: np.ndarray,
    input_shape: tuple[int, ...],
    *,
    input_layout: Layout = "nhwc",
    output_layout: Layout | None = None,
    stride: int = 1,
    activation: Activation = None,
    tiles: CpuTiles | None = DEFAULT_TILES,
    pad_pixels: bool = True,
    mask: np.ndarray | None = None,
    into: GridOutput | None = None,
    residual: bool = False,
) -> KernelFunction:
    """Generates `y = act(x @ W^T + bias)` for one layer as a sparse kernel.

    Args:
      name: the function's symbol, unique in the module it is inlined into.
      layout: the weight tables of `W[M, K]` (`lowering.passes._sparse_formats`).
      bias: float32 `[M]`, added before the activation.
      input_shape: the shape of `x`: `[N, H, W, K]` (`"nhwc"`), `[1, K, H, W]` (`"nchw"`),
        `[N, K]` (`"rows"`), `[K, N]` (`"cols"`, where `y` is `act(W @ x + bias)`) or `[K]`
        (`"vector"`).
      input_layout: the layout of `x`.
      output_layout: the layout of `y`; the input's if `None`.
      stride: the stride of a 1x1 convolution (every `stride`-th row and column is read).
      activation: `None`, `"relu"` or `"relu6"`, applied last.
      tiles: the CPU tile configuration; `None` leaves the choice to IREE (for GPU targets,
        whose `compilation_info` differs).
      pad_pixels: on CPU, extend a feature map's pixels to whole vectors (`vector_multiple`);
        the zeros join the copy an NHWC input needs anyway (its transpose to channel-major),
        and on an NCHW map cost one copy. Off where that transpose would otherwise cancel
        against the previous sparse kernel's output (a chain of sparse layers on NHWC maps),
        which a pad in between prevents.
      mask: float32 `[N]` for `"cols"`: each output column where it is 0 is set to 0, last
        (a select, `mask_lines`, so whatever the input holds there). A pointwise layer
        computed on a KxK kernel's grid (`_sparse_conv_kernels.Grid`) keeps its padding zero
        this way.
      into: for `"cols"`: write `y` into a wider result (`GridOutput`); with
        `into.residual` the function takes the residual `[M, into.pixels]` as its last
        argument, after the constants (added as `GridOutput` says).
      residual: for an NCHW output of batch 1: the function takes a map `r` as its last
        argument, after the constants, and computes `act(x @ W^T + bias + r)` (a residual
        block's add, which would otherwise read two maps and write one in a dispatch of its
        own). `r` has the output's shape when no pixels are padded; when they are, it is the
        grid `[M, wide]` of the padded pixels (`vector_multiple`) whose first `P` hold the
        map, rows as wide as the output's (what a kernel like this one computed before its
        pixels were sliced), and whatever its padding holds lands only in the padding of
        the result's grid, which is sliced off.

    Returns:
      The function's text and the constants to bind to its arguments after `x`.

    Raises:
      ValueError: an NCHW map with batch above 1, a matrix layout paired with another
        layout, an input whose channels differ from `W`'s columns, a mask that is not one
        value per column of a `"cols"` input, or `into` on another layout, with a mask, or
        not holding the `N` columns from its offset, or `residual` for another output or a
        batch above 1.
    """
    output_layout = output_layout or input_layout
    matrices = ("rows", "cols", "vector")
    if (input_layout in matrices or output_layout in matrices) and input_layout != output_layout:
        raise ValueError(
            f"input_layout {input_layout!r} and output_layout {output_layout!r} must be equal "
            "for matrices and vectors ('rows', 'cols', 'vector'), or both feature-map layouts "
            "('nhwc', 'nchw')"
        )
    m, g, j = layout.rows, layout.block, layout.slots
    in_lines, x, k, spatial = _input_glue(input_layout, tuple(input_shape), stride)
    if k != layout.columns:
        raise ValueError(f"input_shape {input_shape} has {k} channels, W has {layout.columns}")
    p = spatial[0] * spatial[1] * spatial[2]
    if tiles is not None:
        tiles = tiles.for_pointwise(g, p)
    wide = p
    if pad_pixels and input_layout in ("nhwc", "nchw"):
        wide = vector_multiple(p, tiles, g)
        if wide == p and stride > 1 and input_layout == "nchw" and tiles is not None:
            # The strided slice of an NCHW map is a view, which the kernel would read with
            # gathers (3x slower); padding the pixels makes it a contiguous copy.
            wide = vector_multiple(p + 1, tiles, g)
    if wide != p:
        in_lines += pad_lines(x, "%x_wide", (k, p), (0, wide - p))
        x = "%x_wide"
    bias = np.asarray(bias, np.float32).reshape(m if g == 1 else (m // g, g))
    tables: list[tuple[str, np.ndarray, str]] = []
    if j > 0:
        val = layout.val.reshape(m, j) if g == 1 else block_values(layout.val)
        tables = [("C", layout.col.astype(np.int32), "i32"), ("V", val.astype(np.float32), "f32")]
    tables.append(("Bias", bias, "f32"))
    if mask is not None:
        if input_layout != "cols" or np.shape(mask) != (p,):
            raise ValueError(
                f"mask must have shape ({p},) for input_layout 'cols', got shape "
                f"{np.shape(mask)} with input_layout {input_layout!r}"
            )
        tables.append(("Mask", np.asarray(mask, np.float32), "f32"))
    constants = list(tables)
    if into is not None:
        if input_layout != "cols" or mask is not None or not 0 <= into.offset <= into.pixels - p:
            raise ValueError(
                f"into={into} needs input_layout 'cols' without a mask and room for the {p} "
                f"columns from its offset; got input_layout {input_layout!r}"
                f"{' with a mask' if mask is not None else ''}"
            )
        spatial = (into.pixels, 1, 1)
        if into.residual:
            # Only its shape is read: the residual is an argument, not a constant.
            tables.append(("Res", np.broadcast_to(np.float32(0), (m, into.pixels)), "f32"))
    dispatch_into = into
    res_lines: list[str] = []
    if residual:
        n, h, w = spatial
        if into is not None or output_layout != "nchw" or n != 1:
            raise ValueError(
                "residual needs an NCHW output of batch 1, got "
                f"output_layout {output_layout!r}, batch {n}"
                f"{' and into' if into is not None else ''}"
            )
        # The map's rows are the kernel's `[M, P]` (its padded grid's `[M, wide]`): read at
        # `p`, as a grid output's residual at `p + 0`.
        tables.append(("Res", np.broadcast_to(np.float32(0), (m, wide)), "f32"))
        if wide == p:
            res_lines = [
                f"%res = tensor.collapse_shape %res_map [[0, 1], [2, 3]] : "
                f"{tensor_type((1, m, h, w))} into {tensor_type((m, p))}"
            ]
        dispatch_into = GridOutput(0, wide, residual=True)
    out_lines, y, out_shape = _output_glue(output_layout, m, spatial)
    args = ", ".join(
        [
            f"%x: {tensor_type(tuple(input_shape))}",
            *(
                f"%res_map: {tensor_type((1, m, spatial[1], spatial[2]), e)}"
                if residual and n == "Res" and wide == p
                else f"%{n.lower()}: {tensor_type(a.shape, e)}"
                for n, a, e in tables
            ),
        ]
    )
    lines = [
        "module {",
        f"util.func private @{name}({args}) -> {tensor_type(out_shape)} {{",
        *in_lines,
        *res_lines,
        *_dispatch(
            x,
            layout,
            tables,
            k,
            wide,
            activation,
            tiles,
            "%Y" if wide == p else "%Y_wide",
            dispatch_into,
        ),
        *_slice_pixels(m, wide, p),
        *out_lines,
        f"util.return {y} : {tensor_type(out_shape)}",
        "}",
        "}",
    ]
    return KernelFunction("\n".join(lines), tuple(a for _, a, _ in constants))


def dense_kernel_function(
    name: str,
    weights: np.ndarray,
    bias: np.ndarray,
    input_shape: tuple[int, ...],
    *,
    output_layout: Layout = "nchw",
    stride: int = 1,
    activation: Activation = None,
) -> KernelFunction:
    """Generates `y = act(W @ x + bias)` for a dense 1x1 convolution of a channel-major map.

    Such a layer (one `sparse_dispatch` leaves dense, above its threshold) would otherwise stay
    the NHWC convolution of a transposed map, which IREE turns into a 4-D `matmul_like` generic
    with the transposes folded into its operands: on MobileNet-V2's 1x1 layers 4-24 GFLOP/s
    on one thread of a Zen 3, 2-16x slower than the same layers on NHWC maps (session 21,
    `benchmarks/dispatch_profile.py`'s per-dispatch times). As a `linalg.matmul` of
    `W[M, K]` and the map's `[K, H*W]` view, IREE's own matmul code runs it, with the bias and
    the activation fused into its dispatch.

    Args:
      name: the function's symbol, unique in the module it is inlined into.
      weights: float32 `W[M, K]`.
      bias: float32 `[M]`, added before the activation.
      input_shape: `[1, K, H, W]`, the NCHW map `x`.
      output_layout: `"nchw"` (`[1, M, H', W']`) or `"nhwc"` (`[1, H', W', M]`).
      stride: every `stride`-th row and column of `x` is read.
      activation: `None`, `"relu"` or `"relu6"`, applied last.

    Returns:
      The function's text and the constants (`W`, then `bias`) to bind after `x`.

    Raises:
      ValueError: `output_layout` not a feature-map layout, a map with batch above 1, or an
        input whose channels differ from `W`'s columns.
    """
    if output_layout not in ("nchw", "nhwc"):
        raise ValueError(f"output_layout must be 'nchw' or 'nhwc', got {output_layout!r}")
    w = np.asarray(weights, np.float32)
    m = w.shape[0]
    in_lines, x, k, spatial = _input_glue("nchw", tuple(input_shape), stride)
    if k != w.shape[1]:
        raise ValueError(f"input_shape {input_shape} has {k} channels, W has {w.shape[1]}")
    p = spatial[0] * spatial[1] * spatial[2]
    out_lines, y, out_shape = _output_glue(output_layout, m, spatial)
    mp = tensor_type((m, p))
    body = [*activation_constants(activation), "%sum = arith.addf %acc, %b : f32"]
    result = activate("%sum", activation, body, "")
    identity = "affine_map<(d0, d1) -> (d0, d1)>"
    lines = [
        "module {",
        f"util.func private @{name}(%x: {tensor_type(tuple(input_shape))}, "
        f"%w: {tensor_type(w.shape)}, %bias: {tensor_type((m,))}) -> {tensor_type(out_shape)} {{",
        *in_lines,
        "%mm_zero = arith.constant 0.000000e+00 : f32",
        f"%mm_init = tensor.empty() : {mp}",
        f"%mm_fill = linalg.fill ins(%mm_zero : f32) outs(%mm_init : {mp}) -> {mp}",
        f"%mm = linalg.matmul ins(%w, {x} : {tensor_type(w.shape)}, {tensor_type((k, p))}) "
        f"outs(%mm_fill : {mp}) -> {mp}",
        f"%Y = linalg.generic {{indexing_maps = [{identity}, "
        f"affine_map<(d0, d1) -> (d0)>, {identity}], "
        'iterator_types = ["parallel", "parallel"]} '
        f"ins(%mm, %bias : {mp}, {tensor_type((m,))}) outs(%mm_init : {mp}) {{",
        "^bb0(%acc: f32, %b: f32, %out: f32):",
        *body,
        f"linalg.yield {result} : f32",
        f"}} -> {mp}",
        *out_lines,
        f"util.return {y} : {tensor_type(out_shape)}",
        "}",
        "}",
    ]
    return KernelFunction("\n".join(lines), (w, np.asarray(bias, np.float32).reshape(m)))
