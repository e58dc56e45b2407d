"""Dense convolutions for the CPU: direct with our tiles on large maps, im2col matmuls elsewhere.

Precondition: input-phase linalg IR (`iree-compile --compile-to=input`) with NHWC maps, as
the dense build has it; compiled afterwards *without* `--iree-global-opt-use-im2col-for-convs`
(that flag turns every convolution into im2col + matmul, the tiled ones included).

IREE 3.13 offers two ways to run a dense KxK convolution on the CPU, and neither is right for
every layer. Direct (its default) was 6.7x slower than ONNX Runtime on ResNet-50 with the tiles
it picks; im2col (the flag above) plus data tiling packs the im2col matrix inside the
matmul's encoding dispatch, where the copy is a scatter of single floats (each pixel's channel
run goes to a 16-row panel): on ResNet-50's 56x56 layers that copy took 0.9-1.7 ms per
layer next to a 1.1 ms matmul, on 2 threads. A direct convolution with tiles of 7 output
columns by 64 output channels, one input row and channel per step (IREE's
ConvTileAndDecomposeExpert: a 1-D convolution of broadcast inputs into 7x64 accumulators) ran
those layers in 1.0 ms with nothing copied. So this pass decides per convolution
(`linalg.conv_2d_nhwc_hwcf`, batch 1, undilated):

- stride 1 (or any stride on an input of at most `ConvTiles.stem_channels` channels: a
  network's first layer), a window larger than 1x1, at least `ConvTiles.min_pixels` output
  pixels, and tile sizes dividing the map and channels: direct, with `ConvTiles` as its
  `compilation_info`;
- any other window larger than 1x1, or a strided 1x1 (IREE turns only stride-1 1x1
  convolutions into matmuls itself): an explicit im2col, a `linalg.generic` copying each output
  pixel's window into a row, and a `linalg.matmul` over those rows (equivalent to what the flag
  above makes, and IREE's data tiling still fuses the copy into the matmul's packing);
- stride-1 1x1 convolutions, and convolutions with a batch above 1, dilation or different
  strides along height and width, are left to IREE.

Measured on ResNet-50 (2 threads, `--iree-opt-data-tiling`, per-dispatch timelines from
`benchmarks/dispatch_timeline.py`, session 10; the machine's speed drifted by 10-20% between
runs, so each group is judged against the rest of the same run; a group is the 3x3 layers with
that output map, the strided one into it im2col in both builds): the three 56x56 layers 3.0 ms
direct against 5.8 through im2col, the 28x28 group (three direct) 4.8 against 5.3-5.4, the
14x14 group (five direct) 8-20% faster (8.8-9.1 vs 9.7-10.7 ms); the 7x7 group (two direct)
was slower (6.5 vs 5.0), hence a first `min_pixels = 196`. On session 27's Intel Xeon (2 MB
L2 per core, less than the 2.4 MB of weights of a 3x3 256-channel layer; the cause is not
measured) the five 14x14 layers ran direct at 34-41 GFLOP/s, 30.0 ms in all on one thread,
and through im2col 16.2 ms with the copies; the whole network took 118 ms per inference
against 141 (one thread, `dispatch_timeline-resnet50-dense-s27-xeon-dt-mp784-2026-12-07.json`
against `dispatch_timeline-resnet50-dense-s27-xeon-dt-2026-12-07.json`), and on two threads 78
ms against 90 (data tiling, runs beside ONNX Runtime's 34;
`peers-resnet50-s27-xeon-mp784-2026-12-07.json` against `peers-resnet50-s27-xeon-2026-12-07.json`).
So `min_pixels = 784`: 28x28 maps and larger go direct. On the AVX-512 EPYC of session 10
that gave up the 8-20% above on the 14x14 group, about 1-2 ms of an inference of about 58;
on session 28's Zen 4 EPYC (AVX-512, 1 MB L2 per core) the whole network was level, 196
taking 1.028x the time of 784 on two threads (paired 1.011x;
`compare_revisions-resnet50-dense-s28-zen4-mp196-t2-2026-12-07.json`). The three strided 3x3
layers direct won on one map and lost on two: they stay im2col. The 7x7 stride-2 stem on 3
channels took 1.3-1.4 ms direct against 1.9-2.0 through im2col (whose copy of 147 values per
pixel is as large as the map of 64 channels it makes): stems go direct. Other tiles tried (14
rows by 32 channels, or 2 rows by 64) were no better.

Postcondition: no batch-1, undilated, equally strided `linalg.conv_2d_nhwc_hwcf` with a window
larger than 1x1 or a stride is left without a `compilation_info`; results are unchanged up to
float rounding.
"""

import dataclasses

from iree.compiler import ir

from lowering.passes._linalg import (
    conv_stride,
    cpu_compilation_info,
    element_type,
    inputs,
    outputs,
    replace_conv_by_matmul,
    rewrite_each,
    run_pass_main,
    shape,
)

__all__ = ["AVX2_TILES", "ConvTiles", "dense_convs"]


@dataclasses.dataclass(frozen=True)
class ConvTiles:
    """CPU tiles of a direct convolution, over its dims (N, OH, OW, OC, KH, KW, IC).

    Attributes:
      rows: output rows per workgroup (a map with fewer rows gets one workgroup of them all).
      channels: output channels per workgroup.
      columns: output columns per vector tile (a divisor of the map's width).
      vector_channels: output channels per vector tile (a divisor of `channels` and of the
        convolution's output channels).
      min_pixels: the smallest output map, in pixels, computed directly.
      stem_channels: the most input channels of a strided convolution computed directly (a
        network's first layer, on the image's channels); other strided ones go through im2col.
      stride_1: stride-1 convolutions (other than stems) go direct; False sends them all
        through im2col (`AVX2_TILES`).
    """

    rows: int = 7
    channels: int = 64
    columns: int = 7
    vector_channels: int = 64
    min_pixels: int = 784
    stem_channels: int = 4
    stride_1: bool = True

    def attribute(self, oh: int, ow: int, kw: int) -> str:
        """The `#iree_codegen.compilation_info` for an `oh` x `ow` map and a `kw`-wide window,
        as MLIR text: whole rows of the map per workgroup, a row of the window and one input
        channel per reduction step."""
        return cpu_compilation_info(
            [0, min(self.rows, oh), ow, self.channels, 0, 0, 0],
            [1, 1, self.columns, self.vector_channels, 0, 0, 0],
            [0, 0, 0, 0, 1, kw, 1],
            pipeline="ConvTileAndDecomposeExpert",
        )


AVX2_TILES = ConvTiles(stride_1=False)
"""For x86 CPUs without AVX-512 (and, unmeasured, Arm): only stems direct. On a Zen 1 EPYC
(AVX2 on 128-bit datapaths, 512 KiB of L2 per core; session 13, one thread, ResNet-50 with
`--iree-opt-data-tiling`, `benchmarks/dispatch_timeline.py`) the direct tiles above ran each
56x56 and 28x28 3x3 layer in 15 ms, against an im2col copy of 3.6 (56x56) or 2.0 ms (28x28)
plus an 8.2 ms data-tiled matmul, and each 14x14 one in 150 ms against 1.0 + 8.7 (with 256
input channels a workgroup's filter slice is 590 KB, likely streamed from L3 again for every
row of outputs); the whole model took 1162 ms direct, 417 ms through im2col. Vector tiles of 8
or 16 channels (one or two AVX2 registers) instead of 64 left the 14x14 layers at 110 ms. The
7x7 stem stayed faster direct (9.8 ms against 3.4 + 9.5)."""


def _im2col(x: ir.Value, f: ir.Value, init: ir.Value, stride: int) -> list[str]:
    """`%lhs`, the im2col matrix of `x` for `conv_matmul_function`: each output pixel's window,
    copied by a `linalg.generic` and collapsed to `[OH*OW, KH*KW*C]`."""
    kh, kw, c, _ = shape(f)
    _, oh, ow, _ = shape(init)
    e = element_type(x)
    col = f"tensor<{oh}x{ow}x{kh}x{kw}x{c}x{e}>"
    window = f"(0, a * {stride} + i, b * {stride} + j, c)"
    return [
        f"%empty = tensor.empty() : {col}",
        "%col = linalg.generic {indexing_maps = ["
        f"affine_map<(a, b, i, j, c) -> {window}>, "
        "affine_map<(a, b, i, j, c) -> (a, b, i, j, c)>], "
        'iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} '
        f"ins(%x : {x.type}) outs(%empty : {col}) {{",
        f"^bb0(%in: {e}, %out: {e}):",
        f"linalg.yield %in : {e}",
        f"}} -> {col}",
        f"%lhs = tensor.collapse_shape %col [[0, 1], [2, 3, 4]] : {col} "
        f"into tensor<{oh * ow}x{kh * kw * c}x{e}>",
    ]


def _check(tiles: ConvTiles) -> None:
    """Raises ValueError for tiles no convolution could use."""
    for name in ("rows", "channels", "columns", "vector_channels"):
        if getattr(tiles, name) < 1:
            raise ValueError(f"tiles must be at least 1, got {name}={getattr(tiles, name)}")
    if tiles.channels % tiles.vector_channels:
        raise ValueError(
            f"ConvTiles.channels ({tiles.channels}) must be a multiple of vector_channels "
            f"({tiles.vector_channels})"
        )


def dense_convs(module: ir.Module, *, tiles: ConvTiles = ConvTiles()) -> int:
    """Gives large stride-1 KxK convolutions direct tiles and rewrites the other KxK and
    strided convolutions as im2col matmuls (see the module docstring); returns how many
    convolutions it changed.

    Raises:
      ValueError: a tile is below 1, or `channels` is no multiple of `vector_channels`.
    """
    _check(tiles)

    def rewrite(op: ir.Operation) -> bool:
        stride = conv_stride(op)
        if "compilation_info" in op.attributes or len(inputs(op)) != 2 or stride is None:
            return False
        x, f = inputs(op)
        init = outputs(op)[0]
        kh, kw, _, m = shape(f)
        _, oh, ow, _ = shape(init)
        if shape(x)[0] != 1 or (stride == 1 and kh == kw == 1):
            return False
        direct = (
            ((stride == 1 and tiles.stride_1) or shape(x)[-1] <= tiles.stem_channels)
            and max(kh, kw) > 1
            and oh * ow >= tiles.min_pixels
            and oh % min(tiles.rows, oh) == 0
            and ow % tiles.columns == 0
            and m % tiles.channels == 0
        )
        if direct:
            op.attributes["compilation_info"] = ir.Attribute.parse(tiles.attribute(oh, ow, kw))
        else:
            replace_conv_by_matmul(op, _im2col(x, f, init, stride))
        return True

    return rewrite_each(module, ("linalg.conv_2d_nhwc_hwcf",), rewrite)


if __name__ == "__main__":
    run_pass_main(dense_convs, __doc__.splitlines()[0])
