// Channel 1 removed: W1 -> [[1, 2], [3, 4], [5, 6]], b1 -> [0.5, -0.5], W2 rows 0 and 2.
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d1)>
module @jit__lambda {
  util.func public @main(%arg0: tensor<2x3xf32>) -> tensor<2x2xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<2x2xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<2x2xf32>) -> tensor<2x2xf32>
    %cst_0 = arith.constant dense<[[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
    %2 = linalg.matmul ins(%arg0, %cst_0 : tensor<2x3xf32>, tensor<3x2xf32>) outs(%1 : tensor<2x2xf32>) -> tensor<2x2xf32>
    %3 = tensor.empty() : tensor<2x2xf32>
    %cst_1 = arith.constant dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>
    %4 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%2, %cst_1 : tensor<2x2xf32>, tensor<2xf32>) outs(%3 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %10 = arith.addf %in, %in_3 : f32
      linalg.yield %10 : f32
    } -> tensor<2x2xf32>
    %5 = tensor.empty() : tensor<2x2xf32>
    %6 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%4 : tensor<2x2xf32>) outs(%5 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %out: f32):
      %10 = arith.maximumf %in, %cst : f32
      linalg.yield %10 : f32
    } -> tensor<2x2xf32>
    %7 = tensor.empty() : tensor<2x2xf32>
    %8 = linalg.fill ins(%cst : f32) outs(%7 : tensor<2x2xf32>) -> tensor<2x2xf32>
    %cst_2 = arith.constant dense<[[1.000000e+00, 2.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<2x2xf32>
    %9 = linalg.matmul ins(%6, %cst_2 : tensor<2x2xf32>, tensor<2x2xf32>) outs(%8 : tensor<2x2xf32>) -> tensor<2x2xf32>
    util.return %9 : tensor<2x2xf32>
  }
}

