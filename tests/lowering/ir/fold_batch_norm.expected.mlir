// W * scale = [[2, 1], [6, 2], [10, 3]]; bias = beta - mean * scale = [-1.5, 0.75];
// bias and ReLU in one generic.
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d1)>
module @jit__lambda {
  util.func public @main(%arg0: tensor<2x3xf32>) -> tensor<2x2xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<2x2xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<2x2xf32>) -> tensor<2x2xf32>
    %cst_0 = arith.constant dense<[[2.000000e+00, 1.000000e+00], [6.000000e+00, 2.000000e+00], [1.000000e+01, 3.000000e+00]]> : tensor<3x2xf32>
    %2 = linalg.matmul ins(%arg0, %cst_0 : tensor<2x3xf32>, tensor<3x2xf32>) outs(%1 : tensor<2x2xf32>) -> tensor<2x2xf32>
    %cst_1 = arith.constant dense<[-1.500000e+00, 7.500000e-01]> : tensor<2xf32>
    %3 = tensor.empty() : tensor<2x2xf32>
    %4 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%2, %cst_1 : tensor<2x2xf32>, tensor<2xf32>) outs(%3 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %in_2: f32, %out: f32):
      %5 = arith.addf %in, %in_2 : f32
      %6 = arith.maximumf %5, %cst : f32
      linalg.yield %6 : f32
    } -> tensor<2x2xf32>
    util.return %4 : tensor<2x2xf32>
  }
}

