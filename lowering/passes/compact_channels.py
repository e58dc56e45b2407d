"""Structured compaction: drop output channels whose weights are all zero, and the matching
input channels of the layers that consume them, so a filter-pruned model becomes a smaller
dense one.

Precondition: input-phase linalg IR (`iree-compile --compile-to=input`). A producer is a
`linalg.conv_2d_nhwc_hwcf`, `linalg.matmul` or `linalg.vecmat` with constant weights (channel
last) and a zero-filled init.

A channel is removed only when it is provably zero wherever it is read: its weights are all zero
and every op between the producer and its consumers maps zero to zero in that channel (bias 0,
ReLU; a pruned filter whose bias survives is a non-zero constant and is kept). The ops allowed in
between are elementwise generics whose other operands are per-channel constants, `tensor.pad`
that does not pad channels, and `linalg.pooling_nhwc_max`/`_sum`. Consumers are
`linalg.conv_2d_nhwc_hwcf` (input channels sliced from its weights), `linalg.matmul` /
`linalg.vecmat` (weight rows sliced) and, after a
`tensor.collapse_shape` that flattens NHWC with channels innermost, `linalg.vecmat` /
`linalg.matmul` (weight rows sliced). Anything else on the way -- a residual add, a
concatenation, a depthwise convolution, a function result -- leaves that producer unchanged:
removing its channels there would need the other operand compacted too, which this pass does not
attempt.

Postcondition: producers and consumers have smaller static shapes, the intermediate ops are
retyped to match, per-channel constants are sliced, dead ops are erased. Results are unchanged
up to float rounding.
"""

import re
from collections.abc import Callable

import numpy as np
from iree.compiler import ir

from lowering.passes._linalg import (
    affine_maps,
    constant_array,
    defining_op,
    evaluate_constant,
    inputs,
    interpret_body,
    is_parallel,
    new_constant,
    outputs,
    rewrite_each,
    run_pass_main,
    shape,
    single_user,
)

__all__ = ["compact_channels"]

PRODUCERS = ("linalg.conv_2d_nhwc_hwcf", "linalg.matmul", "linalg.vecmat")
_POOLS = ("linalg.pooling_nhwc_max", "linalg.pooling_nhwc_sum")

Edit = Callable[[], None]


class _Skip(Exception):
    """This producer's channels cannot be removed safely."""


def _tensor_type(dims: tuple[int, ...] | list[int]) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(dims), ir.F32Type.get())


def _with_channels(value: ir.Value, channels: int) -> ir.RankedTensorType:
    return _tensor_type([*shape(value)[:-1], channels])


def _constant_weights(op: ir.Operation) -> np.ndarray:
    defining = defining_op(inputs(op)[1])
    weights = None if defining is None else constant_array(defining)
    if weights is None:
        raise _Skip(f"{op.name} weights are not constant")
    return weights


def _retype_init(op: ir.Operation, channels: int, edits: list[Edit]) -> None:
    """Retypes a zero- or constant-filled `tensor.empty` init used only by `op`."""
    init = outputs(op)[0]
    chain = []
    value = init
    while True:
        defining = defining_op(value)
        if defining is None or defining.name not in ("linalg.fill", "tensor.empty"):
            raise _Skip(f"{op.name} init is not a fill of tensor.empty")
        if single_user(value) is None:
            raise _Skip(f"{op.name} init is shared")
        chain.append(value)
        if defining.name == "tensor.empty":
            break
        value = outputs(defining)[0]
    for v in chain:
        new_type = _with_channels(v, channels)
        edits.append(lambda v=v, t=new_type: v.set_type(t))


def _per_channel(op: ir.Operation, index: int) -> np.ndarray:
    array = evaluate_constant(inputs(op)[index])
    if array is None:
        raise _Skip("an elementwise operand is not constant")
    out_shape = shape(op.results[0])
    dims = affine_maps(op)[index][1]
    full = np.broadcast_to(
        array.reshape([out_shape[d] if d in dims else 1 for d in range(len(out_shape))]),
        out_shape,
    ).reshape(-1, out_shape[-1])
    if np.any(full != full[0]):
        raise _Skip("an elementwise operand varies within a channel")
    return full[0]


def _elementwise(
    op: ir.Operation, value: ir.Value, dead_values: np.ndarray, keep: np.ndarray, edits: list[Edit]
) -> np.ndarray:
    """Plans the compaction of an elementwise generic; returns its dead-channel values."""
    maps = affine_maps(op)
    rank = len(shape(op.results[0]))
    identity = list(range(rank))
    ins = inputs(op)
    if not is_parallel(op) or maps is None or maps[-1][1] != identity or len(op.results) != 1:
        raise _Skip("not an elementwise generic")
    chain = [i for i, v in enumerate(ins) if v == value]
    if len(chain) != 1 or maps[chain[0]][1] != identity:
        raise _Skip("an elementwise op reads the channels twice or permuted")
    args = []
    new_maps = list(op.attributes["indexing_maps"])
    dims = ", ".join(f"d{i}" for i in range(rank))
    channel_map = ir.AffineMapAttr(ir.Attribute.parse(f"affine_map<({dims}) -> (d{rank - 1})>"))
    for i in range(len(ins)):
        if i == chain[0]:
            args.append(dead_values)
            continue
        vector = _per_channel(op, i)
        args.append(vector)
        new_maps[i] = channel_map
        edits.append(
            lambda i=i, v=vector[keep]: op.operands.__setitem__(
                i, new_constant(v, ir.InsertionPoint(op))
            )
        )
    block = op.regions[0].blocks[0]
    result = interpret_body(block, [*args, np.zeros_like(dead_values)])
    if result is None:
        raise _Skip("an elementwise body this pass cannot evaluate")
    edits.append(lambda: op.attributes.__setitem__("indexing_maps", ir.ArrayAttr.get(new_maps)))
    _retype_init(op, int(keep.sum()), edits)
    new_type = _with_channels(op.results[0], int(keep.sum()))
    edits.append(lambda: op.results[0].set_type(new_type))
    return np.broadcast_to(result, dead_values.shape)


def _last_entry(op: ir.Operation, name: str) -> int:
    """The last entry of a dense i64 array attribute such as `tensor.pad`'s `static_high`."""
    return int(re.findall(r"-?\d+", str(op.attributes[name]))[-1])


def _consume(value: ir.Value, dead_values: np.ndarray, keep: np.ndarray, edits: list[Edit]) -> None:
    """Plans the compaction of every use of `value` (channels last), recursively."""
    kept = int(keep.sum())
    if np.any(dead_values[~keep] != 0):
        raise _Skip("a removed channel is not zero after the producer's epilogue")
    for use in value.uses:
        op = use.owner.operation
        if op.name == "linalg.generic":
            dead_after = _elementwise(op, value, dead_values, keep, edits)
            _consume(op.results[0], dead_after, keep, edits)
        elif op.name == "tensor.pad":
            if _last_entry(op, "static_low") != 0 or _last_entry(op, "static_high") != 0:
                raise _Skip("tensor.pad pads channels")
            new_type = _with_channels(op.results[0], kept)
            edits.append(lambda op=op, t=new_type: op.results[0].set_type(t))
            _consume(op.results[0], dead_values, keep, edits)
        elif op.name in _POOLS and use.operand_number == 0:
            _retype_init(op, kept, edits)
            new_type = _with_channels(op.results[0], kept)
            edits.append(lambda op=op, t=new_type: op.results[0].set_type(t))
            _consume(op.results[0], dead_values, keep, edits)
        elif op.name == "linalg.conv_2d_nhwc_hwcf" and use.operand_number == 0:
            weights = _constant_weights(op)
            edits.append(
                lambda op=op, w=weights[:, :, keep, :]: op.operands.__setitem__(
                    1, new_constant(w, ir.InsertionPoint(op))
                )
            )
        elif op.name in ("linalg.matmul", "linalg.vecmat") and use.operand_number == 0:
            weights = _constant_weights(op)
            edits.append(
                lambda op=op, w=weights[keep]: op.operands.__setitem__(
                    1, new_constant(w, ir.InsertionPoint(op))
                )
            )
        elif op.name == "tensor.collapse_shape":
            _flatten(op, value, keep, edits)
        else:
            raise _Skip(f"channels reach {op.name}")


def _flatten(op: ir.Operation, value: ir.Value, keep: np.ndarray, edits: list[Edit]) -> None:
    """Plans a flatten of NHWC (channels innermost) into a vecmat/matmul's reduction axis."""
    in_shape, out_shape = shape(value), shape(op.results[0])
    if len(in_shape) != 4 or out_shape[-1] != int(np.prod(in_shape[1:])) or in_shape[0] != 1:
        raise _Skip("a reshape that does not flatten H, W and C of a batch-1 tensor")
    flat_keep = np.tile(keep, in_shape[1] * in_shape[2])
    new_type = _tensor_type([*out_shape[:-1], int(flat_keep.sum())])
    edits.append(lambda: op.results[0].set_type(new_type))
    for use in op.results[0].uses:
        consumer = use.owner.operation
        if consumer.name not in ("linalg.vecmat", "linalg.matmul") or use.operand_number != 0:
            raise _Skip(f"flattened channels reach {consumer.name}")
        weights = _constant_weights(consumer)
        edits.append(
            lambda c=consumer, w=weights[flat_keep]: c.operands.__setitem__(
                1, new_constant(w, ir.InsertionPoint(c))
            )
        )


def _compact_one(producer: ir.Operation) -> bool:
    try:
        weights = _constant_weights(producer)
    except _Skip:
        return False
    keep = np.any(weights.reshape(-1, weights.shape[-1]) != 0, axis=0)
    if keep.all() or not keep.any():
        return False
    edits: list[Edit] = []
    try:
        _retype_init(producer, int(keep.sum()), edits)
        _consume(producer.results[0], np.zeros(keep.shape, np.float32), keep, edits)
    except _Skip:
        return False
    producer.operands[1] = new_constant(weights[..., keep], ir.InsertionPoint(producer))
    producer.results[0].set_type(_with_channels(producer.results[0], int(keep.sum())))
    for edit in edits:
        edit()
    return True


def compact_channels(module: ir.Module) -> int:
    """Removes all-zero output channels and the input channels that read them.

    Args:
      module: input-phase linalg IR, rewritten in place (see the module docstring).

    Returns:
      How many producers were compacted.
    """
    return rewrite_each(module, PRODUCERS, _compact_one)


if __name__ == "__main__":
    run_pass_main(compact_channels, __doc__.splitlines()[0])
