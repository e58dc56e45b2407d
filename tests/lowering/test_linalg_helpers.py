"""lowering.passes._linalg: reading constants through JAX's broadcasts and fills."""

import numpy as np
from iree.compiler import ir

from lowering.passes._linalg import evaluate_constant, functions, largest_dividing_multiple

# A [1, 1, 1, 4] statistic broadcast to [1, 2, 2, 4] with a constant-0 map, as Flax's
# BatchNorm gives it, and a fill-like generic (no inputs, yields an outer scalar) broadcast
# the same way.
SOURCE = """
module {
  util.func public @main() -> (tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) {
    %stat = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0]]]]> : tensor<1x1x1x4xf32>
    %e0 = tensor.empty() : tensor<1x2x2x4xf32>
    %b0 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, 0, 0, d3)>,
        affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>],
        iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%stat : tensor<1x1x1x4xf32>) outs(%e0 : tensor<1x2x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x2x4xf32>
    %cst = arith.constant 0.5 : f32
    %e1 = tensor.empty() : tensor<1x1x1x4xf32>
    %fill = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>],
        iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        outs(%e1 : tensor<1x1x1x4xf32>) {
    ^bb0(%out: f32):
      linalg.yield %cst : f32
    } -> tensor<1x1x1x4xf32>
    %e2 = tensor.empty() : tensor<1x2x2x4xf32>
    %b1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, 0, 0, d3)>,
        affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>],
        iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%fill : tensor<1x1x1x4xf32>) outs(%e2 : tensor<1x2x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x2x4xf32>
    util.return %b0, %b1 : tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>
  }
}
"""


def test_broadcasts_and_fills_evaluate() -> None:
    with ir.Context():
        module = ir.Module.parse(SOURCE)
        (function,) = functions(module)
        ret = list(function.regions[0].blocks[0].operations)[-1]
        stat, fill = (evaluate_constant(v) for v in ret.operands)
    np.testing.assert_array_equal(
        stat, np.broadcast_to(np.arange(1, 5, dtype=np.float32), (1, 2, 2, 4))
    )
    np.testing.assert_array_equal(fill, np.full((1, 2, 2, 4), 0.5, np.float32))


def test_largest_dividing_multiple() -> None:
    assert largest_dividing_multiple(3264, 64, 448) == 192  # 51 vectors: 3 of them
    assert largest_dividing_multiple(1000, 8, 64) == 40
    assert largest_dividing_multiple(1000, 40, 256) == 200
    assert largest_dividing_multiple(832, 64, 448) == 64  # 13 vectors, a prime
    assert largest_dividing_multiple(96, 32, 16) == 32  # the limit below one unit: the unit
    for total in range(8, 2000, 8):
        t = largest_dividing_multiple(total, 8, 100)
        assert total % t == 0 and t % 8 == 0 and t <= 100
        assert not any(total % u == 0 for u in range(t + 8, 101, 8))
