"""MLIR text of an inverted residual block's expansion and depthwise layer as one CPU dispatch.

The expansion (a 1x1 kernel with fewer input than output channels) writes a map several
times larger than its input, which the depthwise layer then reads back: MobileNet-V2's first
expansion writes 5 MB (96 channels on the 114x116 padded grid). Apart, the two kernels
spend most of their time in memory: on the Zen 1 EPYC (session 15, one thread) the 56x56
depthwise kernel took 1.0 ms inside the model against 0.45 ms timed alone
(`benchmarks/dispatch_timeline.py`, iree-benchmark-module on its dumped dispatch).

Here each workgroup computes one block of `g` channels (the expansion's row block; 1 for
its row formats) on one band of `R` output rows: first the expansion of those channels on
the rows of the padded grid the band reads (its halo recomputed by the neighbouring band),
into a buffer on the stack that stays in cache (L1 or L2), then the depthwise taps from that
buffer. The expanded map never goes to memory. On a stride-2 layer the grid is split into
phase planes (`_sparse_conv_kernels.Grid`) and the buffer holds the band's rows of each
plane.

The dispatch is a `flow.dispatch.workgroups` with its own workgroup count (blocks, bands)
and two generics: the expansion's, tiled by its `lowering_config`, and the depthwise
kernel's, whose `compilation_info` sets the pipeline. IREE keeps the first in a stack
allocation because the second reads it through `tensor.extract` (no fusion, no recompute
per tap); its stack limit (32 KB) bounds `R` (`bands`).
"""

import dataclasses

import numpy as np

from lowering.passes._linalg import cpu_compilation_info, largest_dividing_multiple
from lowering.passes._sparse_conv_kernels import Grid, output_lines
from lowering.passes._sparse_formats import SparseLayout
from lowering.passes._sparse_kernels import (
    Activation,
    CpuTiles,
    KernelFunction,
    activate,
    activation_constants,
    binding_type,
    block_sums,
    block_values,
    mask_lines,
    tensor_type,
    vector_multiple,
)

__all__ = ["Bands", "bands", "fused_kernel_function"]

STACK_BYTES = 24 * 1024
"""The most bytes of expansion buffer per workgroup: IREE's CPU stack limit is 32 KB
(`max_stack_allocation_size`), and the generics keep a few small buffers of their own."""


@dataclasses.dataclass(frozen=True)
class Bands:
    """How the fused kernel splits its work.

    Attributes:
      rows: `R`, output rows per band (dividing the map's height).
      grid: the padded (phase-split) grid the expansion computes on, as wide as makes `R`
        rows a whole number of registers (extra zero columns on the right).
      local: pixels of each phase plane the band's expansion computes (its rows and halo,
        rounded up to whole expansion vectors).
      expansion_vector: pixels per vector of the expansion's generic.
      depthwise_vector: pixels per vector of the depthwise generic.
      extra: the zero columns added on the right of the map's own padding.
    """

    rows: int
    grid: Grid
    local: int
    expansion_vector: int
    depthwise_vector: int
    extra: int

    @property
    def width(self) -> int:
        """`Ws`, pixels per output row (the plane width)."""
        return self.grid.plane[1]

    @property
    def pixels(self) -> int:
        """Output pixels of one band, `R * Ws`."""
        return self.rows * self.width


def _halo(kernel: tuple[int, int], stride: int) -> tuple[int, int]:
    """Plane rows and columns a band reads beyond its own: `(kh - 1) // s`, `(kw - 1) // s`."""
    return (kernel[0] - 1) // stride, (kernel[1] - 1) // stride


def bands(
    map_shape: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    kernel: tuple[int, int],
    stride: int,
    g: int,
    expansion_slots: int,
    tiles: CpuTiles,
) -> Bands | None:
    """The cheapest band split of a `g`-channel workgroup whose expansion buffer fits the
    stack, or `None` when none does.

    The cost per output row and channel counts the expansion's multiply-adds on the band's
    rows and halo (`expansion_slots` per pixel and phase plane, over `g` channels) and the
    depthwise taps, on `Ws` columns widened by up to 7 zero columns so that a band is whole
    registers. Larger bands recompute less halo but need a larger buffer.
    """
    (h, w), s = map_shape, stride
    (top, bottom), (left, right) = padding
    hp, wp = h + top + bottom, w + left + right
    ho = (hp - kernel[0]) // s + 1
    halo_rows, halo_cols = _halo(kernel, s)
    taps = kernel[0] * kernel[1]
    register = tiles.register
    ve = vd_max = tiles.for_block(g).vector[1]
    best: tuple[float, Bands] | None = None
    for extra in range(register):
        ws = -(-(wp + extra) // s)
        for r in (d for d in range(1, ho + 1) if ho % d == 0):
            if (r * ws) % register:
                continue
            local = -(-((r + halo_rows) * ws + halo_cols) // ve) * ve
            if g * s * s * local * 4 > STACK_BYTES:
                continue
            vd = largest_dividing_multiple(r * ws, register, vd_max)
            cost = (s * s * local * expansion_slots / g + r * ws * taps) / r
            tail = (ho - r) * ws + local - (-(-hp // s)) * ws
            grid = Grid(h, w, s, ((top, bottom), (left, right + extra)), max(tail, 0), register)
            candidate = Bands(r, grid, local, ve, vd, extra)
            if best is None or cost < best[0]:
                best = (cost, candidate)
    return None if best is None else best[1]


def _row_values(table: str, g: int, lines: list[str]) -> list[str]:
    """Appends the extracts of the workgroup's `g` values of `table` (`[1, g]`, a bias);
    returns their names."""
    names = [f"%{table.lower()}{r}" for r in range(g)]
    lines += [
        f"{name} = tensor.extract %{table}[%c0, %r{r}] : {tensor_type((1, g))}"
        for r, name in enumerate(names)
    ]
    return names


def _expansion_generic(
    expansion: SparseLayout, cin: int, phases: int, local: int, activation: Activation, ve: int
) -> list[str]:
    """The generic computing `%E0..%E{g-1}[1, s*s, local]`, the band's expanded rows of the
    workgroup's `g` channels, zero on the padding whatever the input grid holds there."""
    g, j = expansion.block, expansion.slots
    e_type = tensor_type((1, phases, local))
    x_type = tensor_type((cin, phases, local))
    config = (
        "#iree_cpu.lowering_config<distribution = [0, 0, 0], "
        f"vector_common_parallel = [1, 1, {ve}]>"
    )
    maps = ", ".join(
        ["affine_map<(b, ph, q) -> (ph, q)>"] + ["affine_map<(b, ph, q) -> (b, ph, q)>"] * g
    )
    lines = [f"%e_init = tensor.empty() : {e_type}"]
    lines.append(
        f"%E:{g} = linalg.generic {{indexing_maps = [{maps}], iterator_types = "
        f'["parallel", "parallel", "parallel"], lowering_config = {config}}} '
        f"ins(%Mask : {tensor_type((phases, local))}) "
        f"outs({', '.join(['%e_init'] * g)} : {', '.join([e_type] * g)}) {{"
    )
    lines += [
        "^bb0(%mask_p: f32, " + ", ".join(f"%eo{r}: f32" for r in range(g)) + "):",
        "%ph = linalg.index 1 : index",
        "%q = linalg.index 2 : index",
    ]
    slots = [
        (
            [
                f"%ec{s} = tensor.extract %EC[%c0, %j{s}] : {tensor_type((1, j), 'i32')}",
                f"%ek{s} = arith.index_cast %ec{s} : i32 to index",
                f"%ex{s} = tensor.extract %X[%ek{s}, %ph, %q] : {x_type}",
            ],
            f"%ex{s}",
            f"%EV[%c0, %j{s}, {{r}}] : {tensor_type((1, j, g))}",
        )
        for s in range(j)
    ]
    acc = block_sums(lines, _row_values("EB", g, lines), slots, "e")
    acts = [activate(a, activation, lines, f"e{r}") for r, a in enumerate(acc)]
    results = mask_lines("%mask_p", acts, lines, "e")
    lines += [
        f"linalg.yield {', '.join(results)} : {', '.join(['f32'] * g)}",
        f"}} -> ({', '.join([e_type] * g)})",
    ]
    return lines


def _depthwise_generic(
    offsets: list[tuple[int, int]],
    g: int,
    phases: int,
    b: Bands,
    activation: Activation,
) -> list[str]:
    """The generic computing `%D0..%D{g-1}[1, R*Ws]`, the band's depthwise outputs, from the
    expanded rows `%E`: one tap per `(phase, offset)`, its `g` weights in `%DV[1, taps, g]`."""
    t = len(offsets)
    d_type = tensor_type((1, b.pixels))
    e_type = tensor_type((1, phases, b.local))
    info = cpu_compilation_info([0, 0], [1, b.depthwise_vector])
    lines = [f"%d_init = tensor.empty() : {d_type}"]
    maps = ", ".join(["affine_map<(b, p) -> (b, p)>"] * g)
    lines.append(
        f"%D:{g} = linalg.generic {{indexing_maps = [{maps}], iterator_types = "
        f'["parallel", "parallel"], compilation_info = {info}}} '
        f"outs({', '.join(['%d_init'] * g)} : {', '.join([d_type] * g)}) {{"
    )
    lines += ["^bb0(" + ", ".join(f"%do{r}: f32" for r in range(g)) + "):"]
    lines.append("%p = linalg.index 1 : index")
    acc = _row_values("DB", g, lines)
    for i, (phase, offset) in enumerate(offsets):
        lines.append(f"%dq{i} = arith.addi %p, %off{offset} : index")
        for r in range(g):
            lines += [
                f"%de{i}_{r} = tensor.extract %E#{r}[%c0, %ph{phase}, %dq{i}] : {e_type}",
                f"%dv{i}_{r} = tensor.extract %DV[%c0, %j{i}, %r{r}] : {tensor_type((1, t, g))}",
                f"%dt{i}_{r} = arith.mulf %dv{i}_{r}, %de{i}_{r} : f32",
                f"%ds{i}_{r} = arith.addf {acc[r]}, %dt{i}_{r} : f32",
            ]
            acc[r] = f"%ds{i}_{r}"
    results = [activate(a, activation, lines, f"d{r}") for r, a in enumerate(acc)]
    lines += [
        f"linalg.yield {', '.join(results)} : {', '.join(['f32'] * g)}",
        f"}} -> ({', '.join([d_type] * g)})",
    ]
    return lines


def fused_kernel_function(
    name: str,
    expansion: SparseLayout,
    expansion_bias: np.ndarray,
    expansion_activation: Activation,
    depthwise: np.ndarray,
    bias: np.ndarray,
    b: Bands,
    kernel: tuple[int, int],
    *,
    output_layout: str = "nchw",
    activation: Activation = None,
    tiles: CpuTiles,
) -> tuple[KernelFunction, tuple[int, int, int, int]]:
    """Generates `y = act(depthwise(act_e(expansion(x) + b_e) * mask) + bias)` in one dispatch.

    Args:
      name: the function's symbol.
      expansion: the expansion's tables (`C` output channels of `K` input channels, in rows
        or row blocks of `g`).
      expansion_bias: float32 `[C]`.
      expansion_activation: `None`, `"relu"` or `"relu6"`, applied before the mask.
      depthwise: float32 `[C, kh, kw]`, the depthwise filters.
      bias: float32 `[C]`, the depthwise layer's.
      b: the band split (`bands`); its grid is the expansion input's.
      kernel: `(kh, kw)`.
      output_layout: `"nchw"` (`[1, C, Ho, Wo]`) or `"nhwc"`.
      activation: the depthwise layer's.
      tiles: the CPU tiles (the kernel exists on CPU only).

    Returns:
      The function, taking the expansion input's grid `[K, s*s*L]` (`grid_function` of
      `b.grid`) and the constants, and the output grid's geometry `(Ho, Ws, Wo, wide)` as
      `_sparse_conv_kernels.output_grid` gives it (the function cuts its map from `[C,
      wide]`; pixels past `Ho * Ws` are left unwritten).
    """
    c, k, g = expansion.rows, expansion.columns, expansion.block
    grid, s = b.grid, b.grid.stride
    phases, length = s * s, b.grid.length
    (top, bottom), (left, right) = grid.padding
    ho = (grid.height + top + bottom - kernel[0]) // s + 1
    wo = (grid.width + left + right - b.extra - kernel[1]) // s + 1
    wide = vector_multiple(ho * b.width, tiles, g)
    geometry = (ho, b.width, wo, wide)
    blocks, bands_count = c // g, ho // b.rows
    taps = [
        (dy, dx)
        for dy in range(kernel[0])
        for dx in range(kernel[1])
        if np.any(depthwise[:, dy, dx])
    ]
    offsets = [((dy % s) * s + dx % s, (dy // s) * b.width + dx // s) for dy, dx in taps]
    dv = np.stack([depthwise[:, dy, dx] for dy, dx in taps], axis=1).reshape(blocks, g, -1)
    tables: list[tuple[str, np.ndarray, str]] = [
        ("EC", expansion.col.astype(np.int32), "i32"),
        ("EV", block_values(expansion.val).astype(np.float32), "f32"),
        ("EB", np.asarray(expansion_bias, np.float32).reshape(blocks, g), "f32"),
        ("Mask", grid.mask().reshape(phases, length), "f32"),
        ("DV", np.ascontiguousarray(np.swapaxes(dv, 1, 2)).astype(np.float32), "f32"),
        ("DB", np.asarray(bias, np.float32).reshape(blocks, g), "f32"),
    ]
    j = expansion.slots
    x_shape = (k, phases, length)
    out = (blocks, g, wide)
    types = ", ".join([tensor_type(x_shape), *(tensor_type(a.shape, e) for _, a, e in tables)])
    captures = ", ".join(
        [
            f"%X_in: {binding_type(x_shape, 'f32', 'readonly')}",
            *(f"%{n}_in: {binding_type(a.shape, e, 'readonly')}" for n, a, e in tables),
            f"%Y_out: {binding_type(out, 'f32', 'writeonly')}",
        ]
    )
    lines = [
        f"%x3 = tensor.expand_shape %x [[0], [1, 2]] output_shape {list(x_shape)} : "
        f"{tensor_type((k, phases * length))} into {tensor_type(x_shape)}",
        f"%blocks = arith.constant {blocks} : index",
        f"%bands = arith.constant {bands_count} : index",
        "%Y_kernel = flow.dispatch.workgroups[%blocks, %bands]"
        f"(%x3, {', '.join('%' + n.lower() for n, _, _ in tables)}) : ({types}) -> "
        f"{tensor_type(out)} =",
        f"({captures}) {{",
        "%blk = flow.dispatch.workgroup.id[0] : index",
        "%band = flow.dispatch.workgroup.id[1] : index",
        f"%band_pixels = arith.constant {b.pixels} : index",
        "%q0 = arith.muli %band, %band_pixels : index",
        "%c0 = arith.constant 0 : index",
        f"%X = iree_tensor_ext.dispatch.tensor.load %X_in, offsets = [0, 0, %q0], "
        f"sizes = [{k}, {phases}, {b.local}], strides = [1, 1, 1] : "
        f"{binding_type(x_shape, 'f32', 'readonly')} -> {tensor_type((k, phases, b.local))}",
        f"%Mask = iree_tensor_ext.dispatch.tensor.load %Mask_in, offsets = [0, %q0], "
        f"sizes = [{phases}, {b.local}], strides = [1, 1] : "
        f"{binding_type((phases, length), 'f32', 'readonly')} -> "
        f"{tensor_type((phases, b.local))}",
    ]
    for n, a, e in tables:
        if n == "Mask":
            continue
        rest = a.shape[1:]
        offsets_text = ", ".join(["%blk", *("0" for _ in rest)])
        sizes = ", ".join(str(d) for d in (1, *rest))
        ones = ", ".join("1" for _ in a.shape)
        lines.append(
            f"%{n} = iree_tensor_ext.dispatch.tensor.load %{n}_in, offsets = [{offsets_text}], "
            f"sizes = [{sizes}], strides = [{ones}] : {binding_type(a.shape, e, 'readonly')} "
            f"-> {tensor_type((1, *rest), e)}"
        )
    lines += [f"%j{i} = arith.constant {i} : index" for i in range(max(j, len(taps)))]
    lines += [f"%r{r} = arith.constant {r} : index" for r in range(g)]
    lines += [f"%ph{p} = arith.constant {p} : index" for p in sorted({p for p, _ in offsets})]
    lines += [f"%off{o} = arith.constant {o} : index" for o in sorted({o for _, o in offsets})]
    lines += activation_constants(expansion_activation, activation)
    lines += _expansion_generic(
        expansion, k, phases, b.local, expansion_activation, b.expansion_vector
    )
    lines += _depthwise_generic(offsets, g, phases, b, activation)
    out_binding = binding_type(out, "f32", "writeonly")
    lines += [
        f"iree_tensor_ext.dispatch.tensor.store %D#{r}, %Y_out, offsets = [%blk, {r}, %q0], "
        f"sizes = [1, 1, {b.pixels}], strides = [1, 1, 1] : {tensor_type((1, b.pixels))} -> "
        f"{out_binding}"
        for r in range(g)
    ]
    lines += [
        "flow.return",
        "} count(%wx: index, %wy: index) -> (index, index, index) {",
        "%one = arith.constant 1 : index",
        "flow.return %wx, %wy, %one : index, index, index",
        "}",
        f"%Y_wide = tensor.collapse_shape %Y_kernel [[0, 1], [2]] : {tensor_type(out)} into "
        f"{tensor_type((c, wide))}",
    ]
    out_lines, out_shape = output_lines(c, geometry, output_layout)
    args = ", ".join(
        [
            f"%x: {tensor_type((k, phases * length))}",
            *(f"%{n.lower()}: {tensor_type(a.shape, e)}" for n, a, e in tables),
        ]
    )
    text = "\n".join(
        [
            "module {",
            f"util.func private @{name}({args}) -> {tensor_type(out_shape)} {{",
            *lines,
            *out_lines,
            f"util.return %y : {tensor_type(out_shape)}",
            "}",
            "}",
        ]
    )
    return KernelFunction(text, tuple(a for _, a, _ in tables)), geometry
