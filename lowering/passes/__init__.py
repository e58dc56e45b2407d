"""Our rewrites of the linalg-on-tensors IR between `iree-compile` phases, one per module.

Each pass is a function `(ir.Module) -> int` that rewrites in place and returns how many sites it
changed, and each module runs as `python -m lowering.passes.<name> in.mlir -o out.mlir`.
"""

from lowering.passes.compact_channels import compact_channels as compact_channels
from lowering.passes.dense_convs import dense_convs as dense_convs
from lowering.passes.fold_batch_norm import fold_batch_norm as fold_batch_norm
from lowering.passes.small_map_matmuls import small_map_matmuls as small_map_matmuls
from lowering.passes.sparse_dispatch import sparse_dispatch as sparse_dispatch

__all__ = [
    "HOST_DENSE",
    "compact_channels",
    "dense_convs",
    "fold_batch_norm",
    "small_map_matmuls",
    "sparse_dispatch",
]

HOST_DENSE = (small_map_matmuls, dense_convs)
"""Our passes for a dense build on the host CPU, in order. Their tiles were measured on this
x86 machine only (AVX-512), so they are not part of `cadnn compile`'s targets: the benchmarks
apply them to their IREE dense engines."""
