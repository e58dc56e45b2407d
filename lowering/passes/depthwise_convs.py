"""Dense depthwise convolutions for the CPU: odd-width maps computed one column wider.

Precondition: input-phase linalg IR (`iree-compile --compile-to=input`) with NHWC maps, as
the dense build has it.

IREE 3.13 tiles a depthwise convolution (`linalg.depthwise_conv_2d_nhwc_hwc`) on x86 with
vectors of 2 output columns by 8 channels. On a map of odd width the last column tile is
partial, and the whole kernel falls back to scalar code (`vfmadd231ss` in loops over single
channels, with `vmaskmovps` stores): MobileNet-V2's 7x7 depthwise layers (960 channels) took
0.56-0.75 ms each on a Zen 1 EPYC, one thread, against 0.14 ms for the 14x14 ones with 576
channels, 2.4 times the work (session 13, `benchmarks/dispatch_timeline.py --build dense`).
A `compilation_info` cannot fix the tiles: IREE's global optimization generalizes the op and
drops it (FoldUnitExtentDims), and a batch-free `linalg.generic` carrying one left the fused
batch-norm after it without tiles (vectors of the whole map, a compile error).

So this pass computes each batch-1, undilated, equally strided depthwise convolution whose
width is no multiple of `columns` on a map widened to the next multiple (its input and
initial value padded on the right with zeros), and slices the real columns out; IREE's own
tiles then divide the width. After the slice IREE no longer fuses what follows (batch norm,
ReLU6) into the convolution: a second dispatch of 0.09-0.14 ms per layer, still a quarter
of the scalar kernel's time.

Postcondition: no such convolution is left; results are unchanged up to float rounding.
"""

from iree.compiler import ir

from lowering.passes._linalg import (
    conv_stride,
    element_type,
    inline_function,
    inputs,
    outputs,
    rewrite_each,
    run_pass_main,
    shape,
)

__all__ = ["depthwise_convs"]


def _wider(x: ir.Value, f: ir.Value, init: ir.Value, stride: int, extra: int) -> str:
    """A function `@conv(%x, %f, %init)`: the NHWC depthwise convolution `init + x * f` with
    `stride`, computed `extra` columns wider and sliced back, as MLIR text for
    `inline_function` (each pad defines its zero inside, as `inline_function` requires)."""
    xt, ft, yt = str(x.type), str(f.type), str(init.type)
    _, h, w, c = shape(x)
    _, kw, _ = shape(f)
    n, oh, ow, _ = shape(init)
    pad = max(0, (ow + extra - 1) * stride + kw - w)  # zero columns the wider windows need
    xe, ye = element_type(x), element_type(init)
    xw = f"tensor<{n}x{h}x{w + pad}x{c}x{xe}>"
    yw = f"tensor<{n}x{oh}x{ow + extra}x{c}x{ye}>"
    attrs = f"{{dilations = dense<1> : tensor<2xi64>, strides = dense<{stride}> : tensor<2xi64>}}"
    return "\n".join(
        [
            "module {",
            f"util.func private @conv(%x: {xt}, %f: {ft}, %init: {yt}) -> {yt} {{",
            f"%xw = tensor.pad %x low[0, 0, 0, 0] high[0, 0, {pad}, 0] {{",
            "^bb0(%a: index, %b: index, %c: index, %d: index):",
            f"%zx = arith.constant 0.0 : {xe}",
            f"tensor.yield %zx : {xe}",
            f"}} : {xt} to {xw}",
            f"%iw = tensor.pad %init low[0, 0, 0, 0] high[0, 0, {extra}, 0] {{",
            "^bb0(%a: index, %b: index, %c: index, %d: index):",
            f"%zy = arith.constant 0.0 : {ye}",
            f"tensor.yield %zy : {ye}",
            f"}} : {yt} to {yw}",
            f"%yw = linalg.depthwise_conv_2d_nhwc_hwc {attrs} ins(%xw, %f : {xw}, {ft}) "
            f"outs(%iw : {yw}) -> {yw}",
            f"%y = tensor.extract_slice %yw[0, 0, 0, 0] [{n}, {oh}, {ow}, {c}] [1, 1, 1, 1] : "
            f"{yw} to {yt}",
            f"util.return %y : {yt}",
            "}",
            "}",
        ]
    )


def depthwise_convs(module: ir.Module, *, columns: int = 2) -> int:
    """Widens the depthwise convolutions of maps whose width is no multiple of `columns`
    (IREE's vector tile; see the module docstring); returns how many it widened.

    Raises:
      ValueError: `columns` is below 1.
    """
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")

    def rewrite(op: ir.Operation) -> bool:
        stride = conv_stride(op)
        x, f = inputs(op)
        init = outputs(op)[0]
        n, _, ow, _ = shape(init)
        if stride is None or n != 1 or ow % columns == 0:
            return False
        text = _wider(x, f, init, stride, -ow % columns)
        result = inline_function(text, [x, f, init], ir.InsertionPoint(op))
        op.results[0].replace_all_uses_with(result)
        return True

    return rewrite_each(module, ("linalg.depthwise_conv_2d_nhwc_hwc",), rewrite)


if __name__ == "__main__":
    run_pass_main(depthwise_convs, __doc__.splitlines()[0])
