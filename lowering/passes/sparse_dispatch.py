"""Sparse dispatch: replace pruned convolutions and fully connected layers by sparse kernels.

Precondition: input-phase linalg IR (`iree-compile --compile-to=input`), ideally after
`fold_batch_norm`. A site is a producer with constant weights (an `arith.constant`, or
elementwise generics of constants such as the reshape JAX makes of a filter) and a zero-filled
init:
- `linalg.conv_2d_nhwc_hwcf` with a 1x1 kernel and equal strides (`W[M, K]` is its
  `[1, 1, K, M]` filter transposed); the input is NHWC, or the NHWC transpose of an NCHW map
  of batch 1 (`lowering.export.channels_first_input`), which is then read directly;
- `linalg.conv_2d_nhwc_hwcf` with a KxK kernel, equal strides, no dilation and batch 1; its
  input is the padded NHWC map (JAX pads with an explicit `tensor.pad`), or the zero-padded
  NHWC transpose of an NCHW map (a channel-major model, `lowering.layout.channels_first`),
  which the kernel then reads and pads itself;
- `linalg.depthwise_conv_2d_nhwc_hwc` of such an NCHW map (equal strides, no dilation, batch
  1), as a KxK convolution with diagonal taps; on an NHWC map it stays IREE's;
- `linalg.matmul` `x[N, K] @ B[K, M]` with `B` constant (`W = B^T`), or `A[M, K] @ x[K, N]`
  with `A` constant (`W = A`, channel-major already). Matmuls with explicit indexing maps
  other than the plain `A[i, k] * B[k, j]` (transposed operands) are left alone;
- `linalg.vecmat` `x[K] @ B[K, M]` and `linalg.matvec` `A[M, K] @ x[K]` with a constant matrix
  (a fully connected layer at batch 1).
Each site whose density (nonzeros / size) is below `threshold` is rewritten; the others stay
dense, and so does everything else (grouped convolutions, batched KxK ones). A 1x1
convolution of an NCHW map that stays dense becomes a `linalg.matmul` of `W` and the map
(`_sparse_kernels.dense_kernel_function`, its epilogue fused as below): left as the NHWC
convolution of a transposed map, IREE ran it 2-16x slower. (KxK ones left dense there need
the dense passes after this one: `lowering.passes.host_sparse`.) A `linalg.vecmat`
left dense gets CPU tiles of its own (`small_map_matmuls.vecmat_tiles`: workgroups and vectors
that divide its outputs, one register wide; IREE's own masked them on AVX-512).

Postcondition: each rewritten site is a `flow.dispatch.workgroups` holding one all-parallel
`linalg.generic` over (output row or row block, pixel) with the nonzeros unrolled in its body,
fed by constant tables and surrounded by the layout changes between the site's layout and
channel-major. 1x1 convolutions and matrices use the format `lowering.passes._sparse_formats`
chooses (`balanced`, `ell`, `blocks` or `zero`; kernels in `_sparse_kernels`); KxK
convolutions use one table per kernel tap, in rows or in row blocks (`taps`; kernels in
`_sparse_conv_kernels`). The elementwise generics that directly follow the producer and compute
`act(y + c)` (per-channel constant `c`, activation none, ReLU or ReLU6; several adds, at most
one activation, last) are fused into the kernel, and a transpose back to NCHW, before those
generics (a channel-major model) or after them, is absorbed. A 1x1 kernel with an NCHW output
and no activation yet also takes a residual add that follows, `act(y + r + c)` with `r` a map
of its output's shape, when it computes no padded pixels (`_residual_epilogue`): in a 4x1-block
ResNet-50, the last 1x1 layer of each block on 56x56 and 28x28 maps, whose adds had been
dispatches of their own that read two maps and wrote a third (the sparse ResNet-50 then ran
in 0.95x the time on one thread and 0.98x on two, Xeon, session 37). Dead ops are erased.

A 1x1 kernel on an NCHW map whose output only feeds a KxK kernel, and that has fewer input
than output channels (an inverted residual block's expansion), is computed again on the KxK
kernel's padded grid (`_sparse_conv_kernels.Grid`), its output masked to zero on the padding:
the pad and phase split then copy its input instead of its output (16 channels instead of 96
before MobileNet-V2's first stride-2 depthwise layer). Likewise a 1x1 kernel reading only a
KxK kernel's output, with fewer output than input channels (the projection), is computed on
the KxK kernel's output grid, and its own output is cut from the grid instead (24 channels
instead of 144). Both apply when the grid has at most `grid_overhead` times the map's pixels
(the 1x1 kernel computes the border too).
On CPU such an expansion before a depthwise layer is instead computed inside the depthwise
kernel's dispatch (`_sparse_fused_kernels`, `fuse_expansions`): each workgroup expands one
block of channels on the band of grid rows it reads into a stack buffer, then applies the
taps, so the expanded map never goes to memory (that dispatch holds two generics). The whole
sparse MobileNet-V2 then ran in 0.84x the time on one thread (16 interleaved pairs of
iree-benchmark-module, Zen 1 EPYC, session 15). Also on CPU, a KxK kernel on an NCHW map
whose output only a stride-1 KxK kernel reads is computed again onto that kernel's padded
input grid, its padding masked to zero (`_on_producer_grid`): MobileNet-V2's stem writes
the first depthwise kernel's grid, with no cut, fill or copy of its 32-channel 112x112 map
in between.
Results are unchanged up to float rounding (padding slots multiply a real activation by 0, so
an infinite or NaN activation turns a padded row's output into NaN where the dense op would
not).

Each layer's decision is logged at INFO level on this module's logger: format, density,
nonzeros per row, slots, padding waste, what was fused, or why it stayed dense.
"""

import dataclasses
import logging
import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
from iree.compiler import ir

from lowering._numbers import is_integer
from lowering.passes._linalg import (
    affine_maps,
    body_ops,
    conv_stride,
    defining_op,
    erase_dead_ops,
    evaluate_constant,
    functions,
    inline_function,
    inputs,
    interpret_body,
    is_parallel,
    new_constant,
    outputs,
    run_pass_main,
    shape,
    single_user,
    transpose_permutation,
    users,
)
from lowering.passes._sparse_conv_kernels import (
    Grid,
    Taps,
    conv_kernel_function,
    grid_function,
    input_grid,
    onto_padding,
    output_grid,
    output_grid_function,
)
from lowering.passes._sparse_formats import SparseLayout, choose_layout, layout_for_taps
from lowering.passes._sparse_fused_kernels import bands, fused_kernel_function
from lowering.passes._sparse_kernels import (
    DEFAULT_TILES,
    Activation,
    CpuTiles,
    GridOutput,
    KernelFunction,
    Layout,
    dense_kernel_function,
    kernel_function,
    vector_multiple,
)
from lowering.passes.small_map_matmuls import tile_vecmat

__all__ = ["DEFAULT_THRESHOLD", "sparse_dispatch"]

DEFAULT_THRESHOLD = 0.4
"""Density below which a layer goes sparse: at 50% the measured kernel was 1.09x dense."""

GRID_OVERHEAD = 2.0
"""The most pixels (grid / map) for which a 1x1 kernel next to a KxK one computes on the KxK
kernel's grid rather than having its map padded or cut (`_on_grid`, `_on_output_grid`). In
MobileNet-V2 every such pair is under it (the 7x7 maps' grids have 1.84x their pixels), and
with all of them on the grids the model ran 0.84x the time of none on one thread and on two,
against 0.94-0.96x with only the maps up to 1.25x (the 112 to 28 pixel ones; session 8,
iree-benchmark-module, six interleaved rounds, figures in the commit message)."""

STEM_CHANNELS = 4
"""On CPU, a convolution of at most 3x3 on an NCHW map with at most this many input channels
(a network's first layer, on the image) gets our kernel at any density: MobileNet-V2's 3x3
stride-2 stem on 224x224, as a 4x1-block kernel with its input's transpose, phase split and
output cut, took 1.19 ms against 1.58 ms for IREE's dense convolution and its copy (one
thread, `benchmarks/results/dispatch_timeline-mobilenet_v2-sparse-nchw-s18-{stem,chain}-*`).
ResNet-50's 7x7 stem made no difference the machine could show (timed by hand) and stays
IREE's."""

_log = logging.getLogger(__name__)

_PRODUCERS = (
    "linalg.conv_2d_nhwc_hwcf",
    "linalg.depthwise_conv_2d_nhwc_hwc",
    "linalg.matmul",
    "linalg.vecmat",
    "linalg.matvec",
)

# `C[i, j] += A[i, k] * B[k, j]`; matmuls with transposed operands carry other maps.
_MATMUL_MAPS = [(3, [0, 2]), (3, [2, 1]), (3, [0, 1])]

# Probe values for recognising an epilogue body numerically: y spans both signs and crosses
# ReLU6's clip; c varies so that `y * c` or `y - c` cannot pass for `y + c`.
_Y = np.linspace(-9.0, 9.0, 37, dtype=np.float32)
_C = np.linspace(-1.3, 2.1, 37, dtype=np.float32)
_ACTIVATIONS: dict[Activation, Callable[[np.ndarray], np.ndarray]] = {
    None: lambda v: v,
    "relu": lambda v: np.maximum(v, 0),
    "relu6": lambda v: np.clip(v, 0, 6),
}


@dataclasses.dataclass(frozen=True)
class _Pointwise:
    """A 1x1 kernel on an NCHW map, as rewritten, kept so that a KxK kernel reading its
    output can have it computed again on its own grid."""

    site: "_Site"
    layout: SparseLayout
    bias: np.ndarray
    activation: Activation
    index: int


@dataclasses.dataclass
class _Grids:
    """What the pass has rewritten so far that a neighbour may read on a KxK kernel's grid:
    1x1 kernels on NCHW maps (by their result), and KxK kernels' output grids `[M, wide]`
    with their geometry (`_sparse_conv_kernels.output_grid`), by the NCHW map cut from them;
    and the bound on a grid's pixels over its map's (`sparse_dispatch`'s `grid_overhead`).

    For chaining inverted residual blocks (`_fused`, `_on_output_grid`): `maps`, NCHW maps
    already held in a grid `[C, s*s*L]` (the value and its `Grid`; the padding of a grid a
    projection wrote is undefined, which only masked readers see), and `centered`, the fused
    stride-1 depthwise results (by their NCHW map) with the grid of their input, which a
    projection of that result can write into. `onto`: KxK kernels on an NCHW input (by their
    NCHW map), each with a function emitting the kernel again onto a following KxK kernel's
    stride-1 input grid, its padding zero (`_on_producer_grid`), or `None` if it cannot."""

    overhead: float
    fuse: bool = True
    pointwise: dict[ir.Value, _Pointwise] = dataclasses.field(default_factory=dict)
    outputs: dict[ir.Value, tuple[ir.Value, tuple[int, int, int, int]]] = dataclasses.field(
        default_factory=dict
    )
    maps: dict[ir.Value, tuple[ir.Value, Grid]] = dataclasses.field(default_factory=dict)
    centered: dict[ir.Value, Grid] = dataclasses.field(default_factory=dict)
    cuts: dict[ir.Value, "_Cut"] = dataclasses.field(default_factory=dict)
    late: dict[ir.Value, "_Late"] = dataclasses.field(default_factory=dict)
    onto: dict[ir.Value, Callable[[Grid], tuple[ir.Value, Grid] | None]] = dataclasses.field(
        default_factory=dict
    )


@dataclasses.dataclass(frozen=True)
class _Cut:
    """Where a kernel's NCHW map was cut from: `source[C, N]`, the map's rows `pitch` pixels
    apart from pixel `offset` on (a projection's grid, or a 1x1 kernel's pixels padded to
    whole vectors; a KxK kernel's output grid is `_Grids.outputs`, see `_cut_of`). A 1x1
    kernel reading the map can compute on `source` instead (`_on_input_grid`)."""

    source: ir.Value
    pitch: int
    offset: int = 0


@dataclasses.dataclass(frozen=True)
class _Late:
    """A projection computed on a KxK kernel's output grid whose map was cut from its own
    grid (no grid of a following block to write into when it was rewritten): `emit` computes
    it again, at the same place, into a grid given later (`_late_grid`); `geometry` is its
    output grid's (`_sparse_conv_kernels.output_grid`)."""

    emit: Callable[[GridOutput], ir.Value]
    geometry: tuple[int, int, int, int]


@dataclasses.dataclass(frozen=True)
class _Site:
    """A producer the pass may rewrite, read off the IR."""

    producer: ir.Operation
    weights: np.ndarray  # float32 [M, K]; [M, C * kh * kw] for a KxK convolution
    x: ir.Value
    input_layout: Layout
    input_shape: tuple[int, ...]
    stride: int
    kernel: tuple[int, int] = (1, 1)
    filters: np.ndarray | None = None  # float32 [M, C, kh, kw] of a KxK convolution
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))  # of an NCHW KxK input


def _after_layout_change(value: ir.Value) -> bool:
    """Whether `value` is a transpose, seen through reshapes: the output of an earlier sparse
    kernel (or a channel-major input), which IREE cancels against the next kernel's own."""
    op = defining_op(value)
    while op is not None and op.name in ("tensor.expand_shape", "tensor.collapse_shape"):
        op = defining_op(op.operands[0])
    if op is None:
        return False
    return op.name == "linalg.transpose" or transpose_permutation(op) is not None


def _spatial_zero_padding(op: ir.Operation | None) -> tuple[tuple[int, int], ...] | None:
    """`((top, bottom), (left, right))` of a static `tensor.pad` with zeros of an NHWC map."""
    if op is None or op.name != "tensor.pad" or len(op.operands) != 1:
        return None
    terminator = op.regions[0].blocks[0].operations[0].operation
    value = evaluate_constant(terminator.operands[0]) if terminator.operands else None
    if value is None or np.any(value != 0):
        return None
    low = [int(v) for v in ir.DenseI64ArrayAttr(op.attributes["static_low"])]
    high = [int(v) for v in ir.DenseI64ArrayAttr(op.attributes["static_high"])]
    if low[0] or high[0] or low[3] or high[3] or min(low + high) < 0:
        return None
    return (low[1], high[1]), (low[2], high[2])


def _nchw_map(x: ir.Value) -> ir.Value | None:
    """The NCHW map of batch 1 whose NHWC transpose `x` is, if it is one."""
    source = defining_op(x)
    if transpose_permutation(source) == [0, 3, 1, 2] and shape(x)[0] == 1:
        return inputs(source)[0]
    return None


def _nchw_source(
    x: ir.Value,
) -> tuple[ir.Value, Layout, tuple[tuple[int, int], tuple[int, int]]]:
    """`(x, "nhwc", no padding)`, or for a (zero-padded) NHWC transpose of an NCHW map, that
    map, "nchw" and the padding: the KxK kernel then pads the NCHW map itself."""
    op = defining_op(x)
    padding = _spatial_zero_padding(op)
    nchw = _nchw_map(op.operands[0] if padding is not None else x)
    if nchw is not None:
        return nchw, "nchw", padding or ((0, 0), (0, 0))
    return x, "nhwc", ((0, 0), (0, 0))


def _zero_init(op: ir.Operation) -> bool:
    init = defining_op(outputs(op)[0])
    if init is None or init.name != "linalg.fill":
        return False
    fill = evaluate_constant(inputs(init)[0])
    return fill is not None and not np.any(fill != 0)


def _site(op: ir.Operation) -> _Site | None:
    """The site at `op`, or `None` if the pass does not handle this op."""
    if not _zero_init(op):
        return None
    lhs, rhs = inputs(op)
    if op.name == "linalg.conv_2d_nhwc_hwcf":
        filters = evaluate_constant(rhs)
        stride = conv_stride(op)
        if filters is None or stride is None:
            return None
        kh, kw, _, m = filters.shape
        if (kh, kw) != (1, 1):
            if shape(lhs)[0] != 1:
                return None
            w4 = filters.transpose(3, 2, 0, 1)
            x, layout, padding = _nchw_source(lhs)
            return _Site(op, w4.reshape(m, -1), x, layout, shape(x), stride, (kh, kw), w4, padding)
        nchw = _nchw_map(lhs)
        x, layout = (lhs, "nhwc") if nchw is None else (nchw, "nchw")
        return _Site(op, filters[0, 0].T, x, layout, shape(x), stride)
    if op.name == "linalg.depthwise_conv_2d_nhwc_hwc":
        return _depthwise_site(op)
    if op.name == "linalg.matmul" and affine_maps(op) == _MATMUL_MAPS:
        b = evaluate_constant(rhs)
        if b is not None:
            return _Site(op, b.T, lhs, "rows", shape(lhs), 1)
        a = evaluate_constant(lhs)
        if a is not None:
            return _Site(op, a, rhs, "cols", shape(rhs), 1)
    if op.name == "linalg.vecmat":
        b = evaluate_constant(rhs)
        if b is not None:
            return _Site(op, b.T, lhs, "vector", shape(lhs), 1)
    if op.name == "linalg.matvec":
        a = evaluate_constant(lhs)
        if a is not None:
            return _Site(op, a, rhs, "vector", shape(rhs), 1)
    return None


def _depthwise_site(op: ir.Operation) -> _Site | None:
    """A depthwise convolution of a channel-major map as a KxK convolution whose taps are
    diagonal (`W[c, c, dy, dx]`, one nonzero per row and tap): the KxK kernel then computes it
    on the channel-major map, without the layout changes IREE's NHWC depthwise convolution
    needs there. On an NHWC map it stays IREE's."""
    lhs, rhs = inputs(op)
    filters = evaluate_constant(rhs)
    stride = conv_stride(op)
    if filters is None or stride is None or shape(lhs)[0] != 1:
        return None
    x, layout, padding = _nchw_source(lhs)
    if layout != "nchw":
        return None
    kh, kw, c = filters.shape
    w4 = np.zeros((c, c, kh, kw), np.float32)
    w4[np.arange(c), np.arange(c)] = filters.transpose(2, 0, 1)
    return _Site(op, w4.reshape(c, -1), x, layout, shape(x), stride, (kh, kw), w4, padding)


def _per_channel(
    value: ir.Value, out_shape: tuple[int, ...], dims: list[int], axis: int
) -> np.ndarray | None:
    """`value` (read through an indexing map with result `dims`) as a vector along `axis`."""
    array = evaluate_constant(value)
    if array is None:
        return None
    full = np.broadcast_to(
        array.reshape([out_shape[d] if d in dims else 1 for d in range(len(out_shape))]),
        out_shape,
    )
    moved = np.moveaxis(full, axis, -1).reshape(-1, out_shape[axis])
    return moved[0] if np.all(moved == moved[0]) else None


def _epilogue_step(
    op: ir.Operation, chain: ir.Value, axis: int
) -> tuple[np.ndarray, Activation] | None:
    """`(c, act)` if `op` computes `act(chain + c)` elementwise with a per-channel `c`."""
    if op.name != "linalg.generic" or not is_parallel(op) or len(op.results) != 1:
        return None
    maps = affine_maps(op)
    out_shape = shape(op.results[0])
    identity = list(range(len(out_shape)))
    operands = inputs(op)
    if maps is None or maps[-1][1] != identity or len(operands) not in (1, 2):
        return None
    position = [i for i, v in enumerate(operands) if v == chain]
    if len(position) != 1 or maps[position[0]][1] != identity:
        return None
    c = np.zeros(out_shape[axis], np.float32)
    probes = [_Y] * len(operands)
    added = _Y
    if len(operands) == 2:
        other = 1 - position[0]
        c = _per_channel(operands[other], out_shape, maps[other][1], axis)
        if c is None:
            return None
        probes[other] = _C
        added = _Y + _C
    got = interpret_body(op.regions[0].blocks[0], probes)
    if got is None:
        return None
    for name, fn in _ACTIVATIONS.items():
        if np.allclose(np.broadcast_to(got, _Y.shape), fn(added), rtol=0, atol=1e-6):
            return c, name
    return None


def _absorb_steps(
    last: ir.Operation, axis: int, bias: np.ndarray
) -> tuple[np.ndarray, Activation, int, ir.Operation]:
    """Follows `last`'s single users through `act(y + c)` steps (`_epilogue_step`, `c` along
    `axis`) up to the first activation. Returns `bias` plus the steps' `c`, the activation,
    how many steps were absorbed and the last op absorbed (`last` if none)."""
    activation: Activation = None
    steps = 0
    user = single_user(last.results[0])
    while user is not None and activation is None:
        step = _epilogue_step(user, last.results[0], axis)
        if step is None:
            break
        bias = bias + step[0]
        activation = step[1]
        steps += 1
        last = user
        user = single_user(last.results[0])
    return bias, activation, steps, last


def _fuse_epilogue(
    site: _Site, channels: int
) -> tuple[np.ndarray, Activation, int, ir.Operation, bool]:
    """Follows the producer's single users through `act(y + c)` steps.

    A transpose of the NHWC result to NCHW is absorbed before the steps (a channel-major model
    has its epilogue after it, `lowering.layout.channels_first`) or after them.

    Returns:
      The summed bias, the activation, how many steps were absorbed, the last op absorbed
      (the producer if none), and whether the output is NCHW (a transpose was absorbed).
    """
    rank = len(shape(site.producer.results[0]))
    # The channel axis: last, except for a channel-major matmul result `[M, N]`.
    axis = 0 if site.input_layout == "cols" else rank - 1
    last = site.producer

    def to_nchw(op: ir.Operation | None) -> bool:
        return (
            site.input_layout in ("nhwc", "nchw")
            and shape(last.results[0])[0] == 1
            and transpose_permutation(op) == [0, 2, 3, 1]
        )

    user = single_user(last.results[0])
    nchw = to_nchw(user)
    if nchw:
        last, axis = user, 1
    bias, activation, steps, last = _absorb_steps(last, axis, np.zeros(channels, np.float32))
    user = single_user(last.results[0])
    if not nchw and to_nchw(user):
        last, nchw = user, True
    return bias, activation, steps, last, nchw


def _residual_epilogue(
    site: _Site,
    layout: SparseLayout,
    tiles: CpuTiles | None,
    last: ir.Operation,
    activation: Activation,
    pad_pixels: bool,
    grids: _Grids,
) -> tuple[ir.Value, np.ndarray, Activation, ir.Operation] | None:
    """The rest of a residual block's epilogue after `last`, when a 1x1 kernel with an NCHW
    output and no activation yet can take it: `act(y + r + c)`, a residual add of a map `r`
    of the output's shape, then optional `act(. + c)` steps. Returns the residual operand,
    the summed `c`, the activation and the last op absorbed, or `None`.

    With no padded pixels (`kernel_function`'s `pad_pixels`) the operand is `r`, for a
    stride-1 kernel. When the kernel computes its pixels padded to whole vectors, the operand
    is the grid `r` was cut from, if it has as many pixels and the same rows (`_cut_of`: the
    previous block's kernel computed it so), at any stride: the result's grid then holds the
    block's output for the next block's 1x1 kernel to compute on (`_on_input_grid`), with no
    cut, pad or add in between. The grid must have the map's rows (pitch and offset): a 1x1
    kernel computed on a KxK kernel's output grid has the same pixels but rows as wide as
    that grid's. (In the 4x1-block ResNet-50 of `benchmarks/sparse_models.py` the last 1x1
    layer of each block: on 56x56 and 28x28 maps no pixels are padded; its 14x14 maps are
    padded from 196 to 208 pixels, and in the first 14x14 block the stride-2 projection
    takes the add, reading the main branch's grid. MobileNet-V2's residual adds are done on
    its grids, `_grid_output`.)"""
    out = shape(last.results[0])
    if activation is not None or len(out) != 4 or out[0] != 1:
        return None
    p = out[2] * out[3]
    pointwise = None if tiles is None else tiles.for_pointwise(layout.block, p)
    wide = vector_multiple(p, pointwise, layout.block) if pad_pixels else p
    padded = wide != p
    if not padded and site.stride != 1:
        return None
    found = _residual_add(last.results[0])
    if found is None:
        return None
    add, residual = found
    if padded:
        cut = _cut_of(residual, grids)
        if cut is None or cut.offset != 0 or cut.pitch != out[3]:
            return None
        if shape(cut.source) != (layout.rows, wide):
            return None
        residual = cut.source
    bias, activation, _, end = _absorb_steps(add, 1, np.zeros(layout.rows, np.float32))
    return residual, bias, activation, end


def _inline_kernel(
    kernel: KernelFunction, x: ir.Value, ip: ir.InsertionPoint, extra: Sequence[ir.Value] = ()
) -> ir.Value:
    """Inlines `kernel` at `ip` on `x`, its constants as new `arith.constant`s there and
    `extra` as its last arguments; returns its result."""
    constants = [new_constant(a, ip) for a in kernel.constants]
    return inline_function(kernel.text, [x, *constants, *extra], ip)


def _fused_names(steps: int, activation: Activation) -> str:
    """What a kernel absorbed of its epilogue (`_fuse_epilogue`), for the pass log."""
    return (
        " + ".join((["bias"] if steps else []) + ([activation] if activation else [])) or "nothing"
    )


def _describe(site: _Site, layout: SparseLayout) -> str:
    counts = np.count_nonzero(site.weights, axis=1)
    return (
        f"{site.producer.name} {layout.columns}->{layout.rows} on {site.input_shape}: "
        f"density {layout.density:.3f}, nonzeros per row mean {counts.mean():.1f} "
        f"max {counts.max(initial=0)}"
    )


def _rewrite(
    site: _Site,
    index: int,
    threshold: float,
    block_sizes: Sequence[int],
    tiles: CpuTiles | None,
    grids: _Grids,
) -> bool:
    if site.filters is not None:
        return _rewrite_kxk(site, index, threshold, block_sizes, tiles, grids)
    layout = choose_layout(site.weights, block_sizes)
    if layout.density >= threshold:
        if site.input_layout == "nchw":
            return _rewrite_dense_nchw(site, index, layout, threshold)
        tiled = tile_vecmat(site.producer) if tiles is not None else None
        _log.info(
            "layer %d left dense: %s >= threshold %g%s",
            index,
            _describe(site, layout),
            threshold,
            f", IREE's vecmat with workgroups of {tiled[0]} outputs, vectors of {tiled[1]}"
            if tiled
            else "",
        )
        return False
    bias, activation, steps, last, to_nchw = _fuse_epilogue(site, layout.rows)
    fused = _fused_names(steps, activation)
    output_layout: Layout = "nchw" if to_nchw else site.input_layout
    if site.input_layout == "nchw" and not to_nchw:
        output_layout = "nhwc"
    ip = ir.InsertionPoint(last)
    result = None
    replaced = last
    if output_layout == "nchw":
        on_grid = _on_output_grid(site, index, layout, bias, activation, tiles, grids, last)
        if on_grid is None:
            pointwise = _Pointwise(site, layout, bias, activation, index)
            on_grid = _on_input_grid(pointwise, tiles, grids, last)
        if on_grid is not None:
            result, replaced = on_grid
    fused_residual = None
    if result is None:
        pad_pixels = not _after_layout_change(site.x)
        if output_layout == "nchw":
            fused_residual = _residual_epilogue(
                site, layout, tiles, last, activation, pad_pixels, grids
            )
        extra: list[ir.Value] = []
        if fused_residual is not None:
            residual, more_bias, activation, replaced = fused_residual
            bias = bias + more_bias
            extra = [residual]
            ip = ir.InsertionPoint(replaced)
            # A bias before the add, or a nonzero one after it (a lone ReLU adds 0).
            names = ["bias"] if steps or np.any(more_bias) else []
            fused = " + ".join([*names, "residual", *([activation] if activation else [])])
        kernel = kernel_function(
            f"sparse_layer_{index}",
            layout,
            bias,
            site.input_shape,
            input_layout=site.input_layout,
            output_layout=output_layout,
            stride=site.stride,
            activation=activation,
            tiles=tiles,
            pad_pixels=pad_pixels,
            residual=fused_residual is not None,
        )
        result = _inline_kernel(kernel, site.x, ip, extra)
        wide = _output_grid_value(result)
        if output_layout == "nchw" and wide is not None:
            grids.cuts[result] = _Cut(wide, shape(result)[3])
    replaced.results[0].replace_all_uses_with(result)
    if (
        site.input_layout == "nchw"
        and output_layout == "nchw"
        and site.stride == 1
        and replaced is last
        and fused_residual is None
    ):
        grids.pointwise[result] = _Pointwise(site, layout, bias, activation, index)
    _log.info(
        "layer %d sparse %s: %s, %d slots per %s, padding waste %.0f%%, fused: %s%s",
        index,
        layout.kind,
        _describe(site, layout),
        layout.slots,
        "row" if layout.block == 1 else f"{layout.block}-row block",
        100 * layout.padding_waste,
        fused,
        ", output NCHW" if to_nchw else "",
    )
    return True


def _rewrite_dense_nchw(site: _Site, index: int, layout: SparseLayout, threshold: float) -> bool:
    """A 1x1 convolution of a channel-major map left dense, as IREE's matmul of `W` and the
    map (`dense_kernel_function`), its epilogue and transpose back to NCHW absorbed."""
    bias, activation, steps, last, to_nchw = _fuse_epilogue(site, layout.rows)
    kernel = dense_kernel_function(
        f"dense_layer_{index}",
        site.weights,
        bias,
        site.input_shape,
        output_layout="nchw" if to_nchw else "nhwc",
        stride=site.stride,
        activation=activation,
    )
    ip = ir.InsertionPoint(last)
    result = _inline_kernel(kernel, site.x, ip)
    last.results[0].replace_all_uses_with(result)
    fused = _fused_names(steps, activation)
    _log.info(
        "layer %d left dense: %s >= threshold %g; a matmul on the channel-major map, fused: %s%s",
        index,
        _describe(site, layout),
        threshold,
        fused,
        ", output NCHW" if to_nchw else "",
    )
    return False


def _residual_add(value: ir.Value) -> tuple[ir.Operation, ir.Value] | None:
    """`(add, other)` when the only user of `value` adds it elementwise to `other`, a map of
    the same shape (a residual connection), else `None`."""
    op = single_user(value)
    if op is None or op.name != "linalg.generic" or not is_parallel(op) or len(op.results) != 1:
        return None
    operands = inputs(op)
    maps = affine_maps(op)
    out_shape = shape(op.results[0])
    identity = list(range(len(out_shape)))
    if maps is None or len(operands) != 2 or any(m[1] != identity for m in maps):
        return None
    position = [i for i, v in enumerate(operands) if v == value]
    if len(position) != 1 or any(shape(v) != out_shape for v in operands):
        return None
    got = interpret_body(op.regions[0].blocks[0], [_Y, _C])
    if got is None or not np.allclose(np.broadcast_to(got, _Y.shape), _Y + _C, rtol=0, atol=1e-6):
        return None
    return op, operands[1 - position[0]]


def _grid_output(
    site: _Site, m: int, geometry: tuple[int, int, int, int], last: ir.Operation, grids: _Grids
) -> tuple[GridOutput, Grid, ir.Value | None, ir.Operation] | None:
    """Where a projection of a fused depthwise result computed on its output grid can write:
    into the grid of the depthwise layer's input (same map size, stride 1), with the block's
    residual add when the other addend is a map held in that grid. Returns the output, the
    grid, the residual grid (or `None`) and the op whose result the projection's map
    replaces (the add, or `last`); `None` when the grids do not line up."""
    grid = grids.centered.get(site.x)
    ho, ws, wo, wide = geometry
    if grid is None or grid.stride != 1 or (grid.height, grid.width) != (ho, wo):
        return None
    (top, _), (left, _) = grid.padding
    offset = top * ws + left
    if grid.plane[1] != ws or offset + wide > grid.pixels:
        return None
    found = _residual_add(last.results[0])
    if found is not None:
        add, other = found
        held = grids.maps.get(other)
        if held is not None and held[1] == grid and shape(held[0])[0] == m:
            # The add follows the projection's epilogue, activation included.
            output = GridOutput(offset, grid.pixels, residual=True, activation_first=True)
            return output, grid, held[0], add
    return GridOutput(offset, grid.pixels), grid, None, last


def _on_output_grid(
    site: _Site,
    index: int,
    layout: SparseLayout,
    bias: np.ndarray,
    activation: Activation,
    tiles: CpuTiles | None,
    grids: _Grids,
    last: ir.Operation,
) -> tuple[ir.Value, ir.Operation] | None:
    """Computes a 1x1 kernel reading a KxK kernel's output on that kernel's output grid, and
    cuts the map out of its result instead: the cut copies its output channels rather than
    its input channels (24 instead of 144 after an inverted residual block's depthwise
    layer). Returns the map and the op whose result it replaces, or `None` (nothing emitted)
    when the input is not a KxK kernel's map used only here, the layer has no fewer input
    than output channels or a stride, or the grid has more than `grids.overhead` times the
    map's pixels.

    After a fused stride-1 depthwise kernel (`_fused`), the kernel writes straight into the
    padded grid of that kernel's input (`_grid_output`), adding the block's residual when
    its other addend is held in that grid: the next block's fused kernel reads the result as
    its own input grid (`grids.maps`), so a chain of such blocks pads and cuts nothing in
    between, and the residual adds are not dispatches of their own."""
    source = grids.outputs.get(site.x)
    if (
        source is None
        or site.input_layout != "nchw"
        or site.stride != 1
        or len(users(site.x)) != 1
        or layout.rows >= layout.columns
    ):
        return None
    grid, geometry = source
    ho, _, wo, wide = geometry
    if wide > grids.overhead * ho * wo:
        return None
    ip = ir.InsertionPoint(site.producer)
    chain = _grid_output(site, layout.rows, geometry, last, grids)
    into, chained, residual, replaced = (None, None, None, last) if chain is None else chain

    def projection(target: GridOutput | None, name: str) -> KernelFunction:
        return kernel_function(
            name,
            layout,
            bias,
            (layout.columns, wide),
            input_layout="cols",
            activation=activation,
            tiles=tiles,
            into=target,
        )

    kernel = projection(into, f"sparse_layer_{index}")
    constants = [new_constant(a, ip) for a in kernel.constants]
    extra = [] if residual is None else [residual]
    y_grid = inline_function(kernel.text, [grid, *constants, *extra], ip)
    name = f"sparse_layer_{index}_cut"
    _log.info(
        "layer %d computed on the previous KxK kernel's output grid (%d pixels for %d): its "
        "%d output channels cut from the grid instead of its %d input channels%s",
        index,
        wide,
        ho * wo,
        layout.rows,
        layout.columns,
        ""
        if into is None
        else ", written into the depthwise input's grid"
        + (" with the residual add" if residual is not None else ""),
    )
    offset, pixels = (0, None) if into is None else (into.offset, into.pixels)
    cut_function = output_grid_function(name, layout.rows, geometry, offset, pixels)
    cut = inline_function(cut_function, [y_grid], ip)
    grids.cuts[cut] = _Cut(y_grid, geometry[1], offset)
    if into is None and tiles is not None:

        def emit(target: GridOutput) -> ir.Value:
            again = projection(target, f"sparse_layer_{index}_into")
            return inline_function(again.text, [grid, *constants], ip)

        grids.late[cut] = _Late(emit, geometry)
    if chained is not None:
        grids.maps[cut] = (y_grid, chained)
    return cut, replaced


def _cut_of(x: ir.Value, grids: _Grids) -> _Cut | None:
    """Where the NCHW map `x` was cut from (`grids.cuts`, or a KxK kernel's output grid in
    `grids.outputs`), or `None`."""
    output = grids.outputs.get(x)
    return grids.cuts.get(x) if output is None else _Cut(output[0], output[1][1])


def _on_input_grid(
    pointwise: _Pointwise, tiles: CpuTiles | None, grids: _Grids, last: ir.Operation
) -> tuple[ir.Value, ir.Operation] | None:
    """Computes a 1x1 kernel whose NCHW input was cut from a kernel's grid (`_Cut`) on that
    grid, when the grid has as many pixels as the kernel would compute on the map anyway (a
    map whose pixels are no whole vectors is padded: 49 to 64 on a 7x7 map), and cuts its
    map from its own result, the same geometry: the input's pad is then dead, and its cut
    too unless the map has other users, such as a residual add. On MobileNet-V2's 7x7 maps a
    160-channel projection's grid is 64 pixels, as is a 49-pixel map's padding.
    Returns the map and the op it replaces, or `None` (nothing emitted) on GPU, for a stride,
    or when the input is no cut or its grid has another number of pixels (or over
    `grids.overhead` times the map's)."""
    site, layout, index = pointwise.site, pointwise.layout, pointwise.index
    cut = _cut_of(site.x, grids)
    if tiles is None or cut is None or site.input_layout != "nchw" or site.stride != 1:
        return None
    _, k, h, w = site.input_shape
    source_shape = shape(cut.source)
    pixels = source_shape[1]
    if (
        pixels != vector_multiple(h * w, tiles.for_pointwise(layout.block, h * w), layout.block)
        or pixels > grids.overhead * h * w
        or cut.offset + (h - 1) * cut.pitch + w > pixels
    ):
        return None
    ip = ir.InsertionPoint(site.producer)
    kernel = kernel_function(
        f"sparse_layer_{index}",
        layout,
        pointwise.bias,
        (k, pixels),
        input_layout="cols",
        activation=pointwise.activation,
        tiles=tiles,
    )
    y_grid = _inline_kernel(kernel, cut.source, ip)
    geometry = (h, cut.pitch, w, pixels)
    cut_function = output_grid_function(
        f"sparse_layer_{index}_cut", layout.rows, geometry, cut.offset, pixels
    )
    result = inline_function(cut_function, [y_grid], ip)
    grids.cuts[result] = _Cut(y_grid, cut.pitch, cut.offset)
    _log.info(
        "layer %d computed on its input's grid (%d pixels for %d, rows %d apart): no cut or "
        "pad of its %d input channels",
        index,
        pixels,
        h * w,
        cut.pitch,
        k,
    )
    return result, last


def _output_grid_value(result: ir.Value) -> ir.Value | None:
    """The `[M, wide]` output grid a KxK kernel's map `result` was cut from (through the
    slices and reshapes of `_sparse_conv_kernels.output_lines`)."""
    grid = None
    op = defining_op(result)
    while op is not None and op.name in (
        "tensor.expand_shape",
        "tensor.extract_slice",
        "tensor.collapse_shape",
    ):
        value = op.operands[0]
        if len(shape(value)) == 2:
            grid = value
        op = defining_op(value)
    return grid


def _expansion(site: _Site, grids: _Grids) -> _Pointwise | None:
    """The 1x1 kernel producing the KxK site's NCHW input, when the site is its only user and
    it has fewer input than output channels (an inverted residual block's expansion), else
    `None`: what `_on_grid` computes again on the site's grid and `_fused` inside the site's
    dispatch."""
    producer = grids.pointwise.get(site.x)
    if site.input_layout != "nchw" or producer is None or len(users(site.x)) != 1:
        return None
    return producer if producer.layout.columns < site.input_shape[1] else None


def _late_grid(x: ir.Value, grid: Grid, grids: _Grids) -> None:
    """Holds the map `x` in `grid` (`grids.maps`) when `x` is a projection's map cut from
    its output grid (`_Late`) whose rows are as wide as the stride-1 `grid`'s: the projection
    is computed again straight into `grid` (the map `top * Ws + left` pixels in, the output
    grid's extra columns landing on the grid's border, which only masked readers see), so
    the block after a stride-2 block reads its input, and its residual, with no cut and no
    pad in between. The first kernel and its cut are then dead."""
    late = grids.late.get(x)
    if late is None or grid.stride != 1 or x in grids.maps:
        return
    ho, ws, wo, wide = late.geometry
    (top, _), (left, _) = grid.padding
    offset = top * ws + left
    if (grid.height, grid.width) != (ho, wo) or grid.plane[1] != ws:
        return
    if offset + wide > grid.pixels:
        return
    grids.maps[x] = (late.emit(GridOutput(offset, grid.pixels)), grid)


def _held_grid(x: ir.Value, grid: Grid, grids: _Grids) -> ir.Value | None:
    """The value holding the map `x` in `grid` (`grids.maps`, `_late_grid`), or `None`."""
    _late_grid(x, grid, grids)
    held = grids.maps.get(x)
    return held[0] if held is not None and held[1] == grid else None


def _expansion_input_grid(
    producer: _Pointwise, site: _Site, grid: Grid, tiles: CpuTiles | None, name: str
) -> ir.Value:
    """The expansion's input padded (and split into phase planes) as `grid`, inserted before
    the expansion's old result (`grid_function`)."""
    source = producer.site
    ip = ir.InsertionPoint(defining_op(site.x))
    return inline_function(grid_function(name, source.input_shape, grid, tiles), [source.x], ip)


def _on_grid(
    site: _Site,
    index: int,
    g: int,
    tiles: CpuTiles | None,
    grids: _Grids,
) -> ir.Value | None:
    """Computes the 1x1 kernel producing the KxK site's NCHW input again, on the KxK kernel's
    grid: its input (fewer channels, as in an inverted residual block's expansion) is padded
    and split into phase planes instead of its output, and its output masked to zero on the
    padding. Returns the grid `[C, s*s*L]` (the old kernel is dead once the site is
    rewritten), or `None` when the input is not such a kernel's only use, the grid has
    more than `grids.overhead` times the map's pixels, or the input has no fewer
    channels."""
    producer = _expansion(site, grids)
    if producer is None:
        return None
    grid = input_grid(site.input_shape, site.kernel, site.stride, "nchw", site.padding, tiles, g)
    _, c, h, w = site.input_shape
    k = producer.layout.columns
    if grid.pixels > grids.overhead * h * w:
        return None
    name = f"sparse_layer_{producer.index}_grid"
    x_grid = _held_grid(producer.site.x, grid, grids)
    if x_grid is None:
        x_grid = _expansion_input_grid(producer, site, grid, tiles, f"{name}_input")
    ip = ir.InsertionPoint(defining_op(site.x))
    kernel = kernel_function(
        name,
        producer.layout,
        producer.bias,
        (k, grid.pixels),
        input_layout="cols",
        activation=producer.activation,
        tiles=tiles,
        mask=grid.mask(),
    )
    _log.info(
        "layer %d computed again on layer %d's grid (%d pixels for %d): its %d input channels "
        "padded instead of its %d output channels",
        producer.index,
        index,
        grid.pixels,
        h * w,
        k,
        c,
    )
    return _inline_kernel(kernel, x_grid, ip)


def _on_producer_grid(
    site: _Site, index: int, g: int, tiles: CpuTiles | None, grids: _Grids
) -> tuple[ir.Value, Grid] | None:
    """The KxK site's stride-1 input grid `[C, L]` and its `Grid`, computed by the KxK kernel
    producing its NCHW input (`grids.onto`, on CPU) straight onto it, its padding masked to
    zero: the map is then neither cut from that kernel's output grid nor padded here
    (MobileNet-V2's stem writes its 32 channels into the first depthwise kernel's grid; the
    grid may have a few more zero rows than the site's own, `Grid.align`). `None` (nothing
    emitted) when the input is no such kernel's map used only here, the grid has more than
    `grids.overhead` times the map's pixels, or the producer cannot compute on it
    (`_sparse_conv_kernels.onto_padding`)."""
    emit = grids.onto.get(site.x)
    if (
        emit is None
        or tiles is None
        or site.input_layout != "nchw"
        or site.stride != 1
        or len(users(site.x)) != 1
    ):
        return None
    grid = input_grid(site.input_shape, site.kernel, 1, "nchw", site.padding, tiles, g)
    _, c, h, w = site.input_shape
    if grid.pixels > grids.overhead * h * w:
        return None
    made = emit(grid)
    if made is not None:
        _log.info(
            "layer %d reads its input grid (%d pixels for %d) as the previous KxK kernel "
            "computed it, the padding masked to zero: no cut or pad of its %d input channels",
            index,
            made[1].pixels,
            h * w,
            c,
        )
    return made


def _fused(
    site: _Site,
    index: int,
    bias: np.ndarray,
    activation: Activation,
    to_nchw: bool,
    tiles: CpuTiles | None,
    grids: _Grids,
    last: ir.Operation,
) -> ir.Value | None:
    """Computes the depthwise site and the expansion producing its NCHW input in one CPU
    dispatch (`_sparse_fused_kernels`), band by band, so that the expanded map never goes to
    memory. Returns the site's new result, or `None` (nothing emitted) on GPU, when the input
    is not such a 1x1 kernel's only use, has no more channels than its input, its grid has more
    than `grids.overhead` times the map's pixels, no band fits the stack, or the depthwise
    filters are all zero (the KxK kernel has its own form for that)."""
    if (
        tiles is None
        or not grids.fuse
        or site.producer.name != "linalg.depthwise_conv_2d_nhwc_hwc"
        or (producer := _expansion(site, grids)) is None
    ):
        return None
    # `CpuTiles.block_vector` is for KxK kernels (measured slower here).
    tiles = dataclasses.replace(tiles, block_vector=None)
    _, c, h, w = site.input_shape
    k, g = producer.layout.columns, producer.layout.block
    b = bands((h, w), site.padding, site.kernel, site.stride, g, producer.layout.slots, tiles)
    depthwise = site.filters[np.arange(c), np.arange(c)]
    if b is None or b.grid.pixels > grids.overhead * h * w or not depthwise.any():
        return None
    name = f"sparse_layers_{producer.index}_{index}"
    held = _held_grid(producer.site.x, b.grid, grids)
    chained = held is not None
    if chained:
        x_grid = held
    else:
        x_grid = _expansion_input_grid(producer, site, b.grid, tiles, f"{name}_input")
        grids.maps[producer.site.x] = (x_grid, b.grid)
    kernel, geometry = fused_kernel_function(
        name,
        producer.layout,
        producer.bias,
        producer.activation,
        depthwise,
        bias,
        b,
        site.kernel,
        output_layout="nchw" if to_nchw else "nhwc",
        activation=activation,
        tiles=tiles,
    )
    ip = ir.InsertionPoint(last)
    result = _inline_kernel(kernel, x_grid, ip)
    grid = _output_grid_value(result)
    if to_nchw and grid is not None:
        grids.outputs[result] = (grid, geometry)
        if b.grid.stride == 1:
            grids.centered[result] = b.grid
    _log.info(
        "layers %d and %d fused: the expansion (%d->%d) computed into the depthwise kernel's "
        "workgroups, %d-channel blocks on bands of %d output rows (%d columns, %d extra), "
        "%d expanded pixels per band and phase plane%s",
        producer.index,
        index,
        k,
        c,
        g,
        b.rows,
        b.width,
        b.extra,
        b.local,
        ", its input grid the previous projection's output" if chained else "",
    )
    return result


def _onto_emitter(
    site: _Site,
    index: int,
    taps: Taps,
    bias: np.ndarray,
    activation: Activation,
    tiles: CpuTiles,
    ip: ir.InsertionPoint,
) -> Callable[[Grid], tuple[ir.Value, Grid] | None]:
    """A function emitting the KxK site's kernel again at `ip`, computed onto a following
    KxK kernel's stride-1 input grid (`_sparse_conv_kernels.onto_padding`) with as many more
    zero rows as make its pixels whole pixel vectors of the kernel (on 13224 pixels
    MobileNet-V2's stem would get one-register vectors, `CpuTiles.pixel_vector`, loading
    each weight for half as many multiply-adds); returns the grid's value and that grid, or
    `None` when it cannot (`grids.onto`, `_on_producer_grid`)."""
    g = taps[0][1].block if taps else 1

    def onto(target: Grid) -> tuple[ir.Value, Grid] | None:
        target = dataclasses.replace(
            target, align=math.lcm(target.align, tiles.for_block(g).vector[1])
        )
        if onto_padding(site.input_shape, site.kernel, site.stride, site.padding, target) is None:
            return None
        kernel = conv_kernel_function(
            f"sparse_layer_{index}_onto",
            taps,
            site.weights.shape[0],
            site.kernel,
            bias,
            site.input_shape,
            stride=site.stride,
            input_layout="nchw",
            padding=site.padding,
            activation=activation,
            tiles=tiles,
            onto=target,
        )
        return _inline_kernel(kernel, site.x, ip), target

    return onto


def _rewrite_kxk(
    site: _Site,
    index: int,
    threshold: float,
    block_sizes: Sequence[int],
    tiles: CpuTiles | None,
    grids: _Grids,
) -> bool:
    m = site.weights.shape[0]
    nnz = int(np.count_nonzero(site.weights))
    counts = np.count_nonzero(site.weights, axis=1)
    depthwise = site.producer.name == "linalg.depthwise_conv_2d_nhwc_hwc"
    description = (
        f"{site.producer.name} {site.kernel[0]}x{site.kernel[1]} stride {site.stride} "
        f"{site.weights.shape[1] // (site.kernel[0] * site.kernel[1])}->{m}"
        f"{' (diagonal taps)' if depthwise else ''} on "
        f"{site.input_shape}: density {nnz / site.weights.size:.3f}, nonzeros per row mean "
        f"{counts.mean():.1f} max {counts.max(initial=0)}"
    )
    channels = site.weights.shape[1] // (site.kernel[0] * site.kernel[1])
    stem = (
        tiles is not None
        and site.input_layout == "nchw"
        and not depthwise
        and channels <= STEM_CHANNELS
        and site.kernel[0] * site.kernel[1] <= 9
    )
    dense = nnz / site.weights.size >= threshold
    if dense and not stem:
        _log.info("layer %d left dense: %s >= threshold %g", index, description, threshold)
        return False
    if dense:
        _log.info(
            "layer %d: our KxK kernel although dense (%d input channels, at most %d): %s",
            index,
            channels,
            STEM_CHANNELS,
            description,
        )
    taps = layout_for_taps(site.filters, block_sizes)
    g = taps[0][1].block if taps else 1
    bias, activation, steps, last, to_nchw = _fuse_epilogue(site, m)
    fused_result = _fused(site, index, bias, activation, to_nchw, tiles, grids, last)
    if fused_result is not None:
        last.results[0].replace_all_uses_with(fused_result)
        _log.info("layer %d sparse taps (fused with its expansion): %s", index, description)
        return True
    on_grid = _on_grid(site, index, g, tiles, grids)
    grid_align = 1
    if on_grid is None and (made := _on_producer_grid(site, index, g, tiles, grids)):
        on_grid, grid_align = made[0], made[1].align
    kernel = conv_kernel_function(
        f"sparse_layer_{index}",
        taps,
        m,
        site.kernel,
        bias,
        site.input_shape,
        stride=site.stride,
        input_layout=site.input_layout if on_grid is None else "grid",
        padding=site.padding,
        output_layout="nchw" if to_nchw else "nhwc",
        activation=activation,
        tiles=tiles,
        grid_align=grid_align,
    )
    ip = ir.InsertionPoint(last)
    result = _inline_kernel(kernel, site.x if on_grid is None else on_grid, ip)
    last.results[0].replace_all_uses_with(result)
    grid = _output_grid_value(result)
    if to_nchw and site.input_layout == "nchw" and grid is not None:
        geometry = output_grid(
            site.input_shape, site.kernel, site.stride, "nchw", site.padding, tiles, g
        )
        grids.outputs[result] = (grid, geometry)
    if to_nchw and on_grid is None and site.input_layout == "nchw" and tiles is not None:
        grids.onto[result] = _onto_emitter(site, index, taps, bias, activation, tiles, ip)
    slots = sum(layout.slots for _, layout in taps)
    fused = _fused_names(steps, activation)
    _log.info(
        "layer %d sparse taps%s: %s, %d taps, %d slots per %s, padding waste %.0f%%, fused: %s%s",
        index,
        f" in {g}-row blocks" if g > 1 else "",
        description,
        len(taps),
        slots,
        f"{g}-row block" if g > 1 else "row",
        100 * (1 - nnz / (m * slots)) if slots else 0.0,
        fused,
        ", output NCHW" if to_nchw else "",
    )
    return True


def sparse_dispatch(
    module: ir.Module,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    block_sizes: Sequence[int] = (4,),
    tiles: CpuTiles | None = DEFAULT_TILES,
    grid_overhead: float = GRID_OVERHEAD,
    fuse_expansions: bool = True,
) -> int:
    """Replaces sparse 1x1 convolutions and fully connected layers by sparse kernels.

    Args:
      module: input-phase linalg IR, rewritten in place (see the module docstring).
      threshold: layers with density (nonzeros / size) below this go sparse; above 1, every
        handled layer does, including fully dense ones.
      block_sizes: heights `g` of the row blocks sharing column indices to consider.
      tiles: the kernels' CPU `compilation_info` (the defaults were measured with AVX-512;
        `lowering.passes.host_sparse_tiles()` gives the host CPU's); `None` for GPU (Vulkan)
        targets, where IREE's own SPIR-V configuration is used.
      grid_overhead: a 1x1 kernel on an NCHW map whose only user is a KxK kernel, with fewer
        input than output channels, is computed on the KxK kernel's padded input grid (its
        input padded instead of its output), and one whose input is only a KxK kernel's
        output, with fewer output than input channels, on that kernel's output grid (its
        output cut from the grid instead of its input), when the grid has at most this many
        times the map's pixels; 0 never does.
      fuse_expansions: on CPU, compute such an expansion and the depthwise layer reading it
        in one dispatch, band by band (`_sparse_fused_kernels`), instead of the expansion on
        the grid and then the depthwise kernel.

    Returns:
      How many layers became our kernels (a dense 1x1 layer of a channel-major map, written
      as IREE's matmul of `W` and the map, is not counted).

    Raises:
      ValueError: `threshold` or `grid_overhead` is negative or NaN, a block size is not an
        integer of at least 1, or `tiles` is neither `None` nor a `CpuTiles` (which
        checks its own sizes).
    """
    # Written so that NaN fails too: every comparison with it is False, which made every
    # layer sparse.
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    if not grid_overhead >= 0:
        raise ValueError(f"grid_overhead must be >= 0, got {grid_overhead}")
    if isinstance(block_sizes, numbers.Number) or any(
        not is_integer(g) or g < 1 for g in block_sizes
    ):
        raise ValueError(f"block_sizes must be a sequence of integers >= 1, got {block_sizes!r}")
    if tiles is not None and not isinstance(tiles, CpuTiles):
        raise ValueError(f"tiles must be a CpuTiles or None, got {tiles!r}")
    rewritten = 0
    index = 0
    grids = _Grids(grid_overhead, fuse_expansions)
    for function in functions(module):
        for op in body_ops(function):
            if op.name not in _PRODUCERS:
                continue
            site = _site(op)
            if site is None:
                continue
            with op.location:
                rewritten += _rewrite(site, index, threshold, block_sizes, tiles, grids)
            index += 1
        erase_dead_ops(function)
    return rewritten


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_pass_main(sparse_dispatch, __doc__.splitlines()[0])
