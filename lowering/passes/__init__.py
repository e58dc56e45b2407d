"""Our rewrites of the linalg-on-tensors IR between `iree-compile` phases, one per module.

Each pass is a function `(ir.Module) -> int` that rewrites in place and returns how many sites it
changed, and each module runs as `python -m lowering.passes.<name> in.mlir -o out.mlir`.
"""

from lowering.passes.compact_channels import compact_channels as compact_channels
from lowering.passes.fold_batch_norm import fold_batch_norm as fold_batch_norm
from lowering.passes.small_map_matmuls import small_map_matmuls as small_map_matmuls
from lowering.passes.sparse_dispatch import sparse_dispatch as sparse_dispatch

__all__ = ["compact_channels", "fold_batch_norm", "small_map_matmuls", "sparse_dispatch"]
