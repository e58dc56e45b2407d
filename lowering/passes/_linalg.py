"""Helpers shared by the passes: reading linalg IR and evaluating its constant parts in numpy.

The input-phase IR that `iree-compile --compile-to=input` makes from JAX has one
`linalg.generic` per StableHLO op: broadcasts of per-channel vectors, elementwise arithmetic with
a one-op body, and small generics computing BN scales from constants (`rsqrt(var + eps) * g`).
`evaluate_constant` interprets exactly that kind of generic; anything else is "not constant".
"""

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from iree.compiler import ir
from iree.compiler.dialects import arith

_MAP = re.compile(r"affine_map<\(([^)]*)\) -> \(([^)]*)\)>")
_DIM = re.compile(r"d(\d+)")

_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "arith.addf": np.add,
    "arith.subf": np.subtract,
    "arith.mulf": np.multiply,
    "arith.divf": np.divide,
    "arith.maximumf": np.maximum,
    "arith.minimumf": np.minimum,
}
_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "arith.negf": np.negative,
    "math.rsqrt": lambda x: 1 / np.sqrt(x),
    "math.sqrt": np.sqrt,
    "math.exp": np.exp,
    "math.absf": np.abs,
}
_PURE_DIALECTS = ("arith.", "math.", "tensor.", "linalg.")
# The sparse kernels' dispatches (`sparse_dispatch`) write their result only; in input-phase
# IR they are the only dispatches there are.
_PURE_OPS = ("flow.dispatch.workgroups",)


def functions(module: ir.Module) -> Iterator[ir.Operation]:
    """The module's function ops (`util.func` or `func.func`); every pass starts here.

    Raises:
      TypeError: `module` is not a parsed `ir.Module` (MLIR text, say).
    """
    if not isinstance(module, ir.Module):
        raise TypeError(
            f"module must be an iree.compiler.ir.Module, got {type(module).__name__}; run "
            "passes on MLIR text with lowering.apply_passes"
        )
    for op in module.body.operations:
        if op.operation.name in ("util.func", "func.func"):
            yield op.operation


def body_ops(function: ir.Operation) -> list[ir.Operation]:
    """The ops of a function's single block, in order."""
    return [op.operation for op in function.regions[0].blocks[0].operations]


def defining_op(value: ir.Value) -> ir.Operation | None:
    """The op producing `value`, or `None` for a block argument."""
    owner = value.owner
    return None if isinstance(owner, ir.Block) else owner.operation


def users(value: ir.Value) -> list[ir.Operation]:
    """The ops using `value` (one entry per use)."""
    return [use.owner.operation for use in value.uses]


def single_user(value: ir.Value) -> ir.Operation | None:
    """The only op using `value`, or `None` if it has zero or several uses."""
    found = users(value)
    return found[0] if len(found) == 1 else None


def _parse_maps(op: ir.Operation) -> list[tuple[int, list[int | None]]] | None:
    """A generic's indexing maps as (number of loop dims, result dims), `None` standing for a
    constant 0 result; `None` if a map has any other kind of result."""
    maps = []
    for attr in op.attributes["indexing_maps"]:
        match = _MAP.fullmatch(str(attr))
        if match is None:
            return None
        dims = [d.strip() for d in match.group(1).split(",") if d.strip()]
        results = [r.strip() for r in match.group(2).split(",") if r.strip()]
        if any(r != "0" and _DIM.fullmatch(r) is None for r in results):
            return None
        maps.append((len(dims), [None if r == "0" else int(r[1:]) for r in results]))
    return maps


def affine_maps(op: ir.Operation) -> list[tuple[int, list[int]]] | None:
    """A generic's indexing maps as (number of loop dims, result dim positions), or `None` if a
    map has a result that is not a plain dimension."""
    maps = _parse_maps(op)
    if maps is None or any(d is None for _, results in maps for d in results):
        return None
    return [(n, [int(d) for d in results if d is not None]) for n, results in maps]


def broadcast_maps(op: ir.Operation) -> list[list[int | None]] | None:
    """A generic's indexing maps as result dims, where `None` stands for a constant 0 result
    (JAX broadcasts a `[1, 1, 1, C]` constant with `(d0, d1, d2, d3) -> (d0, 0, 0, d3)`), or
    `None` if a map has any other kind of result."""
    maps = _parse_maps(op)
    return None if maps is None else [results for _, results in maps]


def is_parallel(op: ir.Operation) -> bool:
    """Whether a generic's loops are all parallel."""
    return all("parallel" in str(a) for a in op.attributes["iterator_types"])


def transpose_permutation(op: ir.Operation | None) -> list[int] | None:
    """The input map's dims of a generic that only copies its input (a transpose), else None.

    `out[d] = in[d[p[0]], d[p[1]], ...]` for the returned `p`: input dim `i` lands in output dim
    `p[i]` (`[0, 2, 3, 1]` takes NHWC to NCHW, `[0, 3, 1, 2]` NCHW to NHWC).
    """
    if op is None or op.name != "linalg.generic" or not is_parallel(op):
        return None
    if len(inputs(op)) != 1 or len(op.results) != 1:
        return None
    block = op.regions[0].blocks[0]
    ops = [o.operation for o in block.operations]
    if len(ops) != 1 or ops[0].name != "linalg.yield" or ops[0].operands[0] != block.arguments[0]:
        return None
    maps = affine_maps(op)
    rank = len(shape(op.results[0]))
    if maps is None or maps[1][1] != list(range(rank)) or sorted(maps[0][1]) != list(range(rank)):
        return None
    return maps[0][1]


def inputs(op: ir.Operation) -> list[ir.Value]:
    """A structured linalg op's `ins` operands."""
    return list(op.opview.inputs)


def outputs(op: ir.Operation) -> list[ir.Value]:
    """A structured linalg op's `outs` operands."""
    return list(op.opview.outputs)


def shape(value: ir.Value) -> tuple[int, ...]:
    """A ranked tensor value's static shape."""
    return tuple(ir.RankedTensorType(value.type).shape)


def element_type(value: ir.Value) -> str:
    """A ranked tensor value's element type, as MLIR text (e.g. `f32`)."""
    return str(ir.RankedTensorType(value.type).element_type)


def conv_matmul_function(
    x: ir.Value, f: ir.Value, init: ir.Value, lhs: Sequence[str], compilation_info: str = ""
) -> str:
    """A function `@conv(%x, %f, %init)` computing an NHWC convolution `init + x * f` (batch 1,
    filter `[KH, KW, C, M]`) as one `linalg.matmul`, as MLIR text for `inline_function`.

    `lhs` are the lines making `%lhs` from `%x`: the `[OH*OW, KH*KW*C]` matrix of each output
    pixel's window (channels fastest, then window columns, then rows, the filter's order).
    The filter and `init` are collapsed to `[KH*KW*C, M]` and `[OH*OW, M]`, the product is
    added to `init` and expanded back; `compilation_info` (MLIR text) goes on the matmul.
    Element types are the operands' own.
    """
    kh, kw, c, m = shape(f)
    _, oh, ow, _ = shape(init)
    p, k = oh * ow, kh * kw * c
    xt, ft, yt = str(x.type), str(f.type), str(init.type)
    lhs_t = f"tensor<{p}x{k}x{element_type(x)}>"
    f_t = f"tensor<{k}x{m}x{element_type(f)}>"
    y_t = f"tensor<{p}x{m}x{element_type(init)}>"
    info = f" {{compilation_info = {compilation_info}}}" if compilation_info else ""
    return "\n".join(
        [
            "module {",
            f"util.func private @conv(%x: {xt}, %f: {ft}, %init: {yt}) -> {yt} {{",
            *lhs,
            f"%fm = tensor.collapse_shape %f [[0, 1, 2], [3]] : {ft} into {f_t}",
            f"%im = tensor.collapse_shape %init [[0, 1, 2], [3]] : {yt} into {y_t}",
            f"%ym = linalg.matmul{info} ins(%lhs, %fm : {lhs_t}, {f_t}) outs(%im : {y_t}) -> {y_t}",
            f"%y = tensor.expand_shape %ym [[0, 1, 2], [3]] output_shape [1, {oh}, {ow}, {m}] : "
            f"{y_t} into {yt}",
            f"util.return %y : {yt}",
            "}",
            "}",
        ]
    )


def replace_conv_by_matmul(
    op: ir.Operation, lhs: Sequence[str], compilation_info: str = ""
) -> None:
    """Replaces a batch-1 NHWC convolution `op` by `conv_matmul_function`'s matmul, inlined
    before it (`lhs` makes `%lhs` from `%x`, see there); `op` is left dead."""
    x, f = inputs(op)
    init = outputs(op)[0]
    result = inline_function(
        conv_matmul_function(x, f, init, lhs, compilation_info), [x, f, init], ir.InsertionPoint(op)
    )
    op.results[0].replace_all_uses_with(result)


def constant_array(op: ir.Operation) -> np.ndarray | None:
    """The value of an `arith.constant` as numpy, or `None` for any other op."""
    if op.name != "arith.constant":
        return None
    attr = op.attributes["value"]
    if isinstance(attr, ir.DenseElementsAttr):
        if attr.is_splat:
            splat = attr.get_splat_value()
            return np.full(shape(op.results[0]), float(ir.FloatAttr(splat).value), np.float32)
        return np.array(attr)
    if isinstance(attr, ir.FloatAttr):
        return np.asarray(attr.value, np.float32)
    return None


def evaluate_constant(value: ir.Value) -> np.ndarray | None:
    """Evaluates `value` in numpy if it depends only on constants through elementwise generics
    (broadcasts and transposes among them) and reshapes.

    Returns:
      The value as a float32 array of its full shape, or `None` if it is not such a constant.
    """
    op = defining_op(value)
    if op is None:
        return None
    if op.name == "arith.constant":
        return constant_array(op)
    if op.name in ("tensor.expand_shape", "tensor.collapse_shape"):
        array = evaluate_constant(op.operands[0])
        return None if array is None else array.reshape(shape(op.results[0]))
    if op.name != "linalg.generic" or not is_parallel(op) or len(op.results) != 1:
        return None
    maps = broadcast_maps(op)
    out_shape = shape(op.results[0])
    if maps is None or maps[-1] != list(range(len(out_shape))):
        return None
    args = []
    for operand, results in zip(inputs(op), maps, strict=False):
        array = evaluate_constant(operand)
        if array is None:
            return None
        # A constant 0 result reads the only element of a unit dim: drop that dim.
        if any(array.shape[i] != 1 for i, d in enumerate(results) if d is None):
            return None
        array = array.reshape(
            [n for n, d in zip(array.shape, results, strict=True) if d is not None]
        )
        dims = [d for d in results if d is not None]
        # Operand axis i is loop dim dims[i]: order the axes by loop dim (a transpose).
        array = np.transpose(array, np.argsort(dims))
        dims = sorted(dims)
        expanded = array.reshape([out_shape[d] if d in dims else 1 for d in range(len(out_shape))])
        args.append(np.broadcast_to(expanded, out_shape))
    block = op.regions[0].blocks[0]
    result = interpret_body(block, args)
    if result is None:
        return None
    # A body that yields a constant from outside (a fill) gives a scalar: broadcast it.
    return np.array(np.broadcast_to(np.asarray(result, np.float32), out_shape))


def interpret_body(block: ir.Block, args: list[np.ndarray]) -> np.ndarray | None:
    """Interprets an elementwise generic body on arrays bound to its input block arguments.

    Values defined outside the body must be constants. Returns `None` for any unknown op.
    """
    env: dict[ir.Value, np.ndarray] = dict(zip(block.arguments, args, strict=False))

    def lookup(v: ir.Value) -> np.ndarray | None:
        if v in env:
            return env[v]
        return evaluate_constant(v)

    for body_op in block.operations:
        op = body_op.operation
        operands = [lookup(v) for v in op.operands]
        if any(o is None for o in operands):
            return None
        if op.name == "linalg.yield":
            return operands[0]
        if op.name in _BINARY and len(operands) == 2:
            env[op.results[0]] = _BINARY[op.name](operands[0], operands[1])
        elif op.name in _UNARY and len(operands) == 1:
            env[op.results[0]] = _UNARY[op.name](operands[0])
        elif op.name == "arith.constant":
            env[op.results[0]] = constant_array(op)
        else:
            return None
    return None


def new_constant(array: np.ndarray, ip: ir.InsertionPoint) -> ir.Value:
    """Creates an `arith.constant` holding `array` at `ip`: int32 stays i32, anything else f32."""
    if array.dtype == np.int32:
        array, element = np.ascontiguousarray(array), ir.IntegerType.get_signless(32)
    else:
        array, element = np.ascontiguousarray(array, np.float32), ir.F32Type.get()
    tensor_type = ir.RankedTensorType.get(list(array.shape), element)
    attr = ir.DenseElementsAttr.get(array, type=tensor_type)
    return arith.ConstantOp(tensor_type, attr, ip=ip).result


def largest_dividing_multiple(total: int, unit: int, limit: int) -> int:
    """The largest multiple of `unit`, up to `limit` (at least `unit` itself), that divides
    `total`, a multiple of `unit`: a CPU tile that leaves no partial last tile, whose loads
    IREE would mask (slow on AVX2, absent on NEON)."""
    n = total // unit
    return unit * max(k for k in range(1, max(1, limit // unit) + 1) if n % k == 0)


def cpu_compilation_info(
    distribution: Sequence[int],
    vector_common_parallel: Sequence[int],
    vector_reduction: Sequence[int] | None = None,
    pipeline: str = "DoubleTilingExpert",
) -> str:
    """The `#iree_codegen.compilation_info` of an op's CPU tiles in one of IREE's CPU
    pipelines (DoubleTilingExpert for matmuls, ConvTileAndDecomposeExpert for direct
    convolutions), as MLIR text."""
    config = (
        f"distribution = {list(distribution)}, "
        f"vector_common_parallel = {list(vector_common_parallel)}"
    )
    if vector_reduction is not None:
        config += f", vector_reduction = {list(vector_reduction)}"
    return (
        "#iree_codegen.compilation_info<lowering_config = #iree_cpu.lowering_config<"
        f"{config}>, translation_info = "
        f"#iree_codegen.translation_info<pipeline = #iree_cpu.pipeline<{pipeline}>>>"
    )


def conv_stride(op: ir.Operation) -> int | None:
    """A convolution's stride if it is the same in both directions and undilated, else None
    (an absent `strides` or `dilations` attribute is all ones, as linalg defines it)."""

    def ints(name: str) -> list[int]:
        return [int(v) for v in np.array(op.attributes[name])] if name in op.attributes else []

    strides, dilations = ints("strides") or [1, 1], ints("dilations") or [1, 1]
    return strides[0] if strides[0] == strides[1] and dilations == [1, 1] else None


def inline_function(text: str, arguments: Sequence[ir.Value], ip: ir.InsertionPoint) -> ir.Value:
    """Clones the body of the single function in `text` at `ip`; returns its result.

    Only the top-level operands of the cloned ops are remapped, so generated functions keep
    every region self-contained (a dispatch is isolated from above; pads define their zero).
    """
    kernel = ir.Module.parse(text)
    function = next(iter(kernel.body.operations)).operation
    block = function.regions[0].blocks[0]
    mapping = dict(zip(block.arguments, arguments, strict=True))
    with ip:
        return clone_block(block, mapping, "util.return")


def clone_block(block: ir.Block, mapping: dict, terminator: str) -> ir.Value:
    """Clones `block`'s ops at the current insertion point, its values renamed by `mapping`
    (block arguments to the values they stand for), up to `terminator`; returns the value the
    terminator passes on."""
    for body_op in block.operations:
        op = body_op.operation
        if op.name == terminator:
            return mapping.get(op.operands[0], op.operands[0])
        clone = op.clone()
        for i, operand in enumerate(op.operands):
            if operand in mapping:
                clone.operands[i] = mapping[operand]
        for old, new in zip(op.results, clone.results, strict=True):
            mapping[old] = new
    raise ValueError(f"block without a {terminator}")


def erase_dead_ops(function: ir.Operation) -> int:
    """Erases side-effect-free ops (arith, math, tensor, linalg on tensors, the sparse
    kernels' dispatches) whose results are unused, until none is left; returns how many were
    erased."""
    erased = 0
    changed = True
    while changed:
        changed = False
        for op in reversed(body_ops(function)):
            if (
                (op.name.startswith(_PURE_DIALECTS) or op.name in _PURE_OPS)
                and len(op.results) > 0
                and all(len(users(r)) == 0 for r in op.results)
            ):
                op.erase()
                erased += 1
                changed = True
    return erased


def rewrite_each(
    module: ir.Module, names: Sequence[str], rewrite: Callable[[ir.Operation], bool]
) -> int:
    """Calls `rewrite` on every op named in `names` (at the op's location), then erases what
    became dead; returns how many calls rewrote something."""
    rewritten = 0
    for function in functions(module):
        for op in body_ops(function):
            if op.name in names:
                with op.location:
                    rewritten += rewrite(op)
        erase_dead_ops(function)
    return rewritten


def run_pass_main(pass_fn: Callable[[ir.Module], int], description: str) -> None:
    """The `python -m lowering.passes.<name> in.mlir -o out.mlir` entry point of a pass."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "input", type=Path, help="input-phase MLIR (iree-compile --compile-to=input)"
    )
    parser.add_argument("-o", "--output", type=Path, help="output file; stdout if omitted")
    args = parser.parse_args()
    with ir.Context():
        module = ir.Module.parse(args.input.read_text())
        changed = pass_fn(module)
        text = str(module)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    print(f"{pass_fn.__name__}: {changed} site(s) rewritten", file=sys.stderr)
