"""Winograd convolutions: large stride-1 3x3 convolutions as Winograd F(m, 3) batch matmuls.

Precondition: input-phase linalg IR (`iree-compile --compile-to=input`) with NHWC maps, as
the dense build has it; run before `dense_convs`, which would give these convolutions direct
tiles.

Winograd's minimal filtering (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016) computes an `m` x `m` tile of a 3x3 convolution's output from an `n` x `n`
tile of its input (`n = m + 2`) with `n * n` multiplies per pair of channels instead of
`9 * m * m`: with `m = 4`, 36 against 144, 4x fewer. In matrices (`winograd_matrices`), per
tile `d` of the input and 3x3 filter `g` of a channel pair, `Y = AT [(G g G^T) * (BT d B)] A`;
summed over input channels, the elementwise product becomes, for each of the `n * n`
positions, a matmul of the tiles' transformed inputs by the transformed filter. This pass
writes each site as:

- the input, zero-padded at the bottom and right to whole tiles, transformed in two
  `linalg.generic`s (`BT` along the rows, then along the columns: `n` multiply-adds per value
  each, vectorized along the channels, which stay innermost);
- one `linalg.batch_matmul` over the `n * n` positions, `[tiles, C] x [C, M]` each, with the
  filter transformed here in numpy (`G g G^T`, float64) into a constant of `n * n * C * M`
  floats (4x the 3x3 weights' size for `m = 4`);
- the output transform in two generics (`AT` along the rows, then the columns), the second
  writing the convolution's own NHWC result, cropped to its map and added to its init.

IREE 3.13 has a Winograd rewrite of its own (`iree-linalg-ext-convert-conv2d-to-winograd`,
F(6, 3), not in its default pipelines). On ResNet-50's stride-1 3x3 layers of 56x56 and 28x28
maps (session 30, a Zen 4 EPYC, one thread, `benchmarks/dispatch_timeline.py`'s records of
a hand-built module) its batch matmuls took 0.69-0.84 ms against 2.1-2.2 ms for each direct
convolution, but its input and output transforms, decomposed per tile and channel, took
0.97 + 0.52 ms (56x56) and 0.48 + 0.28 ms (28x28): the whole network was 6% slower on one
thread and level on two. Those transforms are what this pass writes as vectorized generics.

Measured on that Zen 4 (`HOST_DENSE`, ResNet-50's eleven stride-1 3x3 layers, F(4, 3)):

- per layer, one thread (`benchmarks/dispatch_timeline.py`'s records of hand-built modules): 56x56
  (direct before) 2.1 -> 1.15 ms, 28x28 (direct) 2.2 -> 1.1, 14x14 (im2col and a matmul)
  2.9 -> 1.35, of which the batch matmul is 0.73, 0.85 and 1.14 ms; F(6, 3) was level with
  F(4, 3) on the larger maps (fewer multiplies, more padding) and has 64/36 the filter;
- the 7x7 layers (512 channels: a 37.7 MB transformed filter for 4 tiles, against 9.4 MB of
  3x3 weights) saved 1.85 ms each on one thread and nothing on two, where the batch matmul
  streams its filter from memory: hence `min_pixels = 196` and `max_filter_bytes`, which
  keeps 14x14 256-channel layers (9.4 MB) in and those out;
- the whole network, `benchmarks/compare_revisions.py --model resnet50 --build dense`
  (`compare_revisions-resnet50-dense-s30-winograd-t1-` and `-t2-2026-12-07.json`): 0.836x the
  time on one thread (paired 0.849x), 0.873x on two (paired 0.860x). The module grows from
  102 to 144 MB (the transformed filters, 4x the 3x3 weights they replace).

A site is a batch-1, undilated, stride-1 `linalg.conv_2d_nhwc_hwcf` with a 3x3 window, a
constant filter, float32 operands, at least `min_pixels` output pixels, and a transformed
filter of at most `max_filter_bytes` (each inference reads it whole; on small maps it would
be read for few tiles). Other convolutions are left alone.

Postcondition: no site is left; results are unchanged up to float rounding (the transforms
add some: about 2e-6 of the largest output for `m = 4`, 6e-6 for `m = 6`, on the tests'
unit-scale data).
"""

import fractions
import math

import numpy as np
from iree.compiler import ir

from lowering.passes._linalg import (
    conv_stride,
    element_type,
    evaluate_constant,
    inline_function,
    inputs,
    new_constant,
    outputs,
    rewrite_each,
    run_pass_main,
    shape,
)

__all__ = ["POINTS", "winograd_convs", "winograd_matrices"]

POINTS = {
    2: (0, 1, -1),
    4: (0, 1, -1, 2, -2),
    6: (0, 1, -1, 2, -2, fractions.Fraction(1, 2), fractions.Fraction(-1, 2)),
}
"""The finite interpolation points of F(m, 3) for each supported output tile `m` (the last
point is infinity), the usual ones: small, so the transforms stay well conditioned."""


def winograd_matrices(m: int, r: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(AT, G, BT)` of Winograd's F(m, r), float64, shapes `(m, n)`, `(n, r)`, `(n, n)` with
    `n = m + r - 1`, such that the correlation `y[i] = sum_k g[k] d[i + k]` (i < m) of an
    `n`-long `d` with an `r`-long `g` is `AT @ ((G @ g) * (BT @ d))`.

    Built by Toom-Cook at `POINTS[m]` and infinity: `G` and `A` (`AT`'s transpose) evaluate
    polynomials of degree `r - 1` and `m - 1` there, their product's coefficients come back
    through the inverse of the `n` x `n` evaluation matrix `V`, and by the transposition
    principle the correlation (the transpose of that convolution) is
    `A^T diag(G g) V^-T d`, so `BT = V^-T`. Exact in rationals, then rounded once.

    Raises:
      ValueError: no points are known for `m` (or `r` does not fit them).
    """
    if m not in POINTS or len(POINTS[m]) != m + r - 2:
        raise ValueError(
            f"winograd_matrices: m must be one of {sorted(POINTS)} with r = 3, got m={m!r}, r={r!r}"
        )
    points = [fractions.Fraction(p) for p in POINTS[m]]
    n = m + r - 1

    def evaluation(columns: int) -> list[list[fractions.Fraction]]:
        rows = [[p**j for j in range(columns)] for p in points]
        return rows + [[fractions.Fraction(int(j == columns - 1)) for j in range(columns)]]

    v_inverse = _inverse(evaluation(n))
    at = np.array(evaluation(m), dtype=object).T
    g = np.array(evaluation(r), dtype=object)
    bt = np.array(v_inverse, dtype=object).T
    return tuple(np.asarray(a, dtype=np.float64) for a in (at, g, bt))  # type: ignore[return-value]


def _inverse(matrix: list[list[fractions.Fraction]]) -> list[list[fractions.Fraction]]:
    """The inverse of a square matrix of rationals, by Gauss-Jordan elimination."""
    n = len(matrix)
    a = [
        row[:] + [fractions.Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)
    ]
    for col in range(n):
        pivot = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[pivot] = a[pivot], a[col]
        scale = a[col][col]
        a[col] = [v / scale for v in a[col]]
        for r in range(n):
            if r != col and a[r][col] != 0:
                factor = a[r][col]
                a[r] = [v - factor * w for v, w in zip(a[r], a[col], strict=True)]
    return [row[n:] for row in a]


def _taps(count: int) -> list[str]:
    """A generic body's lines: the sum of `count` products `%a{count + k} * %ak` (the `k`-th
    coefficient read times the `k`-th operand read), by `math.fma`, yielded."""
    lines = [f"%s0 = arith.mulf %a{count}, %a0 : f32"]
    for k in range(1, count):
        lines.append(f"%s{k} = math.fma %a{count + k}, %a{k}, %s{k - 1} : f32")
    return [*lines, f"linalg.yield %s{count - 1} : f32"]


def _generic(
    dims: str,
    reads: list[tuple[str, str, str]],
    out: tuple[str, str, str],
    result: str,
    body: list[str],
) -> list[str]:
    """A `linalg.generic` over the parallel `dims` (a comma-separated list) named `result`,
    reading `reads` (value, type, map results) and writing `out` (value, type, map results)."""
    rank = len(dims.split(","))
    maps = [f"affine_map<({dims}) -> ({m})>" for _, _, m in [*reads, out]]
    args = ", ".join([f"%a{i}: f32" for i in range(len(reads))] + ["%out: f32"])
    iterators = ", ".join(['"parallel"'] * rank)
    values = ", ".join(v for v, _, _ in reads)
    types = ", ".join(t for _, t, _ in reads)
    return [
        f"{result} = linalg.generic {{indexing_maps = [{', '.join(maps)}], "
        f"iterator_types = [{iterators}]}} ins({values} : {types}) "
        f"outs({out[0]} : {out[1]}) {{",
        f"^bb0({args}):",
        *body,
        f"}} -> {out[1]}",
    ]


def _columns(matrix: str, rows: int, columns: int, name: str) -> list[str]:
    """Lines slicing each column `k` of the `rows` x `columns` matrix, passed transposed as
    `%{matrix}` (`columns` x `rows`), into `%{name}k`: a vector the generics read as a
    broadcast along every dim but the one it varies on."""
    t = f"tensor<{columns}x{rows}xf32>"
    return [
        f"%{name}{k} = tensor.extract_slice %{matrix}[{k}, 0] [1, {rows}] [1, 1] : "
        f"{t} to tensor<{rows}xf32>"
        for k in range(columns)
    ]


def _strided(
    value: str,
    t: str,
    offsets: list[int],
    sizes: list[int],
    strides: list[int],
    drop: int | None = None,
) -> tuple[str, str]:
    """A `tensor.extract_slice` of `value` (type `t`) with static offsets, sizes and strides
    (as the right-hand side of an assignment) and its type; dim `drop`, of size 1, is dropped
    from the result."""
    kept = [size for d, size in enumerate(sizes) if d != drop]
    out = f"tensor<{'x'.join(map(str, kept))}xf32>"
    return f"tensor.extract_slice {value}{offsets} {sizes} {strides} : {t} to {out}", out


def _stage(
    source: str,
    t: str,
    taps: list[tuple[list[int], list[int], list[int], int | None]],
    maps: tuple[str, str],
    coefficients: tuple[str, str, str],
    out: tuple[str, str],
    result: str,
) -> list[str]:
    """One stage of a transform, named `result`: for each tap `k`, a strided slice of
    `source` (type `t`; `taps[k]` is its offsets, sizes, strides and dropped dim), then a
    generic over parallel dims writing `sum_k c_k * slice_k` into a new tensor of
    `out`'s type and map, where `c_k` is the `k`-th of the vectors `coefficients` names
    (prefix, type, the dim it varies on). `maps` is the generic's dims and the slices' map
    results."""
    dims, read = maps
    prefix, vector_t, varies = coefficients
    name = result[1:]
    lines, reads = [], []
    for k, (offsets, sizes, strides, drop) in enumerate(taps):
        rhs, slice_t = _strided(source, t, offsets, sizes, strides, drop)
        lines.append(f"%{name}_tap{k} = {rhs}")
        reads.append((f"%{name}_tap{k}", slice_t, read))
    lines.append(f"%{name}_empty = tensor.empty() : {out[0]}")
    return lines + _generic(
        dims,
        reads + [(f"{prefix}{k}", vector_t, varies) for k in range(len(taps))],
        (f"%{name}_empty", out[0], out[1]),
        result,
        _taps(len(taps)),
    )


def winograd_function(c: int, oh: int, ow: int, mo: int, m: int) -> str:
    """The function `@conv(%x, %u, %b, %a, %init)` computing a 3x3 stride-1 NHWC
    convolution (batch 1, float32) of the map `%x` (`[1, oh + 2, ow + 2, c]`, padded as the
    convolution reads it) into `[1, oh, ow, mo]` (see the module docstring), as MLIR text for
    `inline_function`. `%u` is the transformed filter `[n*n, c, mo]`, `%b` and `%a` are
    `winograd_matrices(m)`'s `BT` and `AT` transposed.

    Every generic reads its operands through projected permutations (strided slices pick a
    tile's rows and columns, one slice per tap), which IREE vectorizes along the channels;
    maps such as `(a, w, c) -> (a * m + k, w, c)` left it scalar."""
    n = m + 2
    x_type = f"tensor<1x{oh + 2}x{ow + 2}x{c}xf32>"
    y_type = f"tensor<1x{oh}x{ow}x{mo}xf32>"
    th, tw = math.ceil(oh / m), math.ceil(ow / m)
    hp, wp, hm, wm = m * th + 2, m * tw + 2, m * th, m * tw
    t = f"tensor<{hp}x{wp}x{c}xf32>"
    lines = [
        "module {",
        f"util.func private @conv(%x: {x_type}, %u: tensor<{n * n}x{c}x{mo}xf32>, "
        f"%b: tensor<{n}x{n}xf32>, %a: tensor<{n}x{m}xf32>, %init: {y_type}) -> {y_type} {{",
        "%zero = arith.constant 0.0 : f32",
        f"%x4 = tensor.pad %x low[0, 0, 0, 0] high[0, {hm - oh}, {wm - ow}, 0] {{",
        "^bb0(%p0: index, %p1: index, %p2: index, %p3: index):",
        "%pad = arith.constant 0.0 : f32",
        "tensor.yield %pad : f32",
        f"}} : {x_type} to tensor<1x{hp}x{wp}x{c}xf32>",
        f"%xp = tensor.collapse_shape %x4 [[0, 1], [2], [3]] : tensor<1x{hp}x{wp}x{c}xf32> "
        f"into {t}",
        *_columns("b", n, n, "bt"),
        *_columns("a", m, n, "at"),
    ]
    bt_t, at_t = f"tensor<{n}xf32>", f"tensor<{m}xf32>"
    # Rows: V1[i, a, w, c] = sum_k BT[i, k] * x[m*a + k, w, c].
    v1 = f"tensor<{n}x{th}x{wp}x{c}xf32>"
    taps = [([k, 0, 0], [th, wp, c], [m, 1, 1], None) for k in range(n)]
    read = ("i, a, w, ch", "a, w, ch")
    lines += _stage("%xp", t, taps, read, ("%bt", bt_t, "i"), (v1, "i, a, w, ch"), "%v1")
    # Columns: V[i, j, a, b, c] = sum_l BT[j, l] * V1[i, a, m*b + l, c].
    v2 = f"tensor<{n}x{n}x{th}x{tw}x{c}xf32>"
    taps = [([0, 0, k, 0], [n, th, tw, c], [1, 1, m, 1], None) for k in range(n)]
    read = ("i, j, a, b, ch", "i, a, b, ch")
    lines += _stage("%v1", v1, taps, read, ("%bt", bt_t, "j"), (v2, "i, j, a, b, ch"), "%v")
    vm = f"tensor<{n * n}x{th * tw}x{c}xf32>"
    ut = f"tensor<{n * n}x{c}x{mo}xf32>"
    mm = f"tensor<{n * n}x{th * tw}x{mo}xf32>"
    m5 = f"tensor<{n}x{n}x{th}x{tw}x{mo}xf32>"
    lines += [
        f"%vm = tensor.collapse_shape %v [[0, 1], [2, 3], [4]] : {v2} into {vm}",
        f"%e3 = tensor.empty() : {mm}",
        f"%fill = linalg.fill ins(%zero : f32) outs(%e3 : {mm}) -> {mm}",
        f"%mm = linalg.batch_matmul ins(%vm, %u : {vm}, {ut}) outs(%fill : {mm}) -> {mm}",
        f"%m5 = tensor.expand_shape %mm [[0, 1], [2, 3], [4]] output_shape "
        f"[{n}, {n}, {th}, {tw}, {mo}] : {mm} into {m5}",
    ]
    # Output rows: O1[p, j, a, b, f] = sum_i AT[p, i] * M[i, j, a, b, f].
    o1 = f"tensor<{m}x{n}x{th}x{tw}x{mo}xf32>"
    taps = [([k, 0, 0, 0, 0], [1, n, th, tw, mo], [1] * 5, 0) for k in range(n)]
    read = ("p, j, a, b, f", "j, a, b, f")
    lines += _stage("%m5", m5, taps, read, ("%at", at_t, "p"), (o1, "p, j, a, b, f"), "%o1")
    # Output columns: Y[a, p, b, q, f] = sum_j AT[q, j] * O1[p, j, a, b, f], whose rows
    # (a, p) and columns (b, q) collapse to the map, cropped and added to the init.
    y6 = f"tensor<{th}x{m}x{tw}x{m}x{mo}xf32>"
    y3 = f"tensor<{hm}x{wm}x{mo}xf32>"
    taps = [([0, k, 0, 0, 0], [m, 1, th, tw, mo], [1] * 5, 1) for k in range(n)]
    read = ("a, p, b, q, f", "p, a, b, f")
    lines += _stage("%o1", o1, taps, read, ("%at", at_t, "q"), (y6, "a, p, b, q, f"), "%y6")
    lines.append(f"%y3 = tensor.collapse_shape %y6 [[0, 1], [2, 3], [4]] : {y6} into {y3}")
    cropped, y = f"tensor<{oh}x{ow}x{mo}xf32>", "%y3"
    if (hm, wm) != (oh, ow):
        lines.append(
            f"%yc = tensor.extract_slice %y3[0, 0, 0] [{oh}, {ow}, {mo}] [1, 1, 1] : "
            f"{y3} to {cropped}"
        )
        y = "%yc"
    lines.append(
        f"%y4 = tensor.expand_shape {y} [[0, 1], [2], [3]] output_shape [1, {oh}, {ow}, {mo}] "
        f": {cropped} into {y_type}"
    )
    lines += _generic(
        "z, h, w, f",
        [("%y4", y_type, "z, h, w, f")],
        ("%init", y_type, "z, h, w, f"),
        "%y",
        ["%t = arith.addf %a0, %out : f32", "linalg.yield %t : f32"],
    )
    lines += [f"util.return %y : {y_type}", "}", "}"]
    return "\n".join(lines)


def winograd_convs(
    module: ir.Module, *, m: int = 4, min_pixels: int = 196, max_filter_bytes: int = 16 << 20
) -> int:
    """Rewrites large stride-1 3x3 convolutions with constant filters as Winograd F(`m`, 3)
    (see the module docstring); returns how many it rewrote.

    Raises:
      ValueError: `m` is not one of `POINTS`, or `min_pixels` or `max_filter_bytes` is below 1.
    """
    if m not in POINTS:
        raise ValueError(f"winograd_convs: m must be one of {sorted(POINTS)}, got {m!r}")
    for name, value in (("min_pixels", min_pixels), ("max_filter_bytes", max_filter_bytes)):
        if value < 1:
            raise ValueError(f"winograd_convs: {name} must be at least 1, got {value!r}")
    at, g, bt = winograd_matrices(m)
    n = m + 2

    def rewrite(op: ir.Operation) -> bool:
        if "compilation_info" in op.attributes or len(inputs(op)) != 2 or conv_stride(op) != 1:
            return False
        x, f = inputs(op)
        init = outputs(op)[0]
        kh, kw, c, mo = shape(f)
        _, oh, ow, _ = shape(init)
        if (
            shape(x) != (1, oh + 2, ow + 2, c)
            or (kh, kw) != (3, 3)
            or oh * ow < min_pixels
            or n * n * c * mo * 4 > max_filter_bytes
            or {element_type(x), element_type(f), element_type(init)} != {"f32"}
        ):
            return False
        weights = evaluate_constant(f)
        if weights is None:
            return False
        u = np.einsum("ik,klcf,jl->ijcf", g, weights.astype(np.float64), g)
        ip = ir.InsertionPoint(op)
        constants = [
            new_constant(u.reshape(n * n, c, mo), ip),
            new_constant(bt.T, ip),
            new_constant(at.T, ip),
        ]
        text = winograd_function(c, oh, ow, mo, m)
        result = inline_function(text, [x, *constants, init], ip)
        op.results[0].replace_all_uses_with(result)
        return True

    return rewrite_each(module, ("linalg.conv_2d_nhwc_hwcf",), rewrite)


if __name__ == "__main__":
    run_pass_main(winograd_convs, __doc__.splitlines()[0])
