"""MLIR text of the sparse kernel of a KxK convolution (stride 1 or more), without im2col.

The kernel reads shifted contiguous runs of a channel-major input. The (already padded) input
`x[1, Hp, Wp, C]`, or an NCHW input padded here (a channel-major model's maps need no
transpose), becomes `X[C, s*s, L]`: for stride `s` its `s*s` phase planes
`X[c, py*s + px] = x[0, py::s, px::s, c]`, each `Hs x Ws` (`Hs = ceil(Hp / s)`) flattened, with
a few zero rows after each (added by the same pad as the border, so that no second copy appends
them). The output is computed on the grid `p' = oy * Ws + ox` for `ox` in
`[0, Ws)`, so that input pixel `(oy*s + dy, ox*s + dx)` is element
`p' + (dy // s) * Ws + dx // s` of phase plane `(dy % s) * s + dx % s`: the offset is a
constant per tap and the load is contiguous along `p'`. The `Ws - Wo` columns beyond the
output's width are computed and sliced away (2 of 58 for a padded 3x3 layer on 56x56), and on
CPU the grid is extended to whole pixel vectors (`_sparse_kernels.vector_multiple`).

The body unrolls, tap by tap, that tap's nonzeros of the output row: a `tensor.extract` of the
channel from the tap's column table, then of `X[c, phase, p' + offset]`. In the block format
(`g` consecutive output channels sharing each tap's channels) the generic computes `g` rows at
once, each activation loaded once for all of them, and writes `[M/g, g, P]` with one strided
store per row of the block, as the 1x1 block kernel does. Bias and activation are
fused; the dispatch is wrapped in `flow.dispatch.workgroups` like the 1x1 kernels
(`lowering.passes._sparse_kernels`).
"""

import dataclasses
import math

import numpy as np

from lowering.passes._linalg import cpu_compilation_info
from lowering.passes._sparse_formats import SparseLayout
from lowering.passes._sparse_kernels import (
    DISPATCH_END,
    Activation,
    CpuTiles,
    KernelFunction,
    activate,
    activation_constants,
    binding_type,
    block_values,
    dispatch_header,
    generic_and_store,
    masked_results,
    pad_lines,
    tensor_type,
    vector_multiple,
)

__all__ = [
    "Grid",
    "conv_kernel_function",
    "grid_function",
    "input_grid",
    "onto_padding",
    "output_grid",
    "output_grid_function",
    "output_lines",
    "phase_split_tiles",
]

Taps = list[tuple[tuple[int, int], SparseLayout]]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclasses.dataclass(frozen=True)
class Grid:
    """Where a KxK kernel reads its input: the phase planes `X[C, s*s, L]` of an NCHW map
    `[1, C, H, W]` padded by `padding`, each plane `Hs x Ws` flattened with whole zero rows
    after it (`L = rows * Ws`), at least `tail` zeros, and as many more rows as make the
    grid's pixels `s*s*L` a multiple of `align` (on CPU `CpuTiles.register`, so that a
    kernel computing on the grid has a pixel vector that divides them and no masked loads).

    The geometry does not depend on the channels, so a pointwise layer (a 1x1 convolution,
    bias, activation) can run on the grid of its input and write its output straight in the
    KxK kernel's grid, masked to zero where the grid holds padding (`mask`).
    """

    height: int
    width: int
    stride: int
    padding: tuple[tuple[int, int], tuple[int, int]]
    tail: int
    align: int = 1

    @property
    def padded(self) -> tuple[int, int]:
        """`(Hp, Wp)`: the map with its border."""
        (top, bottom), (left, right) = self.padding
        return self.height + top + bottom, self.width + left + right

    @property
    def plane(self) -> tuple[int, int]:
        """`(rows, Ws)` of one phase plane, the zero rows after it included."""
        hp, wp = self.padded
        ws = _ceil_div(wp, self.stride)
        rows = _ceil_div(hp, self.stride) + _ceil_div(self.tail, ws)
        while (self.stride * self.stride * rows * ws) % self.align:
            rows += 1
        return rows, ws

    @property
    def length(self) -> int:
        """`L`, the pixels of one phase plane."""
        rows, ws = self.plane
        return rows * ws

    @property
    def pixels(self) -> int:
        """`s * s * L`, the pixels of the whole grid."""
        return self.stride * self.stride * self.length

    def shape(self, channels: int) -> tuple[int, int, int]:
        """`(C, s*s, L)`."""
        return channels, self.stride * self.stride, self.length

    def mask(self) -> np.ndarray:
        """float32 `[s*s*L]`: 1 where the grid holds a pixel of the map, 0 on padding."""
        s = self.stride
        (top, _), (left, _) = self.padding
        rows, ws = self.plane
        py, px, qy, qx = np.meshgrid(
            np.arange(s), np.arange(s), np.arange(rows), np.arange(ws), indexing="ij"
        )
        y, x = qy * s + py - top, qx * s + px - left
        inside = (y >= 0) & (y < self.height) & (x >= 0) & (x < self.width)
        return inside.reshape(-1).astype(np.float32)

    def glue(self, channels: int, tiles: CpuTiles | None) -> list[str]:
        """Ops turning `%x[1, C, H, W]` into `%xc[C, s*s, L]`: one pad (the border and the
        zero rows), then for a stride above 1 the split into phase planes (`tiles`: on CPU,
        as `_phase_split` says)."""
        s, c = self.stride, channels
        (top, _), (left, _) = self.padding
        rows, ws = self.plane
        chw = (c, self.height, self.width)
        lines = [
            f"%x_chw = tensor.collapse_shape %x [[0, 1], [2], [3]] : "
            f"{tensor_type((1, *chw))} into {tensor_type(chw)}",
            *pad_lines(
                "%x_chw",
                "%x_even",
                chw,
                (0, rows * s - self.height - top, ws * s - self.width - left),
                (0, top, left),
            ),
        ]
        return [*lines, *_phase_split("%x_even", c, rows, ws, s, tiles)]


def _phase_split(
    source: str, c: int, rows: int, ws: int, s: int, tiles: CpuTiles | None
) -> list[str]:
    """Ops splitting `source[C, rows*s, Ws*s]` into its stride's phase planes, flattened:
    `%xc[C, s*s, rows*Ws]` (unit dimensions only for stride 1, which IREE folds away).

    On CPU (`tiles`) a split of stride above 1 is a dispatch of its own with
    `phase_split_tiles`; IREE's own tiles mask every load and store of a plane whose width is
    no multiple of 8 (see there)."""
    split = (c, rows, s, ws, s)
    phases = (c, s, s, rows, ws)
    lines = [
        f"%x_split = tensor.expand_shape {source} [[0], [1, 2], [3, 4]] output_shape "
        f"{list(split)} : {tensor_type((c, rows * s, ws * s))} into {tensor_type(split)}",
    ]
    if tiles is None or s == 1:
        lines += [
            f"%x_phases_init = tensor.empty() : {tensor_type(phases)}",
            f"%x_phases = linalg.transpose ins(%x_split : {tensor_type(split)}) "
            f"outs(%x_phases_init : {tensor_type(phases)}) permutation = [0, 2, 4, 1, 3]",
        ]
    else:
        info = cpu_compilation_info(*phase_split_tiles(c, rows, ws, s))
        maps = ", ".join(
            f"affine_map<(c, y, py, x, px) -> {m}>"
            for m in ("(c, y, py, x, px)", "(c, py, px, y, x)")
        )
        out_binding = binding_type(phases, "f32", "writeonly")
        parallel = ", ".join(['"parallel"'] * 5)
        lines += [
            *dispatch_header("%x_phases", "%x_split", split, [], phases),
            f"%init = tensor.empty() : {tensor_type(phases)}",
            f"%phases = linalg.generic {{indexing_maps = [{maps}], iterator_types = "
            f"[{parallel}], compilation_info = {info}}} "
            f"ins(%X : {tensor_type(split)}) outs(%init : {tensor_type(phases)}) {{",
            "^bb0(%in: f32, %out: f32):",
            "linalg.yield %in : f32",
            f"}} -> {tensor_type(phases)}",
            "iree_tensor_ext.dispatch.tensor.store %phases, %Y_out, offsets = [0, 0, 0, 0, 0], "
            f"sizes = {list(phases)}, strides = [1, 1, 1, 1, 1] : {tensor_type(phases)} -> "
            f"{out_binding}",
            *DISPATCH_END,
        ]
    return [
        *lines,
        f"%xc = tensor.collapse_shape %x_phases [[0], [1, 2], [3, 4]] : "
        f"{tensor_type(phases)} into {tensor_type((c, s * s, rows * ws))}",
    ]


def phase_split_tiles(c: int, rows: int, ws: int, s: int) -> tuple[list[int], list[int]]:
    """CPU tiles (distribution, vector) of the phase split over its input's dimensions
    `(C, rows, s, Ws, s)`: vectors of `v` columns of each phase, `v` the first of 8, 4, 3, 2, 1
    dividing the plane width `Ws`, and workgroups of whole planes, as many channels as fit in
    256 KB while leaving at least 4 workgroups.

    IREE's own tiles (vectors of 8 columns by 8 phases) cover the width-2 phase dimension
    with masked lanes, and on an odd width mask the columns too: every load and store became
    a `vmaskmovps` (microcoded on AMD). Timed alone on the Zen 1 EPYC (session 14,
    iree-benchmark-module, one thread), MobileNet-V2's splits before its stride-2 depthwise
    layers: 16 channels of 57-column planes 0.58 ms with IREE's tiles against 0.12 ms with
    3-column vectors (0.19 with 1, 0.21 with 19, 0.28 with 57), 24 channels of 29 columns
    0.18 against 0.09 (1 column; 0.12 with 29), 32 channels of 15 columns 0.067 against
    0.030 (3; 0.046-0.048 with 5 or 15); 96 channels of 8 columns 0.020 (IREE's) against
    0.021 (8) and 0.028 (4).
    """
    v = next(d for d in (8, 4, 3, 2, 1) if ws % d == 0)
    plane = s * s * rows * ws
    channels = max(
        (d for d in range(1, c + 1) if c % d == 0 and d * plane <= 64 * 1024 and c // d >= 4),
        default=1,
    )
    return [channels, rows, s, ws, s], [1, 1, 1, v, s]


def input_grid(
    input_shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: int,
    input_layout: str,
    padding: tuple[tuple[int, int], tuple[int, int]],
    tiles: CpuTiles | None,
    block: int,
) -> Grid:
    """The grid the KxK kernel reads (`conv_kernel_function` with these arguments), for taps
    in blocks of `block` rows: of the NCHW map `[1, C, H, W]` and its `padding` ("nchw" or
    "grid"), or of the padded NHWC map `[1, Hp, Wp, C]` ("nhwc"). Each plane gets as many
    zeros after it as the output grid (`output_grid`) reads beyond the map."""
    ho, ws, _, wide = output_grid(input_shape, kernel, stride, input_layout, padding, tiles, block)
    tail = (kernel[1] - 1) // stride + wide - ho * ws
    align = 1 if tiles is None else tiles.register
    if input_layout == "nhwc":
        _, hp, wp, _ = input_shape
        return Grid(hp, wp, stride, ((0, 0), (0, 0)), tail, align)
    _, _, h, w = input_shape
    return Grid(h, w, stride, padding, tail, align)


def grid_function(
    name: str, input_shape: tuple[int, ...], grid: Grid, tiles: CpuTiles | None
) -> str:
    """A function taking an NCHW map `[1, C, H, W]` to its `grid`, flattened: `[C, s*s*L]`.

    A pointwise kernel (`_sparse_kernels.kernel_function` with `input_layout` "cols" and the
    grid's `mask`) then computes the next map directly in the grid a KxK kernel reads.
    """
    c = input_shape[1]
    flat = (c, grid.pixels)
    return "\n".join(
        [
            "module {",
            f"util.func private @{name}(%x: {tensor_type(tuple(input_shape))}) -> "
            f"{tensor_type(flat)} {{",
            *grid.glue(c, tiles),
            f"%xg = tensor.collapse_shape %xc [[0], [1, 2]] : {tensor_type(grid.shape(c))} "
            f"into {tensor_type(flat)}",
            f"util.return %xg : {tensor_type(flat)}",
            "}",
            "}",
        ]
    )


def _input_glue(
    shape: tuple[int, ...], layout: str, grid: Grid, tiles: CpuTiles | None
) -> tuple[list[str], str, tuple[int, int, int]]:
    """Ops turning `%x` into `grid`'s `X[C, s*s, L]`; returns them, the name of their result
    and its shape. `%x` is the padded map `[1, Hp, Wp, C]` (`layout` "nhwc"), transposed and
    given the grid's zero rows here, the map `[1, C, H, W]` ("nchw") that the glue pads
    itself (`grid.glue`), or the grid already, flattened (`[C, s*s*L]`, "grid")."""
    if layout == "grid":
        c = shape[0]
        return (
            [
                f"%xc = tensor.expand_shape %x [[0], [1, 2]] output_shape "
                f"{list(grid.shape(c))} : {tensor_type(shape)} into "
                f"{tensor_type(grid.shape(c))}"
            ],
            "%xc",
            grid.shape(c),
        )
    if layout == "nchw":
        c = shape[1]
        return grid.glue(c, tiles), "%xc", grid.shape(c)
    _, hp, wp, c = shape
    s, (rows, ws) = grid.stride, grid.plane
    chw = (c, hp, wp)
    lines = [
        f"%x_hwc = tensor.collapse_shape %x [[0, 1], [2], [3]] : {tensor_type(shape)} into "
        f"{tensor_type((hp, wp, c))}",
        f"%x_chw_init = tensor.empty() : {tensor_type(chw)}",
        f"%x_chw = linalg.transpose ins(%x_hwc : {tensor_type((hp, wp, c))}) "
        f"outs(%x_chw_init : {tensor_type(chw)}) permutation = [2, 0, 1]",
    ]
    source = "%x_chw"
    if (rows * s, ws * s) != (hp, wp):
        lines += pad_lines(source, "%x_even", chw, (0, rows * s - hp, ws * s - wp))
        source = "%x_even"
    return [*lines, *_phase_split(source, c, rows, ws, s, tiles)], "%xc", grid.shape(c)


def _body(
    taps: Taps,
    offsets: list[tuple[int, int]],
    x_shape: tuple[int, int, int],
    blocks: int,
    g: int,
    j: int,
    activation: Activation,
    mask: int | None = None,
) -> list[str]:
    """The generic's body: `g` rows of row block `%b` (one row when `g == 1`), every tap's
    slots unrolled, each activation loaded once for the `g` rows; with `mask` (the pixels of
    `%Mask`), every result set to 0 where the pixel's mask is 0."""
    row = "%m" if g == 1 else "%b"
    if g == 1:
        lines = ["^bb0(%bias_m: f32, %out: f32):"]
        acc = ["%bias_m"]
    else:
        lines = ["^bb0(" + ", ".join(f"%out{r}: f32" for r in range(g)) + "):"]
        acc = [f"%bias{r}" for r in range(g)]
    lines += [f"{row} = linalg.index 0 : index", "%p = linalg.index 1 : index"]
    if g > 1:
        lines += [
            f"%bias{r} = tensor.extract %Bias[%b, %r{r}] : {tensor_type((blocks, g))}"
            for r in range(g)
        ]
    slot = 0
    for t, ((_, layout), (phase, offset)) in enumerate(zip(taps, offsets, strict=True)):
        lines.append(f"%q{t} = arith.addi %p, %off{offset} : index")
        for _ in range(layout.slots):
            lines += [
                f"%c{slot} = tensor.extract %C[{row}, %j{slot}] : "
                f"{tensor_type((blocks, j), 'i32')}",
                f"%k{slot} = arith.index_cast %c{slot} : i32 to index",
            ]
            x = [
                f"%x{slot} = tensor.extract %X[%k{slot}, %ph{phase}, %q{t}] : "
                f"{tensor_type(x_shape)}"
            ]
            if g == 1:
                lines += [
                    f"%v{slot} = tensor.extract %V[%m, %j{slot}] : {tensor_type((blocks, j))}",
                    *x,
                    f"%t{slot} = arith.mulf %v{slot}, %x{slot} : f32",
                    f"%s{slot} = arith.addf {acc[0]}, %t{slot} : f32",
                ]
                acc[0] = f"%s{slot}"
            else:
                lines += x
                for r in range(g):
                    v = f"%v{slot}_{r}"
                    lines += [
                        f"{v} = tensor.extract %V[%b, %j{slot}, %r{r}] : "
                        f"{tensor_type((blocks, j, g))}",
                        f"%t{slot}_{r} = arith.mulf {v}, %x{slot} : f32",
                        f"%s{slot}_{r} = arith.addf {acc[r]}, %t{slot}_{r} : f32",
                    ]
                    acc[r] = f"%s{slot}_{r}"
            slot += 1
    results = [activate(a, activation, lines, "" if g == 1 else str(r)) for r, a in enumerate(acc)]
    if mask is not None:
        results = masked_results(results, True, lines, mask)
    return [*lines, f"linalg.yield {', '.join(results)} : {', '.join(['f32'] * g)}"]


def output_grid(
    input_shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: int,
    input_layout: str,
    padding: tuple[tuple[int, int], tuple[int, int]],
    tiles: CpuTiles | None,
    block: int,
) -> tuple[int, int, int, int]:
    """`(Ho, Ws, Wo, wide)` of the KxK kernel's output: it computes `Ho` rows of `Ws` pixels,
    of which the first `Wo` are the map's, flattened and extended to `wide` pixels (whole
    vectors), as `[M, wide]` (`conv_kernel_function` with these arguments)."""
    kh, kw = kernel
    if input_layout == "nhwc":
        _, hp, wp, _ = input_shape
    else:
        _, _, h, w = input_shape
        (top, bottom), (left, right) = padding
        hp, wp = h + top + bottom, w + left + right
    ho, wo, ws = (hp - kh) // stride + 1, (wp - kw) // stride + 1, _ceil_div(wp, stride)
    return ho, ws, wo, vector_multiple(ho * ws, tiles, block)


def onto_padding(
    input_shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: int,
    padding: tuple[tuple[int, int], tuple[int, int]],
    onto: Grid,
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The padding of the NCHW map `[1, C, H, W]` with which the KxK kernel's output grid is
    `onto`, the stride-1 grid of its output map that a following KxK kernel reads, or `None`
    when there is none.

    More zeros before the map shift the output: `s * top` more rows and `s * left` more
    columns put output pixel `(oy, ox)` at `(oy + top) * Ws + ox + left`, where `onto` holds it,
    and the zeros after the map give the grid's `Ws` columns and its rows. A row's reads past
    its end run on into the next row's zeros before the map, as on any grid, so the zeros
    after the map the convolution needs may be fewer than its own padding's. `None` when
    `onto` is not of the output map (stride 1, the output's size) or leaves fewer zeros
    between two rows of the map than the convolution reads past a row's end.
    """
    _, _, h, w = input_shape
    (pt, pb), (pl, pr) = padding
    kh, kw = kernel
    s = stride
    ho, wo = (h + pt + pb - kh) // s + 1, (w + pl + pr - kw) // s + 1
    if onto.stride != 1 or (onto.height, onto.width) != (ho, wo):
        return None
    (dt, _), (dl, _) = onto.padding
    rows, ws = onto.plane
    top, left = pt + s * dt, pl + s * dl
    bottom, right = (rows - 1) * s + kh - top - h, s * ws - left - w
    if bottom < 0 or right < 0 or left + right < pr:
        return None
    return (top, bottom), (left, right)


def output_lines(
    m: int,
    geometry: tuple[int, int, int, int],
    output_layout: str,
    offset: int = 0,
    pixels: int | None = None,
) -> tuple[list[str], tuple[int, ...]]:
    """Ops cutting the map `%y` out of the output grid `%Y_wide[M, wide]` (`output_grid`'s
    `geometry`), in `output_layout`; returns them and the map's shape. With `pixels`, the
    grid lies in a wider `%Y_wide[M, pixels]` from pixel `offset` on (`_sparse_kernels.
    GridOutput`)."""
    ho, ws, wo, wide = geometry
    pixels = wide if pixels is None else pixels
    p = ho * ws
    grid, valid = (m, ho, ws), (m, ho, wo)
    lines, source = [], "%Y_wide"
    if (offset, pixels) != (0, p):
        lines.append(
            f"%Y = tensor.extract_slice %Y_wide[0, {offset}] [{m}, {p}] [1, 1] : "
            f"{tensor_type((m, pixels))} to {tensor_type((m, p))}"
        )
        source = "%Y"
    lines += [
        f"%y_grid = tensor.expand_shape {source} [[0], [1, 2]] output_shape {list(grid)} : "
        f"{tensor_type((m, p))} into {tensor_type(grid)}",
        f"%y_valid = tensor.extract_slice %y_grid[0, 0, 0] [{m}, {ho}, {wo}] [1, 1, 1] : "
        f"{tensor_type(grid)} to {tensor_type(valid)}",
    ]
    if output_layout == "nchw":
        out_shape: tuple[int, ...] = (1, m, ho, wo)
        lines.append(
            f"%y = tensor.expand_shape %y_valid [[0, 1], [2], [3]] output_shape "
            f"{list(out_shape)} : {tensor_type(valid)} into {tensor_type(out_shape)}"
        )
        return lines, out_shape
    out_shape = (1, ho, wo, m)
    lines += [
        f"%y_hwc_init = tensor.empty() : {tensor_type((ho, wo, m))}",
        f"%y_hwc = linalg.transpose ins(%y_valid : {tensor_type(valid)}) "
        f"outs(%y_hwc_init : {tensor_type((ho, wo, m))}) permutation = [1, 2, 0]",
        f"%y = tensor.expand_shape %y_hwc [[0, 1], [2], [3]] output_shape "
        f"{list(out_shape)} : {tensor_type((ho, wo, m))} into {tensor_type(out_shape)}",
    ]
    return lines, out_shape


def output_grid_function(
    name: str,
    m: int,
    geometry: tuple[int, int, int, int],
    offset: int = 0,
    pixels: int | None = None,
) -> str:
    """A function cutting the NCHW map `[1, M, Ho, Wo]` out of an output grid `[M, wide]`
    (`output_grid`'s `geometry`; with `pixels`, one lying in `[M, pixels]` from `offset` on,
    as `output_lines`): a pointwise kernel with fewer output than input channels (a
    projection) computed on a KxK kernel's output grid, before the cut, copies fewer
    channels."""
    lines, out_shape = output_lines(m, geometry, "nchw", offset, pixels)
    width = geometry[3] if pixels is None else pixels
    return "\n".join(
        [
            "module {",
            f"util.func private @{name}(%Y_wide: {tensor_type((m, width))}) -> "
            f"{tensor_type(out_shape)} {{",
            *lines,
            f"util.return %y : {tensor_type(out_shape)}",
            "}",
            "}",
        ]
    )


def conv_kernel_function(
    name: str,
    taps: Taps,
    rows: int,
    kernel: tuple[int, int],
    bias: np.ndarray,
    input_shape: tuple[int, ...],
    *,
    stride: int = 1,
    input_layout: str = "nhwc",
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    output_layout: str = "nhwc",
    activation: Activation = None,
    tiles: CpuTiles | None = None,
    onto: Grid | None = None,
    grid_align: int = 1,
) -> KernelFunction:
    """Generates `y = act(conv(x, W, stride) + bias)` for a KxK convolution as a sparse kernel.

    Args:
      name: the function's symbol.
      taps: the tables of each kernel tap with nonzeros (`_sparse_formats.layout_for_taps`),
        all in the row format or all in blocks of the same height `g`.
      rows: `M`, the output channels.
      kernel: `(kh, kw)`.
      bias: float32 `[M]`.
      input_shape: `[1, Hp, Wp, C]`, the input with its padding already applied (a VALID
        convolution, as JAX's input IR has it after `tensor.pad`); for `input_layout` "nchw",
        `[1, C, H, W]` before `padding`.
      stride: the convolution's stride in both directions.
      input_layout: `"nhwc"`, `"nchw"` (the kernel then reads the map without a transpose),
        or `"grid"`: the argument is already the `Grid` of the NCHW map `input_shape`,
        flattened to `[C, s*s*L]` (computed there by a pointwise kernel, `grid_function`).
      padding: `((top, bottom), (left, right))` zeros around an NCHW input.
      output_layout: `"nhwc"` (`[1, Ho, Wo, M]`) or `"nchw"` (`[1, M, Ho, Wo]`).
      activation: `None`, `"relu"` or `"relu6"`.
      tiles: the CPU tile configuration; `None` leaves the choice to IREE.
      onto: for an `"nchw"` input, the stride-1 `Grid` of the output map that a following
        KxK kernel reads: the kernel computes on it (`onto_padding`), its padding masked to
        zero, and returns it flattened, `[M, onto.pixels]` (the next kernel's `"grid"`
        input), instead of the map; `output_layout` is then not used.
      grid_align: for a `"grid"` input, the grid's pixels are a multiple of this too
        (`Grid.align`; the `onto` grid a KxK kernel computed, aligned to its pixel vector).

    Returns:
      The function's text and the constants to bind to its arguments after `x`.

    Raises:
      ValueError: a batch other than 1, an unknown layout, taps with different block
        heights, or an `onto` grid that is not the output map's (`onto_padding`) or with an
        input that is not `"nchw"`.
    """
    if input_shape[0] != 1:
        raise ValueError(f"input_shape must have batch 1, got {input_shape}")
    for argument, value, allowed in (
        ("input_layout", input_layout, ("nhwc", "nchw", "grid")),
        ("output_layout", output_layout, ("nhwc", "nchw")),
    ):
        if value not in allowed:
            raise ValueError(f"{argument} must be one of {allowed}, got {value!r}")
    m, s = rows, stride
    g = taps[0][1].block if taps else 1
    if onto is not None:
        extended = None
        if input_layout == "nchw":
            extended = onto_padding(tuple(input_shape), kernel, s, padding, onto)
        if extended is None:
            raise ValueError(
                f"onto={onto} is not the stride-1 grid of the output of an 'nchw' input "
                f"{tuple(input_shape)} with kernel {kernel}, stride {s} and padding {padding} "
                f"(input_layout {input_layout!r})"
            )
        padding = extended
    geometry = output_grid(tuple(input_shape), kernel, s, input_layout, padding, tiles, g)
    _, ws, _, wide = geometry
    if onto is not None:
        # `onto_padding` gives the grid's rows and columns; its pixels are whole registers.
        wide = onto.pixels
    grid = input_grid(tuple(input_shape), kernel, s, input_layout, padding, tiles, g)
    if input_layout == "grid" and grid_align > 1:
        grid = dataclasses.replace(grid, align=math.lcm(grid.align, grid_align))
    # The function's argument: the map, or for "grid" the grid of the NCHW map, flattened.
    x_arg = tuple(input_shape)
    if input_layout == "grid":
        x_arg = (input_shape[1], grid.pixels)
    in_lines, x, x_shape = _input_glue(x_arg, input_layout, grid, tiles)
    offsets = [((dy % s) * s + dx % s, (dy // s) * ws + dx // s) for (dy, dx), _ in taps]
    j = sum(layout.slots for _, layout in taps)
    if any(layout.block != g for _, layout in taps) or m % g:
        raise ValueError(
            f"every tap must have the same block height dividing rows={m}, got "
            f"{sorted({layout.block for _, layout in taps})}"
        )
    blocks = m // g
    tables: list[tuple[str, np.ndarray, str]] = []
    if j:
        col = np.concatenate([layout.col for _, layout in taps], axis=1).astype(np.int32)
        val = np.concatenate([layout.val for _, layout in taps], axis=2)
        val = val[:, 0] if g == 1 else block_values(val)
        tables = [("C", col, "i32"), ("V", val.astype(np.float32), "f32")]
    bias_shape = (m,) if g == 1 else (blocks, g)
    tables.append(("Bias", np.asarray(bias, np.float32).reshape(bias_shape), "f32"))
    if onto is not None:
        tables.append(("Mask", onto.mask(), "f32"))

    kernel_out = (m, wide) if g == 1 else (blocks, g, wide)
    out_binding = binding_type(kernel_out, "f32", "writeonly")
    dispatch = dispatch_header("%Y_wide" if g == 1 else "%Y_kernel", x, x_shape, tables, kernel_out)
    dispatch += [f"%j{i} = arith.constant {i} : index" for i in range(j)]
    if g > 1:
        dispatch += [f"%r{r} = arith.constant {r} : index" for r in range(g)]
    dispatch += [f"%ph{i} = arith.constant {i} : index" for i in sorted({ph for ph, _ in offsets})]
    dispatch += [f"%off{o} = arith.constant {o} : index" for o in sorted({o for _, o in offsets})]
    dispatch += activation_constants(activation)
    body = _body(taps, offsets, x_shape, blocks, g, j, activation, None if onto is None else wide)
    dispatch += generic_and_store(body, m, g, wide, tiles, out_binding, j)
    if g > 1:
        dispatch.append(
            f"%Y_wide = tensor.collapse_shape %Y_kernel [[0, 1], [2]] : "
            f"{tensor_type(kernel_out)} into {tensor_type((m, wide))}"
        )
    if onto is None:
        out_lines, out_shape = output_lines(m, geometry, output_layout)
        result = "%y"
    else:
        out_lines, out_shape, result = [], (m, wide), "%Y_wide"
    args = ", ".join(
        [
            f"%x: {tensor_type(x_arg)}",
            *(f"%{n.lower()}: {tensor_type(a.shape, e)}" for n, a, e in tables),
        ]
    )
    lines = [
        "module {",
        f"util.func private @{name}({args}) -> {tensor_type(out_shape)} {{",
        *in_lines,
        *dispatch,
        *out_lines,
        f"util.return {result} : {tensor_type(out_shape)}",
        "}",
        "}",
    ]
    return KernelFunction("\n".join(lines), tuple(a for _, a, _ in tables))
