"""Fold batch norm into convolution/matmul weights, and fuse bias + activation into one epilogue.

Precondition: input-phase linalg IR (`iree-compile --compile-to=input`) as JAX produces it: a
producer (`linalg.conv_2d_nhwc_hwcf`, `linalg.depthwise_conv_2d_nhwc_hwc`, `linalg.matmul` or
`linalg.vecmat`) with constant weights and a zero-filled init, followed by a chain of one-op
elementwise generics (`addf`, `subf`, `mulf`, `divf`) with per-output-channel constant operands
(JAX's `(y - mean) * rsqrt(var + eps) * gamma + beta`, or `+ bias`), optionally after reshapes
that keep the channel last and transposes that move it (a channel-major model,
`lowering.layout.channels_first`, has its batch norm after the transpose back to NCHW), then
optionally single-input elementwise generics (ReLU, ReLU6).
Each value in the chain has exactly one use.

Postcondition: per producer, the chain `y -> s * y + t` is folded into the weights (`W * s` along
the output channel) and what remains, `act(y + t)`, is one `linalg.generic` reading the
producer's result and a `tensor<C>` bias. A chain that meets anything else (a residual add, a
value used twice, a non-constant operand) ends there; the ops after it are left alone. Dead ops
are erased. Numerics change only by float rounding.

Why: IREE already fuses conv + bias + BN + ReLU into one dispatch on the dense path, so the dense
module gains only the removed multiplies; the folded form is what the sparse kernels need, since
they carry the bias and activation inside the kernel itself.
"""

import numpy as np
from iree.compiler import ir
from iree.compiler.dialects import arith, linalg, tensor

from lowering.passes._linalg import (
    affine_maps,
    clone_block,
    constant_array,
    defining_op,
    evaluate_constant,
    inputs,
    is_parallel,
    new_constant,
    outputs,
    rewrite_each,
    run_pass_main,
    shape,
    single_user,
    transpose_permutation,
)

__all__ = ["fold_batch_norm"]

PRODUCERS = (
    "linalg.conv_2d_nhwc_hwcf",
    "linalg.depthwise_conv_2d_nhwc_hwc",
    "linalg.matmul",
    "linalg.vecmat",
)
_AFFINE = ("arith.addf", "arith.subf", "arith.mulf", "arith.divf")
_RESHAPES = ("tensor.expand_shape", "tensor.collapse_shape")


def _elementwise(op: ir.Operation, n_inputs: int) -> bool:
    if op.name != "linalg.generic" or len(op.results) != 1 or not is_parallel(op):
        return False
    maps = affine_maps(op)
    rank = len(shape(op.results[0]))
    return maps is not None and len(inputs(op)) == n_inputs and maps[-1][1] == list(range(rank))


def _per_channel(op: ir.Operation, index: int, axis: int) -> np.ndarray | None:
    """The `index`-th input of a generic as a vector along `axis`, if it is one."""
    array = evaluate_constant(inputs(op)[index])
    if array is None:
        return None
    out_shape = shape(op.results[0])
    dims = affine_maps(op)[index][1]
    full = np.broadcast_to(
        array.reshape([out_shape[d] if d in dims else 1 for d in range(len(out_shape))]),
        out_shape,
    )
    full = np.moveaxis(full, axis, -1).reshape(-1, out_shape[axis])
    return full[0] if np.all(full == full[0]) else None


def _affine_step(
    op: ir.Operation, chain: ir.Value, axis: int
) -> tuple[str, np.ndarray, bool] | None:
    """(arith op, per-channel constant, chain is the left operand) if `op` is one affine step."""
    if not _elementwise(op, 2):
        return None
    maps = affine_maps(op)
    position = [i for i, v in enumerate(inputs(op)) if v == chain]
    if len(position) != 1 or maps[position[0]][1] != maps[-1][1]:
        return None
    block = op.regions[0].blocks[0]
    ops = [o.operation for o in block.operations]
    if len(ops) != 2 or ops[0].name not in _AFFINE or ops[1].operands[0] != ops[0].results[0]:
        return None
    args = list(block.arguments)
    if list(ops[0].operands) not in ([args[0], args[1]], [args[1], args[0]]):
        return None
    constant = _per_channel(op, 1 - position[0], axis)
    if constant is None:
        return None
    chain_arg = args[position[0]]
    return ops[0].name, constant, ops[0].operands[0] == chain_arg


def _compose(
    s: np.ndarray, t: np.ndarray, step: tuple[str, np.ndarray, bool]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Composes `y -> s*y + t` with one step; `None` if the result is not affine in y."""
    name, c, chain_left = step
    if name == "arith.addf":
        return s, t + c
    if name == "arith.subf":
        return (s, t - c) if chain_left else (-s, c - t)
    if name == "arith.mulf":
        return s * c, t * c
    if name == "arith.divf" and chain_left:
        return s / c, t / c
    return None


def _activation(op: ir.Operation) -> bool:
    """Whether `op` is a single-input elementwise generic whose body only uses its input and
    values from outside (such as the scalar 0 of a ReLU)."""
    if not _elementwise(op, 1):
        return False
    maps = affine_maps(op)
    if maps[0][1] != maps[-1][1]:
        return False
    block = op.regions[0].blocks[0]
    out_arg = block.arguments[1]
    for body_op in block.operations:
        o = body_op.operation
        if not o.name.startswith(("arith.", "math.", "linalg.yield")):
            return False
        if any(v == out_arg for v in o.operands):
            return False
    return True


def _fold_one(producer: ir.Operation) -> bool:
    weight_op = defining_op(inputs(producer)[1])
    weights = None if weight_op is None else constant_array(weight_op)
    init = defining_op(outputs(producer)[0])
    if weights is None or init is None or init.name != "linalg.fill":
        return False
    fill = evaluate_constant(inputs(init)[0])
    if fill is None or np.any(fill != 0):
        return False
    chain = producer.results[0]
    channels = shape(chain)[-1]
    axis = len(shape(chain)) - 1
    user = single_user(chain)
    while user is not None:
        if user.name in _RESHAPES and axis == len(shape(chain)) - 1:
            if shape(user.results[0])[-1] != channels:
                break
            axis = len(shape(user.results[0])) - 1
        elif (permutation := transpose_permutation(user)) is not None:
            axis = permutation[axis]
        else:
            break
        chain = user.results[0]
        user = single_user(chain)
    base = chain
    s = np.ones(channels, np.float32)
    t = np.zeros(channels, np.float32)
    absorbed: list[ir.Operation] = []
    while user is not None and (step := _affine_step(user, chain, axis)) is not None:
        composed = _compose(s, t, step)
        if composed is None:
            break
        s, t = composed
        absorbed.append(user)
        chain = user.results[0]
        user = single_user(chain)
    if not absorbed:
        return False
    activations = []
    while user is not None and _activation(user):
        activations.append(user)
        chain = user.results[0]
        user = single_user(chain)

    if np.any(s != 1):
        scaled = new_constant(weights * s, ir.InsertionPoint(producer))
        producer.operands[1] = scaled
    last = (activations or absorbed)[-1]
    epilogue = _epilogue(base, axis, t, activations, ir.InsertionPoint(last))
    last.results[0].replace_all_uses_with(epilogue)
    return True


def _epilogue(
    base: ir.Value,
    axis: int,
    bias: np.ndarray,
    activations: list[ir.Operation],
    ip: ir.InsertionPoint,
) -> ir.Value:
    """Builds `act(base + bias)`, `bias` along `axis`, as one generic before `ip`; returns its
    result."""
    rank = len(shape(base))
    f32 = ir.F32Type.get()
    bias_value = new_constant(bias, ip)
    empty = tensor.EmptyOp(list(shape(base)), f32, ip=ip).result
    dims = ", ".join(f"d{i}" for i in range(rank))
    identity = ir.Attribute.parse(f"affine_map<({dims}) -> ({dims})>")
    per_channel = ir.Attribute.parse(f"affine_map<({dims}) -> (d{axis})>")
    parallel = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    op = linalg.GenericOp(
        [base.type],
        [base, bias_value],
        [empty],
        ir.ArrayAttr.get([identity, per_channel, identity]),
        ir.ArrayAttr.get([parallel] * rank),
        ip=ip,
    )
    block = op.regions[0].blocks.append(f32, f32, f32)
    with ir.InsertionPoint(block):
        value = arith.AddFOp(block.arguments[0], block.arguments[1]).result
        for activation in activations:
            value = _inline_body(activation.regions[0].blocks[0], value)
        linalg.YieldOp([value])
    return op.results[0]


def _inline_body(block: ir.Block, value: ir.Value) -> ir.Value:
    """Clones an elementwise body at the current insertion point, with its input bound to
    `value`; returns the value it yields."""
    return clone_block(block, {block.arguments[0]: value}, "linalg.yield")


def fold_batch_norm(module: ir.Module) -> int:
    """Folds per-channel affine chains into producer weights and fuses bias + activation.

    Args:
      module: input-phase linalg IR, rewritten in place (see the module docstring).

    Returns:
      How many producers were rewritten.
    """
    return rewrite_each(module, PRODUCERS, _fold_one)


if __name__ == "__main__":
    run_pass_main(fold_batch_norm, __doc__.splitlines()[0])
