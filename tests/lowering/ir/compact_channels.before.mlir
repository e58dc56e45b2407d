// relu(x @ W1 + b1) @ W2 with W1 = [[1, 0, 2], [3, 0, 4], [5, 0, 6]] (output channel 1 pruned),
// b1 = [0.5, 0, -0.5], W2 = [[1, 2], [3, 4], [5, 6]].
module @jit__lambda {
  util.func public @main(%arg0: tensor<2x3xf32>) -> tensor<2x2xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[[1.000000e+00, 0.000000e+00, 2.000000e+00], [3.000000e+00, 0.000000e+00, 4.000000e+00], [5.000000e+00, 0.000000e+00, 6.000000e+00]]> : tensor<3x3xf32>
    %cst_1 = arith.constant dense<[5.000000e-01, 0.000000e+00, -5.000000e-01]> : tensor<3xf32>
    %cst_2 = arith.constant dense<[[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
    %0 = tensor.empty() : tensor<2x3xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<2x3xf32>) -> tensor<2x3xf32>
    %2 = linalg.matmul ins(%arg0, %cst_0 : tensor<2x3xf32>, tensor<3x3xf32>) outs(%1 : tensor<2x3xf32>) -> tensor<2x3xf32>
    %3 = tensor.empty() : tensor<2x3xf32>
    %4 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%cst_1 : tensor<3xf32>) outs(%3 : tensor<2x3xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x3xf32>
    %5 = tensor.empty() : tensor<2x3xf32>
    %6 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%2, %4 : tensor<2x3xf32>, tensor<2x3xf32>) outs(%5 : tensor<2x3xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %12 = arith.addf %in, %in_3 : f32
      linalg.yield %12 : f32
    } -> tensor<2x3xf32>
    %7 = tensor.empty() : tensor<2x3xf32>
    %8 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%6 : tensor<2x3xf32>) outs(%7 : tensor<2x3xf32>) {
    ^bb0(%in: f32, %out: f32):
      %12 = arith.maximumf %in, %cst : f32
      linalg.yield %12 : f32
    } -> tensor<2x3xf32>
    %9 = tensor.empty() : tensor<2x2xf32>
    %10 = linalg.fill ins(%cst : f32) outs(%9 : tensor<2x2xf32>) -> tensor<2x2xf32>
    %11 = linalg.matmul ins(%8, %cst_2 : tensor<2x3xf32>, tensor<3x2xf32>) outs(%10 : tensor<2x2xf32>) -> tensor<2x2xf32>
    util.return %11 : tensor<2x2xf32>
  }
}
